package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attachstore/attachstore/db"
	_ "github.com/mattn/go-sqlite3"
)

// hostFile writes the SQLite database of another program (a table and a
// row of its own) to name in e's directory and returns its path. journal
// is its journal_mode: "wal" as most apps keep it, or "delete".
func (e *cliEnv) hostFile(name, journal string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	db, err := sql.Open("sqlite3", p)
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"PRAGMA journal_mode=" + journal,
		"CREATE TABLE notes (body TEXT)",
		"INSERT INTO notes VALUES ('the host app''s own row')",
	} {
		if _, err := db.Exec(q); err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
	}
	return p
}

// hostRow reads the host's row back, through SQLite as the host would.
func hostRow(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var body string
	if err := db.QueryRow("SELECT body FROM notes").Scan(&body); err != nil {
		t.Fatalf("the host's table in %s: %v", path, err)
	}
	return body
}

// readingCommands are the commands that only read, with arguments; each
// must leave the database as it found it.
func readingCommands(id, dir string) [][]string {
	return [][]string{
		{"ls"},
		{"stat", id},
		{"get", id},
		{"get", id, "-o", filepath.Join(dir, "out.bin")},
		{"refs", "--session", "s"},
		{"refs", "--session", "s", "--pending"},
		{"sessions"},
		{"stats"},
		{"verify"},
		{"export", "--session", "s", filepath.Join(dir, "export")},
		{"backup", filepath.Join(dir, "backup.db")},
		{"reclaim", "--dry-run", "--grace", "0"},
	}
}

// TestReadingCommandsLeaveNoFiles: a command that reads a store closed
// cleanly leaves the file byte for byte as it was, and no -wal or -shm
// file beside it: the library's read-only connections leave them, and the
// CLI removes them (tidy).
func TestReadingCommandsLeaveNoFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.put("--session", "s", e.file("a.txt", []byte("read me")))[0]
	e.ok(nil, "commit", "--session", "s")
	before := readFile(t, e.db)
	out := t.TempDir()
	for _, args := range readingCommands(id, out) {
		e.ok(nil, args...)
		for _, suffix := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(e.db + suffix); err == nil {
				t.Errorf("%s left a %s file beside the store", args[0], suffix)
			}
		}
	}
	if after := readFile(t, e.db); !bytes.Equal(before, after) {
		t.Error("reading commands changed the store's file")
	}
}

// TestReadingCommandsLeaveAWritersWAL: a command that reads a store while
// another program has it open, with commits in the WAL, leaves the file,
// the WAL and the -shm file to that program.
func TestReadingCommandsLeaveAWritersWAL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.put("--session", "s", e.file("a.txt", []byte("read me")))[0]
	host, err := sql.Open("sqlite3", "file:"+e.db+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	host.SetMaxOpenConns(1)
	for _, q := range []string{`PRAGMA wal_autocheckpoint = 0`, `CREATE TABLE host_notes (body BLOB)`,
		`INSERT INTO host_notes VALUES (randomblob(65536))`} {
		if _, err := host.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	before, wal := readFile(t, e.db), readFile(t, e.db+"-wal")
	if len(wal) == 0 {
		t.Fatal("the host's commit is not in the WAL")
	}
	for _, args := range readingCommands(id, t.TempDir()) {
		e.ok(nil, args...)
	}
	if !bytes.Equal(before, readFile(t, e.db)) || !bytes.Equal(wal, readFile(t, e.db+"-wal")) {
		t.Error("reading commands changed the file or the WAL of a store another program has open")
	}
	if _, err := os.Stat(e.db + "-shm"); err != nil {
		t.Errorf("reading commands removed the -shm file of a store another program has open: %v", err)
	}
	var n int
	if err := host.QueryRow(`SELECT count(*) FROM host_notes`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the host's row after the reading commands: %d, %v", n, err)
	}
}

// TestReadingCommandsRefuseAHostsFile: pointed at another program's
// SQLite file, a command that reads says it is not a store and leaves the
// file byte for byte as it was; so does one that writes to a store, which
// has no business adopting it. Only put (and import) adopt it, and say so.
func TestReadingCommandsRefuseAHostsFile(t *testing.T) {
	t.Parallel()
	for _, journal := range []string{"wal", "delete"} {
		t.Run(journal, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.db = e.hostFile("host.db", journal)
			before := readFile(t, e.db)
			out := t.TempDir()
			cmds := append(readingCommands(unknownID, out),
				[]string{"rm", unknownID},
				[]string{"commit", "--session", "s"},
				[]string{"discard", "--session", "s", "--owner", "o"},
				[]string{"hold", "--session", "s", "--owner", "o", "--for", "1h"},
				[]string{"drop-session", "s"},
				[]string{"reclaim", "--grace", "0"},
				[]string{"compact"},
			)
			for _, args := range cmds {
				e.fails(1, []string{"open " + e.db, "not an attachstore store", "nothing was changed"}, args...)
			}
			r := e.fails(1, nil, "--json", "ls")
			if o := jsonLines(t, r.stderr); len(o) != 1 || o[0]["kind"] != "not_a_store" || o[0]["db"] != e.db {
				t.Errorf("ls --json on a host's file: stderr %v, want kind not_a_store naming the db", o)
			}
			if after := readFile(t, e.db); !bytes.Equal(before, after) {
				t.Fatalf("commands that were refused changed the host's file")
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("refused commands left %v behind", entries)
			}

			// put adopts it, says so once, and the host's row stays.
			r = e.ok(nil, "put", e.file("a.txt", []byte("adopted")))
			if !strings.Contains(r.stderr, "host.db was not an attachstore store") || !strings.Contains(r.stderr, "tables were added beside its own") {
				t.Errorf("put on a host's file: stderr %q does not say it adopted it", r.stderr)
			}
			if got := hostRow(t, e.db); got != "the host app's own row" {
				t.Errorf("host row after adoption = %q", got)
			}
			r = e.ok(nil, "--json", "put", e.file("b.txt", []byte("again")))
			if r.stderr != "" {
				t.Errorf("a second put announced the adoption again: %q", r.stderr)
			}
			e.ok(nil, "ls")
		})
	}
}

