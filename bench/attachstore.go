package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"

	"github.com/attachstore/attachstore"
)

// attachStore is the subject: bytes, metadata and manifest in one SQLite
// file, every write one transaction. This file is the only one that calls
// the library, so an API change is fixed here. pgStore, at the end, is the
// same library on PostgreSQL.
type attachStore struct {
	s        *attachstore.Store
	path     string
	opts     []attachstore.Option
	pageSize int
	batch    int
	vacuumAt float64
}

// libraryPageSize is the page size the library gives new files (its db
// package keeps the constant to itself); TestLibraryPageSize holds it to
// what a new store has.
const libraryPageSize = 16384

// vacuumAt is ReclaimPolicy.VacuumAt for the -reclaim-vacuum names.
var vacuumAt = map[string]float64{"auto": 0.25, "always": 0, "never": 1}

var attachstoreOpener = opener{name: subject, open: openAttachstore}

var octet = attachstore.Meta{MediaType: "application/octet-stream"}

// floorPageSize is the page size attachstore runs with in this bench, for
// the SQLite floor (floor.go).
func floorPageSize(c *config) int {
	if c.pageSize > 0 {
		return c.pageSize
	}
	return libraryPageSize
}

func openAttachstore(ctx context.Context, dir string, cfg *config) (System, error) {
	// Durable settings, as for every system: synchronous FULL.
	opts := []attachstore.Option{
		attachstore.WithSync(attachstore.SyncFull),
		attachstore.WithMaxBlobSize(1 << 40),
	}
	if cfg.pageSize > 0 || cfg.cacheKiB > 0 {
		opts = append(opts, attachstore.WithTuning(attachstore.Tuning{PageSize: cfg.pageSize, CacheSizeKiB: cfg.cacheKiB}))
	}
	if cfg.chunkSize > 0 {
		opts = append(opts, attachstore.WithChunkSize(cfg.chunkSize))
	}
	if err := mkdirAll(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "attach.db")
	s, err := attachstore.Open(ctx, path, opts...)
	if err != nil {
		return nil, err
	}
	va, ok := vacuumAt[cfg.vacuum]
	if !ok {
		s.Close()
		return nil, fmt.Errorf("-reclaim-vacuum %q: want auto, always or never", cfg.vacuum)
	}
	return &attachStore{s: s, path: path, opts: opts, pageSize: cfg.pageSize, batch: cfg.batch, vacuumAt: va}, nil
}

func (a *attachStore) Name() string { return subject }
func (a *attachStore) Close() error { return a.s.Close() }

// PutCommit is W1 and W2: the blobs put and committed in one transaction,
// with Session.PutCommitted (a put whose ref is written committed at once,
// as Put and then Commit of its id would leave it): W1's one blob on the
// Store, which runs it in a transaction of its own; W2's turn in one
// Update.
func (a *attachStore) PutCommit(ctx context.Context, session string, blobs [][]byte) ([]ID, error) {
	if len(blobs) == 1 {
		// One blob (W1): the call is its own transaction already.
		ref, err := a.s.Session(session).PutCommitted(ctx, blobs[0], octet)
		return []ID{ID(ref.ID)}, err
	}
	var ids []ID
	err := a.s.Update(ctx, func(tx *attachstore.Tx) (err error) {
		ids, err = putCommitTx(ctx, tx, session, blobs)
		return err
	})
	return ids, err
}

// putCommitTx puts blobs for session inside tx, committed.
func putCommitTx(ctx context.Context, tx *attachstore.Tx, session string, blobs [][]byte) ([]ID, error) {
	ss := tx.Session(session)
	ids := make([]ID, len(blobs))
	for i, b := range blobs {
		ref, err := ss.PutCommitted(ctx, b, octet)
		if err != nil {
			return nil, err
		}
		ids[i] = ID(ref.ID)
	}
	return ids, nil
}

// Load is the same single transaction: it is already the fast path.
func (a *attachStore) Load(ctx context.Context, session string, blobs [][]byte) ([]ID, error) {
	return a.PutCommit(ctx, session, blobs)
}

// Loader settings, for building stores only. With a thousand blobs per
// transaction on the measured handle, growing a store from 100k to a
// million 10 KiB blobs took some 300 s of each full run. Ten sessions per
// transaction, in a page cache that holds what they dirty, and no fsync (the
// harness syncs the file system after loading, as for the peers' Load):
// 2,955 → 4,805 blobs/s at 300k stored in a probe here, and 176–191 s from
// 100k to a million in full runs. Fifty sessions per transaction were no
// faster (see bench/RESULTS.md).
const (
	loaderCacheKiB      = 512 << 10
	loaderSessionsPerTx = 10
)

