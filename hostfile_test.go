package attachstore_test

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/internal/storetest"
)

// hostClashes are host objects that take a name attachstore would create
// (or a name in its attachstore_ namespace), and the words the refusal
// must name. Each table of the migration, and golang-migrate's table, is
// taken in turn.
var hostClashes = []struct {
	name  string
	setup []string
	names string
}{
	{"Blobs", []string{`CREATE TABLE attachstore_blobs (name TEXT)`}, `table "attachstore_blobs"`},
	{"Chunks", []string{`CREATE TABLE attachstore_chunks (name TEXT)`}, `table "attachstore_chunks"`},
	{"Refs", []string{`CREATE TABLE attachstore_refs (name TEXT)`}, `table "attachstore_refs"`},
	{"Holds", []string{`CREATE TABLE attachstore_holds (name TEXT)`}, `table "attachstore_holds"`},
	{"DroppedSessions", []string{`CREATE TABLE attachstore_dropped_sessions (name TEXT)`}, `table "attachstore_dropped_sessions"`},
	{"MigrationsTable", []string{`CREATE TABLE attachstore_schema_migrations (name TEXT)`}, `table "attachstore_schema_migrations"`},
	// golang-migrate's columns, but the host's table: no attachstore
	// table beside it has the shape the migration made.
	{"MigrationsTableLookalike", []string{
		`CREATE TABLE attachstore_schema_migrations (version BIGINT, dirty BOOLEAN)`,
		`INSERT INTO attachstore_schema_migrations VALUES (1, false)`,
	}, `attachstore's table "attachstore_blobs"`},
	// A dirty flag says a migration stopped half-way: some of
	// attachstore's objects may be missing, but none is another's.
	{"DirtyMigrationsTableBesideAHostTable", []string{
		`CREATE TABLE attachstore_schema_migrations (version BIGINT, dirty BOOLEAN)`,
		`INSERT INTO attachstore_schema_migrations VALUES (1, true)`,
		`CREATE TABLE attachstore_notes (name TEXT)`,
	}, `table "attachstore_notes" is not attachstore's`},
	{"ViewNamedBlobs", []string{`CREATE VIEW attachstore_blobs AS SELECT 1 AS x`}, `view "attachstore_blobs"`},
	{"IndexNamedRefsBlob", []string{`CREATE INDEX attachstore_refs_blob ON chats (id)`}, `index "attachstore_refs_blob" on "chats"`},
	{"PrefixedTable", []string{`CREATE TABLE attachstore_notes (name TEXT)`}, `table "attachstore_notes"`},
}

// sqliteHost creates the file of a host that has a table of its own
// (chats) and the objects setup makes, in journal mode journal.
func sqliteHost(t *testing.T, journal string, setup []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "host.db")
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range append([]string{"PRAGMA journal_mode = " + journal,
		`CREATE TABLE chats (id TEXT)`, `INSERT INTO chats VALUES ('c1')`}, setup...) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return path
}

// fileState is what a refused Open must leave as it was: the file's
// bytes, its journal mode (from its header), and the files beside it.
type fileState struct {
	sum     [32]byte
	journal string
	beside  []string
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fileState{sum: sha256.Sum256(b), journal: "rollback"}
	if len(b) > 19 && b[18] == 2 {
		st.journal = "wal"
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		fi, err := os.Stat(path + suffix)
		if err != nil {
			continue
		}
		if suffix == "-shm" {
			// Shared memory: every reader, the host's own included, takes
			// a read mark in it.
			st.beside = append(st.beside, fmt.Sprintf("%s (%d bytes)", suffix, fi.Size()))
			continue
		}
		content, _ := os.ReadFile(path + suffix)
		st.beside = append(st.beside, fmt.Sprintf("%s (%d bytes, sha256 %x)", suffix, fi.Size(), sha256.Sum256(content)))
	}
	return st
}

func (st fileState) diff(after fileState) string {
	var d []string
	if st.sum != after.sum {
		d = append(d, "the file's bytes changed")
	}
	if st.journal != after.journal {
		d = append(d, fmt.Sprintf("journal mode %s -> %s", st.journal, after.journal))
	}
	if !slices.Equal(st.beside, after.beside) {
		d = append(d, fmt.Sprintf("files beside it %v -> %v", st.beside, after.beside))
	}
	return strings.Join(d, "; ")
}

