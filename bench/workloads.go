package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// blobSize is the attachment size of W1, W3, W4, W6 and W7: 10 KiB.
const blobSize = 10 << 10

// bench runs the workloads of issue 6 and fills the table.
type bench struct {
	cfg     *config
	scratch string
	started time.Time
	systems []opener
	tab     table
	g       groups
	errs    []error
}

// has tells whether the named system runs in this bench.
func (b *bench) has(name string) bool {
	return slices.ContainsFunc(b.systems, func(op opener) bool { return op.name == name })
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(b.started).Seconds(), fmt.Sprintf(format, args...))
}

// isNotImplemented tells whether a system cannot run a workload yet: the
// table shows n/a and the run does not fail.
func isNotImplemented(err error) bool {
	return errors.Is(err, errNotImplemented) || errors.Is(err, errors.ErrUnsupported) ||
		strings.Contains(strings.ToLower(err.Error()), "not implemented")
}

// fail records err for system in the groups of one workload.
func (b *bench) fail(system string, err error, gs ...*group) {
	note := "error"
	if isNotImplemented(err) {
		note = "n/a"
		b.logf("%s: not implemented, shown as n/a: %v", system, err)
	} else {
		b.errs = append(b.errs, fmt.Errorf("%s: %w", system, err))
		b.logf("ERROR %s: %v", system, err)
	}
	for _, g := range gs {
		if g != nil {
			g.na(system, note)
		}
	}
}

func (b *bench) run(ctx context.Context) error {
	if err := b.limits(ctx); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	c := b.cfg
	if c.want("W1") || c.want("W2") {
		if err := b.smallWrites(ctx); err != nil {
			return err
		}
	}
	if c.want("W5") {
		if err := b.w5(ctx); err != nil {
			return err
		}
	}
	if c.want("W3") || c.want("W4") || c.want("W6") || c.want("W7") {
		for _, ops := range b.storeGroups() {
			if err := b.grow(ctx, ops); err != nil {
				return err
			}
		}
	}
	return errors.Join(b.errs...)
}

