package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONOneObjectPerResult: under --json every command prints one JSON
// object per result on stdout, those that were silent included.
func TestJSONOneObjectPerResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.put("--session", "s", e.file("a.txt", []byte("alpha")))[0]
	b := e.put("--session", "s", e.file("b.txt", []byte("beta")))[0]
	free := e.put(e.file("free.txt", []byte("free")))[0]

	one := func(args ...string) map[string]any {
		t.Helper()
		objs := jsonLines(t, e.ok(nil, append([]string{"--json"}, args...)...).stdout)
		if len(objs) != 1 {
			t.Fatalf("--json %v: want one object, got %v", args, objs)
		}
		return objs[0]
	}

	out := filepath.Join(e.dir, "out.txt")
	if o := one("get", a, "-o", out); o["file"] != out || o["id"] != a || o["size"] != 5.0 || o["label"] != "a.txt" {
		t.Errorf("get -o --json: %v", o)
	}
	if r := e.ok(nil, "--json", "get", a); r.stdout != "alpha" {
		t.Errorf("get --json to stdout must print the bytes alone, got %q", r.stdout)
	}
	if o := one("commit", "--session", "s", a); o["session"] != "s" || o["id"] != a || o["committed"] != true {
		t.Errorf("commit --json ID: %v", o)
	}
	if o := one("commit", "--session", "s"); o["id"] != b || o["committed"] != true {
		t.Errorf("commit --json (all pending): %v, want only %s", o, b)
	}
	if o := one("rm", free); o["id"] != free || o["removed"] != true || o["session"] != nil {
		t.Errorf("rm --json: %v", o)
	}
	if o := one("rm", "--session", "s", b); o["id"] != b || o["session"] != "s" || o["removed"] != true {
		t.Errorf("rm --session --json: %v", o)
	}
	// Nothing to remove: the library's Delete says nil, rm says so.
	if o := one("rm", free); o["id"] != free || o["removed"] != false {
		t.Errorf("rm --json of an id no longer stored: %v, want removed:false", o)
	}
	if o := one("rm", "--session", "s", b); o["removed"] != false {
		t.Errorf("rm --session --json of a ref the session no longer holds: %v, want removed:false", o)
	}
	if o := one("drop-session", "s"); o["session"] != "s" || o["dropped"] != true {
		t.Errorf("drop-session --json: %v", o)
	}
	if o := one("stat", a); o["id"] != a {
		t.Errorf("stat --json: %v", o)
	}
	for _, cmd := range []string{"stats", "verify", "reclaim"} {
		one(cmd)
	}
}

// TestJSONErrorsOnStderr: under --json, every failure is one JSON object
// on stderr naming its kind and what failed, and nothing else is printed
// there (no usage text).
func TestJSONErrorsOnStderr(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.put(e.file("a.txt", []byte("a")))[0]
	held := e.put("--session", "s", e.file("h.txt", []byte("h")))[0]
	tests := []struct {
		name string
		code int
		args []string
		want map[string]any
	}{
		{"NotFound", 1, []string{"stat", unknownID}, map[string]any{"kind": "not_found", "id": unknownID}},
		{"Referenced", 1, []string{"rm", held}, map[string]any{"kind": "referenced", "id": held}},
		{"MissingFile", 1, []string{"put", "nope.txt"}, map[string]any{"kind": "no_such_file", "file": "nope.txt"}},
		{"Usage", 2, []string{"get"}, map[string]any{"kind": "usage"}},
		{"UnknownFlagBeforeJSON", 2, []string{"ls", "--nope"}, map[string]any{"kind": "usage"}},
		{"MissingDB", 1, []string{"--db", filepath.Join(e.dir, "none.db"), "ls"}, map[string]any{"kind": "no_such_file"}},
		{"OutputIsDirectory", 1, []string{"get", a, "-o", e.dir}, map[string]any{"id": a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := *e
			e.t = t
			r := e.run(nil, append(tt.args, "--json")...)
			if r.code != tt.code {
				t.Fatalf("want exit %d, got\n%v", tt.code, r)
			}
			objs := jsonLines(t, r.stderr)
			if len(objs) != 1 {
				t.Fatalf("stderr: want one JSON object, got %q", r.stderr)
			}
			o := objs[0]
			msg, _ := o["error"].(string)
			if msg == "" || strings.Contains(msg, "attachstore:") {
				t.Errorf("error %q: want a message without the attachstore: prefix", msg)
			}
			for k, v := range tt.want {
				if o[k] != v {
					t.Errorf("%s = %v, want %v (all: %v)", k, o[k], v, o)
				}
			}
		})
	}

	// Several failures: one object each, results still on stdout.
	r := e.run(nil, "--json", "stat", a, unknownID, "sha256:"+strings.Repeat("1", 64))
	if r.code != 1 || len(jsonLines(t, r.stderr)) != 2 || len(jsonLines(t, r.stdout)) != 1 {
		t.Errorf("stat a unknown unknown --json: want 1 result and 2 errors, got\n%v", r)
	}
}
