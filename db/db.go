// Package db holds attachstore's engines: opening SQLite and PostgreSQL,
// migrating, classifying driver errors, and SQLite's maintenance
// (checkpoints, vacuum, backup). It is exported only for the root package
// and the command and carries no compatibility promise: use package
// attachstore.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// Config says how to open a database.
type Config struct {
	Path         string        // a file, "" for a private in-memory database, or a postgres:// URL
	Synchronous  string        // PRAGMA synchronous
	BusyTimeout  time.Duration // how long SQLite waits for another process's lock
	PageSize     int           // of a new file; 0 means 16 KiB
	CacheSizeKiB int           // each connection's page cache; 0 leaves SQLite's
	ReadOnly     bool          // opens an existing store for reading only
	// Existing opens only an existing store: a missing file is
	// fs.ErrNotExist and a database attachstore never wrote ErrNotAStore.
	Existing bool
}

// DB is an open attachstore database.
type DB struct {
	// Reader is the handle reads go through: a pool of read-only
	// connections, or the writer for an in-memory database.
	Reader *sqlx.DB
	Memory bool   // an in-memory database
	Path   string // the absolute file path ("" when Memory), or the URL without its password
	// Created says Open made a new store; Adopted, that it added
	// attachstore's tables to another program's database.
	Created, Adopted bool

	// writer is one SQLite connection whose transactions begin IMMEDIATE,
	// so a write never upgrades from a read lock (which bypasses the busy
	// handler); nil for a read-only store.
	writer      *sqlx.DB
	pg          bool // PostgreSQL; the fields below are SQLite's
	pageSize    int64
	busyTimeout time.Duration
	immutable   bool      // see openReadOnly
	keep        *sql.Conn // holds an in-memory database open
	maint       *sqlx.DB  // runs the checkpointer's checkpoints
	ckpt        checkpointer
	// giveBackFailed: the last GiveBack did not finish; the next one does.
	giveBackFailed atomic.Bool
}

var (
	// ErrSchemaTooNew means the file was migrated by a newer attachstore.
	ErrSchemaTooNew = errors.New("attachstore: database schema is newer than this version of attachstore")
	// ErrDirty means a migration stopped half-way.
	ErrDirty = errors.New("attachstore: database schema is dirty (a migration did not finish)")
	// ErrReadOnly means a write was refused: the store is read-only.
	ErrReadOnly = errors.New("attachstore: store is read-only")
	// ErrNotAStore means a database attachstore never wrote (read-only or
	// WithExisting), or one with an attachstore_… object it did not make.
	ErrNotAStore = errors.New("attachstore: not an attachstore store")
)

// Open opens the database cfg describes, creating and migrating it unless
// cfg.ReadOnly.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	open := openFile
	switch {
	case cfg.Path == "":
		open = openMemory
	case IsURL(cfg.Path):
		cfg.Path, open = connString(cfg.Path), openPostgres
	}
	// Each open returns what it opened so far, to be closed here on error.
	d, err := open(ctx, cfg)
	if err != nil && d != nil {
		d.Close()
		return nil, err
	}
	return d, err
}

// Close closes every handle, the writer last: the last connection to close
// copies the WAL back and removes it, but says nothing when it cannot (a
// full disk). So the writer first checkpoints itself (PASSIVE: another
// process's reader does not hold Close up, and that process's close copies
// the rest), for up to the busy timeout, and Close returns that error.
func (d *DB) Close() error {
	if d.ckpt.quit != nil {
		close(d.ckpt.quit)
		d.ckpt.done.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.busyTimeout)
	defer cancel()
	var errs []error
	if err := d.Checkpoint(ctx); err != nil && ctx.Err() == nil {
		errs = append(errs, fmt.Errorf("the write-ahead log could not be copied back into the file, so %s stays beside it "+
			"and the next Open recovers it (nothing committed is lost): %w", filepath.Base(d.Path)+"-wal", err))
	}
	for _, h := range []*sqlx.DB{d.maint, d.Reader} {
		if h != nil && h != d.writer {
			errs = append(errs, h.Close())
		}
	}
	if d.keep != nil {
		errs = append(errs, d.keep.Close())
	}
	if d.writer != nil {
		errs = append(errs, d.writer.Close())
	}
	return errors.Join(errs...)
}

// ReadOnly reports a database opened read-only: it has no writer.
func (d *DB) ReadOnly() bool { return d.writer == nil }

// PageSize is the SQLite file's page size in bytes (0 for PostgreSQL).
func (d *DB) PageSize() int64 { return d.pageSize }

// Postgres reports whether the database is PostgreSQL.
func (d *DB) Postgres() bool { return d.pg }

// Begin begins a write transaction (BEGIN IMMEDIATE on the writer) or a
// read snapshot on conn (for Pipeline); end must be called after it
// commits or rolls back. ctx bounds the wait for the connection and the
// write lock, not the transaction: database/sql would discard the
// connection while a statement still runs on it, and SQLite keeps a
// connection closed that way open, with its WAL, until the garbage
// collector finalizes the statement. Statements take ctx; the caller
// checks ctx before it commits.
func (d *DB) Begin(ctx context.Context, write bool) (stx *sqlx.Tx, conn *sql.Conn, end func(), err error) {
	h := d.Reader
	if write {
		h = d.writer
	}
	c, err := h.Connx(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	conn = c.Conn
	end = func() { conn.Close() }
	var opts *sql.TxOptions
	if d.pg && !write {
		// One snapshot for the whole View, as SQLite's read transaction is.
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	err = whileBusy(ctx, func() (err error) {
		stx, err = c.BeginTxx(context.WithoutCancel(ctx), opts)
		return err
	})
	if err == nil && d.Memory && !write {
		// An in-memory database reads on the connection that writes: the
		// snapshot refuses writes, as a file's read-only pool does.
		if _, err = stx.ExecContext(ctx, "PRAGMA query_only = ON"); err != nil {
			_ = stx.Rollback()
		}
		end = func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA query_only = OFF")
			conn.Close()
		}
	}
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	return stx, conn, end, nil
}
