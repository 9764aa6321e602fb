package attachstore

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/attachstore/attachstore/db"
)

// DefaultDiskReserve is WithDiskReserve's default, in bytes: 32 MiB.
// Freeing space writes too (Discard, DropSession, Reclaim and its vacuum
// append to the WAL first), and 32 MiB covers the WAL any one of them
// writes (a DropSession of 100,000 refs about 20 MB), with room for the
// pages a put's estimate does not count.
const DefaultDiskReserve = 32 << 20

// walFrameHeader is the bytes SQLite writes before each page in the WAL.
const walFrameHeader = 24

// diskFree reports the bytes of the filesystem holding dir that this
// process may still write, or an error when the system cannot say. A
// variable so that tests can simulate a full disk everywhere.
var diskFree = statfsFree

// errNoStatfs: this system has no free-space query that attachstore knows.
var errNoStatfs = errors.New("free disk space cannot be measured on this system")

// room is how much new content one put may still write before it would eat
// into the disk reserve. It measures the disk when the put first writes new
// content (a stream, whose id is known only at its end, counts as new), and
// then counts the put's own bytes against that, so that a stream is
// refused part-way through without a system call per chunk.
type room struct {
	tx       *Tx
	measured bool
	off      bool   // nothing to measure, or the system cannot
	free     uint64 // the filesystem's free space when measured
	// fast is the budget measured without asking SQLite: the free space,
	// less the reserve, the WAL (every page it holds may still have to be
	// copied into the file) and the page cache (pages this transaction
	// wrote that are in neither yet). It does unless the disk is nearly
	// full.
	fast int64
	// exact: fast did not do, and measureExact set budget, base and
	// freePages.
	exact                   bool
	budget, base, freePages int64
	written                 int64 // the size the last fits allowed
}

// cacheBound bounds the pages a transaction has written that are neither
// in the WAL nor in the file: SQLite spills its page cache to the WAL
// when the cache is full.
func (s *Store) cacheBound() int64 {
	return max(8<<20, 2*int64(s.opts.tuning.CacheSizeKiB)<<10)
}

// fits returns ErrFull when writing size bytes of new content, in total
// for this put, would leave the filesystem with less than the disk
// reserve. Memory, PostgreSQL and read-only stores, a reserve of 0, and a
// system that cannot report free space are never refused here.
//
// A put costs the disk twice: its pages are appended to the WAL (a page
// and a 24-byte header each), and the checkpoint copies them into the
// file, which grows by every page its free pages do not cover. WAL frames
// count as new space even where they overwrite an older WAL's (the
// estimate errs on the side of refusing), and pages no checkpoint has
// copied yet are taken off the free space first.
func (r *room) fits(ctx context.Context, size int64) error {
	if !r.measured {
		r.measure()
	}
	if r.off {
		return nil
	}
	pageSize := r.tx.s.db.PageSize()
	if pageSize < 512 {
		pageSize = 65536 // not known: the largest there is
	}
	if !r.exact && r.pages(size, pageSize)*(2*pageSize+walFrameHeader) > r.fast {
		if err := r.measureExact(ctx); err != nil || r.off {
			return err // off: the filesystem stopped saying, as if it never could
		}
	}
	if r.exact {
		pages := r.pages(size-r.base, pageSize)
		need := pages*(pageSize+walFrameHeader) + max(0, pages-r.freePages)*pageSize
		if need > r.budget {
			return fmt.Errorf("%w: %d bytes of new content need about %d bytes of disk; the filesystem holding %s "+
				"has %d bytes free, and puts leave %d of them (the reserve, WithDiskReserve) so that Discard, "+
				"DropSession and Reclaim can still run: free space with those, or on the disk",
				ErrFull, size, need, r.tx.s.opts.diskDir, r.free, r.tx.s.opts.diskReserve)
		}
	}
	r.written = size
	return nil
}

// pages is how many pages size bytes of content take: chunk data fills
// overflow pages of pageSize-4 bytes each, and each chunk's row wastes at
// most a page, or its own size, of the table's b-tree besides. A few pages
// more cover the blob's row and the b-trees' inner pages.
func (r *room) pages(size, pageSize int64) int64 {
	chunk := int64(r.tx.s.opts.chunkSize)
	rows := (size + chunk - 1) / chunk
	return (size+rows*min(chunk, pageSize)+pageSize-5)/(pageSize-4) + 4
}

