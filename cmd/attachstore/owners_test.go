package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSessions: sessions shows each session's refs, pending intents,
// bytes and last intent, in id order; content put without a session is in
// none.
func TestSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put("--session", "b-chat", "--owner", "t1", e.file("one.txt", []byte("12345")))
	e.put("--session", "b-chat", "--owner", "t2", e.file("two.txt", []byte("1234567")))
	e.put("--session", "a-chat", e.file("three.txt", []byte("123")))
	e.ok(nil, "commit", "--session", "a-chat")
	e.put(e.file("free.txt", []byte("no session")))

	rows := strings.Split(strings.TrimSpace(e.ok(nil, "sessions").stdout), "\n")
	want := [][]string{{"a-chat", "1", "0", "3"}, {"b-chat", "2", "2", "12"}}
	if len(rows) != len(want) {
		t.Fatalf("sessions: want %d rows, got %q", len(want), rows)
	}
	for i, w := range want {
		f := strings.Fields(rows[i])
		if len(f) != 5 || !slices.Equal(f[:4], w) {
			t.Errorf("sessions row %d = %q, want %v and the last intent's time", i, rows[i], w)
			continue
		}
		if _, err := time.Parse(time.RFC3339, f[4]); err != nil {
			t.Errorf("sessions row %d: last intent %q: %v", i, f[4], err)
		}
	}
	objs := jsonLines(t, e.ok(nil, "sessions", "--json").stdout)
	if len(objs) != 2 || objs[1]["session"] != "b-chat" || objs[1]["refs"] != 2.0 || objs[1]["pending"] != 2.0 ||
		objs[1]["bytes"] != 12.0 || objs[1]["last_intent_at"] == nil {
		t.Errorf("sessions --json: %v", objs)
	}
	e.fails(2, []string{"no arguments"}, "sessions", "x")
}

// TestCommitOwner: commit --owner commits what that owner staged, and
// prints exactly those ids; another owner's intents stay pending.
func TestCommitOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.put("--session", "s", "--owner", "turn-1", e.file("a.txt", []byte("a")))[0]
	b := e.put("--session", "s", "--owner", "turn-1", e.file("b.txt", []byte("b")))[0]
	c := e.put("--session", "s", "--owner", "turn-2", e.file("c.txt", []byte("c")))[0]
	// turn-2 also stages a, which turn-1 commits first.
	e.put("--session", "s", "--owner", "turn-2", e.file("a.txt", []byte("a")))

	if got := lines(e.ok(nil, "commit", "--session", "s", "--owner", "turn-1").stdout); !slices.Equal(got, []string{a, b}) {
		t.Errorf("commit --owner turn-1 printed %q, want [%s %s]", got, a, b)
	}
	if got := lines(e.ok(nil, "refs", "--session", "s", "--pending").stdout); !slices.Equal(got, []string{c, a}) && !slices.Equal(got, []string{a, c}) {
		t.Errorf("after turn-1 committed, pending = %q, want turn-2's %s and %s", got, c, a)
	}
	// turn-2's ids include a, which the session already held committed.
	objs := jsonLines(t, e.ok(nil, "commit", "--session", "s", "--owner", "turn-2", "--json").stdout)
	var ids []string
	for _, o := range objs {
		if o["session"] != "s" || o["owner"] != "turn-2" || o["committed"] != true {
			t.Errorf("commit --owner --json: %v", o)
		}
		ids = append(ids, o["id"].(string))
	}
	slices.Sort(ids)
	if want := []string{a, c}; !slices.Equal(ids, sorted(want)) {
		t.Errorf("commit --owner turn-2 stamped %q, want %q", ids, want)
	}
	if r := e.ok(nil, "commit", "--session", "s", "--owner", "turn-3"); r.stdout != "" {
		t.Errorf("commit --owner of an owner with nothing staged printed %q", r.stdout)
	}
	e.fails(2, []string{"--owner", "no IDs"}, "commit", "--session", "s", "--owner", "turn-1", a)

	// The owner "" is what was put without --owner.
	d := e.put("--session", "s", e.file("d.txt", []byte("d")))[0]
	if got := lines(e.ok(nil, "commit", "--session", "s", "--owner", "").stdout); !slices.Equal(got, []string{d}) {
		t.Errorf(`commit --owner "" printed %q, want [%s]`, got, d)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestCommitPrintsIDs: a plain commit prints each id it stamped too.
func TestCommitPrintsIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.put("--session", "s", e.file("a.txt", []byte("a")))[0]
	b := e.put("--session", "s", e.file("b.txt", []byte("b")))[0]
	if got := lines(e.ok(nil, "commit", "--session", "s", a[:10]).stdout); !slices.Equal(got, []string{a}) {
		t.Errorf("commit PREFIX printed %q, want the full id %s", got, a)
	}
	if got := lines(e.ok(nil, "commit", "--session", "s").stdout); !slices.Equal(got, []string{b}) {
		t.Errorf("commit (all pending) printed %q, want [%s]", got, b)
	}
}

