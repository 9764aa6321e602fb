package attachstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachstoretest"
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

// TestOpenWhileAnotherWriterHoldsTheLock opens an existing store while
// another connection holds the write lock for longer than the busy timeout.
// Opening an existing store only reads, so it must not wait for that lock
// (it once did: auto_vacuum in the writer's DSN opened a write transaction
// on every new connection, and a busy file made Open fail with "database is
// locked").
func TestOpenWhileAnotherWriterHoldsTheLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "attachments.db")
	s, err := attachstore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.Put(ctx, []byte("before the lock"), attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	raw, err := sql.Open("sqlite3", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	holder, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Rollback() })
	var mode int
	if err := holder.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 2 {
		t.Errorf("PRAGMA auto_vacuum = %d on a file Open created, want 2 (INCREMENTAL)", mode)
	}

	s, err = attachstore.Open(ctx, path, attachstore.WithBusyTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatalf("Open while another connection holds the write lock: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	got, err := s.Get(ctx, ref.ID)
	if err != nil || string(got.Data) != "before the lock" {
		t.Fatalf("Get after Open = %q, %v", got.Data, err)
	}
}

func TestOptionsRejectBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  attachstore.Option
	}{
		{"page size not a power of two", attachstore.WithTuning(attachstore.Tuning{PageSize: 10000})},
		{"page size too large", attachstore.WithTuning(attachstore.Tuning{PageSize: 1 << 17})},
		{"negative cache", attachstore.WithTuning(attachstore.Tuning{CacheSizeKiB: -1})},
		{"chunk size too small", attachstore.WithChunkSize(attachstore.MinChunkSize - 1)},
		{"chunk size too large", attachstore.WithChunkSize(attachstore.MaxChunkSize + 1)},
		{"negative max blob size", attachstore.WithMaxBlobSize(-1)},
		{"unknown sync mode", attachstore.WithSync(attachstore.SyncOff + 1)},
		{"zero busy timeout", attachstore.WithBusyTimeout(0)},
		{"nil clock", attachstore.WithClock(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.db")
			s, err := attachstore.Open(context.Background(), path, tc.opt)
			if err == nil {
				s.Close()
				t.Fatal("Open accepted the option")
			}
			if !errors.Is(err, attachstore.ErrInvalidOption) {
				t.Errorf("Open = %v, want ErrInvalidOption", err)
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("Open with a bad option created the file")
			}
		})
	}
}

// TestBackgroundCheckpoint shows the WAL is copied back into the database
// file without any commit doing it: the writer's automatic checkpoint is
// off, so only the background checkpointer can grow the main file.
func TestBackgroundCheckpoint(t *testing.T) {
	ctx := context.Background()
	s := attachstoretest.NewFile(t)
	path := s.Path()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	const total = 4 << 20
	for i := range 8 {
		data := bytes.Repeat([]byte{byte(i)}, total/8)
		if _, err := s.Session("s").Put(ctx, data, attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for size()-before < total {
		if time.Now().After(deadline) {
			t.Fatalf("database file grew %d bytes in 10s after %d bytes were committed: no checkpoint ran", size()-before, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWALStaysBounded writes far more than the WAL may keep, in a tight
// loop of commits. The background checkpoint copies the WAL back while the
// commits go on, and once it has copied every frame the next commit starts
// the WAL from its beginning again, so the WAL does not grow with the
// store; Close removes it.
func TestWALStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 256 MiB")
	}
	ctx := context.Background()
	s := attachstoretest.NewFile(t)
	path := s.Path()
	data := make([]byte, 1<<20)
	var largest int64
	for i := range 256 {
		binary.LittleEndian.PutUint64(data, uint64(i))
		if _, err := s.Put(ctx, data, attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path + "-wal"); err == nil {
			largest = max(largest, fi.Size())
		}
	}
	if limit := int64(128 << 20); largest > limit {
		t.Errorf("the WAL reached %d MiB while 256 MiB were written, want at most %d MiB", largest>>20, limit>>20)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil {
		t.Errorf("after Close a %d MiB WAL file is left beside the store", fi.Size()>>20)
	}
}

// TestCommitDoesNotWaitForALongReader holds a View open (as Verify does)
// while 96 MiB are committed. The reader pins old WAL frames, so no
// checkpoint can copy them all; no commit may wait for the reader.
func TestCommitDoesNotWaitForALongReader(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 96 MiB")
	}
	ctx := context.Background()
	s := attachstoretest.NewFile(t, attachstore.WithBusyTimeout(3*time.Second))
	if _, err := s.Put(ctx, []byte("before the reader"), attachstore.Meta{}); err != nil {
		t.Fatal(err)
	}
	inView, release, viewDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		viewDone <- s.View(ctx, func(tx *attachstore.Tx) error {
			if _, err := tx.Stat(ctx, attachstore.ContentID([]byte("before the reader"))); err != nil {
				return err
			}
			close(inView)
			<-release
			return nil
		})
	}()
	<-inView
	data := make([]byte, 1<<20)
	var slowest time.Duration
	for i := range 96 {
		binary.LittleEndian.PutUint64(data, uint64(i))
		start := time.Now()
		if _, err := s.Put(ctx, data, attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
		time.Sleep(5 * time.Millisecond) // let the background checkpoint run
	}
	close(release)
	if err := <-viewDone; err != nil {
		t.Fatal(err)
	}
	if slowest > time.Second {
		t.Errorf("the slowest of 96 commits took %v while a reader held an old snapshot, want under 1s", slowest)
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestCloseAfterCancelledPutRemovesWAL cancels a large PutReader from
// another goroutine while it writes, as Ctrl-C in the CLI does, then
// closes the store: the put stored nothing, and Close leaves no WAL beside
// the file, as it promises. (A connection that database/sql discards while
// its statement runs stays open in SQLite until the garbage collector
// finalizes the statement, WAL and all.)
func TestCloseAfterCancelledPutRemovesWAL(t *testing.T) {
	for _, after := range []time.Duration{50 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			path := filepath.Join(t.TempDir(), "cancel.db")
			s, err := attachstore.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			time.AfterFunc(after, cancel)
			_, err = s.PutReader(ctx, io.LimitReader(zeros{}, 8<<30), attachstore.Meta{})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("PutReader cancelled part-way = %v, want context.Canceled", err)
			}
			if st, err := s.Stats(t.Context()); err != nil || st.Blobs != 0 {
				t.Errorf("Stats after the cancelled put = %+v, %v; want nothing stored", st, err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for _, suffix := range []string{"-wal", "-shm"} {
				if fi, err := os.Stat(path + suffix); err == nil {
					t.Errorf("after Close a %d-byte %s file is left beside the store", fi.Size(), suffix)
				}
			}
		})
	}
}
