package attachstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/schema"
	"github.com/golang-migrate/migrate/v4"
	msqlite "github.com/golang-migrate/migrate/v4/database/sqlite3"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// oldFile builds a file as release `version` (1 or 2) left it, by running
// that many migration files by hand: one blob in one chunk, one in three
// (chunk size 4), a committed ref and a pending one.
func oldFile(t *testing.T, version int) (path string, small, multi []byte) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on&_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	small, multi = []byte("content put by an old version"), []byte("abcdefghij")
	sid, mid := attachstore.ContentID(small), attachstore.ContentID(multi)
	now := time.Now().UnixNano()
	stmts := []struct {
		q    string
		args []any
	}{}
	for _, name := range []string{"0001_init.up.sql", "0002_refs_by_key.up.sql"}[:version] {
		up, err := schema.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, struct {
			q    string
			args []any
		}{string(up), nil})
	}
	for _, st := range append(stmts, []struct {
		q    string
		args []any
	}{
		{`CREATE TABLE schema_migrations (version uint64, dirty bool)`, nil},
		{`INSERT INTO schema_migrations VALUES (?, 0)`, []any{version}},
		{`INSERT INTO blobs (id, size, chunk_size, media_type, label, created_at, touched_at) VALUES (?, ?, 262144, 'text/plain', 'v1.txt', ?, ?)`,
			[]any{sid[:], len(small), now, now}},
		{`INSERT INTO chunks (blob_pk, seq, data) VALUES (1, 0, ?)`, []any{small}},
		{`INSERT INTO blobs (id, size, chunk_size, media_type, label, created_at, touched_at) VALUES (?, ?, 4, 'text/plain', 'multi.txt', ?, ?)`,
			[]any{mid[:], len(multi), now, now}},
		{`INSERT INTO chunks (blob_pk, seq, data) VALUES (2, 0, 'abcd'), (2, 1, 'efgh'), (2, 2, 'ij')`, nil},
		{`UPDATE chunks SET data = CAST(data AS BLOB) WHERE blob_pk = 2`, nil},
		{`INSERT INTO refs (session_id, blob_id, media_type, label, owner, intent_at, committed_at) VALUES ('done', ?, 'text/plain', 'a', '', ?, ?)`,
			[]any{sid[:], now, now}},
		{`INSERT INTO refs (session_id, blob_id, media_type, label, owner, intent_at) VALUES ('open', ?, 'text/markdown', 'b', 'turn-1', ?)`,
			[]any{sid[:], now}},
		{`INSERT INTO refs (session_id, blob_id, media_type, label, owner, intent_at, committed_at) VALUES ('done', ?, 'text/plain', 'm', '', ?, ?)`,
			[]any{mid[:], now, now}},
	}...) {
		if _, err := raw.ExecContext(ctx, st.q, st.args...); err != nil {
			t.Fatalf("building the version %d file: %v", version, err)
		}
	}
	return path, small, multi
}

// TestUpgrade opens files left by versions 1 and 2 and checks that every
// blob, chunk and ref came through the rebuilt tables (0002: refs by key;
// 0003: blobs by id, chunks by one integer key).
func TestUpgrade(t *testing.T) {
	for _, version := range []int{1, 2} {
		t.Run(fmt.Sprintf("FromVersion%d", version), func(t *testing.T) {
			path, small, multi := oldFile(t, version)
			checkUpgraded(t, path, small, multi)
		})
	}
}

