package attachstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachstoretest"
)

// A session's errors about one id name the session, the operation and the
// id, and still match their sentinel (the id is formatted only on error).
func TestSessionErrorsNameTheID(t *testing.T) {
	ctx := context.Background()
	s := attachstoretest.New(t)
	ref, err := s.Put(ctx, []byte("stored, but not held by the session"), attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	closed := attachstoretest.New(t)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, op string
		call     func() error
		want     error
	}{
		{"Get", "get", func() error {
			_, err := s.Session("chat").Get(ctx, ref.ID)
			return err
		}, attachstore.ErrNotFound},
		{"NewReader", "open", func() error {
			_, err := s.Session("chat").NewReader(ctx, ref.ID)
			return err
		}, attachstore.ErrNotFound},
		{"Delete", "delete", func() error {
			return closed.Session("chat").Delete(ctx, ref.ID)
		}, attachstore.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, part := range []string{`session "chat"`, tt.op + " " + ref.ID.String()} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("err = %q, want it to name %q", err, part)
				}
			}
		})
	}
	// Success returns no error at all, not a wrapped nil.
	if err := s.Session("chat").Delete(ctx, ref.ID); err != nil {
		t.Errorf("Delete of a ref not held = %v, want nil", err)
	}
}
