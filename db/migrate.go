package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/attachstore/attachstore/schema"
	gomigrate "github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	mpgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	msqlite "github.com/golang-migrate/migrate/v4/database/sqlite3"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "github.com/mattn/go-sqlite3"
)

const migrationsTable = "attachstore_schema_migrations"

// object is a schema object's kind ("table", "index" …) and the table it
// belongs to (a table's is itself).
type object struct{ kind, table string }

// ownObjects are the schema objects, by name, that attachstore's one
// migration makes, golang-migrate's table included; on PostgreSQL also the
// indexes and the sequence the server names after their table. From a
// second migration on, this becomes one set per version. Every test that
// reopens a store checks it: were it wrong, no store would reopen.
func ownObjects(pg bool) map[string]object {
	tables := []string{migrationsTable, "attachstore_blobs", "attachstore_chunks", "attachstore_refs",
		"attachstore_holds", "attachstore_dropped_sessions"}
	own := map[string]object{
		"attachstore_refs_committed": {"index", "attachstore_refs"},
		"attachstore_refs_pending":   {"index", "attachstore_refs"},
	}
	for _, t := range tables {
		own[t] = object{"table", t}
		if pg {
			own[t+"_pkey"] = object{"index", t}
		}
	}
	if pg {
		own["attachstore_blobs_pk_key"] = object{"index", "attachstore_blobs"}
		own["attachstore_blobs_pk_seq"] = object{"sequence", "attachstore_blobs_pk_seq"}
	}
	return own
}

// Every schema object named attachstore_… (in any case on SQLite, where
// names are case-insensitive), with the table it belongs to.
const (
	qSQLiteObjects = `SELECT type, lower(name), lower(tbl_name) FROM sqlite_master
		WHERE name LIKE 'attachstore\_%' ESCAPE '\'`
	// Relations, and types that are not a relation's own (a table's row
	// type would clash with a type of its name), in the current schema.
	qPostgresObjects = `SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
			WHEN 'i' THEN 'index' WHEN 'I' THEN 'partitioned index' WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view'
			WHEN 'm' THEN 'materialized view' WHEN 'c' THEN 'type' WHEN 'f' THEN 'foreign table' ELSE 'relation' END,
			c.relname::text, coalesce((SELECT t.relname::text FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid
				WHERE x.indexrelid = c.oid), c.relname::text)
		FROM pg_class c WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
			AND c.relname LIKE 'attachstore\_%'
		UNION ALL
		SELECT 'type', t.typname::text, t.typname::text FROM pg_type t
		WHERE t.typnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
			AND t.typrelid = 0 AND t.typname LIKE 'attachstore\_%'`
	// A table's columns, in order, as "a, b".
	qSQLiteColumns   = `SELECT coalesce(group_concat(name, ', '), '') FROM (SELECT lower(name) AS name FROM pragma_table_info(?) ORDER BY cid)`
	qPostgresColumns = `SELECT coalesce(string_agg(column_name::text, ', ' ORDER BY ordinal_position), '')
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`
)

