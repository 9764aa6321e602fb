package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"os"
	"slices"
	"time"

	"github.com/attachstore/attachstore"
)

var reclaimCmd = &command{
	name:    "reclaim",
	args:    "[--grace 24h] [--dry-run] [--batch N] [--vacuum auto|always|never] [--allow-empty-roots]",
	summary: "forget stale intents, delete orphans, shrink file",
	long: `
Reclaim forgets uncommitted refs older than --grace (unless their owner
holds a 'hold'), clears sessions dropped longer than --grace ago, deletes
every blob that no ref points to and that nobody put within --grace, then
gives the freed space back to the filesystem: with --vacuum auto (the
default) once free space is a quarter of the file, otherwise leaving it for
new content to reuse; always or never on request. Work goes in batches of
--batch blobs, one transaction each, so agents writing to the same database
wait little. Interrupting it (Ctrl-C) stops between transactions; what was
done is reported. --dry-run only counts, and opens the database read-only.
On a terminal a progress line is drawn on stderr.

Reclaim deletes every blob that no session references, so content put
without --session goes too, once it is older than --grace. When no session
holds any ref at all (no ref, intent or dropped session; a hold alone does
not count), which is what a store used without sessions, or the wrong --db,
looks like, reclaim refuses, deletes nothing, says how much it would
delete, and exits 1; --allow-empty-roots reclaims anyway.

A database another program created (and put or import adopted) may lack
SQLite's incremental vacuum: its free space can then only be given back by
'attachstore compact', and reclaim says when that is the case. --json
prints one report: expired_intents, cleared_tombstones, reclaimed_blobs,
reclaimed_bytes, returned_bytes, free_bytes, needs_compact, dry_run.`,
	access:    writes,
	readsWith: "dry-run",
	setup:     setupReclaim,
}

func setupReclaim(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	grace := fs.Duration("grace", 24*time.Hour, "keep everything put or intended within this `DURATION`")
	dryRun := fs.Bool("dry-run", false, "count what would be reclaimed; delete nothing")
	batch := fs.Int("batch", attachstore.DefaultReclaimBatch, "blobs per batch (`N`)")
	vacuum := fs.String("vacuum", "auto", "give free space back to the filesystem: `WHEN` is auto, always or never")
	allowEmpty := fs.Bool("allow-empty-roots", false, "reclaim even when no session holds any ref")
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
		// them back (ReclaimPolicy.VacuumAt). auto waits for a quarter:
		// until then new content reuses the pages, and moving live pages
		// into the holes would be wasted work.
		vac, ok := map[string]float64{"auto": 0.25, "always": 0, "never": 1}[*vacuum]
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
		policy := attachstore.ReclaimPolicy{Grace: *grace, DryRun: *dryRun, BatchSize: *batch,
			VacuumAt: vac, AllowEmptyRoots: *allowEmpty}
		if b != nil {
			policy.Progress = func(p attachstore.ReclaimProgress) {
				b.describe(fmt.Sprintf("reclaim %s: %d intents expired, %d blobs (%s)",
					p.Phase, p.ExpiredIntents, p.ReclaimedBlobs, humanBytes(p.ReclaimedBytes)))
			}
		}
		rep, rerr := s.Reclaim(ctx, policy)
		b.done()
		if errors.Is(rerr, attachstore.ErrNoRoots) && !*dryRun {
			return c.noRoots(ctx, s, policy, rep)
		}
		// A stopped reclaim still reports what it did before stopping.
		if c.json {
			err = c.emitJSON(reclaimJSON(rep, *dryRun))
		} else {
			err = printReclaim(c, rep, *dryRun)
		}
		if errors.Is(rerr, attachstore.ErrNoRoots) && err == nil {
			return c.noRoots(ctx, s, policy, rep)
		}
		if rerr != nil {
			return c.fail("reclaim", subject{}, rerr)
		}
		if err == nil && rep.NeedsCompact {
			c.warn(subject{"db", c.dbName()}, map[string]any{"needs_compact": true, "free_bytes": rep.FreeBytes},
				"reclaim: %s of free space stays in %s: the file was created without incremental vacuum, so "+
					"only 'attachstore compact' can give it back (it rewrites the file once; reclaim can then shrink it)",
				humanBytes(rep.FreeBytes), c.dbName())
		}
		return err
	}
}

