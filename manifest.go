package attachstore

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/attachstore/attachstore/db"
)

// MaxSessionIDBytes bounds session ids and owners.
const MaxSessionIDBytes = 256

// Session is one agent session's view of the store: the manifest of refs
// it holds, committed and owners' intents (see the package doc). A session
// reads only content it holds a ref to. Two owners (WithOwner) that put the
// same bytes hold two intents, each committed, expired or discarded on its
// own; nothing an owner does un-commits the session's committed ref.
//
// A Session from Store.Session runs each method in its own transaction and
// is safe for concurrent use; one from Tx.Session runs inside that
// transaction.
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
// turn id) for CommitOwned, Discard and Hold. Owners follow the rules of
// session ids, except that the empty owner (the default) is allowed.
func (ss *Session) WithOwner(owner string) *Session {
	c := *ss
	c.owner = owner
	return &c
}

// Entry is one ref, a manifest row: a session's committed ref to a blob, or
// an owner's intent to it.
type Entry struct {
	SessionID string `json:"session_id"`
	Ref
	Owner       string    `json:"owner,omitempty"`
	IntentAt    time.Time `json:"intent_at"`
	CommittedAt time.Time `json:"committed_at,omitzero"` // zero while uncommitted
}

// Committed reports whether the ref has been stamped committed: whether it
// is no longer an intent.
func (e Entry) Committed() bool { return !e.CommittedAt.IsZero() }

// SessionInfo is one session's use of the store.
type SessionInfo struct {
	ID           string    `json:"id"`
	Refs         int64     `json:"refs"`    // manifest rows: committed refs and intents
	Pending      int64     `json:"pending"` // of which uncommitted intents
	Bytes        int64     `json:"bytes"`   // sizes of the distinct blobs it refers to, summed
	LastIntentAt time.Time `json:"last_intent_at"`
}

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

// Validate reports whether the session's id and owner (WithOwner) are
// ones the store accepts, as an error matching ErrInvalidSession; every
// write checks them so. A server can call it before it reads a request's
// body.
func (ss *Session) Validate() error {
	if err := validSessionText("session id", ss.id, false); err != nil {
		return err
	}
	return validSessionText("owner", ss.owner, true)
}

// write runs fn in the session's transaction, or in a new write
// transaction, after checking the session id and owner. Writes into one
// session are serialized (Tx.lockSession).
func (ss *Session) write(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ss.Validate(); err != nil {
		return err
	}
	locked := func(tx *Tx) error {
		if err := tx.lockSession(ctx, ss.id); err != nil {
			return err
		}
		return fn(tx)
	}
	if ss.tx != nil {
		if err := ss.tx.check(true); err != nil {
			return err
		}
		return ss.tx.undoable(ctx, func() error { return locked(ss.tx) })
	}
	return ss.s.run(ctx, true, locked)
}

// read runs fn in the session's transaction, or on the read pool, and
// names op (on id, when not nil) in its error.
func read[T any](ss *Session, op string, id *ID, fn func(tx *Tx) (T, error)) (T, error) {
	var v T
	err := validSessionText("session id", ss.id, false)
	if err == nil && ss.tx != nil {
		err = ss.tx.check(false)
	}
	if err == nil {
		tx := ss.tx
		if tx == nil {
			tx = ss.s.reader()
		}
		v, err = fn(tx)
	}
	return v, ss.errf(op, id, err)
}

// errf names the session, and the id when there is one, in an error.
func (ss *Session) errf(op string, id *ID, err error) error {
	if err == nil {
		return nil
	}
	if id != nil {
		op += " " + id.String()
	}
	return wrap(ss.s, fmt.Sprintf("session %q: %s", truncate(ss.id, 80), op), err)
}

// Put stores data and records this owner's uncommitted intent to reference
// it, in one transaction: after a crash there is either both or neither.
// The ref keeps meta (each session reads back its own metadata). A re-put
// by the same owner refreshes its intent; a ref the session holds committed
// stays committed, with its metadata. A dropped session is
// ErrSessionDropped.
func (ss *Session) Put(ctx context.Context, data []byte, meta Meta) (Ref, error) {
	var ref Ref
	err := ss.write(ctx, func(tx *Tx) error {
		m, err := meta.normalize()
		if err != nil {
			return err
		}
		if ref, _, err = tx.putBytes(ctx, data, m); err != nil {
			return err
		}
		ref.Meta = m
		return ss.addIntent(ctx, tx, ref.ID, m)
	})
	return ref, ss.errf("put", nil, err)
}

