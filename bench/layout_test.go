package main

import (
	"strings"
	"testing"
)

// TestLayoutTargets checks which rows each target is computed from: W1 and
// W2 against the best peer and against SQLite alone, W5's warm read
// against SQLite alone (the plain file only as context).
func TestLayoutTargets(t *testing.T) {
	cfg, err := parseFlags(nil)
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
	fill(g.w1, map[string]float64{subject: 1000, "filecas": 400, "fileblob": 300})
	fill(g.w1sqlite, map[string]float64{subject: 1000, "limit sqlite": 1600, "limit 1/fsync": 4000})
	fill(g.w2, map[string]float64{subject: 3000, "filecas": 600, "fileblob": 500})
	fill(g.w2sqlite, map[string]float64{subject: 3000, "limit sqlite": 6000})
	fill(g.w5warm, map[string]float64{subject: 1800, "filecas": 20000, "fileblob": 21000, "limit sqlite": 2000, "limit file": 22000})
	for _, tt := range []struct {
		name      string
		gr        *group
		ratio     string
		target    string
		mark      string
		wantLines []string
	}{
		{"W1 best peer", g.w1, "2.50×", "≥ 2.5× best peer", "ok", nil},
		{"W1 SQLite alone", g.w1sqlite, "0.62×", "≥ 0.75× SQLite alone", "MISS", []string{"limit sqlite", "limit 1/fsync"}},
		{"W2 best peer", g.w2, "5.00×", "≥ 5× best peer", "ok", nil},
		{"W2 SQLite alone", g.w2sqlite, "0.50×", "≥ 0.60× SQLite alone", "MISS", []string{"limit sqlite"}},
		{"W5 warm read", g.w5warm, "0.90×", "≥ 0.8× SQLite alone", "ok", []string{"limit sqlite", "limit file"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
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
}
