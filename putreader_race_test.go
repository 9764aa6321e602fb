package attachstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/internal/storetest"
)

// TestPutReaderLosesADeadlockCleanly: on PostgreSQL a transaction that
// loses a deadlock runs again, but PutReader's input was read by the
// attempt that lost. A host transaction here touches a blob, a session's
// PutReader of the same bytes locks its session, streams them and waits
// for the blob's row, then the host waits for the session: the server
// aborts the PutReader, which waited first. PutReader must then say it
// lost (ErrConflict) and store nothing, not hash what is left of its input
// (nothing) and hand back the empty blob's ref with a nil error.
func TestPutReaderLosesADeadlockCleanly(t *testing.T) {
	u := storetest.PostgresSchema(t)
	s := openForTest(t, u, attachstore.WithChunkSize(attachstore.MinChunkSize))
	watch, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	ctx := t.Context()
	// The server aborts the transaction whose deadlock check runs first,
	// which is nearly always the PutReader (it waited first); on a loaded
	// machine it may be the host's, and then the round proves nothing.
	for round := range 5 {
		data := make([]byte, 3*attachstore.MinChunkSize+5)
		rand.Read(data)
		if _, err := s.Put(ctx, data, attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
		hostLost, err := putReaderDeadlock(t, s, watch, data)
		if hostLost {
			t.Logf("round %d: the server aborted the host's transaction instead; again", round)
			continue
		}
		if !errors.Is(err, attachstore.ErrConflict) {
			t.Fatalf("PutReader that lost a deadlock = %v, want ErrConflict", err)
		}
		if _, err := s.Stat(ctx, attachstore.ContentID(nil)); !errors.Is(err, attachstore.ErrNotFound) {
			t.Errorf("Stat of the empty blob after the lost PutReader = %v, want ErrNotFound", err)
		}
		if held, err := s.HoldsRef(ctx, "chat", attachstore.ContentID(data)); err != nil || held {
			t.Errorf("HoldsRef after the lost PutReader = %v, %v; want false", held, err)
		}
		return
	}
	t.Skip("the server aborted the host's transaction in every round")
}

// putReaderDeadlock runs one round of the deadlock and says whether the
// server aborted the host's transaction rather than the PutReader.
func putReaderDeadlock(t *testing.T, s *attachstore.Store, watch *sql.DB, data []byte) (hostLost bool, putErr error) {
	ctx := t.Context()
	locked, putWaits := make(chan struct{}), make(chan struct{})
	var host sync.WaitGroup
	host.Go(func() {
		err := s.Update(ctx, func(tx *attachstore.Tx) error {
			if isClosed(locked) {
				hostLost = true
				return nil // the server chose this one
			}
			if _, err := tx.Put(ctx, data, attachstore.Meta{}); err != nil { // locks the blob's row
				return err
			}
			close(locked)
			select {
			case <-putWaits:
			case <-ctx.Done():
				return ctx.Err()
			}
			_, err := tx.Session("chat").Put(ctx, []byte("the host's own"), attachstore.Meta{}) // waits for the session
			return err
		})
		if err != nil {
			t.Errorf("the host's transaction: %v", err)
		}
	})
	<-locked
	wctx, stopWatching := context.WithCancel(ctx)
	go func() {
		defer close(putWaits)
		for {
			var n int
			err := watch.QueryRowContext(wctx, `SELECT count(*) FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND query LIKE '%attachstore_blobs%'`).Scan(&n)
			if err != nil || n > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	_, putErr = s.Session("chat").PutReader(ctx, bytes.NewReader(data), attachstore.Meta{})
	stopWatching()
	host.Wait()
	return hostLost, putErr
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
