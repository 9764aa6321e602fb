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
package attachstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync/atomic"

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

// Store is an attachment store. It is safe for concurrent use by multiple
// goroutines, and several processes may open the same file: writes are
// serialized (one writer at a time), reads run in parallel with them.
type Store struct {
	db     *db.DB
	opts   options
	closed atomic.Bool
	txs    txRegistry
	ckpt   *checkpointer // nil for Ephemeral and read-only stores
	// walOver asks the next commit to rewind the WAL (see checkpointer),
	// once the WAL passes walRewind bytes (db.WALRewindBytes).
	walOver atomic.Bool
	// giveBackPending says a Reclaim's vacuum or checkpoint failed, so the
	// next Reclaim finishes it whatever its Vacuum policy decides.
	giveBackPending atomic.Bool
	walRewind       int64
	// reclaimGather is how many orphan candidates Reclaim holds at once
	// (defaultReclaimGather).
	reclaimGather int
	// walPath is the WAL that large write transactions have written back
	// as they go (see writeback), or "" when their commit does not fsync
	// it: an Ephemeral or read-only store, synchronous OFF or NORMAL.
	walPath string
}

// Open creates or opens the store at path and migrates its schema. Path
// ":memory:" (MemoryPath) opens a private Ephemeral store. A new file is
// created with mode 0600.
//
// Open returns ErrSchemaTooNew for a file written by a newer attachstore,
// ErrDirtySchema for one whose migration did not finish, and ErrCorrupt for
// a file that is not an attachstore database.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if path == "" {
		return nil, fmt.Errorf("attachstore: open: empty path (use %q for an in-memory store)", MemoryPath)
	}
	cfg := db.Config{
		Synchronous:  o.synchronous,
		BusyTimeout:  o.busyTimeout,
		PageSize:     o.pageSize,
		ReadConns:    o.readConns,
		CacheSizeKiB: o.cacheSizeKiB,
		MmapSize:     o.mmapSize,
		ReadOnly:     o.readOnly,
	}
	if path != MemoryPath {
		cfg.Path = path
	}
	d, err := db.Open(ctx, cfg)
	if err != nil {
		if errors.Is(err, ErrSchemaTooNew) || errors.Is(err, ErrDirtySchema) || errors.Is(err, ErrReadOnly) {
			return nil, fmt.Errorf("attachstore: open %s: %w", path, err)
		}
		return nil, mapErr(err, "open "+path)
	}
	s := &Store{db: d, opts: o, walRewind: db.WALRewindBytes, reclaimGather: defaultReclaimGather}
	if !d.Memory && !o.readOnly && (o.synchronous == "FULL" || o.synchronous == "EXTRA") {
		s.walPath = d.Path + "-wal"
	}
	s.startCheckpointer()
	return s, nil
}

// Close closes the store. An Ephemeral store's content is gone. Operations
// after Close return ErrClosed; Close is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stopCheckpointer()
	return s.db.Close()
}

// Persistence reports whether the store is Ephemeral or Durable.
func (s *Store) Persistence() Persistence {
	if s.db.Memory {
		return Ephemeral
	}
	return Durable
}

// Path returns the database file's absolute path ("" for an Ephemeral
// store).
func (s *Store) Path() string { return s.db.Path }

// Put stores data and returns its Ref. It is idempotent: the same bytes are
// stored once, keep the metadata of their first put, and a repeated put only
// refreshes the blob's touched time (which keeps it from Reclaim for Grace).
func (s *Store) Put(ctx context.Context, data []byte, meta Meta) (Ref, error) {
	var ref Ref
	err := s.update(ctx, "put", func(tx *Tx) (err error) {
		ref, err = tx.Put(ctx, data, meta)
		return err
	})
	return ref, err
}

// PutReader stores everything r yields, like Put, hashing while it writes
// chunks so that memory stays bounded by the chunk size (two chunks: while
// SQLite writes one, the next is read from r on another goroutine; r's
// Read is never called by two goroutines at once). It holds the write lock
// while it reads r: give it a reader that does not stall (spool a slow
// network stream to a file first). An error from r, ErrTooLarge or a
// cancelled context stores nothing; a panic in r's Read reaches the caller
// and stores nothing.
func (s *Store) PutReader(ctx context.Context, r io.Reader, meta Meta) (Ref, error) {
	var ref Ref
	err := s.update(ctx, "put", func(tx *Tx) (err error) {
		ref, err = tx.PutReader(ctx, r, meta)
		return err
	})
	return ref, err
}

// Get returns the content with that id and its bytes, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id ID) (Attachment, error) {
	t, err := s.reader()
	if err != nil {
		return Attachment{}, err
	}
	return t.Get(ctx, id)
}

// NewReader opens the content with that id for streaming, or returns
// ErrNotFound. The Reader holds no lock or transaction between reads; if
// the content is deleted while it is read, Read returns ErrNotFound.
func (s *Store) NewReader(ctx context.Context, id ID) (*Reader, error) {
	t, err := s.reader()
	if err != nil {
		return nil, err
	}
	return t.newReader(ctx, id)
}

// Stat returns the Ref of the content with that id, or ErrNotFound.
func (s *Store) Stat(ctx context.Context, id ID) (Ref, error) {
	t, err := s.reader()
	if err != nil {
		return Ref{}, err
	}
	return t.Stat(ctx, id)
}

// Delete removes the content with that id. It returns ErrReferenced while
// any session holds a ref to it (the database's foreign key refuses it),
// and nil when there is no such content.
func (s *Store) Delete(ctx context.Context, id ID) error {
	return s.update(ctx, "delete "+id.String(), func(tx *Tx) error {
		return tx.Delete(ctx, id)
	})
}

// listPage is how many blobs List reads per query; it holds no connection
// between pages, so the loop body may call the Store.
const listPage = 512

// List yields the Ref of every stored blob, oldest first. It reads in pages
// and holds nothing open between them, so content put or deleted during the
// iteration may or may not be seen. An error ends the iteration.
func (s *Store) List(ctx context.Context) iter.Seq2[Ref, error] {
	return func(yield func(Ref, error) bool) {
		t, err := s.reader()
		if err != nil {
			yield(Ref{}, err)
			return
		}
		var after int64
		for {
			page, last, err := t.listPage(ctx, after, listPage)
			if err != nil {
				yield(Ref{}, err)
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
