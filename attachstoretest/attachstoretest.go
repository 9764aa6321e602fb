// Package attachstoretest gives tests a ready attachstore.Store that is
// closed when the test ends.
//
//	func TestTurn(t *testing.T) {
//		s := attachstoretest.New(t)
//		ref, err := s.Session("chat-1").Put(ctx, data, attachstore.Meta{})
//		...
//	}
package attachstoretest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/attachstore/attachstore"
)

// New returns an Ephemeral (in-memory) store, closed by t.Cleanup. It fails
// the test if the store cannot be opened.
func New(tb testing.TB, opts ...attachstore.Option) *attachstore.Store {
	tb.Helper()
	return open(tb, attachstore.MemoryPath, opts)
}

// NewFile returns a Durable store in a file under tb.TempDir(), closed by
// t.Cleanup. Its path is Store.Path(), for reopening it in the same test.
func NewFile(tb testing.TB, opts ...attachstore.Option) *attachstore.Store {
	tb.Helper()
	return open(tb, filepath.Join(tb.TempDir(), "attachments.db"), opts)
}

func open(tb testing.TB, path string, opts []attachstore.Option) *attachstore.Store {
	tb.Helper()
	s, err := attachstore.Open(context.Background(), path, opts...)
	if err != nil {
		tb.Fatalf("attachstoretest: open %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("attachstoretest: close %s: %v", path, err)
		}
	})
	return s
}
