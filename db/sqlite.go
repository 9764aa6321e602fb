package db

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// defaultPageSize is the page size of new files: a 10 KiB attachment and
// its row fit in one page, and a b-tree stays shallow.
const defaultPageSize = 16384

// WALGrowth is how far the WAL may grow between checkpoints while writes
// go on (see checkpointer), and what a reset WAL is cut back to
// (journal_size_limit). Where the disk has less than twice this free, the
// root package checkpoints before each write.
const WALGrowth = 64 << 20

// params are the DSN pragmas of attachstore's own connections.
func (d *DB) params(cfg Config) url.Values {
	q := d.busyParam()
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", cfg.Synchronous)
	q.Set("_txlock", "immediate")
	// attachstore runs the same few dozen statements over and over.
	q.Set("_stmt_cache_size", "64")
	if cfg.CacheSizeKiB > 0 {
		q.Set("_cache_size", strconv.Itoa(-cfg.CacheSizeKiB))
	}
	return q
}

// driverName is mattn/go-sqlite3 running, on every new connection, the
// pragmas it has no DSN parameter for.
const driverName = "sqlite3-attachstore"

func init() {
	// Statement journals in memory, not temp files; no automatic
	// checkpoint (see checkpointer).
	pragmas := "PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = " +
		strconv.Itoa(WALGrowth)
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(pragmas, nil)
		return err
	}})
}

// openHandle opens a handle on dsn; it connects on first use.
func openHandle(dsn string) *sqlx.DB {
	h, _ := sql.Open(driverName, dsn) // fails only for an unregistered driver
	return sqlx.NewDb(h, "sqlite3")
}

func (d *DB) busyParam() url.Values {
	return url.Values{"_busy_timeout": {strconv.FormatInt(d.busyTimeout.Milliseconds(), 10)}}
}

// dsn is the file: URI of d's file in mode (ro, rw), with q's parameters.
func (d *DB) dsn(mode string, immutable bool, q url.Values) string {
	q.Set("mode", mode)
	if immutable {
		q.Set("immutable", "1")
	}
	u := url.URL{Scheme: "file", Path: d.Path, RawQuery: q.Encode(), OmitHost: true}
	return u.String()
}

func openMemory(ctx context.Context, cfg Config) (d *DB, err error) {
	var name [12]byte
	_, _ = rand.Read(name[:])
	// The memdb VFS shares one database among this process's connections by
	// name. It has no WAL, so a reader would see "database is locked" while
	// a write is open: all work goes through one connection. The database
	// lives as long as its last connection, and database/sql closes one
	// whose transaction's context ends first, so keep holds a second.
	d = &DB{Memory: true, Created: true, busyTimeout: cfg.BusyTimeout}
	q := d.params(cfg)
	q.Set("vfs", "memdb")
	w := openHandle("file:/attachstore-" + hex.EncodeToString(name[:]) + "?" + q.Encode())
	w.SetMaxOpenConns(2)
	d.writer, d.Reader = w, w
	if d.keep, err = w.Conn(ctx); err != nil {
		return d, err
	}
	if err := setUp(ctx, d.keep, cfg); err != nil {
		return d, err
	}
	return d, migrate(ctx, w.DB, "")
}

