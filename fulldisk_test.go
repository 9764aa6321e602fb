package attachstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/attachstore/attachstore/db"
	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// fakeDisk replaces the free-space seam with a disk of capacity bytes
// that holds the files in the store's directory and nothing else, so that
// a full disk is simulated everywhere (not root, macOS). SQLite itself
// never sees it full: what is tested is that the store refuses first.
func fakeDisk(t *testing.T, dir string, capacity int64) {
	t.Helper()
	old := diskFree
	diskFree = func(d string) (uint64, error) {
		if d != dir {
			return 0, fmt.Errorf("free space of %s asked, want %s", d, dir)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return 0, err
		}
		used := int64(0)
		for _, e := range ents {
			if fi, err := e.Info(); err == nil {
				used += fi.Size()
			}
		}
		return uint64(max(0, capacity-used)), nil
	}
	t.Cleanup(func() { diskFree = old })
}

// fixedFree makes the seam report free bytes, whatever the directory.
func fixedFree(t *testing.T, free uint64, err error) {
	t.Helper()
	old := diskFree
	diskFree = func(string) (uint64, error) { return free, err }
	t.Cleanup(func() { diskFree = old })
}

// fullContent is n bytes that differ for each seed.
func fullContent(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*131 + i*7 + i/251)
	}
	return b
}

// fullState is what the store shows: a refused put must change none of it.
func fullState(t *testing.T, s *Store) Stats {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.FileBytes = 0 // a rolled-back put may leave the WAL longer
	return st
}

func fullVerify(t *testing.T, s *Store) {
	t.Helper()
	rep, err := s.Verify(context.Background())
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
}

// putKinds are the ways new content reaches a store; each must be refused
// on a full disk.
var putKinds = []struct {
	name string
	put  func(ctx context.Context, s *Store, data []byte) (Ref, error)
}{
	{"Put", func(ctx context.Context, s *Store, data []byte) (Ref, error) { return s.Put(ctx, data, Meta{}) }},
	{"PutReader", func(ctx context.Context, s *Store, data []byte) (Ref, error) {
		return s.PutReader(ctx, bytes.NewReader(data), Meta{})
	}},
	{"SessionPut", func(ctx context.Context, s *Store, data []byte) (Ref, error) {
		return s.Session("chat").WithOwner("turn").Put(ctx, data, Meta{})
	}},
	{"SessionPutReader", func(ctx context.Context, s *Store, data []byte) (Ref, error) {
		return s.Session("chat").WithOwner("turn").PutReader(ctx, bytes.NewReader(data), Meta{})
	}},
	{"TxPutInUpdate", func(ctx context.Context, s *Store, data []byte) (ref Ref, err error) {
		// The host's Update goes on after the refused put and commits
		// the rest: the refusal undoes only the put.
		var putErr error
		err = s.Update(ctx, func(tx *Tx) error {
			ref, putErr = tx.Session("chat").WithOwner("turn").Put(ctx, data, Meta{})
			return nil
		})
		if err == nil {
			err = putErr
		}
		return ref, err
	}},
}

// fillUntilFull puts new content of size bytes with put until it is
// refused. The refusal must be ErrFull, change nothing the store shows,
// and come before the disk is below the reserve. It returns the ids
// stored.
func fillUntilFull(t *testing.T, s *Store, seed, size int, put func(context.Context, *Store, []byte) (Ref, error)) []ID {
	t.Helper()
	ctx := context.Background()
	var ids []ID
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatalf("1000 puts of %d bytes and the disk is not full", size)
		}
		before := fullState(t, s)
		ref, err := put(ctx, s, fullContent(seed+i, size))
		if err == nil {
			ids = append(ids, ref.ID)
			continue
		}
		if !errors.Is(err, ErrFull) {
			t.Fatalf("put %d of %d bytes: %v, want ErrFull", i, size, err)
		}
		if after := fullState(t, s); after != before {
			t.Fatalf("the refused put changed the store: %+v, was %+v", after, before)
		}
		if !strings.Contains(err.Error(), "Reclaim") {
			t.Errorf("ErrFull does not say what to do: %v", err)
		}
		t.Logf("put %d of %d bytes refused: %v", i, size, err)
		return ids
	}
}

