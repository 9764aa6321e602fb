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

const migrationsTable = "schema_migrations"

// readVersion returns the recorded schema version (-1 when none) and the
// dirty flag.
func readVersion(ctx context.Context, db *sql.DB) (int, bool, error) {
	var n int
	err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, migrationsTable).Scan(&n)
	if err != nil || n == 0 {
		return -1, false, err
	}
	var v int
	var dirty bool
	err = db.QueryRowContext(ctx, `SELECT version, dirty FROM `+migrationsTable+` LIMIT 1`).Scan(&v, &dirty)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, false, nil
	}
	return v, dirty, err
}

func checkVersion(ctx context.Context, db *sql.DB) error {
	v, dirty, err := readVersion(ctx, db)
	if err != nil {
		return err
	}
	switch {
	case v > schema.Version:
		return fmt.Errorf("%w: file is at version %d, this build knows up to %d; upgrade attachstore",
			ErrSchemaTooNew, v, schema.Version)
	case dirty:
		return fmt.Errorf("%w: migration %d did not finish; restore the file from a backup, or "+
			"fix the schema by hand and set schema_migrations.dirty to 0", ErrDirty, v)
	case v < schema.Version:
		return fmt.Errorf("attachstore: database schema is at version %d, want %d; open it read-write once to migrate", v, schema.Version)
	}
	return nil
}

// migrate brings db to schema.Version. It refuses a newer or dirty schema
// before golang-migrate touches anything. golang-migrate's Close closes the
// *sql.DB it is given (the caller's writer), so the migrate.Migrate is
// dropped without Close: it holds no other resource than that handle.
func migrate(ctx context.Context, db *sql.DB) error {
	for attempt := 0; ; attempt++ {
		v, dirty, err := readVersion(ctx, db)
		if err != nil {
			return err
		}
		if v == schema.Version && !dirty {
			return nil
		}
		if v > schema.Version || (dirty && attempt >= 20) {
			return checkVersion(ctx, db)
		}
		if dirty {
			// Another process may be half-way through migrating this new
			// file; its dirty flag is not atomic with the migration.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		err = runMigrations(db)
		if err == nil || attempt >= 20 {
			return err
		}
	}
}

func runMigrations(db *sql.DB) error {
	src, err := iofs.New(schema.FS, ".")
	if err != nil {
		return err
	}
	drv, err := msqlite.WithInstance(db, &msqlite.Config{MigrationsTable: migrationsTable})
	if err != nil {
		return fmt.Errorf("attachstore: migrate: %w", err)
	}
	m, err := gomigrate.NewWithInstance("iofs", src, "sqlite3", drv)
	if err != nil {
		return fmt.Errorf("attachstore: migrate: %w", err)
	}
	err = m.Up() // no m.Close(): see migrate
	if errors.Is(err, gomigrate.ErrNoChange) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("attachstore: migrate: %w", err)
	}
	return nil
}
