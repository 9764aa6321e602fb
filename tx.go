package attachstore

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attachstore/attachstore/db"
	"github.com/jmoiron/sqlx"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// Tx is one transaction: a write transaction inside Update, a read snapshot
// inside View. Its methods mean what the Store's do, and take part in the
// transaction: nothing they write is visible to others, or kept, unless the
// function given to Update returns nil. A Tx must not be used after its
// function returns, nor from another goroutine while the function runs.
type Tx struct {
	s        *Store
	q        querier
	sqlTx    *sqlx.Tx // nil for the Store's own single-statement reads
	writable bool
	host     bool // an Update's: the host's function may go on after an error
	done     bool
	// aborted is set when SQLite rolled the whole transaction back on its
	// own (SQLITE_FULL, IOERR, NOMEM can): nothing may commit after it.
	aborted error
	// wb starts the WAL's writeback while a large transaction writes.
	wb writeback
}

// wroteData tells the transaction's writeback that n more bytes of blob
// data went to SQLite.
func (tx *Tx) wroteData(n int) { tx.wb.wrote(tx.s.walPath, n) }

// querier is what helpers run statements on: a transaction, or the read
// pool for the Store's single-statement reads.
type querier interface {
	sqlx.ExtContext
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// SQL returns the underlying transaction so the host can read and write its
// own tables atomically with the attachments. It is nil for a Tx that is
// not an Update or View transaction. Do not Commit or Rollback it.
func (tx *Tx) SQL() *sqlx.Tx { return tx.sqlTx }

// Session returns the session id seen inside this transaction.
func (tx *Tx) Session(id string) *Session { return &Session{s: tx.s, tx: tx, id: id} }

func (tx *Tx) check(write bool) error {
	if tx.done {
		return fmt.Errorf("attachstore: transaction used after its function returned: %w", sql.ErrTxDone)
	}
	if tx.aborted != nil {
		return fmt.Errorf("attachstore: transaction was rolled back by an earlier error: %w", tx.aborted)
	}
	if write && !tx.writable {
		return fmt.Errorf("%w: write inside View", ErrReadOnly)
	}
	return nil
}

// Update runs fn in one write transaction: the blobs, refs, commit stamps
// and host rows (Tx.SQL) that fn writes commit together when fn returns nil.
// If fn returns an error or panics, everything is rolled back (and the panic
// goes on). Update waits for other writers — in this process or another —
// until ctx ends. Calling the Store's own methods from inside fn returns
// ErrInTransaction: use tx.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	return s.txs.run(func() error {
		return s.updateTx(ctx, "update", func(tx *Tx) error {
			tx.host = true
			return fn(tx)
		})
	})
}

// View runs fn in one read snapshot: everything fn reads through tx sees
// the store as of one moment, while writers go on.
func (s *Store) View(ctx context.Context, fn func(tx *Tx) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	return s.txs.run(func() error { return s.viewTx(ctx, fn) })
}

// undoable runs fn so that, when it fails inside a host's Update, nothing
// of it stays in the transaction: the host may handle the error and commit
// the rest of its work without keeping half a blob. The Store's own
// one-call transactions are rolled back whole instead, so they skip the
// savepoint.
func (tx *Tx) undoable(ctx context.Context, fn func() error) error {
	if !tx.host {
		return fn()
	}
	if _, err := tx.q.ExecContext(ctx, qSavepoint); err != nil {
		return mapErr(err, "savepoint")
	}
	err := fn()
	// A cancelled ctx must not stop the undo. If database/sql has already
	// rolled the whole transaction back for that ctx, these fail harmlessly.
	bg := context.WithoutCancel(ctx)
	if err != nil {
		if _, rerr := tx.q.ExecContext(bg, qRollbackToSavepoint); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			// No savepoint left means SQLite already rolled the whole
			// transaction back. Begin again so that the host's further
			// statements do not autocommit one by one; finish rolls this
			// back and the Update fails with err.
			tx.aborted = err
			_, _ = tx.q.ExecContext(bg, "BEGIN")
			return err
		}
	}
	if _, rerr := tx.q.ExecContext(bg, qReleaseSavepoint); rerr != nil && err == nil {
		err = mapErr(rerr, "release savepoint")
	}
	return err
}

