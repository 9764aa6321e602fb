package attachstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/attachstore/attachstore/db"
)

// DefaultReclaimBatch is the BatchSize Reclaim uses when
// ReclaimPolicy.BatchSize is zero.
const DefaultReclaimBatch = 32

// ReclaimPolicy says what Reclaim may collect.
type ReclaimPolicy struct {
	// Grace protects recent work: nothing touched or intended within Grace
	// of the start of Reclaim is collected, and tombstones younger than
	// Grace stay. It must not be negative.
	Grace time.Duration
	// DryRun reports what would be collected and changes nothing.
	DryRun bool
	// BatchSize is the most intents or blobs one transaction deletes
	// (default DefaultReclaimBatch), so that writers interleave; Progress
	// is called after each batch.
	BatchSize int
	Progress  func(ReclaimProgress) // if set, called with the running totals
	// AllowEmptyRoots lets Reclaim delete blobs from a store whose
	// manifest is empty as it starts; see ErrNoRoots.
	AllowEmptyRoots bool
	// VacuumAt is the share of the file, from 0 to 1, that free pages
	// must reach before Reclaim gives them back to the filesystem (moving
	// live pages into the holes); below it they stay for new content to
	// reuse. 0 gives back whatever is free, 1 nothing. A host that reclaims
	// often while content keeps arriving may choose, say, 0.25.
	VacuumAt float64
}

// ReclaimProgress is the running state of a Reclaim.
type ReclaimProgress struct {
	Phase string // "intents", "blobs" or "vacuum"
	ReclaimReport
}

// ReclaimReport says what Reclaim collected (or, for a DryRun, would
// collect).
type ReclaimReport struct {
	ExpiredIntents    int   `json:"expired_intents"`    // uncommitted intents older than Grace and not held, forgotten
	ClearedTombstones int   `json:"cleared_tombstones"` // dropped sessions older than Grace that may be used again
	ReclaimedBlobs    int   `json:"reclaimed_blobs"`    // blobs with no ref left and untouched for Grace, deleted
	ReclaimedBytes    int64 `json:"reclaimed_bytes"`    // their sizes, summed
	// ReturnedBytes is how much smaller the database file and its -wal
	// file are together (as Stats.FileBytes counts them) when Reclaim ends
	// than when it started: never more than they held, never negative. A
	// writer growing the file meanwhile lowers it. 0 for a DryRun, an
	// Ephemeral store and PostgreSQL (whose autovacuum looks after its
	// space).
	ReturnedBytes int64 `json:"returned_bytes"`
	FreeBytes     int64 `json:"free_bytes"` // free pages left in the file for reuse afterwards
	// NeedsCompact says the file's free pages can only be given back by
	// Compact: another program created it without incremental vacuum.
	NeedsCompact bool `json:"needs_compact,omitempty"`
}

// Reclaim collects what crashed or abandoned work left behind. It forgets
// uncommitted intents older than Grace whose owner holds no Hold, ends
// lapsed holds, clears tombstones older than Grace, deletes every blob that
// no ref points to and that was untouched for Grace, and then gives free
// pages back to the filesystem once they reach p.VacuumAt of the file.
//
// Each batch is one transaction of its own, so a Put racing Reclaim never
// loses data: a blob is deleted only in a transaction that sees it
// unreferenced and untouched, and the refs table's foreign key refuses any
// other delete. A cancelled ctx stops Reclaim between transactions; what
// was done so far is consistent and reported along with the error.
//
// Unless p.AllowEmptyRoots, Reclaim refuses with ErrNoRoots, deleting
// nothing, when it would delete blobs while the manifest is empty as it
// starts (a hold alone does not count); a DryRun then reports what it
// would collect, and ErrNoRoots too.
func (s *Store) Reclaim(ctx context.Context, p ReclaimPolicy) (rep ReclaimReport, err error) {
	defer func() { err = wrap(s, "reclaim", err) }()
	switch {
	case p.Grace < 0:
		return rep, fmt.Errorf("%w: negative grace %v", ErrInvalidPolicy, p.Grace)
	case p.BatchSize < 0:
		return rep, fmt.Errorf("%w: negative batch size %d", ErrInvalidPolicy, p.BatchSize)
	case !(p.VacuumAt >= 0 && p.VacuumAt <= 1):
		return rep, fmt.Errorf("%w: VacuumAt %v: want a share from 0 to 1", ErrInvalidPolicy, p.VacuumAt)
	}
	if p.BatchSize == 0 {
		p.BatchSize = DefaultReclaimBatch
	}
	if s.closed.Load() {
		return rep, ErrClosed
	}
	if s.ReadOnly() && !p.DryRun {
		return rep, ErrReadOnly
	}
	r := reclaim{s: s, p: p, rep: &rep, now: s.now()}
	r.cutoff = r.now - int64(p.Grace)
	return rep, r.run(ctx)
}

// reclaim is one run of Reclaim.
type reclaim struct {
	s           *Store
	p           ReclaimPolicy
	rep         *ReclaimReport
	now, cutoff int64
	diskBefore  int64 // the database's size on disk before Reclaim wrote
}

func (r *reclaim) progress(phase string) {
	if r.p.Progress != nil {
		r.p.Progress(ReclaimProgress{Phase: phase, ReclaimReport: *r.rep})
	}
}