// limits measures the machine, once per run, and adds the figures the
// workloads compare against to their groups.
func (b *bench) limits(ctx context.Context) error {
	dir := filepath.Join(b.scratch, "limits")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c, g := b.cfg, &b.g
	for r := range c.runs {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.logf("limits run %d/%d", r+1, c.runs)
		g.sha.add("limit", shaMBps(c.shaBytes))
		fs, err := syncLatency(dir, c.fsyncOps, false)
		if err != nil {
			return err
		}
		fds, err := syncLatency(dir, c.fsyncOps, true)
		if err != nil {
			return err
		}
		g.fsync.add("limit", micro(fs))
		g.fdatasync.add("limit", micro(fds))
		if g.w1sqlite != nil {
			g.w1sqlite.add("limit 1/fsync", 1e6/micro(fs))
		}
		tag, ps := newTag(), floorPageSize(c)
		w1, err := sqliteFloor(ctx, dir, ps, c.w1Ops, w1Rows(tag))
		if err != nil {
			return fmt.Errorf("sqlite floor, W1: %w", err)
		}
		w2, err := sqliteFloor(ctx, dir, ps, c.w2Turns, w2Rows(tag, r, c.w2Turns))
		if err != nil {
			return fmt.Errorf("sqlite floor, W2: %w", err)
		}
		t1, err := sqliteTablesFloor(ctx, dir, ps, c.w1Ops, w1Rows(tag))
		if err != nil {
			return fmt.Errorf("sqlite floor in attachstore's tables, W1: %w", err)
		}
		t2, err := sqliteTablesFloor(ctx, dir, ps, c.w2Turns, w2Rows(tag, r, c.w2Turns))
		if err != nil {
			return fmt.Errorf("sqlite floor in attachstore's tables, W2: %w", err)
		}
		k2, err := sqliteCheckpointingFloor(ctx, dir, ps, c.w2Turns, w2Rows(tag, r, c.w2Turns))
		if err != nil {
			return fmt.Errorf("sqlite floor checkpointing, W2: %w", err)
		}
		g.ckptW2.add("limit", k2)
		if g.w2ckpt != nil {
			g.w2ckpt.add(ckptLimit, k2)
		}
		g.floorW1.add("limit", w1)
		g.floorW2.add("limit", w2)
		g.tablesW1.add("limit", t1)
		g.tablesW2.add("limit", t2)
		if g.w1tables != nil {
			g.w1tables.add(tablesLimit, t1)
		}
		if g.w2tables != nil {
			g.w2tables.add(tablesLimit, t2)
		}
		if g.w1sqlite != nil {
			g.w1sqlite.add("limit sqlite", w1)
		}
		if g.w2sqlite != nil {
			g.w2sqlite.add("limit sqlite", w2)
		}
		w, warm, cold, err := fileBandwidth(dir, c.big)
		if err != nil {
			return err
		}
		g.seqWrite.add("limit", w)
		g.seqWarm.add("limit", warm)
		g.seqCold.add("limit", cold)
		if g.w5put != nil {
			g.w5put.add("limit file", w)
			g.w5warm.add("limit file", warm)
			g.w5cold.add("limit file", cold)
		}
		w5put, err := sqliteWriteFloor(ctx, dir, ps, c.big)
		if err != nil {
			return fmt.Errorf("sqlite floor, W5 put: %w", err)
		}
		g.floorW5put.add("limit", w5put)
		if g.w5put != nil {
			g.w5put.add("limit sqlite", w5put)
		}
		w5, err := sqliteReadFloor(ctx, dir, ps, c.big)
		if err != nil {
			return fmt.Errorf("sqlite floor, W5: %w", err)
		}
		// The floor's gigabyte was just freed: let the file system settle
		// it (TRIMs on a disk mounted with discard) before the next figure.
		if err := syncFS(dir); err != nil {
			return err
		}
		g.floorW5.add("limit", w5)
		if g.w5warm != nil {
			g.w5warm.add("limit sqlite", w5)
		}
		// PostgreSQL's floor goes last in each run, after the file figures;
		// the buffers its rows dirtied go with its schema when it is
		// dropped, so the server writes nothing of it later.
		if c.pg != nil && b.has(pgSubject) {
			w1, err := postgresFloor(ctx, c.pg, c.w1Ops, w1Rows(tag))
			if err != nil {
				return fmt.Errorf("postgres floor, W1: %w", err)
			}
			w2, err := postgresFloor(ctx, c.pg, c.w2Turns, w2Rows(tag, r, c.w2Turns))
			if err != nil {
				return fmt.Errorf("postgres floor, W2: %w", err)
			}
			g.floorPGW1.add("limit", w1)
			g.floorPGW2.add("limit", w2)
			if g.w1pg != nil {
				g.w1pg.add("limit postgres", w1)
			}
			if g.w2pg != nil {
				g.w2pg.add("limit postgres", w2)
			}
		}
	}
	return nil
}

// putCommitLoop runs n W1 operations of one size-byte attachment each and
// returns each one's latency and the total time.
func putCommitLoop(ctx context.Context, sys System, session string, n, size int) ([]time.Duration, time.Duration, error) {
	tag := newTag()
	blobs := make([][]byte, n)
	for i := range blobs {
		blobs[i] = makeBlob(tag, uint64(i), size)
	}
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for _, bl := range blobs {
		t := time.Now()
		if _, err := sys.PutCommit(ctx, session, [][]byte{bl}); err != nil {
			return nil, 0, err
		}
		lat = append(lat, time.Since(t))
	}
	return lat, time.Since(start), nil
}

