package main

import "fmt"

// groups are the rows of the report, created by layout in print order.
// Groups of workloads not selected stay nil.
type groups struct {
	sha, fsync, fdatasync, seqWrite, seqWarm, seqCold *group
	floorW1, floorW2, floorW5put, floorW5             *group
	tablesW1, tablesW2                                *group // the same in attachstore's tables
	ckptW2                                            *group // W2's, checkpointing as it goes
	floorPGW1, floorPGW2                              *group // nil unless postgres runs

	w1, w1sqlite, w2, w2sqlite *group
	w1tables, w2tables, w2ckpt *group // nil unless attachstore runs
	w1pg, w2pg                 *group // nil unless postgres runs
	w1x8                       *group
	w3a, w3b, w4a, w4b         *group
	w3kv, w4kv                 *group // nil unless attachstore runs
	w3guard, w4guard           *group // nil unless attachstore runs
	w5put, w5warm, w5cold      *group
	w5rss                      *group
	w6                         map[string]*w6Groups // by system
	w7p50, w7p99, w7reads      map[int]*group
	w7growth                   *group
}

// layout creates every group of the report in print order, with the target
// issue 6 sets for it, so that the targets live in one place and the table
// reads top to bottom whatever order the workloads ran in.
func (b *bench) layout() {
	t, c, g := &b.tab, b.cfg, &b.g
	// systems gives gr a row for every system that runs its workload.
	systems := func(gr *group, extra ...string) *group {
		for _, op := range b.systems {
			if op.runs(gr.workload) {
				gr.seriesFor(op.name)
			}
		}
		for _, e := range extra {
			gr.seriesFor(e)
		}
		return gr
	}
	limit := func(metric string, u unit) *group {
		gr := t.group("L", metric, u)
		gr.seriesFor("limit")
		return gr
	}
	big := humanBytes(c.big)

	g.sha = limit("SHA-256", mbPerSec)
	g.fsync = limit("4 KiB write+fsync, median", micros)
	g.fdatasync = limit("4 KiB write+fdatasync, median", micros)
	g.seqWrite = limit("seq write+fsync "+big, mbPerSec)
	g.seqWarm = limit("seq read "+big+", warm", mbPerSec)
	g.seqCold = limit("seq read "+big+", cold", mbPerSec)
	g.floorW1 = limit("SQLite alone: one 10 KiB row a commit", opsPerSec)
	g.floorW2 = limit("SQLite alone: a W2 turn of 20 rows a commit", attPerSec)
	g.tablesW1 = limit("SQLite alone, attachstore's tables: one 10 KiB blob a commit", opsPerSec)
	g.tablesW2 = limit("SQLite alone, attachstore's tables: a W2 turn a commit", attPerSec)
	g.ckptW2 = limit("SQLite alone, checkpointing as it goes: a W2 turn a commit", attPerSec)
	g.floorW5put = limit("SQLite alone: "+big+" as "+humanBytes(floorRowSize)+" rows in one transaction, write", mbPerSec)
	g.floorW5 = limit("SQLite alone: "+big+" as "+humanBytes(floorRowSize)+" rows, warm read", mbPerSec)
	pg := b.has(pgSubject)
	if pg {
		g.floorPGW1 = limit("PostgreSQL alone: one 10 KiB row a commit", opsPerSec)
		g.floorPGW2 = limit("PostgreSQL alone: a W2 turn of 20 rows a commit", attPerSec)
	}

	if c.want("W1") {
		g.w1 = systems(t.group("W1", "Session.PutCommitted 10 KiB, one transaction each", opsPerSec).
			withCheck(check{atLeast: true, limit: 2.5, text: "≥ 2.5× best peer"}))
		// The target is against SQLite alone, the floor of any design
		// that commits through a SQLite WAL; one fsync stays as context.
		g.w1sqlite = t.group("W1", "the same against SQLite alone", opsPerSec).
			withCheck(check{kind: vsSeries, against: "limit sqlite", atLeast: true, limit: 0.75, text: "≥ 0.75× SQLite alone"})
		g.w1sqlite.seriesFor(subject)
		g.w1sqlite.seriesFor("limit sqlite")
		g.w1sqlite.seriesFor("limit 1/fsync")
		g.w1tables = b.floorGroup("W1", "the same against SQLite alone writing attachstore's tables", opsPerSec, tablesLimit)
		// The library on PostgreSQL is held to that server's own floor.
		if pg {
			g.w1pg = t.group("W1", "the same on PostgreSQL, against PostgreSQL alone", opsPerSec).
				withCheck(check{system: pgSubject, kind: vsSeries, against: "limit postgres", atLeast: true, limit: 0.7, text: "≥ 0.70× PostgreSQL alone"})
			g.w1pg.seriesFor(pgSubject)
			g.w1pg.seriesFor("limit postgres")
		}
		// Writers of different sessions run in parallel on PostgreSQL; on
		// SQLite they take turns, so its row is context.
		if pg || b.has(subject) {
			g.w1x8 = t.group("W1", fmt.Sprintf("%d writers at once, each its own session: all ops", w1Writers), opsPerSec).
				withCheck(check{system: pgSubject, kind: vsSeries, against: pgOneWriter, atLeast: true, limit: 4, text: "≥ 4× " + pgOneWriter})
			for _, s := range []string{pgSubject, subject} {
				if b.has(s) {
					g.w1x8.seriesFor(s)
				}
			}
			if pg {
				g.w1x8.seriesFor(pgOneWriter)
			}
		}
	}
	if c.want("W2") {
		g.w2 = systems(t.group("W2", "turn: 20 × 1–100 KiB in one Update", attPerSec).
			withCheck(check{atLeast: true, limit: 5, text: "≥ 5× best peer"}))
		g.w2sqlite = t.group("W2", "the same against SQLite alone", attPerSec).
			withCheck(check{kind: vsSeries, against: "limit sqlite", atLeast: true, limit: 0.6, text: "≥ 0.60× SQLite alone"})
		g.w2sqlite.seriesFor(subject)
		g.w2sqlite.seriesFor("limit sqlite")
		g.w2tables = b.floorGroup("W2", "the same against SQLite alone writing attachstore's tables", attPerSec, tablesLimit)
		g.w2ckpt = b.floorGroup("W2", "the same against SQLite alone checkpointing as it goes", attPerSec, ckptLimit)
		if pg {
			g.w2pg = t.group("W2", "the same on PostgreSQL, against PostgreSQL alone", attPerSec).
				withCheck(check{system: pgSubject, kind: vsSeries, against: "limit postgres", atLeast: true, limit: 0.7, text: "≥ 0.70× PostgreSQL alone"})
			g.w2pg.seriesFor(pgSubject)
			g.w2pg.seriesFor("limit postgres")
		}
	}
	n := humanCount(c.w3Stored)
	if c.want("W3") {
		g.w3a = systems(t.group("W3", "(a) Session.Get vs guarded read, 10 KiB of "+n+", warm", opsPerSec).
			withCheck(check{atLeast: true, limit: 1.35, text: "≥ 1.35× best peer"}))
		g.w3b = systems(t.group("W3", "(b) Store.Get vs file read, warm", opsPerSec).
			withCheck(check{atLeast: true, limit: 1.0, text: "≥ 1.0× best peer"}))
		g.w3guard = b.floorGroup("W3", "(a) the same against SQLite alone: a manifest row and its blob's row, warm", opsPerSec, guardLimit)
		g.w3kv = b.floorGroup("W3", "(b) the same against SQLite alone: a row read by key, warm", opsPerSec, kvLimit)
		if g.w3kv != nil {
			g.w3kv.seriesFor(idLimit)
		}
	}
	if c.want("W4") {
		g.w4a = systems(t.group("W4", "(a) Session.Get vs guarded read, 10 KiB of "+n+", cold", opsPerSec).
			withCheck(check{atLeast: true, limit: 1.0, text: "≥ 1.0× best peer"}))
		g.w4b = systems(t.group("W4", "(b) Store.Get vs file read, cold", opsPerSec).
			withCheck(check{atLeast: true, limit: 0.8, text: "≥ 0.8× best peer"}))
		g.w4guard = b.floorGroup("W4", "(a) the same against SQLite alone: a manifest row and its blob's row, cold", opsPerSec, guardLimit)
		g.w4kv = b.floorGroup("W4", "(b) the same against SQLite alone: a row read by key, cold", opsPerSec, kvLimit)
		if g.w4kv != nil {
			g.w4kv.seriesFor(idLimit)
		}
	}
	if c.want("W5") {
		g.w5put = systems(t.group("W5", "PutReader "+big, mbPerSec).
			withCheck(check{kind: vsSeries, against: "limit file", atLeast: true, limit: 0.4, text: "≥ 0.4× file write+fsync"}), "limit file", "limit sqlite")
		g.w5warm = systems(t.group("W5", "NewReader "+big+", warm", mbPerSec).
			withCheck(check{kind: vsSeries, against: "limit sqlite", atLeast: true, limit: 0.8, text: "≥ 0.8× SQLite alone"}), "limit sqlite", "limit file")
		g.w5cold = systems(t.group("W5", "NewReader "+big+", cold", mbPerSec).
			withCheck(check{kind: vsSeries, against: "limit file", text: "(info) vs file read cold"}), "limit file")
		g.w5rss = systems(t.group("W5", "peak RSS (VmHWM) of the put and reads", mib).
			withCheck(check{kind: ownValue, limit: 64, text: "≤ 64 MiB"}))
	}
	if c.want("W6") {
		// Systems that sweep the same store size share W6's groups; one
		// that sweeps another size (postgres, see w6Size) has its own,
		// after them, with no target.
		g.w6 = map[string]*w6Groups{}
		std := &w6Groups{
			rate: t.group("W6", fmt.Sprintf("reclaim %s orphans of %s, W1 writer running",
				humanCount(c.w6Orphans), humanCount(c.w6Total)), blobPerSec).
				withCheck(check{atLeast: true, limit: 3, text: "≥ 3× best peer"}),
			base:  t.group("W6", "W1 writer p99, no sweep", micros),
			under: t.group("W6", "W1 writer p99, during the sweep", micros),
			ratio: t.group("W6", "W1 writer p99 during ÷ without", times).
				withCheck(check{kind: ownValue, limit: 5, text: "≤ 5×"}),
		}
		for _, op := range b.systems {
			if !op.runs("W6") {
				continue
			}
			gs := std
			if total, orphans := c.w6Size(op.name); total != c.w6Total || orphans != c.w6Orphans {
				of := fmt.Sprintf("%s orphans of %s", humanCount(orphans), humanCount(total))
				gs = &w6Groups{
					rate:  t.group("W6", "reclaim "+of+", W1 writer running", blobPerSec),
					base:  t.group("W6", "W1 writer p99, no sweep ("+of+")", micros),
					under: t.group("W6", "W1 writer p99, during the sweep ("+of+")", micros),
					ratio: t.group("W6", "W1 writer p99 during ÷ without ("+of+")", times),
				}
			}
			for _, gr := range gs.all() {
				gr.seriesFor(op.name)
			}
			g.w6[op.name] = gs
		}
	}
	if c.want("W7") {
		g.w7p50, g.w7p99, g.w7reads = map[int]*group{}, map[int]*group{}, map[int]*group{}
		for _, lv := range c.w7Levels {
			g.w7p50[lv] = systems(t.group("W7", "W1 p50 @"+humanCount(lv)+" stored", micros))
		}
		for _, lv := range c.w7Levels {
			g.w7p99[lv] = systems(t.group("W7", "W1 p99 @"+humanCount(lv)+" stored", micros))
		}
		for _, lv := range c.w7Levels {
			g.w7reads[lv] = systems(t.group("W7", "W3(a) warm @"+humanCount(lv)+" stored", opsPerSec))
		}
		lo, hi := c.w7Levels[0], c.w7Levels[len(c.w7Levels)-1]
		g.w7growth = systems(t.group("W7", fmt.Sprintf("W1 p50 @%s ÷ p50 @%s", humanCount(hi), humanCount(lo)), times).
			withCheck(check{kind: ownValue, limit: 1.5, text: "≤ 1.5×"}))
	}
}

