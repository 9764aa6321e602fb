// Package db opens attachstore's database and holds what differs between
// engines: how connections are opened and pooled, how a new file is set up,
// the migrations, how driver errors are classified, and the maintenance
// that only one engine has (checkpoints, vacuum, backup). The root package
// writes its logic once against what this package exports.
//
// It is attachstore's internals, exported only because the root package and
// the command are its callers: it carries no compatibility promise, and
// any release may change or remove any of it. Use package attachstore.
package db

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// Config says how to open a database.
type Config struct {
	// Path is a file path, "" for a private in-memory database, or a
	// postgres:// URL.
	Path string
	// Synchronous is SQLite's PRAGMA synchronous: OFF, NORMAL, FULL or EXTRA.
	Synchronous string
	// BusyTimeout bounds how long SQLite waits for a lock held by another
	// process before reporting SQLITE_BUSY.
	BusyTimeout time.Duration
	// PageSize is the page size of a newly created file; 0 means 16 KiB.
	PageSize int
	// CacheSizeKiB is each connection's page cache; 0 leaves SQLite's.
	CacheSizeKiB int
	// ReadOnly opens an existing store for reading only.
	ReadOnly bool
	// Existing opens only an existing store: a missing file is
	// fs.ErrNotExist and a database attachstore never wrote ErrNotAStore.
	Existing bool
}

// DB is an open attachstore database.
type DB struct {
	// Reader is the handle reads go through: a pool of read-only
	// connections, or the writer for an in-memory database.
	Reader *sqlx.DB
	// Memory reports an in-memory database.
	Memory bool
	// Path is the absolute file path ("" when Memory), or the PostgreSQL
	// URL without its password.
	Path string
	// Created says Open made a new store (a new file, or an in-memory
	// database); Adopted, that it added attachstore's tables to a database
	// of another program. Neither: it opened a store as it was.
	Created, Adopted bool

	// writer is the handle writes go through. For SQLite it is one
	// connection whose transactions begin IMMEDIATE, so a write never
	// upgrades from a read lock (which bypasses the busy handler). Nil for
	// a read-only store.
	writer *sqlx.DB
	// pg says the database is PostgreSQL; the rest of DB is SQLite's.
	pg bool
	// pageSize is the file's page size.
	pageSize    int64
	busyTimeout time.Duration
	// immutable says a read-only file is opened immutable (see
	// openReadOnly).
	immutable bool
	// keep holds an in-memory database open (see openMemory).
	keep *sql.Conn
	// maint runs checkpoints beside the writer; nil for an in-memory or
	// read-only database.
	maint *sqlx.DB
	ckpt  checkpointer
	// giveBackFailed says the last GiveBack did not finish: the next one
	// completes it.
	giveBackFailed atomic.Bool
}

var (
	// ErrSchemaTooNew means the file was migrated by a newer attachstore.
	ErrSchemaTooNew = errors.New("attachstore: database schema is newer than this version of attachstore")
	// ErrDirty means a migration stopped half-way.
	ErrDirty = errors.New("attachstore: database schema is dirty (a migration did not finish)")
	// ErrReadOnly means a write was refused: the store is read-only.
	ErrReadOnly = errors.New("attachstore: store is read-only")
	// ErrNotAStore means a read-only Open found a database that attachstore
	// has never written, or an Open found a schema object named as one of
	// attachstore's that its migration did not make.
	ErrNotAStore = errors.New("attachstore: not an attachstore store")
)

// Open opens the database cfg describes, creating and migrating it unless
// cfg.ReadOnly.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	switch {
	case cfg.Path == "":
		return openMemory(ctx, cfg)
	case IsURL(cfg.Path):
		cfg.Path = connString(cfg.Path)
		return openPostgres(ctx, cfg)
	}
	return openFile(ctx, cfg)
}

// Close closes every handle. The writer goes last: the last connection to
// close copies the WAL back and removes it. SQLite's own close says
// nothing when it cannot (a full disk): it leaves the WAL, which the next
// open reads, so nothing committed is lost. So the writer first copies the
// WAL back itself, and Close returns that checkpoint's error, if any,
// after closing everything.
func (d *DB) Close() error {
	d.ckpt.stop()
	var errs []error
	if err := d.finalCheckpoint(); err != nil {
		errs = append(errs, err)
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
// read snapshot; end must be called after it commits or rolls back. ctx
// bounds the wait for the connection and the write lock. The transaction
// itself does not end with ctx: database/sql would discard the connection
// while a statement still runs on it, and SQLite keeps a connection closed
// that way open until the garbage collector finalizes its statement, with
// the WAL it holds. Statements take ctx, which interrupts them, and the
// caller checks ctx before it commits.
func (d *DB) Begin(ctx context.Context, write bool) (stx *sqlx.Tx, end func(), err error) {
	h := d.Reader
	if write {
		h = d.writer
	}
	conn, err := h.Connx(ctx)
	if err != nil {
		return nil, nil, err
	}
	end = func() { conn.Close() }
	var opts *sql.TxOptions
	if d.pg && !write {
		// One snapshot for the whole View, as SQLite's read transaction is.
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	err = whileBusy(ctx, func() (err error) {
		stx, err = conn.BeginTxx(context.WithoutCancel(ctx), opts)
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
		return nil, nil, err
	}
	return stx, end, nil
}
