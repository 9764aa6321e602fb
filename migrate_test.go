package attachstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/schema"
)

// TestUpgradeFromVersion1 builds a file as the first release left it
// (migration 0001 only, with committed and pending refs), opens it, and
// checks the refs table was rebuilt by key with every row kept.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	raw, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on&_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	up, err := schema.FS.ReadFile("0001_init.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("content put by version 1")
	id := attachstore.ContentID(data)
	now := time.Now().UnixNano()
	for _, stmt := range []struct {
		q    string
		args []any
	}{
		{string(up), nil},
		{`CREATE TABLE schema_migrations (version uint64, dirty bool)`, nil},
		{`INSERT INTO schema_migrations VALUES (1, 0)`, nil},
		{`INSERT INTO blobs (id, size, chunk_size, media_type, label, created_at, touched_at) VALUES (?, ?, 262144, 'text/plain', 'v1.txt', ?, ?)`,
			[]any{id[:], len(data), now, now}},
		{`INSERT INTO chunks (blob_pk, seq, data) VALUES (1, 0, ?)`, []any{data}},
		{`INSERT INTO refs (session_id, blob_id, media_type, label, owner, intent_at, committed_at) VALUES ('done', ?, 'text/plain', 'a', '', ?, ?)`,
			[]any{id[:], now, now}},
		{`INSERT INTO refs (session_id, blob_id, media_type, label, owner, intent_at) VALUES ('open', ?, 'text/markdown', 'b', 'turn-1', ?)`,
			[]any{id[:], now}},
	} {
		if _, err := raw.ExecContext(ctx, stmt.q, stmt.args...); err != nil {
			t.Fatalf("building the version 1 file: %v", err)
		}
	}
	raw.Close()

	s, err := attachstore.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version 1 file: %v", err)
	}
	t.Cleanup(func() { s.Close() })

	for _, tc := range []struct{ session, mediaType string }{{"done", "text/plain"}, {"open", "text/markdown"}} {
		a, err := s.Session(tc.session).Get(ctx, id)
		if err != nil || !bytes.Equal(a.Data, data) || a.MediaType != tc.mediaType {
			t.Errorf("session %q after the upgrade: %q %q, %v", tc.session, a.Data, a.MediaType, err)
		}
	}
	pending, err := s.Session("open").Pending(ctx)
	if err != nil || len(pending) != 1 || pending[0] != id {
		t.Errorf("Pending after the upgrade = %v, %v; want the one intent", pending, err)
	}
	if err := s.Session("open").CommitOwned(ctx, "turn-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, id); !errors.Is(err, attachstore.ErrReferenced) {
		t.Errorf("Delete of referenced content after the upgrade: %v, want ErrReferenced", err)
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify after the upgrade: %+v, %v", rep, err)
	}

	check, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	var ddl string
	if err := check.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'refs'`).Scan(&ddl); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ddl, "WITHOUT ROWID") {
		t.Errorf("refs after the upgrade is not WITHOUT ROWID:\n%s", ddl)
	}
	var version int
	if err := check.QueryRowContext(ctx, `SELECT version FROM schema_migrations`).Scan(&version); err != nil || version != schema.Version {
		t.Errorf("schema version after the upgrade = %d, %v; want %d", version, err, schema.Version)
	}
}
