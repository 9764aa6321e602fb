package attachstore_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/internal/storetest"
)

// engines opens a store of each engine: in memory, a file, and PostgreSQL
// when the test server is there.
func engines(t *testing.T, fn func(t *testing.T, open func() *attachstore.Store)) {
	t.Run("Ephemeral", func(t *testing.T) {
		fn(t, func() *attachstore.Store { return openForTest(t, attachstore.MemoryPath) })
	})
	t.Run("Durable", func(t *testing.T) {
		fn(t, func() *attachstore.Store { return openForTest(t, filepath.Join(t.TempDir(), "a.db")) })
	})
	t.Run("Postgres", func(t *testing.T) {
		storetest.PostgresURL(t)
		fn(t, func() *attachstore.Store { return openForTest(t, storetest.PostgresSchema(t)) })
	})
}

// TestPutCommitted holds Session.PutCommitted to Put followed by Commit of
// its id: one committed ref, no intent left, an earlier committed ref and
// its metadata kept, other owners' intents made part of it, and a dropped
// session refused with nothing stored; inside an Update, whose host goes
// on after the refusal, and in a call's own transaction. The content is one
// chunk: on PostgreSQL new content of one chunk takes the pipelined way.
func TestPutCommitted(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("put committed "), 3000)
	id := attachstore.ContentID(data)
	for _, tc := range []struct {
		name    string
		before  func(s *attachstore.Store) error
		wantErr error
		// wantMedia is the media type the session reads back.
		wantMedia string
	}{
		{"NewContent", func(*attachstore.Store) error { return nil }, nil, "image/png"},
		{"StoredWithoutSession", func(s *attachstore.Store) error {
			_, err := s.Put(ctx, data, attachstore.Meta{MediaType: "text/plain"})
			return err
		}, nil, "image/png"},
		{"AnotherOwnersIntent", func(s *attachstore.Store) error {
			_, err := s.Session("chat").WithOwner("other").Put(ctx, data, attachstore.Meta{MediaType: "text/plain"})
			return err
		}, nil, "image/png"},
		{"HeldCommitted", func(s *attachstore.Store) error {
			ss := s.Session("chat").WithOwner("other")
			if _, err := ss.Put(ctx, data, attachstore.Meta{MediaType: "text/plain"}); err != nil {
				return err
			}
			return ss.Commit(ctx, id)
		}, nil, "text/plain"},
		{"Dropped", func(s *attachstore.Store) error { return s.DropSession(ctx, "chat") }, attachstore.ErrSessionDropped, ""},
	} {
		for _, inUpdate := range []bool{true, false} {
			name := tc.name + map[bool]string{true: "InUpdate", false: ""}[inUpdate]
			t.Run(name, func(t *testing.T) {
				engines(t, func(t *testing.T, open func() *attachstore.Store) {
					s := open()
					if err := tc.before(s); err != nil {
						t.Fatal(err)
					}
					ss := s.Session("chat").WithOwner("turn")
					meta := attachstore.Meta{MediaType: "image/png"}
					var ref attachstore.Ref
					var err error
					if inUpdate {
						err = s.Update(ctx, func(tx *attachstore.Tx) (err error) {
							ref, err = tx.Session("chat").WithOwner("turn").PutCommitted(ctx, data, meta)
							if tc.wantErr != nil && errors.Is(err, tc.wantErr) {
								return nil // the host goes on: the failed call must leave nothing
							}
							return err
						})
					} else if ref, err = ss.PutCommitted(ctx, data, meta); tc.wantErr != nil && errors.Is(err, tc.wantErr) {
						err = nil
					}
					if err != nil {
						t.Fatalf("PutCommitted: %v", err)
					}
					if tc.wantErr != nil {
						if tc.name == "Dropped" {
							if _, err := s.Stat(ctx, id); !errors.Is(err, attachstore.ErrNotFound) {
								t.Errorf("Stat after a refused PutCommitted = %v, want ErrNotFound", err)
							}
						}
						return
					}
					if ref.ID != id || ref.Size != int64(len(data)) {
						t.Errorf("ref = %s, %d bytes; want %s, %d", ref.ID, ref.Size, id, len(data))
					}
					es, err := ss.Refs(ctx)
					if err != nil || len(es) != 1 || !es[0].Committed() {
						t.Fatalf("Refs = %+v, %v; want one committed ref", es, err)
					}
					if p, err := ss.Pending(ctx); err != nil || len(p) != 0 {
						t.Errorf("Pending = %v, %v; want none", p, err)
					}
					if ids, err := ss.CommitOwned(ctx, "turn"); err != nil || len(ids) != 0 {
						t.Errorf("CommitOwned(turn) = %v, %v; want none: nothing was pending", ids, err)
					}
					a, err := ss.Get(ctx, id)
					if err != nil || !bytes.Equal(a.Data, data) || a.MediaType != tc.wantMedia {
						t.Errorf("Session.Get = %d bytes, %q, %v; want the %d put, %q", len(a.Data), a.MediaType, err, len(data), tc.wantMedia)
					}
					if err := s.Delete(ctx, id); !errors.Is(err, attachstore.ErrReferenced) {
						t.Errorf("Delete of committed content = %v, want ErrReferenced", err)
					}
				})
			})
		}
	}
}
