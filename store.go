// Package attachstore is a content-addressed store for the files an AI agent
// handles — images, PDFs, tool outputs — that keeps blob bytes, their
// metadata and the manifest of which session references which blob in one
// SQLite file.
//
// Because everything lives in one database, staging a write, stamping it
// committed when the agent's turn commits, and reclaiming orphans left by a
// crash are each one ACID transaction, and a foreign key makes it impossible
// to delete content a session still references.
//
// Content is addressed by its SHA-256 (ID). Store methods work on content
// alone; Session methods work through the manifest, so a session reads only
// what it holds a ref to. Update and View run several operations — and the
// host's own SQL, through Tx.SQL — in one transaction.
//
// # Blobs, refs, intents, owners and holds
//
// A blob is stored content, named by its ID; the Ref type describes one.
// A ref, in these docs, is one row of the manifest: a session's reference
// to a blob, listed as an Entry (Session.Refs, Store.RefsTo and Stats.Refs
// list or count such rows). A ref is an intent until a commit stamps it:
// Session.Put records an intent, Commit and CommitOwned stamp it,
// PutCommitted writes it committed. A session holds at most one committed
// ref to a blob and, for each owner, at most one intent. Reclaim forgets
// intents older than its Grace whose owner holds no hold, and deletes
// blobs no ref points to.
//
// An owner (a turn, a background job) is who staged an intent, so that
// its intents commit, expire or are discarded apart from other owners'.
// Puts take it from the Session (WithOwner), so tools need not know owners
// exist; CommitOwned, Discard and Hold take it as an argument, for code
// that ends a turn — a turn loop, a handler, a sweeper after a crash —
// without a Session bound to it. A hold (Session.Hold) keeps one owner's
// intents from Reclaim until a time. DropSession ends a session, leaving
// a tombstone, so it is on Store and Tx rather than on Session.
//
// # Living in a host's file
//
// A store may share its SQLite file with the host application's own tables
// (or a PostgreSQL schema with the host's). attachstore owns every schema
// object named attachstore_… (its tables, its indexes, golang-migrate's
// attachstore_schema_migrations, and on PostgreSQL the key indexes and
// sequence the server names after them); Open refuses a database where
// another object has such a name (ErrNotAStore).
//
// Adopting a file means, for the host: the file switches to WAL mode, and
// stays so, because then readers never block the writer and the writer
// never blocks readers; the host's own connections need a busy timeout
// (PRAGMA busy_timeout), or they meet "database is locked" while
// attachstore writes; a copy of the .db file alone misses the commits
// still in its -wal file (use Store.Backup); and attachstore's tables are
// its own: the host reads them at most and never writes them. Compact may
// renumber the implicit rowids of the host's tables, and refuses to unless
// told it may (AllowRowidChanges).
package attachstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/attachstore/attachstore/db"
)

// Persistence says whether a Store outlives its process.
type Persistence int

const (
	// Ephemeral stores live in memory and are gone on Close.
	Ephemeral Persistence = iota
	// Durable stores live in a file on disk.
	Durable
)

// String returns "ephemeral" or "durable".
func (p Persistence) String() string {
	if p == Durable {
		return "durable"
	}
	return "ephemeral"
}

// MemoryPath is the path that opens a private Ephemeral store.
const MemoryPath = ":memory:"

// Origin says what Open found at its path.
type Origin int

const (
	// OpenedStore: an attachstore store, opened as it was.
	OpenedStore Origin = iota
	// CreatedStore: a new store (a new file, or an Ephemeral store).
	CreatedStore
	// AdoptedFile: an SQLite database of another program, which now also
	// holds attachstore's tables beside its own.
	AdoptedFile
)

// String returns "opened", "created" or "adopted".
func (o Origin) String() string {
	return [...]string{"opened", "created", "adopted"}[o]
}

// Store is an attachment store. It is safe for concurrent use by multiple
// goroutines, and several processes may open the same file: writes are
// serialized (one writer at a time), reads run in parallel with them.
type Store struct {
	db     *db.DB
	opts   options
	closed atomic.Bool
}

