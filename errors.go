package attachstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/attachstore/attachstore/db"
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
	// ErrInvalidOption: an Option value that Open does not accept.
	ErrInvalidOption = errors.New("attachstore: invalid option")
	// ErrInvalidPolicy: a ReclaimPolicy that Reclaim does not accept.
	ErrInvalidPolicy = errors.New("attachstore: invalid reclaim policy")
	// ErrTooLarge: the blob is larger than the store's maximum blob size.
	ErrTooLarge = errors.New("attachstore: blob too large")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("attachstore: store is closed")
	// ErrSchemaTooNew: the file was written by a newer attachstore.
	ErrSchemaTooNew = db.ErrSchemaTooNew
	// ErrDirtySchema: a schema migration stopped half-way; the message says
	// how to recover.
	ErrDirtySchema = db.ErrDirty
	// ErrNotAStore: a read-only Open found a database attachstore never
	// wrote (a writable Open would adopt the file), or any Open found a
	// schema object named as one of attachstore's (attachstore_…) that is
	// not attachstore's own as its recorded migration made it; the message
	// names the object. Open changed nothing.
	ErrNotAStore = db.ErrNotAStore
	// ErrCorrupt: the file is not a database, SQLite found it damaged, or
	// stored bytes do not match their id.
	ErrCorrupt = errors.New("attachstore: database is corrupt or not an attachstore database")
	// ErrReadOnly: a write was attempted on a read-only store or inside
	// View, or a file that cannot be written was opened without
	// WithReadOnly.
	ErrReadOnly = db.ErrReadOnly
	// ErrFull: the disk, or the database's page limit, is full; or a put
	// of new content would leave less than the disk reserve free (see
	// WithDiskReserve); or, on PostgreSQL, the server's disk is full
	// (SQLSTATE 53100, disk_full). Nothing of the failed write is kept.
	// Discard, DropSession and Reclaim still run, and once they (or
	// anything else) free space, puts work again.
	ErrFull = errors.New("attachstore: database or disk is full")
	// ErrSessionDropped: a put, commit or hold into a session that
	// DropSession dropped, before Reclaim cleared its tombstone.
	ErrSessionDropped = errors.New("attachstore: session was dropped")
	// ErrConflict: on PostgreSQL, a transaction kept losing races with
	// others (deadlocks, serialization failures) and was retried as often
	// as attachstore retries; nothing of it was kept.
	ErrConflict = errors.New("attachstore: transaction kept conflicting with others; nothing was written")
	// ErrNoRoots: Reclaim would delete blobs from a store whose manifest is
	// empty (no ref, committed or not, and no tombstone; a hold alone does
	// not count), which is what a host that never used sessions, or the wrong file,
	// looks like. It deleted nothing; set ReclaimPolicy.AllowEmptyRoots to
	// reclaim anyway.
	ErrNoRoots = errors.New("attachstore: refusing to reclaim: no session holds any ref (set AllowEmptyRoots to reclaim anyway)")
	// ErrRowidsMayChange: Compact would rewrite a file in which tables
	// that are not attachstore's have implicit rowids, which the rewrite
	// may renumber under a host that stores them. It changed nothing; give
	// AllowRowidChanges when the host stores none of them.
	ErrRowidsMayChange = errors.New("attachstore: refusing to compact: the rewrite may renumber the implicit rowids of tables that are not attachstore's")
)

const prefix = "attachstore: "

// opError is an error that names what attachstore was doing. Its message
// starts with one "attachstore: ", however many layers named their part.
type opError struct {
	msg string
	err error
}

func (e *opError) Error() string { return e.msg }
func (e *opError) Unwrap() error { return e.err }

// errorf names op in err, keeping one "attachstore: " at the start.
func errorf(op string, err error) error {
	return &opError{msg: prefix + op + ": " + strings.TrimPrefix(err.Error(), prefix), err: err}
}

// mapErr gives a driver error its sentinel, naming what was being done. It
// returns nil for nil and leaves attachstore's own errors alone.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errorf(what, err)
	}
	if errors.Is(err, sql.ErrConnDone) || err.Error() == "sql: database is closed" {
		return fmt.Errorf("%w: %s", ErrClosed, what)
	}
	if strings.HasPrefix(err.Error(), "sql: Scan error") {
		// A value of the wrong type in a column attachstore wrote itself.
		return errorf(what, fmt.Errorf("%w: %w", ErrCorrupt, err))
	}
	var sentinel error
	switch db.KindOf(err) {
	case db.Referenced:
		sentinel = ErrReferenced
	case db.Corrupt:
		sentinel = ErrCorrupt
	case db.ReadOnly:
		sentinel = ErrReadOnly
	case db.Full:
		sentinel = ErrFull
	case db.Retry:
		sentinel = ErrConflict
	case db.Interrupted:
		return errorf(what, fmt.Errorf("%w: %w", context.Canceled, err))
	default:
		if strings.HasPrefix(err.Error(), prefix) {
			return err // attachstore's own, which says what it was doing
		}
		return errorf(what, err)
	}
	return errorf(what, fmt.Errorf("%w: %w", sentinel, err))
}