// TestOpenRefusesAHostFileWithAClash is issue 29: a host file with an
// object named as one of attachstore's is refused by every Open with
// ErrNotAStore naming the object, and left byte for byte as it was: same
// journal mode, no table added, no -wal or -shm beside it.
func TestOpenRefusesAHostFileWithAClash(t *testing.T) {
	for _, journal := range []string{"delete", "wal"} {
		for _, c := range hostClashes {
			t.Run(journal+"/"+c.name, func(t *testing.T) {
				path := sqliteHost(t, journal, c.setup)
				before := stateOf(t, path)
				for _, opts := range [][]attachstore.Option{nil, {attachstore.WithReadOnly()}} {
					s, err := attachstore.Open(t.Context(), path, opts...)
					if err == nil {
						s.Close()
						t.Fatalf("Open(%d options) of a host file with %s succeeded", len(opts), c.names)
					}
					if !errors.Is(err, attachstore.ErrNotAStore) || !strings.Contains(err.Error(), c.names) {
						t.Errorf("Open(%d options) = %v; want ErrNotAStore naming %s", len(opts), err, c.names)
					}
					if d := before.diff(stateOf(t, path)); d != "" {
						t.Errorf("the refused Open(%d options) changed the host's file: %s", len(opts), d)
					}
				}
			})
		}
	}
}

// TestRefusalLeavesTheHostsWALAlone: a host that has its WAL-mode file
// open keeps commits in its -wal that the file does not have yet; a
// refused Open reads them (the clash is only there) and copies nothing
// back into the file.
func TestRefusalLeavesTheHostsWALAlone(t *testing.T) {
	path := sqliteHost(t, "wal", nil)
	host, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	host.SetMaxOpenConns(1)
	t.Cleanup(func() { host.Close() })
	for _, q := range []string{"PRAGMA wal_autocheckpoint = 0", `CREATE TABLE attachstore_refs (name TEXT)`,
		`INSERT INTO chats VALUES ('c2')`} {
		if _, err := host.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	before := stateOf(t, path)
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the host's -wal: %v, %v; want frames in it", fi, err)
	}
	for _, opts := range [][]attachstore.Option{nil, {attachstore.WithReadOnly()}} {
		_, err := attachstore.Open(t.Context(), path, opts...)
		if !errors.Is(err, attachstore.ErrNotAStore) || !strings.Contains(err.Error(), `table "attachstore_refs"`) {
			t.Errorf("Open(%d options) = %v; want ErrNotAStore naming the table in the host's WAL", len(opts), err)
		}
		if d := before.diff(stateOf(t, path)); d != "" {
			t.Errorf("the refused Open(%d options) changed the host's files: %s", len(opts), d)
		}
	}
	var n int
	if err := host.QueryRow(`SELECT count(*) FROM chats`).Scan(&n); err != nil || n != 2 {
		t.Errorf("the host's rows after the refusal: %d, %v", n, err)
	}
}