func openFile(ctx context.Context, cfg Config) (*DB, error) {
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, err
	}
	d := &DB{Path: abs, busyTimeout: cfg.BusyTimeout}
	if cfg.ReadOnly {
		return d, openReadOnly(ctx, d, cfg)
	}
	// SQLite creates files with mode 0644; attachments are private, so the
	// file is created first. Its -wal and -shm take its mode.
	if cfg.Existing {
		if _, err := os.Stat(abs); err != nil {
			return d, err
		}
	} else if f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrExist) {
		return d, err
	}
	// Said here, not as SQLite's misleading "unable to open database file".
	if f, err := os.OpenFile(abs, os.O_RDWR, 0); err != nil {
		return d, fmt.Errorf("%w: the file cannot be written (%w); open it with WithReadOnly to read it", ErrReadOnly, err)
	} else {
		f.Close()
	}
	if err := d.look(ctx, cfg, false); err != nil {
		return d, err
	}
	if err := d.bootstrap(ctx, cfg); err != nil {
		return d, err
	}
	dsn := d.dsn("rw", false, d.params(cfg))
	d.writer = openHandle(dsn)
	d.writer.SetMaxOpenConns(1)
	if err := migrate(ctx, d.writer.DB, ""); err != nil {
		return d, err
	}
	if err := d.openReaders(ctx, cfg, false); err != nil {
		return d, err
	}
	// Closed when idle: it holds no descriptor between checkpoints.
	d.maint = openHandle(dsn)
	d.maint.SetMaxOpenConns(1)
	d.maint.SetConnMaxIdleTime(time.Minute)
	d.ckpt.start(d.maint, d.writer, d.pageSize)
	return d, nil
}

// openReadOnly opens an existing store on mode=ro connections, which
// SQLite lets write nothing. Such a connection reads a WAL-mode file
// through its -shm, creating it and an empty -wal where missing, and
// never removes them. Where SQLite could not create them (an unwritable
// directory, read-only media) or would create them unwritable (an
// unwritable file), and no connection has the file open, the file is
// opened immutable: read without locks or a WAL, trusting that nothing
// writes it.
func openReadOnly(ctx context.Context, d *DB, cfg Config) error {
	st, err := fileState(d.Path)
	if err != nil {
		return err
	}
	immutable := st.idle() && (!writable(d.Path) || !writable(filepath.Dir(d.Path)))
	if !immutable && !st.shm && st.walSize > 0 && !writable(filepath.Dir(d.Path)) {
		// Immutable would ignore the WAL's commits; ro cannot create -shm.
		return fmt.Errorf("%w: %s: its WAL (%s-wal) holds commits not yet copied into it, and "+
			"without write access to its directory SQLite cannot read them; "+
			"open it once where it can be written", ErrReadOnly, cfg.Path, filepath.Base(d.Path))
	}
	// Refuse a file that is not a store before a reader creates files.
	if err := d.look(ctx, cfg, true); err != nil {
		return err
	}
	return d.openReaders(ctx, cfg, immutable)
}

// look refuses, with the file as it was, a clash (see readVersion), and
// for a read-only open anything but a store this build can read (usable).
// It reads on a connection that cannot write, so it never checkpoints a
// host's WAL, and creates no -wal or -shm: an idle file is read immutable,
// and read again if it changed meanwhile; any other read-only, except, for
// a writable open, one with a journal beside it to roll back.
func (d *DB) look(ctx context.Context, cfg Config, readOnly bool) error {
	for attempt := 1; ; attempt++ {
		before, err := fileState(d.Path)
		if err != nil {
			return err
		}
		if before.fi.Size() == 0 && !readOnly && !cfg.Existing {
			return nil // a new file holds nothing to clash with
		}
		immutable, mode := before.idle(), "ro"
		if fi, err := os.Stat(d.Path + "-journal"); err == nil && fi.Size() > 0 && !readOnly && !immutable {
			// Perhaps a hot journal of a host that stopped mid-transaction:
			// only a connection that can write may roll it back, as the
			// host's next one would, before the file can be read.
			mode = "rw"
		}
		h, _ := sql.Open("sqlite3", d.dsn(mode, immutable, d.busyParam())) // fails only for an unregistered driver
		v, dirty, err := readVersion(ctx, h, false)
		h.Close()
		if readOnly || err != nil || v < 0 && cfg.Existing {
			err = usable(v, dirty, err) // anything else is migrate's to judge
		}
		if !immutable {
			return err
		}
		// What an immutable connection read holds only if nothing wrote.
		if after, serr := fileState(d.Path); serr != nil || after.same(before) {
			return cmp.Or(serr, err)
		}
		if attempt == 5 {
			return fmt.Errorf("the file kept changing while attachstore looked at it; try again")
		}
	}
}

