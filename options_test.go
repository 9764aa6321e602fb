package attachstore_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/internal/storetest"
)

// TestOpenWithExisting: WithExisting opens a store that is there, for
// writing, and refuses to create a missing file or adopt a database
// attachstore never wrote, leaving what it found as it was.
func TestOpenWithExisting(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		path func(t *testing.T) string
		want error // nil: opens
	}{
		{"MissingFile", func(t *testing.T) string { return filepath.Join(t.TempDir(), "typo.db") }, fs.ErrNotExist},
		{"EmptyFile", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "empty.db")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		}, attachstore.ErrNotAStore},
		{"HostFile", func(t *testing.T) string { return sqliteHost(t, "delete", nil) }, attachstore.ErrNotAStore},
		{"HostFileInWALMode", func(t *testing.T) string { return sqliteHost(t, "wal", nil) }, attachstore.ErrNotAStore},
		{"Store", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "store.db")
			if err := openForTest(t, path).Close(); err != nil {
				t.Fatal(err)
			}
			return path
		}, nil},
		{"Postgres", func(t *testing.T) string { return storetest.PostgresSchema(t) }, attachstore.ErrNotAStore},
		{"PostgresStore", func(t *testing.T) string {
			u := storetest.PostgresSchema(t)
			if err := openForTest(t, u).Close(); err != nil {
				t.Fatal(err)
			}
			return u
		}, nil},
		{"Memory", func(*testing.T) string { return attachstore.MemoryPath }, attachstore.ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			var before fileState
			_, statErr := os.Stat(path)
			onDisk := statErr == nil
			if onDisk {
				before = stateOf(t, path)
			}
			s, err := attachstore.Open(ctx, path, attachstore.WithExisting())
			if tc.want != nil {
				if err == nil {
					s.Close()
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("Open(WithExisting) = %v, want %v", err, tc.want)
				}
				if _, err := os.Stat(path); onDisk {
					if d := before.diff(stateOf(t, path)); d != "" {
						t.Errorf("the refused Open changed what it found: %s", d)
					}
				} else if err == nil {
					t.Errorf("the refused Open created %s", path)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(WithExisting) of a store: %v", err)
			}
			defer s.Close()
			if s.Origin() != attachstore.OpenedStore {
				t.Errorf("Origin = %v, want opened", s.Origin())
			}
			if _, err := s.Put(ctx, []byte("written"), attachstore.Meta{}); err != nil {
				t.Errorf("Put into a store opened WithExisting: %v", err)
			}
		})
	}
}

// TestWithSync: each Sync reaches the writer's connection as SQLite's
// synchronous level.
func TestWithSync(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts []attachstore.Option
		want int
	}{
		{"Default", nil, 2},
		{"Full", []attachstore.Option{attachstore.WithSync(attachstore.SyncFull)}, 2},
		{"Normal", []attachstore.Option{attachstore.WithSync(attachstore.SyncNormal)}, 1},
		{"Off", []attachstore.Option{attachstore.WithSync(attachstore.SyncOff)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openForTest(t, filepath.Join(t.TempDir(), "sync.db"), tc.opts...)
			var level int
			if err := s.Update(ctx, func(tx *attachstore.Tx) error {
				return tx.SQL().QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level)
			}); err != nil {
				t.Fatal(err)
			}
			if level != tc.want {
				t.Errorf("PRAGMA synchronous = %d, want %d", level, tc.want)
			}
		})
	}
}
