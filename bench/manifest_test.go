package main

import (
	"context"
	"path/filepath"
	"testing"
)

// TestManifestLoad checks that the peers' setup records every ref of
// every session, committed, through a handle with the loader settings, and
// leaves the measured writer with the design's.
func TestManifestLoad(t *testing.T) {
	ctx := context.Background()
	m, err := openManifest(ctx, filepath.Join(t.TempDir(), "manifest.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })

	ldb, err := m.openLoader()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ pragma, want string }{
		{"synchronous", "0"}, // OFF: the harness syncs the file system after loading
		{"cache_size", "-524288"},
		{"journal_mode", "wal"},
	} {
		var got string
		if err := ldb.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("loader: PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
	if err := ldb.Close(); err != nil {
		t.Fatal(err)
	}

	ids := [][]ID{hashAll([][]byte{{1}, {2}}), hashAll([][]byte{{3}})}
	if err := m.load(ctx, []string{"a", "b"}, ids); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []struct {
		session string
		id      ID
	}{{"a", ids[0][0]}, {"a", ids[0][1]}, {"b", ids[1][0]}} {
		var committed bool
		err := m.w.QueryRowContext(ctx, "SELECT committed_at IS NOT NULL FROM refs WHERE session_id = ? AND blob_id = ?",
			ref.session, ref.id.String()).Scan(&committed)
		if err != nil || !committed {
			t.Errorf("ref (%s, %s): committed %v, %v; want a committed row", ref.session, ref.id, committed, err)
		}
	}
	var n int
	if err := m.w.QueryRowContext(ctx, "SELECT count(*) FROM refs").Scan(&n); err != nil || n != 3 {
		t.Errorf("refs holds %d rows (%v), want 3", n, err)
	}
	var sync string
	if err := m.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != "2" {
		t.Errorf("measured writer: PRAGMA synchronous = %s (%v), want 2 (FULL)", sync, err)
	}
}