// state is what look compares to learn whether a file changed: a write or
// a checkpoint moves its size or time, a connection creates -shm and
// writes the WAL, a file put in its place is another file.
type state struct {
	fi      fs.FileInfo
	walSize int64 // -1: no -wal file
	shm     bool
	wal     bool // the header says WAL mode (read and write versions 2)
}

func fileState(path string) (state, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return state{}, err
	}
	st := state{fi: fi, walSize: -1}
	if wfi, err := os.Stat(path + "-wal"); err == nil {
		st.walSize = wfi.Size()
	}
	_, err = os.Stat(path + "-shm")
	st.shm = err == nil
	if f, err := os.Open(path); err == nil {
		var h [20]byte
		_, err = io.ReadFull(f, h[:])
		f.Close()
		st.wal = err == nil && string(h[:16]) == "SQLite format 3\x00" && h[18] == 2 && h[19] == 2
	}
	return st, nil
}

// idle says the file is in WAL mode, no connection has it open (no -shm)
// and no WAL holds commits: the file alone is the database.
func (s state) idle() bool { return s.wal && !s.shm && s.walSize <= 0 }

func (s state) same(o state) bool {
	return os.SameFile(s.fi, o.fi) && s.fi.Size() == o.fi.Size() && s.fi.ModTime().Equal(o.fi.ModTime()) &&
		s.walSize == o.walSize && s.shm == o.shm
}

// openReaders opens the read-only pool (immutable where openReadOnly says).
func (d *DB) openReaders(ctx context.Context, cfg Config, immutable bool) error {
	rq := d.params(cfg)
	rq.Del("_txlock")
	d.immutable = immutable
	d.Reader = openHandle(d.dsn("ro", immutable, rq))
	d.Reader.SetMaxOpenConns(4)
	d.Reader.SetMaxIdleConns(4)
	d.Reader.SetConnMaxIdleTime(5 * time.Minute)
	return d.Reader.QueryRowContext(ctx, "PRAGMA page_size").Scan(&d.pageSize)
}

// setUp sets, before the first table, the page size and auto_vacuum
// INCREMENTAL, without which the file never shrinks after deletes.
func setUp(ctx context.Context, conn *sql.Conn, cfg Config) error {
	size := cmp.Or(cfg.PageSize, defaultPageSize)
	_, err := conn.ExecContext(ctx, "PRAGMA page_size = "+strconv.Itoa(size)+"; PRAGMA auto_vacuum = INCREMENTAL")
	return err
}

// bootstrap sets up a new file (setUp), puts the file in WAL mode, which
// persists, and sets Created or Adopted. Its connection has no DSN
// pragmas: mattn/go-sqlite3 applies them in an order that freezes the page
// size before it could be set.
func (d *DB) bootstrap(ctx context.Context, cfg Config) error {
	c, _ := sql.Open("sqlite3", d.dsn("rw", false, d.busyParam()))
	defer c.Close()
	conn, err := c.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Several openers of a new file race here, and SQLite answers busy
	// without calling its busy handler where waiting could deadlock (as
	// the handler's documentation says): try again. Each step may run
	// again; the pragmas of a file that has pages are no-ops.
	return whileBusy(ctx, func() error {
		// The tables that mark a file attachstore has written.
		var pages, stores int64
		if err := conn.QueryRowContext(ctx, `SELECT page_count, (SELECT count(*) FROM sqlite_master WHERE type = 'table'
			AND name IN ('attachstore_schema_migrations', 'attachstore_blobs')) FROM pragma_page_count()`).Scan(&pages, &stores); err != nil {
			return err
		}
		d.Created, d.Adopted = pages == 0, pages > 0 && stores == 0
		if d.Created {
			if err := setUp(ctx, conn, cfg); err != nil {
				return err
			}
		}
		var mode string
		if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
			return err
		}
		if mode != "wal" {
			return fmt.Errorf("could not enter WAL mode (journal_mode is %q)", mode)
		}
		return nil
	})
}