// TestFullDiskRefusesNewContentAboveReserve fills a simulated 40 MiB disk
// through each kind of put: the put that would eat into the reserve is
// refused with ErrFull and changes nothing, and the disk still has the
// reserve free; everything stored before it reads back whole.
func TestFullDiskRefusesNewContentAboveReserve(t *testing.T) {
	const capacity, reserve = 40 << 20, 8 << 20
	for _, k := range putKinds {
		t.Run(k.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			fakeDisk(t, dir, capacity)
			s, err := Open(ctx, filepath.Join(dir, "s.db"), WithDiskReserve(reserve))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ids := fillUntilFull(t, s, 1, 1<<20, k.put)
			if len(ids) == 0 {
				t.Fatal("nothing fitted on an empty 40 MiB disk")
			}
			if free, _ := diskFree(dir); free < reserve {
				t.Errorf("after %d puts the disk has %d bytes free, less than the reserve %d", len(ids), free, reserve)
			}
			for _, id := range ids {
				if a, err := s.Get(ctx, id); err != nil || ContentID(a.Data) != id {
					t.Fatalf("Get(%s) after the refusal: %d bytes, %v", id, len(a.Data), err)
				}
			}
			fullVerify(t, s)
		})
	}
}

// TestFullDiskFreeingSpaceRuns is issue 29's finding, on a simulated
// 24 MiB disk (here) and on a real one (TestFullDiskRealFilesystem).
func TestFullDiskFreeingSpaceRuns(t *testing.T) {
	dir := t.TempDir()
	fakeDisk(t, dir, 24<<20)
	freeingSpaceRuns(t, dir)
}

// TestFullDiskRealFilesystem runs issue 29's case on a real 24 MiB tmpfs,
// where SQLite itself would fail if the store let it reach the end.
func TestFullDiskRealFilesystem(t *testing.T) {
	freeingSpaceRuns(t, mountTmpfs(t, "24m"))
}

