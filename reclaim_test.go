package attachstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachstoretest"
	"github.com/attachstore/attachstore/internal/storetest"
)

// diskSize is the size of a store's file and its -wal file together, as
// ReclaimReport.ReturnedBytes and Stats.FileBytes count them.
func diskSize(t testing.TB, path string) int64 {
	t.Helper()
	n := mainFileSize(t, path)
	if fi, err := os.Stat(path + "-wal"); err == nil {
		n += fi.Size()
	}
	return n
}

// TestReclaimReturnedBytesIsTheShrink: ReturnedBytes is what the files
// gave back, never more than they held. Issue 29 saw a store of 53,067,776
// bytes shrink to 229,376 reported as 53,183,000 returned: the WAL that
// Reclaim's own deletes wrote was counted as given back.
func TestReclaimReturnedBytesIsTheShrink(t *testing.T) {
	const blobs, size = 40, 256 << 10
	for _, tc := range []struct {
		name     string
		dropped  int
		vacuumAt float64
		gives    bool // whether the files must shrink at all
	}{
		{"Emptied", blobs, 0, true},
		{"HalfEmptied", blobs / 2, 0, true},
		{"EmptiedNeverVacuum", blobs, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := attachstoretest.NewFile(t)
			buf := make([]byte, size)
			for i := range blobs {
				rand.Read(buf)
				ss := s.Session("keep")
				if i < tc.dropped {
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
			// Reopened, so that the main file holds everything and no WAL
			// is left over from the puts: what the files hold as Reclaim
			// starts is then what the test measures.
			path := s.Path()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := attachstore.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			before := diskSize(t, path)
			rep := mustReclaim(t, s, attachstore.ReclaimPolicy{VacuumAt: tc.vacuumAt})
			after := diskSize(t, path)
			t.Logf("files %d -> %d bytes; report %+v", before, after, rep)
			if rep.ReclaimedBlobs != tc.dropped {
				t.Fatalf("reclaimed %d blobs, want %d", rep.ReclaimedBlobs, tc.dropped)
			}
			if rep.ReturnedBytes > before {
				t.Errorf("ReturnedBytes = %d, more than the %d bytes the files held", rep.ReturnedBytes, before)
			}
			if want := max(0, before-after); rep.ReturnedBytes != want {
				t.Errorf("ReturnedBytes = %d, want the shrink measured on disk: %d - %d = %d",
					rep.ReturnedBytes, before, after, want)
			}
			if tc.gives && before-after < int64(tc.dropped*size)*3/4 {
				t.Errorf("the files shrank by %d bytes, want most of the %d reclaimed", before-after, tc.dropped*size)
			}
			if !tc.gives && rep.ReturnedBytes != 0 {
				t.Errorf("ReturnedBytes = %d with VacuumAt 1, want 0", rep.ReturnedBytes)
			}
			st, err := s.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.FileBytes != after {
				t.Errorf("Stats.FileBytes = %d, want the %d bytes on disk", st.FileBytes, after)
			}
		})
	}
}

// TestReclaimRacingARefOnPostgres: on PostgreSQL a ref committed while
// Reclaim's delete waits for the blob's row makes the delete fail its
// foreign key (23503) although its NOT EXISTS saw no ref; Reclaim retries
// the batch, keeps the blob and reports nothing reclaimed. The ref is
// written by hand, inside an Update, so that the blob's row is locked by
// the foreign key's check alone (a put would touch the row, and the
// delete's recheck of touched_at would skip it without the race).
func TestReclaimRacingARefOnPostgres(t *testing.T) {
	ctx := context.Background()
	u := storetest.PostgresSchema(t)
	s := openForTest(t, u)
	ref, err := s.Put(ctx, []byte("raced"), attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()

	inserted, release, updated := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		updated <- s.Update(ctx, func(tx *attachstore.Tx) error {
			_, err := tx.SQL().ExecContext(ctx, `INSERT INTO attachstore_refs (session_id, blob_id, owner, committed_at,
				intent_at, media_type, label, blob_pk, size, chunk_size, created_at)
				SELECT 'chat', id, '', 1, 1, media_type, label, pk, size, chunk_size, created_at
				FROM attachstore_blobs WHERE id = $1`, ref.ID[:])
			close(inserted)
			<-release
			return err
		})
	}()
	<-inserted
	type result struct {
		rep attachstore.ReclaimReport
		err error
	}
	reclaimed := make(chan result, 1)
	go func() {
		rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{AllowEmptyRoots: true})
		reclaimed <- result{rep, err}
	}()
	// Until Reclaim's delete waits for the row the Update's insert locked.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := watch.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("Reclaim never waited for the blob's row")
		}
	}
	close(release)
	if err := <-updated; err != nil {
		t.Fatalf("Update: %v", err)
	}
	r := <-reclaimed
	if r.err != nil || r.rep.ReclaimedBlobs != 0 {
		t.Fatalf("Reclaim racing a ref: %+v, %v; want nothing reclaimed and no error", r.rep, r.err)
	}
	if _, err := s.Session("chat").Get(ctx, ref.ID); err != nil {
		t.Errorf("the raced blob: %v", err)
	}
}
