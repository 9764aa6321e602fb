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
	long: `
Commit stamps existing refs only: an id the session holds no ref to (never
put, removed, or forgotten by reclaim) fails with exit 1 and, when ids are
given, nothing is committed. A ref committed earlier keeps its first stamp.`,
	setup: setupCommit,
}

func setupCommit(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	session := fs.String("session", "", "the `SESSION` whose refs to commit (required)")
	return func(ctx context.Context, args []string) error {
		sess, err := sessionFlag(fs, *session, true)
		if err != nil {
			return err
		}
		ids, err := parseIDs(args)
		if err != nil {
			return err
		}
		s, err := c.open(ctx, false)
		if err != nil {
			return err
		}
		return c.fail("commit", fmt.Sprintf("session %q", truncate(sess, 80)), s.Session(sess).Commit(ctx, ids...))
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
		s, err := c.open(ctx, false)
		if err != nil {
			return err
		}
		ss := s.Session(sess)
		subject := fmt.Sprintf("session %q", truncate(sess, 80))
		if *pending {
			ids, err := ss.Pending(ctx)
			if err != nil {
				return c.fail("refs", subject, err)
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
			return c.fail("refs", subject, err)
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
	args:    "S",
	summary: "release every ref of session S",
	setup:   setupDropSession,
}

func setupDropSession(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return badUsage("want one session id, got %d arguments", len(args))
		}
		s, err := c.open(ctx, false)
		if err != nil {
			return err
		}
		return c.fail("drop", fmt.Sprintf("session %q", truncate(args[0], 80)), s.DropSession(ctx, args[0]))
	}
}