// smallWrites runs W1 and W2, interleaving the systems run by run so that a
// drift of the machine hits all of them alike.
func (b *bench) smallWrites(ctx context.Context) error {
	c, g := b.cfg, &b.g
	syss := map[string]System{}
	defer func() {
		for _, s := range syss {
			s.Close()
		}
	}()
	// A system under test also has rows of its own beside W1's and W2's:
	// against its engine alone (and attachstore against SQLite writing its
	// tables), and W1 with several writers.
	w1Also := map[string][]*group{subject: {g.w1sqlite, g.w1tables}, pgSubject: {g.w1pg}}
	w2Also := map[string][]*group{subject: {g.w2sqlite, g.w2tables, g.w2ckpt}, pgSubject: {g.w2pg}}
	for _, op := range b.systems {
		s, err := op.open(ctx, filepath.Join(b.scratch, "small", op.name), c)
		if err != nil {
			b.fail(op.name, fmt.Errorf("open: %w", err), slices.Concat([]*group{g.w1, g.w2, b.writersGroup(op.name)}, w1Also[op.name], w2Also[op.name])...)
			continue
		}
		syss[op.name] = s
	}
	failed := map[*group]map[string]bool{g.w1: {}, g.w2: {}, g.w1x8: {}}
	for r := range c.runs {
		for _, op := range b.systems {
			sys := syss[op.name]
			if sys == nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if c.want("W1") && !failed[g.w1][op.name] {
				b.logf("W1 run %d/%d %s", r+1, c.runs, op.name)
				_, took, err := putCommitLoop(ctx, sys, fmt.Sprintf("w1-%d", r), c.w1Ops, blobSize)
				if err != nil {
					failed[g.w1][op.name] = true
					b.fail(op.name, fmt.Errorf("W1: %w", err), append(w1Also[op.name], g.w1)...)
				} else {
					rate := float64(c.w1Ops) / took.Seconds()
					for _, gr := range append(w1Also[op.name], g.w1) {
						if gr != nil {
							gr.add(op.name, rate)
						}
					}
					if op.name == pgSubject && g.w1x8 != nil {
						g.w1x8.add(pgOneWriter, rate)
					}
				}
			}
			if c.want("W2") && !failed[g.w2][op.name] {
				b.logf("W2 run %d/%d %s", r+1, c.runs, op.name)
				rate, err := turns(ctx, sys, r, c.w2Turns)
				if err != nil {
					failed[g.w2][op.name] = true
					b.fail(op.name, fmt.Errorf("W2: %w", err), append(w2Also[op.name], g.w2)...)
				} else {
					for _, gr := range append(w2Also[op.name], g.w2) {
						if gr != nil {
							gr.add(op.name, rate)
						}
					}
				}
			}
			b.settleAfter(ctx, sys)
		}
	}
	// W1 with several writers runs after every W1 and W2 run, so that
	// those see the stores, and the WAL traffic between their timed
	// parts, that they saw before this group existed.
	for r := range c.runs {
		for _, op := range b.systems {
			sys, gr := syss[op.name], b.writersGroup(op.name)
			if sys == nil || gr == nil || failed[gr][op.name] {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			b.logf("W1 run %d/%d %s, %d writers", r+1, c.runs, op.name, w1Writers)
			rate, err := concurrentPutCommit(ctx, sys, fmt.Sprintf("w1x%d-%d", w1Writers, r), w1Writers, c.w1Ops, blobSize)
			if err != nil {
				failed[gr][op.name] = true
				b.fail(op.name, fmt.Errorf("W1, %d writers: %w", w1Writers, err), gr)
				continue
			}
			gr.add(op.name, rate)
			b.settleAfter(ctx, sys)
		}
	}
	return nil
}

// settleAfter writes out what sys's timed writes left in a database
// server's buffers (see settler), between timed parts, so that the server
// does not write them during the next system's.
func (b *bench) settleAfter(ctx context.Context, sys System) {
	if s, ok := sys.(settler); ok {
		if err := s.Settle(ctx); err != nil && ctx.Err() == nil {
			b.fail(sys.Name(), fmt.Errorf("settle: %w", err))
		}
	}
}

// w1Writers is how many writers W1's concurrent group runs at once.
const w1Writers = 8

// pgOneWriter is the row of the concurrent group that repeats postgres's
// W1 (one writer), the base of its target.
const pgOneWriter = "postgres, 1 writer"

// writersGroup returns the concurrent W1 group when the named system has a
// row in it (the systems under test do), else nil.
func (b *bench) writersGroup(system string) *group {
	if b.g.w1x8 == nil || (system != subject && system != pgSubject) {
		return nil
	}
	return b.g.w1x8
}

// concurrentPutCommit runs W1 on writers goroutines at once, each doing n
// operations of one size-byte attachment in a session of its own, and
// returns the operations of all of them per second, from the moment they
// start together to the moment the last one ends.
func concurrentPutCommit(ctx context.Context, sys System, session string, writers, n, size int) (float64, error) {
	tag := newTag()
	blobs := make([][][]byte, writers)
	for w := range blobs {
		blobs[w] = make([][]byte, n)
		for i := range blobs[w] {
			blobs[w][i] = makeBlob(tag, uint64(w*n+i), size)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			for _, bl := range blobs[w] {
				if _, err := sys.PutCommit(ctx, fmt.Sprintf("%s-%d", session, w), [][]byte{bl}); err != nil {
					// The first error is the cause; the others' are the cancel.
					once.Do(func() { firstErr = fmt.Errorf("writer %d: %w", w, err) })
					cancel()
					return
				}
			}
		})
	}
	t := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(t)
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(writers*n) / took.Seconds(), nil
}

