package attachstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
)

// ErrInvalidPolicy: a ReclaimPolicy that Reclaim does not accept.
var ErrInvalidPolicy = errors.New("attachstore: invalid reclaim policy")

// DefaultReclaimBatch is the BatchSize Reclaim uses when
// ReclaimPolicy.BatchSize is zero.
const DefaultReclaimBatch = 500

// reclaimTxBudget bounds each transaction of Reclaim's blob deletes, its
// commit included, whatever BatchSize says: a writer that arrives during a
// sweep waits for at most one such transaction. The commits do not fsync
// (unsynced), so short transactions cost the sweep little.
// Measured with the single-row deletes of an earlier version, budgeting
// the deletes but not the commit (bench W6, 100k orphans of 1M): 1 ms
// swept 5.0k blobs/s with the writer's p99 at 5.1 ms, 2 ms 6.3k at 7.8
// ms, 4 ms 6.3k at 11.7 ms. With the 32-blob statements of deleteOrphans
// (go run . -only W6 -systems attachstore -runs 3, once each, 15 minutes
// apart): 1 ms swept 7.0k blobs/s with the writer's p99 at 7.4 ms, 750 µs
// 4.2k at 6.7 ms (a larger drop than the budget's; some of it the
// machine). The writer is the one a user is waiting for, so the budget
// stays at 1 ms.
const reclaimTxBudget = 1 * time.Millisecond

// ReclaimPolicy says what Reclaim may collect.
type ReclaimPolicy struct {
	// Grace protects recent work: nothing touched or intended within Grace
	// of the start of Reclaim is collected. It must not be negative.
	Grace time.Duration
	// DryRun reports what would be collected and deletes nothing.
	DryRun bool
	// BatchSize is the most intents or blobs one transaction deletes
	// (default DefaultReclaimBatch), and how many blobs Reclaim deletes
	// between two Progress calls. A blob transaction also takes at most
	// 32 blobs and about a millisecond of work, so writers wait little.
	BatchSize int
	// Progress, if set, is called after each batch with the running totals.
	Progress func(ReclaimProgress)
	// Vacuum says when to give free pages back to the filesystem; the
	// zero value is VacuumWhenLarge.
	Vacuum Vacuum
}

// Vacuum says when Reclaim gives the pages it freed back to the
// filesystem. Pages not given back stay in the file, and the next puts
// reuse them before the file grows again.
type Vacuum int

const (
	// VacuumWhenLarge gives free pages back once they are at least a
	// quarter of the file (VacuumFreeFraction). Giving pages back moves
	// live pages from the end of the file into the holes, each written
	// twice (WAL and checkpoint): for a sweep of a tenth of a store that
	// was more I/O than the deletes themselves (bench W6), for space the
	// next puts would take again.
	VacuumWhenLarge Vacuum = iota
	// VacuumAlways gives every free page back.
	VacuumAlways
	// VacuumNever leaves free pages in the file for reuse.
	VacuumNever
)

// VacuumFreeFraction is the share of the file that free pages must reach
// before VacuumWhenLarge gives them back.
const VacuumFreeFraction = 0.25

// String returns the name the CLI's --vacuum flag takes.
func (v Vacuum) String() string {
	switch v {
	case VacuumWhenLarge:
		return "auto"
	case VacuumAlways:
		return "always"
	case VacuumNever:
		return "never"
	}
	return fmt.Sprintf("Vacuum(%d)", int(v))
}

// MarshalText returns the name String returns; a Vacuum that is none of
// the constants is ErrInvalidPolicy.
func (v Vacuum) MarshalText() ([]byte, error) {
	if v < VacuumWhenLarge || v > VacuumNever {
		return nil, fmt.Errorf("%w: vacuum %v", ErrInvalidPolicy, v)
	}
	return []byte(v.String()), nil
}

// UnmarshalText sets v from a name String returns (auto, always or
// never), so a Vacuum can be a flag (flag.TextVar) or a configuration
// field. Any other text is ErrInvalidPolicy and leaves v as it was.
func (v *Vacuum) UnmarshalText(text []byte) error {
	for _, w := range []Vacuum{VacuumWhenLarge, VacuumAlways, VacuumNever} {
		if string(text) == w.String() {
			*v = w
			return nil
		}
	}
	return fmt.Errorf("%w: vacuum %q: want auto, always or never", ErrInvalidPolicy, text)
}

// ReclaimProgress is the running state of a Reclaim.
type ReclaimProgress struct {
	Phase string // "intents", "blobs" or "vacuum"
	ReclaimReport
}