// TestOpenAdoptsAHostFileWithoutAClash: host objects whose names are not
// attachstore's, even close ones, are no clash; the adopted file reopens
// as attachstore's, and attachstore leaves no object of golang-migrate's
// named outside attachstore_… (its version_unique index).
func TestOpenAdoptsAHostFileWithoutAClash(t *testing.T) {
	path := sqliteHost(t, "delete", []string{
		`CREATE TABLE blobs (name TEXT)`, `CREATE TABLE schema_migrations (version BIGINT, dirty BOOLEAN)`,
		`CREATE TABLE attachstore (x)`, `CREATE VIEW attachstorex AS SELECT 1`,
	})
	s := openForTest(t, path)
	if s.Origin() != attachstore.AdoptedFile {
		t.Errorf("Origin = %v, want %v", s.Origin(), attachstore.AdoptedFile)
	}
	mustPut(t, s.Session("s"), "adopted")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openForTest(t, path)
	if s.Origin() != attachstore.OpenedStore {
		t.Errorf("reopened: Origin = %v, want %v", s.Origin(), attachstore.OpenedStore)
	}
	var names []string
	if err := s.View(t.Context(), func(tx *attachstore.Tx) error {
		return tx.SQL().SelectContext(t.Context(), &names, `SELECT name FROM sqlite_master
			WHERE name NOT LIKE 'attachstore\_%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"attachstore", "attachstorex", "blobs", "chats", "schema_migrations"}; !slices.Equal(names, want) {
		t.Errorf("objects not named attachstore_… = %q, want the host's own %q", names, want)
	}
}

// TestOpenRefusesAStoreMissingATable: a file whose migrations table says
// version 1 but that lacks one of the tables version 1 makes is not a
// store as its migration made it; the message says which is missing.
func TestOpenRefusesAStoreMissingATable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openForTest(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw := rawSQLite(t, path)
	if _, err := raw.Exec(`DROP TABLE attachstore_holds`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	before := stateOf(t, path)
	_, err := attachstore.Open(t.Context(), path)
	if !errors.Is(err, attachstore.ErrNotAStore) || !strings.Contains(err.Error(), `table "attachstore_holds" is missing`) {
		t.Errorf("Open = %v; want ErrNotAStore saying attachstore_holds is missing", err)
	}
	if d := before.diff(stateOf(t, path)); d != "" {
		t.Errorf("the refused Open changed the file: %s", d)
	}
}

// TestPostgresOpenRefusesAClash: in a schema where a host object takes
// one of attachstore's names, Open refuses with ErrNotAStore naming it and
// creates nothing (no migrations table, no dirty flag).
func TestPostgresOpenRefusesAClash(t *testing.T) {
	storetest.PostgresURL(t)
	for _, c := range hostClashes {
		t.Run(c.name, func(t *testing.T) {
			u := storetest.PostgresSchema(t)
			raw, err := sql.Open("pgx", u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			for _, q := range append([]string{`CREATE TABLE chats (id TEXT)`}, c.setup...) {
				if _, err := raw.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			relations := func() []string {
				t.Helper()
				var out []string
				rows, err := raw.Query(`SELECT relname::text || ':' || relkind::text FROM pg_class
					WHERE relnamespace = current_schema()::regnamespace ORDER BY 1`)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				for rows.Next() {
					var r string
					if err := rows.Scan(&r); err != nil {
						t.Fatal(err)
					}
					out = append(out, r)
				}
				return out
			}
			before := relations()
			for _, opts := range [][]attachstore.Option{nil, {attachstore.WithReadOnly()}} {
				s, err := attachstore.Open(t.Context(), u, opts...)
				if err == nil {
					s.Close()
					t.Fatalf("Open(%d options) of a schema with %s succeeded", len(opts), c.names)
				}
				if !errors.Is(err, attachstore.ErrNotAStore) || !strings.Contains(err.Error(), c.names) {
					t.Errorf("Open(%d options) = %v; want ErrNotAStore naming %s", len(opts), err, c.names)
				}
				if after := relations(); !slices.Equal(before, after) {
					t.Errorf("the refused Open(%d options) changed the schema: %q -> %q", len(opts), before, after)
				}
			}
		})
	}
}

// TestPostgresReopenFindsOnlyItsOwn: a store reopens (its objects are the
// ones attachstore knows it made), and Stats counts its tables' size.
func TestPostgresReopenFindsOnlyItsOwn(t *testing.T) {
	u := storetest.PostgresSchema(t)
	s := openForTest(t, u)
	mustPut(t, s.Session("s"), "on the server")
	if st, err := s.Stats(t.Context()); err != nil || st.FileBytes <= 0 {
		t.Errorf("Stats = %+v, %v; want the tables' size in FileBytes", st, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openForTest(t, u)
	if s.Origin() != attachstore.OpenedStore {
		t.Errorf("reopened: Origin = %v, want %v", s.Origin(), attachstore.OpenedStore)
	}
}

// TestPostgresSearchPathWithoutASchema: a search_path that names no
// schema that exists is refused with ErrNotAStore naming it, not a scan
// error.
func TestPostgresSearchPathWithoutASchema(t *testing.T) {
	u, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", "attachstore_no_such_schema")
	u.RawQuery = q.Encode()
	for _, opts := range [][]attachstore.Option{nil, {attachstore.WithReadOnly()}} {
		s, err := attachstore.Open(t.Context(), u.String(), opts...)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%d options) with a missing schema succeeded", len(opts))
		}
		if !errors.Is(err, attachstore.ErrNotAStore) || !strings.Contains(err.Error(), "attachstore_no_such_schema") ||
			strings.Contains(err.Error(), "Scan") {
			t.Errorf("Open(%d options) = %v; want ErrNotAStore naming the schema", len(opts), err)
		}
	}
}

// TestCompactKeepsTheHostsRowids: Compact refuses a file in which a table
// that is not attachstore's has implicit rowids (VACUUM may renumber
// them), and changes nothing; with AllowRowidChanges it runs. Tables whose
// rowid is an INTEGER PRIMARY KEY, and WITHOUT ROWID tables, keep their
// keys, so they need no permission; nor does a file of attachstore's
// tables alone.
func TestCompactKeepsTheHostsRowids(t *testing.T) {
	for _, c := range []struct {
		name    string
		host    string // "" for a file attachstore created
		refuses bool
	}{
		{"OnlyAttachstore", "", false},
		{"ImplicitRowid", `CREATE TABLE notes (body TEXT)`, true},
		{"IntPrimaryKey", `CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)`, true},
		{"IntegerPrimaryKeyDesc", `CREATE TABLE notes (id INTEGER PRIMARY KEY DESC, body TEXT)`, true},
		{"CompositeKey", `CREATE TABLE notes (a INTEGER, b INTEGER, body TEXT, PRIMARY KEY (a, b))`, true},
		{"IntegerPrimaryKey", `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`, false},
		{"IntegerPrimaryKeyConstraint", `CREATE TABLE notes (id integer, body TEXT, PRIMARY KEY (id))`, false},
		{"WithoutRowid", `CREATE TABLE notes (id TEXT PRIMARY KEY DEFAULT (hex(randomblob(8))), body TEXT) WITHOUT ROWID`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "host.db")
			if c.host != "" {
				raw, err := sql.Open("sqlite3", "file:"+path)
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range []string{c.host, `INSERT INTO notes (body) VALUES ('one'), ('two'), ('three')`,
					`DELETE FROM notes WHERE body = 'one'`} {
					if _, err := raw.Exec(q); err != nil {
						raw.Close()
						t.Fatalf("%s: %v", q, err)
					}
				}
				raw.Close()
			}
			s := openForTest(t, path)
			mustPut(t, s.Session("s"), "kept")
			err := s.Compact(ctx)
			if c.refuses {
				if !errors.Is(err, attachstore.ErrRowidsMayChange) || !strings.Contains(err.Error(), `table "notes"`) {
					t.Fatalf("Compact = %v; want ErrRowidsMayChange naming table \"notes\"", err)
				}
				if mode := pragmaInt(t, s, "auto_vacuum"); mode != 0 {
					t.Errorf("the refused Compact changed auto_vacuum to %d", mode)
				}
				err = s.Compact(ctx, attachstore.AllowRowidChanges())
			}
			if err != nil {
				t.Fatalf("Compact: %v", err)
			}
			if mode := pragmaInt(t, s, "auto_vacuum"); mode != 2 {
				t.Errorf("after Compact: auto_vacuum %d, want 2 (incremental)", mode)
			}
			if c.host != "" {
				var bodies []string
				if err := s.View(ctx, func(tx *attachstore.Tx) error {
					return tx.SQL().SelectContext(ctx, &bodies, `SELECT body FROM notes ORDER BY body`)
				}); err != nil || !slices.Equal(bodies, []string{"three", "two"}) {
					t.Errorf("the host's rows after Compact: %q, %v", bodies, err)
				}
			}
		})
	}
}

// TestAdoptingAFileWithAHotJournal: a host that stopped half-way through
// a transaction leaves a hot journal; Open rolls it back, as the host's
// next connection would, and adopts the file with the host's rows as
// they were before that transaction.
func TestAdoptingAFileWithAHotJournal(t *testing.T) {
	dir := t.TempDir()
	path := sqliteHost(t, "delete", nil)
	host, err := sql.Open("sqlite3", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	host.SetMaxOpenConns(1)
	if _, err := host.Exec(`PRAGMA cache_size = 10`); err != nil {
		t.Fatal(err)
	}
	tx, err := host.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		if _, err := tx.Exec(`INSERT INTO chats VALUES (hex(randomblob(500)))`); err != nil {
			t.Fatal(err)
		}
	}
	// A copy taken now is what a crash leaves: the file with pages the
	// transaction spilled into it, and the journal that undoes them.
	crashed := filepath.Join(dir, "crashed.db")
	for _, suffix := range []string{"", "-journal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatalf("the host's file%s during its transaction: %v", suffix, err)
		}
		if err := os.WriteFile(crashed+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_ = tx.Rollback()
	s := openForTest(t, crashed)
	if s.Origin() != attachstore.AdoptedFile {
		t.Errorf("Origin = %v, want %v", s.Origin(), attachstore.AdoptedFile)
	}
	var n int
	if err := s.View(t.Context(), func(tx *attachstore.Tx) error {
		return tx.SQL().QueryRowContext(t.Context(), `SELECT count(*) FROM chats`).Scan(&n)
	}); err != nil || n != 1 {
		t.Errorf("the host's rows after the hot journal's rollback: %d, %v; want 1", n, err)
	}
}
