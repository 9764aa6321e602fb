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

// check validates the options together, once, after every Option ran.
func (o *options) check() error {
	var bad []string
	if o.maxBlobSize < 0 {
		bad = append(bad, fmt.Sprintf("max blob size %d is negative", o.maxBlobSize))
	}
	if o.chunkSize < MinChunkSize || o.chunkSize > MaxChunkSize {
		bad = append(bad, fmt.Sprintf("chunk size %d: want %d to %d", o.chunkSize, MinChunkSize, MaxChunkSize))
	}
	if o.sync < SyncFull || o.sync > SyncOff {
		bad = append(bad, fmt.Sprintf("sync mode %d: want SyncFull, SyncNormal or SyncOff", o.sync))
	}
	if o.busyTimeout <= 0 {
		bad = append(bad, fmt.Sprintf("busy timeout %v must be positive", o.busyTimeout))
	}
	if n := o.tuning.PageSize; n != 0 && (n < 512 || n > 65536 || n&(n-1) != 0) {
		bad = append(bad, fmt.Sprintf("page size %d: want a power of two from 512 to 65536", n))
	}
	if o.tuning.CacheSizeKiB < 0 {
		bad = append(bad, fmt.Sprintf("cache size %d KiB is negative", o.tuning.CacheSizeKiB))
	}
	if o.diskReserve < 0 {
		bad = append(bad, fmt.Sprintf("disk reserve %d is negative", o.diskReserve))
	}
	if o.now == nil {
		bad = append(bad, "nil clock")
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
// SyncFull). A PostgreSQL server's durability is its own (its
// synchronous_commit setting).
func WithSync(s Sync) Option {
	return func(o *options) { o.sync = s }
}

// WithBusyTimeout bounds each wait of SQLite's busy handler for a lock held
// by another process (default 5s). Write transactions keep trying past it
// until their context ends.
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
// returns ErrReadOnly, and a store in a file reads it on connections
// SQLite opens read-only, so no SQL, the host's through Tx.SQL included,
// can change the file: its bytes are the same after Close as before Open,
// unless another process wrote them meanwhile. A file that attachstore
// never wrote is ErrNotAStore; with ":memory:", Open returns
// ErrInvalidOption.
//
// What it may leave beside the file is SQLite's to manage: a read-only
// connection to a WAL-mode file creates the -shm file (and an empty -wal)
// where they are missing, and can never remove them, nor copy another
// writer's WAL back into the file, even as the file's last connection;
// the next writable connection to close last does both. Where no
// connection has the file open and this process cannot write it, or
// cannot create files beside it (a read-only directory or filesystem),
// the store opens the file immutable instead: it creates nothing beside
// it, and SQLite assumes nothing writes the file while the store is open,
// so open a file that way only where nothing does (read-only media, a
// copy). Where a WAL that still holds commits is there and the -shm file
// cannot be created, Open returns ErrReadOnly: an immutable read would not
// see those commits.
//
// On PostgreSQL, attachstore refuses its own writes and reads in
// read-only transactions, but the server lets a session's SQL change
// that (SET, COMMIT): the host's SQL through Tx.SQL is bounded by the
// role's privileges, so connect as a role that may only read for the
// same guarantee as a file's.
func WithReadOnly() Option {
	return func(o *options) { o.readOnly = true }
}

// WithExisting makes Open open only an existing store, for writing unless
// WithReadOnly: a missing file is an error that matches fs.ErrNotExist,
// and a database attachstore never wrote (another program's, or an empty
// file; on PostgreSQL, a schema without attachstore's tables) is
// ErrNotAStore; neither is created, adopted or changed. A tool that must
// not create a store by mistake, as a typo in a path would, opens with it.
func WithExisting() Option {
	return func(o *options) { o.existing = true }
}

// WithDiskReserve sets the free disk space, in bytes, that puts of new
// content leave on the filesystem holding a SQLite store (default
// DefaultDiskReserve), so that Discard, DropSession and Reclaim, which
// write too, can still run and free space on a disk that is otherwise
// full. A Put, PutReader or Session put whose content would take the disk
// below it returns ErrFull and stores nothing; a stream is refused
// part-way, as soon as its bytes so far would. A put of content stored
// already writes almost nothing and is not refused. 0 turns the check
// off: puts then run until SQLite itself finds the disk full. The check
// does nothing for an Ephemeral or PostgreSQL store (the server's disk is
// not visible to the client; its disk_full error is ErrFull).
func WithDiskReserve(n int64) Option {
	return func(o *options) { o.diskReserve = n }
}

// WithClock sets the clock that stamps created, touched, intent and commit
// times, and that Reclaim measures Grace and holds against. For tests.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}