// ReclaimReport says what Reclaim collected (or, for a DryRun, would
// collect).
type ReclaimReport struct {
	ExpiredIntents int   `json:"expired_intents"` // uncommitted refs older than Grace, forgotten
	ReclaimedBlobs int   `json:"reclaimed_blobs"` // blobs with no ref left and untouched for Grace, deleted
	ReclaimedBytes int64 `json:"reclaimed_bytes"` // their sizes, summed
	ReturnedBytes  int64 `json:"returned_bytes"`  // file bytes given back to the OS by incremental vacuum
	FreeBytes      int64 `json:"free_bytes"`      // free pages left in the file for reuse afterwards (0 for a DryRun)
}

// Reclaim collects what crashed or abandoned work left behind. It forgets
// uncommitted intents older than Grace, deletes every blob that no ref points
// to and that was untouched for Grace, then, as p.Vacuum says, gives free
// pages back to the filesystem (incremental vacuum and a WAL checkpoint).
//
// Reclaim works in short transactions of its own (a millisecond or so of
// deletes each), so a Put racing Reclaim never loses data: a blob is
// deleted only in a transaction that sees it unreferenced and untouched,
// and the refs table's foreign key refuses any other delete. A cancelled
// ctx stops Reclaim between transactions; what was done so far is
// consistent and reported along with the error. Reclaim holds at most
// about 64k orphan candidates in memory at once (some 6 MiB), however many
// there are.
func (s *Store) Reclaim(ctx context.Context, p ReclaimPolicy) (ReclaimReport, error) {
	var rep ReclaimReport
	if p.Grace < 0 {
		return rep, fmt.Errorf("%w: negative grace %v", ErrInvalidPolicy, p.Grace)
	}
	if p.BatchSize < 0 {
		return rep, fmt.Errorf("%w: negative batch size %d", ErrInvalidPolicy, p.BatchSize)
	}
	if p.BatchSize == 0 {
		p.BatchSize = DefaultReclaimBatch
	}
	if p.Vacuum < VacuumWhenLarge || p.Vacuum > VacuumNever {
		return rep, fmt.Errorf("%w: vacuum %v", ErrInvalidPolicy, p.Vacuum)
	}
	if err := s.enter(); err != nil {
		return rep, err
	}
	if s.opts.readOnly && !p.DryRun {
		return rep, fmt.Errorf("%w: reclaim", ErrReadOnly)
	}
	cutoff := s.now() - int64(p.Grace)
	progress := func(phase string) {
		if p.Progress != nil {
			p.Progress(ReclaimProgress{Phase: phase, ReclaimReport: rep})
		}
	}
	sizeBefore := s.fileBytes()

	if err := s.expireIntents(ctx, cutoff, p, &rep, progress); err != nil {
		return rep, err
	}
	if err := s.reclaimBlobs(ctx, cutoff, p, &rep, progress); err != nil {
		return rep, err
	}
	if p.DryRun {
		return rep, nil
	}
	// Even with nothing collected now, an earlier vacuum or checkpoint may
	// have failed (a full disk) or been put off: the free pages decide.
	free, pages, err := s.freePages(ctx)
	if err != nil {
		return rep, err
	}
	var giveBack func(context.Context) error
	switch {
	case p.Vacuum == VacuumAlways && free > 0 || p.Vacuum == VacuumWhenLarge && float64(free) >= VacuumFreeFraction*float64(pages):
		giveBack = s.vacuum
	case s.giveBackPending.Load() || s.mainFileBytes() > pages*s.db.PageSize:
		// An earlier vacuum shrank the database, but its checkpoint, which
		// truncates the file and the WAL, failed (a full disk): finish it.
		giveBack = s.checkpoint
	}
	if giveBack != nil {
		err := giveBack(ctx)
		s.giveBackPending.Store(err != nil)
		if err != nil {
			return rep, err
		}
	}
	rep.ReturnedBytes = max(0, sizeBefore-s.fileBytes())
	if free, _, err = s.freePages(ctx); err != nil {
		return rep, err
	}
	rep.FreeBytes = free * s.db.PageSize
	progress("vacuum")
	return rep, nil
}

