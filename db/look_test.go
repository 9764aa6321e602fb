package db

import (
	"database/sql"
	"path/filepath"
	"testing"
)

// TestFileStateSeesAWriter: what look compares around an immutable read
// tells an idle file from one a writer opened, wrote or checkpointed
// meanwhile, so that a read of a file that changed under it is not
// trusted.
func TestFileStateSeesAWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.db")
	h, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	h.SetMaxOpenConns(1)
	exec := func(q string) {
		t.Helper()
		if _, err := h.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`PRAGMA journal_mode = WAL`)
	exec(`CREATE TABLE notes (body BLOB)`)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	idle, err := fileState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !idle.idle() || !idle.wal {
		t.Fatalf("a closed WAL-mode file: idle %v, WAL mode %v; want both", idle.idle(), idle.wal)
	}
	if again, _ := fileState(path); !again.same(idle) {
		t.Fatal("fileState differs for a file nothing touched")
	}

	h, err = sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	h.SetMaxOpenConns(1)
	exec(`PRAGMA wal_autocheckpoint = 0`)
	exec(`INSERT INTO notes VALUES (randomblob(8192))`)
	open, _ := fileState(path)
	if open.same(idle) || open.idle() {
		t.Errorf("a file a writer has open, with a commit in its WAL, looks idle and unchanged")
	}
	if err := h.Close(); err != nil { // the last connection: it checkpoints
		t.Fatal(err)
	}
	closed, _ := fileState(path)
	if closed.same(idle) || !closed.idle() {
		t.Errorf("a file checkpointed since: idle %v, same as before %v; want idle and changed", closed.idle(), closed.same(idle))
	}
}
