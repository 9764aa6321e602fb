package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/attachstore/attachstore"
)

var commitCmd = &command{
	name:    "commit",
	args:    "--session S [--owner O | ID...]",
	summary: "commit pending refs (all, O's, or IDs); print ids",
	access:  writes,
	long: `
Commit stamps existing refs only, and prints each id it stamped, one per
line. Without IDs or --owner, every pending ref of the session is committed,
in one transaction. With --owner O, what owner O put into the session (put
--session S --owner O) is committed, in one transaction, which ends O's
'hold'; the ids printed are exactly what O staged, those the session
already held committed included, so a host can record a turn's attachments
from them. O may be "" for what was put without --owner.

With IDs, each is committed on its own (an ID prefix is resolved among the
session's ids): one the session holds no ref to (never put, removed, or
forgotten by reclaim) is reported on stderr and the others are still
committed; the exit status is then 1. A ref committed earlier keeps its
first stamp. A session dropped by drop-session cannot be committed to until
reclaim clears it. --json prints one object per id committed: {"session":
S, "owner": O, "id": ..., "committed": true}; owner is null without
--owner.`,
	setup: setupCommit,
}

func setupCommit(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	session := fs.String("session", "", "the `SESSION` whose refs to commit (required)")
	owner := fs.String("owner", "", "commit only what `OWNER` put, and print those ids")
	return func(ctx context.Context, args []string) error {
		sess, err := sessionFlag(fs, *session, true)
		if err != nil {
			return err
		}
		byOwner := isSet(fs, "owner")
		if byOwner && len(args) > 0 {
			return badUsage("--owner commits what its owner put: give no IDs with it")
		}
		ids := parseIDArgs(args)
		if c.allMalformed(ids) {
			return nil
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		ss := s.Session(sess)
		committed := func(id attachstore.ID) error {
			if c.json {
				return c.emitJSON(struct {
					Session   string         `json:"session"`
					Owner     *string        `json:"owner"`
					ID        attachstore.ID `json:"id"`
					Committed bool           `json:"committed"`
				}{sess, optional(byOwner, *owner), id, true})
			}
			_, err := fmt.Fprintln(c.stdout, id)
			return err
		}
		if byOwner {
			stamped, err := ss.CommitOwned(ctx, *owner)
			if err != nil {
				return c.fail("commit", sessionSubj(sess), err)
			}
			for _, id := range stamped {
				if err := committed(id); err != nil {
					return err
				}
			}
			return nil
		}
		if len(ids) == 0 {
			// Listing the pending ids and committing them in one
			// transaction commits exactly the ids printed, and lets the
			// library say when the session was dropped (which holds none).
			var pending []attachstore.ID
			err := s.Update(ctx, func(tx *attachstore.Tx) error {
				ts := tx.Session(sess)
				var err error
				if pending, err = ts.Pending(ctx); err != nil {
					return err
				}
				return ts.Commit(ctx)
			})
			if err != nil {
				return c.fail("commit", sessionSubj(sess), err)
			}
			for _, id := range pending {
				if err := committed(id); err != nil {
					return err
				}
			}
			return nil
		}
		rs, err := c.resolveFor(ctx, s, sess, ids)
		if err != nil {
			return err
		}
		return c.each(ctx, len(rs), func(i int) error {
			if rs[i].err != nil {
				return c.fail("commit", idSubj(rs[i].arg.arg), within(sessionSubj(sess).String(), rs[i].err))
			}
			id := rs[i].id
			if err := ss.Commit(ctx, id); err != nil {
				return c.fail("commit", idSubj(id.String()), within(sessionSubj(sess).String(), err))
			}
			return committed(id)
		})
	}
}

var discardCmd = &command{
	name:    "discard",
	args:    "--session S --owner O",
	summary: "forget what O put into S and did not commit",
	access:  writes,
	long: `
Discard forgets, now, every uncommitted ref that owner O put into session S
(put --session S --owner O), ends O's 'hold', and prints the id of each
ref it forgot, one per line. A ref the session holds committed stays, and so
do other owners' refs. O may be "" for what was put without --owner. The
bytes stay until 'reclaim' finds them unreferenced. --json prints one
object per id: {"session": S, "owner": O, "id": ..., "discarded": true}.`,
	setup: setupDiscard,
}

func setupDiscard(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	session := fs.String("session", "", "the `SESSION` to discard from (required)")
	owner := fs.String("owner", "", "the `OWNER` whose uncommitted refs to forget (required)")
	return func(ctx context.Context, args []string) error {
		if len(args) != 0 {
			return badUsage("discard takes no arguments")
		}
		sess, err := sessionFlag(fs, *session, true)
		if err != nil {
			return err
		}
		if !isSet(fs, "owner") {
			return badUsage("--owner OWNER is required (--owner \"\" for what was put without one)")
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		ids, err := s.Session(sess).Discard(ctx, *owner)
		if err != nil {
			return c.fail("discard", sessionSubj(sess), err)
		}
		for _, id := range ids {
			if c.json {
				err = c.emitJSON(struct {
					Session   string         `json:"session"`
					Owner     string         `json:"owner"`
					ID        attachstore.ID `json:"id"`
					Discarded bool           `json:"discarded"`
				}{sess, *owner, id, true})
			} else {
				_, err = fmt.Fprintln(c.stdout, id)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
}

var holdCmd = &command{
	name:    "hold",
	args:    "--session S --owner O (--for DURATION | --until TIME)",
	summary: "keep O's uncommitted refs from reclaim until then",
	access:  writes,
	long: `
A hold keeps what owner O put into session S and has not committed from
'reclaim', whatever its --grace, until the hold lapses: for a turn that
waits for a person. --for 2h holds for two hours from now; --until takes a
time in RFC 3339 form (2026-01-02T15:04:05Z, or with an offset). The hold is
stored in the database, so every process's reclaim honours it; holding
again moves the time. 'commit --owner O' and 'discard --owner O' end it.
O may be "" for what was put without --owner. Nothing is printed; --json
prints {"session": S, "owner": O, "until": TIME}.`,
	setup: setupHold,
}

func setupHold(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	session := fs.String("session", "", "the `SESSION` the owner put into (required)")
	owner := fs.String("owner", "", "the `OWNER` whose uncommitted refs to hold (required)")
	dur := fs.Duration("for", 0, "hold for this `DURATION` from now (e.g. 2h)")
	untilS := fs.String("until", "", "hold until `TIME` (RFC 3339)")
	return func(ctx context.Context, args []string) error {
		if len(args) != 0 {
			return badUsage("hold takes no arguments")
		}
		sess, err := sessionFlag(fs, *session, true)
		if err != nil {
			return err
		}
		if !isSet(fs, "owner") {
			return badUsage("--owner OWNER is required (--owner \"\" for what was put without one)")
		}
		var until time.Time
		switch {
		case isSet(fs, "for") == isSet(fs, "until"):
			return badUsage("give one of --for DURATION and --until TIME")
		case isSet(fs, "for"):
			if *dur <= 0 {
				return badUsage("--for %v: want a positive duration", *dur)
			}
			until = time.Now().Add(*dur)
		default:
			if until, err = time.Parse(time.RFC3339Nano, *untilS); err != nil {
				return badUsage("--until %q: want a time such as 2026-01-02T15:04:05Z", *untilS)
			}
			if !until.After(time.Now()) {
				return badUsage("--until %s is not in the future", *untilS)
			}
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		if err := s.Session(sess).Hold(ctx, *owner, until); err != nil {
			return c.fail("hold", sessionSubj(sess), err)
		}
		if c.json {
			return c.emitJSON(struct {
				Session string    `json:"session"`
				Owner   string    `json:"owner"`
				Until   time.Time `json:"until"`
			}{sess, *owner, until})
		}
		return nil
	}
}

var sessionsCmd = &command{
	name:    "sessions",
	summary: "list every session: refs, pending, bytes, last intent",
	access:  reads,
	long: `
One line per session that holds a ref or an uncommitted intent, in id
order: the session, its refs (committed refs and each owner's intents, as
'refs' lists them), how many of those are pending, the bytes of the
distinct blobs it refers to, and the time of its newest intent. --json
prints one object per session: session, refs, pending, bytes,
last_intent_at.`,
	setup: setupSessions,
}

func setupSessions(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) != 0 {
			return badUsage("sessions takes no arguments")
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		tw := c.table()
		for si, err := range s.Sessions(ctx) {
			if err != nil {
				tw.Flush()
				return c.fail("sessions", subject{}, err)
			}
			if c.json {
				err = c.emitJSON(struct {
					Session      string    `json:"session"`
					Refs         int64     `json:"refs"`
					Pending      int64     `json:"pending"`
					Bytes        int64     `json:"bytes"`
					LastIntentAt time.Time `json:"last_intent_at"`
				}{si.ID, si.Refs, si.Pending, si.Bytes, si.LastIntentAt})
			} else {
				_, err = fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", printable(si.ID), si.Refs, si.Pending, si.Bytes, formatTime(si.LastIntentAt))
			}
			if err != nil {
				return err
			}
		}
		return tw.Flush()
	}
}

var refsCmd = &command{
	name:    "refs",
	args:    "--session S [--pending]",
	summary: "list a session's refs (or its pending ids)",
	long: `
Text output has one ref per line: id, size, state (committed or pending),
owner, media type and label as that session put them. With --pending only
the ids of uncommitted refs are printed, oldest first. --json prints one
object per ref: session, id, size, media_type, label, extra, created_at,
owner, intent_at, committed, committed_at (null while pending); with
--pending: {"session": S, "id": ...}.`,
	setup: setupRefs,
}

func setupRefs(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	session := fs.String("session", "", "the `SESSION` whose refs to list (required)")
	pending := fs.Bool("pending", false, "list only the ids of uncommitted refs")
	return func(ctx context.Context, args []string) error {
		if len(args) != 0 {
			return badUsage("refs takes no arguments")
		}
		sess, err := sessionFlag(fs, *session, true)
		if err != nil {
			return err
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		ss := s.Session(sess)
		subj := sessionSubj(sess)
		if *pending {
			ids, err := ss.Pending(ctx)
			if err != nil {
				return c.fail("refs", subj, err)
			}
			for _, id := range ids {
				if c.json {
					err = c.emitJSON(struct {
						Session string         `json:"session"`
						ID      attachstore.ID `json:"id"`
					}{sess, id})
				} else {
					_, err = fmt.Fprintln(c.stdout, id)
				}
				if err != nil {
					return err
				}
			}
			return nil
		}
		es, err := ss.Refs(ctx)
		if err != nil {
			return c.fail("refs", subj, err)
		}
		tw := c.table()
		for _, e := range es {
			if c.json {
				err = c.emitJSON(entryOut(e))
			} else {
				state := "pending"
				if e.Committed() {
					state = "committed"
				}
				_, err = fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", e.ID, e.Size, state,
					orDash(printable(e.Owner)), e.MediaType, printable(e.Label))
			}
			if err != nil {
				return err
			}
		}
		return tw.Flush()
	}
}

var dropSessionCmd = &command{
	name:    "drop-session",
	args:    "S...",
	summary: "release each S's refs; S blocked until reclaim",
	access:  writes,
	long: `
Drop-session releases every ref, intent and hold of each session, and
leaves a tombstone: until 'reclaim' clears it (once it is older than
reclaim's --grace), the session's name is blocked, and puts, commits and
holds into it fail (kind session_dropped), so that a turn still in flight
cannot bring a deleted chat back. A session that held nothing is dropped
all the same, since its first turn may be in flight: drop-session then says
so on stderr. The bytes stay until 'reclaim' finds them unreferenced.

Every session is tried: one that fails is reported on stderr and the others
are still dropped; the exit status is then 1. --json prints one object per
session dropped: {"session": S, "dropped": true, "existed": B}, where
existed is false when the session held no ref, intent or hold and was not
dropped already.`,
	setup: setupDropSession,
}

// qSessionExisted counts what shows that a session was in use: a ref or
// intent, a hold, or a tombstone. attachstore's tables may be read (never
// written) by a host, and the library has no call that says this.
const qSessionExisted = `SELECT
	(SELECT count(*) FROM (SELECT 1 FROM attachstore_refs WHERE session_id = ? LIMIT 1) r) +
	(SELECT count(*) FROM (SELECT 1 FROM attachstore_holds WHERE session_id = ? LIMIT 1) h) +
	(SELECT count(*) FROM attachstore_dropped_sessions WHERE session_id = ?)`

// dropSession drops session id and reports whether it existed before: the
// look and the drop are one transaction, so nothing comes between them.
func dropSession(ctx context.Context, s *attachstore.Store, id string) (existed bool, err error) {
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		var n int64
		q := tx.SQL().Rebind(qSessionExisted)
		if err := tx.SQL().QueryRowContext(ctx, q, id, id, id).Scan(&n); err != nil {
			return fmt.Errorf("reading session %q: %w", truncate(id, 80), err)
		}
		existed = n > 0
		return tx.DropSession(ctx, id)
	})
	return existed, err
}

func setupDropSession(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) == 0 {
			return badUsage("want a session id")
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		return c.each(ctx, len(args), func(i int) error {
			existed, err := dropSession(ctx, s, args[i])
			if err != nil {
				err = c.fail("drop", sessionSubj(args[i]), err)
				// A malformed session among the arguments fails alone,
				// like any other: the others are still dropped.
				if ee, ok := err.(*exitError); ok {
					ee.code = 1
				}
				return err
			}
			if !existed {
				c.warn(sessionSubj(args[i]), nil,
					"drop-session: %s held nothing; it is dropped anyway, and its name is blocked until reclaim clears it",
					sessionSubj(args[i]))
			}
			if c.json {
				return c.emitJSON(struct {
					Session string `json:"session"`
					Dropped bool   `json:"dropped"`
					Existed bool   `json:"existed"`
				}{args[i], true, existed})
			}
			return nil
		})
	}
}
