package main

import (
	"path/filepath"
	"testing"

	"github.com/attachstore/attachstore"
)

// TestLibraryPageSize holds libraryPageSize, which the SQLite floors take
// as attachstore's page size, to the page size of a new store.
func TestLibraryPageSize(t *testing.T) {
	sys, err := openAttachstore(t.Context(), filepath.Join(t.TempDir(), "s"), &config{vacuum: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	a := sys.(*attachStore)
	defer a.Close()
	var size int
	if err := a.s.View(t.Context(), func(tx *attachstore.Tx) error {
		return tx.SQL().QueryRowContext(t.Context(), "PRAGMA page_size").Scan(&size)
	}); err != nil {
		t.Fatal(err)
	}
	if size != libraryPageSize {
		t.Errorf("a new store's page size is %d; libraryPageSize says %d", size, libraryPageSize)
	}
}
