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

// checkpointer copies committed WAL frames back into the database file in
// the background, with PASSIVE checkpoints on a connection of its own, so
// that no commit pays for one: with SQLite's automatic checkpoint, the
// commit that crosses 1000 WAL pages copies them all before it returns (a
// 1 GiB PutReader, its whole WAL: W5's put measured 0.67× → 0.54× of a
// file write without this). Commits are durable without it; a checkpoint
// only keeps the WAL short.
//
// The WAL starts again from its beginning only when a write transaction
// begins with every frame copied, which a checkpoint beside a steady
// stream of commits never achieves. So when the WAL holds more than
// WALGrowth, the checkpoint is finished on the writer's own connection,
// between two of this process's writes. A failed checkpoint (a full disk)
// is tried again at the next commit, and counted for Stats. The zero
// checkpointer (in memory, read-only, PostgreSQL) does nothing.
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
			var busy, log, done int64
			err := maint.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
			if err == nil && log*pageSize > WALGrowth {
				err = writer.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
			}
			if err != nil {
				c.failures.Add(1)
			}
		}
	})
}

func (c *checkpointer) stop() {
	if c.quit != nil {
		close(c.quit)
		c.done.Wait()
	}
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
