// Package db opens attachstore's SQLite database: it builds the DSN that
// carries every pragma (pragmas are per connection, so a pooled connection
// opened later must get them too), creates new files with the right page
// size, auto_vacuum mode and file mode, splits access into one writer and a
// read pool, and runs the embedded migrations.
package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// DriverName is the database/sql driver attachstore opens connections with.
const DriverName = "sqlite3"

// Config says how to open a database.
type Config struct {
	// Path is a file path, or "" for a private in-memory database.
	Path string
	// Synchronous is the value of PRAGMA synchronous: OFF, NORMAL, FULL or
	// EXTRA. Empty means FULL.
	Synchronous string
	// BusyTimeout bounds how long SQLite's busy handler waits for a lock held
	// by another connection before reporting SQLITE_BUSY. Zero means 5s.
	BusyTimeout time.Duration
	// PageSize is the page size given to a newly created file; it cannot
	// change afterwards. Zero means DefaultPageSize.
	PageSize int
	// ReadConns is the size of the read pool. Zero means max(4, GOMAXPROCS).
	ReadConns int
	// CacheSize is PRAGMA cache_size for every connection, in KiB. Zero
	// leaves SQLite's default.
	CacheSizeKiB int
	// MmapSize is PRAGMA mmap_size for readers, in bytes. Zero disables it.
	MmapSize int64
	// ReadOnly opens the writer handle read-only as well, for files the
	// process may not write.
	ReadOnly bool
}

// DefaultPageSize is the page size of new database files, chosen by
// measurement (bench/RESULTS.md, "Page size, after run 13"). Every page a
// commit touches is written to the WAL whole, and a 10 KiB
// Session.Put+Commit touches about nine, so small pages make small commits
// and Reclaim cheaper: with 4 KiB pages W1 ran 1.1–1.75× as many calls per
// second, and the W6 sweep 7,996 blobs/s against 6,240. But a 10 KiB chunk
// then spans a leaf and two overflow pages, read one after the other, and
// every b-tree is a level deeper: cold random reads ran at about 0.4× of 16
// KiB's (8 KiB pages: 0.6×), and a 1 GiB blob streamed slower both ways (in
// full runs: put 233 against 348 MB/s, warm read 693 against 1,107). 64 KiB
// pages were no faster than 16 KiB for a 1 GiB put (283 against 290–306
// MB/s) and read more than a 10 KiB blob needs. With 16 KiB, cold guarded
// reads keep level with a file-per-blob store while small commits still
// beat it; 4 KiB (WithPageSize) suits a store that is written and swept far
// more than it is read cold.
const DefaultPageSize = 16384

// DB is an open attachstore database.
type DB struct {
	// Writer is the only handle that writes: one connection whose
	// transactions begin IMMEDIATE, so a write never upgrades from a read
	// lock (which bypasses the busy handler and fails with SQLITE_BUSY).
	Writer *sqlx.DB
	// Reader is a pool of read-only connections. For an in-memory database
	// it is the same handle as Writer.
	Reader *sqlx.DB
	// Maint is a connection for checkpoints, kept apart from Writer so that
	// copying the WAL back does not hold the writer's connection. Nil for
	// an in-memory or read-only database.
	Maint *sqlx.DB
	// Memory reports an in-memory database.
	Memory bool
	// Path is the absolute file path ("" when Memory).
	Path string
	// PageSize is the file's page size, which an existing file keeps
	// whatever Config says.
	PageSize int64
	// BusyTimeout is the busy timeout every connection was opened with.
	BusyTimeout time.Duration

	// keep holds an in-memory database open (see openMemory).
	keep *sql.Conn
}

var (
	// ErrSchemaTooNew means the file was migrated by a newer attachstore.
	ErrSchemaTooNew = errors.New("attachstore: database schema is newer than this version of attachstore")
	// ErrDirty means a migration stopped half-way.
	ErrDirty = errors.New("attachstore: database schema is dirty (a migration did not finish)")
	// ErrReadOnlyFile means the file exists but cannot be opened for
	// writing.
	ErrReadOnlyFile = errors.New("attachstore: store is read-only")
)

