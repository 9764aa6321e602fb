package attachstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

// TestStoreCallsInsideTransactions pins what a Store method does while an
// Update or View function of the same Store runs, on SQLite, where the
// conformance suite allows PostgreSQL's parallel writers: a write inside
// Update waits for the writer fn holds until its own ctx ends, from fn's
// goroutine or another, and Update then commits what fn wrote; a read
// inside Update or View runs on the read pool and sees what is committed.
// On an Ephemeral store every call waits, reads included.
func TestStoreCallsInsideTransactions(t *testing.T) {
	for _, c := range []struct {
		name string
		path func(t *testing.T) string
	}{
		{"File", func(t *testing.T) string { return filepath.Join(t.TempDir(), "s.db") }},
		{"Memory", func(*testing.T) string { return attachstore.MemoryPath }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openForTest(t, c.path(t))
			file := s.Persistence() == attachstore.Durable
			committed := mustPut(t, s.Session("s"), "committed before")
			short := func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 50*time.Millisecond)
			}
			var staged attachstore.ID
			err := s.Update(ctx, func(tx *attachstore.Tx) error {
				ref, err := tx.Session("s").Put(ctx, []byte("staged by fn"), attachstore.Meta{})
				if err != nil {
					return err
				}
				staged = ref.ID

				wctx, cancel := short()
				defer cancel()
				if _, err := s.Put(wctx, []byte("outside"), attachstore.Meta{}); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Store.Put inside Update = %v, want context.DeadlineExceeded", err)
				}
				gctx, cancel := short()
				defer cancel()
				done := make(chan error)
				go func() { done <- s.Session("s").Commit(gctx) }()
				if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Session.Commit inside Update, from another goroutine = %v, want context.DeadlineExceeded", err)
				}

				rctx, cancel := short()
				defer cancel()
				_, err = s.Stat(rctx, committed)
				if file && err != nil {
					t.Errorf("Store.Stat inside Update = %v, want the committed content", err)
				} else if !file && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Store.Stat inside Update of an Ephemeral store = %v, want context.DeadlineExceeded", err)
				}
				if file {
					// The read pool sees what is committed, not fn's writes.
					if ok, err := s.HoldsRef(ctx, "s", staged); ok || err != nil {
						t.Errorf("Store.HoldsRef of fn's write inside Update = %v, %v; want false", ok, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("Update after the calls inside it: %v", err)
			}
			if ok, err := s.HoldsRef(ctx, "s", staged); !ok || err != nil {
				t.Errorf("after Update, HoldsRef(fn's write) = %v, %v; want true", ok, err)
			}
			if _, err := s.Stat(ctx, attachstore.ContentID([]byte("outside"))); !errors.Is(err, attachstore.ErrNotFound) {
				t.Errorf("the Store.Put that timed out inside Update stored its content (Stat: %v)", err)
			}

			err = s.View(ctx, func(tx *attachstore.Tx) error {
				rctx, cancel := short()
				defer cancel()
				a, err := s.Get(rctx, committed)
				if file && (err != nil || string(a.Data) != "committed before") {
					t.Errorf("Store.Get inside View = %q, %v; want the content", a.Data, err)
				} else if !file && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Store.Get inside View of an Ephemeral store = %v, want context.DeadlineExceeded", err)
				}
				_, err = tx.Stat(ctx, committed)
				return err
			})
			if err != nil {
				t.Errorf("View after the call inside it: %v", err)
			}
		})
	}
}
