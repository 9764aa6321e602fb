package attachstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/attachstore/attachstore/db"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// Sentinel errors. Every error attachstore returns for one of these causes
// matches it with errors.Is; the underlying driver error, where there is one,
// stays reachable through errors.As.
var (
	// ErrNotFound: no blob with that id, or the session holds no ref to it.
	ErrNotFound = errors.New("attachstore: not found")
	// ErrReferenced: the blob cannot be deleted while a session references it.
	ErrReferenced = errors.New("attachstore: blob is referenced by a session")
	// ErrInvalidID: not 64 hex digits (optionally prefixed "sha256:").
	ErrInvalidID = errors.New("attachstore: invalid id")
	// ErrInvalidMeta: a media type, label or Extra that Meta does not accept.
	ErrInvalidMeta = errors.New("attachstore: invalid metadata")
	// ErrInvalidSession: an empty, overlong or malformed session id or owner.
	ErrInvalidSession = errors.New("attachstore: invalid session id")
	// ErrTooLarge: the blob is larger than the store's maximum blob size.
	ErrTooLarge = errors.New("attachstore: blob too large")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("attachstore: store is closed")
	// ErrSchemaTooNew: the file was written by a newer attachstore.
	ErrSchemaTooNew = db.ErrSchemaTooNew
	// ErrDirtySchema: a schema migration stopped half-way; the message says
	// how to recover.
	ErrDirtySchema = db.ErrDirty
	// ErrCorrupt: the file is not an attachstore database, or SQLite found
	// it damaged.
	ErrCorrupt = errors.New("attachstore: database is corrupt or not an attachstore database")
	// ErrReadOnly: a write was attempted on a read-only file or inside View,
	// or a file that cannot be written was opened without WithReadOnly.
	ErrReadOnly = db.ErrReadOnlyFile
	// ErrFull: the disk, or the database's page limit, is full. Nothing of
	// the failed write is kept; the store works again once space is freed.
	ErrFull = errors.New("attachstore: database or disk is full")
	// ErrInTransaction: a Store method was called from inside that Store's
	// Update or View function; use the *Tx instead.
	ErrInTransaction = errors.New("attachstore: Store method called inside its own transaction; use the Tx")
)

// mapErr gives a driver error its sentinel, naming what was being done. It
// returns nil for nil and leaves attachstore's own and context errors alone.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("attachstore: %s: %w", what, err)
	}
	if errors.Is(err, sql.ErrConnDone) || err.Error() == "sql: database is closed" {
		return fmt.Errorf("%w: %s", ErrClosed, what)
	}
	if strings.HasPrefix(err.Error(), "sql: Scan error") {
		// A value of the wrong type in a column attachstore wrote itself.
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, what, err)
	}
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	var sentinel error
	switch {
	case se.ExtendedCode == sqlite3.ErrConstraintForeignKey,
		// ON DELETE RESTRICT fires through SQLite's foreign-key action
		// trigger, so it reports SQLITE_CONSTRAINT_TRIGGER.
		se.ExtendedCode == sqlite3.ErrConstraintTrigger && strings.Contains(se.Error(), "FOREIGN KEY"):
		sentinel = ErrReferenced
	case se.Code == sqlite3.ErrNotADB, se.Code == sqlite3.ErrCorrupt,
		// A header whose schema format or read version this SQLite does
		// not know is a plain SQLITE_ERROR.
		se.Code == sqlite3.ErrError && strings.Contains(se.Error(), "unsupported file format"),
		// A short read: the file ends before the pages its header counts.
		se.ExtendedCode == sqlite3.ErrIoErrShortRead,
		// The schema no longer matches what the migrations created.
		se.Code == sqlite3.ErrError && schemaMismatch(se.Error()):
		sentinel = ErrCorrupt
	case se.Code == sqlite3.ErrReadonly:
		sentinel = ErrReadOnly
	case se.Code == sqlite3.ErrFull:
		sentinel = ErrFull
	case se.Code == sqlite3.ErrInterrupt:
		// mattn/go-sqlite3 interrupts a statement when its context ends.
		return fmt.Errorf("attachstore: %s: %w: %w", what, context.Canceled, err)
	default:
		return fmt.Errorf("attachstore: %s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %w", sentinel, what, err)
}

// schemaMismatch recognises SQLite's messages for a schema that differs from
// the one attachstore's migrations created.
func schemaMismatch(msg string) bool {
	for _, m := range []string{"no such column", "no such table", "no such index", "has no column named", "foreign key mismatch", "no such function", "unknown function"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}