// readVersion returns the recorded schema version (-1 when none) and the
// dirty flag, reading only: every object named attachstore_… must be as
// the recorded migration made it, or it returns ErrNotAStore naming those
// that are not. A dirty schema may lack some; a newer one has objects this
// build does not know (see usable).
func readVersion(ctx context.Context, db *sql.DB, pg bool) (int, bool, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return -1, false, err
	}
	defer conn.Close()
	// One snapshot, or another process's migration half-read would look
	// like a clash. Not BeginTx: the SQLite writer's transactions begin
	// IMMEDIATE, and Open must not wait for another writer's lock.
	begin := "BEGIN"
	if pg {
		begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	}
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		return -1, false, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	found, err := schemaObjects(ctx, conn, pg)
	if err != nil {
		return -1, false, err
	}
	mig, ok := found[migrationsTable]
	switch {
	case !ok && len(found) == 0:
		return -1, false, nil
	case !ok:
		return -1, false, clash(found, nil, nil,
			"the database has no "+migrationsTable+" table: attachstore never wrote to it")
	case mig.kind != "table":
		return -1, false, clash(map[string]object{migrationsTable: mig}, nil, nil, "")
	}
	qCols := qSQLiteColumns
	if pg {
		qCols = qPostgresColumns
	}
	var cols string
	if err := conn.QueryRowContext(ctx, qCols, migrationsTable).Scan(&cols); err != nil {
		return -1, false, err
	}
	if cols != "version, dirty" {
		return -1, false, clash(map[string]object{migrationsTable: mig}, nil, nil,
			fmt.Sprintf("its columns are (%s), golang-migrate's are (version, dirty)", cols))
	}
	var v sql.NullInt64
	var dirty sql.NullBool
	err = conn.QueryRowContext(ctx, `SELECT version, dirty FROM `+migrationsTable+` LIMIT 1`).Scan(&v, &dirty)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		v = sql.NullInt64{Int64: -1, Valid: true}
		dirty.Valid = true
	case err != nil && (isDriverError(err) || ctx.Err() != nil):
		return -1, false, err
	case err != nil || !v.Valid || !dirty.Valid:
		return -1, false, clash(map[string]object{migrationsTable: mig}, nil, nil,
			"its row is not a version and a dirty flag")
	}
	if v.Int64 > schema.Version {
		return int(v.Int64), dirty.Bool, nil // a newer attachstore's objects
	}
	want := map[string]object{migrationsTable: mig}
	if v.Int64 == schema.Version || dirty.Bool {
		want = ownObjects(pg)
	}
	var extra []string
	for name, o := range found {
		if w, ok := want[name]; !ok || w != o {
			extra = append(extra, name)
		}
	}
	var missing []string
	for name := range want {
		// A migration that stopped half-way may have made only some.
		if _, ok := found[name]; !ok && !dirty.Bool {
			missing = append(missing, name)
		}
	}
	if len(extra) > 0 || len(missing) > 0 {
		why := fmt.Sprintf("%s records version %d", migrationsTable, v.Int64)
		if v.Int64 < 0 {
			why = migrationsTable + " records no migration"
		}
		return -1, false, clash(found, extra, missing, why)
	}
	return int(v.Int64), dirty.Bool, nil
}

func schemaObjects(ctx context.Context, conn *sql.Conn, pg bool) (map[string]object, error) {
	q := qSQLiteObjects
	if pg {
		q = qPostgresObjects
	}
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := map[string]object{}
	for rows.Next() {
		var name string
		var o object
		if err := rows.Scan(&o.kind, &name, &o.table); err != nil {
			return nil, err
		}
		found[name] = o
	}
	return found, rows.Err()
}

// clash is the ErrNotAStore naming the objects that are not attachstore's
// (all of found when names and missing are nil), its own that are
// missing, and why.
func clash(found map[string]object, names, missing []string, why string) error {
	if names == nil && missing == nil {
		names = slices.Collect(maps.Keys(found))
	}
	var parts []string
	list := func(names []string, in map[string]object, format string) {
		if len(names) == 0 {
			return
		}
		slices.Sort(names)
		var objs []string
		for i, n := range names {
			if i == 3 {
				objs = append(objs, fmt.Sprintf("%d more", len(names)-i))
				break
			}
			if o := in[n]; o.kind == "index" && o.table != n {
				objs = append(objs, fmt.Sprintf("index %q on %q", n, o.table))
			} else {
				objs = append(objs, fmt.Sprintf("%s %q", o.kind, n))
			}
		}
		verb := "are"
		if len(names) == 1 {
			verb = "is"
		}
		parts = append(parts, fmt.Sprintf(format, strings.Join(objs, ", "), verb))
	}
	list(names, found, "%s %s not attachstore's")
	list(missing, ownObjects(true), "attachstore's %s %s missing")
	msg := strings.Join(parts, ", and ")
	if why != "" {
		msg += " (" + why + ")"
	}
	return fmt.Errorf("%w: %s; names that start attachstore_ are attachstore's own: "+
		"rename the others, or keep the store in another file or schema", ErrNotAStore, msg)
}

