package main

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// pattern is random bytes shared by every generated blob; stamps make each
// blob, and each 4 KiB of it, unique, so no system can win by deduplicating
// chunks, and generating test data costs one memcpy.
var pattern = func() []byte {
	b := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{'a', 't', 't', 'a', 'c', 'h'}).Read(b)
	return b
}()

const stampEvery = 4096

var tags atomic.Uint64

// newTag returns a tag no other caller in this process gets: blobs made
// with different tags never collide.
func newTag() uint64 { return tags.Add(1) }

// makeBlob returns size bytes unique to (tag, i); size must be at most 1 MiB.
func makeBlob(tag, i uint64, size int) []byte {
	b := make([]byte, size)
	copy(b, pattern)
	for off := 0; off < size; off += stampEvery {
		stampAt(b, off, tag, i, uint64(off))
	}
	return b
}

// stampAt writes the 24-byte stamp (tag, i, pos) at b[off:], cut at len(b).
func stampAt(b []byte, off int, tag, i, pos uint64) {
	var s [24]byte
	binary.LittleEndian.PutUint64(s[0:], tag)
	binary.LittleEndian.PutUint64(s[8:], i)
	binary.LittleEndian.PutUint64(s[16:], pos)
	copy(b[off:], s[:])
}

// patternReader yields n bytes unique to its tag at memcpy speed, for
// streaming gigabyte blobs without holding them in memory.
type patternReader struct {
	tag, off, n uint64
}

func newPatternReader(n int64) *patternReader {
	return &patternReader{tag: newTag(), n: uint64(n)}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if rem := r.n - r.off; uint64(len(p)) > rem {
		p = p[:rem]
	}
	start := r.off
	for filled := 0; filled < len(p); {
		pos := (start + uint64(filled)) % uint64(len(pattern))
		filled += copy(p[filled:], pattern[pos:])
	}
	// Stamps whose 24 bytes overlap [start, end): write the overlapping part.
	end := start + uint64(len(p))
	first := start / stampEvery * stampEvery
	for pos := first; pos < end; pos += stampEvery {
		var s [24]byte
		binary.LittleEndian.PutUint64(s[0:], r.tag)
		binary.LittleEndian.PutUint64(s[8:], ^uint64(0))
		binary.LittleEndian.PutUint64(s[16:], pos)
		for k := uint64(0); k < 24; k++ {
			if abs := pos + k; abs >= start && abs < end {
				p[abs-start] = s[k]
			}
		}
	}
	r.off = end
	return len(p), nil
}

// pacedReader yields r's bytes at most 64 KiB a call, and each call takes
// as long as its bytes at rate bytes a second, however long the caller
// took between calls: a source that makes bytes only when asked, such as a
// decompressor, or a pipe fed by a goroutine. W5's -w5-source-mbps, for a
// put whose source is slower than the store.
type pacedReader struct {
	r    io.Reader
	rate float64
}

func (p *pacedReader) Read(b []byte) (int, error) {
	start := time.Now()
	n, err := p.r.Read(b[:min(len(b), 64<<10)])
	// Spin: a sleep this short oversleeps by a millisecond here, and a
	// source that makes bytes on demand keeps a core busy doing it.
	for due := start.Add(time.Duration(float64(n) / p.rate * float64(time.Second))); time.Now().Before(due); {
	}
	return n, err
}
