package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// PostgresURL returns the server the PostgreSQL tests run against, or
// skips t when there is none. Under CI=true a missing server fails t: CI
// starts one, and a skip would hide that it did not.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("ATTACHSTORE_TEST_POSTGRES")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but ATTACHSTORE_TEST_POSTGRES is unset: the PostgreSQL tests cannot run")
		}
		t.Skip("set ATTACHSTORE_TEST_POSTGRES to a postgres:// URL to run the PostgreSQL tests")
	}
	return u
}

// PostgresSchema creates a schema of t's own on the test server and
// returns a URL whose search_path is it; the schema is dropped when t ends.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "attachstore_test_" + hex.EncodeToString(b[:])
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("ATTACHSTORE_TEST_POSTGRES: %v", err)
	}
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+name); err != nil {
		admin.Close()
		t.Fatalf("creating schema %s on %s: %v", name, u.Redacted(), err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
		admin.Close()
	})
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
