package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCLIWritesOnlyWhereItIsTold checks the CLI never follows a user path
// outside what it was given: get -o through a symlink replaces the link and
// leaves its target alone, a stored label is never taken for a file name,
// and a failed get leaves nothing behind.
func TestCLIWritesOnlyWhereItIsTold(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := pseudoRandom(10<<10, 7)
	// A label that would escape if the CLI ever used it as a path.
	id := e.put("--label", "../../escape.bin", e.file("in.bin", data))[0]

	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(e.dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(work, "out.bin")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}

	e.ok(nil, "get", id, "-o", link)
	if got, _ := os.ReadFile(outside); string(got) != "keep me" {
		t.Fatalf("get -o through a symlink wrote to its target: %q", got)
	}
	fi, err := os.Lstat(link)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSymlink != 0 || !fi.Mode().IsRegular() {
		t.Fatalf("get -o left %v at the output path, want a regular file", fi.Mode())
	}
	if got, _ := os.ReadFile(link); !bytes.Equal(got, data) {
		t.Fatalf("get -o wrote %d bytes, want %d", len(got), len(data))
	}

	// get without -o writes to stdout, never to a file named by the label.
	r := e.ok(nil, "get", id)
	if r.stdout != string(data) {
		t.Fatalf("get to stdout: %d bytes, want %d", len(r.stdout), len(data))
	}
	for _, p := range []string{
		filepath.Join(e.dir, "escape.bin"),
		filepath.Join(filepath.Dir(e.dir), "escape.bin"),
		filepath.Join(filepath.Dir(filepath.Dir(e.dir)), "escape.bin"),
	} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("the CLI created %s from a stored label", p)
		}
	}

	// An output path that is a directory is refused, and nothing is
	// written inside it.
	e.fails(1, []string{"get " + id}, "get", id, "-o", work)
	entries, err := os.ReadDir(work)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "out.bin" {
		t.Errorf("a refused get left files in %s: %v", work, entries)
	}
}