// PutCommitted is Put and then Commit of its id, in one transaction and
// with fewer writes: the ref is written committed at once, owned by this
// owner, and no intent is left behind, so CommitOwned and Discard of this
// owner see nothing of it. A ref the session holds committed already stays
// as it is, and the session's intents to the same bytes become part of it,
// as Commit does. A dropped session is ErrSessionDropped.
func (ss *Session) PutCommitted(ctx context.Context, data []byte, meta Meta) (Ref, error) {
	var ref Ref
	m, err := meta.normalize()
	general := func(tx *Tx) error {
		var stored bool
		var err error
		if ref, stored, err = tx.putBytes(ctx, data, m); err != nil {
			return err
		}
		id, now := ref.ID, ss.s.now()
		n, err := affected(tx.exec(ctx, qAddCommitted, ss.id, ss.owner, now,
			m.MediaType, m.Label, extraArg(m.Extra), id[:]))
		if err == nil && n == 0 {
			// Held committed already, or the session was dropped.
			err = ss.notDropped(ctx, tx)
		}
		if err != nil {
			return err
		}
		if !stored {
			// Stored before this put: intents to it may exist.
			_, err = tx.exec(ctx, qDropIntentsTo, ss.id, id[:])
		}
		ref.Meta = m
		return err
	}
	switch {
	case err != nil:
	case ss.s.db.Postgres() && len(data) <= ss.s.opts.chunkSize:
		err = ss.putCommittedPG(ctx, data, m, &ref, general)
	default:
		err = ss.write(ctx, general)
	}
	return ref, ss.errf("put", nil, err)
}

// putCommittedPG is PutCommitted of content of at most one chunk on
// PostgreSQL. New content takes one round trip: the savepoint of a call
// inside an Update, the session's lock, one statement writing the blob,
// its chunk and the committed ref, and the savepoint's release, sent
// together (db.Pipeline). When that statement writes nothing (the content
// is stored already, or the session was dropped), general does the put
// in the same transaction and says which.
func (ss *Session) putCommittedPG(ctx context.Context, data []byte, m Meta, ref *Ref, general func(tx *Tx) error) error {
	if err := ss.Validate(); err != nil {
		return err
	}
	if err := ss.s.checkSize(int64(len(data))); err != nil {
		return err
	}
	id, now := ContentID(data), ss.s.now()
	// fast reports whether the statement wrote the put.
	fast := func(tx *Tx) (bool, error) {
		var steps []db.Step
		if tx.host {
			steps = append(steps, db.Step{Query: tx.s.text(qSavepoint)})
		}
		if !tx.locked[ss.id] {
			steps = append(steps, db.Step{Query: tx.s.text(qLockSession), Args: []any{sessionLockKey(ss.id)}})
		}
		var one int64
		steps = append(steps, db.Step{Query: tx.s.text(qPutCommittedPG), Scan: []any{&one}, Args: []any{id[:], int64(len(data)),
			tx.s.opts.chunkSize, m.MediaType, m.Label, extraArg(m.Extra), now, data, ss.id, ss.owner}})
		if tx.host {
			steps = append(steps, db.Step{Query: tx.s.text(qReleaseSavepoint)})
		}
		err := tx.s.db.Pipeline(ctx, tx.conn, steps)
		switch {
		case err == nil || errors.Is(err, sql.ErrNoRows):
			// The statement ran, and every other step.
			tx.markLocked(ss.id)
			*ref = Ref{ID: id, Size: int64(len(data)), Meta: m, CreatedAt: time.Unix(0, now)}
			return err == nil, nil
		case tx.host:
			return false, tx.undo(ctx, err)
		default:
			return false, err
		}
	}
	if tx := ss.tx; tx != nil {
		if err := tx.check(true); err != nil {
			return err
		}
		if ok, err := fast(tx); ok || err != nil {
			return err
		}
		return ss.write(ctx, general)
	}
	return ss.s.run(ctx, true, func(tx *Tx) error {
		if ok, err := fast(tx); ok || err != nil {
			return err
		}
		return general(tx)
	})
}

// PutReader is Put for a stream; see Store.PutReader. Into a dropped
// session it fails before reading r.
func (ss *Session) PutReader(ctx context.Context, r io.Reader, meta Meta) (Ref, error) {
	var ref Ref
	err := ss.write(ctx, once(func(tx *Tx) error {
		m, err := meta.normalize()
		if err != nil {
			return err
		}
		if err := ss.notDropped(ctx, tx); err != nil {
			return err
		}
		if ref, err = tx.putStream(ctx, r, m); err != nil {
			return err
		}
		ref.Meta = m
		return ss.addIntent(ctx, tx, ref.ID, m)
	}))
	return ref, ss.errf("put", nil, err)
}

