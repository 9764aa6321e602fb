package attachstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/schema"
	"github.com/golang-migrate/migrate/v4"
	msqlite "github.com/golang-migrate/migrate/v4/database/sqlite3"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// TestMigrationRunsTwice runs the initial migration again on a store, as a
// second process that read "no schema" before the first one committed
// would. Nothing may fail or be lost.
func TestMigrationRunsTwice(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := attachstore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.Session("a").Put(ctx, []byte("kept"), attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	up, err := schema.FS.ReadFile("sqlite/0001_init.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(string(up)); err != nil {
		t.Fatalf("the migration run a second time: %v", err)
	}
	raw.Close()
	s = openForTest(t, path)
	if a, err := s.Session("a").Get(ctx, ref.ID); err != nil || string(a.Data) != "kept" {
		t.Errorf("Session.Get after the second run = %q, %v", a.Data, err)
	}
}

// TestOpenNewFileConcurrently opens one new file from several goroutines at
// once, each with its own Store, as processes starting together would:
// every Open succeeds and they share one schema.
func TestOpenNewFileConcurrently(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	var wg sync.WaitGroup
	stores := make([]*attachstore.Store, 6)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = attachstore.Open(ctx, path) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer s.Close()
	}
	ref, err := stores[0].Put(ctx, []byte("seen by all"), attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		if a, err := s.Get(ctx, ref.ID); err != nil || !bytes.Equal(a.Data, []byte("seen by all")) {
			t.Errorf("store %d: Get = %q, %v", i, a.Data, err)
		}
	}
}

// TestMigrationDownKeepsHostTables runs the down migration through
// golang-migrate on an adopted file: attachstore's tables go, the host's
// stay, and the next Open starts an empty store beside them again.
func TestMigrationDownKeepsHostTables(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "host.db")
	raw, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE chats (id TEXT); INSERT INTO chats VALUES ('c1')`); err != nil {
		t.Fatal(err)
	}
	s, err := attachstore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Origin() != attachstore.AdoptedFile {
		t.Errorf("Origin of a host's file = %v, want %v", s.Origin(), attachstore.AdoptedFile)
	}
	if _, err := s.Session("a").Put(ctx, []byte("x"), attachstore.Meta{}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	src, err := iofs.New(schema.FS, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	drv, err := msqlite.WithInstance(raw, &msqlite.Config{MigrationsTable: "attachstore_schema_migrations"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "sqlite3", drv)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Down(); err != nil {
		t.Fatalf("down: %v", err)
	}
	var tables, chats int
	if err := raw.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('attachstore_blobs', 'attachstore_chunks', 'attachstore_refs', 'attachstore_holds', 'attachstore_dropped_sessions')`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRow(`SELECT count(*) FROM chats`).Scan(&chats); err != nil {
		t.Fatal(err)
	}
	if tables != 0 || chats != 1 {
		t.Errorf("after down: %d attachstore tables, %d host rows; want 0 and 1", tables, chats)
	}
	m.Close() // closes raw too

	s = openForTest(t, path)
	if st, err := s.Stats(ctx); err != nil || st.Blobs != 0 {
		t.Errorf("Stats after down and up again = %+v, %v; want an empty store", st, err)
	}
}
