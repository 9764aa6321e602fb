package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDBIsADirectory: --db naming a directory is said to be one by every
// command, rather than "disk I/O error", or a file that cannot be written
// on which reading commands would work (they do not).
func TestDBIsADirectory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.file("a.txt", []byte("a"))
	e.put("--session", "s", f)
	exp := filepath.Join(e.dir, "exp")
	e.ok(nil, "export", "--session", "s", exp)
	e.db = e.dir
	cmds := append(readingCommands(unknownID, e.dir),
		[]string{"put", f}, []string{"rm", unknownID}, []string{"commit", "--session", "s"},
		[]string{"drop-session", "s"}, []string{"reclaim"}, []string{"compact"},
		[]string{"import", exp}, []string{"hold", "--session", "s", "--owner", "o", "--for", "1h"})
	for _, args := range cmds {
		r := e.fails(1, []string{"open " + e.dir + ": is a directory"}, args...)
		for _, wrong := range []string{"I/O", "work on it", "cannot write"} {
			if strings.Contains(r.stderr, wrong) {
				t.Errorf("attachstore %v on a directory says %q:\n%v", args, wrong, r)
			}
		}
	}
	r := e.fails(1, nil, "--json", "ls")
	if o := jsonLines(t, r.stderr); len(o) != 1 || o[0]["db"] != e.dir || o[0]["kind"] != "not_a_store" {
		t.Errorf("ls --json on a directory: %v", o)
	}
}

// TestUnwritableDirectory: a database file that can be written in a
// directory that cannot is reported as the directory's doing, naming it;
// the file is not called unwritable.
func TestUnwritableDirectory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := filepath.Join(e.dir, "store")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	e.db = filepath.Join(sub, "test.db")
	e.put("--session", "s", e.file("a.txt", []byte("a")))
	if err := os.Chmod(e.db, 0o666); err != nil {
		t.Fatal(err)
	}
	e.unprivileged()
	if os.Geteuid() != 0 {
		if err := os.Chmod(sub, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(sub, 0o755) })
	}
	r := e.fails(1, []string{"the directory " + sub + " is not writable", "drop-session changes it"}, "drop-session", "s")
	if strings.Contains(r.stderr, "cannot write the database (") {
		t.Errorf("the file is blamed for its directory:\n%v", r)
	}
	e.ok(nil, "refs", "--session", "s")
}

// TestEmptySessionIsInvalid: --session "" is an invalid session id, as
// the library says (ErrInvalidSession), not a missing flag.
func TestEmptySessionIsInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.file("a.txt", []byte("a"))
	for _, args := range [][]string{
		{"put", "--session", "", f}, {"get", "--session", "", unknownID}, {"rm", "--session", "", unknownID},
		{"refs", "--session", ""}, {"commit", "--session", ""},
	} {
		r := e.fails(2, []string{`--session "": invalid session id`, "empty"}, args...)
		if strings.Contains(r.stderr, "required") {
			t.Errorf("attachstore %v calls a given --session missing:\n%v", args, r)
		}
		r = e.fails(2, nil, append(args, "--json")...)
		if o := jsonLines(t, r.stderr); len(o) != 1 || o[0]["kind"] != "invalid_session" || o[0]["session"] != "" {
			t.Errorf("attachstore %v --json: %v, want kind invalid_session", args, o)
		}
	}
}

// TestGetOutputCannotBeReplaced: get -o of a file whose directory takes
// no new file (/proc/version) says that, not "no such file": the file is
// there.
func TestGetOutputCannotBeReplaced(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("/proc/version is Linux's")
	}
	if _, err := os.Stat("/proc/version"); err != nil {
		t.Skip(err)
	}
	e := newEnv(t)
	id := e.put(e.file("a.txt", []byte("a")))[0]
	r := e.run(nil, "get", id, "-o", "/proc/version")
	if r.code != 1 {
		t.Fatalf("get -o /proc/version: want exit 1, got\n%v", r)
	}
	if !strings.Contains(r.stderr, "/proc/version") || strings.Contains(r.stderr, "/proc/version: no such file") {
		t.Errorf("get -o /proc/version: the message must name the file and not call it missing:\n%v", r)
	}
	if os.Geteuid() == 0 && !strings.Contains(r.stderr, "cannot create a file in /proc") {
		t.Errorf("get -o /proc/version as root: want the directory's refusal named:\n%v", r)
	}
	r = e.run(nil, "--json", "get", id, "-o", "/proc/version")
	if o := jsonLines(t, r.stderr); len(o) != 1 || o[0]["kind"] == "no_such_file" {
		t.Errorf("get -o /proc/version --json: %v, want a kind other than no_such_file", o)
	}
}