// measure reads the free space and the WAL's size, once per put.
func (r *room) measure() {
	r.measured = true
	s := r.tx.s
	if s.opts.diskDir == "" {
		r.off = true
		return
	}
	free, err := diskFree(s.opts.diskDir)
	if err != nil {
		// A filesystem that cannot say (some network and FUSE mounts)
		// is left to SQLite's own SQLITE_FULL, as without a reserve.
		r.off = true
		return
	}
	var wal int64
	if fi, err := os.Stat(s.db.Path + "-wal"); err == nil {
		wal = fi.Size()
	}
	r.free = free
	r.fast = int64(min(free, 1<<62)) - s.opts.diskReserve - wal - s.cacheBound()
}

// measureExact measures the budget inside the put's transaction: the free
// space, less the reserve and the pages the next checkpoint adds to the
// file, with the base bytes the put has written so far counted in both, so
// that only the rest of it is counted against the budget; and the file's
// free pages.
func (r *room) measureExact(ctx context.Context) error {
	s := r.tx.s
	r.exact = true
	r.base = r.written
	free := r.free
	if r.base > 0 {
		f, err := diskFree(s.opts.diskDir)
		if err != nil {
			r.off = true
			return nil
		}
		free = f
	}
	var pageCount, pageSize int64
	if err := r.tx.queryRow(ctx, qSpace).Scan(&pageCount, &r.freePages, &pageSize); err != nil {
		return err
	}
	var fileSize int64
	if fi, err := os.Stat(s.db.Path); err == nil {
		fileSize = fi.Size()
	}
	r.budget = int64(min(free, 1<<62)) - s.opts.diskReserve - max(0, pageCount*pageSize-fileSize)
	if r.base > 0 {
		// What the put wrote so far may still be in the page cache.
		r.budget -= s.cacheBound()
	}
	return nil
}

// keepWALShort checkpoints before a write transaction on a tight disk
// (less free than twice what the WAL may grow by between two checkpoints,
// besides the reserve), so that the write starts the WAL from its
// beginning: a burst of commits otherwise grows the WAL past what the
// background checkpoint has copied, and each frame takes the disk twice.
// A failed checkpoint leaves the write to go on: it may be the one that
// frees space, and fails with ErrFull itself if not.
func (s *Store) keepWALShort(ctx context.Context) {
	if s.opts.diskDir == "" {
		return
	}
	if free, err := diskFree(s.opts.diskDir); err == nil && free < 2*db.WALGrowth+uint64(s.opts.diskReserve) {
		_ = s.db.Checkpoint(ctx)
	}
}

// compactRoom refuses Compact with ErrFull, before it writes anything, when
// the disk has no room for what it writes: VACUUM builds the new file in
// memory and writes it, every page of it, through the WAL, so it needs
// free space about the size of the file, besides the reserve. errFull is
// SQLite's own full-disk error, which gets the same explanation.
func (s *Store) compactRoom(ctx context.Context, errFull error) error {
	if s.opts.diskDir == "" && errFull == nil {
		return nil
	}
	size := s.db.DiskBytes()
	var free uint64
	measured := false
	if s.opts.diskDir != "" {
		f, err := diskFree(s.opts.diskDir)
		free, measured = f, err == nil
	}
	if errFull == nil && (!measured || int64(min(free, 1<<62)) >= size+s.opts.diskReserve) {
		return nil
	}
	msg := fmt.Sprintf("it writes a copy of the whole store (about %d bytes) through the write-ahead log "+
		"before it gives anything back, and needs that much free disk space", size)
	if measured {
		msg += fmt.Sprintf(" besides the reserve of %d bytes; the filesystem has %d bytes free", s.opts.diskReserve, free)
	}
	msg += ": free space with Discard, DropSession and Reclaim first, then Compact"
	if errFull != nil {
		return fmt.Errorf("%w: %s: %w", ErrFull, msg, errFull)
	}
	return fmt.Errorf("%w: %s", ErrFull, msg)
}