func checkUpgraded(t *testing.T, path string, small, multi []byte) {
	t.Helper()
	ctx := context.Background()
	sid, mid := attachstore.ContentID(small), attachstore.ContentID(multi)
	s, err := attachstore.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of an old file: %v", err)
	}
	t.Cleanup(func() { s.Close() })

	for _, tc := range []struct {
		session, mediaType string
		id                 attachstore.ID
		data               []byte
	}{{"done", "text/plain", sid, small}, {"open", "text/markdown", sid, small}, {"done", "text/plain", mid, multi}} {
		a, err := s.Session(tc.session).Get(ctx, tc.id)
		if err != nil || !bytes.Equal(a.Data, tc.data) || a.MediaType != tc.mediaType {
			t.Errorf("session %q after the upgrade: %q %q, %v", tc.session, a.Data, a.MediaType, err)
		}
		r, err := s.Session(tc.session).NewReader(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, tc.data) {
			t.Errorf("streaming %q after the upgrade: %q, %v", tc.session, got, err)
		}
	}
	pending, err := s.Session("open").Pending(ctx)
	if err != nil || len(pending) != 1 || pending[0] != sid {
		t.Errorf("Pending after the upgrade = %v, %v; want the one intent", pending, err)
	}
	if err := s.Session("open").CommitOwned(ctx, "turn-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, sid); !errors.Is(err, attachstore.ErrReferenced) {
		t.Errorf("Delete of referenced content after the upgrade: %v, want ErrReferenced", err)
	}
	// A new put after the upgrade takes the next pk, and deleting it takes
	// its chunks (the trigger that replaced the cascade).
	fresh, err := s.Put(ctx, []byte("put after the upgrade"), attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() || rep.CheckedBlobs != 3 {
		t.Fatalf("Verify after the upgrade: %+v, %v", rep, err)
	}
	if err := s.Delete(ctx, fresh.ID); err != nil {
		t.Fatal(err)
	}

	check, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	for table, want := range map[string]string{
		"refs":   "blob_created_at INTEGER",
		"blobs":  "WITHOUT ROWID",
		"chunks": "key     INTEGER PRIMARY KEY",
	} {
		var ddl string
		if err := check.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&ddl); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ddl, want) {
			t.Errorf("%s after the upgrade lacks %q:\n%s", table, want, ddl)
		}
	}
	var chunks, strays int
	if err := check.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE blob_pk NOT IN (SELECT pk FROM blobs)) FROM chunks`).Scan(&chunks, &strays); err != nil {
		t.Fatal(err)
	}
	if chunks != 4 || strays != 0 {
		t.Errorf("after the upgrade and a put and delete: %d chunk rows (%d of no blob), want 4 (0)", chunks, strays)
	}
	var version int
	if err := check.QueryRowContext(ctx, `SELECT version FROM schema_migrations`).Scan(&version); err != nil || version != schema.Version {
		t.Errorf("schema version after the upgrade = %d, %v; want %d", version, err, schema.Version)
	}
}

// TestMigrationsRunTwice runs migrations again on a file already upgraded,
// as a second process that read an older version before the first one
// committed would: it runs every migration after the version it read.
// Nothing may be lost or fail.
func TestMigrationsRunTwice(t *testing.T) {
	for _, again := range [][]string{
		{"0003_blobs_by_id.up.sql", "0004_refs_carry_blob.up.sql"}, // it read version 2
		{"0004_refs_carry_blob.up.sql"},                            // it read version 3
	} {
		t.Run(strings.Join(again, "+"), func(t *testing.T) {
			path, small, multi := oldFile(t, 2)
			s, err := attachstore.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			raw, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range again {
				up, err := schema.FS.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := raw.Exec(string(up)); err != nil {
					t.Fatalf("%s run a second time: %v", name, err)
				}
			}
			raw.Close()
			checkUpgraded(t, path, small, multi)
		})
	}
}

// TestDowngradeAndUpgrade runs down migrations through golang-migrate on a
// current store, checks the older layout holds every blob and ref, then
// opens the file again, which upgrades it back: to version 2 (0004 and
// 0003 undone) and to version 3, the release before 0004, whose refs lack
// the blob columns that the upgrade must fill in.
func TestDowngradeAndUpgrade(t *testing.T) {
	for _, tc := range []struct {
		version uint
		check   func(t *testing.T, raw *sql.DB, id attachstore.ID, data []byte)
	}{
		{2, func(t *testing.T, raw *sql.DB, id attachstore.ID, data []byte) {
			var seqs, bytesIn int
			if err := raw.QueryRow(`SELECT count(*), sum(length(data)) FROM chunks c JOIN blobs b ON b.pk = c.blob_pk WHERE b.id = ?`, id[:]).Scan(&seqs, &bytesIn); err != nil {
				t.Fatal(err)
			}
			if seqs != 4 || bytesIn != len(data) {
				t.Errorf("version 2 layout: %d chunks of %d bytes, want 4 of %d", seqs, bytesIn, len(data))
			}
		}},
		{3, func(t *testing.T, raw *sql.DB, _ attachstore.ID, _ []byte) {
			var refs, blobCols int
			if err := raw.QueryRow(`SELECT (SELECT count(*) FROM refs), (SELECT count(*) FROM pragma_table_info('refs') WHERE name LIKE 'blob\_%' ESCAPE '\' AND name != 'blob_id')`).Scan(&refs, &blobCols); err != nil {
				t.Fatal(err)
			}
			if refs != 2 || blobCols != 0 {
				t.Errorf("version 3 layout: %d refs, %d blob columns in refs; want 2 and 0", refs, blobCols)
			}
		}},
	} {
		t.Run(fmt.Sprintf("To%d", tc.version), func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := attachstore.Open(ctx, path, attachstore.WithChunkSize(attachstore.MinChunkSize))
			if err != nil {
				t.Fatal(err)
			}
			data := bytes.Repeat([]byte("0123456789abcdef"), attachstore.MinChunkSize/16*3+1)
			ref, err := s.Session("keep").Put(ctx, data, attachstore.Meta{MediaType: "text/plain"})
			if err != nil {
				t.Fatal(err)
			}
			small, err := s.Session("other").Put(ctx, []byte("one chunk"), attachstore.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Session("keep").Commit(ctx); err != nil {
				t.Fatal(err)
			}
			s.Close()

			raw, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
			if err != nil {
				t.Fatal(err)
			}
			src, err := iofs.New(schema.FS, ".")
			if err != nil {
				t.Fatal(err)
			}
			drv, err := msqlite.WithInstance(raw, &msqlite.Config{MigrationsTable: "schema_migrations"})
			if err != nil {
				t.Fatal(err)
			}
			m, err := migrate.NewWithInstance("iofs", src, "sqlite3", drv)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Migrate(tc.version); err != nil {
				t.Fatalf("down to version %d: %v", tc.version, err)
			}
			tc.check(t, raw, ref.ID, data)
			m.Close() // closes raw too

			s, err = attachstore.Open(ctx, path)
			if err != nil {
				t.Fatalf("Open after the downgrade: %v", err)
			}
			defer s.Close()
			for _, r := range []struct {
				session string
				id      attachstore.ID
				want    []byte
			}{{"keep", ref.ID, data}, {"other", small.ID, []byte("one chunk")}} {
				a, err := s.Session(r.session).Get(ctx, r.id)
				if err != nil || !bytes.Equal(a.Data, r.want) {
					t.Errorf("Session(%s).Get after down and up again: %d bytes, %v", r.session, len(a.Data), err)
				}
			}
			if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
				t.Errorf("Verify after down and up again: %+v, %v", rep, err)
			}
		})
	}
}
