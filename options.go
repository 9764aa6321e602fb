package attachstore

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Option configures Open.
type Option func(*options) error

type options struct {
	maxBlobSize  int64
	chunkSize    int
	synchronous  string
	busyTimeout  time.Duration
	pageSize     int
	readConns    int
	cacheSizeKiB int
	mmapSize     int64
	readOnly     bool
	now          func() time.Time
}

// Defaults.
const (
	// DefaultChunkSize is the size of the rows blob bytes are stored in, and
	// so the bound on the memory PutReader and NewReader use.
	DefaultChunkSize = 256 << 10
	MinChunkSize     = 4 << 10
	MaxChunkSize     = 64 << 20
)

func defaultOptions() options {
	return options{
		maxBlobSize: math.MaxInt64,
		chunkSize:   DefaultChunkSize,
		synchronous: "FULL",
		now:         time.Now,
	}
}

// WithMaxBlobSize refuses content larger than n bytes with ErrTooLarge,
// storing nothing. The default is no limit.
func WithMaxBlobSize(n int64) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("attachstore: max blob size %d is negative", n)
		}
		o.maxBlobSize = n
		return nil
	}
}

// WithChunkSize sets the size of the rows new content is stored in, from
// MinChunkSize to MaxChunkSize. Content already stored keeps its chunk size.
func WithChunkSize(n int) Option {
	return func(o *options) error {
		if n < MinChunkSize || n > MaxChunkSize {
			return fmt.Errorf("attachstore: chunk size %d: want %d to %d", n, MinChunkSize, MaxChunkSize)
		}
		o.chunkSize = n
		return nil
	}
}

// WithSynchronous sets SQLite's synchronous mode: "FULL" (the default: a
// committed transaction survives power loss), "EXTRA", "NORMAL" (survives a
// process crash; a power loss may roll back the last commits) or "OFF".
func WithSynchronous(mode string) Option {
	return func(o *options) error {
		m := strings.ToUpper(mode)
		switch m {
		case "OFF", "NORMAL", "FULL", "EXTRA":
			o.synchronous = m
			return nil
		}
		return fmt.Errorf("attachstore: synchronous mode %q: want OFF, NORMAL, FULL or EXTRA", mode)
	}
}

// WithBusyTimeout bounds each wait of SQLite's busy handler for a lock held
// by another process (default 5s). Write transactions retry past it until
// their context ends.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("attachstore: busy timeout %v must be positive", d)
		}
		o.busyTimeout = d
		return nil
	}
}

// WithPageSize sets the page size of a newly created database file (a power
// of two from 512 to 65536; default 16384). An existing file keeps its
// own. Smaller pages make small commits and Reclaim faster, and cold reads
// and large blobs slower; db.DefaultPageSize says by how much.
func WithPageSize(n int) Option {
	return func(o *options) error {
		if n < 512 || n > 65536 || n&(n-1) != 0 {
			return fmt.Errorf("attachstore: page size %d: want a power of two from 512 to 65536", n)
		}
		o.pageSize = n
		return nil
	}
}

// WithReadConns sets the number of read connections (default
// max(4, GOMAXPROCS)).
func WithReadConns(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("attachstore: read connections %d: want at least 1", n)
		}
		o.readConns = n
		return nil
	}
}

// WithCacheSize sets each connection's page cache, in KiB.
func WithCacheSize(kib int) Option {
	return func(o *options) error {
		if kib < 0 {
			return fmt.Errorf("attachstore: cache size %d is negative", kib)
		}
		o.cacheSizeKiB = kib
		return nil
	}
}

// WithMmapSize lets each read connection map up to n bytes of the
// database file into memory (PRAGMA mmap_size; default 0, off). Reads of
// mapped pages skip a system call and a copy, which helps warm random
// reads when n covers the whole file; page faults read ahead around each
// page, which costs cold random reads (bench W3/W4). SQLite caps n at its
// compile-time limit (2 GiB here).
func WithMmapSize(n int64) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("attachstore: mmap size %d is negative", n)
		}
		o.mmapSize = n
		return nil
	}
}

// WithReadOnly opens an existing store for reading only: every write
// returns ErrReadOnly. Use it for files this process may not write.
func WithReadOnly() Option {
	return func(o *options) error {
		o.readOnly = true
		return nil
	}
}

// WithClock sets the clock that stamps created, touched, intent and commit
// times, and that Reclaim measures Grace against. For tests.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("attachstore: nil clock")
		}
		o.now = now
		return nil
	}
}
