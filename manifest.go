package attachstore

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxSessionIDBytes bounds session ids and owners.
const MaxSessionIDBytes = 256

// Session is one agent session's view of the store: the manifest of refs
// it holds. A session reads only content it holds a ref to. Content put
// through a session is an uncommitted intent until Commit stamps it; Reclaim
// forgets intents that stay uncommitted longer than its Grace.
//
// A Session from Store.Session runs each method in its own transaction; one
// from Tx.Session runs inside that transaction. Session values are cheap and
// safe for concurrent use when taken from a Store.
type Session struct {
	s     *Store
	tx    *Tx // nil: each call is its own transaction
	id    string
	owner string
}

// Session returns the session with that id. The id is checked when a method
// is called: non-empty, at most MaxSessionIDBytes, valid UTF-8, no NUL, or
// ErrInvalidSession.
func (s *Store) Session(id string) *Session { return &Session{s: s, id: id} }

// ID returns the session id.
func (ss *Session) ID() string { return ss.id }

// WithOwner returns a copy of the session whose puts record owner (e.g. a
// turn id), for CommitOwned.
func (ss *Session) WithOwner(owner string) *Session {
	c := *ss
	c.owner = owner
	return &c
}

// Entry is one manifest row: a session's ref to content.
type Entry struct {
	SessionID string `json:"session_id"`
	Ref
	Owner       string    `json:"owner,omitempty"`
	IntentAt    time.Time `json:"intent_at"`
	CommittedAt time.Time `json:"committed_at,omitzero"` // zero while uncommitted
}

// Committed reports whether the entry has been stamped committed.
func (e Entry) Committed() bool { return !e.CommittedAt.IsZero() }

func validSessionText(what, s string, allowEmpty bool) error {
	switch {
	case s == "" && !allowEmpty:
		return fmt.Errorf("%w: empty %s", ErrInvalidSession, what)
	case len(s) > MaxSessionIDBytes:
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalidSession, what, len(s), MaxSessionIDBytes)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return fmt.Errorf("%w: %s %q: want valid UTF-8 without NUL", ErrInvalidSession, what, truncate(s, 80))
	}
	return nil
}

func (ss *Session) validate() error {
	if err := validSessionText("session id", ss.id, false); err != nil {
		return err
	}
	return validSessionText("owner", ss.owner, true)
}

// write runs fn in the session's transaction, or in a new write transaction.
func (ss *Session) write(ctx context.Context, what string, fn func(tx *Tx) error) error {
	if err := ss.validate(); err != nil {
		return err
	}
	if ss.tx != nil {
		if err := ss.tx.check(true); err != nil {
			return err
		}
		return ss.tx.undoable(ctx, func() error { return fn(ss.tx) })
	}
	return ss.s.update(ctx, what, fn)
}

// read runs fn in the session's transaction, or on the read pool.
func (ss *Session) read(fn func(tx *Tx) error) error {
	if err := ss.validate(); err != nil {
		return err
	}
	if ss.tx != nil {
		if err := ss.tx.check(false); err != nil {
			return err
		}
		return fn(ss.tx)
	}
	t, err := ss.s.reader()
	if err != nil {
		return err
	}
	return fn(t)
}

func (ss *Session) errf(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("attachstore: session %q: %s: %w", truncate(ss.id, 80), op, err)
}

// errID is errf for an operation on one id, the session's counterpart of
// wrapID (which has no session to name). The id is formatted only on
// error: a guarded read's success path spent two allocations on it.
func (ss *Session) errID(op string, id ID, err error) error {
	if err == nil {
		return nil
	}
	return ss.errf(op+" "+id.String(), err)
}

