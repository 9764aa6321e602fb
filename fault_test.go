package attachstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

// Fault injection (issue 5): a full disk, a read-only file, an input stream
// that fails half-way, a context cancelled at every step of an Update. After
// each, nothing half-done is visible and Verify is clean.

// faultState is everything a caller can see of a store, for before/after
// comparisons (FileBytes left out: it moves with the WAL).
type faultState struct {
	list  []string
	refs  []string
	stats attachstore.Stats
	host  int
}

func faultSnapshot(t testing.TB, s *attachstore.Store, sessions ...string) faultState {
	t.Helper()
	ctx := context.Background()
	var st faultState
	for r, err := range s.List(ctx) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		st.list = append(st.list, fmt.Sprintf("%s size=%d meta=%+v", r.ID, r.Size, r.Meta))
	}
	for _, sess := range sessions {
		es, err := s.Session(sess).Refs(ctx)
		if err != nil {
			t.Fatalf("Refs(%q): %v", sess, err)
		}
		for _, e := range es {
			st.refs = append(st.refs, fmt.Sprintf("%s %s owner=%q committed=%v", e.SessionID, e.ID, e.Owner, e.Committed()))
		}
	}
	var err error
	if st.stats, err = s.Stats(ctx); err != nil {
		t.Fatalf("Stats: %v", err)
	}
	st.stats.FileBytes = 0
	st.stats.CheckpointFailures = 0 // a full disk fails checkpoints too: not content
	st.host = -1
	_ = s.View(ctx, func(tx *attachstore.Tx) error {
		return tx.SQL().QueryRowContext(ctx, `SELECT count(*) FROM fault_host`).Scan(&st.host)
	})
	return st
}

func (a faultState) diff(b faultState) string {
	var out []string
	for _, d := range []struct {
		what       string
		was, isNow []string
	}{{"blob", a.list, b.list}, {"ref", a.refs, b.refs}} {
		for _, x := range d.was {
			if !slices.Contains(d.isNow, x) {
				out = append(out, "lost "+d.what+" "+x)
			}
		}
		for _, x := range d.isNow {
			if !slices.Contains(d.was, x) {
				out = append(out, "new "+d.what+" "+x)
			}
		}
	}
	if a.stats != b.stats {
		out = append(out, fmt.Sprintf("stats %+v -> %+v", a.stats, b.stats))
	}
	if a.host != b.host {
		out = append(out, fmt.Sprintf("host rows %d -> %d", a.host, b.host))
	}
	return strings.Join(out, "; ")
}

func faultVerify(t testing.TB, s *attachstore.Store) {
	t.Helper()
	rep, err := s.Verify(context.Background())
	if err != nil || !rep.OK() {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}

// faultFree is the free space of dir's filesystem, in bytes.
func faultFree(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

func faultContent(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*131 + i*7 + i/251)
	}
	return b
}