func (ss *Session) addIntent(ctx context.Context, tx *Tx, id ID, m Meta) error {
	n, err := affected(tx.exec(ctx, qAddIntent, ss.id, ss.owner, ss.s.now(),
		m.MediaType, m.Label, extraArg(m.Extra), id[:]))
	if err == nil && n == 0 {
		err = ErrSessionDropped
	}
	return err
}

// notDropped returns ErrSessionDropped for a session with a tombstone.
func (ss *Session) notDropped(ctx context.Context, tx *Tx) error {
	dropped, err := tx.exists(ctx, qIsDropped, ss.id)
	if err == nil && dropped {
		err = ErrSessionDropped
	}
	return err
}

// Get returns content this session holds a ref to, with the metadata of
// its committed ref, or else of its newest intent. Content the session
// holds no ref to is ErrNotFound, even if it is stored.
func (ss *Session) Get(ctx context.Context, id ID) (Attachment, error) {
	return read(ss, "get", &id, func(tx *Tx) (Attachment, error) {
		return tx.readAll(ctx, id, qSessionGet, ss.id, id[:])
	})
}

// NewReader streams content this session holds a ref to; see Store.NewReader.
// Content of one chunk is read in the query that checks the ref, so the
// Reader reads nothing more.
func (ss *Session) NewReader(ctx context.Context, id ID) (*Reader, error) {
	return read(ss, "open", &id, func(tx *Tx) (*Reader, error) {
		return tx.open(ctx, id, qSessionOpen, ss.id, id[:])
	})
}

// Delete drops every ref this session holds to the content: its committed
// ref and every owner's intent. The bytes stay for other sessions, and
// Reclaim collects them once no ref is left. Deleting content the session
// holds no ref to is not an error.
func (ss *Session) Delete(ctx context.Context, id ID) error {
	return ss.errf("delete", &id, ss.write(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, qDeleteRef, ss.id, id[:])
		return err
	}))
}

// Pending returns the ids this session holds an uncommitted intent to,
// each once, oldest intent first. It reads the database, so it survives a
// restart.
func (ss *Session) Pending(ctx context.Context) ([]ID, error) {
	return read(ss, "pending", nil, func(tx *Tx) ([]ID, error) {
		return tx.ids(ctx, qPending, ss.id)
	})
}

// Commit stamps this session's refs to ids committed, or to every pending
// id when none is given, whoever's intents they are: each id's newest
// intent becomes the committed ref (unless the session holds one already),
// and the other intents to it become part of it. An id the session holds
// no ref to (never put, deleted, or forgotten by Reclaim) is ErrNotFound,
// and then nothing is stamped. An earlier stamp is never changed.
func (ss *Session) Commit(ctx context.Context, ids ...ID) error {
	return ss.errf("commit", nil, ss.write(ctx, func(tx *Tx) error {
		if len(ids) == 0 {
			var err error
			if ids, err = tx.ids(ctx, qPending, ss.id); err != nil || len(ids) == 0 {
				return cmp.Or(err, ss.notDropped(ctx, tx))
			}
		}
		now := ss.s.now()
		for _, id := range ids {
			stamped, err := affected(tx.exec(ctx, qStampNewest, ss.id, id[:], now))
			if err == nil {
				_, err = tx.exec(ctx, qDropIntentsTo, ss.id, id[:])
			}
			// Nothing stamped: the session held the ref committed, holds
			// none, or was dropped. Checked after the stamp, which a
			// reclaimer cannot undo, not before it, when one may still
			// forget the intent.
			held := stamped > 0
			if err == nil && !held {
				held, err = tx.exists(ctx, qHasCommitted, ss.id, id[:])
			}
			if err != nil {
				return err
			}
			if !held {
				return cmp.Or(ss.notDropped(ctx, tx), fmt.Errorf("%w: no ref to %s to commit", ErrNotFound, id))
			}
		}
		return nil
	}))
}

// CommitOwned stamps committed every intent of this session that owner
// put (see WithOwner), and returns the ids it stamped, oldest intent first:
// also those the session already held committed, whose owner's intent
// becomes part of that ref. None is not an error. It ends owner's hold.
// Intents that Reclaim forgot (their owner waited past Grace without a
// Hold) are not among the ids.
func (ss *Session) CommitOwned(ctx context.Context, owner string) ([]ID, error) {
	return ss.endOwned(ctx, "commit owned by", owner, func(tx *Tx) ([]intent, error) {
		merged, err := tx.intents(ctx, qMergeOwned, ss.id, owner)
		if err != nil {
			return nil, err
		}
		stamped, err := tx.intents(ctx, qStampOwned, ss.id, owner, ss.s.now())
		if err == nil && len(merged)+len(stamped) == 0 {
			// A dropped session holds no intent: say why there is none.
			err = ss.notDropped(ctx, tx)
		}
		return append(merged, stamped...), err
	})
}

