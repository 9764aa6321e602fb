package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/attachstore/attachstore/internal/storetest"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// pgSchemas are the schemas this test binary created; TestMain checks
// that none is left on the server when the tests end.
var pgSchemas struct {
	sync.Mutex
	names []string
}

// newPGSchema creates a schema of t's own on the test server and returns
// base with its search_path set to it. The schema is dropped when t ends,
// by a Cleanup that holds its own connection: a deferred Close in the
// test would run before any Cleanup and leave the schema behind.
func newPGSchema(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("ATTACHSTORE_TEST_POSTGRES: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "attachstore_cli_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	pgSchemas.Lock()
	pgSchemas.names = append(pgSchemas.names, schema)
	pgSchemas.Unlock()
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// leftSchemas returns the schemas this binary created that are still on
// the server: a test that leaves one behind fails the run.
func leftSchemas() ([]string, error) {
	pgSchemas.Lock()
	names := pgSchemas.names
	pgSchemas.Unlock()
	if len(names) == 0 {
		return nil, nil
	}
	admin, err := sql.Open("pgx", os.Getenv("ATTACHSTORE_TEST_POSTGRES"))
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	var left []string
	for _, n := range names {
		var found int
		if err := admin.QueryRowContext(context.Background(),
			`SELECT count(*) FROM pg_namespace WHERE nspname = $1`, n).Scan(&found); err != nil {
			return nil, err
		}
		if found > 0 {
			left = append(left, n)
		}
	}
	return left, nil
}

// checkNoSchemaLeft is run by TestMain after the tests.
func checkNoSchemaLeft() int {
	left, err := leftSchemas()
	if err != nil {
		fmt.Fprintf(os.Stderr, "checking for PostgreSQL schemas left behind: %v\n", err)
		return 1
	}
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: tests left PostgreSQL schemas behind: %s\n", strings.Join(left, ", "))
		return 1
	}
	return 0
}

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

// everyCommand is one run of each command that reaches the database, with
// the arguments it needs in e (id: a stored blob, put by session "chat").
func everyCommand(e *cliEnv, id string) [][]string {
	f := e.file("other.txt", []byte("other"))
	return [][]string{
		{"put", "--session", "chat", "--owner", "turn-1", f}, {"get", id}, {"get", id, "-o", e.dir + "/got"},
		{"stat", id}, {"ls"}, {"rm", unknownID}, {"sessions"}, {"refs", "--session", "chat"},
		{"hold", "--session", "chat", "--owner", "turn-1", "--for", "1h"},
		{"commit", "--session", "chat", "--owner", "turn-1"}, {"commit", "--session", "chat"},
		{"commit", "--session", "chat", id}, {"discard", "--session", "chat", "--owner", "x"},
		{"export", "--session", "chat", e.dir + "/export"}, {"import", "--session", "copy", e.dir + "/export"},
		{"drop-session", "copy"}, {"reclaim", "--dry-run"}, {"reclaim", "--grace", "0"}, {"verify"},
		{"stats"}, {"compact"}, {"backup", e.dir + "/backup.db"},
	}
}

// TestNoCommandShowsThePassword: whatever the letter case of the URL's
// scheme, and whether it comes from --db or $ATTACHSTORE_DB, no command
// prints the password, in text or JSON, on stdout or stderr: against a
// server that cannot be reached, and (with ATTACHSTORE_TEST_POSTGRES)
// against one that works.
func TestNoCommandShowsThePassword(t *testing.T) {
	const secret = "s3cret-pw-cli"
	e := newEnv(t)
	id := sha([]byte("x"))
	check := func(e *cliEnv, secret string, args []string, r result) {
		t.Helper()
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("attachstore %v printed the password:\n%v", args, r)
		}
	}
	for _, scheme := range []string{"postgres", "POSTGRES", "PostgreSQL"} {
		for _, rest := range []string{
			"://agent:" + secret + "@127.0.0.1:1/chats?connect_timeout=2",
			"://agent@127.0.0.1:1/chats?connect_timeout=2&password=" + secret,
		} {
			u := scheme + rest
			for _, viaEnv := range []bool{false, true} {
				e.db, e.vars = u, nil
				if viaEnv {
					e.db, e.vars = "", []string{"ATTACHSTORE_DB=" + u}
				}
				for _, args := range [][]string{{"ls"}, {"--json", "put", "-"}, {"stat", id}, {"--json", "reclaim"}} {
					r := e.run(strings.NewReader("x"), args...)
					if r.code != 1 {
						t.Errorf("attachstore %v with %s: want exit 1, got\n%v", args, u, r)
					}
					if strings.Contains(r.stderr, "no such") {
						t.Errorf("attachstore %v took %s for a file:\n%v", args, u, r)
					}
					check(e, secret, args, r)
				}
			}
		}
	}

	base := os.Getenv("ATTACHSTORE_TEST_POSTGRES")
	if base == "" {
		return
	}
	pu, err := url.Parse(newPGSchema(t, base))
	if err != nil {
		t.Fatal(err)
	}
	pw, ok := pu.User.Password()
	if !ok || pw == "" {
		t.Skip("ATTACHSTORE_TEST_POSTGRES has no password to look for")
	}
	pu.Scheme = strings.ToUpper(pu.Scheme)
	e = newEnv(t)
	e.db = pu.String()
	id = e.put("--session", "chat", e.file("a.txt", []byte("alpha")))[0]
	for _, args := range everyCommand(e, id) {
		for _, json := range []bool{false, true} {
			if json {
				args = append([]string{"--json"}, args...)
			}
			r := e.run(nil, args...)
			check(e, pw, args, r)
		}
	}
	e.db = pu.Scheme + "://" + pu.User.Username() + ":wrong-" + pw + "@" + pu.Host + pu.RequestURI()
	r := e.run(nil, "--json", "ls")
	check(e, "wrong-"+pw, []string{"ls", "(wrong password)"}, r)
}