// TestAdoptionNoticeAsJSON: under --json the notice is a warning object.
func TestAdoptionNoticeAsJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.db = e.hostFile("host.db", "wal")
	r := e.ok(nil, "--json", "put", e.file("a.txt", []byte("a")))
	o := jsonLines(t, r.stderr)
	if len(o) != 1 || o[0]["origin"] != "adopted" || o[0]["db"] != e.db || !strings.Contains(o[0]["warning"].(string), "not an attachstore store") {
		t.Errorf("put --json on a host's file: stderr %v, want one adopted warning", o)
	}
}

// TestReadOnlyFile: on a file of mode 0444, every command that reads just
// works; one that writes fails before changing anything, and says which
// commands work and that --read-only exists.
func TestReadOnlyFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := pseudoRandom(100<<10, 30)
	id := e.put("--session", "s", e.file("a.bin", data))[0]
	e.ok(nil, "commit", "--session", "s")
	pending := e.put("--session", "s", "--owner", "t", e.file("b.txt", []byte("pending")))[0]
	if err := os.Chmod(e.db, 0o444); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, e.db)
	e.unprivileged()
	out := e.sharedDir("out")

	for _, args := range readingCommands(id, out) {
		e.ok(nil, args...)
	}
	if got := readFile(t, filepath.Join(out, "out.bin")); !bytes.Equal(got, data) {
		t.Errorf("get -o from a read-only file: %d bytes, want %d", len(got), len(data))
	}
	e.db = filepath.Join(out, "backup.db")
	if r := e.ok(nil, "refs", "--session", "s"); !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, pending) {
		t.Errorf("the backup of a read-only file lacks refs:\n%s", r.stdout)
	}
	e.db = filepath.Join(e.dir, "test.db")

	for _, args := range [][]string{
		{"put", e.file("c.txt", []byte("new"))},
		{"rm", id},
		{"commit", "--session", "s"},
		{"commit", "--session", "s", "--owner", "t"},
		{"discard", "--session", "s", "--owner", "t"},
		{"hold", "--session", "s", "--owner", "t", "--for", "1h"},
		{"drop-session", "s"},
		{"reclaim", "--grace", "0"},
		{"compact"},
	} {
		e.fails(1, []string{"cannot write the database", args[0] + " changes it", "--read-only"}, args...)
	}
	e.fails(1, []string{"reclaim --dry-run only reads"}, "reclaim")
	r := e.fails(1, nil, "--json", "rm", id)
	if o := jsonLines(t, r.stderr); len(o) != 1 || o[0]["kind"] != "read_only" {
		t.Errorf("rm --json on a read-only file: %v, want kind read_only", o)
	}
	if after := readFile(t, e.db); !bytes.Equal(before, after) {
		t.Fatal("commands changed a read-only file")
	}
}

// TestReadOnlyFlag: --read-only refuses a command that would write before
// it does anything (exit 2), and changes nothing for one that reads.
func TestReadOnlyFlag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.file("a.txt", []byte("a"))
	e.fails(2, []string{"put changes the store", "--read-only"}, "--read-only", "put", f)
	if _, err := os.Stat(e.db); err == nil {
		t.Fatal("put --read-only created the database")
	}
	id := e.put("--session", "s", f)[0]
	e.fails(2, []string{"rm changes the store"}, "rm", id, "--read-only")
	e.fails(2, []string{"--dry-run"}, "--read-only", "reclaim", "--grace", "0")
	e.fails(2, []string{"compact changes the store"}, "--read-only", "compact")
	e.fails(2, []string{"import changes the store"}, "--read-only", "import", e.dir)
	e.ok(nil, "stat", id)
	e.ok(nil, "--read-only", "reclaim", "--dry-run")
	if r := e.ok(nil, "--read-only", "ls"); !strings.Contains(r.stdout, id) {
		t.Errorf("ls --read-only: %q", r.stdout)
	}
	if r := e.exec(nil, "help", "ls"); !strings.Contains(r.stdout, "--read-only") {
		t.Errorf("help ls does not list --read-only:\n%s", r.stdout)
	}
}

// TestDatabaseURLIsNotAPath: a PostgreSQL URL is the library's to open;
// the CLI neither stats it nor treats it as a file.
func TestDatabaseURLIsNotAPath(t *testing.T) {
	for _, u := range []string{"postgres://u@localhost/db", "postgresql://u@localhost/db", "POSTGRES://u@h/db"} {
		if !db.IsURL(u) {
			t.Errorf("db.IsURL(%q) = false", u)
		}
	}
	for _, u := range []string{"postgres.db", "./postgres://x", ":memory:", "attachments.db"} {
		if db.IsURL(u) {
			t.Errorf("db.IsURL(%q) = true", u)
		}
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(out, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The database check of get -o compares files; a URL names none.
	if _, err := checkOutput(out, "postgres://u@localhost/db"); err != nil {
		t.Errorf("checkOutput with a URL database: %v", err)
	}
}
