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
		for _, op := range b.systems {
			if err := b.grow(ctx, op); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.fail(op.name, err)
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
		g.floorW1.add("limit", w1)
		g.floorW2.add("limit", w2)
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
	for _, op := range b.systems {
		s, err := op.open(ctx, filepath.Join(b.scratch, "small", op.name), c)
		if err != nil {
			b.fail(op.name, fmt.Errorf("open: %w", err), g.w1, g.w1sqlite, g.w2, g.w2sqlite)
			continue
		}
		syss[op.name] = s
	}
	failed := map[*group]map[string]bool{g.w1: {}, g.w2: {}}
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
					b.fail(op.name, fmt.Errorf("W1: %w", err), g.w1, g.w1sqlite)
				} else {
					rate := float64(c.w1Ops) / took.Seconds()
					g.w1.add(op.name, rate)
					if op.name == subject {
						g.w1sqlite.add(subject, rate)
					}
				}
			}
			if c.want("W2") && !failed[g.w2][op.name] {
				b.logf("W2 run %d/%d %s", r+1, c.runs, op.name)
				rate, err := turns(ctx, sys, r, c.w2Turns)
				if err != nil {
					failed[g.w2][op.name] = true
					b.fail(op.name, fmt.Errorf("W2: %w", err), g.w2, g.w2sqlite)
				} else {
					g.w2.add(op.name, rate)
					if op.name == subject {
						g.w2sqlite.add(subject, rate)
					}
				}
			}
		}
	}
	return nil
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

// ladder is the sizes a growing store stops at to be measured.
func (b *bench) ladder() []int {
	c := b.cfg
	var lv []int
	if c.want("W3") || c.want("W4") {
		lv = append(lv, c.w3Stored)
	}
	if c.want("W7") {
		lv = append(lv, c.w7Levels...)
	}
	if c.want("W6") {
		lv = append(lv, c.w6Total)
	}
	slices.Sort(lv)
	return slices.Compact(lv)
}

