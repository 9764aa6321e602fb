package attachstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachstoretest"
	_ "github.com/mattn/go-sqlite3"
)

// fakeClock is a settable clock for WithClock.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func mustPut(t testing.TB, ss *attachstore.Session, data string) attachstore.ID {
	t.Helper()
	ref, err := ss.Put(context.Background(), []byte(data), attachstore.Meta{})
	if err != nil {
		t.Fatalf("session %s: put %q: %v", ss.ID(), data, err)
	}
	return ref.ID
}

func mustReclaim(t testing.TB, s *attachstore.Store, p attachstore.ReclaimPolicy) attachstore.ReclaimReport {
	t.Helper()
	rep, err := s.Reclaim(context.Background(), p)
	if err != nil {
		t.Fatalf("Reclaim(%+v): %v", p, err)
	}
	return rep
}

func exists(t testing.TB, s *attachstore.Store, id attachstore.ID) bool {
	t.Helper()
	_, err := s.Stat(context.Background(), id)
	if err != nil && !errors.Is(err, attachstore.ErrNotFound) {
		t.Fatalf("Stat(%s): %v", id, err)
	}
	return err == nil
}

func TestReclaimGraceAndCommit(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := attachstoretest.New(t, attachstore.WithClock(clock.Now))
	ss := s.Session("chat")
	old := mustPut(t, ss, "aged intent")
	committed := mustPut(t, ss, "committed")
	if err := ss.Commit(ctx, committed); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	fresh := mustPut(t, ss, "fresh intent")

	// A grace longer than every age touches nothing.
	rep := mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: 24 * time.Hour})
	if rep != (attachstore.ReclaimReport{}) {
		t.Errorf("Reclaim(24h) = %+v, want nothing collected", rep)
	}
	// One hour: the aged intent and its blob go, the fresh intent stays.
	rep = mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Hour})
	if rep.ExpiredIntents != 1 || rep.ReclaimedBlobs != 1 || rep.ReclaimedBytes != int64(len("aged intent")) {
		t.Errorf("Reclaim(1h) = %+v, want 1 intent, 1 blob, %d bytes", rep, len("aged intent"))
	}
	if exists(t, s, old) {
		t.Errorf("aged uncommitted blob %s survived", old)
	}
	if !exists(t, s, fresh) {
		t.Errorf("fresh intent's blob %s was reclaimed", fresh)
	}
	// Grace 0 forgets the fresh intent too, but never a committed ref.
	mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: 0})
	clock.Advance(time.Nanosecond)
	mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: 0})
	if !exists(t, s, committed) {
		t.Fatalf("committed blob %s reclaimed with Grace 0", committed)
	}
	if a, err := ss.Get(ctx, committed); err != nil || string(a.Data) != "committed" {
		t.Fatalf("session Get(committed) = %q, %v", a.Data, err)
	}
	if exists(t, s, fresh) {
		t.Errorf("uncommitted blob %s survived Grace 0", fresh)
	}
}