// turns runs W2: n turns of 20 attachments of 1–100 KiB, each turn put and
// committed at once; it returns attachments per second. The sizes depend on
// the run only, so every system writes the same mix.
func turns(ctx context.Context, sys System, run, n int) (float64, error) {
	tag := newTag()
	all := make([][][]byte, n)
	for t, sizes := range turnSizes(run, n) {
		all[t] = turnBlobs(tag, t, sizes)
	}
	start := time.Now()
	for t, blobs := range all {
		if _, err := sys.PutCommit(ctx, fmt.Sprintf("w2-%d-%d", run, t), blobs); err != nil {
			return 0, err
		}
	}
	return float64(20*n) / time.Since(start).Seconds(), nil
}

// turnSizes returns the attachment sizes of W2's n turns in the given run:
// 20 a turn, 1–100 KiB, the same for every system.
func turnSizes(run, n int) [][20]int {
	rng := rand.New(rand.NewPCG(uint64(run), 2))
	sizes := make([][20]int, n)
	for t := range sizes {
		for i := range sizes[t] {
			sizes[t][i] = 1<<10 + rng.IntN(99<<10+1)
		}
	}
	return sizes
}

// turnBlobs makes the attachments of turn t, one of each size given.
func turnBlobs(tag uint64, t int, sizes [20]int) [][]byte {
	blobs := make([][]byte, len(sizes))
	for i, size := range sizes {
		blobs[i] = makeBlob(tag, uint64(t*len(sizes)+i), size)
	}
	return blobs
}

// loadBatch is how many sessions the bench hands a system's loader at once
// (20k blobs, 200 MB, at full size); see attachStore.LoadSessions.
const loadBatch = 20

// population is the set of committed 10 KiB blobs a growing store holds; blob
// i is referenced by session pop-(i / per).
type population struct {
	tag uint64
	per int
	ids []ID
}

func popSession(k int) string              { return fmt.Sprintf("pop-%d", k) }
func (p *population) session(i int) string { return popSession(i / p.per) }