func (s *Store) expireIntents(ctx context.Context, cutoff int64, p ReclaimPolicy, rep *ReclaimReport, progress func(string)) error {
	if p.DryRun {
		t, err := s.reader()
		if err != nil {
			return err
		}
		err = t.q.QueryRowContext(ctx, qCountExpired, cutoff).Scan(&rep.ExpiredIntents)
		progress("intents")
		return mapErr(err, "reclaim: count intents")
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("attachstore: reclaim: %w", err)
		}
		var n int64
		err := s.updateUnsynced(ctx, "reclaim intents", func(tx *Tx) error {
			res, err := tx.q.ExecContext(ctx, qExpireIntents, cutoff, p.BatchSize)
			if err != nil {
				return mapErr(err, "reclaim intents")
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return err
		}
		rep.ExpiredIntents += int(n)
		progress("intents")
		if n < int64(p.BatchSize) {
			return nil
		}
	}
}

// defaultReclaimGather is the most orphan candidates reclaimBlobs holds at
// once (about 100 bytes each): it gathers up to this many, deletes them,
// then goes on scanning.
const defaultReclaimGather = 1 << 16

// orphan is a blob the read scan found unreferenced and untouched.
type orphan struct {
	pk, size int64
	id       []byte
}

// reclaimBlobs finds orphans on the read pool and deletes them in short
// write statements that check again, under the write lock, that each
// blob is still unreferenced and untouched.
//
// The scan walks blobs in id order, the table's own order, and refs_blob is
// in the same order, so both are read sequentially: on a store of 1M blobs
// a scan in pk order looked up every blob row and its refs at random, and
// that was most of a sweep's time (bench W6). The deletes go in pk order,
// which is put order: the orphans of one dropped session lie together, and
// so do their chunks, so a delete statement rewrites few pages. The
// candidates of up to Store.reclaimGather blobs are gathered, then sorted.
func (s *Store) reclaimBlobs(ctx context.Context, cutoff int64, p ReclaimPolicy, rep *ReclaimReport, progress func(string)) error {
	cursor := []byte{} // sorts before every id
	for {
		found, more, err := s.findOrphans(ctx, cutoff, p, &cursor)
		if err != nil {
			return err
		}
		slices.SortFunc(found, func(a, b orphan) int { return cmp.Compare(a.pk, b.pk) })
		for len(found) > 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("attachstore: reclaim: %w", err)
			}
			batch := found[:min(len(found), p.BatchSize)]
			found = found[len(batch):]
			if p.DryRun {
				for _, c := range batch {
					rep.ReclaimedBlobs++
					rep.ReclaimedBytes += c.size
				}
			} else if err := s.deleteOrphans(ctx, cutoff, batch, rep); err != nil {
				return err
			}
			progress("blobs")
		}
		if !more {
			return nil
		}
	}
}

// findOrphans reads orphan candidates after *cursor in id order, BatchSize
// per query, until it holds s.reclaimGather of them or the scan ends; more
// says whether it stopped early.
func (s *Store) findOrphans(ctx context.Context, cutoff int64, p ReclaimPolicy, cursor *[]byte) (found []orphan, more bool, err error) {
	q := qOrphanBlobs
	if p.DryRun {
		q = qOrphanBlobsDry
	}
	for len(found) < s.reclaimGather {
		if err := ctx.Err(); err != nil {
			return nil, false, fmt.Errorf("attachstore: reclaim: %w", err)
		}
		t, err := s.reader()
		if err != nil {
			return nil, false, err
		}
		rows, err := t.q.QueryContext(ctx, q, cutoff, *cursor, p.BatchSize)
		if err != nil {
			return nil, false, mapErr(err, "reclaim: find orphans")
		}
		n := 0
		for rows.Next() {
			var c orphan
			if err := rows.Scan(&c.pk, &c.id, &c.size); err != nil {
				rows.Close()
				return nil, false, mapErr(err, "reclaim: find orphans")
			}
			*cursor = c.id
			found = append(found, c)
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, false, mapErr(err, "reclaim: find orphans")
		}
		if n < p.BatchSize {
			return found, false, nil
		}
	}
	return found, true, nil
}

// orphanSlots is how many candidates one delete statement takes
// (qDeleteOrphans).
const orphanSlots = 32

