package main

import (
	"testing"
)

// TestNoProgressWhenNotTerminal: with stderr a pipe or file, long
// operations draw nothing: stderr holds messages only.
func TestNoProgressWhenNotTerminal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := e.file("big.bin", pseudoRandom(3<<20, 25))
	id := e.put("--session", "s", big)[0]
	for _, args := range [][]string{
		{"put", big},
		{"get", id, "-o", "copy.bin"},
		{"verify"},
		{"reclaim", "--dry-run"},
		{"export", "--session", "s", "exported"},
	} {
		if r := e.ok(nil, args...); r.stderr != "" {
			t.Errorf("%v drew on a stderr that is not a terminal: %q", args, r.stderr)
		}
	}
}
