package main

import (
	"strings"
	"testing"
)

// TestVerdictRoundsAwayFromTarget checks that a ratio a hair off its target
// never prints as the target itself beside a MISS, nor a met one as a miss.
func TestVerdictRoundsAwayFromTarget(t *testing.T) {
	for _, tt := range []struct {
		name          string
		c             check
		u             unit
		subj, against float64
		ratio, mark   string
	}{
		{"at least, just under", check{kind: vsSeries, against: "limit", atLeast: true, limit: 0.75}, opsPerSec, 747, 1000, "0.74×", "MISS"},
		{"at least, just over", check{kind: vsSeries, against: "limit", atLeast: true, limit: 0.75}, opsPerSec, 759, 1000, "0.75×", "ok"},
		{"at most, just over", check{kind: ownValue, limit: 5}, times, 5.004, 0, "5.01", "MISS"},
		{"at most, just under", check{kind: ownValue, limit: 5}, times, 4.996, 0, "5.00", "ok"},
		{"at most, MiB", check{kind: ownValue, limit: 64}, mib, 64.04, 0, "64.1", "MISS"},
		{"no target", check{kind: vsSeries, against: "limit"}, opsPerSec, 747, 1000, "0.75×", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := (&table{}).group("W", "m", tt.u).withCheck(tt.c)
			g.add(subject, tt.subj)
			g.add("limit", tt.against)
			ratio, _, mark := g.verdict()
			if ratio != tt.ratio || mark != tt.mark {
				t.Errorf("verdict = %q %q, want %q %q", ratio, mark, tt.ratio, tt.mark)
			}
		})
	}
}

// TestCheckOnAnotherSystem checks that a check naming a system is printed
// on that system's row and computed from it, and that the systems under
// test are never a "best peer" of each other.
func TestCheckOnAnotherSystem(t *testing.T) {
	tab := &table{}
	g := tab.group("W", "m", opsPerSec).
		withCheck(check{system: pgSubject, kind: vsSeries, against: "limit", atLeast: true, limit: 0.7})
	g.add(subject, 5000)
	g.add(pgSubject, 800)
	g.add("limit", 1000)
	if ratio, _, mark := g.verdict(); ratio != "0.80×" || mark != "ok" {
		t.Errorf("verdict = %q %q, want 0.80× ok (postgres ÷ limit)", ratio, mark)
	}
	var out strings.Builder
	tab.print(&out)
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "0.80×") && !strings.Contains(line, pgSubject) {
			t.Errorf("the ratio is printed on another row than postgres's: %q", line)
		}
	}

	best := (&table{}).group("W", "m", opsPerSec).withCheck(check{atLeast: true, limit: 2})
	best.add(subject, 1000)
	best.add(pgSubject, 4000)
	best.add("filecas", 400)
	best.add("limit", 8000)
	if ratio, _, _ := best.verdict(); ratio != "2.50×" {
		t.Errorf("best-peer verdict = %q, want 2.50× (against filecas, not postgres or the limit)", ratio)
	}
}