// Space is how a database file uses its pages.
type Space struct {
	FreePages int64
	// Incremental says free pages can be given back a few at a time
	// (auto_vacuum INCREMENTAL); a file another program created without
	// it keeps them until Compact.
	Incremental bool
	pages       int64
}

// Space reports the file's pages as of now (zero in memory or on
// PostgreSQL, whose autovacuum looks after its space).
func (d *DB) Space(ctx context.Context) (Space, error) {
	var sp Space
	if d.Memory || d.pg {
		return sp, nil
	}
	// On the writer where there is one: a reader connection keeps the
	// auto_vacuum mode it read when it opened, which Compact changes.
	h := d.Reader
	if d.writer != nil {
		h = d.writer
	}
	err := h.QueryRowContext(ctx, `SELECT page_count, freelist_count, auto_vacuum = 2
		FROM pragma_page_count(), pragma_freelist_count(), pragma_auto_vacuum()`).Scan(&sp.pages, &sp.FreePages, &sp.Incremental)
	return sp, err
}

// vacuumStepBytes is how much one incremental_vacuum statement gives back,
// so that writers interleave with a large give-back.
const vacuumStepBytes = 4 << 20

// GiveBack returns free pages to the filesystem once they are at least
// share of the file's pages: incremental vacuum, a transaction per step,
// until a step frees nothing more, then a checkpoint that truncates the WAL
// and the file (a file without auto_vacuum INCREMENTAL keeps its free
// pages: see Compact). After one that failed (a full disk), the next
// finishes the work whatever the share.
func (d *DB) GiveBack(ctx context.Context, share float64) (err error) {
	if d.Memory || d.pg || d.writer == nil {
		return nil
	}
	sp, err := d.Space(ctx)
	if err != nil {
		return err
	}
	vacuum := sp.Incremental && sp.FreePages > 0 && float64(sp.FreePages) >= share*float64(sp.pages)
	if !vacuum && !d.giveBackFailed.Load() {
		return nil
	}
	defer func() {
		if err != nil {
			d.giveBackFailed.Store(true)
		}
	}()
	step := "PRAGMA incremental_vacuum(" + strconv.FormatInt(max(1, vacuumStepBytes/d.pageSize), 10) + ")"
	for free, left := sp.FreePages, int64(0); vacuum && free > 0; free = left {
		err := whileBusy(ctx, func() error {
			// It frees a page per step of its statement: it must be read
			// to the end, not run with Exec.
			rows, err := d.writer.QueryContext(ctx, step)
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			return rows.Err()
		})
		if err != nil {
			return err
		}
		// Each step's pages are copied into the file, and the file cut,
		// before the next: the WAL stays one step long, so that space
		// comes back on a disk with little left.
		if _, _, err := walCheckpoint(ctx, d.writer, "PASSIVE"); err != nil {
			return err
		}
		if err := d.writer.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&left); err != nil {
			return err
		}
		if left >= free {
			break
		}
	}
	return d.truncateWAL(ctx)
}

// Checkpoint copies the WAL back into the file, so that the next write
// restarts the WAL instead of growing it (see WALGrowth). The file has
// room for the pages: they were counted when they were put. What a reader
// on old frames, or another process's write, holds back waits for the
// next call.
func (d *DB) Checkpoint(ctx context.Context) error {
	if d.Memory || d.pg || d.writer == nil {
		return nil
	}
	_, _, err := walCheckpoint(ctx, d.writer, "PASSIVE")
	return err
}