func (p *population) grow(ctx context.Context, sys System, target int, progress func(int)) error {
	next := len(p.ids) + target/10
	for len(p.ids) < target {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Up to loadBatch sessions, each filled to p.per blobs (the first
		// may be partly filled already) or to target.
		var (
			sessions []string
			blobs    [][][]byte
		)
		for i := len(p.ids); i < target && len(sessions) < loadBatch; {
			n := min(p.per-i%p.per, target-i)
			bl := make([][]byte, n)
			for j := range bl {
				bl[j] = makeBlob(p.tag, uint64(i+j), blobSize)
			}
			sessions, blobs = append(sessions, p.session(i)), append(blobs, bl)
			i += n
		}
		ids, err := loadSessions(ctx, sys, sessions, blobs)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		for _, s := range ids {
			p.ids = append(p.ids, s...)
		}
		if len(p.ids) >= next {
			progress(len(p.ids))
			for next <= len(p.ids) {
				next += max(target/10, 1)
			}
		}
	}
	return nil
}

// ladder is the sizes a growing store of op's stops at to be measured.
func (b *bench) ladder(op opener) []int {
	c := b.cfg
	var lv []int
	if (c.want("W3") && op.runs("W3")) || (c.want("W4") && op.runs("W4")) {
		lv = append(lv, c.w3Stored)
	}
	if c.want("W7") && op.runs("W7") {
		lv = append(lv, c.w7Levels...)
	}
	if c.want("W6") && op.runs("W6") {
		total, _ := c.w6Size(op.name)
		lv = append(lv, total)
	}
	slices.Sort(lv)
	return slices.Compact(lv)
}

// storeGroups splits the systems into the groups that measure one growing
// store together, in run order: the systems that keep the same layout on
// disk (the two file peers: one tree of files, one manifest) share a store,
// so it is built and deleted once for them; any other system has its own.
func (b *bench) storeGroups() [][]opener {
	var groups [][]opener
	at := map[string]int{}
	for _, op := range b.systems {
		if i, ok := at[op.layout]; ok && op.layout != "" {
			groups[i] = append(groups[i], op)
			continue
		}
		at[op.layout] = len(groups)
		groups = append(groups, []opener{op})
	}
	return groups
}

// growing is one growing store and the systems that measure it in turn,
// each with its own handle on it.
type growing struct {
	dir    string
	ops    []opener
	sys    []System // sys[i] is ops[i]'s handle; nil while closed
	failed []bool   // ops[i] failed in a way that ends its part
	p      *population
}

// live returns the indexes of the systems still measuring.
func (st *growing) live() []int {
	var out []int
	for i := range st.ops {
		if !st.failed[i] {
			out = append(out, i)
		}
	}
	return out
}

// closeAll closes every handle, so that the store's files can be evicted
// from the page cache and SQLite finishes with its WAL as a sole user does.
func (st *growing) closeAll() error {
	var errs []error
	for i, sys := range st.sys {
		if sys != nil {
			errs = append(errs, sys.Close())
			st.sys[i] = nil
		}
	}
	return errors.Join(errs...)
}

// openLive opens every live system that has no handle; one that cannot
// open is failed and measures no more.
func (b *bench) openLive(ctx context.Context, st *growing) {
	for _, i := range st.live() {
		if st.sys[i] != nil {
			continue
		}
		sys, err := st.ops[i].open(ctx, st.dir, b.cfg)
		if err != nil {
			st.failed[i] = true
			b.fail(st.ops[i].name, fmt.Errorf("open: %w", err))
			continue
		}
		st.sys[i] = sys
	}
}

// grow runs W3, W4, W7 and W6 on one store: it grows through the ladder and
// every system of ops is measured at each step, one after the other. Groups
// run one after the other, so the page cache and the disk hold one store's
// data at a time. It returns an error only when ctx is done.
func (b *bench) grow(ctx context.Context, ops []opener) error {
	c, g := b.cfg, &b.g
	st := &growing{
		dir:    filepath.Join(b.scratch, "grow", ops[0].name),
		ops:    ops,
		sys:    make([]System, len(ops)),
		failed: make([]bool, len(ops)),
		p:      &population{tag: newTag(), per: c.sessionSize},
	}
	names := make([]string, len(ops))
	for i, op := range ops {
		names[i] = op.name
	}
	name := strings.Join(names, "+")
	defer func() {
		start := time.Now()
		st.closeAll()
		removeAndSync(st.dir)
		if rm := ops[0].remove; rm != nil {
			// Also after Ctrl-C: what the server holds is freed now.
			if err := rm(context.WithoutCancel(ctx), st.dir, c); err != nil {
				b.fail(name, fmt.Errorf("deleting the store: %w", err))
			}
		}
		b.logf("%s: store closed and deleted (%.0f s)", name, time.Since(start).Seconds())
	}()
	b.openLive(ctx, st)
	// failAll ends the store for every system still measuring it.
	failAll := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, i := range st.live() {
			st.failed[i] = true
			b.fail(st.ops[i].name, err)
		}
		return nil
	}
	for _, lv := range b.ladder(ops[0]) {
		live := st.live()
		if len(live) == 0 {
			return nil
		}
		// Every system's Load leaves the store in the same state; the first
		// live one builds it.
		start := time.Now()
		if err := st.p.grow(ctx, st.sys[live[0]], lv, func(n int) {
			b.logf("%s: %d blobs stored (%.0f s)", name, n, time.Since(start).Seconds())
		}); err != nil {
			return failAll(err)
		}
		if err := settle(ctx, st.sys[live[0]], st.dir); err != nil {
			return failAll(err)
		}
		for _, i := range live {
			if st.failed[i] {
				continue // another system's W4 could not open it again
			}
			if err := b.measure(ctx, st, i, lv); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				st.failed[i] = true
				b.fail(st.ops[i].name, err)
			}
		}
		if lv == c.w3Stored && (g.w3kv != nil || g.w4kv != nil || g.w3guard != nil || g.w4guard != nil) && slices.ContainsFunc(ops, func(op opener) bool { return op.name == subject }) {
			if err := b.kvFloor(ctx, st); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.fail(kvLimit, err, g.w3kv, g.w4kv, g.w3guard, g.w4guard)
			}
		}
	}
	if c.want("W7") {
		for _, op := range ops {
			if !op.runs("W7") {
				continue
			}
			lo := g.w7p50[c.w7Levels[0]].seriesFor(op.name).samples
			hi := g.w7p50[c.w7Levels[len(c.w7Levels)-1]].seriesFor(op.name).samples
			if len(lo) > 0 && len(hi) > 0 {
				g.w7growth.add(op.name, median(hi)/median(lo))
			}
		}
	}
	if c.want("W6") {
		b.w6(ctx, st)
	}
	return ctx.Err()
}