// Discard forgets every uncommitted intent of this session that owner put,
// now, and returns their ids, oldest first; a ref the session holds
// committed stays. It ends owner's hold. Blobs left with no ref are
// orphans for Reclaim.
func (ss *Session) Discard(ctx context.Context, owner string) ([]ID, error) {
	return ss.endOwned(ctx, "discard intents of", owner, func(tx *Tx) ([]intent, error) {
		return tx.intents(ctx, qDiscard, ss.id, owner)
	})
}

// endOwned runs fn, which changes owner's intents and returns them, and
// ends owner's hold, in one write; it returns the ids oldest intent first.
func (ss *Session) endOwned(ctx context.Context, op, owner string, fn func(tx *Tx) ([]intent, error)) ([]ID, error) {
	var ids []ID
	err := ss.WithOwner(owner).write(ctx, func(tx *Tx) error {
		in, err := fn(tx)
		if err != nil {
			return err
		}
		ids = inIntentOrder(in)
		_, err = tx.exec(ctx, qEndHold, ss.id, owner)
		return err
	})
	if err != nil {
		return nil, ss.errf(fmt.Sprintf("%s %q", op, truncate(owner, 80)), nil, err)
	}
	return ids, nil
}

// Hold keeps owner's intents in this session from Reclaim until the time
// until, whatever Reclaim's Grace: for a turn that waits for a person. The
// hold is stored, so it survives restarts and binds a Reclaim in another
// process. Hold again moves the time; CommitOwned and Discard end it. A
// dropped session is ErrSessionDropped.
func (ss *Session) Hold(ctx context.Context, owner string, until time.Time) error {
	return ss.errf(fmt.Sprintf("hold intents of %q", truncate(owner, 80)), nil, ss.WithOwner(owner).write(ctx, func(tx *Tx) error {
		if err := ss.notDropped(ctx, tx); err != nil {
			return err
		}
		_, err := tx.exec(ctx, qHold, ss.id, owner, until.UnixNano())
		return err
	}))
}

// Holds returns this session's holds, by owner: what keeps which owner's
// intents from Reclaim, and until when. A hold that has lapsed is listed
// until Reclaim forgets it; compare Until with the time.
func (ss *Session) Holds(ctx context.Context) ([]Hold, error) {
	return read(ss, "holds", nil, func(tx *Tx) ([]Hold, error) {
		return rowsOf(ctx, tx, qSessionHolds, func(rows *sql.Rows) (h Hold, err error) {
			var until int64
			err = rows.Scan(&h.Owner, &until)
			h.Until = time.Unix(0, until)
			return h, err
		}, ss.id)
	})
}

// Hold is one owner's hold on its intents in a session (Session.Hold).
type Hold struct {
	Owner string
	Until time.Time
}

// Refs returns every manifest row of this session, committed refs and each
// owner's intents, oldest intent first.
func (ss *Session) Refs(ctx context.Context) ([]Entry, error) {
	return read(ss, "refs", nil, func(tx *Tx) ([]Entry, error) {
		return tx.entries(ctx, qSessionEntries, ss.id)
	})
}

// DropSession releases every ref and hold of a session, in one
// transaction, and leaves a tombstone: until Reclaim clears it (once it is
// older than Reclaim's Grace), puts, commits and holds into the session
// return ErrSessionDropped, so a turn still in flight cannot bring a
// deleted chat back. The bytes stay until Reclaim finds them unreferenced.
func (s *Store) DropSession(ctx context.Context, id string) error {
	return s.Session(id).drop(ctx)
}

// DropSession drops a session inside this transaction, so that a host
// deletes a chat and its own rows together; see Store.DropSession.
func (tx *Tx) DropSession(ctx context.Context, id string) error {
	return tx.Session(id).drop(ctx)
}

func (ss *Session) drop(ctx context.Context) error {
	return ss.errf("drop", nil, ss.write(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, qDropRefs, ss.id)
		if err == nil {
			_, err = tx.exec(ctx, qDropHolds, ss.id)
		}
		if err == nil {
			_, err = tx.exec(ctx, qTombstone, ss.id, ss.s.now())
		}
		return err
	}))
}

// Sessions yields every session that holds a ref, committed or not, in id
// order, with its use of the store. It reads in pages and holds nothing
// open between them; an error ends the iteration.
func (s *Store) Sessions(ctx context.Context) iter.Seq2[SessionInfo, error] {
	return paged(func(after string) ([]SessionInfo, error) {
		page, err := s.sessionsPage(ctx, after)
		return page, wrap(s, "sessions", err)
	}, func(si SessionInfo) string { return si.ID })
}

