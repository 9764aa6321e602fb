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
	args:    "--session S [ID...]",
	summary: "commit a session's pending refs (all, or IDs)",
	access:  writes,
	long: `
Commit stamps existing refs only. Without IDs, every pending ref of the
session is committed, in one transaction. With IDs, each is committed on its
own (an ID prefix is resolved among the session's ids): one the session
holds no ref to (never put, removed, or forgotten by reclaim) is reported on
stderr and the others are still committed; the exit status is then 1. A ref
committed earlier keeps its first stamp. Nothing is printed on success;
--json prints one object per id committed: {"session": S, "id": ...,
"committed": true}.`,
	setup: setupCommit,
}

func setupCommit(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	session := fs.String("session", "", "the `SESSION` whose refs to commit (required)")
	return func(ctx context.Context, args []string) error {
		sess, err := sessionFlag(fs, *session, true)
		if err != nil {
			return err
		}
		ids, err := parseIDArgs(args)
		if err != nil {
			return err
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		ss := s.Session(sess)
		committed := func(id attachstore.ID) error {
			if !c.json {
				return nil
			}
			return c.emitJSON(struct {
				Session   string         `json:"session"`
				ID        attachstore.ID `json:"id"`
				Committed bool           `json:"committed"`
			}{sess, id, true})
		}
		if len(ids) == 0 {
			// Commit exactly the ids listed as pending, so that each one
			// stamped can be printed; a ref put meanwhile stays pending.
			pending, err := ss.Pending(ctx)
			if err != nil {
				return c.fail("commit", sessionSubj(sess), err)
			}
			if len(pending) == 0 {
				return nil
			}
			if err := ss.Commit(ctx, pending...); err != nil {
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

var refsCmd = &command{
	name:    "refs",
	args:    "--session S [--pending]",
	summary: "list a session's refs (or its pending ids)",
	long: `
Text output has one ref per line: id, size, state (committed or pending),
owner, media type and label as that session put them. With --pending only
the ids of uncommitted refs are printed, oldest first. --json prints one
object per ref (with --pending: {"id": ...}).`,
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
						ID attachstore.ID `json:"id"`
					}{id})
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
				err = c.emitJSON(entryJSON(e))
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

// entryJSON is how refs --json prints a manifest row: committed_at is
// left out while the ref is pending, rather than printed as the zero time.
func entryJSON(e attachstore.Entry) any {
	var committedAt *time.Time
	if e.Committed() {
		committedAt = &e.CommittedAt
	}
	return struct {
		attachstore.Entry
		Committed   bool       `json:"committed"`
		CommittedAt *time.Time `json:"committed_at,omitempty"`
	}{e, e.Committed(), committedAt}
}

var dropSessionCmd = &command{
	name:    "drop-session",
	args:    "S...",
	summary: "release every ref of each session S",
	access:  writes,
	long: `
The bytes stay until 'reclaim' finds them unreferenced. Every session is
tried: one that fails is reported on stderr and the others are still
dropped; the exit status is then 1. --json prints one object per session
dropped: {"session": S, "dropped": true}.`,
	setup: setupDropSession,
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
			if err := s.DropSession(ctx, args[i]); err != nil {
				err = c.fail("drop", sessionSubj(args[i]), err)
				// A malformed session among the arguments fails alone,
				// like any other: the others are still dropped.
				if ee, ok := err.(*exitError); ok {
					ee.code = 1
				}
				return err
			}
			if c.json {
				return c.emitJSON(struct {
					Session string `json:"session"`
					Dropped bool   `json:"dropped"`
				}{args[i], true})
			}
			return nil
		})
	}
}
