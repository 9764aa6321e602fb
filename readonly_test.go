package attachstore_test

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// fileSum is a file's size and SHA-256, to show it unchanged.
func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d bytes, sha256 %x", len(b), sha256.Sum256(b))
}

// hostConn is another program's connection to the file at path.
func hostConn(t *testing.T, path string) *sql.DB {
	t.Helper()
	h, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	h.SetMaxOpenConns(1)
	t.Cleanup(func() { h.Close() })
	return h
}

// TestReadOnlyStoreCannotWrite: a read-only store's connections are read
// only, so the host's SQL in View cannot write the file either, not even
// after turning query_only off and ending View's transaction itself; the
// file is byte for byte the same after Close. What SQLite leaves beside
// it (an empty -wal, the -shm) the next writable Close removes. The store
// is not opened immutable where it can see a writer: it sees the commits
// of a writer that started after it.
func TestReadOnlyStoreCannotWrite(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	w := openForTest(t, path)
	id := mustPut(t, w.Session("s"), "kept")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	r := openForTest(t, path, attachstore.WithReadOnly())
	if a, err := r.Session("s").Get(ctx, id); err != nil || string(a.Data) != "kept" {
		t.Errorf("read-only Get = %q, %v", a.Data, err)
	}
	if _, err := r.Put(ctx, []byte("new"), attachstore.Meta{}); !errors.Is(err, attachstore.ErrReadOnly) {
		t.Errorf("Put on a read-only store = %v, want ErrReadOnly", err)
	}
	for _, steps := range [][]string{
		{`CREATE TABLE host (x)`},
		{`PRAGMA query_only = OFF`, `CREATE TABLE host (x)`},
		// Out of View's transaction, each statement commits on its own.
		{`PRAGMA query_only = OFF`, `COMMIT`, `CREATE TABLE host (x)`},
	} {
		var last error
		_ = r.View(ctx, func(tx *attachstore.Tx) error {
			for _, q := range steps {
				if _, last = tx.SQL().ExecContext(ctx, q); last != nil {
					return last
				}
			}
			return nil
		})
		var se sqlite3.Error
		if !errors.As(last, &se) || se.Code != sqlite3.ErrReadonly {
			t.Errorf("the host's SQL %q in a read-only store's View = %v, want SQLite's read-only error", steps, last)
		}
	}

	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Errorf("the host's SQL in a read-only store's View changed the file (%v)", err)
	}

	// A writer that starts after the read-only store opened.
	w = openForTest(t, path)
	later := mustPut(t, w.Session("s"), "later")
	if _, err := r.Stat(ctx, later); err != nil {
		t.Errorf("the read-only store does not see a later writer's commit: %v", err)
	}
	// It closes first: its WAL stays, for the next writable Close.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	before, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Errorf("a read-only store's Close changed the file (%v)", err)
	}

	// SQLite's own files are SQLite's: the next writable Close removes them.
	w = openForTest(t, path)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			t.Errorf("after a writable Close, a %d-byte %s file is left", fi.Size(), suffix)
		}
	}
}

// TestReadOnlyCloseLeavesAWritersWAL: a store opened read-only, closed
// as the file's last connection, leaves another writer's WAL as it found
// it: the file is not a byte longer, and a writable open later finds the
// writer's commits.
func TestReadOnlyCloseLeavesAWritersWAL(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	w := openForTest(t, path)
	id := mustPut(t, w.Session("s"), "kept")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sum := fileSum(t, path)

	r := openForTest(t, path, attachstore.WithReadOnly())
	if _, err := r.Stat(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Another program writes the file and closes, its commits still in
	// the WAL: it is not the last connection, so it copies nothing back.
	host := hostConn(t, path)
	const rows = 50
	for _, q := range []string{`PRAGMA wal_autocheckpoint = 0`, `CREATE TABLE host_notes (body BLOB)`} {
		if _, err := host.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i := range rows {
		if _, err := host.ExecContext(ctx, `INSERT INTO host_notes VALUES (randomblob(4096))`); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	if err := host.Close(); err != nil {
		t.Fatal(err)
	}
	wal, err := os.Stat(path + "-wal")
	if err != nil || wal.Size() < rows*4096 {
		t.Fatalf("the host's commits are not in the WAL (%v, %v)", wal, err)
	}
	if got := fileSum(t, path); got != sum {
		t.Fatal("the host's close copied its WAL back while the read-only store was open")
	}

	if _, err := r.Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileSum(t, path); got != sum {
		t.Errorf("the read-only store's Close copied another writer's WAL into the file: %s, was %s", got, sum)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != wal.Size() {
		t.Errorf("the read-only store's Close changed the WAL: %v, %v; want %d bytes", fi, err, wal.Size())
	}

	w = openForTest(t, path)
	var n int
	if err := w.View(ctx, func(tx *attachstore.Tx) error {
		return tx.SQL().QueryRowContext(ctx, `SELECT count(*) FROM host_notes`).Scan(&n)
	}); err != nil || n != rows {
		t.Errorf("the host's rows after a writable open: %d, %v; want %d", n, err, rows)
	}
}

// TestReadOnlyMemoryIsInvalid: a read-only private in-memory store would
// be empty forever; Open says so instead of returning a writable one.
func TestReadOnlyMemoryIsInvalid(t *testing.T) {
	s, err := attachstore.Open(t.Context(), attachstore.MemoryPath, attachstore.WithReadOnly())
	if s != nil {
		s.Close()
		t.Error("Open(:memory:, WithReadOnly) returned a store")
	}
	if !errors.Is(err, attachstore.ErrInvalidOption) {
		t.Errorf("Open(:memory:, WithReadOnly) = %v, want ErrInvalidOption", err)
	}
}

// TestReadOnlyOpenCreatesNothingToAsk: to learn whether the directory can
// be written, a read-only Open asks the system (access(2)); it creates no
// file there. Beside an open writer, whose -wal and -shm files are there
// already, the directory is not touched at all.
func TestReadOnlyOpenCreatesNothingToAsk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.db")
	w := openForTest(t, path)
	id := mustPut(t, w.Session("s"), "kept")
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(dir, past, past); err != nil {
		t.Fatal(err)
	}
	r, err := attachstore.Open(t.Context(), path, attachstore.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stat(t.Context(), id); err != nil {
		t.Error(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(past) {
		t.Errorf("a read-only Open beside a writer changed its directory (modified %v, was %v)", fi.ModTime(), past)
	}
}