// TestDiscardOwner: discard forgets one owner's uncommitted intents and
// prints their ids; other owners' intents and committed refs stay.
func TestDiscardOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	kept := e.put("--session", "s", e.file("kept.txt", []byte("kept")))[0]
	e.ok(nil, "commit", "--session", "s")
	x := e.put("--session", "s", "--owner", "turn-1", e.file("x.txt", []byte("x")))[0]
	y := e.put("--session", "s", "--owner", "turn-1", e.file("y.txt", []byte("y")))[0]
	e.put("--session", "s", "--owner", "turn-1", e.file("kept.txt", []byte("kept")))
	other := e.put("--session", "s", "--owner", "turn-2", e.file("x.txt", []byte("x")))[0]

	got := lines(e.ok(nil, "discard", "--session", "s", "--owner", "turn-1").stdout)
	if !slices.Contains(got, x) || !slices.Contains(got, y) {
		t.Errorf("discard printed %q, want at least %s and %s", got, x, y)
	}
	if got := lines(e.ok(nil, "refs", "--session", "s", "--pending").stdout); !slices.Equal(got, []string{other}) {
		t.Errorf("after discard, pending = %q, want turn-2's [%s]", got, other)
	}
	if r := e.ok(nil, "get", "--session", "s", kept); r.stdout != "kept" {
		t.Errorf("discard took the committed ref: get = %q", r.stdout)
	}
	if r := e.ok(nil, "discard", "--session", "s", "--owner", "turn-1", "--json"); r.stdout != "" {
		t.Errorf("a second discard found %q", r.stdout)
	}
	o := jsonLines(t, e.ok(nil, "discard", "--session", "s", "--owner", "turn-2", "--json").stdout)
	if len(o) != 1 || o[0]["id"] != other || o[0]["owner"] != "turn-2" || o[0]["discarded"] != true {
		t.Errorf("discard --json: %v", o)
	}
	e.fails(2, []string{"--owner OWNER is required"}, "discard", "--session", "s")
	e.fails(2, []string{"--session"}, "discard", "--owner", "o")
}

// TestHoldKeepsIntentsFromReclaim: a held owner's intents survive a
// reclaim with no grace at all, until commit --owner or discard ends the
// hold.
func TestHoldKeepsIntentsFromReclaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A committed ref elsewhere, so that the store has roots.
	e.put("--session", "other", e.file("root.txt", []byte("root")))
	e.ok(nil, "commit", "--session", "other")
	held := e.put("--session", "s", "--owner", "waiting", e.file("held.txt", []byte("held")))[0]
	e.ok(nil, "hold", "--session", "s", "--owner", "waiting", "--for", "1h")

	r := jsonLines(t, e.ok(nil, "reclaim", "--grace", "0", "--json").stdout)[0]
	if r["expired_intents"] != 0.0 || r["reclaimed_blobs"] != 0.0 {
		t.Errorf("reclaim took a held owner's intent: %v", r)
	}
	if got := lines(e.ok(nil, "refs", "--session", "s", "--pending").stdout); !slices.Equal(got, []string{held}) {
		t.Fatalf("after reclaim, pending = %q, want the held %s", got, held)
	}
	until := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	o := jsonLines(t, e.ok(nil, "hold", "--session", "s", "--owner", "waiting", "--until", until, "--json").stdout)
	if len(o) != 1 || o[0]["session"] != "s" || o[0]["owner"] != "waiting" || o[0]["until"] == nil {
		t.Errorf("hold --json: %v", o)
	}

	e.ok(nil, "discard", "--session", "s", "--owner", "waiting")
	r = jsonLines(t, e.ok(nil, "reclaim", "--grace", "0", "--json").stdout)[0]
	if r["reclaimed_blobs"] != 1.0 {
		t.Errorf("once discard ended the hold, reclaim should take the blob: %v", r)
	}
	e.fails(1, []string{"not found"}, "stat", held)

	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--owner", "o"}, "one of --for"},
		{[]string{"--owner", "o", "--for", "1h", "--until", until}, "one of --for"},
		{[]string{"--owner", "o", "--for", "-1h"}, "positive"},
		{[]string{"--owner", "o", "--until", past}, "not in the future"},
		{[]string{"--owner", "o", "--until", "tomorrow"}, "--until"},
		{[]string{"--for", "1h"}, "--owner"},
	} {
		e.fails(2, []string{tt.want}, append([]string{"hold", "--session", "s"}, tt.args...)...)
	}
}

// TestDroppedSessionRefusesWork: after drop-session, puts, commits and
// holds into it fail with kind session_dropped and say why.
func TestDroppedSessionRefusesWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.file("a.txt", []byte("a"))
	id := e.put("--session", "s", f)[0]
	e.ok(nil, "drop-session", "s")
	for _, args := range [][]string{
		{"put", "--session", "s", f},
		{"commit", "--session", "s", id},
		{"commit", "--session", "s", "--owner", ""},
		{"hold", "--session", "s", "--owner", "o", "--for", "1h"},
	} {
		r := e.fails(1, []string{`session "s"`, "dropped", "reclaim clears it"}, args...)
		if strings.Count(r.stderr, "dropped") > 2 {
			t.Errorf("%v: %q repeats itself", args, r.stderr)
		}
		r = e.fails(1, nil, append([]string{"--json"}, args...)...)
		if o := jsonLines(t, r.stderr); len(o) != 1 || o[0]["kind"] != "session_dropped" {
			t.Errorf("%v --json: %v, want kind session_dropped", args, o)
		}
	}
}