// measure runs the workloads of one ladder step on system i of st. An
// error it returns ends that system's part; a workload's own error is
// recorded in its rows.
func (b *bench) measure(ctx context.Context, st *growing, i, lv int) error {
	c, g := b.cfg, &b.g
	op := &st.ops[i]
	sys, name := st.sys[i], op.name
	if err := checkSystem(ctx, sys, st.p); err != nil {
		return err
	}
	if lv == c.w3Stored && c.want("W3") && op.runs("W3") {
		if err := b.w3(ctx, sys, name, st.p); err != nil {
			b.fail(name, fmt.Errorf("W3: %w", err), g.w3a, g.w3b)
		}
	}
	if lv == c.w3Stored && c.want("W4") && op.runs("W4") {
		if err := b.w4(ctx, st, i); err != nil {
			b.fail(name, fmt.Errorf("W4: %w", err), g.w4a, g.w4b)
		}
		// W4 left only this system open, or none.
		b.openLive(ctx, st)
		if sys = st.sys[i]; sys == nil {
			return nil // failed to open again, and recorded as such
		}
	}
	if c.want("W7") && slices.Contains(c.w7Levels, lv) && op.runs("W7") {
		if err := b.w7(ctx, sys, name, st.p, lv); err != nil {
			b.fail(name, fmt.Errorf("W7: %w", err), g.w7p50[lv], g.w7p99[lv], g.w7reads[lv])
		}
	}
	return nil
}

// checkSystem makes sure a system returns the right bytes and that its
// guard refuses a session holding no ref: a fast wrong answer must not pass.
func checkSystem(ctx context.Context, sys System, p *population) error {
	i := len(p.ids) / 2
	for _, get := range []func() ([]byte, error){
		func() ([]byte, error) { return sys.Get(ctx, p.ids[i]) },
		func() ([]byte, error) { return sys.SessionGet(ctx, p.session(i), p.ids[i]) },
	} {
		data, err := get()
		if err != nil {
			return fmt.Errorf("check read: %w", err)
		}
		if ID(sha256.Sum256(data)) != p.ids[i] {
			return fmt.Errorf("check read: blob %d: wrong bytes", i)
		}
	}
	if _, err := sys.SessionGet(ctx, "no-such-session", p.ids[i]); err == nil {
		return errors.New("check guard: a session with no ref read a blob")
	}
	return nil
}

// readLoop reads n blobs of p chosen by seed and returns reads per second;
// guarded reads go through the session that holds the ref.
func readLoop(ctx context.Context, sys System, p *population, n int, seed uint64, guarded bool) (float64, error) {
	return timeReads(len(p.ids), n, seed, func(i int) ([]byte, error) {
		if guarded {
			return sys.SessionGet(ctx, p.session(i), p.ids[i])
		}
		return sys.Get(ctx, p.ids[i])
	})
}