func (s *Store) sessionsPage(ctx context.Context, after string) ([]SessionInfo, error) {
	// One snapshot for the page and each session's use of the store.
	var page []SessionInfo
	err := s.run(ctx, false, func(t *Tx) (err error) {
		page, err = rowsOf(ctx, t, qSessionPage, func(rows *sql.Rows) (si SessionInfo, err error) {
			err = rows.Scan(&si.ID)
			return si, err
		}, after, listPage)
		if err != nil {
			return err
		}
		for i := range page {
			si := &page[i]
			var last int64
			if err := t.queryRow(ctx, qSessionUsage, si.ID).Scan(&si.Refs, &si.Pending, &last, &si.Bytes); err != nil {
				return err
			}
			si.LastIntentAt = time.Unix(0, last)
		}
		return nil
	})
	return page, err
}

// RefsTo returns every ref to the blob with that id, across sessions: who
// holds it, committed or not.
func (s *Store) RefsTo(ctx context.Context, id ID) ([]Entry, error) {
	es, err := s.reader().entries(ctx, qBlobEntries, id[:])
	return es, wrapID(s, "refs to", id, err)
}

// ListUncommitted returns every uncommitted intent, across sessions, whose
// intent is older than olderThan, oldest first.
func (s *Store) ListUncommitted(ctx context.Context, olderThan time.Time) ([]Entry, error) {
	es, err := s.reader().entries(ctx, qUncommitted, olderThan.UnixNano())
	return es, wrap(s, "list uncommitted", err)
}

// HoldsRef reports whether the session holds a ref (committed or not) to id.
func (s *Store) HoldsRef(ctx context.Context, sessionID string, id ID) (bool, error) {
	ss := s.Session(sessionID)
	return read(ss, "holds ref", &id, func(tx *Tx) (bool, error) {
		return tx.exists(ctx, qHasRef, ss.id, id[:])
	})
}

// Committed reports whether the session holds a committed ref to id (no
// ref at all is false, nil). It answers what no one row of Refs can: a
// session may hold its committed ref and other owners' intents to one blob.
func (ss *Session) Committed(ctx context.Context, id ID) (bool, error) {
	return read(ss, "committed", &id, func(tx *Tx) (bool, error) {
		return tx.exists(ctx, qHasCommitted, ss.id, id[:])
	})
}

// intent is an id with its intent time, as qMergeOwned, qStampOwned and
// qDiscard return them.
type intent struct {
	id ID
	at int64
}

// intents runs a statement that returns (blob_id, intent_at) rows.
func (tx *Tx) intents(ctx context.Context, q *stmt, args ...any) ([]intent, error) {
	return rowsOf(ctx, tx, q, func(rows *sql.Rows) (i intent, err error) {
		var b []byte
		if err = rows.Scan(&b, &i.at); err == nil {
			i.id, err = idFromBytes(b)
		}
		return i, err
	}, args...)
}

// inIntentOrder returns the ids oldest intent first, then by id.
func inIntentOrder(in []intent) []ID {
	slices.SortFunc(in, func(a, b intent) int {
		return cmp.Or(cmp.Compare(a.at, b.at), bytes.Compare(a.id[:], b.id[:]))
	})
	var ids []ID
	for _, x := range in {
		ids = append(ids, x.id)
	}
	return ids
}

// ids runs a query that yields blob ids.
func (tx *Tx) ids(ctx context.Context, q *stmt, args ...any) ([]ID, error) {
	return rowsOf(ctx, tx, q, func(rows *sql.Rows) (ID, error) {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return ID{}, err
		}
		return idFromBytes(b)
	}, args...)
}

func (tx *Tx) entries(ctx context.Context, q *stmt, args ...any) ([]Entry, error) {
	return rowsOf(ctx, tx, q, func(rows *sql.Rows) (e Entry, err error) {
		var (
			id                         []byte
			extra                      *string
			created, intent, committed int64
		)
		if err := rows.Scan(&e.SessionID, &id, &e.Size, &e.MediaType, &e.Label, &extra, &created,
			&e.Owner, &intent, &committed); err != nil {
			return e, err
		}
		e.Extra = extraFrom(extra)
		e.CreatedAt = time.Unix(0, created)
		e.IntentAt = time.Unix(0, intent)
		if committed != 0 {
			e.CommittedAt = time.Unix(0, committed)
		}
		e.ID, err = idFromBytes(id)
		return e, err
	}, args...)
}
