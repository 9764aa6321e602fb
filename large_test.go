package attachstore_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/internal/storetest"
)

// TestLargeBlobStreamsInBoundedHeap streams 2 GiB — twice SQLite's 1 GB
// value limit, and PostgreSQL's — into a durable store and back out, never
// holding it in memory: invariant 10, on each engine. It fails if the
// bytes do not hash to their id either way, or if the Go heap reaches
// 64 MiB at any sampled moment.
func TestLargeBlobStreamsInBoundedHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 2 GiB through a database")
	}
	t.Run("SQLite", func(t *testing.T) {
		// synchronous OFF: this test is about memory, not durability.
		testLargeBlob(t, openForTest(t, filepath.Join(t.TempDir(), "large.db"), attachstore.WithSync(attachstore.SyncOff)))
	})
	t.Run("Postgres", func(t *testing.T) {
		testLargeBlob(t, openForTest(t, storetest.PostgresSchema(t)))
	})
}

func testLargeBlob(t *testing.T, s *attachstore.Store) {
	const (
		size      = 2 << 30
		heapLimit = 64 << 20
	)
	ctx := t.Context()

	runtime.GC()
	heap := startHeapSampler(5 * time.Millisecond)
	defer heap.stop()

	start := time.Now()
	gen := newLargeGen(42, size)
	in := sha256.New()
	ref, err := s.PutReader(ctx, io.TeeReader(gen, in), attachstore.Meta{Label: "2GiB.bin"})
	if err != nil {
		t.Fatalf("PutReader(2 GiB): %v", err)
	}
	putTime := time.Since(start)
	if want := attachstore.ID(in.Sum(nil)); ref.ID != want || ref.Size != size {
		t.Fatalf("PutReader = %s size %d, want %s size %d", ref.ID, ref.Size, want, int64(size))
	}
	heap.sample()

	start = time.Now()
	r, err := s.NewReader(ctx, ref.ID)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	defer r.Close()
	out := sha256.New()
	n, err := io.Copy(out, r)
	if err != nil || n != size {
		t.Fatalf("reading back: %d bytes, %v; want %d", n, err, int64(size))
	}
	if got := attachstore.ID(out.Sum(nil)); got != ref.ID {
		t.Fatalf("the bytes read back hash to %s, want %s", got, ref.ID)
	}
	getTime := time.Since(start)

	// Seek back across the 1 GB mark to the last bytes generated.
	if _, err := r.Seek(-int64(len(gen.tail)), io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	tail, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(tail, gen.tail[:]) {
		t.Fatalf("the last %d bytes after Seek = %x, %v; want %x", len(gen.tail), tail, err, gen.tail)
	}

	maxAlloc, maxInuse, samples := heap.stop()
	t.Logf("2 GiB in %v (%.0f MiB/s), out %v (%.0f MiB/s); max HeapAlloc %.1f MiB, max HeapInuse %.1f MiB over %d samples",
		putTime.Round(time.Millisecond), float64(size)/(1<<20)/putTime.Seconds(),
		getTime.Round(time.Millisecond), float64(size)/(1<<20)/getTime.Seconds(),
		float64(maxAlloc)/(1<<20), float64(maxInuse)/(1<<20), samples)
	if maxInuse >= heapLimit || maxAlloc >= heapLimit {
		t.Errorf("the Go heap reached HeapAlloc %d, HeapInuse %d bytes; want under %d", maxAlloc, maxInuse, heapLimit)
	}
}

// largeGen yields n deterministic pseudo-random bytes without holding them,
// and remembers the last few.
type largeGen struct {
	rng  *rand.ChaCha8
	left int64
	tail [32]byte
}

func newLargeGen(seed byte, n int64) *largeGen {
	var key [32]byte
	key[0] = seed
	return &largeGen{rng: rand.NewChaCha8(key), left: n}
}

func (g *largeGen) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.left)]
	g.rng.Read(p)
	g.left -= int64(len(p))
	// Keep the last len(tail) bytes of the stream.
	if len(p) >= len(g.tail) {
		copy(g.tail[:], p[len(p)-len(g.tail):])
	} else {
		k := len(g.tail) - len(p)
		copy(g.tail[:], g.tail[len(p):])
		copy(g.tail[k:], p)
	}
	return len(p), nil
}

