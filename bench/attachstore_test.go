package main

import (
	"crypto/sha256"
	"path/filepath"
	"testing"

	"github.com/attachstore/attachstore"
)

// TestLibraryPageSize holds libraryPageSize, which the SQLite floors take
// as attachstore's page size, to the page size of a new store.
func TestLibraryPageSize(t *testing.T) {
	sys, err := openAttachstore(t.Context(), filepath.Join(t.TempDir(), "s"), &config{vacuum: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	a := sys.(*attachStore)
	defer a.Close()
	var size int
	if err := a.s.View(t.Context(), func(tx *attachstore.Tx) error {
		return tx.SQL().QueryRowContext(t.Context(), "PRAGMA page_size").Scan(&size)
	}); err != nil {
		t.Fatal(err)
	}
	if size != libraryPageSize {
		t.Errorf("a new store's page size is %d; libraryPageSize says %d", size, libraryPageSize)
	}
}

// TestPostgresSystem runs the postgres system's calls once each: a write
// reads back, a reopened handle on the same directory finds the store,
// the loader's blobs land committed in their sessions, a dropped session's
// blobs are reclaimed, and removing the store drops its schema.
func TestPostgresSystem(t *testing.T) {
	ctx := t.Context()
	srv := testPGServer(t)
	cfg := &config{pg: srv}
	dir := filepath.Join(t.TempDir(), "grow", "postgres")
	sys, err := openPostgres(ctx, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { sys.Close() }()
	if sys.Name() != pgSubject {
		t.Errorf("Name() = %q, want %q", sys.Name(), pgSubject)
	}
	tag := newTag()
	ids, err := sys.PutCommit(ctx, "s", [][]byte{makeBlob(tag, 0, blobSize)})
	if err != nil {
		t.Fatal(err)
	}
	sys.Close()
	if sys, err = openPostgres(ctx, dir, cfg); err != nil {
		t.Fatal(err)
	}
	if data, err := sys.SessionGet(ctx, "s", ids[0]); err != nil || ID(sha256.Sum256(data)) != ids[0] {
		t.Errorf("after reopening: SessionGet = %d bytes, %v; want the blob", len(data), err)
	}

	sessions := []string{"a", "b", "c"}
	blobs := make([][][]byte, len(sessions))
	for k := range blobs {
		for i := range 4 {
			blobs[k] = append(blobs[k], makeBlob(tag, uint64(100*k+i+1), blobSize))
		}
	}
	loaded, err := loadSessions(ctx, sys, sessions, blobs)
	if err != nil {
		t.Fatal(err)
	}
	for k, s := range sessions {
		for i, id := range loaded[k] {
			if id != ID(sha256.Sum256(blobs[k][i])) {
				t.Fatalf("loaded id %d of session %s is not its blob's", i, s)
			}
			if _, err := sys.SessionGet(ctx, s, id); err != nil {
				t.Errorf("session %s, blob %d: %v", s, i, err)
			}
		}
	}
	if err := settle(ctx, sys, dir); err != nil {
		t.Fatal(err)
	}
	if err := sys.DropSession(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if n, err := sys.Reclaim(ctx); err != nil || n != 4 {
		t.Errorf("Reclaim = %d, %v; want session b's 4 blobs", n, err)
	}
	sys.Close()
	if err := postgresOpener.remove(ctx, dir, cfg); err != nil {
		t.Fatal(err)
	}
	if got := schemas(t, srv); len(got) != 0 {
		t.Errorf("left behind: %q", got)
	}
}