func TestReclaimSharedBytesSurviveUntilLastRef(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := attachstoretest.New(t, attachstore.WithClock(clock.Now))
	a, b := s.Session("a"), s.Session("b")
	id := mustPut(t, a, "shared")
	mustPut(t, b, "shared")
	for _, ss := range []*attachstore.Session{a, b} {
		if err := ss.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Hour)
	if err := s.DropSession(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	mustReclaim(t, s, attachstore.ReclaimPolicy{})
	if got, err := b.Get(ctx, id); err != nil || string(got.Data) != "shared" {
		t.Fatalf("b.Get after a dropped = %q, %v", got.Data, err)
	}
	if err := b.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	rep := mustReclaim(t, s, attachstore.ReclaimPolicy{})
	if rep.ReclaimedBlobs != 1 || exists(t, s, id) {
		t.Fatalf("after the last ref went: report %+v, blob exists %v", rep, exists(t, s, id))
	}
}

func TestReclaimDropSessionAndDryRun(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := attachstoretest.New(t, attachstore.WithClock(clock.Now))
	ss := s.Session("gone")
	var ids []attachstore.ID
	for i := range 30 {
		ids = append(ids, mustPut(t, ss, fmt.Sprintf("blob %d", i)))
	}
	if err := ss.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.DropSession(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)

	dry := mustReclaim(t, s, attachstore.ReclaimPolicy{DryRun: true, BatchSize: 7})
	if dry.ReclaimedBlobs != 30 {
		t.Errorf("dry run reports %d blobs, want 30", dry.ReclaimedBlobs)
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Blobs != 30 {
		t.Fatalf("after dry run: Stats = %+v, %v; want 30 blobs kept", st, err)
	}

	var calls int
	rep := mustReclaim(t, s, attachstore.ReclaimPolicy{BatchSize: 7, Progress: func(attachstore.ReclaimProgress) { calls++ }})
	if rep.ReclaimedBlobs != 30 || rep.ReclaimedBytes != dry.ReclaimedBytes {
		t.Errorf("Reclaim = %+v, want the dry run's %+v", rep, dry)
	}
	if calls < 30/7 {
		t.Errorf("Progress called %d times for 30 blobs in batches of 7", calls)
	}
	for _, id := range ids {
		if exists(t, s, id) {
			t.Fatalf("dropped session's blob %s survived", id)
		}
	}
}

// TestReclaimBatches makes Reclaim work in batches smaller and larger than
// the orphans, so it scans, deletes and scans on from where it was, with
// orphans and live blobs interleaved.
func TestReclaimBatches(t *testing.T) {
	for _, batch := range []int{1, 4, 29, 1000} {
		t.Run(fmt.Sprint("batch ", batch), func(t *testing.T) {
			ctx := context.Background()
			clock := newFakeClock()
			s := attachstoretest.New(t, attachstore.WithClock(clock.Now))
			var orphans, live []attachstore.ID
			for i := range 50 {
				if i%5 < 3 {
					orphans = append(orphans, mustPut(t, s.Session("gone"), fmt.Sprint("orphan ", i)))
				} else {
					live = append(live, mustPut(t, s.Session("live"), fmt.Sprint("live ", i)))
				}
			}
			if err := s.DropSession(ctx, "gone"); err != nil {
				t.Fatal(err)
			}
			if err := s.Session("live").Commit(ctx); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
			dry := mustReclaim(t, s, attachstore.ReclaimPolicy{DryRun: true, BatchSize: batch})
			rep := mustReclaim(t, s, attachstore.ReclaimPolicy{BatchSize: batch})
			if dry.ReclaimedBlobs != len(orphans) || rep.ReclaimedBlobs != len(orphans) || rep.ReclaimedBytes != dry.ReclaimedBytes {
				t.Errorf("dry run %+v, Reclaim %+v; want %d blobs each", dry, rep, len(orphans))
			}
			for _, id := range orphans {
				if exists(t, s, id) {
					t.Errorf("orphan %s survived", id)
				}
			}
			for _, id := range live {
				if !exists(t, s, id) {
					t.Errorf("live blob %s was reclaimed", id)
				}
			}
		})
	}
}

func TestReclaimDryRunCountsBlobsOfExpiringIntents(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := attachstoretest.New(t, attachstore.WithClock(clock.Now))
	ss := s.Session("crashed")
	id := mustPut(t, ss, "only an intent holds me")
	kept := mustPut(t, s.Session("live"), "committed elsewhere")
	if err := s.Session("live").Commit(ctx); err != nil {
		t.Fatal(err)
	}
	mustPut(t, ss, "committed elsewhere") // an expiring intent on a blob a commit keeps
	clock.Advance(time.Hour)
	dry := mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Minute, DryRun: true})
	want := attachstore.ReclaimReport{ExpiredIntents: 2, ReclaimedBlobs: 1, ReclaimedBytes: int64(len("only an intent holds me"))}
	if dry != want {
		t.Errorf("dry run = %+v, want %+v", dry, want)
	}
	if !exists(t, s, id) {
		t.Fatal("dry run deleted a blob")
	}
	real := mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Minute})
	if real != want {
		t.Errorf("real run = %+v, want the dry run's %+v", real, want)
	}
	if exists(t, s, id) || !exists(t, s, kept) {
		t.Errorf("after reclaim: orphan exists %v, committed exists %v", exists(t, s, id), exists(t, s, kept))
	}
}