func (s *Store) enter() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.txs.holding() {
		return ErrInTransaction
	}
	return nil
}

// reader returns a Tx for single-statement reads on the read pool: one
// statement is one snapshot, so it needs no BEGIN.
func (s *Store) reader() (*Tx, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	return &Tx{s: s, q: s.db.Reader}, nil
}

// update runs fn in a write transaction for one of the Store's own methods.
func (s *Store) update(ctx context.Context, what string, fn func(tx *Tx) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	return s.updateTx(ctx, what, fn)
}

func (s *Store) updateTx(ctx context.Context, what string, fn func(tx *Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.opts.readOnly {
		return fmt.Errorf("%w: %s", ErrReadOnly, what)
	}
	stx, err := s.beginWrite(ctx, s.db.Writer)
	if err != nil {
		return mapErr(err, what+": begin")
	}
	err = finish(ctx, stx, &Tx{s: s, q: stx, sqlTx: stx, writable: true}, what, fn)
	if err == nil {
		s.committed()
	}
	return err
}

// updateUnsynced is update with a commit that does not wait for fsync
// (synchronous NORMAL for this one transaction). Only Reclaim uses it: its
// transactions delete what nothing references and move free pages, and
// losing the last of them in a power cut only brings orphans back for the
// next Reclaim. WAL frames are appended in commit order, so the next
// synchronous commit (any Put, any Update) makes these durable first: a
// commit after them is never durable without them. The fsyncs they skip
// were most of a sweep's time, and what a concurrent writer waited for.
func (s *Store) updateUnsynced(ctx context.Context, what string, fn func(tx *Tx) error) error {
	return s.unsynced(ctx, what, func(conn *sqlx.Conn) error {
		stx, err := s.beginWrite(ctx, conn)
		if err != nil {
			return mapErr(err, what+": begin")
		}
		return finish(ctx, stx, &Tx{s: s, q: stx, sqlTx: stx, writable: true}, what, fn)
	})
}

// unsynced runs fn on the writer's connection with commits that do not
// wait for fsync (see updateUnsynced), and hands the connection back at
// the store's own synchronous level. fn either runs one transaction or
// statements that each commit on their own; unsynced reports the commit
// to the checkpointer when fn succeeds.
func (s *Store) unsynced(ctx context.Context, what string, fn func(conn *sqlx.Conn) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if s.opts.readOnly {
		return fmt.Errorf("%w: %s", ErrReadOnly, what)
	}
	level := strings.ToUpper(s.opts.synchronous)
	lower := !s.db.Memory && (level == "FULL" || level == "EXTRA")
	conn, err := s.db.Writer.Connx(ctx)
	if err != nil {
		return mapErr(err, what+": begin")
	}
	err = func() error {
		defer func() {
			// A connection left at NORMAL would make the next commit of a
			// user's Put undurable: restore it, or drop the connection.
			if lower {
				bg := context.WithoutCancel(ctx)
				if _, rerr := conn.ExecContext(bg, "PRAGMA synchronous = "+level); rerr != nil {
					_ = conn.Raw(func(any) error { return driver.ErrBadConn })
				}
			}
			_ = conn.Close()
		}()
		if lower {
			if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
				return mapErr(err, what+": begin")
			}
		}
		return fn(conn)
	}()
	if err == nil {
		s.committed()
	}
	return err
}