// noRoots is reclaim's refusal of a store in which no session holds
// anything: it says what would go, counted by a dry run, and which flag
// lets it go.
func (c *cli) noRoots(ctx context.Context, s *attachstore.Store, p attachstore.ReclaimPolicy, rep attachstore.ReclaimReport) error {
	if !p.DryRun {
		// A refused Reclaim counts nothing; a dry run does, and the
		// numbers are what makes the refusal worth reading.
		p.DryRun, p.Progress = true, nil
		var err error
		if rep, err = s.Reclaim(ctx, p); err != nil && !errors.Is(err, attachstore.ErrNoRoots) {
			rep = attachstore.ReclaimReport{}
		}
	}
	what := ""
	if rep.ReclaimedBlobs > 0 {
		what = fmt.Sprintf(": %s (%s)", plural(rep.ReclaimedBlobs, "blob"), humanBytes(rep.ReclaimedBytes))
	}
	// The counts are in the message only: an error object carries what
	// failed, not a report that a script could take for a reclaim's.
	return &exitError{code: 1, kind: "no_roots", subj: subject{"db", c.dbName()}, cause: attachstore.ErrNoRoots,
		msg: fmt.Sprintf("reclaim: no session holds any ref in %s, so reclaim would delete every blob%s, "+
			"content put without --session included. Nothing was deleted; give --allow-empty-roots to reclaim anyway", c.dbName(), what)}
}

// reclaimJSON is reclaim's --json report, every field always present.
func reclaimJSON(rep attachstore.ReclaimReport, dryRun bool) any {
	return struct {
		DryRun            bool  `json:"dry_run"`
		ExpiredIntents    int   `json:"expired_intents"`
		ClearedTombstones int   `json:"cleared_tombstones"`
		ReclaimedBlobs    int   `json:"reclaimed_blobs"`
		ReclaimedBytes    int64 `json:"reclaimed_bytes"`
		ReturnedBytes     int64 `json:"returned_bytes"`
		FreeBytes         int64 `json:"free_bytes"`
		NeedsCompact      bool  `json:"needs_compact"`
	}{dryRun, rep.ExpiredIntents, rep.ClearedTombstones, rep.ReclaimedBlobs, rep.ReclaimedBytes,
		rep.ReturnedBytes, rep.FreeBytes, rep.NeedsCompact}
}

