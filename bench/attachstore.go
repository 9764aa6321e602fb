package main

import (
	"context"
	"io"
	"path/filepath"

	"github.com/attachstore/attachstore"
)

// attachStore is the subject: bytes, metadata and manifest in one SQLite
// file, every write one transaction. This file is the only one that calls
// the library, so an API change is fixed here.
type attachStore struct {
	s      *attachstore.Store
	batch  int
	vacuum attachstore.Vacuum
}

var attachstoreOpener = opener{name: subject, open: openAttachstore}

var octet = attachstore.Meta{MediaType: "application/octet-stream"}

func openAttachstore(ctx context.Context, dir string, cfg *config) (System, error) {
	// Durable settings, as for every system: synchronous FULL.
	opts := []attachstore.Option{
		attachstore.WithSynchronous("FULL"),
		attachstore.WithMaxBlobSize(1 << 40),
	}
	if cfg.pageSize > 0 {
		opts = append(opts, attachstore.WithPageSize(cfg.pageSize))
	}
	if cfg.cacheKiB > 0 {
		opts = append(opts, attachstore.WithCacheSize(cfg.cacheKiB))
	}
	if cfg.mmapSize > 0 {
		opts = append(opts, attachstore.WithMmapSize(cfg.mmapSize))
	}
	if cfg.chunkSize > 0 {
		opts = append(opts, attachstore.WithChunkSize(cfg.chunkSize))
	}
	if err := mkdirAll(dir); err != nil {
		return nil, err
	}
	s, err := attachstore.Open(ctx, filepath.Join(dir, "attach.db"), opts...)
	if err != nil {
		return nil, err
	}
	return &attachStore{s: s, batch: cfg.batch, vacuum: cfg.vacuum}, nil
}

func (a *attachStore) Name() string { return subject }
func (a *attachStore) Close() error { return a.s.Close() }

// PutCommit is W1 and W2: every Session.Put and the Commit in one Update.
func (a *attachStore) PutCommit(ctx context.Context, session string, blobs [][]byte) ([]ID, error) {
	ids := make([]ID, len(blobs))
	err := a.s.Update(ctx, func(tx *attachstore.Tx) error {
		ss := tx.Session(session)
		aids := make([]attachstore.ID, len(blobs))
		for i, b := range blobs {
			ref, err := ss.Put(ctx, b, octet)
			if err != nil {
				return err
			}
			aids[i] = ref.ID
			ids[i] = ID(ref.ID)
		}
		return ss.Commit(ctx, aids...)
	})
	return ids, err
}

// Load is the same single transaction: it is already the fast path.
func (a *attachStore) Load(ctx context.Context, session string, blobs [][]byte) ([]ID, error) {
	return a.PutCommit(ctx, session, blobs)
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
	rep, err := a.s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: 0, BatchSize: a.batch, Vacuum: a.vacuum})
	return rep.ReclaimedBlobs, err
}
