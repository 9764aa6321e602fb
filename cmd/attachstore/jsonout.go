package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attachstore/attachstore"
)

// The --json vocabulary. Every command's objects name one concept by one
// key (a session is "session", never "session_id"), and every key a
// command prints is always there: an empty label is "", no extra is null,
// a ref not yet committed has "committed_at": null. A script can then
// read any field without first asking whether it exists. jsonvocab_test
// holds each command to its key set.

// refJSON is a blob's metadata, as stat, ls, put and get print it.
type refJSON struct {
	ID        attachstore.ID  `json:"id"`
	Size      int64           `json:"size"`
	MediaType string          `json:"media_type"`
	Label     string          `json:"label"`
	Extra     json.RawMessage `json:"extra"` // null when there is none
	CreatedAt time.Time       `json:"created_at"`
}

func refOut(r attachstore.Ref) refJSON {
	extra := r.Extra
	if len(extra) == 0 {
		extra = nil
	}
	return refJSON{ID: r.ID, Size: r.Size, MediaType: r.MediaType, Label: r.Label, Extra: extra, CreatedAt: r.CreatedAt}
}

// entryJSON is one ref a session holds, as refs and export print it.
type entryJSON struct {
	Session string `json:"session"`
	refJSON
	Owner       string     `json:"owner"`
	IntentAt    time.Time  `json:"intent_at"`
	Committed   bool       `json:"committed"`
	CommittedAt *time.Time `json:"committed_at"` // null while pending
}

func entryOut(e attachstore.Entry) entryJSON {
	out := entryJSON{Session: e.SessionID, refJSON: refOut(e.Ref), Owner: e.Owner, IntentAt: e.IntentAt, Committed: e.Committed()}
	if out.Committed {
		at := e.CommittedAt
		out.CommittedAt = &at
	}
	return out
}

// optional is a string field that does not apply to every run of a
// command (rm's session without --session): null then, never left out,
// and never "" (which may be a value: the owner "").
func optional(given bool, v string) *string {
	if !given {
		return nil
	}
	return &v
}

// qHoldsRef counts a session's manifest rows for a blob; attachstore's
// tables may be read by a host, never written.
const qHoldsRef = `SELECT count(*) FROM attachstore_refs WHERE session_id = ? AND blob_id = ?`

// remove deletes the blob (or, with sess, drops that session's ref to it)
// and reports whether there was anything to remove: the library's Delete
// returns nil for an id that is absent, and rm --json must not call that
// removed. The look and the delete are one transaction.
func remove(ctx context.Context, s *attachstore.Store, sess string, id attachstore.ID) (removed bool, err error) {
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		if sess == "" {
			_, err := tx.Stat(ctx, id)
			if err != nil {
				if errors.Is(err, attachstore.ErrNotFound) {
					removed = false
					return nil
				}
				return err
			}
			removed = true
			return tx.Delete(ctx, id)
		}
		var n int64
		if err := tx.SQL().QueryRowContext(ctx, tx.SQL().Rebind(qHoldsRef), sess, id[:]).Scan(&n); err != nil {
			return fmt.Errorf("reading session %q: %w", truncate(sess, 80), err)
		}
		removed = n > 0
		return tx.Session(sess).Delete(ctx, id)
	})
	return removed, err
}
