package main

import (
	"strings"
	"testing"
)

// TestEveryArgumentIsProcessed: a failing argument is reported and the
// ones after it still run; the exit status is 1 at the end.
func TestEveryArgumentIsProcessed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.file("a.txt", []byte("A")), e.file("b.txt", []byte("B"))

	t.Run("Put", func(t *testing.T) {
		e := *e
		e.t = t
		r := e.fails(1, []string{"put missing.txt", "no such file"}, "put", a, "missing.txt", b)
		if got := lines(r.stdout); len(got) != 2 || got[0] != sha([]byte("A")) || got[1] != sha([]byte("B")) {
			t.Errorf("put a missing b: stdout %q, want the ids of a and b", r.stdout)
		}
		if n := strings.Count(r.stderr, "\n"); n != 1 {
			t.Errorf("want one error line, got %d: %q", n, r.stderr)
		}
	})

	t.Run("Stat", func(t *testing.T) {
		e := *e
		e.t = t
		x, y := sha([]byte("A")), sha([]byte("B"))
		r := e.fails(1, []string{"stat " + unknownID, "not found"}, "stat", x, unknownID, y)
		if !strings.Contains(r.stdout, x) || !strings.Contains(r.stdout, y) {
			t.Errorf("stat x unknown y: stdout lacks x or y:\n%s", r.stdout)
		}
	})

	t.Run("Rm", func(t *testing.T) {
		e := *e
		e.t = t
		free1 := e.put(e.file("free1", []byte("free1")))[0]
		held := e.put("--session", "keep", e.file("held", []byte("held")))[0]
		free2 := e.put(e.file("free2", []byte("free2")))[0]
		e.fails(1, []string{"rm " + held, "referenced"}, "rm", free1, held, free2)
		e.fails(1, []string{"not found"}, "stat", free1)
		e.fails(1, []string{"not found"}, "stat", free2)
		e.ok(nil, "stat", held)
	})

	t.Run("Commit", func(t *testing.T) {
		e := *e
		e.t = t
		id1 := e.put("--session", "c", e.file("c1", []byte("c1")))[0]
		id2 := e.put("--session", "c", e.file("c2", []byte("c2")))[0]
		e.fails(1, []string{"commit " + unknownID, `session "c"`}, "commit", "--session", "c", id1, unknownID, id2)
		if r := e.ok(nil, "refs", "--session", "c", "--pending"); r.stdout != "" {
			t.Errorf("ids around the unknown one were not committed: pending %q", r.stdout)
		}
	})

	t.Run("DropSession", func(t *testing.T) {
		e := *e
		e.t = t
		e.put("--session", "d1", e.file("d1", []byte("d1")))
		e.put("--session", "d2", e.file("d2", []byte("d2")))
		e.fails(1, []string{"session"}, "drop-session", "d1", strings.Repeat("x", 300), "d2")
		for _, s := range []string{"d1", "d2"} {
			if r := e.ok(nil, "refs", "--session", s); r.stdout != "" {
				t.Errorf("session %s was not dropped: %q", s, r.stdout)
			}
		}
	})

	// A malformed id is one failed argument like any other: the good ids
	// around it are processed, each bad one is reported on its own (kind
	// invalid_id), and the exit status is 1.
	t.Run("MalformedIDs", func(t *testing.T) {
		e := *e
		e.t = t
		x, y := sha([]byte("A")), sha([]byte("B"))
		r := e.fails(1, []string{`stat "zz": malformed id`}, "stat", x, "zz", y)
		if !strings.Contains(r.stdout, x) || !strings.Contains(r.stdout, y) {
			t.Errorf("stat x zz y: stdout lacks x or y:\n%s", r.stdout)
		}
		if strings.Contains(r.stderr, "usage") {
			t.Errorf("stat x zz y: a malformed id is not bad usage:\n%s", r.stderr)
		}

		free1 := e.put(e.file("m1", []byte("m1")))[0]
		free2 := e.put(e.file("m2", []byte("m2")))[0]
		r = e.fails(1, []string{`"bad1"`, `"bad2"`}, "rm", free1, "bad1", free2, "bad2")
		if strings.Count(r.stderr, "malformed id") != 2 {
			t.Errorf("want one message per malformed id: %q", r.stderr)
		}
		e.fails(1, []string{"not found"}, "stat", free1)
		e.fails(1, []string{"not found"}, "stat", free2)

		id1 := e.put("--session", "mc", e.file("mc1", []byte("mc1")))[0]
		e.fails(1, []string{`commit "xyz": malformed id`}, "commit", "--session", "mc", "xyz", id1)
		if r := e.ok(nil, "refs", "--session", "mc", "--pending"); r.stdout != "" {
			t.Errorf("the good id beside a malformed one was not committed: pending %q", r.stdout)
		}

		e.fails(1, []string{`get "3fa": malformed id`}, "get", "3fa")
		r = e.fails(1, nil, "--json", "get", "3fa")
		if o := jsonLines(t, r.stderr); len(o) != 1 || o[0]["kind"] != "invalid_id" || o[0]["id"] != "3fa" {
			t.Errorf("get 3fa --json: %v, want one error of kind invalid_id naming the id", o)
		}
	})
}
