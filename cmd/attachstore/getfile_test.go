package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestGetRefusesCorruptBytes: get hashes what it writes; bytes that no
// longer hash to the id fail with ErrCorrupt, and -o leaves nothing of
// them at the path (an existing file keeps its content).
func TestGetRefusesCorruptBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := pseudoRandom(600<<10, 21)
	id := e.put(e.file("a.bin", data))[0]
	corrupt(t, e.db, id)

	outDir := filepath.Join(e.dir, "out")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(outDir, "fresh.bin")
	r := e.fails(1, []string{"get " + id, "corrupt", fresh}, "get", id, "-o", fresh)
	if strings.Contains(r.stderr, ".tmp-") {
		t.Errorf("message names a temporary file: %q", r.stderr)
	}
	if _, err := os.Lstat(fresh); err == nil {
		t.Error("corrupt bytes were left at the output path")
	}
	old := filepath.Join(outDir, "old.bin")
	if err := os.WriteFile(old, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.fails(1, []string{"corrupt"}, "get", id, "-o", old)
	if got, _ := os.ReadFile(old); string(got) != "old" {
		t.Errorf("a refused get changed the existing file: %q", got)
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	r = e.fails(1, []string{"corrupt", "stdout"}, "get", id)
	if len(r.stdout) != len(data) {
		t.Errorf("get to stdout wrote %d bytes, want all %d before the verdict", len(r.stdout), len(data))
	}
	objs := jsonLines(t, e.fails(1, nil, "get", "--json", id, "-o", fresh).stderr)
	if len(objs) != 1 || objs[0]["kind"] != "corrupt" || objs[0]["id"] != id {
		t.Errorf("get --json of a corrupt blob: stderr %v", objs)
	}
}

// TestGetOutputPathChecks: -o is checked before anything is read, refused
// when it cannot be what the user meant, and every message names the path
// given.
func TestGetOutputPathChecks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := pseudoRandom(64<<10, 22)
	id := e.put(e.file("a.bin", data))[0]
	noTemp := func(t *testing.T, r result) {
		t.Helper()
		if strings.Contains(r.stderr, ".tmp-") {
			t.Errorf("message names a temporary file: %q", r.stderr)
		}
	}

	t.Run("Directory", func(t *testing.T) {
		e := *e
		e.t = t
		dir := filepath.Join(e.dir, "d")
		os.Mkdir(dir, 0o700)
		// The path is refused before the id is looked up.
		r := e.fails(1, []string{dir, "is a directory"}, "get", unknownID, "-o", dir)
		noTemp(t, r)
		if strings.Contains(r.stderr, "not found") {
			t.Errorf("the id was looked up before the path was checked: %q", r.stderr)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("files written into the directory: %v", entries)
		}
	})
	t.Run("MissingDirectory", func(t *testing.T) {
		e := *e
		e.t = t
		p := filepath.Join(e.dir, "nonexistent", "x")
		noTemp(t, e.fails(1, []string{p, "does not exist"}, "get", id, "-o", p))
	})
	t.Run("TheDatabase", func(t *testing.T) {
		e := *e
		e.t = t
		e.fails(1, []string{"database"}, "get", id, "-o", e.db)
		e.ok(nil, "verify")
	})
	t.Run("KeepsMode", func(t *testing.T) {
		e := *e
		e.t = t
		p := e.file("shared.bin", []byte("old"))
		os.Chmod(p, 0o640)
		e.ok(nil, "get", id, "-o", p)
		fi, _ := os.Stat(p)
		if got, _ := os.ReadFile(p); !bytes.Equal(got, data) || fi.Mode().Perm() != 0o640 {
			t.Errorf("got %d bytes, mode %v; want %d bytes, mode 0640 kept", len(got), fi.Mode().Perm(), len(data))
		}
	})
	t.Run("ReadOnlyFile", func(t *testing.T) {
		e := *e
		e.t = t
		p := e.file("ro.bin", []byte("old"))
		os.Chmod(p, 0o444)
		if runtime.GOOS != "windows" && os.Geteuid() == 0 {
			// root may write any file, as cp would: replaced, mode kept.
			e.ok(nil, "get", id, "-o", p)
			fi, _ := os.Stat(p)
			if got, _ := os.ReadFile(p); !bytes.Equal(got, data) || fi.Mode().Perm() != 0o444 {
				t.Errorf("as root: got %d bytes, mode %v; want the blob, mode 0444 kept", len(got), fi.Mode().Perm())
			}
			return
		}
		noTemp(t, e.fails(1, []string{p, "permission denied"}, "get", id, "-o", p))
		if got, _ := os.ReadFile(p); string(got) != "old" {
			t.Errorf("a read-only file was replaced: %q", got)
		}
	})
	t.Run("Device", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("no /dev/null")
		}
		e := *e
		e.t = t
		e.ok(nil, "get", id, "-o", os.DevNull)
		if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode().IsRegular() {
			t.Fatalf("%s was replaced by a file: %v %v", os.DevNull, fi.Mode(), err)
		}
	})
	t.Run("Dash", func(t *testing.T) {
		e := *e
		e.t = t
		if r := e.ok(nil, "get", id, "-o", "-"); r.stdout != string(data) {
			t.Errorf("-o - wrote %d bytes to stdout, want %d", len(r.stdout), len(data))
		}
	})
}
