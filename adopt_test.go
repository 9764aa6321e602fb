package attachstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

// hostFile creates an ordinary SQLite file as another program would: no
// auto_vacuum, one table of its own.
func hostFile(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "host.db")
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TABLE chats (id TEXT); INSERT INTO chats VALUES ('c1')`); err != nil {
		t.Fatal(err)
	}
	return path
}

func pragmaInt(t *testing.T, s *attachstore.Store, pragma string) int64 {
	t.Helper()
	var n int64
	// On the writer: a reader connection keeps the auto_vacuum it opened with.
	if err := s.Update(t.Context(), func(tx *attachstore.Tx) error {
		return tx.SQL().QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReclaimOnAFileWithoutIncrementalVacuum is the hang of issue 22: a
// host's file made without auto_vacuum INCREMENTAL, adopted, filled and
// emptied. Reclaim must finish and say the free pages stay in the file;
// Compact gives them back and converts the file, so that later Reclaims
// can give pages back themselves.
func TestReclaimOnAFileWithoutIncrementalVacuum(t *testing.T) {
	path := hostFile(t, t.TempDir())
	s := openForTest(t, path)
	if s.Origin() != attachstore.AdoptedFile {
		t.Errorf("Origin = %v, want %v", s.Origin(), attachstore.AdoptedFile)
	}
	if mode := pragmaInt(t, s, "auto_vacuum"); mode != 0 {
		t.Fatalf("auto_vacuum of the host's file = %d, want 0 (none)", mode)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	putAndDelete := func() {
		ref, err := s.Put(ctx, bytes.Repeat([]byte("x"), 20<<20), attachstore.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, ref.ID); err != nil {
			t.Fatal(err)
		}
	}
	putAndDelete()
	rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: 0})
	if err != nil {
		t.Fatalf("Reclaim on a file without incremental vacuum: %+v, %v", rep, err)
	}
	if !rep.NeedsCompact || rep.FreeBytes < 19<<20 || rep.ReturnedBytes != 0 {
		t.Errorf("Reclaim = %+v; want NeedsCompact and the 20 MiB reported free", rep)
	}

	fileBytes := func() int64 {
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.FileBytes
	}
	before := fileBytes()
	// The host's table has implicit rowids (see TestCompactKeepsTheHostsRowids).
	if err := s.Compact(ctx, attachstore.AllowRowidChanges()); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	after := fileBytes()
	if mode := pragmaInt(t, s, "auto_vacuum"); mode != 2 || before-after < 19<<20 {
		t.Errorf("after Compact: auto_vacuum %d, file and WAL %d -> %d bytes; want 2 (incremental) and 20 MiB given back",
			mode, before, after)
	}
	var chats int
	if err := s.View(ctx, func(tx *attachstore.Tx) error {
		return tx.SQL().QueryRowContext(ctx, `SELECT count(*) FROM chats`).Scan(&chats)
	}); err != nil || chats != 1 {
		t.Errorf("the host's table after Compact: %d rows, %v", chats, err)
	}
	putAndDelete()
	if rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: 0}); err != nil || rep.NeedsCompact || rep.ReturnedBytes < 19<<20 {
		t.Errorf("Reclaim after Compact = %+v, %v; want the 20 MiB given back", rep, err)
	}
	if v, err := s.Verify(ctx); err != nil || !v.OK() {
		t.Errorf("Verify = %+v, %v", v, err)
	}
}

// TestReadOnlyOpenOfAHostFile: a read-only Open of a file attachstore never
// wrote says so and changes nothing; a writable Open adopts it.
func TestReadOnlyOpenOfAHostFile(t *testing.T) {
	path := hostFile(t, t.TempDir())
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := attachstore.Open(t.Context(), path, attachstore.WithReadOnly())
	if !errors.Is(err, attachstore.ErrNotAStore) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("read-only Open of a host's file = %v, want ErrNotAStore", err)
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the refused Open changed the file (%d -> %d bytes, %v)", len(before), len(after), err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Error("the refused Open left a -wal file")
	}
	if _, err := attachstore.Open(t.Context(), filepath.Join(t.TempDir(), "missing.db"), attachstore.WithReadOnly()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only Open of a missing file = %v, want os.ErrNotExist", err)
	}
}

// remountReadOnly makes the tmpfs at dir read-only.
func remountReadOnly(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s read-only: %v: %s", dir, err, out)
	}
}

// TestReadOnlyOpenOnReadOnlyMedia opens a store on a read-only filesystem,
// where SQLite cannot create the -shm file WAL readers share: it opens
// immutable and reads; it refuses writes with ErrReadOnly. A store whose
// WAL still holds commits cannot be read there, and the error says why.
func TestReadOnlyOpenOnReadOnlyMedia(t *testing.T) {
	ctx := t.Context()
	t.Run("Clean", func(t *testing.T) {
		dir := attachstore.MountTmpfs(t, "16m")
		path := filepath.Join(dir, "s.db")
		// A disk reserve the 16 MiB filesystem has room for.
		s, err := attachstore.Open(ctx, path, attachstore.WithDiskReserve(1<<20))
		if err != nil {
			t.Fatal(err)
		}
		ref, err := s.Session("chat").Put(ctx, bytes.Repeat([]byte("on a cd-rom "), 50_000), attachstore.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		remountReadOnly(t, dir)
		if _, err := attachstore.Open(ctx, path); !errors.Is(err, attachstore.ErrReadOnly) {
			t.Errorf("writable Open on read-only media = %v, want ErrReadOnly", err)
		}
		ro := openForTest(t, path, attachstore.WithReadOnly())
		a, err := ro.Session("chat").Get(ctx, ref.ID)
		if err != nil || a.Size != ref.Size {
			t.Fatalf("Session.Get on read-only media = %d bytes, %v", a.Size, err)
		}
		r, err := ro.NewReader(ctx, ref.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != ref.Size {
			t.Errorf("streaming on read-only media = %d bytes, %v", n, err)
		}
		if rep, err := ro.Verify(ctx); err != nil || !rep.OK() {
			t.Errorf("Verify on read-only media = %+v, %v", rep, err)
		}
		if _, err := ro.Put(ctx, []byte("new"), attachstore.Meta{}); !errors.Is(err, attachstore.ErrReadOnly) {
			t.Errorf("Put on a read-only store = %v, want ErrReadOnly", err)
		}
	})
	t.Run("WALNotCopiedBack", func(t *testing.T) {
		// A store copied while open: its WAL holds commits the main file
		// does not have yet.
		src := filepath.Join(t.TempDir(), "s.db")
		s := openForTest(t, src)
		if _, err := s.Put(ctx, []byte("only in the WAL"), attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
		dir := attachstore.MountTmpfs(t, "16m")
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(src + suffix)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "s.db"+suffix), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		remountReadOnly(t, dir)
		_, err := attachstore.Open(ctx, filepath.Join(dir, "s.db"), attachstore.WithReadOnly())
		if !errors.Is(err, attachstore.ErrReadOnly) || !strings.Contains(err.Error(), "WAL") {
			t.Errorf("read-only Open with a WAL on read-only media = %v; want ErrReadOnly naming the WAL", err)
		}
	})
}

// TestReadOnlyOpenOfAHostFileInWALMode: a host's file in WAL mode is
// refused without a -wal or -shm file left beside it.
func TestReadOnlyOpenOfAHostFileInWALMode(t *testing.T) {
	path := hostFile(t, t.TempDir())
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`PRAGMA journal_mode = WAL`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			t.Fatalf("the host's own close left %s", suffix)
		}
	}
	if _, err := attachstore.Open(t.Context(), path, attachstore.WithReadOnly()); !errors.Is(err, attachstore.ErrNotAStore) {
		t.Fatalf("read-only Open of a host's WAL-mode file = %v, want ErrNotAStore", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			t.Errorf("the refused read-only Open left a %s file beside the host's file", suffix)
		}
	}
}