// heapSampler records the largest Go heap seen, sampling on a ticker and
// whenever sample is called.
type heapSampler struct {
	mu               sync.Mutex
	maxAlloc, maxUse uint64
	samples          int
	done             chan struct{}
	stopped          sync.WaitGroup
	once             sync.Once
}

func startHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{done: make(chan struct{})}
	h.stopped.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-tick.C:
				h.sample()
			}
		}
	})
	return h
}

func (h *heapSampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.maxAlloc = max(h.maxAlloc, ms.HeapAlloc)
	h.maxUse = max(h.maxUse, ms.HeapInuse)
	h.samples++
}

func (h *heapSampler) stop() (maxAlloc, maxInuse uint64, samples int) {
	h.once.Do(func() {
		close(h.done)
		h.stopped.Wait()
		h.sample()
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.maxAlloc, h.maxUse, h.samples
}

// TestLargePutReadsNothingBack puts 64 MiB, thirty-two times SQLite's
// default page cache, so that the cache spills pages to the WAL while the
// put runs. A page spilled and then changed again in the same transaction
// is rewritten in place in the WAL, and a frame rewritten in place makes
// the commit read back and checksum every frame after it: a blob row
// inserted first and renamed at the end made a 1 GiB PutReader read its
// whole gigabyte again. The test counts the bytes the put's own thread
// reads with read system calls (rchar in /proc/thread-self/io; the
// goroutine is locked to its thread, and SQLite runs on the calling
// thread) and allows an eighth of the blob, for each put path.
func TestLargePutReadsNothingBack(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts reads in /proc/thread-self/io")
	}
	const size = 64 << 20
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		put  func(s *attachstore.Store, r io.Reader) (attachstore.Ref, error)
	}{
		{"PutReader", func(s *attachstore.Store, r io.Reader) (attachstore.Ref, error) {
			return s.PutReader(ctx, r, attachstore.Meta{})
		}},
		{"PutBytes", func(s *attachstore.Store, r io.Reader) (attachstore.Ref, error) {
			data, err := io.ReadAll(r)
			if err != nil {
				return attachstore.Ref{}, err
			}
			return s.Put(ctx, data, attachstore.Meta{})
		}},
		{"SessionPutInUpdate", func(s *attachstore.Store, r io.Reader) (ref attachstore.Ref, err error) {
			data, err := io.ReadAll(r)
			if err != nil {
				return attachstore.Ref{}, err
			}
			err = s.Update(ctx, func(tx *attachstore.Tx) error {
				ref, err = tx.Session("chat").Put(ctx, data, attachstore.Meta{})
				return err
			})
			return ref, err
		}},
		{"SessionPutReaderInUpdate", func(s *attachstore.Store, r io.Reader) (ref attachstore.Ref, err error) {
			err = s.Update(ctx, func(tx *attachstore.Tx) error {
				ref, err = tx.Session("chat").PutReader(ctx, r, attachstore.Meta{})
				return err
			})
			return ref, err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openForTest(t, filepath.Join(t.TempDir(), "stream.db"))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			before := threadReadBytes(t)
			ref, err := tc.put(s, newLargeGen(7, size))
			read := threadReadBytes(t) - before
			if err != nil || ref.Size != size {
				t.Fatalf("put = size %d, %v; want size %d", ref.Size, err, size)
			}
			t.Logf("a put of %d MiB read %d KiB", size>>20, read>>10)
			if read > size/8 {
				t.Errorf("a put of %d MiB read %d MiB back: a WAL frame was rewritten in place", size>>20, read>>20)
			}
		})
	}
}

// threadReadBytes is rchar of the calling thread: bytes it read with read
// system calls, from the page cache or not.
func threadReadBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/io")
	if err != nil {
		t.Skipf("no per-thread I/O counts: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no rchar in /proc/thread-self/io:\n%s", b)
	return 0
}