func printReclaim(c *cli, rep attachstore.ReclaimReport, dryRun bool) error {
	verb := "reclaimed"
	if dryRun {
		verb = "would reclaim"
		fmt.Fprintln(c.stdout, "dry run: nothing deleted")
	}
	tw := c.table()
	fmt.Fprintf(tw, "expired intents\t%d\n", rep.ExpiredIntents)
	if rep.ClearedTombstones > 0 {
		fmt.Fprintf(tw, "cleared dropped sessions\t%d\n", rep.ClearedTombstones)
	}
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
the database has problems; each is listed. A corrupt blob is mended by
'attachstore repair FILE', given a FILE that holds its original bytes;
verify names the repair beside each. On a terminal a progress bar is drawn
on stderr. --json prints one report: ok, checked_blobs, checked_bytes,
corrupt (the ids, [] when none), problems ([] when none).`,
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
		var opts []attachstore.VerifyOption
		if c.progress {
			opts = append(opts, attachstore.WithVerifyProgress(func(p attachstore.VerifyProgress) {
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
			}))
		}
		rep, err := s.Verify(ctx, opts...)
		b.done()
		if err != nil {
			return c.fail("verify", subject{}, err)
		}
		if c.json {
			// Lists are [] when empty, never left out.
			corrupt, problems := rep.Corrupt, rep.Problems
			if corrupt == nil {
				corrupt = []attachstore.ID{}
			}
			if problems == nil {
				problems = []string{}
			}
			err = c.emitJSON(struct {
				OK           bool             `json:"ok"`
				CheckedBlobs int              `json:"checked_blobs"`
				CheckedBytes int64            `json:"checked_bytes"`
				Corrupt      []attachstore.ID `json:"corrupt"`
				Problems     []string         `json:"problems"`
			}{rep.OK(), rep.CheckedBlobs, rep.CheckedBytes, corrupt, problems})
		} else {
			err = printVerify(c, rep)
		}
		if err != nil {
			return err
		}
		if !rep.OK() {
			msg := fmt.Sprintf("verify %s: %d corrupt blobs, %d problems", c.dbName(), len(rep.Corrupt), len(rep.Problems))
			if len(rep.Corrupt) > 0 {
				msg += "; 'attachstore repair FILE' gives a corrupt blob its bytes back from a FILE that holds them"
			}
			return &exitError{code: 1, kind: "corrupt", subj: subject{"db", c.dbName()}, msg: msg}
		}
		return nil
	}
}

func printVerify(c *cli, rep attachstore.VerifyReport) error {
	fmt.Fprintf(c.stdout, "checked %d blobs, %s\n", rep.CheckedBlobs, formatBytes(rep.CheckedBytes))
	for _, id := range rep.Corrupt {
		fmt.Fprintf(c.stdout, "corrupt %s (repair with: attachstore repair FILE, FILE holding its original bytes)\n", id)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(c.stdout, "problem %s\n", printable(p))
	}
	if rep.OK() {
		fmt.Fprintln(c.stdout, "ok")
	}
	return nil
}

var repairCmd = &command{
	name:    "repair",
	args:    "FILE...",
	summary: "mend corrupt blobs from files that hold their bytes",
	access:  writes,
	long: `
Repair mends the blobs that 'verify' reports corrupt, from files that still
hold their original bytes (the user's own copy, an export, a backup's
'get'). Each FILE is hashed; when its bytes are those of a stored blob whose
stored bytes no longer are (changed, cut short, chunks missing or extra),
that blob's bytes are replaced by FILE's in one transaction. The blob keeps
its id, label, media type and creation time, and every session keeps its
ref, committed or not. A blob that is intact is left as it is.

Repair never adds content: a FILE whose bytes are no stored blob's fails
(not found) and nothing is stored ('put' stores new content). After repair
succeeds, the blob with the printed id holds exactly FILE's bytes; 'verify'
confirms it. Input that is not a regular file (stdin from a pipe, say) is
first copied to a temporary file, as put does.

It prints each FILE's id; --json prints one object per file: file, id.
Every file is tried: one that cannot be read or matches no blob is
reported and the others are still repaired; the exit status is then 1.`,
	setup: setupRepair,
}

func setupRepair(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) == 0 {
			return badUsage("no FILE given (use - for stdin)")
		}
		if len(slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a != "-" })) > 1 {
			return badUsage("- (stdin) given more than once")
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		return c.each(ctx, len(args), func(i int) error {
			name := args[i]
			id, err := c.repairFile(ctx, s, name)
			if errors.Is(err, attachstore.ErrNotFound) {
				return &exitError{code: 1, kind: "not_found", subj: fileSubj(name), cause: err,
					details: map[string]any{"id": id},
					msg: fmt.Sprintf("repair %s: no stored blob has these bytes (their id is %s), so there is "+
						"nothing to repair; nothing was stored ('put' stores new content)", fileSubj(name), id)}
			}
			if err != nil {
				return c.fail("repair", fileSubj(name), err)
			}
			if c.json {
				return c.emitJSON(struct {
					File string         `json:"file"`
					ID   attachstore.ID `json:"id"`
				}{name, id})
			}
			_, err = fmt.Fprintln(c.stdout, id)
			return err
		})
	}
}

// repairFile streams one input into Store.Repair, as putFile does into a
// put.
func (c *cli) repairFile(ctx context.Context, s *attachstore.Store, name string) (attachstore.ID, error) {
	in, size, closeIn, err := c.openInput(ctx, name)
	if err != nil {
		return attachstore.ID{}, err
	}
	defer closeIn()
	b := c.newByteBar(size, "repair "+fileSubj(name).String())
	defer b.done()
	lctx, in, stop := streamCtx(ctx, b.reader(in))
	defer stop()
	return s.Repair(lctx, in)
}

var statsCmd = &command{
	name:    "stats",
	summary: "count blobs, refs, sessions; show sizes",
	access:  reads,
	long: `
--json prints one report: blobs, refs, sessions, uncommitted_refs,
blob_bytes, file_bytes, checkpoint_failures.`,
	setup: setupStats,
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

var backupCmd = &command{
	name:    "backup",
	args:    "FILE",
	summary: "write a verified copy of the store to a new FILE",
	access:  reads,
	long: `
Backup writes a consistent copy of the store, as of one moment, to FILE
while other programs go on writing to it, then opens the copy and verifies
it as 'verify' does; it opens the store read-only, so it also works on a
file it cannot write. FILE must not exist (backup never overwrites) and is
created with mode 0600. An interrupted backup removes FILE. If the copy does
not verify, FILE is kept for inspection, the exit status is 1, and the store
itself may be damaged: run 'attachstore verify'.

The copy is an ordinary store: read it with --db FILE, or restore it by
copying it over the store's file while no program has the store open
(remove the store's -wal and -shm files, if any, as you do). Nothing is
printed; --json prints {"db": DB, "backup": FILE, "file_bytes": N}.`,
	setup: setupBackup,
}

func setupBackup(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return badUsage("want one FILE, got %d arguments", len(args))
		}
		path := args[0]
		if path == "-" {
			return badUsage("backup writes a file, not stdout: give its path")
		}
		if _, err := os.Lstat(path); err == nil {
			return c.fail("backup", fileSubj(path), &kindError{
				fmt.Sprintf("%s: exists (backup never overwrites; remove it or choose another name)", path), iofs.ErrExist})
		} else if !errors.Is(err, iofs.ErrNotExist) {
			return c.fail("backup", fileSubj(path), pathErr(path, err))
		} else if err := checkParent(path); err != nil {
			return c.fail("backup", fileSubj(path), err)
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		if err := s.Backup(ctx, path); err != nil {
			if _, serr := os.Lstat(path); serr == nil && errors.Is(err, attachstore.ErrCorrupt) {
				return &exitError{code: 1, kind: "corrupt", subj: fileSubj(path), cause: err,
					msg: fmt.Sprintf("backup %s: the copy does not verify (%s is kept for inspection); "+
						"the store itself may be damaged: run 'attachstore verify'", path, path)}
			}
			return c.fail("backup", fileSubj(path), err)
		}
		if c.json {
			var size int64
			if fi, err := os.Stat(path); err == nil {
				size = fi.Size()
			}
			return c.emitJSON(struct {
				DB        string `json:"db"`
				Backup    string `json:"backup"`
				FileBytes int64  `json:"file_bytes"`
			}{c.dbName(), path, size})
		}
		return nil
	}
}

var compactCmd = &command{
	name:    "compact",
	summary: "rewrite the file without free space; enable shrinking",
	args:    "[--allow-rowid-changes]",
	access:  writes,
	long: `
Compact rewrites the whole database file so that it holds no free space,
and turns on SQLite's incremental vacuum for a file another program created
without it, so that 'reclaim' can give space back from then on; reclaim
says when a file needs it. It holds the write lock while it runs (writers
wait), takes time in proportion to the store, and needs free disk space
about the size of the file. It prints the file's size before and after;
--json prints {"file_bytes_before": N, "file_bytes_after": N}.

The rewrite may renumber the implicit rowids of the other program's tables
(tables without an INTEGER PRIMARY KEY that are not WITHOUT ROWID). Compact
refuses such a file, naming the tables, and changes nothing, unless given
--allow-rowid-changes: give it when that program stores none of those
rowids (not in another table, not as a full-text index's rowid, not
outside the file).`,
	setup: setupCompact,
}

func setupCompact(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	allowRowids := fs.Bool("allow-rowid-changes", false, "compact even if the rewrite may renumber the implicit rowids of another program's tables")
	return func(ctx context.Context, args []string) error {
		if len(args) != 0 {
			return badUsage("compact takes no arguments")
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		before, err := s.Stats(ctx)
		if err != nil {
			return c.fail("compact", subject{}, err)
		}
		var opts []attachstore.CompactOption
		if *allowRowids {
			opts = append(opts, attachstore.AllowRowidChanges())
		}
		if err := s.Compact(ctx, opts...); err != nil {
			failed := c.fail("compact", subject{}, err)
			var ee *exitError
			if errors.Is(err, attachstore.ErrRowidsMayChange) && errors.As(failed, &ee) {
				ee.msg += "; if the program whose tables they are stores none of their rowids, give --allow-rowid-changes"
			}
			return failed
		}
		after, err := s.Stats(ctx)
		if err != nil {
			return c.fail("compact", subject{}, err)
		}
		if c.json {
			return c.emitJSON(struct {
				Before int64 `json:"file_bytes_before"`
				After  int64 `json:"file_bytes_after"`
			}{before.FileBytes, after.FileBytes})
		}
		tw := c.table()
		fmt.Fprintf(tw, "file bytes before\t%s\n", formatBytes(before.FileBytes))
		fmt.Fprintf(tw, "file bytes after\t%s\n", formatBytes(after.FileBytes))
		return tw.Flush()
	}
}
