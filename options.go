package attachstore

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Option configures Open.
type Option func(*options)

type options struct {
	maxBlobSize int64
	chunkSize   int
	sync        Sync
	busyTimeout time.Duration
	tuning      Tuning
	readOnly    bool
	existing    bool
	now         func() time.Time
	diskReserve int64
	// diskDir is the directory whose filesystem puts measure; set by
	// Open, "" where nothing is measured (see room).
	diskDir string
}

// Chunk sizes.
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
		busyTimeout: 5 * time.Second,
		now:         time.Now,
		diskReserve: DefaultDiskReserve,
	}
}

// check validates the options together, once, after every Option ran,
// and names every problem.
func (o *options) check() error {
	pageSize := o.tuning.PageSize
	var bad []string
	for _, c := range []struct {
		bad bool
		msg string
	}{
		{o.maxBlobSize < 0, fmt.Sprintf("max blob size %d is negative", o.maxBlobSize)},
		{o.chunkSize < MinChunkSize || o.chunkSize > MaxChunkSize,
			fmt.Sprintf("chunk size %d: want %d to %d", o.chunkSize, MinChunkSize, MaxChunkSize)},
		{o.sync < SyncFull || o.sync > SyncOff, fmt.Sprintf("sync mode %d: want SyncFull, SyncNormal or SyncOff", o.sync)},
		{o.busyTimeout <= 0, fmt.Sprintf("busy timeout %v must be positive", o.busyTimeout)},
		{pageSize != 0 && (pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0),
			fmt.Sprintf("page size %d: want a power of two from 512 to 65536", pageSize)},
		{o.tuning.CacheSizeKiB < 0, fmt.Sprintf("cache size %d KiB is negative", o.tuning.CacheSizeKiB)},
		{o.diskReserve < 0, fmt.Sprintf("disk reserve %d is negative", o.diskReserve)},
		{o.now == nil, "nil clock"},
	} {
		if c.bad {
			bad = append(bad, c.msg)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidOption, strings.Join(bad, "; "))
	}
	return nil
}

// WithMaxBlobSize refuses content larger than n bytes with ErrTooLarge,
// storing nothing. The default is no limit.
func WithMaxBlobSize(n int64) Option {
	return func(o *options) { o.maxBlobSize = n }
}

// WithChunkSize sets the size of the rows new content is stored in, from
// MinChunkSize to MaxChunkSize. Content already stored keeps its chunk size.
func WithChunkSize(n int) Option {
	return func(o *options) { o.chunkSize = n }
}

// Sync says how far a SQLite store makes each commit durable (SQLite's
// synchronous mode).
type Sync int

const (
	// SyncFull, the default: a commit, once it returns, survives a crash
	// of the process, the system, or the power.
	SyncFull Sync = iota
	// SyncNormal: a commit survives a crash of the process; a crash of the
	// system or the power may roll back the last commits, never corrupt
	// the file. Commits wait for no disk flush.
	SyncNormal
	// SyncOff: SQLite never flushes the disk; a crash of the system or
	// the power may corrupt the file. For tests and scratch stores.
	SyncOff
)

func (s Sync) pragma() string { return [...]string{"FULL", "NORMAL", "OFF"}[s] }

// WithSync sets how far a SQLite store makes each commit durable (default
// SyncFull); PostgreSQL's is the server's own.
func WithSync(s Sync) Option {
	return func(o *options) { o.sync = s }
}

// WithBusyTimeout bounds each wait of SQLite's busy handler for another
// process's lock (default 5s); write transactions retry until ctx ends.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busyTimeout = d }
}

// Tuning holds SQLite settings that only a benchmark or an unusual
// deployment needs; the zero value of each field keeps the default.
type Tuning struct {
	// PageSize is the page size of a newly created file: a power of two
	// from 512 to 65536 (default 16384). An existing file keeps its own.
	PageSize int
	// CacheSizeKiB is each connection's page cache, in KiB (default
	// SQLite's, about 2 MiB).
	CacheSizeKiB int
}

// WithTuning sets the SQLite settings in t.
func WithTuning(t Tuning) Option {
	return func(o *options) { o.tuning = t }
}

// WithReadOnly opens an existing store for reading only. Every write
// returns ErrReadOnly, and a file is read on connections SQLite opens
// read-only, so no SQL, the host's through Tx.SQL included, can change it.
// A file attachstore never wrote is ErrNotAStore; ":memory:" is
// ErrInvalidOption.
//
// A read-only connection to a WAL-mode file may create the -shm file (and
// an empty -wal) and never removes them; the next writable connection to
// close last does. Where this process can neither write the file nor
// create files beside it, and no connection has it open, the file is
// opened immutable: nothing is created, and SQLite assumes nothing writes
// the file meanwhile, so do that only where nothing does (read-only media,
// a copy). A WAL that still holds commits beside a -shm file that cannot
// be created is ErrReadOnly: an immutable read would miss them.
//
// On PostgreSQL, attachstore's own reads run in read-only transactions,
// but the host's SQL could leave them (SET, COMMIT): connect as a role
// that may only read for the same guarantee as a file's.
func WithReadOnly() Option {
	return func(o *options) { o.readOnly = true }
}

// WithExisting makes Open open only an existing store, for writing unless
// WithReadOnly: a missing file matches fs.ErrNotExist, and a database
// attachstore never wrote is ErrNotAStore; neither is created or changed.
// A tool that must not create a store by mistake (a typo in a path) uses it.
func WithExisting() Option {
	return func(o *options) { o.existing = true }
}

// WithDiskReserve sets the free disk space, in bytes, that puts of new
// content leave on a SQLite store's filesystem (default
// DefaultDiskReserve), so that Discard, DropSession and Reclaim can still
// run and free space on an otherwise full disk. A put whose new content
// would take the disk below it returns ErrFull and stores nothing (a
// stream as soon as its bytes so far would). 0 turns the check off. It
// does nothing for an Ephemeral or PostgreSQL store.
func WithDiskReserve(n int64) Option {
	return func(o *options) { o.diskReserve = n }
}

// WithClock sets the clock that stamps created, touched, intent and commit
// times, and that Reclaim measures Grace and holds against. For tests.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}
