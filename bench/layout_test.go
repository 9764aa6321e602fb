package main

import (
	"slices"
	"strings"
	"testing"
)

// TestLayoutTargets checks which rows each target is computed from: W1 and
// W2 against the best peer and against SQLite alone, W5's warm read
// against SQLite alone (the plain file only as context); postgres's W1 and
// W2 against PostgreSQL alone and its 8 writers against its one; and that
// postgres, faster than every peer here, is never attachstore's best peer.
func TestLayoutTargets(t *testing.T) {
	cfg, err := parseFlags([]string{"-postgres", "postgres://u@h/db"})
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{cfg: cfg, systems: allSystems}
	b.layout()
	g := &b.g
	fill := func(gr *group, values map[string]float64) {
		for system, v := range values {
			gr.add(system, v)
		}
	}
	fill(g.w1, map[string]float64{subject: 1000, pgSubject: 5000, "filecas": 400, "fileblob": 300})
	fill(g.w1sqlite, map[string]float64{subject: 1000, "limit sqlite": 1600, "limit 1/fsync": 4000})
	fill(g.w1pg, map[string]float64{pgSubject: 5000, "limit postgres": 8000})
	fill(g.w1x8, map[string]float64{pgSubject: 19000, subject: 1100, pgOneWriter: 5000})
	fill(g.w2, map[string]float64{subject: 3000, pgSubject: 9000, "filecas": 600, "fileblob": 500})
	fill(g.w2sqlite, map[string]float64{subject: 3000, "limit sqlite": 6000})
	fill(g.w2pg, map[string]float64{pgSubject: 9000, "limit postgres": 12000})
	fill(g.w2tables, map[string]float64{subject: 3000, tablesLimit: 4000})
	fill(g.w2ckpt, map[string]float64{subject: 3000, ckptLimit: 5000})
	fill(g.w5warm, map[string]float64{subject: 1800, "filecas": 20000, "fileblob": 21000, "limit sqlite": 2000, "limit file": 22000})
	fill(g.w6[subject].rate, map[string]float64{subject: 3000, "filecas": 1000, "fileblob": 900})
	fill(g.w6[pgSubject].rate, map[string]float64{pgSubject: 9000})
	for _, tt := range []struct {
		name      string
		gr        *group
		on        string
		ratio     string
		target    string
		mark      string
		wantLines []string
	}{
		{"W1 best peer", g.w1, subject, "2.50×", "≥ 2.5× best peer", "ok", nil},
		{"W1 SQLite alone", g.w1sqlite, subject, "0.62×", "≥ 0.75× SQLite alone", "MISS", []string{"limit sqlite", "limit 1/fsync"}},
		{"W1 PostgreSQL alone", g.w1pg, pgSubject, "0.62×", "≥ 0.70× PostgreSQL alone", "MISS", []string{"limit postgres"}},
		{"W1 8 writers", g.w1x8, pgSubject, "3.80×", "≥ 4× postgres, 1 writer", "MISS", nil},
		{"W2 best peer", g.w2, subject, "5.00×", "≥ 5× best peer", "ok", nil},
		{"W2 SQLite alone", g.w2sqlite, subject, "0.50×", "≥ 0.60× SQLite alone", "MISS", []string{"limit sqlite"}},
		{"W2 SQLite in attachstore's tables", g.w2tables, subject, "0.75×", "(info) vs that floor", "", []string{tablesLimit}},
		{"W2 SQLite checkpointing", g.w2ckpt, subject, "0.60×", "(info) vs that floor", "", []string{ckptLimit}},
		{"W2 PostgreSQL alone", g.w2pg, pgSubject, "0.75×", "≥ 0.70× PostgreSQL alone", "ok", []string{"limit postgres"}},
		{"W5 warm read", g.w5warm, subject, "0.90×", "≥ 0.8× SQLite alone", "ok", []string{"limit sqlite", "limit file"}},
		{"W6 sweep", g.w6[subject].rate, subject, "3.00×", "≥ 3× best peer", "ok", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if on := tt.gr.check.on(); on != tt.on {
				t.Errorf("the check is on the %s row, want %s", on, tt.on)
			}
			ratio, target, mark := tt.gr.verdict()
			if ratio != tt.ratio || target != tt.target || mark != tt.mark {
				t.Errorf("verdict = %q %q %q, want %q %q %q", ratio, target, mark, tt.ratio, tt.target, tt.mark)
			}
			var lines []string
			for _, s := range tt.gr.series {
				if strings.HasPrefix(s.system, "limit") {
					lines = append(lines, s.system)
				}
			}
			if strings.Join(lines, ",") != strings.Join(tt.wantLines, ",") {
				t.Errorf("limit lines %q, want %q", lines, tt.wantLines)
			}
		})
	}

	// The 8-writer group holds the two systems under test and the base.
	if got, want := systemsOf(g.w1x8), []string{pgSubject, subject, pgOneWriter}; !slices.Equal(got, want) {
		t.Errorf("8-writer rows %q, want %q", got, want)
	}
	// postgres sweeps another store size: W6 groups of its own, with no
	// target, and no row in the others'.
	if g.w6[pgSubject].rate == g.w6[subject].rate || g.w6[pgSubject].rate.check != nil || g.w6[pgSubject].ratio.check != nil {
		t.Errorf("postgres's W6 groups: want their own, with no target")
	}
	for _, gr := range g.w6[subject].all() {
		if slices.Contains(systemsOf(gr), pgSubject) {
			t.Errorf("W6 %q has a postgres row", gr.metric)
		}
	}
	// Skipped workloads have no postgres row.
	for _, gr := range []*group{g.w4a, g.w4b, g.w5put, g.w5rss, g.w7p50[cfg.w7Levels[0]], g.w7growth} {
		if slices.Contains(systemsOf(gr), pgSubject) {
			t.Errorf("%s %q has a postgres row, but postgres skips it", gr.workload, gr.metric)
		}
	}
}

// TestLayoutWithoutPostgres checks that a run without a server has no
// PostgreSQL rows, and keeps attachstore's 8-writer row as context.
func TestLayoutWithoutPostgres(t *testing.T) {
	cfg, err := parseFlags([]string{"-postgres", ""})
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{cfg: cfg, systems: []opener{attachstoreOpener, fileCASOpener, fileBlobOpener}}
	b.layout()
	if b.g.w1pg != nil || b.g.w2pg != nil || b.g.floorPGW1 != nil || b.g.floorPGW2 != nil {
		t.Error("PostgreSQL groups without a server")
	}
	if got, want := systemsOf(b.g.w1x8), []string{subject}; !slices.Equal(got, want) {
		t.Errorf("8-writer rows %q, want %q", got, want)
	}
	for _, gr := range b.tab.groups {
		for _, s := range gr.series {
			if strings.Contains(s.system, "postgres") {
				t.Errorf("%s %q has a %s row", gr.workload, gr.metric, s.system)
			}
		}
	}
}

func systemsOf(gr *group) []string {
	var out []string
	for _, s := range gr.series {
		out = append(out, s.system)
	}
	return out
}
