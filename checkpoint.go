package attachstore

import (
	"context"
	"database/sql/driver"
	"strconv"
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
// keeps the WAL short. A large PutReader returns once its bytes are durable
// in the WAL, not after they were copied a second time.
//
// A PASSIVE checkpoint never waits for writers, so under a steady stream
// of commits it may never find the WAL fully copied, and only a write that
// begins when it is rewinds the WAL to its start. A RESTART checkpoint
// from this connection would queue for the write lock behind the writers
// and starve. So when the WAL has grown past db.WALRewindBytes the
// checkpointer raises a flag, and the next commit runs RESTART on the
// writer's own connection, which holds what RESTART waits for; most of the
// copying is done by then. That commit's caller waits for the rest (bench
// W6 saw 10–40 ms), once per WALRewindBytes of writes that outran the
// background copy.
//
// Another process's writes are copied back when this process commits, or
// by SQLite when the last connection to the file closes.
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
			// A failure (a full disk) is not the committer's: the next
			// commit's run or Reclaim's checkpoint retries it.
			ctx := context.Background()
			var busy, logPages, done int
			err := s.db.Maint.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &done)
			if err == nil {
				s.walOver.Store(int64(logPages)*s.db.PageSize > s.walRewind)
			}
		}
	}()
}

// committed is called after each commit of the writer: it rewinds the WAL
// when the checkpointer asked for it, and tells the checkpointer the WAL
// grew.
func (s *Store) committed() {
	if c := s.ckpt; c != nil {
		if s.walOver.CompareAndSwap(true, false) {
			s.rewindWAL()
		}
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

// rewindWAL runs a RESTART checkpoint on the writer's connection without
// waiting for anyone: a reader still on old WAL frames (a long View, a
// Verify) would otherwise hold this commit's caller for the whole busy
// timeout, and again after every later checkpoint. When it cannot finish,
// the WAL is simply not rewound this time; the next over-limit checkpoint
// asks again.
func (s *Store) rewindWAL() {
	ctx := context.Background()
	c, err := s.db.Writer.Conn(ctx)
	if err != nil {
		return
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		return
	}
	var busy, logPages, done int
	_ = c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &logPages, &done)
	if _, err := c.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.FormatInt(s.db.BusyTimeout.Milliseconds(), 10)); err != nil {
		// A connection left without its busy timeout would fail writes
		// that should wait: drop it, the pool opens a fresh one.
		_ = c.Raw(func(any) error { return driver.ErrBadConn })
	}
}