// deleteOrphans deletes a batch in statements of at most reclaimTxBudget
// each, so a writer waits for one short statement, never for the whole
// batch. Each statement deletes up to orphanSlots candidates and runs
// outside a transaction, so it is a transaction of its own.
//
// Why not several single-row deletes per transaction, as before: inside a
// transaction every statement that may abort half-way (a delete of blobs
// does: its foreign key is RESTRICT, and a trigger deletes the chunks)
// copies each page it is about to change into a statement journal first,
// so that the statement alone can be undone. Each delete copied the
// shared pages again (page 1, the free-list trunk, the pointer map, the
// chunk b-tree's parent), 16 KiB each in 1 KiB pieces of memory: a
// fifth of a sweep's CPU in a profile (subjournalPageIfRequired,
// memjrnlWrite, memjrnlTruncate). A statement that is its own
// transaction needs no statement journal; its failure rolls back only
// itself. The number of candidates per statement follows the measured
// time of the last one, so each stays within the budget.
func (s *Store) deleteOrphans(ctx context.Context, cutoff int64, batch []orphan, rep *ReclaimReport) error {
	args := make([]any, 1+orphanSlots)
	args[0] = cutoff
	per := 1 // candidates in the next statement
	for rest := batch; len(rest) > 0; {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("attachstore: reclaim: %w", err)
		}
		n := min(per, len(rest))
		for i := range orphanSlots {
			args[1+i] = nil
			if i < n {
				args[1+i] = rest[i].id
			}
		}
		var blobs int
		var bytes int64
		var took time.Duration
		err := s.unsynced(ctx, "reclaim blobs", func(conn *sqlx.Conn) error {
			return mapErr(whileBusy(ctx, func() error {
				blobs, bytes = 0, 0
				start := time.Now()
				defer func() { took = time.Since(start) }()
				// The sizes come back as the rows are deleted, so a
				// candidate touched or referenced since the scan is not
				// counted.
				rows, err := conn.QueryContext(ctx, qDeleteOrphans, args...)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var size int64
					if err := rows.Scan(&size); err != nil {
						return err
					}
					blobs++
					bytes += size
				}
				return rows.Err()
			}), "reclaim blobs")
		})
		if err != nil {
			return err
		}
		rest = rest[n:]
		rep.ReclaimedBlobs += blobs
		rep.ReclaimedBytes += bytes
		per = nextPer(n, took)
	}
	return nil
}

// nextPer is how many candidates the next delete statement takes, given
// that the last one took took for n: as many as fit reclaimTxBudget at
// that rate, at least one and at most orphanSlots.
func nextPer(n int, took time.Duration) int {
	if took <= 0 {
		return orphanSlots
	}
	return max(1, min(orphanSlots, int(int64(n)*int64(reclaimTxBudget)/int64(took))))
}

// vacuumStepBytes is how much one incremental_vacuum transaction gives
// back, so writers interleave with a large give-back: each freed page at
// the end of the file is filled by moving a live page, and every moved page
// is written to the WAL.
const vacuumStepBytes = 2 << 20

// vacuum gives free pages back to the filesystem. In WAL mode the file is
// only truncated when a checkpoint copies the shortened database back, so
// it ends with a TRUNCATE checkpoint (which also empties the WAL).
func (s *Store) vacuum(ctx context.Context) error {
	if s.db.Memory {
		return nil
	}
	step := max(1, vacuumStepBytes/s.db.PageSize)
	for {
		var free int64
		err := s.updateUnsynced(ctx, "reclaim vacuum", func(tx *Tx) error {
			// incremental_vacuum frees one page per step of its statement:
			// it must be read to the end, not run with Exec.
			rows, err := tx.q.QueryContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", step))
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			return tx.q.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free)
		})
		if err != nil {
			return mapErr(err, "reclaim: vacuum")
		}
		if free == 0 {
			break
		}
	}
	return s.checkpoint(ctx)
}

// checkpoint copies the WAL back into the database file and truncates the
// WAL. A PASSIVE checkpoint on its own connection first copies what it can
// while writers go on; then a TRUNCATE checkpoint on the writer's
// connection finishes the little that was written meanwhile and empties
// the WAL. (Run from another connection, TRUNCATE queues for the write
// lock behind a busy writer and can starve for the whole busy timeout.) A
// checkpoint blocked by readers is not an error: the next one finishes the
// work.
func (s *Store) checkpoint(ctx context.Context) error {
	if s.db.Memory {
		return nil
	}
	var busy, logPages, done int
	if err := s.db.Maint.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &done); err != nil {
		return mapErr(err, "checkpoint")
	}
	err := s.db.Writer.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done)
	return mapErr(err, "checkpoint")
}

// freePages returns the file's free pages and all its pages, as of now.
func (s *Store) freePages(ctx context.Context) (free, pages int64, err error) {
	if s.db.Memory {
		return 0, 0, nil
	}
	if err := s.db.Reader.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		return 0, 0, mapErr(err, "reclaim: free pages")
	}
	if err := s.db.Reader.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return 0, 0, mapErr(err, "reclaim: page count")
	}
	return free, pages, nil
}

// mainFileBytes is the size of the database file alone (0 when Ephemeral).
func (s *Store) mainFileBytes() int64 {
	if s.db.Memory {
		return 0
	}
	fi, err := os.Stat(s.db.Path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// fileBytes is the size on disk of the database file and its WAL.
func (s *Store) fileBytes() int64 {
	if s.db.Memory {
		return 0
	}
	var n int64
	for _, p := range []string{s.db.Path, s.db.Path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}
