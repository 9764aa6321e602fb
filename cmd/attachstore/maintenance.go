package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/attachstore/attachstore"
)

var reclaimCmd = &command{
	name:    "reclaim",
	args:    "[--grace 24h] [--dry-run] [--batch N] [--vacuum auto|always|never]",
	summary: "forget stale intents, delete orphans, shrink file",
	long: `
Reclaim forgets uncommitted refs older than --grace, deletes every blob that
no ref points to and that nobody put within --grace, then gives the freed
space back to the filesystem: with --vacuum auto (the default) once free
space is a quarter of the file, otherwise leaving it for new content to
reuse; always or never on request. Work goes in batches of --batch blobs, and
each transaction deletes at most that many, 32 at most and about a
millisecond's worth, so agents writing to the same database wait little.
Interrupting it (Ctrl-C) stops between transactions; what was done is
reported. --dry-run only counts. On a terminal a progress line is drawn on
stderr.

Reclaim deletes every blob that no session references, so content put
without --session goes too, once it is older than --grace.`,
	access: writes,
	setup:  setupReclaim,
}

func setupReclaim(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	grace := fs.Duration("grace", 24*time.Hour, "keep everything put or intended within this `DURATION`")
	dryRun := fs.Bool("dry-run", false, "count what would be reclaimed; delete nothing")
	batch := fs.Int("batch", attachstore.DefaultReclaimBatch, "blobs per batch (`N`)")
	vacuum := fs.String("vacuum", "auto", "give free space back to the filesystem: `WHEN` is auto, always or never")
	return func(ctx context.Context, args []string) error {
		if len(args) != 0 {
			return badUsage("reclaim takes no arguments")
		}
		if *grace < 0 {
			return badUsage("--grace %v is negative", *grace)
		}
		if *batch < 1 {
			return badUsage("--batch %d: want at least 1", *batch)
		}
		// The share of the file free pages must reach before Reclaim gives
		// them back (ReclaimPolicy.VacuumAt).
		vac, ok := map[string]float64{"auto": 0, "always": 1e-9, "never": 1}[*vacuum]
		if !ok {
			return badUsage("--vacuum %q: want auto, always or never", *vacuum)
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		// Reclaim cannot know how much it will find: a spinner with the
		// running totals.
		b := c.newBar(-1, false, "reclaim")
		policy := attachstore.ReclaimPolicy{Grace: *grace, DryRun: *dryRun, BatchSize: *batch, VacuumAt: vac}
		if b != nil {
			policy.Progress = func(p attachstore.ReclaimProgress) {
				b.describe(fmt.Sprintf("reclaim %s: %d intents expired, %d blobs (%s)",
					p.Phase, p.ExpiredIntents, p.ReclaimedBlobs, humanBytes(p.ReclaimedBytes)))
			}
		}
		rep, rerr := s.Reclaim(ctx, policy)
		b.done()
		// A stopped reclaim still reports what it did before stopping.
		if c.json {
			err = c.emitJSON(struct {
				DryRun bool `json:"dry_run"`
				attachstore.ReclaimReport
			}{*dryRun, rep})
		} else {
			err = printReclaim(c, rep, *dryRun)
		}
		if rerr != nil {
			return c.fail("reclaim", subject{}, rerr)
		}
		return err
	}
}

func printReclaim(c *cli, rep attachstore.ReclaimReport, dryRun bool) error {
	verb := "reclaimed"
	if dryRun {
		verb = "would reclaim"
		fmt.Fprintln(c.stdout, "dry run: nothing deleted")
	}
	tw := c.table()
	fmt.Fprintf(tw, "expired intents\t%d\n", rep.ExpiredIntents)
	fmt.Fprintf(tw, "%s blobs\t%d\n", verb, rep.ReclaimedBlobs)
	fmt.Fprintf(tw, "%s bytes\t%s\n", verb, formatBytes(rep.ReclaimedBytes))
	if !dryRun {
		fmt.Fprintf(tw, "returned to the filesystem\t%s\n", formatBytes(rep.ReturnedBytes))
		fmt.Fprintf(tw, "left free for new content\t%s\n", formatBytes(rep.FreeBytes))
	}
	return tw.Flush()
}

var verifyCmd = &command{
	name:    "verify",
	summary: "check integrity, re-hash blobs; exit 1 on a problem",
	long: `
Verify runs SQLite's integrity_check and foreign_key_check and re-hashes
every blob's bytes. It exits 0 when everything checks out and 1 when a blob
is corrupt (its bytes no longer hash to its id, or chunks are missing) or
the database has problems; each is listed. On a terminal a progress bar is
drawn on stderr.`,
	access: reads,
	setup:  setupVerify,
}

func setupVerify(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) != 0 {
			return badUsage("verify takes no arguments")
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		// The totals come with the first progress report: the bar is made
		// then, over bytes (or blobs, when every blob is empty).
		var b *bar
		var policy attachstore.VerifyPolicy
		if c.progress {
			policy.Progress = func(p attachstore.VerifyProgress) {
				if b == nil {
					if p.TotalBytes > 0 {
						b = c.newBar(p.TotalBytes, true, "verify")
					} else {
						b = c.newBar(p.TotalBlobs, false, "verify")
					}
				}
				b.describe(fmt.Sprintf("verify %d/%d blobs", p.CheckedBlobs, p.TotalBlobs))
				if p.TotalBytes > 0 {
					b.set(p.CheckedBytes)
				} else {
					b.set(int64(p.CheckedBlobs))
				}
			}
		}
		rep, err := s.VerifyWith(ctx, policy)
		b.done()
		if err != nil {
			return c.fail("verify", subject{}, err)
		}
		if c.json {
			err = c.emitJSON(struct {
				OK bool `json:"ok"`
				attachstore.VerifyReport
			}{rep.OK(), rep})
		} else {
			err = printVerify(c, rep)
		}
		if err != nil {
			return err
		}
		if !rep.OK() {
			return &exitError{code: 1, kind: "corrupt", subj: subject{"db", c.db},
				msg: fmt.Sprintf("verify %s: %d corrupt blobs, %d problems", c.db, len(rep.Corrupt), len(rep.Problems))}
		}
		return nil
	}
}

