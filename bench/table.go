package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// The report is one table of groups. A group is one measured quantity of one
// workload (W1 ops/s, W5 put MB/s, ...); it holds one series of samples per
// system, one sample per run, and at most one check: the ratio the issue sets
// a target for, printed on the row of the system under test it is about
// (the attachstore row unless the check names another).

// The systems under test: the library on SQLite, and the same library on
// PostgreSQL. Neither is a peer of the other: "best peer" means the best of
// the peer designs (isPeer).
const (
	subject   = "attachstore"
	pgSubject = "postgres"
)

type unit struct {
	name   string
	format string // for one value
}

var (
	opsPerSec  = unit{"ops/s", "%.0f"}
	attPerSec  = unit{"att/s", "%.0f"}
	blobPerSec = unit{"blobs/s", "%.0f"}
	mbPerSec   = unit{"MB/s", "%.0f"}
	micros     = unit{"µs", "%.0f"}
	mib        = unit{"MiB", "%.1f"}
	times      = unit{"×", "%.2f"}
)

type series struct {
	system  string
	peer    bool // a peer design: a candidate for "best peer"
	samples []float64
	note    string // shown instead of numbers when there are none (n/a)
}

type ratioKind int

const (
	vsBestPeer ratioKind = iota // the checked system ÷ the best peer's median
	vsSeries                    // the checked system ÷ the median of the series named by against
	ownValue                    // the checked system's median is itself the ratio
)

type check struct {
	system  string // the row the ratio is on; "" is attachstore's
	kind    ratioKind
	against string
	atLeast bool    // the target is ratio ≥ threshold (else ≤)
	limit   float64 // 0: no target, the ratio is shown for information
	text    string  // the target as the issue words it
}

type group struct {
	workload, metric string
	unit             unit
	lowerIsBetter    bool // for choosing the best peer
	series           []*series
	check            *check
}

type table struct{ groups []*group }

// group returns the group for (workload, metric), creating it.
func (t *table) group(workload, metric string, u unit) *group {
	for _, g := range t.groups {
		if g.workload == workload && g.metric == metric {
			return g
		}
	}
	g := &group{workload: workload, metric: metric, unit: u}
	t.groups = append(t.groups, g)
	return g
}

func (g *group) withCheck(c check) *group { g.check = &c; return g }

// on returns the system whose row the check is printed on.
func (c *check) on() string {
	if c.system == "" {
		return subject
	}
	return c.system
}

func (g *group) seriesFor(system string) *series {
	for _, s := range g.series {
		if s.system == system {
			return s
		}
	}
	s := &series{system: system, peer: isPeer(system)}
	g.series = append(g.series, s)
	return s
}

func (g *group) add(system string, v float64) {
	s := g.seriesFor(system)
	s.samples = append(s.samples, v)
}

func (g *group) na(system, why string) { g.seriesFor(system).note = why }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(k, len(s)-1))]
}

func micro(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// ratio computes the group's check, or NaN when a side is missing.
func (g *group) ratio() float64 {
	c := g.check
	var subj *series
	for _, s := range g.series {
		if c != nil && s.system == c.on() {
			subj = s
		}
	}
	if c == nil || subj == nil || len(subj.samples) == 0 {
		return math.NaN()
	}
	v := median(subj.samples)
	switch c.kind {
	case ownValue:
		return v
	case vsSeries:
		for _, s := range g.series {
			if s.system == c.against && len(s.samples) > 0 {
				return v / median(s.samples)
			}
		}
		return math.NaN()
	default:
		best := math.NaN()
		for _, s := range g.series {
			if !s.peer || len(s.samples) == 0 {
				continue
			}
			m := median(s.samples)
			if math.IsNaN(best) || (g.lowerIsBetter && m < best) || (!g.lowerIsBetter && m > best) {
				best = m
			}
		}
		if g.lowerIsBetter {
			return best / v
		}
		return v / best
	}
}

func (t *table) print(w io.Writer) {
	rows := [][]string{{"workload", "metric", "system", "median", "min–max", "ratio", "target", ""}}
	for _, g := range t.groups {
		for i, s := range g.series {
			row := make([]string, 8)
			if i == 0 {
				row[0], row[1] = g.workload, g.metric+" ("+g.unit.name+")"
			}
			row[2] = s.system
			if len(s.samples) == 0 {
				row[3] = orNA(s.note)
			} else {
				lo, hi := slices.Min(s.samples), slices.Max(s.samples)
				row[3] = fmt.Sprintf(g.unit.format, median(s.samples))
				row[4] = fmt.Sprintf(g.unit.format+"–"+g.unit.format, lo, hi)
			}
			if g.check != nil && s.system == g.check.on() {
				row[5], row[6], row[7] = g.verdict()
			}
			rows = append(rows, row)
		}
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for ri, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i >= 3 && i <= 5 { // numbers right-aligned
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
			b.WriteString("  ")
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		if ri == 0 {
			total := 0
			for _, wd := range widths {
				total += wd + 2
			}
			fmt.Fprintln(w, strings.Repeat("-", total-2))
		}
	}
}

// verdict returns the ratio, the target and ok/MISS for the checked row.
func (g *group) verdict() (ratio, target, mark string) {
	c := g.check
	r := g.ratio()
	target = c.text
	if math.IsNaN(r) {
		return "n/a", target, ""
	}
	format := "%.2f×"
	if c.kind == ownValue {
		format = g.unit.format
	}
	if c.limit == 0 {
		return fmt.Sprintf(format, r), target, ""
	}
	met := (c.atLeast && r >= c.limit) || (!c.atLeast && r <= c.limit)
	// Rounded to the shown digits, a miss by less than half a digit would
	// print as the target itself; round away from the target instead.
	ratio = fmt.Sprintf(format, roundToward(r, format, !c.atLeast))
	if met {
		return ratio, target, "ok"
	}
	return ratio, target, "MISS"
}

// roundToward rounds v to the decimals format ("%.Nf…") shows, up when up
// is set, else down.
func roundToward(v float64, format string, up bool) float64 {
	digits := 0
	if _, after, ok := strings.Cut(format, "."); ok {
		fmt.Sscanf(after, "%d", &digits)
	}
	scale := math.Pow(10, float64(digits))
	if up {
		return math.Ceil(v*scale) / scale
	}
	return math.Floor(v*scale) / scale
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}