// TestPGPASSWORD: a URL without a password opens the store with the
// password in $PGPASSWORD, which pgx reads, so a password need not be on
// the command line (where ps shows it).
func TestPGPASSWORD(t *testing.T) {
	base := storetest.PostgresURL(t)
	u, err := url.Parse(newPGSchema(t, base))
	if err != nil {
		t.Fatal(err)
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		t.Skip("ATTACHSTORE_TEST_POSTGRES has no password to move to PGPASSWORD")
	}
	u.User = url.User(u.User.Username())
	e := newEnv(t)
	e.db = ""
	e.vars = []string{"ATTACHSTORE_DB=" + u.String(), "PGPASSWORD=wrong-" + pw}
	if r := e.run(nil, "put", e.file("a.txt", []byte("a"))); r.code != 1 {
		t.Fatalf("put with a wrong $PGPASSWORD: want exit 1 (the server checks passwords), got\n%v", r)
	}
	e.vars[1] = "PGPASSWORD=" + pw
	id := e.put(e.file("a.txt", []byte("a")))[0]
	e.db = u.String() // as --db, too
	if r := e.ok(nil, "stat", id); !strings.Contains(r.stdout, id) {
		t.Errorf("stat with $PGPASSWORD: %q", r.stdout)
	}
}

// TestEveryCommandOnPostgres runs the CLI's commands against a PostgreSQL
// database when ATTACHSTORE_TEST_POSTGRES holds a URL (in a schema of the
// test's own).
func TestEveryCommandOnPostgres(t *testing.T) {
	dbURL := newPGSchema(t, storetest.PostgresURL(t))
	e := newEnv(t)
	e.db = ""
	e.vars = []string{"ATTACHSTORE_DB=" + dbURL} // as $ATTACHSTORE_DB
	f := e.file("chart.svg", []byte("<svg>a chart</svg>"))
	id := strings.TrimSpace(e.ok(nil, "put", "--session", "chat", "--owner", "turn-1", f).stdout)
	e.ok(nil, "--db", dbURL, "ls")
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