func faultCreateHostTable(t testing.TB, s *attachstore.Store) {
	t.Helper()
	if err := s.Update(context.Background(), func(tx *attachstore.Tx) error {
		_, err := tx.SQL().Exec(`CREATE TABLE IF NOT EXISTS fault_host (n INTEGER NOT NULL)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// faultPutUntilFull puts new content, alternately plain and through a
// session, until a put fails. The failure must be ErrFull and change
// nothing visible; it returns the ids stored before it.
func faultPutUntilFull(t *testing.T, s *attachstore.Store, seed int, size int) (plain, sess []attachstore.ID) {
	t.Helper()
	ctx := context.Background()
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatalf("10000 puts of %d bytes and the store is not full", size)
		}
		before := faultSnapshot(t, s, "filler")
		data := faultContent(seed+i, size)
		var (
			ref attachstore.Ref
			err error
		)
		viaSession := i%2 == 1
		if viaSession {
			ref, err = s.Session("filler").Put(ctx, data, attachstore.Meta{})
		} else {
			ref, err = s.PutReader(ctx, bytes.NewReader(data), attachstore.Meta{})
		}
		if err == nil {
			if viaSession {
				sess = append(sess, ref.ID)
			} else {
				plain = append(plain, ref.ID)
			}
			continue
		}
		if !errors.Is(err, attachstore.ErrFull) {
			t.Fatalf("put %d (session %v) failed with %v, want ErrFull", i, viaSession, err)
		}
		if d := before.diff(faultSnapshot(t, s, "filler")); d != "" {
			t.Fatalf("the failed put %d (session %v) changed what the store shows: %s", i, viaSession, d)
		}
		t.Logf("put %d (session %v) of %d bytes: %v", i, viaSession, size, err)
		// The other kind of put, on the same full store, fails the same way.
		data = faultContent(seed+i+1, size)
		if viaSession {
			ref, err = s.PutReader(ctx, bytes.NewReader(data), attachstore.Meta{})
		} else {
			ref, err = s.Session("filler").Put(ctx, data, attachstore.Meta{})
		}
		switch {
		case err == nil && viaSession:
			plain = append(plain, ref.ID)
		case err == nil:
			sess = append(sess, ref.ID)
		case !errors.Is(err, attachstore.ErrFull):
			t.Fatalf("put %d (session %v) failed with %v, want ErrFull", i+1, !viaSession, err)
		default:
			if d := before.diff(faultSnapshot(t, s, "filler")); d != "" {
				t.Fatalf("the failed put %d (session %v) changed what the store shows: %s", i+1, !viaSession, d)
			}
		}
		return plain, sess
	}
}

func faultCheckAll(t *testing.T, s *attachstore.Store, plain, sess []attachstore.ID) {
	t.Helper()
	ctx := context.Background()
	for _, id := range plain {
		if a, err := s.Get(ctx, id); err != nil || attachstore.ContentID(a.Data) != id {
			t.Fatalf("Get(%s) after the full disk: %d bytes, %v", id, len(a.Data), err)
		}
	}
	for _, id := range sess {
		if a, err := s.Session("filler").Get(ctx, id); err != nil || attachstore.ContentID(a.Data) != id {
			t.Fatalf("Session.Get(%s) after the full disk: %d bytes, %v", id, len(a.Data), err)
		}
	}
}

// TestFaultFullFilesystem runs the store on a real 20 MiB filesystem: first
// a filler file takes the space, then the store's own content does. Puts
// fail with ErrFull and leave nothing visible; once space is freed — the
// filler removed, or content deleted and reclaimed — puts work again, and
// everything stored before the failure is intact.
func TestFaultFullFilesystem(t *testing.T) {
	ctx := context.Background()
	dir := attachstore.MountTmpfs(t, "20m")
	clock := newFakeClock()
	path := filepath.Join(dir, "full.db")
	// No disk reserve: this is what SQLite itself does on a full disk
	// (fulldisk_test.go has the reserve's own tests).
	s, err := attachstore.Open(ctx, path, attachstore.WithClock(clock.Now), attachstore.WithDiskReserve(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	faultCreateHostTable(t, s)
	kept, err := s.Session("filler").Put(ctx, []byte("stored before the disk filled"), attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Session("filler").Commit(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("FillerFile", func(t *testing.T) {
		filler := attachstore.FillDisk(t, dir)
		plain, sess := faultPutUntilFull(t, s, 1, 100<<10)
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		ref, err := s.Put(ctx, faultContent(999, 100<<10), attachstore.Meta{})
		if err != nil {
			t.Fatalf("Put after the filler was removed: %v", err)
		}
		faultCheckAll(t, s, append(plain, ref.ID), append(sess, kept.ID))
		faultVerify(t, s)
	})

	t.Run("StoreFillsDisk", func(t *testing.T) {
		// Reserve files: the space an operator frees when the disk is full.
		const reserves = 10
		reserve := func(i int) string { return filepath.Join(dir, fmt.Sprint("reserve", i)) }
		for i := range reserves {
			if err := os.WriteFile(reserve(i), make([]byte, 1<<20), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		freed := 0
		// retry runs op; each time it fails with ErrFull (changing nothing
		// visible), one more MiB is freed and op runs again.
		retry := func(what string, op func() error) {
			t.Helper()
			for {
				before := faultSnapshot(t, s, "filler")
				err := op()
				if err == nil {
					return
				}
				if !errors.Is(err, attachstore.ErrFull) {
					t.Fatalf("%s on a full disk: %v, want nil or ErrFull", what, err)
				}
				if what != "Reclaim" { // Reclaim keeps the batches it finished
					if d := before.diff(faultSnapshot(t, s, "filler")); d != "" {
						t.Fatalf("the failed %s changed what the store shows: %s", what, d)
					}
				}
				if freed == reserves {
					t.Fatalf("%s still fails with %d MiB freed: %v", what, freed, err)
				}
				t.Logf("%s on the full disk: %v; freeing reserve %d (1 MiB)", what, err, freed)
				if err := os.Remove(reserve(freed)); err != nil {
					t.Fatal(err)
				}
				freed++
			}
		}
		plain, sess := faultPutUntilFull(t, s, 10000, 256<<10)
		if len(plain) == 0 {
			t.Fatal("no plain content fitted before the disk was full")
		}
		// In WAL mode every write — a commit stamp, a delete, a vacuum step —
		// appends to the WAL first: on a disk the store itself filled, even
		// freeing space needs some. Each failure must be clear and change
		// nothing.
		retry("Commit", func() error { return s.Session("filler").Commit(ctx) })
		// The plain content is unreferenced: Reclaim collects it, vacuums
		// and truncates the WAL, giving the space back.
		clock.Advance(time.Second)
		freeBefore := faultFree(t, dir)
		var collected int
		retry("Reclaim", func() error {
			rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{})
			collected += rep.ReclaimedBlobs
			return err
		})
		t.Logf("Reclaim collected %d blobs; %d MiB had to be freed outside the store first", collected, freed)
		// A Reclaim that returns nil has vacuumed and checkpointed, even
		// when an earlier one collected the blobs and failed after.
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
			t.Errorf("Reclaim returned nil but left a %d-byte WAL: the vacuum and checkpoint an earlier Reclaim "+
				"failed in were not done again, so the space never comes back", fi.Size())
		}
		for _, id := range plain {
			if exists(t, s, id) {
				t.Fatalf("Reclaim left unreferenced content %s (collected %d blobs)", id, collected)
			}
		}
		// Reclaim gave the space back to the filesystem.
		if got, was := faultFree(t, dir), freeBefore+int64(freed)<<20; got < was+int64(len(plain))*256<<10 {
			t.Errorf("free space went from %d (with the reserves freed) to %d bytes; want at least the %d reclaimed bytes back",
				was, got, len(plain)*256<<10)
		}
		ref, err := s.Put(ctx, faultContent(20000, 256<<10), attachstore.Meta{})
		if err != nil {
			t.Fatalf("Put after reclaiming %d blobs: %v", len(plain), err)
		}
		faultCheckAll(t, s, []attachstore.ID{ref.ID}, append(sess, kept.ID))
		faultVerify(t, s)
	})

	// Everything survives a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := attachstore.Open(ctx, path)
	if err != nil {
		// Opening may need space too (the -shm file): it must say so.
		if !errors.Is(err, attachstore.ErrFull) {
			t.Fatalf("reopening on a nearly full disk: %v, want nil or ErrFull", err)
		}
		t.Logf("reopening on the nearly full disk: %v; freeing the reserves (free %d)", err, faultFree(t, dir))
		reserves, _ := filepath.Glob(filepath.Join(dir, "reserve*"))
		for _, r := range reserves {
			os.Remove(r)
		}
		if s2, err = attachstore.Open(ctx, path); err != nil {
			t.Fatalf("reopening after the reserves were freed (free %d): %v", faultFree(t, dir), err)
		}
	}
	defer s2.Close()
	faultCheckAll(t, s2, nil, []attachstore.ID{kept.ID})
	faultVerify(t, s2)
}

// TestFaultFullPageLimit caps the database with PRAGMA max_page_count.
// attachstore has no option for it; the pragma is per connection, and it
// reaches the store's one writer connection through Tx.SQL. Puts past the
// cap fail with ErrFull and leave nothing; Delete and Reclaim make room.
func TestFaultFullPageLimit(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s, err := attachstore.Open(ctx, filepath.Join(t.TempDir(), "capped.db"), attachstore.WithClock(clock.Now),
		attachstore.WithSync(attachstore.SyncOff))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	faultCreateHostTable(t, s)
	var limit int64
	if err := s.Update(ctx, func(tx *attachstore.Tx) error {
		var pages int64
		if err := tx.SQL().QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
			return err
		}
		return tx.SQL().QueryRowContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+40)).Scan(&limit)
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("max_page_count = %d", limit)

	plain, sess := faultPutUntilFull(t, s, 1, 200<<10)
	faultCheckAll(t, s, plain, sess)
	// A whole Update that crosses the limit leaves nothing either.
	before := faultSnapshot(t, s, "filler")
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		if _, err := tx.SQL().ExecContext(ctx, `INSERT INTO fault_host (n) VALUES (1)`); err != nil {
			return err
		}
		if _, err := tx.Session("filler").Put(ctx, []byte("small, fits"), attachstore.Meta{}); err != nil {
			return err
		}
		_, err := tx.Put(ctx, faultContent(5000, 1<<20), attachstore.Meta{})
		return err
	})
	if !errors.Is(err, attachstore.ErrFull) {
		t.Fatalf("Update crossing the page limit: %v, want ErrFull", err)
	}
	if d := before.diff(faultSnapshot(t, s, "filler")); d != "" {
		t.Fatalf("the failed Update changed what the store shows: %s", d)
	}

	// A host that handles the ErrFull of one call and goes on: either the
	// rest of its work commits without the failed put, or the Update fails
	// and nothing is kept. Never a part.
	t.Run("HostGoesOnAfterErrFull", func(t *testing.T) {
		before := faultSnapshot(t, s, "filler")
		var putErr, afterErr error
		err := s.Update(ctx, func(tx *attachstore.Tx) error {
			if _, err := tx.SQL().ExecContext(ctx, `INSERT INTO fault_host (n) VALUES (1)`); err != nil {
				return err
			}
			_, putErr = tx.Put(ctx, faultContent(5001, 1<<20), attachstore.Meta{})
			if _, err := tx.SQL().ExecContext(ctx, `INSERT INTO fault_host (n) VALUES (2)`); err != nil {
				afterErr = err
				return err
			}
			_, afterErr = tx.Session("filler").Put(ctx, []byte("after the failed put"), attachstore.Meta{})
			return afterErr
		})
		after := faultSnapshot(t, s, "filler")
		t.Logf("put in the Update: %v; the calls after it: %v; Update: %v", putErr, afterErr, err)
		if !errors.Is(putErr, attachstore.ErrFull) {
			t.Fatalf("the 1 MiB put inside the Update: %v, want ErrFull", putErr)
		}
		if err != nil {
			if d := before.diff(after); d != "" {
				t.Fatalf("the Update failed (%v) but kept part of its work: %s", err, d)
			}
			return
		}
		if after.host != before.host+2 || after.stats.Refs != before.stats.Refs+1 || after.stats.Blobs != before.stats.Blobs+1 {
			t.Fatalf("the Update succeeded but did not keep exactly its other work: %s", before.diff(after))
		}
	})

	// Room comes back through the API: the deletes need no new pages.
	for _, id := range plain {
		if err := s.Delete(ctx, id); err != nil {
			t.Fatalf("Delete(%s) at the page limit: %v", id, err)
		}
	}
	if err := s.Session("filler").Commit(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if _, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{}); err != nil {
		t.Fatalf("Reclaim at the page limit: %v", err)
	}
	ref, err := s.Put(ctx, faultContent(6000, 200<<10), attachstore.Meta{})
	if err != nil {
		t.Fatalf("Put after deleting %d blobs and reclaiming: %v", len(plain), err)
	}
	faultCheckAll(t, s, []attachstore.ID{ref.ID}, sess)
	faultVerify(t, s)
}

// faultWriteAttempts tries every kind of write; each must fail with
// ErrReadOnly.
func faultWriteAttempts(t *testing.T, s *attachstore.Store, id attachstore.ID) {
	t.Helper()
	ctx := context.Background()
	ss := s.Session("chat").WithOwner("turn")
	attempts := map[string]func() error{
		"Put":       func() error { _, err := s.Put(ctx, []byte("new"), attachstore.Meta{}); return err },
		"PutReader": func() error { _, err := s.PutReader(ctx, strings.NewReader("new"), attachstore.Meta{}); return err },
		"Delete":    func() error { return s.Delete(ctx, id) },
		"Session.Put": func() error {
			_, err := ss.Put(ctx, []byte("new"), attachstore.Meta{})
			return err
		},
		"Session.Delete": func() error { return ss.Delete(ctx, id) },
		"Commit":         func() error { return ss.Commit(ctx) },
		"CommitOwned":    func() error { _, err := ss.CommitOwned(ctx, "turn"); return err },
		"Discard":        func() error { _, err := ss.Discard(ctx, "turn"); return err },
		"Hold":           func() error { return ss.Hold(ctx, "turn", time.Now().Add(time.Hour)) },
		"Compact":        func() error { return s.Compact(ctx) },
		"DropSession":    func() error { return s.DropSession(ctx, "chat") },
		"Reclaim":        func() error { _, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{}); return err },
		"Update": func() error {
			return s.Update(ctx, func(tx *attachstore.Tx) error {
				_, err := tx.SQL().ExecContext(ctx, `CREATE TABLE should_not_exist (x)`)
				return err
			})
		},
	}
	for name, try := range attempts {
		if err := try(); !errors.Is(err, attachstore.ErrReadOnly) {
			t.Errorf("%s on a read-only store: %v, want ErrReadOnly", name, err)
		}
	}
}

// faultReads checks that reads work on a read-only store.
func faultReads(t *testing.T, s *attachstore.Store, id attachstore.ID, data []byte) {
	t.Helper()
	ctx := context.Background()
	if a, err := s.Get(ctx, id); err != nil || !bytes.Equal(a.Data, data) {
		t.Errorf("Get on a read-only store: %d bytes, %v", len(a.Data), err)
	}
	if a, err := s.Session("chat").Get(ctx, id); err != nil || !bytes.Equal(a.Data, data) {
		t.Errorf("Session.Get on a read-only store: %d bytes, %v", len(a.Data), err)
	}
	if r, err := s.Session("chat").NewReader(ctx, id); err != nil {
		t.Errorf("Session.NewReader on a read-only store: %v", err)
	} else if b, err := io.ReadAll(r); err != nil || !bytes.Equal(b, data) {
		t.Errorf("reading a stream on a read-only store: %d bytes, %v", len(b), err)
	}
	n := 0
	for _, err := range s.List(ctx) {
		if err != nil {
			t.Fatalf("List on a read-only store: %v", err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("List on a read-only store yields %d blobs, want 2", n)
	}
	if es, err := s.Session("chat").Refs(ctx); err != nil || len(es) != 1 {
		t.Errorf("Refs on a read-only store = %d entries, %v", len(es), err)
	}
	if st, err := s.Stats(ctx); err != nil || st.Blobs != 2 {
		t.Errorf("Stats on a read-only store = %+v, %v", st, err)
	}
	if rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{DryRun: true}); err != nil {
		t.Errorf("a dry-run Reclaim on a read-only store: %+v, %v", rep, err)
	}
	faultVerify(t, s)
}

// faultReadOnlyFixture writes a store with one session blob and one plain
// blob into dir and closes it.
func faultReadOnlyFixture(t *testing.T, dir string) (path string, id attachstore.ID, data []byte) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(dir, "ro.db")
	// A reserve the 8 MiB filesystem has room for.
	s, err := attachstore.Open(ctx, path, attachstore.WithChunkSize(attachstore.MinChunkSize), attachstore.WithDiskReserve(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	data = faultContent(7, 3*attachstore.MinChunkSize+1)
	ref, err := s.Session("chat").Put(ctx, data, attachstore.Meta{MediaType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, []byte("plain"), attachstore.Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, ref.ID, data
}

// TestFaultReadOnly opens a store read-only: a file chmod 0400 (root is not
// stopped by the mode, so WithReadOnly is what refuses the writes), and a
// file on a filesystem remounted read-only, which stops root too. Reads
// work, every write fails with ErrReadOnly, and the file is unchanged.
func TestFaultReadOnly(t *testing.T) {
	ctx := context.Background()

	t.Run("Chmod0400WithReadOnly", func(t *testing.T) {
		path, id, data := faultReadOnlyFixture(t, t.TempDir())
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o400); err != nil {
			t.Fatal(err)
		}
		s, err := attachstore.Open(ctx, path, attachstore.WithReadOnly())
		if err != nil {
			t.Fatalf("Open(WithReadOnly) of a 0400 file: %v", err)
		}
		faultReads(t, s, id, data)
		faultWriteAttempts(t, s, id)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
			t.Errorf("the read-only store's file changed (%v)", err)
		}
	})

	t.Run("ReadOnlyFilesystem", func(t *testing.T) {
		dir := attachstore.MountTmpfs(t, "8m")
		path, id, data := faultReadOnlyFixture(t, dir)
		if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
			t.Skipf("cannot remount the tmpfs read-only (%v: %s)", err, out)
		}
		t.Run("WithReadOnly", func(t *testing.T) {
			s, err := attachstore.Open(ctx, path, attachstore.WithReadOnly())
			if err != nil {
				t.Fatalf("Open(WithReadOnly) on a read-only filesystem: %v", err)
			}
			defer s.Close()
			faultReads(t, s, id, data)
			faultWriteAttempts(t, s, id)
		})
		t.Run("OpenedNormally", func(t *testing.T) {
			s, err := attachstore.Open(ctx, path)
			if err != nil {
				// Refusing to open is fine, if it says why.
				if !errors.Is(err, attachstore.ErrReadOnly) {
					t.Fatalf("Open on a read-only filesystem: %v, want success or ErrReadOnly", err)
				}
				t.Logf("Open on a read-only filesystem: %v", err)
				return
			}
			defer s.Close()
			faultReads(t, s, id, data)
			faultWriteAttempts(t, s, id)
		})
	})
}

// faultFailingReader yields n bytes and then fails with err.
type faultFailingReader struct {
	data []byte
	err  error
}

func (r *faultFailingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

var errFaultInput = errors.New("fault: the input stream broke")

// TestFaultPutReaderInputFails feeds PutReader — plain, through a session,
// inside an Update — streams that fail before the first byte, inside the
// first chunk, at a chunk boundary and after several chunks. The error
// returned wraps the reader's, and nothing is stored.
func TestFaultPutReaderInputFails(t *testing.T) {
	ctx := context.Background()
	const c = attachstore.MinChunkSize
	s, err := attachstore.Open(ctx, filepath.Join(t.TempDir(), "input.db"), attachstore.WithChunkSize(c))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	faultCreateHostTable(t, s)
	if _, err := s.Session("chat").Put(ctx, []byte("already here"), attachstore.Meta{}); err != nil {
		t.Fatal(err)
	}
	puts := map[string]func(io.Reader) error{
		"PutReader": func(r io.Reader) error { _, err := s.PutReader(ctx, r, attachstore.Meta{}); return err },
		"Session.PutReader": func(r io.Reader) error {
			_, err := s.Session("chat").PutReader(ctx, r, attachstore.Meta{})
			return err
		},
		"Tx.PutReader": func(r io.Reader) error {
			return s.Update(ctx, func(tx *attachstore.Tx) error {
				if _, err := tx.SQL().ExecContext(ctx, `INSERT INTO fault_host (n) VALUES (1)`); err != nil {
					return err
				}
				_, err := tx.Session("chat").PutReader(ctx, r, attachstore.Meta{})
				return err
			})
		},
	}
	// io.ErrUnexpectedEOF is what net/http's body returns for a response cut
	// short: the content is incomplete and must not be stored as if whole.
	causes := map[string]error{"Broken": errFaultInput, "UnexpectedEOF": io.ErrUnexpectedEOF}
	for _, n := range []int{0, 1, c - 1, c, c + 1, 3*c + 17} {
		for causeName, cause := range causes {
			for name, put := range puts {
				t.Run(fmt.Sprintf("%s/%s/After%dBytes", name, causeName, n), func(t *testing.T) {
					before := faultSnapshot(t, s, "chat")
					err := put(&faultFailingReader{data: faultContent(n, n), err: cause})
					if !errors.Is(err, cause) {
						t.Errorf("error %v, want one wrapping the reader's %v", err, cause)
					}
					if d := before.diff(faultSnapshot(t, s, "chat")); d != "" {
						t.Errorf("a put whose input failed changed the store: %s", d)
					}
				})
			}
		}
	}
	faultVerify(t, s)
}

// TestFaultCancelEveryStepOfUpdate runs one Update of seven operations —
// plain, session and streamed puts, a host row, a commit, a delete of
// content and of a ref — and cancels its context at every point between
// them and between the chunks of the stream, in turn. Each cancelled Update
// returns an error and changes nothing, whether its function stops at the
// first error, ignores the errors, or runs its calls on another context;
// the run that is never cancelled commits everything.
func TestFaultCancelEveryStepOfUpdate(t *testing.T) {
	const c = attachstore.MinChunkSize
	type variant struct {
		name         string
		ignoreErrors bool
		opsOnOwnCtx  bool
	}
	for _, v := range []variant{{"StopAtFirstError", false, false}, {"IgnoreErrors", true, false}, {"CallsOnBackgroundContext", true, true}} {
		t.Run(v.name, func(t *testing.T) {
			s, err := attachstore.Open(context.Background(), filepath.Join(t.TempDir(), "cancel.db"),
				attachstore.WithChunkSize(c), attachstore.WithSync(attachstore.SyncOff))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			faultCreateHostTable(t, s)
			bg := context.Background()
			orphan, err := s.Put(bg, []byte("orphan to delete"), attachstore.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			held, err := s.Session("chat").Put(bg, []byte("ref to drop"), attachstore.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			for cancelAt := 0; ; cancelAt++ {
				ctx, cancel := context.WithCancel(bg)
				ticks := 0
				tick := func() {
					if ticks == cancelAt {
						cancel()
					}
					ticks++
				}
				opCtx := ctx
				if v.opsOnOwnCtx {
					opCtx = bg
				}
				stream := &faultTickingReader{data: faultContent(cancelAt, 3*c+5), chunk: c, tick: tick}
				before := faultSnapshot(t, s, "chat")
				var firstErr error
				err := s.Update(ctx, func(tx *attachstore.Tx) error {
					ts := tx.Session("chat").WithOwner("turn")
					ops := []func() error{
						func() error {
							_, err := tx.Put(opCtx, fmt.Appendf(nil, "plain %d", cancelAt), attachstore.Meta{})
							return err
						},
						func() error {
							_, err := ts.Put(opCtx, fmt.Appendf(nil, "session %d", cancelAt), attachstore.Meta{})
							return err
						},
						func() error { _, err := ts.PutReader(opCtx, stream, attachstore.Meta{}); return err },
						func() error {
							_, err := tx.SQL().ExecContext(opCtx, `INSERT INTO fault_host (n) VALUES (?)`, cancelAt)
							return err
						},
						func() error { return ts.Commit(opCtx) },
						func() error { return tx.Delete(opCtx, orphan.ID) },
						func() error { return ts.Delete(opCtx, held.ID) },
					}
					for _, op := range ops {
						tick()
						if err := op(); err != nil && firstErr == nil {
							firstErr = err
						}
						if firstErr != nil && !v.ignoreErrors {
							return firstErr
						}
					}
					tick()
					if v.ignoreErrors {
						return nil
					}
					return firstErr
				})
				cancel()
				after := faultSnapshot(t, s, "chat")
				if ticks <= cancelAt {
					// Never cancelled: everything committed.
					if err != nil {
						t.Fatalf("the Update that was not cancelled: %v", err)
					}
					if after.stats.Blobs != before.stats.Blobs+2 || after.host != before.host+1 {
						t.Fatalf("the Update that was not cancelled left %s", before.diff(after))
					}
					t.Logf("%d cancellation points, each rolled back", cancelAt)
					break
				}
				if err == nil {
					t.Fatalf("cancelled at point %d of %d: Update returned nil", cancelAt, ticks)
				}
				if !errors.Is(err, context.Canceled) {
					t.Errorf("cancelled at point %d: Update error %v (%T) does not match context.Canceled", cancelAt, err, err)
				}
				if d := before.diff(after); d != "" {
					t.Fatalf("cancelled at point %d (Update error %v, first call error %v): %s", cancelAt, err, firstErr, d)
				}
			}
			faultVerify(t, s)
		})
	}
}

// faultTickingReader yields data in chunk-sized reads and calls tick
// before each, so a test can cancel between the chunks of a stream.
type faultTickingReader struct {
	data  []byte
	chunk int
	tick  func()
}

func (r *faultTickingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	r.tick()
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestFaultDamagedRows damages one blob's row the way a bad disk or a
// careless hand edit can — values the schema's CHECK constraints forbid,
// written with ignore_check_constraints — and reads and maintains the store
// through every path. Each call returns nil or an error matching one of
// attachstore's sentinels (ErrCorrupt is the right one here); none panics.
// (A plausible but huge size, say 1 TB, is left out: Get preallocates the
// recorded size, which would take the test process down with it.)
func TestFaultDamagedRows(t *testing.T) {
	const c = attachstore.MinChunkSize
	for _, dmg := range []struct{ name, sql string }{
		{"NegativeSize", `UPDATE attachstore_blobs SET size = -1 WHERE pk = ?`},
		{"ImpossibleSize", `UPDATE attachstore_blobs SET size = 4611686018427387904 WHERE pk = ?`},
		{"ZeroChunkSize", `UPDATE attachstore_blobs SET chunk_size = 0 WHERE pk = ?`},
		{"NegativeChunkSize", `UPDATE attachstore_blobs SET chunk_size = -4096 WHERE pk = ?`},
		{"ShortID", `UPDATE attachstore_blobs SET id = x'0102' WHERE pk = ?`},
		{"TextSize", `UPDATE attachstore_blobs SET size = 'many' WHERE pk = ?`},
		{"DisplacedChunk", `UPDATE attachstore_chunks SET seq = seq + 1000 WHERE blob_pk = ? AND seq = 0`},
		{"NegativeSeq", `UPDATE attachstore_chunks SET seq = -1 WHERE blob_pk = ? AND seq = 2`},
		{"TextChunk", `UPDATE attachstore_chunks SET data = 'text, not a blob' WHERE blob_pk = ? AND seq = 1`},
		{"ChunkOfNoBlob", `UPDATE attachstore_chunks SET blob_pk = blob_pk + 7 WHERE blob_pk = ? AND seq = 1`},
	} {
		t.Run(dmg.name, func(t *testing.T) {
			ctx := context.Background()
			s := faultNewFile(t, attachstore.WithChunkSize(c))
			data := faultContent(3, 3*c+11)
			ref, err := s.Session("chat").Put(ctx, data, attachstore.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite3", "file:"+s.Path()+"?_ignore_check_constraints=1&_foreign_keys=off&_busy_timeout=5000")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var pk int64
			if err := db.QueryRow(`SELECT pk FROM attachstore_blobs WHERE id = ?`, ref.ID[:]).Scan(&pk); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(dmg.sql, pk); err != nil {
				t.Fatalf("%s: %v", dmg.sql, err)
			}
			db.Close()

			call := func(op string, fn func() error) {
				t.Helper()
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s panicked on a damaged row: %v", op, p)
					}
				}()
				if err := fn(); err != nil && !fuzzIsTyped(err) {
					t.Errorf("%s: untyped error (%T): %v", op, err, err)
				}
			}
			readAll := func(r *attachstore.Reader, err error) error {
				if err != nil {
					return err
				}
				defer r.Close()
				_, err = io.Copy(io.Discard, r)
				return err
			}
			call("Get", func() error { _, err := s.Get(ctx, ref.ID); return err })
			call("Session.Get", func() error { _, err := s.Session("chat").Get(ctx, ref.ID); return err })
			call("Stat", func() error { _, err := s.Stat(ctx, ref.ID); return err })
			call("NewReader+Read", func() error { return readAll(s.NewReader(ctx, ref.ID)) })
			call("Session.NewReader+Read", func() error { return readAll(s.Session("chat").NewReader(ctx, ref.ID)) })
			call("Seek+Read", func() error {
				r, err := s.NewReader(ctx, ref.ID)
				if err != nil {
					return err
				}
				defer r.Close()
				if _, err := r.Seek(2*c+5, io.SeekStart); err != nil {
					return err
				}
				if _, err = r.Read(make([]byte, 10)); err == io.EOF {
					err = nil // the damaged size may well end the content there
				}
				return err
			})
			call("List", func() error {
				for _, err := range s.List(ctx) {
					if err != nil {
						return err
					}
				}
				return nil
			})
			call("Refs", func() error { _, err := s.Session("chat").Refs(ctx); return err })
			call("Stats", func() error { _, err := s.Stats(ctx); return err })
			call("Verify", func() error {
				rep, err := s.Verify(ctx)
				if err == nil && rep.OK() {
					t.Errorf("Verify reports a clean store after %s", dmg.sql)
				}
				return err
			})
			call("DropSession+Reclaim", func() error {
				if err := s.DropSession(ctx, "chat"); err != nil {
					return err
				}
				_, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{})
				return err
			})
		})
	}
}

// faultNewFile is a durable store in a temporary file,
// closed when the test ends.
// TestFaultFailedChunkReadKeepsBuffer damages a blob's second chunk
// while a Reader holds its first in its buffer, reads the damaged chunk
// (ErrCorrupt), then seeks back: the first chunk must read as it was put,
// not as the failed read left the buffer.
func TestFaultFailedChunkReadKeepsBuffer(t *testing.T) {
	const c = attachstore.MinChunkSize
	ctx := context.Background()
	s := faultNewFile(t, attachstore.WithChunkSize(c))
	data := faultContent(5, 3*c+11)
	ref, err := s.Put(ctx, data, attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.NewReader(ctx, ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := make([]byte, 100)
	if _, err := io.ReadFull(r, p); err != nil || !bytes.Equal(p, data[:100]) {
		t.Fatalf("first read: %v", err)
	}

	db, err := sql.Open("sqlite3", "file:"+s.Path()+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE attachstore_chunks SET data = substr(data, 1, 10)
		WHERE blob_pk = (SELECT pk FROM attachstore_blobs WHERE id = ?) AND seq = 1`, ref.ID[:]); err != nil {
		t.Fatal(err)
	}
	db.Close()

	if _, err := r.Seek(c, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(p); !errors.Is(err, attachstore.ErrCorrupt) {
		t.Fatalf("reading the damaged chunk: %v, want ErrCorrupt", err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, p); err != nil || !bytes.Equal(p, data[:100]) {
		t.Fatalf("the first chunk after a failed read = %x…, %v; want %x…", p[:8], err, data[:8])
	}
}

func faultNewFile(t *testing.T, opts ...attachstore.Option) *attachstore.Store {
	t.Helper()
	s, err := attachstore.Open(context.Background(), filepath.Join(t.TempDir(), "damaged.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestFaultStrayChunkAtNextPK plants a chunk row that names the pk the
// next blob would have taken before chunks were keyed by pk + seq (chunks
// outliving their blob: a damaged file). A new blob's chunks go past every
// chunk key, so every put path stores its own bytes, never the stray ones,
// and Verify names the stray chunk.
func TestFaultStrayChunkAtNextPK(t *testing.T) {
	const c = attachstore.MinChunkSize
	for _, tc := range []struct {
		name string
		put  func(ctx context.Context, s *attachstore.Store, data []byte) (attachstore.Ref, error)
	}{
		{"Put", func(ctx context.Context, s *attachstore.Store, data []byte) (attachstore.Ref, error) {
			return s.Put(ctx, data, attachstore.Meta{})
		}},
		{"PutReader", func(ctx context.Context, s *attachstore.Store, data []byte) (attachstore.Ref, error) {
			return s.PutReader(ctx, bytes.NewReader(data), attachstore.Meta{})
		}},
		{"SessionPutInUpdate", func(ctx context.Context, s *attachstore.Store, data []byte) (ref attachstore.Ref, err error) {
			uerr := s.Update(ctx, func(tx *attachstore.Tx) error {
				ref, err = tx.Session("chat").Put(ctx, data, attachstore.Meta{})
				return nil // the host goes on; the failed put must leave nothing
			})
			if uerr != nil {
				t.Fatalf("Update: %v", uerr)
			}
			return ref, err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := faultNewFile(t, attachstore.WithChunkSize(c))
			if _, err := s.Session("chat").Put(ctx, faultContent(1, 2*c), attachstore.Meta{}); err != nil {
				t.Fatal(err)
			}
			// Planted without the foreign key, which would refuse it.
			db, err := sql.Open("sqlite3", "file:"+s.Path()+"?_foreign_keys=off&_busy_timeout=5000")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`INSERT INTO attachstore_chunks (blob_pk, seq, data)
					SELECT (SELECT max(pk) FROM attachstore_blobs) + 1, 0, x'0102'`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			data := faultContent(2, 3*c+5)
			if _, err = tc.put(ctx, s, data); err != nil {
				t.Fatalf("put beside a stray chunk: %v", err)
			}
			if a, err := s.Get(ctx, attachstore.ContentID(data)); err != nil || !bytes.Equal(a.Data, data) {
				t.Errorf("Get after the put: %d bytes, %v; want the %d put", len(a.Data), err, len(data))
			}
			rep, err := s.Verify(ctx)
			if err != nil || len(rep.Corrupt) != 0 || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "belongs to no blob") {
				t.Errorf("Verify = %+v, %v; want the stray chunk as its one problem", rep, err)
			}
		})
	}
}

// panicReader yields full bytes up to after, then panics: a caller's
// io.Reader with a bug.
type panicReader struct{ after, off int }

func (r *panicReader) Read(p []byte) (int, error) {
	if r.off >= r.after {
		panic("panicReader: a bug in the caller's reader")
	}
	n := min(len(p), r.after-r.off)
	for i := range n {
		p[i] = byte(r.off + i)
	}
	r.off += n
	return n, nil
}

// TestFaultPanickingReader streams from a reader that panics after the
// first chunk. The put reads ahead on another goroutine; the panic must
// still reach the caller (not crash the process), roll the put back, and
// leave the store working.
func TestFaultPanickingReader(t *testing.T) {
	const c = attachstore.MinChunkSize
	ctx := context.Background()
	s := faultNewFile(t, attachstore.WithChunkSize(c))
	if _, err := s.Session("chat").Put(ctx, faultContent(1, 2*c), attachstore.Meta{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		put  func(r io.Reader) error
	}{
		{"PutReader", func(r io.Reader) error {
			_, err := s.PutReader(ctx, r, attachstore.Meta{})
			return err
		}},
		{"SessionPutReaderInUpdate", func(r io.Reader) error {
			return s.Update(ctx, func(tx *attachstore.Tx) error {
				_, err := tx.Session("chat").PutReader(ctx, r, attachstore.Meta{})
				return err
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := faultSnapshot(t, s, "chat")
			got := func() (p any) {
				defer func() { p = recover() }()
				err := tc.put(&panicReader{after: 2 * c})
				t.Errorf("the put returned %v; want the reader's panic", err)
				return nil
			}()
			if msg, _ := got.(string); !strings.Contains(msg, "panicReader") {
				t.Fatalf("recovered %v; want the reader's panic", got)
			}
			if d := before.diff(faultSnapshot(t, s, "chat")); d != "" {
				t.Errorf("the panicked put changed the store: %s", d)
			}
			if _, err := s.Put(ctx, faultContent(3, 3*c), attachstore.Meta{}); err != nil {
				t.Errorf("Put after the panic: %v", err)
			}
		})
	}
}
