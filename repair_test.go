package attachstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

// gateReader yields r's bytes, and at the end of them waits until every
// reader sharing the WaitGroup has reached the end of its own (or ctx
// ends): the Repairs reading them have then all written their chunks and
// none has yet looked for the blob.
type gateReader struct {
	ctx    context.Context
	r      io.Reader
	all    *sync.WaitGroup
	passed bool
}

func (g *gateReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if errors.Is(err, io.EOF) && !g.passed {
		g.passed = true
		g.all.Done()
		done := make(chan struct{})
		go func() { g.all.Wait(); close(done) }()
		select {
		case <-done:
		case <-g.ctx.Done():
			return n, g.ctx.Err()
		}
	}
	return n, err
}

// TestRepairRacesOnPostgres: on PostgreSQL writers run in parallel, so two
// Repairs of one blob can both have streamed their chunks before either
// looks at the blob. The first rewrites it; the second waits for the
// first's lock on the blob's row, finds it intact and writes nothing.
func TestRepairRacesOnPostgres(t *testing.T) {
	u := newPostgresSchema(t)
	const chunk = attachstore.MinChunkSize
	s := openForTest(t, u, attachstore.WithChunkSize(chunk))
	ctx := t.Context()
	data := make([]byte, 3*chunk+5)
	rand.Read(data)
	ss := s.Session("chat")
	ref, err := ss.Put(ctx, data, attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ss.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		_, err := tx.SQL().ExecContext(ctx, `DELETE FROM attachstore_chunks WHERE seq = 1
			AND blob_pk = (SELECT pk FROM attachstore_blobs WHERE id = $1)`, ref.ID[:])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	var (
		all  sync.WaitGroup
		done sync.WaitGroup
	)
	all.Add(n)
	for range n {
		done.Go(func() {
			id, err := s.Repair(ctx, &gateReader{ctx: ctx, r: bytes.NewReader(data), all: &all})
			if err != nil || id != ref.ID {
				t.Errorf("Repair racing %d others = %s, %v; want %s, nil", n-1, id, err, ref.ID)
			}
		})
	}
	done.Wait()
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Errorf("Verify after racing Repairs = %+v, %v; want OK", rep, err)
	}
	var chunks int
	err = s.View(ctx, func(tx *attachstore.Tx) error {
		return tx.SQL().QueryRowContext(ctx, `SELECT count(*) FROM attachstore_chunks`).Scan(&chunks)
	})
	if err != nil || chunks != 4 {
		t.Errorf("%d chunk rows after racing Repairs (%v), want the blob's 4", chunks, err)
	}
	if a, err := ss.Get(ctx, ref.ID); err != nil || !bytes.Equal(a.Data, data) {
		t.Errorf("Session.Get after racing Repairs = %d bytes, %v", len(a.Data), err)
	}
}

// TestRepairLargeBlobInBoundedHeap repairs a 256 MiB blob, a chunk of
// which was damaged, from a stream: Repair never holds the blob in memory
// (invariant 10), though it learns which blob the bytes belong to only at
// their end. It fails if the Go heap reaches 64 MiB at a sampled moment.
func TestRepairLargeBlobInBoundedHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 256 MiB through a database twice")
	}
	const (
		size      = 256 << 20
		heapLimit = 64 << 20
	)
	ctx := t.Context()
	// synchronous OFF: this test is about memory, not durability.
	s := openForTest(t, filepath.Join(t.TempDir(), "large.db"), attachstore.WithSynchronous("OFF"))
	ref, err := s.PutReader(ctx, newLargeGen(7, size), attachstore.Meta{Label: "large.bin"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		_, err := tx.SQL().ExecContext(ctx, `UPDATE attachstore_chunks SET data = zeroblob(length(data))
			WHERE seq = 1 AND blob_pk = (SELECT pk FROM attachstore_blobs WHERE id = ?)`, ref.ID[:])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	heap := startHeapSampler(5 * time.Millisecond)
	defer heap.stop()
	start := time.Now()
	id, err := s.Repair(ctx, newLargeGen(7, size))
	took := time.Since(start)
	maxAlloc, maxInuse, samples := heap.stop()
	if err != nil || id != ref.ID {
		t.Fatalf("Repair(256 MiB) = %s, %v; want %s, nil", id, err, ref.ID)
	}
	t.Logf("repaired 256 MiB in %v; max HeapAlloc %.1f MiB, max HeapInuse %.1f MiB over %d samples",
		took.Round(time.Millisecond), float64(maxAlloc)/(1<<20), float64(maxInuse)/(1<<20), samples)
	if maxInuse >= heapLimit || maxAlloc >= heapLimit {
		t.Errorf("the Go heap reached HeapAlloc %d, HeapInuse %d bytes; want under %d", maxAlloc, maxInuse, heapLimit)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Errorf("Verify after the repair = %+v, %v; want OK", rep, err)
	}
}