func (s *Store) viewTx(ctx context.Context, fn func(tx *Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	stx, err := s.db.Reader.BeginTxx(ctx, nil)
	if err != nil {
		return mapErr(err, "view: begin")
	}
	if s.db.Memory {
		// An in-memory store reads on the connection that also writes: make
		// it refuse writes until fn returns, as a file's read pool does, so
		// that host SQL in a View fails the same way on both.
		if _, err := stx.ExecContext(ctx, qQueryOnlyOn); err != nil {
			_ = stx.Rollback()
			return mapErr(err, "view: begin")
		}
		inner := fn
		fn = func(tx *Tx) error {
			defer func() { _, _ = stx.ExecContext(context.WithoutCancel(ctx), qQueryOnlyOff) }()
			return inner(tx)
		}
	}
	return finish(ctx, stx, &Tx{s: s, q: stx, sqlTx: stx}, "view", fn)
}

// finish runs fn and commits when it returns nil; otherwise, or on panic,
// it rolls back. ctx is the transaction's: when it ends first, database/sql
// rolls back on its own and Commit may say only sql.ErrTxDone, so the
// context's error is reported instead.
func finish(ctx context.Context, stx *sqlx.Tx, tx *Tx, what string, fn func(tx *Tx) error) (err error) {
	// After the commit or rollback below: a writeback request in flight
	// overlaps the commit's fsync instead of delaying it.
	defer tx.wb.stop()
	defer func() {
		tx.done = true
		if p := recover(); p != nil {
			_ = stx.Rollback()
			panic(p)
		}
		if err == nil && tx.aborted != nil {
			err = fmt.Errorf("attachstore: %s: rolled back by an earlier error: %w", what, tx.aborted)
		}
		if err != nil {
			_ = stx.Rollback()
			return
		}
		err = stx.Commit()
		if errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
			err = ctx.Err()
		}
		err = mapErr(err, what+": commit")
	}()
	return fn(tx)
}

// beginWrite begins an IMMEDIATE transaction on the writer. SQLite's busy
// handler waits up to the busy timeout for another process's writer; past
// that, beginWrite keeps trying until ctx ends, so a long write elsewhere
// (a large PutReader, a Reclaim batch) delays writers rather than failing
// them with "database is locked".
func (s *Store) beginWrite(ctx context.Context, on interface {
	BeginTxx(context.Context, *sql.TxOptions) (*sqlx.Tx, error)
}) (*sqlx.Tx, error) {
	var stx *sqlx.Tx
	err := whileBusy(ctx, func() (err error) {
		stx, err = on.BeginTxx(ctx, nil)
		return err
	})
	return stx, err
}

// whileBusy runs try until it returns anything but SQLITE_BUSY, waiting a
// little longer between tries (up to 50 ms) until ctx ends. try must be
// something that fails busy before it changes anything: a BEGIN
// IMMEDIATE, or a single write statement outside a transaction, which
// takes the write lock before its first change.
func whileBusy(ctx context.Context, try func() error) error {
	delay := time.Millisecond
	for {
		err := try()
		if err == nil || !db.IsSQLiteError(err, sqlite3.ErrBusy) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// txRegistry remembers which goroutines are inside Update or View, so that a
// Store method called from inside returns ErrInTransaction instead of
// waiting forever for the connection its own transaction holds.
type txRegistry struct {
	n    atomic.Int32
	gids sync.Map // goroutine id -> struct{}
}

func (r *txRegistry) run(fn func() error) error {
	gid := goroutineID()
	r.gids.Store(gid, struct{}{})
	r.n.Add(1)
	defer func() {
		r.n.Add(-1)
		r.gids.Delete(gid)
	}()
	return fn()
}

// holding reports whether the calling goroutine is inside Update or View.
// It costs one atomic load unless some transaction is open.
func (r *txRegistry) holding() bool {
	if r.n.Load() == 0 {
		return false
	}
	_, ok := r.gids.Load(goroutineID())
	return ok
}

// goroutineID parses the id from the first line of the goroutine's stack
// ("goroutine 123 [running]:"). Go offers no cheaper way; it is only called
// while an Update or View is open.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