// timeReads calls get for n indexes below stored chosen by seed (the same
// indexes for the same seed, whoever reads) and returns reads per second.
func timeReads(stored, n int, seed uint64, get func(i int) ([]byte, error)) (float64, error) {
	rng := rand.New(rand.NewPCG(seed, 3))
	idx := make([]int, n)
	for k := range idx {
		idx[k] = rng.IntN(stored)
	}
	start := time.Now()
	for _, i := range idx {
		data, err := get(i)
		if err != nil {
			return 0, err
		}
		if len(data) != blobSize {
			return 0, fmt.Errorf("blob %d: read %d bytes, want %d", i, len(data), blobSize)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// warmReads measures reads over one fixed random set, after one untimed pass
// over that set has brought it into every cache.
func (b *bench) warmReads(ctx context.Context, sys System, p *population, n int, seed uint64, guarded bool, add func(float64)) error {
	if _, err := readLoop(ctx, sys, p, n, seed, guarded); err != nil {
		return err
	}
	for range b.cfg.runs {
		rate, err := readLoop(ctx, sys, p, n, seed, guarded)
		if err != nil {
			return err
		}
		add(rate)
	}
	return nil
}

func (b *bench) w3(ctx context.Context, sys System, name string, p *population) error {
	b.logf("W3 %s: warm reads of %d stored", name, len(p.ids))
	g := &b.g
	if err := b.warmReads(ctx, sys, p, b.cfg.w3Reads, 31, true, func(v float64) {
		g.w3a.add(name, v)
		if g.w3guard != nil && name == subject {
			g.w3guard.add(name, v)
		}
	}); err != nil {
		return err
	}
	return b.warmReads(ctx, sys, p, b.cfg.w3Reads, 32, false, func(v float64) {
		g.w3b.add(name, v)
		if g.w3kv != nil && name == subject {
			g.w3kv.add(name, v)
		}
	})
}

// w4 measures system i of st reading with a cold page cache: before each
// run every handle on the store is closed, every file of the store is
// evicted with posix_fadvise DONTNEED, and system i alone is opened again,
// so neither the OS nor any system's own caches help. It leaves system i
// open, or none when that fails.
func (b *bench) w4(ctx context.Context, st *growing, i int) error {
	g, name := &b.g, st.ops[i].name
	for r := range b.cfg.runs {
		for _, guarded := range []bool{true, false} {
			if err := st.closeAll(); err != nil {
				return err
			}
			if err := dropCaches(st.dir); err != nil {
				return err
			}
			sys, err := st.ops[i].open(ctx, st.dir, b.cfg)
			if err != nil {
				return fmt.Errorf("reopen: %w", err)
			}
			st.sys[i] = sys
			b.logf("W4 run %d/%d %s guarded=%v", r+1, b.cfg.runs, name, guarded)
			rate, err := readLoop(ctx, sys, st.p, b.cfg.w4Reads, uint64(400+r), guarded)
			if err != nil {
				return err
			}
			if guarded {
				g.w4a.add(name, rate)
				if g.w4guard != nil && name == subject {
					g.w4guard.add(name, rate)
				}
			} else {
				g.w4b.add(name, rate)
				if g.w4kv != nil && name == subject {
					g.w4kv.add(name, rate)
				}
			}
		}
	}
	return nil
}

// w7 measures W1 latency and warm guarded reads at one store size.
func (b *bench) w7(ctx context.Context, sys System, name string, p *population, lv int) error {
	g := &b.g
	b.logf("W7 %s @%d stored", name, len(p.ids))
	for r := range b.cfg.runs {
		lat, _, err := putCommitLoop(ctx, sys, fmt.Sprintf("w7-%d-%d", lv, r), b.cfg.w7Ops, blobSize)
		if err != nil {
			return err
		}
		g.w7p50[lv].add(name, micro(percentile(lat, 50)))
		g.w7p99[lv].add(name, micro(percentile(lat, 99)))
	}
	return b.warmReads(ctx, sys, p, b.cfg.w7Reads, uint64(700+lv), true, func(v float64) { g.w7reads[lv].add(name, v) })
}

// w6 measures reclaiming orphans on st's store, the systems taking turns
// run by run; each system runs c.w6Runs of them.
func (b *bench) w6(ctx context.Context, st *growing) {
	c, g := b.cfg, &b.g
	failed := make([]bool, len(st.ops))
	sweeps := 0
	for r := range c.runs {
		for _, i := range st.live() {
			name := st.ops[i].name
			if failed[i] || r >= c.w6Runs(name) || ctx.Err() != nil {
				continue
			}
			b.logf("W6 run %d/%d %s", r+1, c.w6Runs(name), name)
			if err := b.w6Run(ctx, st.sys[i], name, st.p, sweeps); err != nil {
				failed[i] = true
				b.fail(name, fmt.Errorf("W6: %w", err), g.w6[name].all()...)
			}
			sweeps++
		}
	}
}

// w6Run orphans blobs of the store, as many as w6Size gives the system
// (its first sweep drops population sessions, later ones load and drop
// fresh ones, so the store keeps its size), measures a W1 writer alone,
// then sweeps with Grace 0 while the same writer runs. sweep counts the store's sweeps before this
// one, and names the sessions it writes.
func (b *bench) w6Run(ctx context.Context, sys System, name string, p *population, sweep int) error {
	c, gs := b.cfg, b.g.w6[name]
	_, nOrph := c.w6Size(name)
	per := c.sessionSize
	if nOrph%per != 0 || len(p.ids)%per != 0 || nOrph > len(p.ids) {
		return fmt.Errorf("orphans (%d) and store (%d) must be multiples of the session size (%d)", nOrph, len(p.ids), per)
	}
	var drop []string
	if sweep == 0 {
		for k := (len(p.ids) - nOrph) / per; k < len(p.ids)/per; k++ {
			drop = append(drop, popSession(k))
		}
		p.ids = p.ids[:len(p.ids)-nOrph]
	} else {
		tag := newTag()
		for k0 := 0; k0 < nOrph/per; k0 += loadBatch {
			var blobs [][][]byte
			first := len(drop)
			for k := k0; k < min(k0+loadBatch, nOrph/per); k++ {
				bl := make([][]byte, per)
				for j := range bl {
					bl[j] = makeBlob(tag, uint64(k*per+j), blobSize)
				}
				drop, blobs = append(drop, fmt.Sprintf("orphans-%d-%d", sweep, k)), append(blobs, bl)
			}
			if _, err := loadSessions(ctx, sys, drop[first:], blobs); err != nil {
				return fmt.Errorf("load orphans: %w", err)
			}
		}
	}
	for _, s := range drop {
		if err := sys.DropSession(ctx, s); err != nil {
			return fmt.Errorf("drop session: %w", err)
		}
	}
	if err := settle(ctx, sys, b.scratch); err != nil {
		return err
	}
	base, _, err := putCommitLoop(ctx, sys, fmt.Sprintf("w6-base-%d", sweep), c.w7Ops, blobSize)
	if err != nil {
		return err
	}
	b.logf("W6 %s: sweeping %d orphans", name, nOrph)
	under, took, n, err := sweepWithWriter(ctx, sys, sweep)
	if err != nil {
		return err
	}
	if n < nOrph {
		return fmt.Errorf("reclaimed %d blobs, want at least %d", n, nOrph)
	}
	p99base, p99under := micro(percentile(base, 99)), micro(percentile(under, 99))
	gs.rate.add(name, float64(nOrph)/took.Seconds())
	gs.base.add(name, p99base)
	gs.under.add(name, p99under)
	gs.ratio.add(name, p99under/p99base)
	return nil
}

// sweepWithWriter runs Reclaim while a W1 writer puts and commits 10 KiB
// attachments in a loop; it returns the writer's latencies, the sweep's
// duration and the number of blobs reclaimed.
func sweepWithWriter(ctx context.Context, sys System, run int) ([]time.Duration, time.Duration, int, error) {
	stop := make(chan struct{})
	type result struct {
		lat []time.Duration
		err error
	}
	done := make(chan result)
	go func() {
		var res result
		tag := newTag()
		// At least one write, however short the sweep.
		for i := 0; ; i++ {
			bl := makeBlob(tag, uint64(i), blobSize)
			t := time.Now()
			if _, err := sys.PutCommit(ctx, fmt.Sprintf("w6-writer-%d", run), [][]byte{bl}); err != nil {
				res.err = err
				<-stop
				done <- res
				return
			}
			res.lat = append(res.lat, time.Since(t))
			select {
			case <-stop:
				done <- res
				return
			default:
			}
		}
	}()
	start := time.Now()
	n, err := sys.Reclaim(ctx)
	took := time.Since(start)
	close(stop)
	w := <-done
	if err != nil {
		return nil, 0, 0, err
	}
	if w.err != nil {
		return nil, 0, 0, fmt.Errorf("writer during sweep: %w", w.err)
	}
	return w.lat, took, n, nil
}
