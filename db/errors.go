package db

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// Kind is what a driver error means to attachstore.
type Kind int

// The kinds of driver error.
const (
	other       Kind = iota // none of the below
	Referenced              // a foreign key refused to delete a referenced row
	Conflict                // a unique or primary key refused a row
	Corrupt                 // a damaged file, not a database, or a schema the migrations did not make
	ReadOnly                // the file or connection cannot be written
	Full                    // the disk or the page limit is full
	busy                    // another connection held the lock past the busy timeout
	Interrupted             // the statement's context ended
	Retry                   // lost a race (deadlock, serialization failure); may succeed if run again
)

var schemaMismatch = []string{"unsupported file format", "no such column", "no such table", "no such index",
	"has no column named", "foreign key mismatch", "no such function", "unknown function"}

// KindOf classifies a driver error: the one place that reads SQLite's and
// PostgreSQL's error codes.
func KindOf(err error) Kind {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23503": // foreign_key_violation
			return Referenced
		case "23505": // unique_violation
			return Conflict
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return Retry
		case "53100": // disk_full: the client cannot see the server's disk, so this is how a full one shows
			return Full
		case "25006": // read_only_sql_transaction
			return ReadOnly
		case "57014": // query_canceled
			return Interrupted
		case "42P01", "42703", "42883": // undefined_table, undefined_column, undefined_function
			return Corrupt
		}
		return other
	}
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return other
	}
	msg := se.Error()
	switch {
	case se.ExtendedCode == sqlite3.ErrConstraintForeignKey,
		// ON DELETE RESTRICT fires through SQLite's foreign-key action
		// trigger, so it reports SQLITE_CONSTRAINT_TRIGGER.
		se.ExtendedCode == sqlite3.ErrConstraintTrigger && strings.Contains(msg, "FOREIGN KEY"):
		return Referenced
	case se.ExtendedCode == sqlite3.ErrConstraintUnique, se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey:
		return Conflict
	case se.Code == sqlite3.ErrNotADB, se.Code == sqlite3.ErrCorrupt,
		// A short read: the file ends before the pages its header counts.
		se.ExtendedCode == sqlite3.ErrIoErrShortRead,
		// A header this SQLite does not know, or a schema unlike the
		// migrations', is a plain SQLITE_ERROR: only its message tells.
		se.Code == sqlite3.ErrError && slices.ContainsFunc(schemaMismatch, func(m string) bool { return strings.Contains(msg, m) }):
		return Corrupt
	case se.Code == sqlite3.ErrReadonly:
		return ReadOnly
	case se.Code == sqlite3.ErrFull:
		return Full
	case se.Code == sqlite3.ErrBusy:
		return busy
	case se.Code == sqlite3.ErrInterrupt:
		return Interrupted
	}
	return other
}

// whileBusy runs try until it returns anything but a busy error, waiting
// up to 50 ms between tries, until ctx ends. try must fail busy before it
// changes anything (a BEGIN IMMEDIATE, or one statement outside a
// transaction). So another process's long write delays writers, beyond
// the busy timeout, rather than failing them with "database is locked".
func whileBusy(ctx context.Context, try func() error) error {
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		if err := try(); err == nil || KindOf(err) != busy {
			return err
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// sleep waits for d, or returns ctx's error if it ends first.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
