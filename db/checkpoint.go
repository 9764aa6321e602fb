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
// file write without this). Commits are durable without it (synchronous
// FULL syncs the WAL at every commit); a checkpoint only keeps the WAL
// short. Once a checkpoint has copied every frame, the next write starts
// the WAL from its beginning again, and journal_size_limit truncates a WAL
// that one large transaction grew.
//
// The WAL starts again from its beginning only when a write transaction
// begins with every frame copied, which a checkpoint beside a steady
// stream of commits never achieves: the WAL would only grow. So when the
// WAL holds more than walKeepBytes, the checkpoint is finished on the
// writer's own connection, between two of this process's writes.
//
// A checkpoint that fails (a full disk) is tried again at the next
// commit; failures counts them for Stats.
type checkpointer struct {
	wake     chan struct{}
	quit     chan struct{}
	done     sync.WaitGroup
	failures atomic.Int64
}

func startCheckpointer(maint, writer *sqlx.DB, pageSize int64) *checkpointer {
	c := &checkpointer{wake: make(chan struct{}, 1), quit: make(chan struct{})}
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
			if err == nil && log*pageSize > walKeepBytes {
				err = writer.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
			}
			if err != nil {
				c.failures.Add(1)
			}
		}
	})
	return c
}

// kick asks for a checkpoint soon. It never blocks.
func (c *checkpointer) kick() {
	if c == nil {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// stop ends the checkpointer and waits for it.
func (c *checkpointer) stop() {
	if c != nil {
		close(c.quit)
		c.done.Wait()
	}
}

// Committed tells the database that a write transaction committed.
func (d *DB) Committed() { d.ckpt.kick() }

// CheckpointFailures is how many background checkpoints have failed since
// Open (0 for an in-memory, read-only or PostgreSQL database).
func (d *DB) CheckpointFailures() int64 {
	if d.ckpt == nil {
		return 0
	}
	return d.ckpt.failures.Load()
}
