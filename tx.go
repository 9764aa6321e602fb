package attachstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"

	"github.com/jmoiron/sqlx"
)

// Tx is one transaction: a write transaction inside Update, a read snapshot
// inside View. Its methods mean what the Store's do, and take part in the
// transaction: nothing they write is visible to others, or kept, unless the
// function given to Update returns nil. A Tx must not be used after its
// function returns, nor from another goroutine while the function runs.
// Inside the function, work through the Tx: a Store method may block on
// the transaction itself (see Update and View; a Store Reader's Read
// waits on the ctx NewReader was given).
type Tx struct {
	s        *Store
	q        querier
	sqlTx    *sqlx.Tx  // nil for the Store's own single-statement reads
	conn     *sql.Conn // sqlTx's connection (see db.Pipeline)
	writable bool
	host     bool // an Update's: the host's function may go on after an error
	done     bool
	aborted  error           // the database rolled it all back (see undoable): nothing may commit
	locked   map[string]bool // sessions locked (see lockSession)
}

// lockSession serializes this transaction's writes into a session with
// other transactions' across the processes that share a PostgreSQL
// database, until the transaction ends: a drop and a put into the same
// session, or two owners' commits of the same blob, would otherwise each
// miss the other's uncommitted rows. Writes into different sessions go on
// in parallel. On SQLite the one writer does this already.
func (tx *Tx) lockSession(ctx context.Context, id string) error {
	if tx.locked[id] || !tx.s.db.Postgres() {
		return nil
	}
	if _, err := tx.exec(ctx, qLockSession, sessionLockKey(id)); err != nil {
		return err
	}
	tx.markLocked(id)
	return nil
}

// sessionLockKey is the advisory lock of lockSession.
func sessionLockKey(id string) int64 {
	h := fnv.New64a()
	h.Write([]byte("attachstore session\x00" + id))
	return int64(h.Sum64())
}

func (tx *Tx) markLocked(id string) {
	if tx.locked == nil {
		tx.locked = map[string]bool{}
	}
	tx.locked[id] = true
}

// querier is what helpers run statements on: a transaction, or the read
// pool for the Store's single-statement reads.
type querier interface {
	sqlx.ExtContext
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (tx *Tx) exec(ctx context.Context, q *stmt, args ...any) (sql.Result, error) {
	return tx.q.ExecContext(ctx, tx.s.text(q), args...)
}

func (tx *Tx) query(ctx context.Context, q *stmt, args ...any) (*sql.Rows, error) {
	return tx.q.QueryContext(ctx, tx.s.text(q), args...)
}

func (tx *Tx) queryRow(ctx context.Context, q *stmt, args ...any) *sql.Row {
	return tx.q.QueryRowContext(ctx, tx.s.text(q), args...)
}

// each runs a read and calls row with each row's values as the driver gives
// them (int64, string, nil, or []byte the caller may keep) until row says
// stop: the Store's own reads on SQLite through the driver's raw path
// (db.Read), the rest through database/sql.
func (tx *Tx) each(ctx context.Context, q *stmt, args []any, row func([]driver.Value) (stop bool, err error)) error {
	if tx.raw() {
		return tx.s.db.Read(ctx, q.sqlite, args, row)
	}
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	// Scan copies a []byte into an *any.
	vals, ptrs, row1 := make([]any, len(cols)), make([]any, len(cols)), make([]driver.Value, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			row1[i] = v
		}
		if stop, err := row(row1); stop || err != nil {
			return err
		}
	}
	return rows.Err()
}

// raw says reads may take the driver's raw path (see each).
func (tx *Tx) raw() bool { return tx.sqlTx == nil && !tx.s.db.Postgres() }

// SQL returns the underlying transaction so the host can read and write its
// own tables atomically with the attachments. Do not Commit or Rollback it;
// each attachstore call inside Update runs in a savepoint of it. Its
// placeholders are the engine's (? on SQLite, $1 on PostgreSQL): write
// ? and pass the query through Rebind to serve both. attachstore's own
// tables may be read, never written. The *sqlx.Tx embeds the *sql.Tx.
func (tx *Tx) SQL() *sqlx.Tx { return tx.sqlTx }

// Session returns the session id seen inside this transaction.
func (tx *Tx) Session(id string) *Session { return &Session{s: tx.s, tx: tx, id: id} }

func (tx *Tx) check(write bool) error {
	if tx.done {
		return fmt.Errorf("transaction used after its function returned: %w", sql.ErrTxDone)
	}
	if tx.aborted != nil {
		return fmt.Errorf("transaction was rolled back by an earlier error: %w", tx.aborted)
	}
	if write && !tx.writable {
		return fmt.Errorf("%w: write inside View", ErrReadOnly)
	}
	return nil
}

// undoable runs fn so that, when it fails inside a host's Update, nothing
// of it stays in the transaction: the host may handle the error and commit
// the rest of its work. The Store's own one-call transactions are rolled
// back whole instead, so they skip the savepoint.
func (tx *Tx) undoable(ctx context.Context, fn func() error) error {
	if !tx.host {
		return fn()
	}
	if _, err := tx.exec(ctx, qSavepoint); err != nil {
		return err
	}
	if err := fn(); err != nil {
		return tx.undo(ctx, err)
	}
	_, err := tx.exec(context.WithoutCancel(ctx), qReleaseSavepoint)
	return err
}

// undo rolls a host's Update back to the savepoint of the call that failed
// with err, and releases it; it returns err.
func (tx *Tx) undo(ctx context.Context, err error) error {
	// A cancelled ctx must not stop the undo.
	bg := context.WithoutCancel(ctx)
	if _, rerr := tx.exec(bg, qRollbackToSavepoint); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
		// No savepoint left: SQLite rolled the whole transaction back
		// (it does on SQLITE_FULL, IOERR, NOMEM). Begin again, so that
		// the host's further statements do not each commit on their
		// own; runOnce rolls this back and the Update fails.
		tx.aborted = err
		_, _ = tx.exec(bg, qBegin)
		return err
	}
	// Locks taken inside the savepoint went with it.
	tx.locked = nil
	_, _ = tx.exec(bg, qReleaseSavepoint)
	return err
}

// rowsOf runs a query and returns its rows, each as scan reads it.
func rowsOf[T any](ctx context.Context, tx *Tx, q *stmt, scan func(*sql.Rows) (T, error), args ...any) ([]T, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// paged yields the rows of one page after another, next reading each after
// the key of the last row of the one before (the zero key first), until a
// page comes back shorter than listPage. Nothing is held open between
// pages. An error ends it.
func paged[T, K any](next func(after K) ([]T, error), key func(T) K) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var after K
		for {
			page, err := next(after)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, v := range page {
				if !yield(v, nil) {
					return
				}
			}
			if len(page) < listPage {
				return
			}
			after = key(page[len(page)-1])
		}
	}
}

// exists runs a count and reports whether it counted anything.
func (tx *Tx) exists(ctx context.Context, q *stmt, args ...any) (bool, error) {
	var n int64
	err := tx.queryRow(ctx, q, args...).Scan(&n)
	return n > 0, err
}

// affected is how many rows the statement exec ran changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
