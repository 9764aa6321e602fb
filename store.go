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
// A blob is stored content, named by its ID. The Ref type describes a
// blob — id, size, metadata, creation time — as a put, Stat, List or a
// Reader returns it. A ref, in these docs, is one row of the manifest: a
// session's reference to a blob, listed as an Entry (Session.Refs,
// Store.RefsTo and Stats.Refs list or count such rows). A ref is an
// intent until a commit stamps it committed: Session.Put records an
// intent, Commit and CommitOwned stamp it, PutCommitted writes it
// committed. A session holds at most one committed ref to a blob and, for
// each owner, at most one intent. Pending ids are those with an intent.
// Reclaim forgets intents older than its Grace whose owner holds no hold,
// and deletes blobs no ref points to.
//
// An owner (a turn, a background job) is who staged an intent, so that
// its intents commit, expire or are discarded apart from other owners'.
// Puts take it from the Session (WithOwner): the code doing a turn's work
// passes a Session bound to its turn to tools that need not know owners
// exist. CommitOwned, Discard and Hold take it as an argument: they act
// on one owner's intents from wherever the turn ends — the host's turn
// loop, a request handler, a sweeper in another process after a crash —
// which knows the owner's id but has no Session bound to it. A hold
// (Session.Hold) keeps one owner's intents from Reclaim until a time; a
// session that holds a ref (HoldsRef) merely has it. DropSession is on
// Store and Tx, beside Store.Session and Store.Sessions, not on Session:
// it ends the session itself, leaving a tombstone, rather than acting
// through it.
//
// # Living in a host's file
//
// A store may share its SQLite file with the host application's own tables
// (or a PostgreSQL schema with the host's). attachstore owns every schema
// object named attachstore_…: the tables attachstore_blobs,
// attachstore_chunks, attachstore_refs, attachstore_holds,
// attachstore_dropped_sessions and golang-migrate's
// attachstore_schema_migrations, the attachstore_refs_* indexes, and on
// PostgreSQL the key indexes and sequence the server names after them. Open
// refuses a database in which such a name belongs to an object attachstore
// did not make (ErrNotAStore, naming it), and then changes nothing.
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
	"fmt"
	"io"
	"io/fs"
	"iter"
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
// created with mode 0600. A "postgres://" or "postgresql://" URL (the
// scheme in any letter case) opens the store in that PostgreSQL database
// (in the schema its search_path names; a URL without a password takes it
// from $PGPASSWORD or ~/.pgpass),
// shared by every process and machine that opens the same URL; errors name
// its host and database, never its password. An existing SQLite file that
// attachstore never wrote is adopted: attachstore's tables are added
// beside the file's own, and the file switches to WAL mode (see Origin and
// the package doc, "Living in a host's file"); with WithReadOnly it is
// ErrNotAStore instead, and nothing changes.
//
// Before it creates or migrates anything, Open looks at the database
// without writing to it: an object named as one of attachstore's
// (attachstore_…) that is not attachstore's own, as its recorded migration
// made it, is ErrNotAStore naming that object, and the file is left byte
// for byte as it was (same journal mode, no -wal or -shm file beside it,
// the host's WAL not copied back). A PostgreSQL search_path that names no
// existing schema is ErrNotAStore too.
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

// Close closes the store. An Ephemeral store's content is gone. A writable
// store on a file that closes the file's last connection (this process's
// or another's) copies the write-ahead log back into the file and removes
// the -wal and -shm files; a read-only store never does (see
// WithReadOnly). When the log cannot be copied back — the disk is full,
// and the file must grow by the pages the log holds — Close still closes
// the store and returns an error that matches ErrFull and names the -wal
// file: it stays beside the store, nothing committed is lost, and the next
// Open reads it and copies it back once there is room. Operations after
// Close return ErrClosed; Close is idempotent.
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

// Put stores data and returns its Ref. It is idempotent: the same bytes are
// stored once, keep the metadata of their first put, and a repeated put only
// refreshes the blob's touched time (which keeps it from Reclaim for Grace).
// Content put without a session is held by nothing: Reclaim deletes it once
// it is untouched for Grace.
func (s *Store) Put(ctx context.Context, data []byte, meta Meta) (Ref, error) {
	var ref Ref
	err := s.run(ctx, true, func(tx *Tx) (err error) {
		ref, err = tx.Put(ctx, data, meta)
		return err
	})
	return ref, wrap(s, "put", err)
}

// PutReader stores everything r yields, like Put, hashing while it writes
// chunks so that memory stays bounded by the chunk size (two chunks: while
// the database writes one, the next is read from r on another goroutine;
// r's Read is never called by two goroutines at once). It holds the write
// lock while it reads r: give it a reader that does not stall (spool a slow
// network stream to a file first). An error from r, ErrTooLarge or a
// cancelled context stores nothing; a panic in r's Read reaches the caller
// and stores nothing. On PostgreSQL, a put that loses a race with another
// transaction after it read r returns ErrConflict, having stored nothing:
// r cannot be read again.
func (s *Store) PutReader(ctx context.Context, r io.Reader, meta Meta) (Ref, error) {
	var ref Ref
	err := s.run(ctx, true, once(func(tx *Tx) (err error) {
		ref, err = tx.PutReader(ctx, r, meta)
		return err
	}))
	return ref, wrap(s, "put", err)
}

// once wraps the function of a transaction that consumes a reader: run
// starts a transaction again when it lost a race (PostgreSQL), but the
// reader was read by the attempt that lost, and a second read would store
// the empty rest of it under the empty blob's id.
func once(fn func(tx *Tx) error) func(tx *Tx) error {
	ran := false
	return func(tx *Tx) error {
		if ran {
			return fmt.Errorf("%w: the transaction lost a race with another after reading the input, "+
				"which cannot be read again; nothing was written (try again)", ErrConflict)
		}
		ran = true
		return fn(tx)
	}
}

// Get returns the content with that id and its bytes, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id ID) (Attachment, error) {
	return s.reader().Get(ctx, id)
}

// NewReader opens the content with that id for streaming, or returns
// ErrNotFound. The Reader holds no lock or transaction between reads; if
// the content is deleted while it is read, Read returns ErrNotFound.
func (s *Store) NewReader(ctx context.Context, id ID) (*Reader, error) {
	return s.reader().NewReader(ctx, id)
}

// Stat returns the Ref of the content with that id, or ErrNotFound.
func (s *Store) Stat(ctx context.Context, id ID) (Ref, error) {
	return s.reader().Stat(ctx, id)
}

// Delete removes the content with that id. It returns ErrReferenced while
// any session holds a ref to it (the database's foreign key refuses it),
// and nil when there is no such content.
func (s *Store) Delete(ctx context.Context, id ID) error {
	return wrapID(s, "delete", id, s.run(ctx, true, func(tx *Tx) error {
		return tx.Delete(ctx, id)
	}))
}

// listPage is how many rows List and its kin read per query; nothing is
// held open between pages, so the loop body may call the Store.
const listPage = 512

// List yields the Ref of every stored blob, oldest first. It reads in pages
// and holds nothing open between them, so content put or deleted during the
// iteration may or may not be seen. An error ends the iteration.
func (s *Store) List(ctx context.Context) iter.Seq2[Ref, error] {
	return func(yield func(Ref, error) bool) {
		var after int64
		for {
			page, last, err := s.reader().listPage(ctx, after)
			if err != nil {
				yield(Ref{}, wrap(s, "list", err))
				return
			}
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
			if len(page) < listPage {
				return
			}
			after = last
		}
	}
}

// unixTime turns a stored time into a time.Time; 0 is the zero Time.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
