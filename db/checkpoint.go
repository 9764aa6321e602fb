package db

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// checkpointDelay gathers the commits of a burst into one checkpoint.
const checkpointDelay = 100 * time.Millisecond

// checkpointer copies committed WAL frames back into the database file in
// the background, with PASSIVE checkpoints on a connection of its own, so
// that no commit pays for one: with SQLite's default the commit that
// crosses 1000 WAL pages copies them all before it returns. Commits are
// durable without it (synchronous FULL syncs the WAL at every commit); a
// checkpoint only keeps the WAL short. Once a checkpoint has copied every
// frame, the next write starts the WAL from its beginning again, and
// journal_size_limit truncates a WAL that one large transaction grew.
//
// The WAL starts again from its beginning only when a write transaction
// begins with every frame copied, which a checkpoint beside a steady
// stream of commits never achieves: the WAL would only grow. So when the
// WAL holds more than walKeepBytes, the checkpoint is finished on the
// writer's own connection, between two of this process's writes.
type checkpointer struct {
	wake chan struct{}
	quit chan struct{}
	done sync.WaitGroup
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
			// A failure (a full disk) is nobody's to report: the next
			// commit's checkpoint tries again.
			var busy, log, done int64
			err := maint.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
			if err == nil && log*pageSize > walKeepBytes {
				_ = writer.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
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

// WALGrowth is how far the WAL may grow between two checkpoints while
// writes go on (see checkpointer): the root package checkpoints before
// each write (CheckpointNow) where the disk has less than twice this free.
const WALGrowth = walKeepBytes

// CheckpointNow copies the whole WAL back into the file on the writer's
// connection, between two of this process's transactions, so that the
// next write starts the WAL from its beginning instead of growing it:
// what every write does first on a nearly full disk, where the WAL cannot
// grow the 64 MiB it otherwise may. The pages it copies were counted when
// they were put, so the file has room for them. A failure (a reader still
// on old frames, another process's write, a full disk) is left to the
// next call.
func (d *DB) CheckpointNow(ctx context.Context) {
	if d.Memory || d.pg || d.Writer == nil {
		return
	}
	var busy, log, done int64
	_ = d.Writer.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
}

// finalCheckpoint copies the WAL back into the file before Close, on the
// writer's connection. PASSIVE, so that a reader of another process does
// not hold Close up: what it keeps from being copied stays in the WAL, and
// that process's close copies it. A transaction still running on the
// writer is waited for up to the busy timeout, then left to SQLite's
// close. An error (a full disk: the file grows by the pages the WAL adds)
// says that the WAL stays beside the file, and that the next open
// recovers it.
func (d *DB) finalCheckpoint() error {
	if d.Memory || d.pg || d.Writer == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.busyTimeout)
	defer cancel()
	var busy, log, done int64
	err := d.Writer.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
	if err == nil || ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("the write-ahead log could not be copied back into the file, so %s stays beside it "+
		"and the next Open recovers it (nothing committed is lost): %w", filepath.Base(d.Path)+"-wal", err)
}
