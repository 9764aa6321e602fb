package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/attachstore/attachstore"
)

// FuzzArgs feeds the CLI's argument handling hostile ids, session names and
// output names: every run must end with exit status 0, 1 or 2 — never a
// panic — an id that does not parse (neither a full id nor a prefix of at
// least 8 hex digits) must be bad usage (2), and nothing may be
// written outside the directory the test gave it.
func FuzzArgs(f *testing.F) {
	valid := attachstore.ContentID([]byte("seed")).String()
	for _, seed := range [][3]string{
		{valid, "chat", "out.bin"},
		{"sha256:" + valid, "'; DROP TABLE blobs; --", "x"},
		{"not-an-id", "", ".."},
		{strings.ToUpper(valid), "s\x00", "../escape"},
		{valid[:63], "%_", "/etc/passwd"},
		{"--db", "-o", "-"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, id, session, out string) {
		dir := t.TempDir()
		db := filepath.Join(dir, "a.db")
		ctx := context.Background()
		noenv := func(string) string { return "" }
		var stdout, stderr bytes.Buffer
		if code := run(ctx, []string{"--db", db, "put", "-"}, strings.NewReader("seed"), &stdout, &stderr, noenv); code != 0 {
			t.Fatalf("put seed: exit %d: %s", code, stderr.String())
		}
		// The output name is confined to dir: the test checks the CLI writes
		// nowhere else, not that it sandboxes what a user names.
		name := filepath.Base(out)
		if name == "." || name == ".." || name == "/" || name == "" {
			name = "out"
		}
		target := filepath.Join(dir, name)
		_, parsed := parseIDArg(id)
		for _, args := range [][]string{
			{"get", id, "-o", target},
			{"stat", id},
			{"rm", id},
			{"get", "--session", session, id, "-o", target},
			{"rm", "--session", session, id},
			{"commit", "--session", session, id},
			{"refs", "--session", session},
			{"drop-session", session},
			{"put", "--session", session, "-"},
			{"put", "--session", session, "--owner", session, "-"},
			{"hold", "--session", session, "--owner", session, "--for", "1h"},
			{"commit", "--session", session, "--owner", session},
			{"discard", "--session", session, "--owner", session},
			{"sessions"},
			{"rm", id, id},
		} {
			stdout.Reset()
			stderr.Reset()
			full := append([]string{"--db", db}, args...)
			code := run(ctx, full, strings.NewReader("data"), &stdout, &stderr, noenv)
			if code < 0 || code > 2 {
				t.Fatalf("%q: exit %d", full, code)
			}
			// "--" ends the flags, so commit then sees no id at all and
			// commits everything pending: exit 0 is right.
			noID := args[0] == "commit" && id == "--"
			takesID := !slices.Contains(args, "--owner") && !slices.Contains([]string{"refs", "drop-session", "put", "sessions"}, args[0])
			// A malformed id fails as its argument (1); a flag that takes
			// the id's place may make the line bad usage (2) instead.
			if !parsed && !noID && takesID && code == 0 {
				t.Fatalf("%q: id %q does not parse, but exit is 0 (%s)", full, id, stderr.String())
			}
		}
		// Nothing but the database, its WAL files and the one output name.
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			switch e.Name() {
			case "a.db", "a.db-wal", "a.db-shm", name:
			default:
				t.Fatalf("unexpected file %q written in %s", e.Name(), dir)
			}
		}
	})
}