// Open creates or opens the store at path and migrates its schema. Path
// ":memory:" (MemoryPath) opens a private Ephemeral store. A new file is
// created with mode 0600. A "postgres://" or "postgresql://" URL (any
// letter case) opens the store in that PostgreSQL database, in the schema
// its search_path names (a URL without a password takes it from
// $PGPASSWORD or ~/.pgpass); errors name its host and database, never its
// password. An SQLite file attachstore never wrote is adopted (see Origin
// and the package doc); with WithReadOnly it is ErrNotAStore instead.
//
// Open looks before it writes: an object named attachstore_… that is not
// attachstore's own, or a search_path that names no existing schema, is
// ErrNotAStore, and the file is left byte for byte as it was.
//
// Open returns ErrSchemaTooNew for a file written by a newer attachstore,
// ErrDirtySchema for one whose migration did not finish, ErrCorrupt for a
// file that is not an SQLite database, ErrReadOnly for a file this process
// cannot write (use WithReadOnly), and ErrInvalidOption for a bad option
// or for WithReadOnly or WithExisting with ":memory:".
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	name := path
	if db.IsURL(path) {
		name = db.Redact(path) // never the password
	}
	if err := o.check(); err != nil {
		return nil, wrap(nil, "open "+name, err)
	}
	if path == "" {
		return nil, wrap(nil, "open", fmt.Errorf("%w: empty path (use %q for an in-memory store)", ErrInvalid, MemoryPath))
	}
	if path == MemoryPath && (o.readOnly || o.existing) {
		return nil, wrap(nil, "open "+name, fmt.Errorf("%w: WithReadOnly or WithExisting: a private in-memory store starts empty, and nothing but its own writes could fill it",
			ErrInvalidOption))
	}
	cfg := db.Config{
		Synchronous:  o.sync.pragma(),
		BusyTimeout:  o.busyTimeout,
		PageSize:     o.tuning.PageSize,
		CacheSizeKiB: o.tuning.CacheSizeKiB,
		ReadOnly:     o.readOnly,
		Existing:     o.existing,
	}
	if path != MemoryPath {
		cfg.Path = path
	}
	d, err := db.Open(ctx, cfg)
	if pe, ok := err.(*fs.PathError); ok {
		err = fmt.Errorf("%s: %w", pe.Op, pe.Err) // the path is named below
	}
	if err != nil {
		return nil, wrap(nil, "open "+name, err)
	}
	if !d.Memory && !db.IsURL(path) && !o.readOnly && o.diskReserve > 0 {
		o.diskDir = filepath.Dir(d.Path)
	}
	return &Store{db: d, opts: o}, nil
}

// Close closes the store; an Ephemeral store's content is gone. The last
// writable connection to a file copies the write-ahead log back into it
// and removes the -wal and -shm files (a read-only store never does). When
// the disk is too full for that, Close still closes the store and returns
// an error that matches ErrFull and names the -wal file, which stays:
// nothing committed is lost, and the next Open copies it back once there
// is room. Operations after Close return ErrClosed; Close is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return wrap(nil, "close", s.db.Close())
}

// Persistence reports whether the store is Ephemeral or Durable.
func (s *Store) Persistence() Persistence {
	if s.db.Memory {
		return Ephemeral
	}
	return Durable
}

// Path returns the database file's absolute path ("" for an Ephemeral
// store), or a PostgreSQL store's URL without its password.
func (s *Store) Path() string { return s.db.Path }

// Origin says whether Open found a store, created one, or adopted another
// program's database.
func (s *Store) Origin() Origin {
	switch {
	case s.db.Created:
		return CreatedStore
	case s.db.Adopted:
		return AdoptedFile
	}
	return OpenedStore
}

// ReadOnly reports whether the store was opened WithReadOnly.
func (s *Store) ReadOnly() bool { return s.db.ReadOnly() }

// MaxBlobSize is the largest content the store accepts (WithMaxBlobSize;
// math.MaxInt64 when unlimited): a server sizes its upload limit by it.
func (s *Store) MaxBlobSize() int64 { return s.opts.maxBlobSize }

func (s *Store) now() int64 { return s.opts.now().UnixNano() }