// isDriverError reports an error of SQLite or PostgreSQL, not
// database/sql's (a value it could not convert).
func isDriverError(err error) bool {
	var se sqlite3.Error
	var pe *pgconn.PgError
	return errors.As(err, &se) || errors.As(err, &pe)
}

var errNeverWritten = fmt.Errorf("%w: attachstore never wrote to it (it has no %s table); nothing was changed",
	ErrNotAStore, migrationsTable)

// usable says whether readVersion's answer is a store this build can use
// as it is.
func usable(v int, dirty bool, err error) error {
	switch {
	case errors.Is(err, ErrNotAStore):
		return fmt.Errorf("%w; nothing was changed", err)
	case err != nil:
		return err
	case v < 0:
		return errNeverWritten
	case v > schema.Version:
		return fmt.Errorf("%w: file is at version %d, this build knows up to %d; upgrade attachstore",
			ErrSchemaTooNew, v, schema.Version)
	case dirty:
		return fmt.Errorf("%w: migration %d did not finish; restore the file from a backup, or "+
			"fix the schema by hand and set attachstore_schema_migrations.dirty to 0", ErrDirty, v)
	case v < schema.Version:
		return fmt.Errorf("database schema is at version %d, want %d; open it writable once to migrate",
			v, schema.Version)
	}
	return nil
}

// migrate brings db (on PostgreSQL, at pgURL) to schema.Version. It
// refuses a clash, or a newer or dirty schema, before golang-migrate
// touches anything. On SQLite it waits out, and retries after, another
// process migrating the file; on PostgreSQL golang-migrate's advisory lock
// does that.
func migrate(ctx context.Context, db *sql.DB, pgURL string) error {
	pg := pgURL != ""
	for attempt := 0; ; attempt++ {
		v, dirty, err := readVersion(ctx, db, pg)
		switch {
		case err != nil && attempt > 0:
			return err
		case err != nil || v > schema.Version || dirty && (pg || attempt >= 20):
			return usable(v, dirty, err)
		case v == schema.Version && !dirty:
			return nil
		case dirty:
			// Perhaps another process migrating: the flag is not atomic
			// with the migration.
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		if err := up(ctx, db, pgURL); err == nil || pg || attempt >= 20 {
			return err
		}
	}
}

// up runs the migrations: on SQLite on db, the writer, dropping the
// Migrate without Close, which would close db; on PostgreSQL on a handle
// of its own, which golang-migrate keeps a connection of, and closes.
func up(ctx context.Context, db *sql.DB, pgURL string) (err error) {
	dir, name := "sqlite", "sqlite3"
	var drv database.Driver
	if pgURL == "" {
		drv, err = msqlite.WithInstance(db, &msqlite.Config{MigrationsTable: migrationsTable})
	} else {
		dir, name = "postgres", "pgx5"
		if db, err = sql.Open("pgx", pgURL); err != nil {
			return err
		}
		if drv, err = mpgx.WithInstance(db, &mpgx.Config{MigrationsTable: migrationsTable}); err != nil {
			db.Close()
		} else {
			defer drv.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	src, err := iofs.New(schema.FS, dir)
	if err != nil {
		return err
	}
	m, err := gomigrate.NewWithInstance("iofs", src, name, drv)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := m.Up(); err != nil && !errors.Is(err, gomigrate.ErrNoChange) {
		return fmt.Errorf("migrate: %w", err)
	}
	if pgURL != "" {
		return nil
	}
	// golang-migrate's SQLite driver makes an index version_unique, a name
	// in the host's namespace (a host's own of that name is left alone).
	// Nothing needs it: golang-migrate replaces its one row in a
	// transaction.
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master
		WHERE type = 'index' AND name = 'version_unique' AND tbl_name = '`+migrationsTable+`'`).Scan(&n); err != nil || n == 0 {
		return err
	}
	_, err = db.ExecContext(ctx, `DROP INDEX version_unique`)
	return err
}
