package attachstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/attachstore/attachstore"
)

func TestOpenRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, name := range []string{"attachments.db", "sub dir/odd?name#1.db"} {
		if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			t.Fatal(err)
		}
		s, err := attachstore.Open(context.Background(), name)
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		if _, err := s.Put(context.Background(), []byte("x"), attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, name); s.Path() != want {
			t.Errorf("Path() = %q, want %q", s.Path(), want)
		}
		s.Close()
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("database not created at %q: %v", name, err)
		}
	}
}
