package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRemoveTree builds a tree shaped like the peers' stores (files at the
// top, fan-out directories one and two levels down, a deeper one) and
// checks removeTree leaves nothing, with one worker and with several.
func TestRemoveTree(t *testing.T) {
	for _, workers := range []int{1, 8} {
		dir := filepath.Join(t.TempDir(), "store")
		files := []string{
			"manifest.db",
			"staging/tmp-1",
			"sha256/ab/abcdef",
			"sha256/ab/ab0123",
			"sha256/cd/cdef01",
			"sha256/cd/deeper/still/x",
			"flat/one",
		}
		for _, f := range files {
			p := filepath.Join(dir, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		removeTree(dir, workers)
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("workers=%d: %s still there after removeTree (%v)", workers, dir, err)
		}
	}
}
