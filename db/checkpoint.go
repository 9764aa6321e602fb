package db

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// checkpointDelay gathers the commits of a burst into one checkpoint.
const checkpointDelay = 100 * time.Millisecond

// checkpointer copies committed WAL frames back into the file in the
// background (PASSIVE, on a connection of its own), so that no commit pays
// for it: SQLite's automatic checkpoint makes the commit that crosses 1000
// WAL pages copy them all (measured: see bench/RESULTS.md, W5). The WAL
// restarts only when a write begins with every frame copied, which never
// happens beside a steady stream of commits, so past WALGrowth the
// checkpoint is finished on the writer's connection, between two writes.
// A failure (a full disk) is counted, and tried again at the next commit.
// The zero checkpointer does nothing.
type checkpointer struct {
	wake, quit chan struct{}
	done       sync.WaitGroup
	failures   atomic.Int64
}

func (c *checkpointer) start(maint, writer *sqlx.DB, pageSize int64) {
	c.wake, c.quit = make(chan struct{}, 1), make(chan struct{})
	c.done.Go(func() {
		for {
			select {
			case <-c.quit:
				return
			case <-c.wake:
			}
			select {
			case <-c.quit:
				return
			case <-time.After(checkpointDelay):
			}
			_, frames, err := walCheckpoint(context.Background(), maint, "PASSIVE")
			if err == nil && frames*pageSize > WALGrowth {
				_, _, err = walCheckpoint(context.Background(), writer, "PASSIVE")
			}
			if err != nil {
				c.failures.Add(1)
			}
		}
	})
}

// walCheckpoint copies the WAL back into the file on h's connection and
// reports whether a reader or writer kept it from copying every frame,
// and how many frames the WAL holds.
func walCheckpoint(ctx context.Context, h *sqlx.DB, mode string) (held bool, frames int64, err error) {
	var b, done int64
	err = h.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&b, &frames, &done)
	return b != 0, frames, err
}

// Committed tells the database that a write transaction committed: a
// checkpoint follows soon. It never blocks.
func (d *DB) Committed() {
	select {
	case d.ckpt.wake <- struct{}{}:
	default:
	}
}

// CheckpointFailures is how many background checkpoints have failed since
// Open.
func (d *DB) CheckpointFailures() int64 { return d.ckpt.failures.Load() }