// Put stores data and records this session's uncommitted intent to
// reference it, in one transaction: after a crash there is either both or
// neither. The ref keeps meta (each session reads back its own metadata). A
// re-put of content the session already holds refreshes the metadata and
// never clears a commit stamp.
func (ss *Session) Put(ctx context.Context, data []byte, meta Meta) (Ref, error) {
	var ref Ref
	err := ss.write(ctx, "session put", func(tx *Tx) error {
		m, err := meta.normalize()
		if err != nil {
			return err
		}
		if err := ss.s.checkSize(int64(len(data))); err != nil {
			return err
		}
		if ref, err = tx.putBytes(ctx, ContentID(data), data, m); err != nil {
			return err
		}
		ref.Meta = m
		return ss.addRef(ctx, tx, ref.ID, m)
	})
	return ref, ss.errf("put", err)
}

// PutReader is Put for a stream; see Store.PutReader.
func (ss *Session) PutReader(ctx context.Context, r io.Reader, meta Meta) (Ref, error) {
	var ref Ref
	err := ss.write(ctx, "session put", func(tx *Tx) error {
		m, err := meta.normalize()
		if err != nil {
			return err
		}
		if ref, err = tx.putStream(ctx, r, m); err != nil {
			return err
		}
		ref.Meta = m
		return ss.addRef(ctx, tx, ref.ID, m)
	})
	return ref, ss.errf("put", err)
}

func (ss *Session) addRef(ctx context.Context, tx *Tx, id ID, m Meta) error {
	res, err := tx.q.ExecContext(ctx, qUpsertRef, ss.id, id[:], m.MediaType, m.Label, extraArg(m.Extra),
		ss.owner, ss.s.now())
	if err != nil {
		return mapErr(err, "add ref "+id.String())
	}
	// The blob was put in this transaction, so it is there; no row means
	// it is not, and the ref was not written.
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err, "add ref "+id.String())
	}
	if n == 0 {
		return fmt.Errorf("add ref %s: %w: content is not stored", id, ErrNotFound)
	}
	return nil
}

// Get returns content this session holds a ref to, with the metadata the
// session put. Content the session holds no ref to is ErrNotFound, even if
// it is stored.
func (ss *Session) Get(ctx context.Context, id ID) (Attachment, error) {
	var a Attachment
	err := ss.read(func(tx *Tx) (err error) {
		a, err = tx.readAll(ctx, id, sessionRead, ss.id, id[:])
		return err
	})
	return a, ss.errID("get", id, err)
}

// NewReader streams content this session holds a ref to; see Store.NewReader.
func (ss *Session) NewReader(ctx context.Context, id ID) (*Reader, error) {
	var r *Reader
	err := ss.read(func(tx *Tx) error {
		b, err := tx.stat(ctx, qSessionStat, id, ss.id, id[:])
		if err != nil {
			return err
		}
		r = tx.openReader(ctx, b)
		return nil
	})
	return r, ss.errID("open", id, err)
}

// Delete drops this session's ref to the content; the bytes stay for other
// sessions, and Reclaim collects them once no ref is left. Deleting a ref the
// session does not hold is not an error.
func (ss *Session) Delete(ctx context.Context, id ID) error {
	return ss.errID("delete", id, ss.write(ctx, "session delete", func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, qDeleteRef, ss.id, id[:])
		return mapErr(err, "delete ref")
	}))
}

// Pending returns the ids this session put and has not committed, oldest
// intent first. It reads the database, so it survives a restart.
func (ss *Session) Pending(ctx context.Context) ([]ID, error) {
	var ids []ID
	err := ss.read(func(tx *Tx) error {
		rows, err := tx.q.QueryContext(ctx, qPending, ss.id)
		if err != nil {
			return mapErr(err, "pending")
		}
		defer rows.Close()
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				return mapErr(err, "pending")
			}
			id, err := idFromBytes(b)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return mapErr(rows.Err(), "pending")
	})
	return ids, ss.errf("pending", err)
}

