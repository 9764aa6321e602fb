package attachstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/storetest"
	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3"
)

// TestConformance runs the backend-independent suite against both kinds of
// SQLite store.
func TestConformance(t *testing.T) {
	t.Run("Ephemeral", func(t *testing.T) {
		storetest.Run(t, storetest.Harness{
			Persistence: attachstore.Ephemeral,
			Open: func(t testing.TB, opts ...attachstore.Option) *attachstore.Store {
				return openForTest(t, attachstore.MemoryPath, opts...)
			},
		})
	})
	t.Run("Durable", func(t *testing.T) {
		storetest.Run(t, storetest.Harness{
			Persistence: attachstore.Durable,
			Open: func(t testing.TB, opts ...attachstore.Option) *attachstore.Store {
				return openForTest(t, filepath.Join(t.TempDir(), "attachments.db"), opts...)
			},
			Reopen: func(t testing.TB, s *attachstore.Store, opts ...attachstore.Option) (*attachstore.Store, error) {
				s2, err := attachstore.Open(context.Background(), s.Path(), opts...)
				if err == nil {
					t.Cleanup(func() { s2.Close() })
				}
				return s2, err
			},
			Raw: func(t testing.TB, s *attachstore.Store) *sqlx.DB {
				return rawSQLite(t, s.Path())
			},
			OpenGarbage: func(t testing.TB, garbage []byte, opts ...attachstore.Option) (*attachstore.Store, []byte, error) {
				path := filepath.Join(t.TempDir(), "garbage.db")
				if err := os.WriteFile(path, garbage, 0o600); err != nil {
					t.Fatal(err)
				}
				s, err := attachstore.Open(context.Background(), path, opts...)
				if err == nil {
					t.Cleanup(func() { s.Close() })
				}
				after, rerr := os.ReadFile(path)
				if rerr != nil {
					t.Fatal(rerr)
				}
				return s, after, err
			},
		})
	})
}

// openForTest opens a store at path, closed when t ends.
func openForTest(t testing.TB, path string, opts ...attachstore.Option) *attachstore.Store {
	t.Helper()
	s, err := attachstore.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close(%q): %v", path, err)
		}
	})
	return s
}

// rawSQLite opens a connection of the test's own to the database file at
// path, outside attachstore, with foreign keys enforced.
func rawSQLite(t testing.TB, path string) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open("sqlite3", "file:"+path+"?_foreign_keys=on&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
