package main

import (
	"strings"
	"testing"
)

func TestSessionFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.file("a.txt", []byte("alpha"))
	b := e.file("b.txt", []byte("beta"))
	ida := e.put("--session", "s1", "--owner", "turn-1", a)[0]
	idb := e.put(b, "--session", "s1")[0]

	t.Run("RefsPending", func(t *testing.T) {
		r := e.ok(nil, "refs", "--session", "s1")
		for _, id := range []string{ida, idb} {
			if !strings.Contains(r.stdout, id) {
				t.Errorf("refs: %s missing from\n%s", id, r.stdout)
			}
		}
		if strings.Count(r.stdout, "pending") != 2 || !strings.Contains(r.stdout, "turn-1") {
			t.Errorf("refs: want two pending refs, one owned by turn-1:\n%s", r.stdout)
		}
		if got := lines(e.ok(nil, "refs", "--session", "s1", "--pending").stdout); len(got) != 2 || got[0] != ida || got[1] != idb {
			t.Errorf("refs --pending: got %q, want [%s %s]", got, ida, idb)
		}
	})

	t.Run("GuardedRead", func(t *testing.T) {
		if got := e.ok(nil, "get", "--session", "s1", ida).stdout; got != "alpha" {
			t.Errorf("get --session s1: got %q", got)
		}
		// Another session knows the hash, and the bytes are stored, but it
		// holds no ref: not found.
		e.fails(1, []string{"get " + ida, "not found"}, "get", "--session", "s2", ida)
	})

	t.Run("CommitSome", func(t *testing.T) {
		e.ok(nil, "commit", "--session", "s1", ida)
		if got := lines(e.ok(nil, "refs", "--session", "s1", "--pending").stdout); len(got) != 1 || got[0] != idb {
			t.Errorf("after committing %s, pending = %q, want [%s]", ida, got, idb)
		}
		objs := jsonLines(t, e.ok(nil, "refs", "--session", "s1", "--json").stdout)
		if len(objs) != 2 {
			t.Fatalf("refs --json: want 2 objects, got %v", objs)
		}
		for _, o := range objs {
			committed := o["id"] == ida
			if o["session"] != "s1" || o["committed"] != committed || (o["committed_at"] != nil) != committed || o["session_id"] != nil {
				t.Errorf("refs --json: %v: want session s1, committed=%v", o, committed)
			}
		}
		if objs[0]["owner"] != "turn-1" {
			t.Errorf("refs --json: owner = %v, want turn-1", objs[0]["owner"])
		}
	})

	t.Run("CommitAll", func(t *testing.T) {
		e.ok(nil, "commit", "--session", "s1")
		if r := e.ok(nil, "refs", "--session", "s1", "--pending", "--json"); r.stdout != "" {
			t.Errorf("after commit, pending = %q", r.stdout)
		}
	})

	t.Run("CommitUnknownFails", func(t *testing.T) {
		e.fails(1, []string{"s2", unknownID}, "commit", "--session", "s2", unknownID)
	})

	t.Run("DropSession", func(t *testing.T) {
		e.fails(1, []string{"rm " + ida, "referenced"}, "rm", ida)
		e.ok(nil, "drop-session", "s1")
		if r := e.ok(nil, "refs", "--session", "s1"); r.stdout != "" {
			t.Errorf("refs after drop-session: %q", r.stdout)
		}
		e.fails(1, []string{"not found"}, "get", "--session", "s1", ida)
		// The bytes stay until reclaim or rm.
		e.ok(nil, "stat", ida)
		e.ok(nil, "rm", ida, idb)
	})
}

func TestSessionSharedBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.file("shared.bin", pseudoRandom(400<<10, 9))
	id1 := e.put("--session", "s1", f)[0]
	id2 := e.put("--session", "s2", "--type", "image/png", "--label", "mine", f)[0]
	if id1 != id2 {
		t.Fatalf("the same bytes got ids %s and %s", id1, id2)
	}
	// Each session reads back its own metadata.
	o := jsonLines(t, e.ok(nil, "refs", "--session", "s2", "--json").stdout)
	if len(o) != 1 || o[0]["media_type"] != "image/png" || o[0]["label"] != "mine" {
		t.Errorf("s2's ref: got %v, want image/png labelled mine", o)
	}
	e.ok(nil, "rm", "--session", "s1", id1)
	e.fails(1, []string{"not found"}, "get", "--session", "s1", id1)
	if got := e.ok(nil, "get", "--session", "s2", id1).stdout; len(got) != 400<<10 {
		t.Errorf("s2 lost the bytes when s1 dropped its ref: got %d bytes", len(got))
	}
	e.fails(1, []string{"referenced"}, "rm", id1)
}