// LoadSessions builds a store faster than one Load per session: it opens
// a second handle on the same file with the loader settings, puts and
// commits loaderSessionsPerTx sessions per Update, and closes it. The
// measured handle stays open and keeps the library's defaults.
func (a *attachStore) LoadSessions(ctx context.Context, sessions []string, blobs [][][]byte) (ids [][]ID, err error) {
	opts := append(slices.Clone(a.opts), attachstore.WithSync(attachstore.SyncOff), attachstore.WithTuning(attachstore.Tuning{PageSize: a.pageSize, CacheSizeKiB: loaderCacheKiB}))
	l, err := attachstore.Open(ctx, a.path, opts...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := l.Close(); err == nil {
			err = cerr
		}
	}()
	ids = make([][]ID, len(sessions))
	for lo := 0; lo < len(sessions); lo += loaderSessionsPerTx {
		hi := min(lo+loaderSessionsPerTx, len(sessions))
		err := l.Update(ctx, func(tx *attachstore.Tx) (err error) {
			for k := lo; k < hi && err == nil; k++ {
				ids[k], err = putCommitTx(ctx, tx, sessions[k], blobs[k])
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func (a *attachStore) SessionGet(ctx context.Context, session string, id ID) ([]byte, error) {
	att, err := a.s.Session(session).Get(ctx, attachstore.ID(id))
	return att.Data, err
}

func (a *attachStore) Get(ctx context.Context, id ID) ([]byte, error) {
	att, err := a.s.Get(ctx, attachstore.ID(id))
	return att.Data, err
}

func (a *attachStore) PutReader(ctx context.Context, r io.Reader) (ID, error) {
	ref, err := a.s.PutReader(ctx, r, octet)
	return ID(ref.ID), err
}

func (a *attachStore) NewReader(ctx context.Context, id ID) (io.ReadCloser, error) {
	return a.s.NewReader(ctx, attachstore.ID(id))
}

func (a *attachStore) DropSession(ctx context.Context, session string) error {
	return a.s.DropSession(ctx, session)
}

func (a *attachStore) Reclaim(ctx context.Context) (int, error) {
	// The bench's stores are built with Store.Put and sessions alike; some
	// phases sweep a store whose sessions were all dropped.
	rep, err := a.s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: 0, BatchSize: a.batch, VacuumAt: a.vacuumAt, AllowEmptyRoots: true})
	return rep.ReclaimedBlobs, err
}

// pgStore is the library on PostgreSQL (issue 24): the same calls as
// attachStore's, on a store in a schema of its own in the run's database
// (pgServer). The SQLite-only settings (synchronous, page and cache size,
// reclaim vacuum) do not apply; the server's own settings, which the header
// prints, decide what a commit costs.
type pgStore struct {
	*attachStore
	pg *pgServer
}

var postgresOpener = opener{
	name:   pgSubject,
	open:   openPostgres,
	remove: func(ctx context.Context, dir string, cfg *config) error { return cfg.pg.dropStore(ctx, dir) },
	skips: []skip{
		{"W4", "cold reads would need the server restarted to empty its shared buffers"},
		{"W5", "its cold read has W4's problem"},
		{"W7", "for the full run's time"},
	},
}

func openPostgres(ctx context.Context, dir string, cfg *config) (System, error) {
	if cfg.pg == nil {
		return nil, errors.New("no PostgreSQL server (-postgres)")
	}
	// The directory stays empty: it stands for the store where the harness
	// syncs and removes stores by directory.
	if err := mkdirAll(dir); err != nil {
		return nil, err
	}
	u, err := cfg.pg.storeURL(ctx, dir)
	if err != nil {
		return nil, err
	}
	opts := []attachstore.Option{attachstore.WithMaxBlobSize(1 << 40)}
	if cfg.chunkSize > 0 {
		opts = append(opts, attachstore.WithChunkSize(cfg.chunkSize))
	}
	s, err := attachstore.Open(ctx, u, opts...)
	if err != nil {
		return nil, err
	}
	return &pgStore{attachStore: &attachStore{s: s, path: u, opts: opts, batch: cfg.batch}, pg: cfg.pg}, nil
}

func (p *pgStore) Name() string { return pgSubject }

// LoadSessions builds a store faster than one Load per session: on a
// second handle whose commits do not wait for their WAL flush
// (synchronous_commit off, the counterpart of the SQLite loader's
// synchronous OFF), one Update per session, GOMAXPROCS of them at once
// (parallel). On PostgreSQL writers of different sessions run side by
// side, and a session's thousand blobs already spread its commit thin:
// here one loader built 10k blobs at 489 blobs/s, two at 955, two with
// five sessions an Update at 969, eight at 1,072 (the machine busy with
// other work). Settle writes what it leaves in the server's buffers out
// before a timed part.
func (p *pgStore) LoadSessions(ctx context.Context, sessions []string, blobs [][][]byte) (ids [][]ID, err error) {
	u, err := url.Parse(p.path)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	l, err := attachstore.Open(ctx, u.String(), p.opts...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := l.Close(); err == nil {
			err = cerr
		}
	}()
	ids = make([][]ID, len(sessions))
	err = parallel(len(sessions), func(k int) error {
		return l.Update(ctx, func(tx *attachstore.Tx) (err error) {
			ids[k], err = putCommitTx(ctx, tx, sessions[k], blobs[k])
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// Settle writes the server's dirty buffers out (CHECKPOINT), as the
// harness's syncFS does for the stores in the scratch directory.
func (p *pgStore) Settle(ctx context.Context) error { return p.pg.checkpoint(ctx) }