// Open opens (creating if need be) the database cfg describes and migrates
// its schema to the newest version.
func Open(ctx context.Context, cfg Config) (_ *DB, err error) {
	if cfg.Synchronous == "" {
		cfg.Synchronous = "FULL"
	}
	switch cfg.Synchronous {
	case "OFF", "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("attachstore: synchronous mode %q: want OFF, NORMAL, FULL or EXTRA", cfg.Synchronous)
	}
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = 5 * time.Second
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.PageSize < 512 || cfg.PageSize > 65536 || cfg.PageSize&(cfg.PageSize-1) != 0 {
		return nil, fmt.Errorf("attachstore: page size %d: want a power of two from 512 to 65536", cfg.PageSize)
	}
	if cfg.ReadConns <= 0 {
		cfg.ReadConns = max(4, runtime.GOMAXPROCS(0))
	}
	if cfg.Path == "" {
		return openMemory(ctx, cfg)
	}
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("attachstore: open %s: %w", cfg.Path, err)
	}
	return openFile(ctx, cfg, abs)
}

func openMemory(ctx context.Context, cfg Config) (*DB, error) {
	var name [12]byte
	_, _ = rand.Read(name[:])
	// The memdb VFS shares one database among this process's connections by
	// name. It has no WAL, so a reader would see "database is locked" while
	// a write is open: an in-memory store uses one connection for all work.
	q := baseParams(cfg)
	q.Set("vfs", "memdb")
	dsn := "file:/attachstore-" + hex.EncodeToString(name[:]) + "?" + q.Encode()
	w := openDB(dsn, connPragmas(cfg, false))
	// The in-memory database lives as long as its last connection, and
	// database/sql closes a connection whenever a transaction's context ends
	// before the transaction does (mattn/go-sqlite3 cannot reset a session).
	// So one connection is held, idle, until Close, and all work goes
	// through the pool's other one.
	w.SetMaxOpenConns(2)
	w.SetMaxIdleConns(2)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	keep, err := w.Conn(ctx)
	if err != nil {
		w.Close()
		return nil, err
	}
	d := &DB{Writer: w, Reader: w, Memory: true, keep: keep}
	if _, err := keep.ExecContext(ctx, "PRAGMA page_size = "+strconv.Itoa(cfg.PageSize)); err != nil {
		d.Close()
		return nil, err
	}
	if err := migrate(ctx, w.DB); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func baseParams(cfg Config) url.Values {
	q := url.Values{}
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10))
	q.Set("_synchronous", cfg.Synchronous)
	q.Set("_auto_vacuum", "incremental")
	q.Set("_txlock", "immediate")
	// Each connection keeps its prepared statements: attachstore runs the
	// same few dozen statements over and over, and preparing a join costs
	// more than running it on a warm cache.
	q.Set("_stmt_cache_size", "64")
	if cfg.CacheSizeKiB != 0 {
		q.Set("_cache_size", strconv.Itoa(-cfg.CacheSizeKiB))
	}
	return q
}

// WALRewindBytes bounds the WAL between transactions. The writer does not
// checkpoint by itself (wal_autocheckpoint is off): the store's background
// checkpointer copies the WAL back after commits, and has the next commit
// rewind it (a RESTART checkpoint) when commits arriving during its copy
// have kept the WAL above this size. Each rewind stalls that commit for
// the checkpoint's tail and an fsync, so fewer rewinds mean fewer stalls:
// while Reclaim swept 100k of 1M blobs (bench W6, full size), a concurrent
// writer's p99 was 9.4 ms with 64 MiB and 6.6 ms with 256 MiB, and the
// sweep ran at 5.5k and 5.8k blobs/s.
const WALRewindBytes = 256 << 20

