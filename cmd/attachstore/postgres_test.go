package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// TestPostgresURLNeverShowsThePassword: a --db URL that cannot be reached
// is named in the error by its host and database, never its password.
func TestPostgresURLNeverShowsThePassword(t *testing.T) {
	e := newEnv(t)
	e.db = "postgres://agent:s3cret-pw@127.0.0.1:1/chats?connect_timeout=2"
	for _, args := range [][]string{{"ls"}, {"put", "-"}, {"--json", "stats"}} {
		r := e.run(strings.NewReader("x"), args...)
		if r.code != 1 {
			t.Errorf("attachstore %v on an unreachable server: want exit 1, got\n%v", args, r)
		}
		if strings.Contains(r.stderr+r.stdout, "s3cret-pw") {
			t.Errorf("attachstore %v printed the password:\n%v", args, r)
		}
		if !strings.Contains(r.stderr, "127.0.0.1") || !strings.Contains(r.stderr, "chats") {
			t.Errorf("attachstore %v: the error does not name the host and database:\n%v", args, r)
		}
	}
}

// TestEveryCommandOnPostgres runs the CLI's commands against a PostgreSQL
// database when ATTACHSTORE_TEST_POSTGRES holds a URL (in a schema of the
// test's own).
func TestEveryCommandOnPostgres(t *testing.T) {
	base := os.Getenv("ATTACHSTORE_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but ATTACHSTORE_TEST_POSTGRES is unset")
		}
		t.Skip("set ATTACHSTORE_TEST_POSTGRES to a postgres:// URL to run the PostgreSQL tests")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "attachstore_cli_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	e := newEnv(t)
	e.db = ""
	e.vars = []string{"ATTACHSTORE_DB=" + u.String()} // as $ATTACHSTORE_DB
	f := e.file("chart.svg", []byte("<svg>a chart</svg>"))
	id := strings.TrimSpace(e.ok(nil, "put", "--session", "chat", "--owner", "turn-1", f).stdout)
	e.ok(nil, "--db", u.String(), "ls")
	for _, args := range [][]string{
		{"stat", id}, {"get", "--session", "chat", id}, {"refs", "--session", "chat"}, {"sessions"},
		{"hold", "--session", "chat", "--owner", "turn-1", "--for", "1h"},
		{"commit", "--session", "chat", "--owner", "turn-1"}, {"stats"}, {"verify"},
		{"reclaim", "--grace", "0"}, {"compact"}, {"export", "--session", "chat", e.dir + "/export"},
		{"import", "--session", "copy", e.dir + "/export"}, {"drop-session", "copy"},
	} {
		e.ok(nil, args...)
	}
	if r := e.run(nil, "get", "--session", "chat", id); r.stdout != "<svg>a chart</svg>" {
		t.Errorf("get from PostgreSQL = %q", r.stdout)
	}
	if r := e.run(nil, "rm", id); r.code != 1 || !strings.Contains(r.stderr, "chat") {
		t.Errorf("rm of a committed blob: want exit 1 naming the session, got\n%v", r)
	}
}
