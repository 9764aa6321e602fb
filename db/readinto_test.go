package db

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// openReadInto opens a file database holding a table v whose data column
// has a value of each type, and returns a handle on it.
func openReadInto(t *testing.T) *sql.DB {
	t.Helper()
	h, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "v.db")+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	_, err = h.Exec(`CREATE TABLE v (k INTEGER PRIMARY KEY, name BLOB, data);
		INSERT INTO v VALUES
			(1, x'61', x'68656c6c6f20776f726c64'), -- "hello world"
			(2, x'62', 'abc'),
			(3, x'63', NULL),
			(4, x'64', 42),
			(5, x'65', x''),
			(6, x'', 'empty name')`)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const readIntoQuery = `SELECT data FROM v WHERE k = ?1 AND name = ?2`

func TestReadInto(t *testing.T) {
	h := openReadInto(t)
	for _, tc := range []struct {
		name    string
		args    []any
		buf     int
		off     int
		want    string
		size    int
		wantErr error
	}{
		{"prefix", []any{int64(1), []byte("a")}, 5, 0, "hello", 11, nil},
		{"tail", []any{int64(1), []byte("a")}, 100, 6, "world", 11, nil},
		{"middle", []any{int64(1), []byte("a")}, 3, 4, "o w", 11, nil},
		{"at end", []any{int64(1), []byte("a")}, 4, 11, "", 11, nil},
		{"past end", []any{int64(1), []byte("a")}, 4, 20, "", 11, nil},
		{"empty buffer", []any{int64(1), []byte("a")}, 0, 0, "", 11, nil},
		{"text", []any{int64(2), []byte("b")}, 10, 0, "abc", 3, nil},
		{"null", []any{int64(3), []byte("c")}, 10, 0, "", 0, nil},
		{"empty blob", []any{int64(5), []byte("e")}, 10, 0, "", 0, nil},
		{"empty blob argument", []any{int64(6), []byte{}}, 20, 0, "empty name", 10, nil},
		{"integer", []any{int64(4), []byte("d")}, 10, 0, "", 0, ErrNotBlob},
		{"no row", []any{int64(9), []byte("a")}, 10, 0, "", 0, ErrNoRow},
		{"argument does not match", []any{int64(1), []byte("b")}, 10, 0, "", 0, ErrNoRow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := make([]byte, tc.buf)
			var n, size int
			err := ReadInto(context.Background(), h, readIntoQuery, func(read ReadFunc) error {
				var err error
				n, size, err = read(tc.args, p, tc.off)
				return err
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := string(p[:n]); got != tc.want || size != tc.size {
				t.Errorf("read %q of %d bytes, want %q of %d", got, size, tc.want, tc.size)
			}
		})
	}
}

// TestReadIntoRefuses covers calls ReadInto must refuse without running
// the query.
func TestReadIntoRefuses(t *testing.T) {
	h := openReadInto(t)
	p := make([]byte, 8)
	for _, tc := range []struct {
		name string
		args []any
		off  int
	}{
		{"too few arguments", []any{int64(1)}, 0},
		{"too many arguments", []any{int64(1), []byte("a"), int64(2)}, 0},
		{"argument of another type", []any{"1", []byte("a")}, 0},
		{"negative offset", []any{int64(1), []byte("a")}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ReadInto(context.Background(), h, readIntoQuery, func(read ReadFunc) error {
				_, _, err := read(tc.args, p, tc.off)
				return err
			})
			if err == nil {
				t.Fatal("read succeeded")
			}
		})
	}
	t.Run("used after return", func(t *testing.T) {
		var kept ReadFunc
		if err := ReadInto(context.Background(), h, readIntoQuery, func(read ReadFunc) error {
			kept = read
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := kept([]any{int64(1), []byte("a")}, p, 0); err == nil {
			t.Fatal("a ReadFunc kept past ReadInto ran")
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		err := ReadInto(ctx, h, readIntoQuery, func(read ReadFunc) error {
			cancel()
			_, _, err := read([]any{int64(1), []byte("a")}, p, 0)
			return err
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("bad query", func(t *testing.T) {
		err := ReadInto(context.Background(), h, `SELECT data FROM nowhere`, func(ReadFunc) error {
			t.Error("fn ran for a query that does not prepare")
			return nil
		})
		var se sqlite3.Error
		if !errors.As(err, &se) || se.Code != sqlite3.ErrError {
			t.Fatalf("err = %v, want a sqlite3.Error with SQLITE_ERROR", err)
		}
	})
}

// TestReadIntoReachesHandle fails when the driver in go.mod no longer keeps
// its sqlite3* where connHandle looks. Readers would still work, through
// queries, but slower: this test makes a driver upgrade say so.
func TestReadIntoReachesHandle(t *testing.T) {
	h := openReadInto(t)
	err := ReadInto(context.Background(), h, readIntoQuery, func(ReadFunc) error { return nil })
	if err != nil {
		t.Fatalf("ReadInto: %v", err)
	}
}
