package attachstore

import (
	"context"
	"time"
)

// checkpointDelay gathers the commits of a burst into one background
// checkpoint.
const checkpointDelay = 100 * time.Millisecond

// checkpointer copies committed WAL frames back into the database file in
// the background, on its own connection (db.Maint), so that a commit never
// pays for a checkpoint: with SQLite's default, the commit that crosses
// 1000 WAL pages copies them all before it returns, and every writer
// waiting behind it sees that in its latency. Commits stay durable without
// it — synchronous FULL syncs the WAL at every commit — a checkpoint only
// keeps the WAL short. The writer connection keeps an automatic checkpoint
// as a backstop (db.WALBackstopPages); it finds the frames already copied
// and has little left to do.
type checkpointer struct {
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// startCheckpointer starts the background checkpoint of a writable file
// store.
func (s *Store) startCheckpointer() {
	if s.db.Maint == nil {
		return
	}
	c := &checkpointer{
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	s.ckpt = c
	go func() {
		defer close(c.done)
		for {
			select {
			case <-c.stop:
				return
			case <-c.kick:
			}
			select {
			case <-c.stop:
				return
			case <-time.After(checkpointDelay):
			}
			// PASSIVE never waits for writers or readers. A failure (a
			// full disk) is not the committer's: the next run, the
			// backstop or Reclaim's checkpoint retries it.
			var busy, logPages, done int
			_ = s.db.Maint.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &done)
		}
	}()
}

// committed tells the checkpointer that the WAL grew.
func (s *Store) committed() {
	if c := s.ckpt; c != nil {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// stopCheckpointer stops the background checkpoint and waits for it.
func (s *Store) stopCheckpointer() {
	if c := s.ckpt; c != nil {
		close(c.stop)
		<-c.done
	}
}
