package attachstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// TestErrInvalid: every error for an argument attachstore does not accept
// matches ErrInvalid as well as its own sentinel.
func TestErrInvalid(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, errID := ParseID("not an id")
	_, errMeta := s.Put(ctx, []byte("x"), Meta{MediaType: "not a media type"})
	_, errSession := s.Session("").Pending(ctx)
	_, errOption := Open(ctx, MemoryPath, WithChunkSize(-1))
	_, errPolicy := s.Reclaim(ctx, ReclaimPolicy{Grace: -1})
	for _, tt := range []struct {
		name      string
		err, want error
	}{
		{"ParseID", errID, ErrInvalidID},
		{"Put", errMeta, ErrInvalidMeta},
		{"Session", errSession, ErrInvalidSession},
		{"Open", errOption, ErrInvalidOption},
		{"Reclaim", errPolicy, ErrInvalidPolicy},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) || !errors.Is(tt.err, ErrInvalid) {
				t.Errorf("err = %v: want it to match %v and ErrInvalid", tt.err, tt.want)
			}
			if errors.Is(tt.err, ErrNotFound) {
				t.Errorf("err = %v matches ErrNotFound", tt.err)
			}
		})
	}
}

// TestWrapNamesOnce: the boundary names the operation once, gives a
// driver error its sentinel without repeating the driver's words, and
// leaves an error an inner exported method named as it is.
func TestWrapNamesOnce(t *testing.T) {
	full := wrap(nil, "put", sqlite3.Error{Code: sqlite3.ErrFull})
	if got, want := full.Error(), "attachstore: put: database or disk is full"; got != want {
		t.Errorf("wrap of SQLITE_FULL = %q, want %q", got, want)
	}
	var se sqlite3.Error
	if !errors.Is(full, ErrFull) || !errors.As(full, &se) {
		t.Errorf("wrap of SQLITE_FULL = %v: want ErrFull, with the driver's error reachable", full)
	}
	if again := wrap(nil, "update", full); again != full {
		t.Errorf("wrap of a named error = %q, want it unchanged", again)
	}
	ro := wrap(nil, "put", sqlite3.Error{Code: sqlite3.ErrReadonly})
	if n := strings.Count(ro.Error(), "attachstore:"); n != 1 || !errors.Is(ro, ErrReadOnly) {
		t.Errorf("wrap of SQLITE_READONLY = %q: want ErrReadOnly, and the prefix once", ro)
	}
}

// TestClosedStoreReads: reads after Close, which no longer check for it
// before they reach the database, are ErrClosed, named once.
func TestClosedStoreReads(t *testing.T) {
	ctx := context.Background()
	for _, path := range []string{MemoryPath, t.TempDir() + "/s.db"} {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := s.Put(ctx, []byte("x"), Meta{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.NewReader(ctx, ref.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		calls := map[string]func() error{
			"Get":       func() error { _, err := s.Get(ctx, ref.ID); return err },
			"Stat":      func() error { _, err := s.Stat(ctx, ref.ID); return err },
			"NewReader": func() error { _, err := s.NewReader(ctx, ref.ID); return err },
			"Read":      func() error { _, err := r.Read(make([]byte, 1)); return err },
			"RefsTo":    func() error { _, err := s.RefsTo(ctx, ref.ID); return err },
			"Session":   func() error { _, err := s.Session("s").Get(ctx, ref.ID); return err },
			"List": func() error {
				for _, err := range s.List(ctx) {
					return err
				}
				return nil
			},
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, ErrClosed) || strings.Count(err.Error(), "attachstore:") != 1 {
				t.Errorf("%s: %s after Close = %v, want ErrClosed, named once", path, name, err)
			}
		}
	}
}
