package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestPutOnFullDiskIsKindFull puts a file into a store on an 8 MiB tmpfs,
// less than the store's default disk reserve: put exits 1, its --json
// error has kind "full" and says what to do, and the store still works.
// It needs root to mount the tmpfs, and skips without.
func TestPutOnFullDiskIsKindFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	e := newEnv(t)
	e.db = filepath.Join(mnt, "full.db")
	r := e.run(nil, "--json", "put", e.file("a.bin", pseudoRandom(100<<10, 1)))
	if r.code != 1 {
		t.Fatalf("put on a disk below the reserve: want exit 1, got\n%v", r)
	}
	objs := jsonLines(t, r.stderr)
	if len(objs) != 1 || objs[0]["kind"] != "full" {
		t.Fatalf("put --json on a full disk: want one error of kind full, got %q", r.stderr)
	}
	if msg, _ := objs[0]["error"].(string); !bytes.Contains([]byte(msg), []byte("Reclaim")) {
		t.Errorf("the error does not say how to free space: %q", msg)
	}
	if r := e.ok(nil, "--json", "stats"); len(jsonLines(t, r.stdout)) != 1 {
		t.Errorf("stats after the refused put: %v", r)
	}
}
