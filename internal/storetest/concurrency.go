package storetest

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

// testConcurrency covers concurrent writers in one Store and across Store
// handles on one database: every write succeeds (writers wait for each
// other; no "database is locked" reaches the caller) and nothing is lost.
func testConcurrency(t *testing.T, h Harness) {
	t.Run("EightGoroutines", func(t *testing.T) {
		s := h.Open(t, smallChunks)
		hammer(t, []*attachstore.Store{s}, 8, 15, true)
	})
	t.Run("TwoHandles", func(t *testing.T) {
		needReopen(t, h)
		a := h.Open(t, smallChunks)
		b := reopen(t, h, a, smallChunks)
		hammer(t, []*attachstore.Store{a, b}, 8, 15, true)
	})
	// A busy timeout far shorter than a write makes the database report
	// "busy" between handles, which a write must wait out, not return
	// (WithBusyTimeout promises that for writes; reads are checked after).
	t.Run("TwoHandlesShortBusyTimeout", func(t *testing.T) {
		needReopen(t, h)
		a := h.Open(t, smallChunks, attachstore.WithBusyTimeout(time.Millisecond))
		b := reopen(t, h, a, smallChunks, attachstore.WithBusyTimeout(time.Millisecond))
		hammer(t, []*attachstore.Store{a, b}, 8, 15, false)
	})
	t.Run("OpenWhileWriting", func(t *testing.T) {
		needReopen(t, h)
		a := h.Open(t, smallChunks)
		errs := make(chan error, 100)
		stop := make(chan struct{})
		var writer, openers sync.WaitGroup
		writer.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := a.Session("w").PutReader(t.Context(), readerOf(content(uint64(i), 3*chunk)), attachstore.Meta{}); err != nil {
					errs <- fmt.Errorf("writer: %w", err)
					return
				}
			}
		})
		for i := range 4 {
			openers.Go(func() {
				for j := range 5 {
					s, err := h.Reopen(t, a, smallChunks)
					if err != nil {
						errs <- fmt.Errorf("opener %d, open %d: %w", i, j, err)
						return
					}
					if _, err := s.Put(t.Context(), fmt.Appendf(nil, "opener %d %d", i, j), attachstore.Meta{}); err != nil {
						errs <- fmt.Errorf("opener %d, put %d: %w", i, j, err)
					}
					if err := s.Close(); err != nil {
						errs <- fmt.Errorf("opener %d, close %d: %w", i, j, err)
					}
				}
			})
		}
		within(t, 2*time.Minute, "opening handles while another writes", openers.Wait)
		close(stop)
		writer.Wait()
		close(errs)
		for err := range errs {
			t.Error(lockedHint(err))
		}
		if n := len(listAll(t, a)); n < 20 {
			t.Errorf("List yielded %d blobs, want at least the 20 the openers put", n)
		}
	})
}

func lockedHint(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "locked") || strings.Contains(msg, "busy") {
		return msg + ` (a "locked"/"busy" error reached the caller)`
	}
	return msg
}

// hammer runs workers goroutines spread over stores, each doing rounds of
// Put, PutReader, Session.Put + Commit (and reads, if readWhileWriting),
// and checks that every call succeeded and every store sees everything.
func hammer(t *testing.T, stores []*attachstore.Store, workers, rounds int, readWhileWriting bool) {
	t.Helper()
	shared := content(100, chunk+1) // every worker puts this too
	var (
		mu      sync.Mutex
		errs    []string
		written = map[attachstore.ID][]byte{}
		byRef   = map[string][]attachstore.ID{} // session -> ids it holds
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			<-start
			ss := s.Session(fmt.Sprintf("worker-%d", w))
			for i := range rounds {
				small := fmt.Appendf(nil, "worker %d round %d", w, i)
				big := content(uint64(1000*w+i), 2*chunk+w)
				r1, err := s.Put(t.Context(), small, attachstore.Meta{})
				if err != nil {
					fail("worker %d round %d: Put: %s", w, i, lockedHint(err))
					return
				}
				if _, err := s.Put(t.Context(), shared, attachstore.Meta{}); err != nil {
					fail("worker %d round %d: Put(shared): %s", w, i, lockedHint(err))
					return
				}
				r2, err := ss.PutReader(t.Context(), readerOf(big), attachstore.Meta{})
				if err != nil {
					fail("worker %d round %d: Session.PutReader: %s", w, i, lockedHint(err))
					return
				}
				if err := ss.Commit(t.Context(), r2.ID); err != nil {
					fail("worker %d round %d: Commit: %s", w, i, lockedHint(err))
					return
				}
				// Otherwise everything is read below, once the writers are done.
				if readWhileWriting {
					if a, err := ss.Get(t.Context(), r2.ID); err != nil || !bytes.Equal(a.Data, big) {
						fail("worker %d round %d: Session.Get = %d bytes, %v", w, i, len(a.Data), err)
						return
					}
					if a, err := s.Get(t.Context(), r1.ID); err != nil || !bytes.Equal(a.Data, small) {
						fail("worker %d round %d: Get = %q, %v", w, i, a.Data, err)
						return
					}
				}
				mu.Lock()
				written[r1.ID] = small
				written[r2.ID] = big
				byRef[ss.ID()] = append(byRef[ss.ID()], r2.ID)
				mu.Unlock()
			}
		})
	}
	close(start)
	within(t, 2*time.Minute, "the concurrent writers", wg.Wait)
	for _, e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		return
	}
	written[attachstore.ContentID(shared)] = shared
	for i, s := range stores {
		if n := len(listAll(t, s)); n != len(written) {
			t.Errorf("store handle %d: List yielded %d blobs, want %d", i, n, len(written))
		}
		for id, data := range written {
			if a, err := s.Get(t.Context(), id); err != nil || !bytes.Equal(a.Data, data) {
				t.Errorf("store handle %d: Get(%s) = %d bytes, %v", i, id, len(a.Data), err)
			}
		}
		for session, held := range byRef {
			es := refs(t, s, session)
			if len(es) != len(held) {
				t.Errorf("store handle %d: session %s holds %d refs, want %d", i, session, len(es), len(held))
			}
			for _, e := range es {
				if !e.Committed() {
					t.Errorf("store handle %d: session %s: %s is not committed", i, session, e.ID)
				}
			}
		}
	}
}
