package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testPGURL returns the server the PostgreSQL tests run against, or skips
// t when there is none. Under CI=true a missing server fails t: CI starts
// one, and a skip would hide that it did not.
func testPGURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(postgresEnv)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is unset: the PostgreSQL tests cannot run", postgresEnv)
		}
		t.Skipf("set %s to a postgres:// URL to run the PostgreSQL tests", postgresEnv)
	}
	return u
}

// testPGServer opens a run database on the test server, and checks when t
// ends that closing it dropped the database.
func testPGServer(t testing.TB) *pgServer {
	t.Helper()
	u := testPGURL(t)
	srv, err := openPGServer(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		name := srv.name
		if err := srv.close(); err != nil {
			t.Errorf("closing the server: %v", err)
		}
		if databaseExists(t, u, name) {
			t.Errorf("database %s is left on the server", name)
		}
	})
	return srv
}

func databaseExists(t testing.TB, rawURL, name string) bool {
	t.Helper()
	db, err := sql.Open("pgx", rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// schemas lists the schemas of the run's database that the bench made.
func schemas(t testing.TB, srv *pgServer) []string {
	t.Helper()
	rows, err := srv.db.Query(`SELECT nspname FROM pg_namespace
		WHERE nspname LIKE 's\_%' OR nspname LIKE 'floor\_%' ORDER BY nspname`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPGServerStoresAndCleanup checks that each store directory gets a
// schema of its own, the same one again when reopened, that dropStore
// removes it, and (in testPGServer's cleanup) that the run's database is
// gone after close.
func TestPGServerStoresAndCleanup(t *testing.T) {
	ctx := context.Background()
	srv := testPGServer(t)
	if !strings.HasPrefix(srv.name, "attachstore_bench_") {
		t.Errorf("run database %q: want an attachstore_bench_ name", srv.name)
	}
	dir := t.TempDir()
	small, grow := filepath.Join(dir, "small", "postgres"), filepath.Join(dir, "grow", "postgres")
	u1, err := srv.storeURL(ctx, small)
	if err != nil {
		t.Fatal(err)
	}
	u2, err := srv.storeURL(ctx, grow)
	if err != nil {
		t.Fatal(err)
	}
	again, err := srv.storeURL(ctx, small)
	if err != nil {
		t.Fatal(err)
	}
	if u1 == u2 || u1 != again {
		t.Errorf("store URLs: small %q, grow %q, small again %q: want one per directory", u1, u2, again)
	}
	if got, want := schemas(t, srv), []string{"s_grow_postgres", "s_small_postgres"}; !slices.Equal(got, want) {
		t.Errorf("schemas %q, want %q", got, want)
	}
	if err := srv.dropStore(ctx, grow); err != nil {
		t.Fatal(err)
	}
	if got, want := schemas(t, srv), []string{"s_small_postgres"}; !slices.Equal(got, want) {
		t.Errorf("after dropStore: schemas %q, want %q", got, want)
	}
	settings, err := srv.settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range pgSettings {
		if settings[name] == "" {
			t.Errorf("setting %s is empty", name)
		}
	}
}

func TestSchemaNamesAreIdentifiers(t *testing.T) {
	p := &pgServer{schemas: map[string]string{}}
	a := p.schemaFor("/tmp/x/Grow Store/post-gres")
	b := p.schemaFor("/other/grow store/post_gres")
	if a != "s_grow_store_post_gres" || b != "s_grow_store_post_gres_2" {
		t.Errorf("schemaFor = %q, %q; want s_grow_store_post_gres and s_grow_store_post_gres_2", a, b)
	}
	if long := p.schemaFor("/" + strings.Repeat("a", 100) + "/b"); len(long) > 63 {
		t.Errorf("schema name of %d characters, PostgreSQL keeps 63", len(long))
	}
}

func TestRedactArgs(t *testing.T) {
	got := redactArgs([]string{"-quick", "-postgres", "postgres://u:secret@h:5432/db", "-postgres=postgresql://u:secret@h/db", "-only", "W1"})
	for _, a := range got {
		if strings.Contains(a, "secret") {
			t.Errorf("redactArgs left a password: %q", got)
		}
	}
	if got[2] != "postgres://u:xxxxx@h:5432/db" || got[3] != "-postgres=postgresql://u:xxxxx@h/db" || got[5] != "W1" {
		t.Errorf("redactArgs = %q", got)
	}
}

func TestParseFlagsPostgres(t *testing.T) {
	const env = "postgres://u@h/db"
	for _, tt := range []struct {
		name    string
		env     string
		args    []string
		want    string
		wantErr bool
	}{
		{name: "from the environment", env: env, want: env},
		{name: "flag over the environment", env: env, args: []string{"-postgres", "postgresql://o@h/db"}, want: "postgresql://o@h/db"},
		{name: "explicitly none", env: env, args: []string{"-postgres", ""}, want: ""},
		{name: "none", want: ""},
		{name: "not a URL of PostgreSQL", args: []string{"-postgres", "mysql://h/db"}, wantErr: true},
		{name: "postgres asked for without a server", args: []string{"-systems", "postgres"}, wantErr: true},
		{name: "postgres asked for with a server", env: env, args: []string{"-systems", "attachstore,postgres"}, want: env},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(postgresEnv, tt.env)
			c, err := parseFlags(tt.args)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseFlags(%q) = nil error, want one", tt.args)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.postgres != tt.want {
				t.Errorf("parseFlags(%q): postgres = %q, want %q", tt.args, c.postgres, tt.want)
			}
		})
	}
}
