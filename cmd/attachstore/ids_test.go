package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/attachstore/attachstore"
)

// TestIDPrefixes: a prefix of at least 8 hex digits resolves like git's
// abbreviated hashes: a unique match is the id, none is not found (exit
// 1), and shorter or non-hex ones are malformed (exit 1, kind invalid_id).
func TestIDPrefixes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := []byte("content a"), []byte("content b")
	idA := e.put(e.file("a", a))[0]
	idB := e.put(e.file("b", b))[0]

	for _, p := range []string{idA[:8], strings.ToUpper(idA[:12]), "sha256:" + idA[:20], "SHA256:" + idA[:20],
		"Sha256:" + strings.ToUpper(idA), idA[:63], idA} {
		if r := e.ok(nil, "stat", p); !strings.Contains(r.stdout, idA) || strings.Contains(r.stdout, idB) {
			t.Errorf("stat %s: %q, want %s alone", p, r.stdout, idA)
		}
	}
	if got := e.ok(nil, "get", idB[:10]).stdout; got != string(b) {
		t.Errorf("get by prefix: got %q", got)
	}

	none := "ffffffffffff"
	if strings.HasPrefix(idA, none) || strings.HasPrefix(idB, none) {
		t.Fatal("pick another absent prefix")
	}
	e.fails(1, []string{"stat " + none, "not found"}, "stat", none)

	for _, p := range []string{idA[:7], "ghijklmn", idA + "0", "sha256:" + idA[:7]} {
		e.fails(1, []string{"malformed id", "at least 8"}, "stat", p)
	}

	// With --session, a prefix resolves among that session's ids only, so
	// it tells nothing of what other sessions stored.
	e.put("--session", "s", e.file("s", []byte("in session")))
	sid := sha([]byte("in session"))
	if got := e.ok(nil, "get", "--session", "s", sid[:8]).stdout; got != "in session" {
		t.Errorf("get --session by prefix: %q", got)
	}
	e.fails(1, []string{"not found"}, "get", "--session", "s", idA[:8])
	e.ok(nil, "commit", "--session", "s", sid[:8])
	e.ok(nil, "rm", "--session", "s", sid[:8])
}

func TestResolveIDsListsCandidates(t *testing.T) {
	var ids []attachstore.ID
	for i := range maxCandidates + 3 {
		id := attachstore.ContentID([]byte{byte(i)})
		id[0], id[1], id[2], id[3] = 0xab, 0xcd, 0xef, 0x01
		ids = append(ids, id)
	}
	list := func(yield func(attachstore.ID) bool) error {
		for _, id := range ids {
			if !yield(id) {
				break
			}
		}
		return nil
	}
	a, _ := parseIDArg("ABCDEF01")
	full, _ := parseIDArg(ids[0].String())
	rs, err := resolveIDs([]idArg{a, full}, list)
	if err != nil {
		t.Fatal(err)
	}
	msg := fmt.Sprint(rs[0].err)
	if !strings.Contains(msg, "abcdef01 is ambiguous") || !strings.Contains(msg, ids[0].String()) || !strings.Contains(msg, "and 3 more") {
		t.Errorf("ambiguous prefix: %q", msg)
	}
	if rs[1].err != nil || rs[1].id != ids[0] {
		t.Errorf("a full id passed through as %v, %v", rs[1].id, rs[1].err)
	}
}

// TestAmbiguousPrefixFromTheBinary stores enough blobs that an 8-digit
// prefix is certain to be shared, and checks that the CLI lists the
// candidates (text and JSON) and exits 1.
func TestAmbiguousPrefixFromTheBinary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Two contents whose ids share 8 hex digits take ~65536 tries of
	// hashing in the test, not in the store.
	seen := map[string][]byte{}
	var a, b []byte
	for i := 0; a == nil; i++ {
		d := []byte(fmt.Sprintf("c%d", i))
		p := sha(d)[:8]
		if prev, ok := seen[p]; ok {
			a, b = prev, d
		}
		seen[p] = d
	}
	idA := e.put(e.file("a", a))[0]
	idB := e.put(e.file("b", b))[0]
	r := e.fails(1, []string{"ambiguous", idA, idB}, "stat", idA[:8])
	if r.stdout != "" {
		t.Errorf("ambiguous prefix printed %q", r.stdout)
	}
	objs := jsonLines(t, e.fails(1, nil, "stat", "--json", idA[:8]).stderr)
	if len(objs) != 1 || objs[0]["kind"] != "ambiguous" || len(objs[0]["candidates"].([]any)) != 2 {
		t.Errorf("stat --json ambiguous: %v", objs)
	}
	// The full id still works.
	e.ok(nil, "stat", idA)
}