// grow runs W3, W4, W7 and W6 on one system: one store grows through the
// ladder and is measured at each step. Systems run one after the other, so
// the page cache and the disk hold one system's data at a time.
func (b *bench) grow(ctx context.Context, op opener) (err error) {
	c, g := b.cfg, &b.g
	dir := filepath.Join(b.scratch, "grow", op.name)
	sys, err := op.open(ctx, dir, c)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() {
		start := time.Now()
		if sys != nil {
			sys.Close()
		}
		removeAndSync(dir)
		b.logf("%s: store closed and deleted (%.0f s)", op.name, time.Since(start).Seconds())
	}()
	p := &population{tag: newTag(), per: c.sessionSize}
	for _, lv := range b.ladder() {
		start := time.Now()
		if err := p.grow(ctx, sys, lv, func(n int) {
			b.logf("%s: %d blobs stored (%.0f s)", op.name, n, time.Since(start).Seconds())
		}); err != nil {
			return err
		}
		if err := syncFS(dir); err != nil {
			return err
		}
		if err := checkSystem(ctx, sys, p); err != nil {
			return err
		}
		if lv == c.w3Stored && c.want("W3") {
			if err := b.w3(ctx, sys, op.name, p); err != nil {
				b.fail(op.name, fmt.Errorf("W3: %w", err), g.w3a, g.w3b)
			}
		}
		if lv == c.w3Stored && c.want("W4") {
			if err := b.w4(ctx, op, dir, &sys, p); err != nil {
				b.fail(op.name, fmt.Errorf("W4: %w", err), g.w4a, g.w4b)
				if sys == nil {
					return err
				}
			}
		}
		if c.want("W7") && slices.Contains(c.w7Levels, lv) {
			if err := b.w7(ctx, sys, op.name, p, lv); err != nil {
				b.fail(op.name, fmt.Errorf("W7: %w", err), g.w7p50[lv], g.w7p99[lv], g.w7reads[lv])
			}
		}
	}
	if c.want("W7") {
		lo := g.w7p50[c.w7Levels[0]].seriesFor(op.name).samples
		hi := g.w7p50[c.w7Levels[len(c.w7Levels)-1]].seriesFor(op.name).samples
		if len(lo) > 0 && len(hi) > 0 {
			g.w7growth.add(op.name, median(hi)/median(lo))
		}
	}
	if c.want("W6") {
		if err := b.w6(ctx, sys, op.name, p); err != nil {
			b.fail(op.name, fmt.Errorf("W6: %w", err), g.w6rate, g.w6base, g.w6under, g.w6ratio)
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
	rng := rand.New(rand.NewPCG(seed, 3))
	idx := make([]int, n)
	for k := range idx {
		idx[k] = rng.IntN(len(p.ids))
	}
	start := time.Now()
	for _, i := range idx {
		var data []byte
		var err error
		if guarded {
			data, err = sys.SessionGet(ctx, p.session(i), p.ids[i])
		} else {
			data, err = sys.Get(ctx, p.ids[i])
		}
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
	if err := b.warmReads(ctx, sys, p, b.cfg.w3Reads, 31, true, func(v float64) { g.w3a.add(name, v) }); err != nil {
		return err
	}
	return b.warmReads(ctx, sys, p, b.cfg.w3Reads, 32, false, func(v float64) { g.w3b.add(name, v) })
}

// w4 measures reads with a cold page cache: before each run the system is
// closed, every file it has is evicted with posix_fadvise DONTNEED, and it is
// opened again, so neither the OS nor the system's own caches help.
func (b *bench) w4(ctx context.Context, op opener, dir string, sys *System, p *population) error {
	g := &b.g
	for r := range b.cfg.runs {
		for _, guarded := range []bool{true, false} {
			if err := (*sys).Close(); err != nil {
				*sys = nil
				return err
			}
			*sys = nil
			if err := dropCaches(dir); err != nil {
				return err
			}
			s, err := op.open(ctx, dir, b.cfg)
			if err != nil {
				return fmt.Errorf("reopen: %w", err)
			}
			*sys = s
			b.logf("W4 run %d/%d %s guarded=%v", r+1, b.cfg.runs, op.name, guarded)
			rate, err := readLoop(ctx, s, p, b.cfg.w4Reads, uint64(400+r), guarded)
			if err != nil {
				return err
			}
			if guarded {
				g.w4a.add(op.name, rate)
			} else {
				g.w4b.add(op.name, rate)
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

// w6 measures reclaiming orphans: each run orphans w6Orphans blobs of the
// store (run 1 drops population sessions, later runs load and drop fresh
// ones, so the store keeps its size), measures a W1 writer alone, then sweeps
// with Grace 0 while the same writer runs.
func (b *bench) w6(ctx context.Context, sys System, name string, p *population) error {
	c, g := b.cfg, &b.g
	per, nOrph := c.sessionSize, c.w6Orphans
	if nOrph%per != 0 || len(p.ids)%per != 0 || nOrph > len(p.ids) {
		return fmt.Errorf("orphans (%d) and store (%d) must be multiples of the session size (%d)", nOrph, len(p.ids), per)
	}
	for r := range c.runs {
		var drop []string
		if r == 0 {
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
					drop, blobs = append(drop, fmt.Sprintf("orphans-%d-%d", r, k)), append(blobs, bl)
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
		if err := syncFS(b.scratch); err != nil {
			return err
		}
		base, _, err := putCommitLoop(ctx, sys, fmt.Sprintf("w6-base-%d", r), c.w7Ops, blobSize)
		if err != nil {
			return err
		}
		b.logf("W6 run %d/%d %s: sweeping %d orphans", r+1, c.runs, name, nOrph)
		under, took, n, err := sweepWithWriter(ctx, sys, r)
		if err != nil {
			return err
		}
		if n < nOrph {
			return fmt.Errorf("reclaimed %d blobs, want at least %d", n, nOrph)
		}
		p99base, p99under := micro(percentile(base, 99)), micro(percentile(under, 99))
		g.w6rate.add(name, float64(nOrph)/took.Seconds())
		g.w6base.add(name, p99base)
		g.w6under.add(name, p99under)
		g.w6ratio.add(name, p99under/p99base)
	}
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