// w6Groups are W6's groups for the systems that sweep one store size.
type w6Groups struct{ rate, base, under, ratio *group }

func (w *w6Groups) all() []*group { return []*group{w.rate, w.base, w.under, w.ratio} }

func humanCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// floorGroup is a row of attachstore against one floor, for information,
// or nil when attachstore does not run: a target above that floor cannot
// be met by a design that does what the floor does.
func (b *bench) floorGroup(workload, metric string, u unit, floor string) *group {
	if !b.has(subject) {
		return nil
	}
	gr := b.tab.group(workload, metric, u).
		withCheck(check{kind: vsSeries, against: floor, text: "(info) vs that floor"})
	gr.seriesFor(subject)
	gr.seriesFor(floor)
	return gr
}

// tablesLimit names the floor of SQLite writing attachstore's own tables
// (openTablesFloor) under W1 and W2: how much of the way from SQLite alone
// to attachstore is the engine writing those b-trees.
const tablesLimit = "limit sqlite, attachstore's tables"

// ckptLimit names the floor of SQLite alone with its automatic checkpoint
// on (sqliteCheckpointingFloor) under W2: the bar's floor leaves copying
// the WAL into the file until after its timing, attachstore does it while
// W2 runs.
const ckptLimit = "limit sqlite, checkpointing"