// WALKeepBytes is the WAL file size kept after a rewind
// (journal_size_limit): a WAL grown by one big transaction is truncated
// back to this. It equals WALRewindBytes, so that a steady stream of
// commits, which grows the WAL up to the rewind and then starts again at
// its head, writes over blocks the file already has: appending makes each
// commit's fsync also write the file's new size and blocks. With 64 MiB
// kept, 4,000 10 KiB Session.Put+Commit calls in a row ran at 973 and
// 1,028 ops/s (bench: go run . -only W1 -systems attachstore -w1-ops 4000,
// medians of 5 runs); with 256 MiB at 1,186 and 1,253. Reclaim sweeping
// 100k of 1M blobs, which writes a dozen rewinds' worth, ran at 3,222 and
// 4,126 blobs/s (bench -only W6 -systems attachstore -runs 3). In a probe, a 152 KiB
// write+fdatasync here took 0.26 ms over existing blocks and 0.42 ms
// appended. The price is disk space: while the store is open its WAL may
// keep up to this many bytes after a burst (SQLite's default keeps all).
const WALKeepBytes = WALRewindBytes

// connPragmas are run on every new connection after the DSN's: mattn's
// DSN has no parameter for them.
func connPragmas(cfg Config, reader bool) []string {
	// Statement and savepoint journals stay in memory: on disk each would
	// be a temp file created per statement once it outgrows 64 KiB (four
	// 16 KiB pages).
	p := []string{"PRAGMA temp_store = MEMORY"}
	if !reader {
		p = append(p, "PRAGMA wal_autocheckpoint = 0",
			"PRAGMA journal_size_limit = "+strconv.Itoa(WALKeepBytes))
	}
	if reader && cfg.MmapSize > 0 {
		p = append(p, "PRAGMA mmap_size = "+strconv.FormatInt(cfg.MmapSize, 10))
	}
	return p
}

// openDB opens a handle whose connections are opened with dsn, then run
// pragmas.
func openDB(dsn string, pragmas []string) *sqlx.DB {
	drv := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		for _, p := range pragmas {
			if _, err := c.Exec(p, nil); err != nil {
				return fmt.Errorf("attachstore: %s: %w", p, err)
			}
		}
		return nil
	}}
	return sqlx.NewDb(sql.OpenDB(connector{drv: drv, dsn: dsn}), DriverName)
}

// connector is a driver.Connector for one DSN and its own driver value
// (the driver holds the ConnectHook).
type connector struct {
	drv *sqlite3.SQLiteDriver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

// fileDSN builds a file: URI for path, which must be absolute (a relative
// path would render as "file://rel", taking rel for a host).
func fileDSN(path string, q url.Values) string {
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode(), OmitHost: true}
	return u.String()
}

