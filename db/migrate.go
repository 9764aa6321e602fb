package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/attachstore/attachstore/schema"
	gomigrate "github.com/golang-migrate/migrate/v4"
	msqlite "github.com/golang-migrate/migrate/v4/database/sqlite3"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

const migrationsTable = "attachstore_schema_migrations"

// readVersion returns the recorded schema version (-1 when none) and the
// dirty flag.
func readVersion(ctx context.Context, db *sql.DB, pg bool) (int, bool, error) {
	var n int
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if pg {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	}
	err := db.QueryRowContext(ctx, q, migrationsTable).Scan(&n)
	if err != nil || n == 0 {
		return -1, false, err
	}
	var (
		v     int
		dirty bool
	)
	err = db.QueryRowContext(ctx, `SELECT version, dirty FROM `+migrationsTable+` LIMIT 1`).Scan(&v, &dirty)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, false, nil
	}
	return v, dirty, err
}

// checkStore says whether db holds a store this build can use as it is.
func checkStore(ctx context.Context, db *sql.DB, pg bool) error {
	v, dirty, err := readVersion(ctx, db, pg)
	if err != nil {
		return err
	}
	switch {
	case v < 0:
		return fmt.Errorf("%w: the file has no attachstore schema (a read-only open changes nothing; "+
			"a writable open would add attachstore's tables beside the file's own)", ErrNotAStore)
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

// migrate brings db to schema.Version. It refuses a newer or dirty schema
// before golang-migrate touches anything. golang-migrate's Close would
// close the *sql.DB it is given (the caller's writer), so the Migrate is
// dropped without Close: it holds no other resource.
func migrate(ctx context.Context, db *sql.DB) error {
	for attempt := 0; ; attempt++ {
		v, dirty, err := readVersion(ctx, db, false)
		switch {
		case err != nil:
			return err
		case v == schema.Version && !dirty:
			return nil
		case v > schema.Version || dirty && attempt >= 20:
			return checkStore(ctx, db, false)
		case dirty:
			// Another process may be half-way through migrating this file:
			// the dirty flag is not atomic with the migration.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if err := runMigrations(db); err == nil || attempt >= 20 {
			return err
		}
	}
}

func runMigrations(db *sql.DB) error {
	src, err := iofs.New(schema.FS, "sqlite")
	if err != nil {
		return err
	}
	drv, err := msqlite.WithInstance(db, &msqlite.Config{MigrationsTable: migrationsTable})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	m, err := gomigrate.NewWithInstance("iofs", src, "sqlite3", drv)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := m.Up(); err != nil && !errors.Is(err, gomigrate.ErrNoChange) {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
