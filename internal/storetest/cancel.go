package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/attachstore/attachstore"
)

// testCancel covers cancelled contexts: before a call, in the middle of a
// PutReader, inside Update, under an open Reader. A cancelled write leaves
// nothing behind and the store works on.
func testCancel(t *testing.T, h Harness) {
	t.Run("BeforeCall", func(t *testing.T) { testCancelBefore(t, h) })
	t.Run("PutReaderMidway", func(t *testing.T) {
		testStreamFails(t, h, func(data []byte, at int, cancel context.CancelFunc) (io.Reader, error) {
			return &cancelAfter{r: readerOf(data), n: at, cancel: cancel}, context.Canceled
		})
	})
	t.Run("ReaderFailsMidway", func(t *testing.T) {
		errBoom := errors.New("storetest: the input broke")
		testStreamFails(t, h, func(data []byte, at int, cancel context.CancelFunc) (io.Reader, error) {
			return io.MultiReader(bytes.NewReader(data[:at]), iotest.ErrReader(errBoom)), errBoom
		})
	})
	t.Run("InsideUpdate", func(t *testing.T) { testCancelInsideUpdate(t, h) })
	t.Run("ReaderAfterCancel", func(t *testing.T) { testCancelReader(t, h) })
}

func testCancelBefore(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	known := mustSessionPut(t, s.Session("allops"), content(81, 3*chunk+1), attachstore.Meta{})
	before := state(t, s, "allops")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, o := range allOps(s, known.ID, nil) {
		if err := o.call(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", o.name, err)
		}
	}
	called := false
	_ = s.Update(ctx, func(*attachstore.Tx) error { called = true; return nil })
	if called {
		t.Errorf("Update with a cancelled context ran its function")
	}
	checkUnchanged(t, "calls with a cancelled context", before, state(t, s, "allops"))
}

// cancelAfter yields r's bytes and calls cancel once n of them have been
// read, then goes on yielding: the writer must notice the context itself.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 && c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	if c.n > 0 {
		p = p[:min(len(p), c.n)]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

// streamPuts are the ways a stream gets in.
var streamPuts = []struct {
	name string
	put  func(ctx context.Context, s *attachstore.Store, r io.Reader) error
}{
	{"Store.PutReader", func(ctx context.Context, s *attachstore.Store, r io.Reader) error {
		_, err := s.PutReader(ctx, r, attachstore.Meta{})
		return err
	}},
	{"Session.PutReader", func(ctx context.Context, s *attachstore.Store, r io.Reader) error {
		_, err := s.Session("s").PutReader(ctx, r, attachstore.Meta{})
		return err
	}},
	{"Tx.PutReader", func(ctx context.Context, s *attachstore.Store, r io.Reader) error {
		return s.Update(ctx, func(tx *attachstore.Tx) error {
			_, err := tx.PutReader(ctx, r, attachstore.Meta{})
			return err
		})
	}},
	{"Tx.Session.PutReader", func(ctx context.Context, s *attachstore.Store, r io.Reader) error {
		return s.Update(ctx, func(tx *attachstore.Tx) error {
			_, err := tx.Session("s").PutReader(ctx, r, attachstore.Meta{})
			return err
		})
	}},
}

// testStreamFails puts streams that fail (by input, which returns the
// reader and the error the put must match) at several points, and checks
// that each put fails with that error and leaves the store as it was.
func testStreamFails(t *testing.T, h Harness, input func(data []byte, at int, cancel context.CancelFunc) (io.Reader, error)) {
	data := content(91, 6*chunk+3)
	s := h.Open(t, smallChunks)
	// Content that must survive every failed put.
	mustPut(t, s, content(92, 2*chunk+1), attachstore.Meta{Label: "kept"})
	mustSessionPut(t, s.Session("s"), content(93, chunk), attachstore.Meta{Label: "kept ref"})
	before := state(t, s, "s")
	chunks := chunkRows(t, s)
	// Several rounds: a cancelled transaction is rolled back by two racing
	// parties (the caller and database/sql), so one round may miss a bug.
	for round := range 3 {
		for _, at := range []int{0, 1, chunk, chunk + 1, 3 * chunk, len(data) - 1, len(data)} {
			for _, p := range streamPuts {
				ctx, cancel := context.WithCancel(t.Context())
				r, want := input(data, at, cancel)
				err := p.put(ctx, s, r)
				cancel()
				if !errors.Is(err, want) {
					t.Errorf("round %d: %s failing after %d of %d bytes = %v, want %v", round, p.name, at, len(data), err, want)
				}
			}
			after := state(t, s, "s")
			if after != before {
				t.Fatalf("round %d: failed puts (input failing after %d bytes) changed the store:\nbefore:\n%s\nafter:\n%s", round, at, before, after)
			}
			if n := chunkRows(t, s); n != chunks {
				t.Fatalf("round %d: %d chunk rows after failed puts (input failing after %d bytes), want %d", round, n, at, chunks)
			}
		}
	}
	if n := orphanChunks(t, s); n != 0 {
		t.Errorf("%d orphan chunk rows", n)
	}
	// The store works on.
	ref, err := s.Session("s").PutReader(t.Context(), readerOf(data), attachstore.Meta{})
	if err != nil {
		t.Fatalf("PutReader after the failed ones: %v", err)
	}
	if a, err := s.Session("s").Get(t.Context(), ref.ID); err != nil || !bytes.Equal(a.Data, data) {
		t.Fatalf("Get after the failed puts: %d bytes, %v", len(a.Data), err)
	}
}

func testCancelInsideUpdate(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	mustPut(t, s, []byte("kept"), attachstore.Meta{})
	before := state(t, s, "s")
	for round := range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		err := s.Update(ctx, func(tx *attachstore.Tx) error {
			if _, err := tx.Put(ctx, []byte("small"), attachstore.Meta{}); err != nil {
				return err
			}
			if _, err := tx.Session("s").Put(ctx, content(94, 2*chunk+1), attachstore.Meta{}); err != nil {
				return err
			}
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("round %d: Update whose context was cancelled before it returned = %v, want context.Canceled", round, err)
		}
		checkUnchanged(t, fmt.Sprintf("round %d: the cancelled Update", round), before, state(t, s, "s"))
	}
	if _, err := s.Put(t.Context(), []byte("after"), attachstore.Meta{}); err != nil {
		t.Errorf("Put after a cancelled Update: %v", err)
	}
}

func testCancelReader(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	ref := mustSessionPut(t, s.Session("s"), content(95, 3*chunk), attachstore.Meta{})
	for _, open := range []struct {
		name string
		fn   func(ctx context.Context) (*attachstore.Reader, error)
	}{
		{"NewReader", func(ctx context.Context) (*attachstore.Reader, error) { return s.NewReader(ctx, ref.ID) }},
		{"Session.NewReader", func(ctx context.Context) (*attachstore.Reader, error) {
			return s.Session("s").NewReader(ctx, ref.ID)
		}},
	} {
		ctx, cancel := context.WithCancel(t.Context())
		r, err := open.fn(ctx)
		if err != nil {
			t.Fatalf("%s: %v", open.name, err)
		}
		if _, err := io.ReadFull(r, make([]byte, chunk)); err != nil {
			t.Fatalf("%s: reading the first chunk: %v", open.name, err)
		}
		cancel()
		if _, err := io.ReadAll(r); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Read after its context was cancelled = %v, want context.Canceled", open.name, err)
		}
		r.Close()
	}
}