func openFile(ctx context.Context, cfg Config, abs string) (_ *DB, err error) {
	if !cfg.ReadOnly {
		// SQLite creates new files with mode 0644 (less umask); attachments
		// are private, so create it first. Its -wal and -shm files take
		// the database file's mode.
		f, err := os.OpenFile(cfg.Path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			f.Close()
		} else if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("attachstore: create %s: %w", cfg.Path, err)
		}
		// A file that exists but cannot be opened for writing (a read-only
		// filesystem) would otherwise fail inside SQLite with a misleading
		// "unable to open database file".
		f, err = os.OpenFile(abs, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w (open it with WithReadOnly)", ErrReadOnlyFile, cfg.Path, err)
		}
		f.Close()
	} else if _, err := os.Stat(cfg.Path); err != nil {
		return nil, fmt.Errorf("attachstore: open %s: %w", cfg.Path, err)
	}
	// On read-only media SQLite cannot create the -shm file WAL readers
	// need; nothing can change the file there, so it is opened immutable.
	immutable := false
	if cfg.ReadOnly {
		if f, err := os.OpenFile(abs, os.O_RDWR, 0); err != nil {
			immutable = true
		} else {
			f.Close()
		}
	}
	if !cfg.ReadOnly {
		if err := bootstrap(ctx, cfg, abs); err != nil {
			return nil, err
		}
	}

	wq := baseParams(cfg)
	wq.Set("_journal_mode", "WAL")
	wq.Set("mode", "rw")
	// bootstrap set auto_vacuum on the new file, where it persists. Setting
	// it again from the DSN would open a write transaction on every new
	// connection: on a read-only connection that fails every statement, and
	// on a busy file Open would queue for the write lock behind the other
	// writers and could time out with "database is locked".
	wq.Del("_auto_vacuum")
	if cfg.ReadOnly {
		wq.Set("mode", "ro")
		if immutable {
			wq.Set("immutable", "1")
		}
	}
	w := openDB(fileDSN(abs, wq), connPragmas(cfg, false))
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		return nil, err
	}
	if !cfg.ReadOnly {
		if err := migrate(ctx, w.DB); err != nil {
			return nil, err
		}
	} else if err := checkVersion(ctx, w.DB); err != nil {
		return nil, err
	}

	rq := baseParams(cfg)
	rq.Del("_txlock")
	rq.Del("_auto_vacuum")
	rq.Set("mode", "ro")
	if immutable {
		rq.Set("immutable", "1")
	}
	rq.Set("_query_only", "on")
	r := openDB(fileDSN(abs, rq), connPragmas(cfg, true))
	r.SetMaxOpenConns(cfg.ReadConns)
	r.SetMaxIdleConns(cfg.ReadConns)
	r.SetConnMaxIdleTime(5 * time.Minute)
	if cfg.MmapSize > 0 {
		r.DB.SetConnMaxLifetime(0)
	}
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		return nil, err
	}
	d := &DB{Writer: w, Reader: r, Path: abs, BusyTimeout: cfg.BusyTimeout}
	if err := w.QueryRowContext(ctx, "PRAGMA page_size").Scan(&d.PageSize); err != nil {
		r.Close()
		return nil, err
	}
	if !cfg.ReadOnly {
		// Opened lazily by database/sql on first use; its connection is
		// closed when idle so it holds no file descriptor between uses.
		m := openDB(fileDSN(abs, wq), connPragmas(cfg, false))
		m.SetMaxOpenConns(1)
		m.SetMaxIdleConns(1)
		m.SetConnMaxIdleTime(time.Minute)
		d.Maint = m
	}
	return d, nil
}

// bootstrap fixes what must be set before the first table exists: page size
// and auto_vacuum (without INCREMENTAL the file never shrinks after deletes),
// then WAL, which is persistent in the file. It runs on a connection opened
// with no pragmas because mattn/go-sqlite3 applies DSN pragmas in an order
// that freezes the page size before it could be set.
func bootstrap(ctx context.Context, cfg Config, abs string) error {
	q := url.Values{}
	q.Set("mode", "rw")
	q.Set("_busy_timeout", strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10))
	c, err := sql.Open(DriverName, fileDSN(abs, q))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	conn, err := c.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var pages int64
	if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return err
	}
	if pages == 0 {
		for _, p := range []string{
			"PRAGMA page_size = " + strconv.Itoa(cfg.PageSize),
			"PRAGMA auto_vacuum = INCREMENTAL",
		} {
			if _, err := conn.ExecContext(ctx, p); err != nil {
				return err
			}
		}
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("attachstore: %s: could not enter WAL mode (journal_mode is %q)", cfg.Path, mode)
	}
	return nil
}

// Close closes every handle.
func (d *DB) Close() error {
	var errs []error
	if d.Maint != nil {
		errs = append(errs, d.Maint.Close())
	}
	if d.keep != nil {
		errs = append(errs, d.keep.Close())
	}
	if d.Reader != d.Writer {
		errs = append(errs, d.Reader.Close())
	}
	errs = append(errs, d.Writer.Close())
	return errors.Join(errs...)
}

// IsSQLiteError reports whether err carries a SQLite error with code c.
func IsSQLiteError(err error, c sqlite3.ErrNo) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == c
}