// truncateWAL copies the WAL back and empties it, on the writer (from
// another connection it would queue behind a busy writer). While a reader
// on old frames holds it back, it retries up to the busy timeout, then
// leaves the rest to the next GiveBack.
func (d *DB) truncateWAL(ctx context.Context) error {
	deadline := time.Now().Add(d.busyTimeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		held, _, err := walCheckpoint(ctx, d.writer, "TRUNCATE")
		if err != nil {
			return err
		}
		if !held || time.Now().After(deadline) {
			d.giveBackFailed.Store(held)
			return nil
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// Compact rewrites the file (VACUUM) with auto_vacuum INCREMENTAL: every
// free page is given back, and later ones can be. It holds the write lock
// and needs free space about the file's size.
func (d *DB) Compact(ctx context.Context) error {
	if d.Memory || d.pg {
		return nil
	}
	if d.writer == nil {
		return ErrReadOnly
	}
	if err := whileBusy(ctx, func() error {
		_, err := d.writer.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM")
		return err
	}); err != nil {
		return err
	}
	return d.truncateWAL(ctx)
}

// RowidTables returns the host's tables keyed by an implicit rowid, which
// VACUUM may renumber (SQLite documents it): rowid tables without an
// INTEGER PRIMARY KEY (which VACUUM keeps), and virtual tables through
// their shadow tables. None where Compact does not vacuum.
func (d *DB) RowidTables(ctx context.Context) ([]string, error) {
	if d.Memory || d.pg || d.writer == nil {
		return nil, nil
	}
	// An INTEGER PRIMARY KEY declared DESC is not the rowid: SQLite gives
	// it an index of its own (origin 'pk'), as for any other key.
	var names []string
	if err := d.writer.SelectContext(ctx, &names, `SELECT t.name FROM pragma_table_list AS t
		WHERE t.schema = 'main' AND t.type IN ('table', 'shadow') AND NOT t.wr
			AND t.name NOT LIKE 'sqlite\_%' ESCAPE '\'
			AND NOT ((SELECT count(*) FROM pragma_table_info(t.name) WHERE pk > 0) = 1
				AND (SELECT upper(type) FROM pragma_table_info(t.name) WHERE pk > 0) = 'INTEGER'
				AND NOT EXISTS (SELECT 1 FROM pragma_index_list(t.name) WHERE origin = 'pk'))
		ORDER BY t.name`); err != nil {
		return nil, err
	}
	own := ownObjects(false)
	return slices.DeleteFunc(names, func(name string) bool {
		_, ok := own[strings.ToLower(name)]
		return ok
	}), nil
}

// Backup writes a copy of one snapshot to path, an empty file (VACUUM
// INTO), while writers go on, on a connection of its own: the read pool's
// refuse anything that writes, even to another file.
func (d *DB) Backup(ctx context.Context, path string) error {
	if d.pg {
		return errors.New("a PostgreSQL store is backed up with the server's own tools (pg_dump, base backups)")
	}
	h, _ := sql.Open("sqlite3", d.dsn("ro", d.immutable, d.busyParam()))
	defer h.Close()
	_, err := h.ExecContext(ctx, "VACUUM INTO ?", path)
	return err
}

// Check returns what SQLite's integrity and foreign key checks find,
// through q (a read transaction); nothing on PostgreSQL, which always
// enforces its keys.
func (d *DB) Check(ctx context.Context, q sqlx.QueryerContext) ([]string, error) {
	if d.pg {
		return nil, nil
	}
	var out []string
	err := sqlx.SelectContext(ctx, q, &out, `SELECT 'integrity_check: ' || integrity_check
		FROM pragma_integrity_check WHERE integrity_check <> 'ok'
		UNION ALL
		SELECT 'foreign_key_check: ' || "table" || ' row ' || coalesce(rowid, 'NULL') || ' refers to no row of ' || parent
		FROM pragma_foreign_key_check`)
	return out, err
}

// DiskBytes is the size on disk of an SQLite file and its WAL together,
// which is what giving pages back can shrink; 0 in memory or on
// PostgreSQL.
func (d *DB) DiskBytes() int64 {
	if d.Memory || d.pg {
		return 0
	}
	var n int64
	for _, p := range []string{d.Path, d.Path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}