// Commit stamps this session's refs to ids committed, or every pending ref
// when no id is given. It stamps existing rows only: an id the session holds
// no ref to (never put, deleted, or forgotten by Reclaim) is ErrNotFound and
// nothing is stamped. An earlier stamp is never changed.
func (ss *Session) Commit(ctx context.Context, ids ...ID) error {
	return ss.errf("commit", ss.write(ctx, "commit", func(tx *Tx) error {
		now := ss.s.now()
		if len(ids) == 0 {
			_, err := tx.q.ExecContext(ctx, qCommitAll, now, ss.id)
			return mapErr(err, "commit")
		}
		for _, id := range ids {
			res, err := tx.q.ExecContext(ctx, qCommitOne, now, ss.id, id[:])
			if err != nil {
				return mapErr(err, "commit "+id.String())
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return fmt.Errorf("%w: no ref to %s to commit", ErrNotFound, id)
			}
		}
		return nil
	}))
}

// CommitOwned stamps committed every pending ref of this session that was
// put with that owner (see WithOwner).
func (ss *Session) CommitOwned(ctx context.Context, owner string) error {
	if err := validSessionText("owner", owner, true); err != nil {
		return ss.errf("commit", err)
	}
	return ss.errf("commit", ss.write(ctx, "commit", func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, qCommitOwned, ss.s.now(), ss.id, owner)
		return mapErr(err, "commit")
	}))
}

// Refs returns every manifest row of this session, oldest intent first.
func (ss *Session) Refs(ctx context.Context) ([]Entry, error) {
	var es []Entry
	err := ss.read(func(tx *Tx) (err error) {
		es, err = tx.entries(ctx, qSessionEntries, ss.id)
		return err
	})
	return es, ss.errf("refs", err)
}

// DropSession releases every ref of the session. The bytes stay until
// Reclaim finds them unreferenced.
func (s *Store) DropSession(ctx context.Context, id string) error {
	ss := s.Session(id)
	return ss.errf("drop", ss.write(ctx, "drop session", func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, qDropSession, id)
		return mapErr(err, "drop session")
	}))
}

// ListUncommitted returns every uncommitted ref, across sessions, whose
// intent is older than olderThan, oldest first.
func (s *Store) ListUncommitted(ctx context.Context, olderThan time.Time) ([]Entry, error) {
	t, err := s.reader()
	if err != nil {
		return nil, err
	}
	return t.entries(ctx, qUncommitted, olderThan.UnixNano())
}

// HoldsRef reports whether the session holds a ref (committed or not) to id.
func (s *Store) HoldsRef(ctx context.Context, sessionID string, id ID) (bool, error) {
	var ok bool
	ss := s.Session(sessionID)
	err := ss.read(func(tx *Tx) error {
		return mapErr(tx.q.QueryRowContext(ctx, qHoldsRef, sessionID, id[:]).Scan(&ok), "holds ref")
	})
	return ok, ss.errf("holds ref", err)
}

func (tx *Tx) entries(ctx context.Context, query string, args ...any) ([]Entry, error) {
	rows, err := tx.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err, "list refs")
	}
	defer rows.Close()
	var es []Entry
	for rows.Next() {
		var (
			e               Entry
			id              []byte
			extra           *string
			created, intent int64
			committed       sql.NullInt64
		)
		if err := rows.Scan(&e.SessionID, &id, &e.Size, &e.MediaType, &e.Label, &extra, &created,
			&e.Owner, &intent, &committed); err != nil {
			return nil, mapErr(err, "list refs")
		}
		if e.ID, err = idFromBytes(id); err != nil {
			return nil, err
		}
		e.Extra = extraFrom(extra)
		e.CreatedAt = time.Unix(0, created)
		e.IntentAt = time.Unix(0, intent)
		if committed.Valid {
			e.CommittedAt = time.Unix(0, committed.Int64)
		}
		es = append(es, e)
	}
	return es, mapErr(rows.Err(), "list refs")
}

func idFromBytes(b []byte) (ID, error) {
	var id ID
	if len(b) != len(id) {
		return ID{}, fmt.Errorf("%w: stored id has %d bytes", ErrCorrupt, len(b))
	}
	copy(id[:], b)
	return id, nil
}
