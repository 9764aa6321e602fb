package main

import "testing"

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