// Update runs fn in one write transaction: the blobs, refs, commit stamps
// and host rows (Tx.SQL) that fn writes commit together when fn returns nil.
// If fn returns an error or panics, everything is rolled back (and the panic
// goes on). Update waits for other writers — in this process or another —
// until ctx ends.
//
// fn does its work through tx. A Store method called while fn runs, from
// any goroutine, runs outside the transaction, and nothing detects it: on
// SQLite a write waits for the one writer, which fn holds, and on an
// Ephemeral store any call waits for its one connection, so either blocks
// until its own ctx ends and returns ctx's error. On PostgreSQL a Store
// write waits only where it writes the same rows as fn. Reads through the
// Store see what is committed, not what fn has written.
//
// On PostgreSQL, where writers run in parallel, a transaction that loses a
// race (a deadlock, a serialization failure) is rolled back and fn runs
// again, a few times at most (then ErrConflict): keep effects outside the
// database until Update returns. On SQLite fn runs once.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	return s.host(ctx, "update", true, fn)
}

// View runs fn in one read snapshot: everything fn reads through tx sees
// the store as of one moment, while writers go on. Store methods called
// from fn run outside the snapshot; on an Ephemeral store, whose one
// connection fn holds, they block until their ctx ends. Read through tx.
func (s *Store) View(ctx context.Context, fn func(tx *Tx) error) error {
	return s.host(ctx, "view", false, fn)
}

// host runs the host's fn for Update or View, and returns fn's error as
// fn returned it, or the transaction's, named op.
func (s *Store) host(ctx context.Context, op string, write bool, fn func(tx *Tx) error) error {
	var fnErr error
	err := s.run(ctx, write, func(tx *Tx) error {
		tx.host = write
		fnErr = fn(tx)
		return fnErr
	})
	if fnErr != nil && errors.Is(err, fnErr) {
		return err
	}
	return wrap(s, op, err)
}

// maxRetries bounds how often run starts a transaction again after it lost
// a race with another (PostgreSQL's deadlocks and serialization failures):
// nothing of a lost attempt was kept.
const maxRetries = 10

// run runs fn in one transaction, a write transaction or a read snapshot,
// retrying a lost race up to maxRetries times.
func (s *Store) run(ctx context.Context, write bool, fn func(tx *Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if write && s.db.ReadOnly() {
		return ErrReadOnly
	}
	if write {
		s.keepWALShort(ctx)
	}
	for attempt := 1; ; attempt++ {
		err := s.runOnce(ctx, write, fn)
		if db.KindOf(err) != db.Retry || attempt == maxRetries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt*attempt) * time.Millisecond):
		}
	}
}

// runOnce runs fn in a new transaction and commits when fn returns nil and
// ctx has not ended; otherwise, or on panic, it rolls back.
func (s *Store) runOnce(ctx context.Context, write bool, fn func(tx *Tx) error) (err error) {
	stx, conn, end, err := s.db.Begin(ctx, write)
	if err != nil {
		return err
	}
	defer end()
	tx := &Tx{s: s, q: stx, sqlTx: stx, conn: conn, writable: write}
	defer func() {
		tx.done = true
		if p := recover(); p != nil {
			_ = stx.Rollback()
			panic(p)
		}
		if err == nil && tx.aborted != nil {
			err = fmt.Errorf("rolled back by an earlier error: %w", tx.aborted)
		}
		if ctx.Err() != nil && (err == nil || errors.Is(err, driver.ErrBadConn)) {
			// The transaction does not end with ctx (see db.Begin): a
			// cancelled caller gets no commit. A driver that drops its
			// connection to stop a statement (pgx) says only "bad
			// connection": the context says why.
			err = ctx.Err()
		}
		if err == nil && write {
			if err = stx.Commit(); err == nil {
				s.db.Committed()
			}
		} else {
			// A read snapshot has nothing to commit; on PostgreSQL, a
			// statement of the host's that failed in it would make the
			// commit fail.
			_ = stx.Rollback()
		}
	}()
	return fn(tx)
}

// reader returns a Tx for single-statement reads on the read pool: one
// statement is one snapshot, so it needs no BEGIN. Once the store is
// closed, its reads fail, and wrap says ErrClosed.
func (s *Store) reader() *Tx { return &Tx{s: s, q: s.db.Reader} }