func (r *reclaim) run(ctx context.Context) error {
	r.diskBefore = r.s.db.DiskBytes()
	roots, err := r.s.reader().exists(ctx, qHasRoots)
	if err != nil {
		return err
	}
	if !roots && !r.p.AllowEmptyRoots {
		orphans, err := r.orphans(ctx, 0, 1)
		if err != nil {
			return err
		}
		if len(orphans) > 0 {
			if r.p.DryRun {
				if err := r.blobs(ctx); err != nil {
					return err
				}
			}
			return ErrNoRoots
		}
	}
	for _, step := range []func(context.Context) error{r.intents, r.blobs, r.giveBack} {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// intents forgets expired intents, ends lapsed holds and clears old
// tombstones.
func (r *reclaim) intents(ctx context.Context) error {
	if r.p.DryRun {
		t := r.s.reader()
		if err := t.queryRow(ctx, qCountExpiring, r.cutoff, r.now).Scan(&r.rep.ExpiredIntents); err != nil {
			return err
		}
		if err := t.queryRow(ctx, qCountOldTombstones, r.cutoff).Scan(&r.rep.ClearedTombstones); err != nil {
			return err
		}
		r.progress("intents")
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var n int64
		err := r.s.run(ctx, true, func(tx *Tx) (err error) {
			n, err = affected(tx.exec(ctx, qExpireIntents, r.cutoff, r.now, r.p.BatchSize))
			return err
		})
		if err != nil {
			return err
		}
		r.rep.ExpiredIntents += int(n)
		r.progress("intents")
		if n < int64(r.p.BatchSize) {
			break
		}
	}
	return r.s.run(ctx, true, func(tx *Tx) error {
		if _, err := tx.exec(ctx, qEndLapsedHolds, r.now); err != nil {
			return err
		}
		n, err := affected(tx.exec(ctx, qClearTombstones, r.cutoff))
		r.rep.ClearedTombstones = int(n)
		return err
	})
}

// orphan is a blob the read scan found unreferenced and untouched.
type orphan struct {
	pk, size int64
	id       []byte
}

// orphans reads up to limit orphan candidates after pk after, in pk order.
func (r *reclaim) orphans(ctx context.Context, after int64, limit int) ([]orphan, error) {
	query, args := qOrphans, []any{after, r.cutoff, limit}
	if r.p.DryRun {
		query, args = qOrphansDry, []any{after, r.cutoff, r.now, limit}
	}
	return rowsOf(ctx, r.s.reader(), query, func(rows *sql.Rows) (o orphan, err error) {
		err = rows.Scan(&o.pk, &o.id, &o.size)
		return o, err
	}, args...)
}

// blobs finds orphans on the read pool, a batch at a time, and deletes
// each batch in one write transaction that checks every blob again.
func (r *reclaim) blobs(ctx context.Context) error {
	for after := int64(0); ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := r.orphans(ctx, after, r.p.BatchSize)
		if err != nil {
			return err
		}
		if r.p.DryRun {
			for _, o := range batch {
				r.rep.ReclaimedBlobs++
				r.rep.ReclaimedBytes += o.size
			}
		} else if err := r.delete(ctx, batch); err != nil {
			return err
		}
		r.progress("blobs")
		if len(batch) < r.p.BatchSize {
			return nil
		}
		after = batch[len(batch)-1].pk
	}
}

// delete deletes a batch of candidates in one transaction (qDeleteOrphan).
// Where writers run in parallel (PostgreSQL), a put may commit a ref to a
// candidate after the check's snapshot: the foreign key refuses the
// delete, and the batch runs again, when the check sees the ref.
func (r *reclaim) delete(ctx context.Context, batch []orphan) (err error) {
	var blobs int
	var bytes int64
	try := func(tx *Tx) error {
		blobs, bytes = 0, 0
		for _, o := range batch {
			// The size comes back only when the row is deleted, so a
			// candidate touched or referenced since the scan is not counted.
			var pk, size, chunkSize int64
			switch err := tx.queryRow(ctx, qDeleteOrphan, o.id, r.cutoff).Scan(&pk, &size, &chunkSize); {
			case err == nil:
				if err := tx.deleteChunks(ctx, pk, size, chunkSize); err != nil {
					return err
				}
				blobs++
				bytes += size
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		return nil
	}
	for range maxRetries {
		// A raw driver error: the sentinels are given at Reclaim's boundary.
		if err = r.s.run(ctx, true, try); db.KindOf(err) != db.Referenced {
			break
		}
	}
	if err == nil {
		r.rep.ReclaimedBlobs += blobs
		r.rep.ReclaimedBytes += bytes
	}
	return err
}

// giveBack returns free pages to the filesystem once they reach VacuumAt
// of the file.
func (r *reclaim) giveBack(ctx context.Context) error {
	if r.p.DryRun {
		return nil
	}
	if err := r.s.db.GiveBack(ctx, r.p.VacuumAt); err != nil {
		return err
	}
	sp, err := r.s.db.Space(ctx)
	if err != nil {
		return err
	}
	// Against the size before the deletes: the WAL they wrote, which the
	// vacuum's checkpoint truncates, was never the filesystem's to get back.
	r.rep.ReturnedBytes = max(0, r.diskBefore-r.s.db.DiskBytes())
	r.rep.FreeBytes = sp.FreePages * r.s.db.PageSize()
	r.rep.NeedsCompact = !sp.Incremental && sp.FreePages > 0
	r.progress("vacuum")
	return nil
}
