package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestRemoveTree removes trees shaped like the peers' stores (files at every
// depth, fan-out directories three levels down) and a root that is not there.
func TestRemoveTree(t *testing.T) {
	tests := []struct {
		name  string
		files []string // paths below the root; nil means no root at all
	}{
		{"missing root", nil},
		{"empty root", []string{}},
		{"flat", []string{"a", "b", "c"}},
		{"peer layout", peerLayout(3, 5)},
		{"deep", []string{"a/b/c/d/e/f", "a/b/c/x", "a/y", "z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "store")
			if tt.files != nil {
				if err := os.Mkdir(root, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tt.files {
				p := filepath.Join(root, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := removeTree(root, 4); err != nil {
				t.Fatalf("removeTree: %v", err)
			}
			if _, err := os.Lstat(root); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("after removeTree, Lstat(root) = %v; want not exist", err)
			}
		})
	}
}

// peerLayout is a file CAS's tree: a manifest at the top, a staging
// directory, and files in cas/sha256/<2 hex>/.
func peerLayout(shards, perShard int) []string {
	files := []string{"manifest.db", "cas/staging/tmp-1"}
	for s := range shards {
		for i := range perShard {
			files = append(files, fmt.Sprintf("cas/sha256/%02x/%02x%062d", s, s, i))
		}
	}
	return files
}

// TestRemoveTreeReportsFailure makes one directory unwritable, so its files
// cannot be unlinked: removeTree must say so rather than return nil.
func TestRemoveTreeReportsFailure(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	root := filepath.Join(t.TempDir(), "store")
	locked := filepath.Join(root, "cas", "sha256", "00")
	if err := os.MkdirAll(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(locked, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(locked, 0o755) })
	if err := removeTree(root, 2); err == nil {
		t.Fatal("removeTree of a tree with an unwritable directory returned nil")
	}
}