// freeingSpaceRuns fills the disk holding dir with a store until puts are
// refused; then Discard, DropSession and Reclaim run, free the space, a
// put fits again, and everything committed survives Close and Open.
func freeingSpaceRuns(t *testing.T, dir string) {
	const reserve, size = 4 << 20, 1 << 20
	ctx := context.Background()
	path := filepath.Join(dir, "s.db")
	s, err := Open(ctx, path, WithDiskReserve(reserve))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := s.Session("kept").Put(ctx, []byte("committed before the disk filled"), Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Session("kept").Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Three kinds of content fill the disk: a turn's uncommitted intents
	// (Discard frees them), a session's committed refs (DropSession), and
	// content no session holds (Reclaim).
	var discarded, dropped []ID
	for i := 0; i < 3; i++ {
		ref, err := s.Session("chat").WithOwner("turn").PutReader(ctx, bytes.NewReader(fullContent(100+i, size)), Meta{})
		if err != nil {
			t.Fatal(err)
		}
		discarded = append(discarded, ref.ID)
		if ref, err = s.Session("old").Put(ctx, fullContent(200+i, size), Meta{}); err != nil {
			t.Fatal(err)
		}
		dropped = append(dropped, ref.ID)
	}
	if err := s.Session("old").Commit(ctx); err != nil {
		t.Fatal(err)
	}
	plain := fillUntilFull(t, s, 300, size, putKinds[0].put)
	freeFull, err := diskFree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if freeFull < reserve {
		t.Errorf("the store left %d bytes free, less than its reserve %d", freeFull, reserve)
	}
	t.Logf("stored %d MiB; the disk has %d bytes free", len(discarded)+len(dropped)+len(plain), freeFull)

	if ids, err := s.Session("chat").Discard(ctx, "turn"); err != nil || len(ids) != len(discarded) {
		t.Fatalf("Discard on the full disk: %d ids, %v; want %d", len(ids), err, len(discarded))
	}
	if err := s.DropSession(ctx, "old"); err != nil {
		t.Fatalf("DropSession on the full disk: %v", err)
	}
	rep, err := s.Reclaim(ctx, ReclaimPolicy{Grace: 0, VacuumAt: 0.01})
	if err != nil {
		t.Fatalf("Reclaim on the full disk: %v", err)
	}
	if want := len(discarded) + len(dropped) + len(plain); rep.ReclaimedBlobs != want {
		t.Errorf("Reclaim collected %d blobs, want %d", rep.ReclaimedBlobs, want)
	}
	freed, err := diskFree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if int64(freed)-int64(freeFull) < rep.ReclaimedBytes*9/10 {
		t.Errorf("free space went from %d to %d bytes after reclaiming %d bytes", freeFull, freed, rep.ReclaimedBytes)
	}
	again, err := s.Put(ctx, fullContent(400, size), Meta{})
	if err != nil {
		t.Fatalf("Put after freeing space: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			t.Errorf("Close returned nil but left a %d-byte %s file", fi.Size(), suffix)
		}
	}
	s, err = Open(ctx, path, WithDiskReserve(reserve))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []ID{kept.ID, again.ID} {
		if a, err := s.Get(ctx, id); err != nil || ContentID(a.Data) != id {
			t.Fatalf("Get(%s) after reopening: %v", id, err)
		}
	}
	fullVerify(t, s)
}

// TestFullDiskCloseCannotCheckpoint: committed pages still in the WAL
// when another program fills the disk cannot be copied back into the file
// at Close. Close says so (ErrFull, naming the -wal file) instead of
// returning nil, and the next Open, once there is room, has everything.
func TestFullDiskCloseCannotCheckpoint(t *testing.T) {
	dir := mountTmpfs(t, "24m")
	ctx := context.Background()
	path := filepath.Join(dir, "s.db")
	s, err := Open(ctx, path, WithDiskReserve(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	// A reader's snapshot from before the put keeps every checkpoint from
	// copying the put's pages until it ends.
	reading, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- s.View(ctx, func(tx *Tx) error {
			if _, err := tx.Stat(ctx, ID{}); !errors.Is(err, ErrNotFound) {
				return err
			}
			close(reading)
			<-release
			return nil
		})
	}()
	<-reading
	ref, err := s.Session("chat").Put(ctx, fullContent(1, 6<<20), Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Session("chat").Commit(ctx); err != nil {
		t.Fatal(err)
	}
	filler := fillDisk(t, dir)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	err = s.Close()
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "s.db-wal") || !strings.Contains(err.Error(), "next Open") {
		t.Fatalf("Close on a full disk with the WAL not copied back: %v, want ErrFull naming s.db-wal", err)
	}
	t.Logf("Close: %v", err)
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the WAL is not beside the store after the failed Close: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path, WithDiskReserve(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if a, err := s.Session("chat").Get(ctx, ref.ID); err != nil || ContentID(a.Data) != ref.ID {
		t.Fatalf("Get after reopening: %v", err)
	}
	fullVerify(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close with room: %v", err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Error("Close with room left the WAL beside the store")
	}
}

// countingReader yields n bytes of content and counts what was read.
type countingReader struct {
	n, read int
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.read >= r.n {
		return 0, io.EOF
	}
	m := min(len(p), r.n-r.read)
	for i := range m {
		p[i] = byte((r.read + i) * 31 / 7)
	}
	r.read += m
	return m, nil
}

// TestFullDiskStreamRefusedPartWay puts a stream four times larger than
// the free space: it is refused with ErrFull once its bytes so far would
// eat into the reserve — part-way, before the stream ends — and stores
// nothing of it.
func TestFullDiskStreamRefusedPartWay(t *testing.T) {
	for _, via := range []string{"Store", "Session"} {
		t.Run(via, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			fakeDisk(t, dir, 24<<20)
			s, err := Open(ctx, filepath.Join(dir, "s.db"), WithDiskReserve(4<<20))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Session("chat").Put(ctx, []byte("before"), Meta{}); err != nil {
				t.Fatal(err)
			}
			before := fullState(t, s)
			r := &countingReader{n: 96 << 20}
			if via == "Store" {
				_, err = s.PutReader(ctx, r, Meta{})
			} else {
				_, err = s.Session("chat").PutReader(ctx, r, Meta{})
			}
			if !errors.Is(err, ErrFull) {
				t.Fatalf("PutReader of 96 MiB on a 24 MiB disk: %v, want ErrFull", err)
			}
			if r.read <= DefaultChunkSize || r.read >= r.n {
				t.Errorf("the stream was refused after reading %d of %d bytes, want part-way", r.read, r.n)
			}
			if after := fullState(t, s); after != before {
				t.Errorf("the refused stream changed the store: %+v, was %+v", after, before)
			}
			if pending, err := s.Session("chat").Pending(ctx); err != nil || len(pending) != 1 {
				t.Errorf("Pending after the refused stream: %v, %v; want the one earlier put", pending, err)
			}
			fullVerify(t, s)
		})
	}
}

// TestFullDiskUnreadableMidStream: a filesystem that stops reporting its
// free space in the middle of a stream is left to SQLite, as one that
// never could: the put is not refused for it.
func TestFullDiskUnreadableMidStream(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var failing atomic.Bool
	old := diskFree
	diskFree = func(string) (uint64, error) {
		if failing.Load() {
			return 0, errors.New("statfs: not supported")
		}
		return 14 << 20, nil // little enough past the reserve that the stream is measured exactly
	}
	t.Cleanup(func() { diskFree = old })
	s, err := Open(ctx, filepath.Join(dir, "s.db"), WithDiskReserve(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := &flipReader{r: &countingReader{n: 4 << 20}, after: DefaultChunkSize, flip: &failing}
	if _, err := s.PutReader(ctx, r, Meta{}); err != nil {
		t.Fatalf("PutReader while the free space became unreadable: %v, want it stored", err)
	}
}

// flipReader sets flip once more than after bytes were read.
type flipReader struct {
	r     io.Reader
	read  int
	after int
	flip  *atomic.Bool
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.read += n; f.read > f.after {
		f.flip.Store(true)
	}
	return n, err
}

// TestFullDiskOption: what the reserve applies to, and what it does not.
func TestFullDiskOption(t *testing.T) {
	ctx := context.Background()
	data := fullContent(1, 100<<10)
	tests := []struct {
		name    string
		path    func(dir string) string
		opts    []Option
		free    uint64
		freeErr error
		wantErr error
	}{
		{"BelowReserve", fileIn, nil, DefaultDiskReserve, nil, ErrFull},
		{"AboveReserve", fileIn, nil, DefaultDiskReserve + 1<<20, nil, nil},
		{"SmallerReserve", fileIn, []Option{WithDiskReserve(1 << 20)}, 2 << 20, nil, nil},
		{"ReserveOffDiskFull", fileIn, []Option{WithDiskReserve(0)}, 0, nil, nil},
		{"FreeSpaceUnknown", fileIn, nil, 0, errNoStatfs, nil},
		{"EphemeralIgnoresDisk", func(string) string { return MemoryPath }, nil, 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(ctx, tt.path(dir), tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			fixedFree(t, tt.free, tt.freeErr)
			_, err = s.Put(ctx, data, Meta{})
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Put of %d bytes with %d bytes free: %v, want %v", len(data), tt.free, err, tt.wantErr)
			}
		})
	}
	t.Run("NegativeReserve", func(t *testing.T) {
		_, err := Open(ctx, fileIn(t.TempDir()), WithDiskReserve(-1))
		if !errors.Is(err, ErrInvalidOption) {
			t.Fatalf("Open(WithDiskReserve(-1)) = %v, want ErrInvalidOption", err)
		}
	})
}

func fileIn(dir string) string { return filepath.Join(dir, "s.db") }

// TestFullDiskDedupHitNotRefused: content stored already writes a touch
// and a ref, which the reserve is there for; a full disk does not refuse
// it, and a session can still take a ref to it.
func TestFullDiskDedupHitNotRefused(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, fileIn(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := fullContent(2, 3*DefaultChunkSize)
	ref, err := s.Put(ctx, data, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	fixedFree(t, 0, nil)
	if _, err := s.Put(ctx, fullContent(3, 10), Meta{}); !errors.Is(err, ErrFull) {
		t.Fatalf("Put of new content with no free space: %v, want ErrFull", err)
	}
	got, err := s.Session("chat").Put(ctx, data, Meta{})
	if err != nil || got.ID != ref.ID {
		t.Fatalf("Session.Put of stored content on a full disk: %v, %v", got.ID, err)
	}
	if held, err := s.HoldsRef(ctx, "chat", ref.ID); err != nil || !held {
		t.Fatalf("HoldsRef after the dedup put: %v, %v", held, err)
	}
}

// TestFullDiskCompactSaysWhy: Compact needs room for a copy of the file;
// without it, it returns ErrFull saying so, and changes nothing.
func TestFullDiskCompactSaysWhy(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, fileIn(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(ctx, fullContent(4, 1<<20), Meta{}); err != nil {
		t.Fatal(err)
	}
	before := fullState(t, s)
	fixedFree(t, DefaultDiskReserve+1<<10, nil)
	err = s.Compact(ctx)
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "copy of the whole store") {
		t.Fatalf("Compact with 1 KiB above the reserve free: %v, want ErrFull saying it needs room for a copy", err)
	}
	if after := fullState(t, s); after != before {
		t.Errorf("the refused Compact changed the store: %+v, was %+v", after, before)
	}
	fixedFree(t, 1<<40, nil)
	if err := s.Compact(ctx); err != nil {
		t.Fatalf("Compact with room: %v", err)
	}
}

// TestFullDiskErrorClassified: a full disk reported by either engine is
// ErrFull, classified by the error's type and code, never its text.
func TestFullDiskErrorClassified(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"PostgresDiskFull", &pgconn.PgError{Code: "53100", Message: "could not extend file"}, true},
		{"PostgresWrapped", fmt.Errorf("insert chunk: %w", &pgconn.PgError{Code: "53100"}), true},
		{"PostgresOtherResource", &pgconn.PgError{Code: "53200", Message: "out of memory"}, false},
		{"SQLiteFull", sqlite3.Error{Code: sqlite3.ErrFull}, true},
		{"TextOnly", errors.New("ERROR: could not extend file: No space left on device (SQLSTATE 53100)"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := db.KindOf(tt.err) == db.Full; got != tt.want {
				t.Errorf("KindOf(%v) is Full: %v, want %v", tt.err, got, tt.want)
			}
			err := wrap(nil, "put", tt.err)
			if got := errors.Is(err, ErrFull); got != tt.want {
				t.Errorf("wrap(%v) is ErrFull: %v, want %v", tt.err, got, tt.want)
			}
			var pe *pgconn.PgError
			if errors.As(tt.err, &pe) && !errors.As(err, &pe) {
				t.Errorf("wrap(%v) hides the *pgconn.PgError", tt.err)
			}
		})
	}
}

// MountTmpfs and FillDisk lend mountTmpfs and fillDisk to the package's
// external tests (fault_test.go, adopt_test.go).
var MountTmpfs, FillDisk = mountTmpfs, fillDisk

// mountTmpfs mounts a tmpfs of size on a new directory, or skips the test
// where this process may not mount one (not root, not Linux, a container
// without the capability).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// fillDisk writes a file in dir until the filesystem is full, as another
// program would.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096) // to the last page, so that little is left
	for {
		if _, err := f.Write(block); err != nil {
			if errors.Is(err, os.ErrClosed) || !strings.Contains(err.Error(), "no space left") {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return path
		}
	}
}

// leaveFree fills dir's filesystem with a file of another program, then
// gives back all but free bytes of it.
func leaveFree(t *testing.T, dir string, free int64) {
	t.Helper()
	filler := fillDisk(t, dir)
	fi, err := os.Stat(filler)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filler, max(0, fi.Size()-free)); err != nil {
		t.Fatal(err)
	}
}

// TestFullDiskReclaimMovesPagesInSteps: Reclaim's vacuum moves the live
// pages at the end of the file into the holes deleted content left, and
// those pages go through the WAL. With 6 MiB free it must move 8 MiB: it
// does so a step at a time, each copied back and the file cut before the
// next, instead of growing the WAL by all 8 MiB and failing.
func TestFullDiskReclaimMovesPagesInSteps(t *testing.T) {
	dir := mountTmpfs(t, "32m")
	ctx := context.Background()
	path := filepath.Join(dir, "s.db")
	s, err := Open(ctx, path, WithDiskReserve(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var live []ID
	for k, sess := range []string{"gone", "live"} {
		for i := range 8 {
			ref, err := s.Session(sess).WithOwner("turn").Put(ctx, fullContent(k*100+i, 1<<20), Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if sess == "live" {
				live = append(live, ref.ID)
			}
		}
	}
	if _, err := s.Session("live").CommitOwned(ctx, "turn"); err != nil {
		t.Fatal(err)
	}
	leaveFree(t, dir, 6<<20)
	before, _ := diskFree(dir)
	if _, err := s.Session("gone").Discard(ctx, "turn"); err != nil {
		t.Fatalf("Discard: %v", err)
	}
	rep, err := s.Reclaim(ctx, ReclaimPolicy{Grace: 0, VacuumAt: 0.01})
	if err != nil {
		t.Fatalf("Reclaim with %d bytes free: %v", before, err)
	}
	after, _ := diskFree(dir)
	if int64(after)-int64(before) < 7<<20 {
		t.Errorf("Reclaim of %d bytes took free space from %d to %d", rep.ReclaimedBytes, before, after)
	}
	for _, id := range live {
		if a, err := s.Session("live").Get(ctx, id); err != nil || ContentID(a.Data) != id {
			t.Fatalf("Get(%s) after the vacuum moved it: %v", id, err)
		}
	}
	fullVerify(t, s)
}

// TestFullDiskReclaimManyBatches: Reclaim deletes in batches, each its own
// transaction; while writes go on the WAL grows, and is only started
// again between them once it is long. On a tight disk Reclaim checkpoints
// after each batch instead, so that thousands of deletes fit in 3 MiB.
func TestFullDiskReclaimManyBatches(t *testing.T) {
	dir := mountTmpfs(t, "32m")
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(dir, "s.db"), WithDiskReserve(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 4000
	err = s.Update(ctx, func(tx *Tx) error {
		for i := range n {
			if _, err := tx.Session("chat").WithOwner("turn").Put(ctx, []byte(fmt.Sprint("small attachment ", i)), Meta{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session("kept").Put(ctx, []byte("kept"), Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Session("kept").Commit(ctx); err != nil {
		t.Fatal(err)
	}
	leaveFree(t, dir, 3<<20)
	if _, err := s.Session("chat").Discard(ctx, "turn"); err != nil {
		t.Fatalf("Discard of %d intents with 3 MiB free: %v", n, err)
	}
	rep, err := s.Reclaim(ctx, ReclaimPolicy{Grace: 0, VacuumAt: 1})
	if err != nil {
		t.Fatalf("Reclaim of %d blobs with 3 MiB free: %v", n, err)
	}
	if rep.ReclaimedBlobs != n {
		t.Errorf("Reclaim collected %d blobs, want %d", rep.ReclaimedBlobs, n)
	}
	fullVerify(t, s)
}
