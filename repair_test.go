package attachstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/internal/storetest"
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
	u := storetest.PostgresSchema(t)
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
	s := openForTest(t, filepath.Join(t.TempDir(), "large.db"), attachstore.WithSync(attachstore.SyncOff))
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

// TestRepairLosesADeadlockCleanly: on PostgreSQL a transaction that loses
// a deadlock runs again, but Repair's input was read by the attempt that
// lost. A host transaction here locks a blob's chunks, Repair locks the
// blob and waits for the chunks, then the host waits for the blob: the
// server aborts Repair, which waited first. Repair must then say it lost
// (ErrConflict) and leave the blob as it was, not hash what is left of
// its input (nothing) and answer for another blob.
func TestRepairLosesADeadlockCleanly(t *testing.T) {
	u := storetest.PostgresSchema(t)
	const chunk = attachstore.MinChunkSize
	s := openForTest(t, u, attachstore.WithChunkSize(chunk))
	watch, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	ctx := t.Context()
	data := make([]byte, 3*chunk+5)
	rand.Read(data)
	ref, err := s.Session("chat").Put(ctx, data, attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	const byID = `(SELECT pk FROM attachstore_blobs WHERE id = $1)`
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		_, err := tx.SQL().ExecContext(ctx, `DELETE FROM attachstore_chunks WHERE seq = 1 AND blob_pk = `+byID, ref.ID[:])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	locked, repairWaits := make(chan struct{}), make(chan struct{})
	var host sync.WaitGroup
	hostLost := false
	host.Go(func() {
		first := true
		err := s.Update(ctx, func(tx *attachstore.Tx) error {
			if !first {
				hostLost = true
				return nil // the server chose this one after all
			}
			first = false
			if _, err := tx.SQL().ExecContext(ctx, `SELECT 1 FROM attachstore_chunks WHERE blob_pk = `+byID+` FOR UPDATE`, ref.ID[:]); err != nil {
				return err
			}
			close(locked)
			select {
			case <-repairWaits:
			case <-ctx.Done():
				return ctx.Err()
			}
			_, err := tx.SQL().ExecContext(ctx, `UPDATE attachstore_blobs SET touched_at = touched_at WHERE id = $1`, ref.ID[:])
			return err
		})
		if err != nil {
			t.Errorf("the host's transaction: %v", err)
		}
	})
	<-locked
	wctx, stopWatching := context.WithCancel(ctx)
	go func() {
		// Repair waits for the chunks' lock once it has locked the blob;
		// a Repair that returned without waiting lets the host go on too.
		defer close(repairWaits)
		for {
			var n int
			err := watch.QueryRowContext(wctx, `SELECT count(*) FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM attachstore_chunks%'`).Scan(&n)
			if err != nil || n > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	_, err = s.Repair(ctx, bytes.NewReader(data))
	stopWatching()
	host.Wait()
	if hostLost {
		// The server aborts the transaction whose deadlock check runs
		// first: nearly always Repair's, which waited first, but on a
		// loaded machine it may be the host's, and then this run proves
		// nothing.
		t.Skip("the server aborted the host's transaction instead of Repair's")
	}
	if !errors.Is(err, attachstore.ErrConflict) {
		t.Fatalf("Repair that lost a deadlock = %v, want ErrConflict", err)
	}
	rep, verr := s.Verify(ctx)
	if verr != nil || len(rep.Corrupt) != 1 || rep.Corrupt[0] != ref.ID {
		t.Errorf("Verify after the lost Repair = %+v, %v; want %s still corrupt", rep, verr, ref.ID)
	}
	if id, err := s.Repair(ctx, bytes.NewReader(data)); err != nil || id != ref.ID {
		t.Errorf("Repair once the race is over = %s, %v; want %s, nil", id, err, ref.ID)
	}
}

// TestRepairChunkSizeChanged repairs blobs on SQLite, where a blob's chunks
// take the keys from its pk on, with the store reopened at another chunk
// size since the put: chunks that fit before the next blob move to the
// blob's pk; more chunks than that give the blob the new chunks' pk. Either
// way the blob reads back whole, through the Store and through a session's
// ref, and the store verifies.
func TestRepairChunkSizeChanged(t *testing.T) {
	for _, tc := range []struct {
		name          string
		put, repair   int // chunk sizes
		wantSamePlace bool
	}{
		{"FewerChunks", 2 * attachstore.MinChunkSize, 4 * attachstore.MinChunkSize, true},
		{"MoreChunks", 2 * attachstore.MinChunkSize, attachstore.MinChunkSize, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "a.db")
			s, err := attachstore.Open(ctx, path, attachstore.WithChunkSize(tc.put))
			if err != nil {
				t.Fatal(err)
			}
			data := bytes.Repeat([]byte("repair me "), 4*attachstore.MinChunkSize/10*2)
			ref, err := s.Session("chat").Put(ctx, data, attachstore.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			// A blob after it, so that its chunks have no room to grow.
			if _, err := s.Put(ctx, []byte("the next blob"), attachstore.Meta{}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			db := rawSQLite(t, path)
			pkOf := func() (pk int64) {
				t.Helper()
				if err := db.QueryRow(`SELECT pk FROM attachstore_blobs WHERE id = ?`, ref.ID[:]).Scan(&pk); err != nil {
					t.Fatal(err)
				}
				return pk
			}
			before := pkOf()
			if _, err := db.Exec(`UPDATE attachstore_chunks SET data = zeroblob(length(data)) WHERE blob_pk = ? AND seq = 1`, before); err != nil {
				t.Fatal(err)
			}
			s = openForTest(t, path, attachstore.WithChunkSize(tc.repair))
			if id, err := s.Repair(ctx, bytes.NewReader(data)); err != nil || id != ref.ID {
				t.Fatalf("Repair = %s, %v; want %s", id, err, ref.ID)
			}
			if same := pkOf() == before; same != tc.wantSamePlace {
				t.Errorf("the blob kept its pk: %v, want %v", same, tc.wantSamePlace)
			}
			for what, get := range map[string]func() (attachstore.Attachment, error){
				"Get":         func() (attachstore.Attachment, error) { return s.Get(ctx, ref.ID) },
				"Session.Get": func() (attachstore.Attachment, error) { return s.Session("chat").Get(ctx, ref.ID) },
			} {
				if a, err := get(); err != nil || !bytes.Equal(a.Data, data) {
					t.Errorf("%s after Repair: %d bytes, %v; want the %d put", what, len(a.Data), err, len(data))
				}
			}
			if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
				t.Errorf("Verify after Repair = %+v, %v", rep, err)
			}
		})
	}
}