func TestReclaimInvalidPolicy(t *testing.T) {
	s := attachstoretest.New(t)
	for _, p := range []attachstore.ReclaimPolicy{{Grace: -time.Second}, {BatchSize: -1}, {VacuumAt: -1}, {VacuumAt: 1.5}, {VacuumAt: math.NaN()}} {
		if _, err := s.Reclaim(context.Background(), p); !errors.Is(err, attachstore.ErrInvalidPolicy) {
			t.Errorf("Reclaim(%+v) err = %v, want ErrInvalidPolicy", p, err)
		}
	}
}

func TestReclaimGivesDiskBack(t *testing.T) {
	ctx := context.Background()
	s := attachstoretest.NewFile(t, attachstore.WithSync(attachstore.SyncNormal))
	ss := s.Session("big")
	const total, each = 100 << 20, 1 << 20
	buf := make([]byte, each)
	for range total / each {
		rand.Read(buf)
		if _, err := ss.Put(ctx, buf, attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DropSession(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	// Reopen so the last connection's close checkpoints the WAL away and
	// the main file alone holds the 100 MiB.
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := attachstore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := mainFileSize(t, path)
	rep := mustReclaim(t, s, attachstore.ReclaimPolicy{})
	after := mainFileSize(t, path)
	t.Logf("file %d -> %d bytes; report %+v", before, after, rep)
	if rep.ReclaimedBlobs != total/each {
		t.Errorf("reclaimed %d blobs, want %d", rep.ReclaimedBlobs, total/each)
	}
	if before-after < 80<<20 {
		t.Errorf("file shrank by %d bytes, want at least 80 MiB", before-after)
	}
	if rep.ReturnedBytes < 80<<20 {
		t.Errorf("ReturnedBytes = %d, want at least 80 MiB", rep.ReturnedBytes)
	}
}

// TestReclaimVacuumPolicy checks when Reclaim gives free pages back: once
// they reach VacuumAt of the file, always with 0 (the zero policy), never
// with 1.
// Pages not given back are reported as FreeBytes and reused by later puts.
func TestReclaimVacuumPolicy(t *testing.T) {
	const blobs, size = 40, 64 << 10
	for _, tc := range []struct {
		name     string
		orphans  int
		vacuumAt float64
		givesBak bool
	}{
		{"QuarterSmallShare", 4, 0.25, false},
		{"QuarterLargeShare", 20, 0.25, true},
		{"ZeroSmallShare", 4, 0, true},
		{"NeverLargeShare", 20, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := attachstoretest.NewFile(t)
			buf := make([]byte, size)
			for i := range blobs {
				rand.Read(buf)
				ss := s.Session("keep")
				if i < tc.orphans {
					ss = s.Session("drop")
				}
				if _, err := ss.Put(ctx, buf, attachstore.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Session("keep").Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.DropSession(ctx, "drop"); err != nil {
				t.Fatal(err)
			}
			rep := mustReclaim(t, s, attachstore.ReclaimPolicy{VacuumAt: tc.vacuumAt})
			if rep.ReclaimedBlobs != tc.orphans {
				t.Fatalf("reclaimed %d blobs, want %d", rep.ReclaimedBlobs, tc.orphans)
			}
			orphanBytes := int64(tc.orphans * size)
			if tc.givesBak {
				if rep.ReturnedBytes < orphanBytes || rep.FreeBytes != 0 {
					t.Errorf("report %+v: want at least %d bytes returned and none left free", rep, orphanBytes)
				}
				return
			}
			if rep.ReturnedBytes != 0 || rep.FreeBytes < orphanBytes {
				t.Errorf("report %+v: want nothing returned and at least %d bytes free", rep, orphanBytes)
			}
			// The next puts take the free pages before the file grows.
			pages := func() (n int64) {
				t.Helper()
				if err := s.View(ctx, func(tx *attachstore.Tx) error {
					return tx.SQL().QueryRowContext(ctx, "PRAGMA page_count").Scan(&n)
				}); err != nil {
					t.Fatal(err)
				}
				return n
			}
			before := pages()
			for range tc.orphans / 2 {
				rand.Read(buf)
				if _, err := s.Put(ctx, buf, attachstore.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
			if after := pages(); after > before {
				t.Errorf("the database grew from %d to %d pages while %d free bytes were left", before, after, rep.FreeBytes)
			}
		})
	}
}

func mainFileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestVerifyFindsDamage(t *testing.T) {
	ctx := context.Background()
	s := attachstoretest.NewFile(t, attachstore.WithChunkSize(attachstore.MinChunkSize))
	data := func(c byte) []byte {
		b := make([]byte, 3*attachstore.MinChunkSize+5)
		for i := range b {
			b[i] = c + byte(i%7)
		}
		return b
	}
	var ids []attachstore.ID
	for _, c := range []byte{'a', 'b', 'c', 'd'} {
		ref, err := s.Put(ctx, data(c), attachstore.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ref.ID)
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() || rep.CheckedBlobs != 4 {
		t.Fatalf("Verify on a clean store = %+v, %v", rep, err)
	}
	db := rawDB(t, s.Path())
	pk := func(id attachstore.ID) int64 {
		var pk int64
		if err := db.QueryRow(`SELECT pk FROM attachstore_blobs WHERE id = ?`, id[:]).Scan(&pk); err != nil {
			t.Fatal(err)
		}
		return pk
	}
	damage := []string{
		`UPDATE attachstore_chunks SET data = zeroblob(length(data)) WHERE blob_pk = ? AND seq = 1`, // altered bytes
		`DELETE FROM attachstore_chunks WHERE blob_pk = ? AND seq = 2`,                              // missing chunk
		`INSERT INTO attachstore_chunks (blob_pk, seq, data) VALUES (?, 9, x'00')`,                  // extra chunk
	}
	for i, q := range damage {
		if _, err := db.Exec(q, pk(ids[i])); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rep, err = s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[attachstore.ID]bool{}
	for _, id := range rep.Corrupt {
		got[id] = true
	}
	for i := range damage {
		if !got[ids[i]] {
			t.Errorf("Verify missed damage %q to %s; report %+v", damage[i], ids[i], rep)
		}
	}
	if got[ids[3]] || len(rep.Corrupt) != 3 {
		t.Errorf("Verify flagged %v, want exactly the 3 damaged blobs", rep.Corrupt)
	}
	if rep.OK() {
		t.Error("OK() is true for a damaged store")
	}
}

// TestVerifyFindsStrayChunks puts chunk rows that belong to no blob —
// written with the foreign key off, as a careless hand edit could — before
// the first blob's pk, at a deleted blob's, and after the last: the
// foreign key check reports each.
func TestVerifyFindsStrayChunks(t *testing.T) {
	ctx := context.Background()
	s := attachstoretest.NewFile(t)
	var ids []attachstore.ID
	for i := range 3 {
		ref, err := s.Put(ctx, fmt.Appendf(nil, "blob %d", i), attachstore.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ref.ID)
	}
	if err := s.Delete(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("Verify on a clean store = %+v, %v", rep, err)
	}
	db, err := sql.Open("sqlite3", "file:"+s.Path()+"?_foreign_keys=off&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name string
		pk   string
	}{
		{"BeforeTheFirst", `0`},
		{"AtADeletedBlobsPK", `(SELECT min(pk) FROM attachstore_blobs) + 1`},
		{"AfterTheLast", `(SELECT max(pk) FROM attachstore_blobs) + 5`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := db.Exec(`INSERT INTO attachstore_chunks (blob_pk, seq, data) VALUES (` + tc.pk + `, 0, x'00')`)
			if err != nil {
				t.Fatal(err)
			}
			row, _ := res.LastInsertId()
			t.Cleanup(func() { db.Exec(`DELETE FROM attachstore_chunks WHERE rowid = ?`, row) })
			rep, err := s.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "chunks") || len(rep.Corrupt) != 0 {
				t.Errorf("Verify with a stray chunk at pk %s: %+v; want one problem naming it", tc.pk, rep)
			}
		})
	}
}

// TestReclaimLeavesCommitsSynchronous checks that the writer's connection
// is at the store's synchronous level after Reclaim, whether it finishes or
// its context ends mid-way: a Put after it must be durable.
func TestReclaimLeavesCommitsSynchronous(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel bool
	}{{"Finished", false}, {"Cancelled", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := attachstoretest.NewFile(t)
			if err := s.Update(ctx, func(tx *attachstore.Tx) error {
				for i := range 300 {
					if _, err := tx.Put(ctx, fmt.Appendf(nil, "orphan %d", i), attachstore.Meta{}); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			p := attachstore.ReclaimPolicy{BatchSize: 10, AllowEmptyRoots: true}
			if tc.cancel {
				p.Progress = func(pr attachstore.ReclaimProgress) {
					if pr.Phase == "blobs" {
						cancel()
					}
				}
			}
			rep, err := s.Reclaim(rctx, p)
			if tc.cancel != (err != nil) || rep.ReclaimedBlobs == 0 {
				t.Fatalf("Reclaim: %+v, %v", rep, err)
			}
			var level int
			if err := s.Update(ctx, func(tx *attachstore.Tx) error {
				return tx.SQL().QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level)
			}); err != nil {
				t.Fatal(err)
			}
			if level != 2 {
				t.Errorf("PRAGMA synchronous on the writer after Reclaim = %d, want 2 (FULL)", level)
			}
		})
	}
}

func TestReclaimCancelledMidway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := newFakeClock()
	s := attachstoretest.NewFile(t, attachstore.WithClock(clock.Now))
	if err := s.Update(ctx, func(tx *attachstore.Tx) error {
		for i := range 100 {
			if _, err := tx.Put(ctx, []byte(fmt.Sprint("orphan ", i)), attachstore.Meta{}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	var batches int
	rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{BatchSize: 10, AllowEmptyRoots: true, Progress: func(p attachstore.ReclaimProgress) {
		if p.Phase == "blobs" {
			if batches++; batches == 3 {
				cancel()
			}
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Reclaim err = %v, want context.Canceled", err)
	}
	if rep.ReclaimedBlobs != 30 {
		t.Errorf("reclaimed %d blobs before the cancel, want 30 (3 batches of 10)", rep.ReclaimedBlobs)
	}
	st, err := s.Stats(context.Background())
	if err != nil || st.Blobs != 70 {
		t.Errorf("Stats after cancel = %+v, %v; want 70 blobs left", st, err)
	}
	if v, err := s.Verify(context.Background()); err != nil || !v.OK() {
		t.Errorf("Verify after cancel = %+v, %v", v, err)
	}
}

func TestStatsCounts(t *testing.T) {
	ctx := context.Background()
	s := attachstoretest.NewFile(t)
	a := s.Session("a")
	mustPut(t, a, "one")
	mustPut(t, a, "two")
	mustPut(t, s.Session("b"), "two")
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, []byte("three!"), attachstore.Meta{}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := attachstore.Stats{Blobs: 3, Refs: 3, Sessions: 2, UncommittedRefs: 1, BlobBytes: 3 + 3 + 6, FileBytes: st.FileBytes}
	if st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
	if st.FileBytes <= 0 {
		t.Errorf("FileBytes = %d for a durable store", st.FileBytes)
	}
	if m, err := attachstoretest.New(t).Stats(ctx); err != nil || m.FileBytes != 0 {
		t.Errorf("ephemeral Stats = %+v, %v; want FileBytes 0", m, err)
	}
}

// TestReclaimRacingWriters shows the race that separate blob and reference
// stores cannot close, closed: while Reclaim (Grace 0) deletes thousands of
// orphans, writers re-put the very bytes being reclaimed and put and commit
// new ones. Afterwards every committed ref's bytes are present and hash to
// their id, and no writer saw an error.
func TestReclaimRacingWriters(t *testing.T) {
	rounds, orphans := 50, 20000
	if testing.Short() {
		rounds, orphans = 3, 2000
	}
	ctx := context.Background()
	s := attachstoretest.NewFile(t, attachstore.WithSync(attachstore.SyncNormal))
	payload := func(round, i int) []byte { return []byte(fmt.Sprintf("round %d orphan %d", round, i)) }
	for round := range rounds {
		if err := s.Update(ctx, func(tx *attachstore.Tx) error {
			for i := range orphans {
				if _, err := tx.Put(ctx, payload(round, i), attachstore.Meta{}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var (
			wg        sync.WaitGroup
			done      = make(chan struct{})
			mu        sync.Mutex
			committed = map[attachstore.ID]string{} // id -> session
			errs      []error
		)
		fail := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ss := s.Session(fmt.Sprintf("r%d-w%d", round, w))
				for n := 0; ; n++ {
					select {
					case <-done:
						return
					default:
					}
					// Re-put bytes Reclaim is deleting, through the session, and
					// commit them with a fresh blob in one Update.
					old := payload(round, (n*7919+w*31)%orphans)
					fresh := []byte(fmt.Sprintf("round %d writer %d fresh %d", round, w, n))
					err := s.Update(ctx, func(tx *attachstore.Tx) error {
						ts := tx.Session(ss.ID())
						r1, err := ts.Put(ctx, old, attachstore.Meta{})
						if err != nil {
							return err
						}
						r2, err := ts.Put(ctx, fresh, attachstore.Meta{})
						if err != nil {
							return err
						}
						if err := ts.Commit(ctx, r1.ID, r2.ID); err != nil {
							return err
						}
						mu.Lock()
						committed[r1.ID], committed[r2.ID] = ss.ID(), ss.ID()
						mu.Unlock()
						return nil
					})
					if err != nil {
						fail(fmt.Errorf("writer %d: %w", w, err))
						return
					}
					// A plain content put of reclaimable bytes, too.
					if _, err := s.Put(ctx, payload(round, (n*104729+w)%orphans), attachstore.Meta{}); err != nil {
						fail(fmt.Errorf("writer %d plain put: %w", w, err))
						return
					}
				}
			}()
		}
		rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: 0, BatchSize: 500, AllowEmptyRoots: true})
		close(done)
		wg.Wait()
		if err != nil {
			t.Fatalf("round %d: Reclaim: %v", round, err)
		}
		if len(errs) > 0 {
			t.Fatalf("round %d: writers saw errors: %v", round, errs)
		}
		if rep.ReclaimedBlobs == 0 {
			t.Fatalf("round %d: Reclaim collected nothing: %+v", round, rep)
		}
		for id, sess := range committed {
			a, err := s.Session(sess).Get(ctx, id)
			if err != nil {
				t.Fatalf("round %d: committed %s of session %s lost: %v", round, id, sess, err)
			}
			if attachstore.ContentID(a.Data) != id {
				t.Fatalf("round %d: %s reads back bytes hashing to %s", round, id, attachstore.ContentID(a.Data))
			}
		}
		if round == 0 || round == rounds-1 {
			t.Logf("round %d: reclaimed %d blobs while writers committed %d refs", round, rep.ReclaimedBlobs, len(committed))
		}
	}
	if v, err := s.Verify(ctx); err != nil || !v.OK() {
		t.Fatalf("Verify after the race = %+v, %v", v, err)
	}
}

// TestReclaimCountsOnlyWhatItDeleted takes back one orphan (a session puts
// its bytes again) after Reclaim has scanned it but before its delete, in
// the middle of a multi-blob delete statement: that blob must survive, and
// the report must count the others, and their sizes, exactly.
func TestReclaimCountsOnlyWhatItDeleted(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := attachstoretest.NewFile(t, attachstore.WithClock(clock.Now))
	var data [][]byte
	var ids []attachstore.ID
	var total int64
	for i := range 12 {
		b := bytes.Repeat([]byte{byte('a' + i)}, 100+i) // sizes differ
		data = append(data, b)
		ids = append(ids, mustPut(t, s.Session("gone"), string(b)))
		total += int64(len(b))
	}
	if err := s.DropSession(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	const taken = 8 // in the second batch: candidates are deleted in put order
	var putErr error
	rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: time.Second, BatchSize: 6, Progress: func(p attachstore.ReclaimProgress) {
		if p.Phase == "blobs" && p.ReclaimedBlobs == 6 {
			_, putErr = s.Session("keeps").Put(ctx, data[taken], attachstore.Meta{})
		}
	}})
	if err != nil || putErr != nil {
		t.Fatalf("Reclaim: %v; put during it: %v", err, putErr)
	}
	if want := int64(len(data[taken])); rep.ReclaimedBlobs != 11 || rep.ReclaimedBytes != total-want {
		t.Errorf("report %+v, want 11 blobs of %d bytes", rep, total-want)
	}
	for i, id := range ids {
		if got := exists(t, s, id); got != (i == taken) {
			t.Errorf("blob %d exists = %v after Reclaim", i, got)
		}
	}
}

// TestReclaimWaitsForAnotherWriter holds the write lock from another
// connection, as another process would, for longer than the busy timeout
// while Reclaim has blobs to delete: Reclaim waits for it, and when its
// context ends first it stops with the context's error, having deleted
// nothing.
func TestReclaimWaitsForAnotherWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel bool
	}{{"LockReleased", false}, {"Cancelled", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := attachstoretest.NewFile(t, attachstore.WithBusyTimeout(20*time.Millisecond))
			var ids []attachstore.ID
			for i := range 5 {
				ids = append(ids, mustPut(t, s.Session("gone"), fmt.Sprint("orphan ", i)))
			}
			if err := s.DropSession(ctx, "gone"); err != nil {
				t.Fatal(err)
			}
			other, err := sql.Open("sqlite3", "file:"+s.Path()+"?_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			var holder *sql.Tx
			var holdErr error
			released := make(chan struct{})
			p := attachstore.ReclaimPolicy{Progress: func(p attachstore.ReclaimProgress) {
				if p.Phase != "intents" || holder != nil || holdErr != nil {
					return
				}
				// Between the intents and the blobs: take the write lock
				// and keep it for ten busy timeouts.
				if holder, holdErr = other.BeginTx(context.Background(), nil); holdErr != nil {
					return
				}
				go func() {
					defer close(released)
					time.Sleep(200 * time.Millisecond)
					if tc.cancel {
						cancel()
						time.Sleep(50 * time.Millisecond)
					}
					_ = holder.Rollback()
				}()
			}}
			rep, err := s.Reclaim(ctx, p)
			if holdErr != nil || holder == nil {
				t.Fatalf("taking the write lock: %v", holdErr)
			}
			<-released
			if tc.cancel {
				if !errors.Is(err, context.Canceled) || rep.ReclaimedBlobs != 0 {
					t.Fatalf("Reclaim = %+v, %v; want nothing reclaimed and context.Canceled", rep, err)
				}
				for _, id := range ids {
					if !exists(t, s, id) {
						t.Errorf("orphan %s deleted by a cancelled Reclaim", id)
					}
				}
				return
			}
			if err != nil || rep.ReclaimedBlobs != len(ids) {
				t.Fatalf("Reclaim = %+v, %v; want %d blobs reclaimed", rep, err, len(ids))
			}
		})
	}
}
