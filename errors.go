package attachstore

import (
	"context"
	"database/sql"
	"errors"
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
	// ErrInvalid: an argument attachstore does not accept. Each of the
	// ErrInvalid… errors below matches it too.
	ErrInvalid = errors.New("attachstore: invalid argument")
	// ErrInvalidID: not 64 hex digits (optionally prefixed "sha256:").
	ErrInvalidID error = invalidError("invalid id")
	// ErrInvalidMeta: a media type, label or Extra that Meta does not accept.
	ErrInvalidMeta error = invalidError("invalid metadata")
	// ErrInvalidSession: an empty, overlong or malformed session id or owner.
	ErrInvalidSession error = invalidError("invalid session id")
	// ErrInvalidOption: an Option value that Open does not accept.
	ErrInvalidOption error = invalidError("invalid option")
	// ErrInvalidPolicy: a ReclaimPolicy that Reclaim does not accept.
	ErrInvalidPolicy error = invalidError("invalid reclaim policy")
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
	// wrote (a writable Open adopts it), or an Open found an attachstore_…
	// schema object its migrations did not make, which the message names.
	// Open changed nothing.
	ErrNotAStore = db.ErrNotAStore
	// ErrCorrupt: the file is not a database, SQLite found it damaged, or
	// stored bytes do not match their id.
	ErrCorrupt = errors.New("attachstore: database is corrupt or not an attachstore database")
	// ErrReadOnly: a write was attempted on a read-only store or inside
	// View, or a file that cannot be written was opened without
	// WithReadOnly.
	ErrReadOnly = db.ErrReadOnly
	// ErrFull: the disk (PostgreSQL's too) or the database's page limit is
	// full, or a put of new content would leave less than the disk reserve
	// free (WithDiskReserve). Nothing of the failed write is kept; Discard,
	// DropSession and Reclaim still run, and once space is free, puts work
	// again.
	ErrFull = errors.New("attachstore: database or disk is full")
	// ErrSessionDropped: a put, commit or hold into a session that
	// DropSession dropped, before Reclaim cleared its tombstone.
	ErrSessionDropped = errors.New("attachstore: session was dropped")
	// ErrConflict: on PostgreSQL, a transaction kept losing races with
	// others (deadlocks, serialization failures); nothing of it was kept.
	ErrConflict = errors.New("attachstore: transaction kept conflicting with others; nothing was written")
	// ErrNoRoots: Reclaim would delete blobs from a store whose manifest is
	// empty (no ref and no tombstone), as in a host that never used
	// sessions, or the wrong file. It deleted nothing; see
	// ReclaimPolicy.AllowEmptyRoots.
	ErrNoRoots = errors.New("attachstore: refusing to reclaim: no session holds any ref (set AllowEmptyRoots to reclaim anyway)")
	// ErrRowidsMayChange: Compact would rewrite a file in which tables not
	// attachstore's have implicit rowids, which it may renumber. It changed
	// nothing; give AllowRowidChanges when the host stores none of them.
	ErrRowidsMayChange = errors.New("attachstore: refusing to compact: the rewrite may renumber the implicit rowids of tables that are not attachstore's")
)

const prefix = "attachstore: "

// invalidError is an ErrInvalid… sentinel: it matches ErrInvalid too.
type invalidError string

func (e invalidError) Error() string        { return prefix + string(e) }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

// kinds gives each kind of driver error the sentinel it means.
var kinds = [...]error{
	db.Referenced:  ErrReferenced,
	db.Corrupt:     ErrCorrupt,
	db.ReadOnly:    ErrReadOnly,
	db.Full:        ErrFull,
	db.Retry:       ErrConflict,
	db.Interrupted: context.Canceled,
}

// wrap is the error boundary, as gocloud's wrapError: each exported
// method returns its error through it once, naming op (what it did, to
// which id or session) and giving a driver error its sentinel. Helpers
// return errors as they get them; one named by an exported method called
// inside passes as it is. s is nil for Open.
func wrap(s *Store, op string, err error) error {
	if _, named := err.(*opError); err == nil || named {
		return err
	}
	var sentinel error
	if k := db.KindOf(err); int(k) < len(kinds) {
		sentinel = kinds[k]
	}
	switch {
	case sentinel != nil:
	case errors.Is(err, sql.ErrConnDone) || s != nil && s.closed.Load() && !errors.Is(err, ErrInvalid):
		// database/sql says "sql: database is closed" without an error
		// value to match: the store knows it was closed meanwhile.
		sentinel = ErrClosed
	case strings.HasPrefix(err.Error(), "sql: Scan error"):
		// A value of the wrong type in a column attachstore wrote itself.
		// database/sql's conversion errors have no type to match, so the
		// message is all there is to go by.
		sentinel = ErrCorrupt
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		err = &kindError{sentinel, err}
	}
	return &opError{op, err}
}

// opError names the operation an exported method did before its cause.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return prefix + e.op + ": " + strings.TrimPrefix(e.err.Error(), prefix)
}
func (e *opError) Unwrap() error { return e.err }

// kindError is a driver error with the sentinel it means; both match it.
// Its message leaves out the driver's when that says the same (SQLite's
// "database or disk is full").
type kindError struct{ kind, err error }

func (e *kindError) Error() string {
	if m := e.err.Error(); m != strings.TrimPrefix(e.kind.Error(), prefix) {
		return e.kind.Error() + ": " + m
	}
	return e.kind.Error()
}

func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }
