package attachstoretest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachstoretest"
)

func TestNewIsEphemeralAndClosedByCleanup(t *testing.T) {
	var s *attachstore.Store
	t.Run("inner", func(t *testing.T) {
		s = attachstoretest.New(t)
		if got := s.Persistence(); got != attachstore.Ephemeral {
			t.Fatalf("Persistence() = %v, want ephemeral", got)
		}
		if _, err := s.Put(context.Background(), []byte("x"), attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := s.Put(context.Background(), []byte("x"), attachstore.Meta{}); !errors.Is(err, attachstore.ErrClosed) {
		t.Fatalf("Put after the subtest's cleanup: err = %v, want ErrClosed", err)
	}
}

func TestNewFileIsDurableAndReopens(t *testing.T) {
	ctx := context.Background()
	var path string
	var id attachstore.ID
	t.Run("inner", func(t *testing.T) {
		s := attachstoretest.NewFile(t)
		if got := s.Persistence(); got != attachstore.Durable {
			t.Fatalf("Persistence() = %v, want durable", got)
		}
		ref, err := s.Put(ctx, []byte("kept"), attachstore.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		path, id = s.Path(), ref.ID
		// Reopen while the temp dir still exists.
		s2, err := attachstore.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		a, err := s2.Get(ctx, id)
		if err != nil || string(a.Data) != "kept" {
			t.Fatalf("Get after reopen = %q, %v; want \"kept\"", a.Data, err)
		}
	})
	if path == "" {
		t.Fatal("NewFile gave no path")
	}
}