func printVerify(c *cli, rep attachstore.VerifyReport) error {
	fmt.Fprintf(c.stdout, "checked %d blobs, %s\n", rep.CheckedBlobs, formatBytes(rep.CheckedBytes))
	for _, id := range rep.Corrupt {
		fmt.Fprintf(c.stdout, "corrupt %s\n", id)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(c.stdout, "problem %s\n", printable(p))
	}
	if rep.OK() {
		fmt.Fprintln(c.stdout, "ok")
	}
	return nil
}

var statsCmd = &command{
	name:    "stats",
	summary: "count blobs, refs, sessions; show sizes",
	access:  reads,
	setup:   setupStats,
}

func setupStats(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) != 0 {
			return badUsage("stats takes no arguments")
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		st, err := s.Stats(ctx)
		if err != nil {
			return c.fail("stats", subject{}, err)
		}
		if c.json {
			return c.emitJSON(st)
		}
		tw := c.table()
		fmt.Fprintf(tw, "blobs\t%d\n", st.Blobs)
		fmt.Fprintf(tw, "blob bytes\t%s\n", formatBytes(st.BlobBytes))
		fmt.Fprintf(tw, "refs\t%d\n", st.Refs)
		fmt.Fprintf(tw, "uncommitted refs\t%d\n", st.UncommittedRefs)
		fmt.Fprintf(tw, "sessions\t%d\n", st.Sessions)
		fmt.Fprintf(tw, "file bytes\t%s\n", formatBytes(st.FileBytes))
		return tw.Flush()
	}
}