// TestRmNamesHoldingSessions: rm of a blob that sessions hold names each
// of them, committed or pending and for which owner, and how to let go.
func TestRmNamesHoldingSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.file("shared.txt", []byte("shared"))
	id := e.put("--session", "chat-1", f)[0]
	e.ok(nil, "commit", "--session", "chat-1")
	e.put("--session", "chat-2", "--owner", "turn-9", f)

	e.fails(1, []string{"rm " + id, `session "chat-1" (committed)`, `session "chat-2" (pending for owner "turn-9")`,
		"rm --session chat-1 " + id, "drop-session chat-1"}, "rm", id[:12])
	r := e.fails(1, nil, "rm", "--json", id)
	o := jsonLines(t, r.stderr)
	if len(o) != 1 || o[0]["kind"] != "referenced" || o[0]["id"] != id {
		t.Fatalf("rm --json of a held blob: %v", o)
	}
	if s, _ := o[0]["sessions"].([]any); len(s) != 2 || s[0] != "chat-1" || s[1] != "chat-2" {
		t.Errorf("rm --json: sessions = %v, want [chat-1 chat-2]", o[0]["sessions"])
	}
	e.ok(nil, "stat", id)

	// Following the advice frees it.
	e.ok(nil, "rm", "--session", "chat-1", id)
	e.ok(nil, "drop-session", "chat-2")
	e.ok(nil, "rm", id)
	e.fails(1, []string{"not found"}, "stat", id)
}

// TestCommitIntoDroppedSession: every form of commit into a dropped
// session fails alike, as the library does (ErrSessionDropped): exit 1,
// kind session_dropped, never a silent success.
func TestCommitIntoDroppedSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.put("--session", "gone", "--owner", "turn", e.file("a.txt", []byte("a")))[0]
	e.ok(nil, "drop-session", "gone")
	for _, args := range [][]string{
		{"commit", "--session", "gone"},
		{"commit", "--session", "gone", "--owner", "turn"},
		{"commit", "--session", "gone", id},
	} {
		e.fails(1, []string{`session "gone"`, "dropped"}, args...)
		r := e.fails(1, nil, append(args, "--json")...)
		if o := jsonLines(t, r.stderr); len(o) != 1 || o[0]["kind"] != "session_dropped" {
			t.Errorf("%v --json: %v, want one error of kind session_dropped", args, o)
		}
	}
}

// TestDropSessionSaysWhetherItExisted: a session that never held anything
// is still dropped (its name blocked until reclaim), but reported as
// existed:false; one that held a ref, a hold or a tombstone as existed:true.
func TestDropSessionSaysWhetherItExisted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put("--session", "used", e.file("a.txt", []byte("a")))
	e.ok(nil, "hold", "--session", "held", "--owner", "o", "--for", "1h")
	drop := func(s string) map[string]any {
		t.Helper()
		objs := jsonLines(t, e.ok(nil, "--json", "drop-session", s).stdout)
		if len(objs) != 1 {
			t.Fatalf("drop-session --json %s: want one object, got %v", s, objs)
		}
		return objs[0]
	}
	for _, tt := range []struct {
		session string
		existed bool
	}{
		{"never", false},
		{"used", true},
		{"held", true},
		{"never", true}, // its tombstone, from the first drop
	} {
		if o := drop(tt.session); o["dropped"] != true || o["existed"] != tt.existed || o["session"] != tt.session {
			t.Errorf("drop-session %s: %v, want dropped:true existed:%v", tt.session, o, tt.existed)
		}
	}
	r := e.ok(nil, "drop-session", "also-never")
	if !strings.Contains(r.stderr, `session "also-never"`) || !strings.Contains(r.stderr, "held nothing") {
		t.Errorf("drop-session of an unknown session: want a notice on stderr, got\n%v", r)
	}
	e.fails(1, []string{"dropped"}, "put", "--session", "also-never", e.file("b.txt", []byte("b")))
}
