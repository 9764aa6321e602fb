package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

// testTx covers Update and View: invariant 5 (the host's rows, new blobs
// and commit stamps commit together or not at all), rollback by error and
// by panic, Store methods called inside a transaction, and read-only View.
func testTx(t *testing.T, h Harness) {
	t.Run("CommitsTogether", func(t *testing.T) { testCommitsTogether(t, h) })
	t.Run("AtomicToReaders", func(t *testing.T) { testAtomicToReaders(t, h) })
	t.Run("RollbackOnError", func(t *testing.T) { testRollback(t, h, false) })
	t.Run("RollbackOnPanic", func(t *testing.T) { testRollback(t, h, true) })
	t.Run("FailedCallLeavesNothing", func(t *testing.T) { testFailedCallInTx(t, h) })
	t.Run("SeesOwnWrites", func(t *testing.T) { testSeesOwnWrites(t, h) })
	t.Run("StoreInsideTx", func(t *testing.T) { testStoreInsideTx(t, h) })
	t.Run("ViewIsReadOnly", func(t *testing.T) { testViewReadOnly(t, h) })
	t.Run("UsedAfterReturn", func(t *testing.T) { testTxAfterReturn(t, h) })
}

// The host's own table, as an agent runtime would keep its turns.
const (
	hostTable      = `CREATE TABLE IF NOT EXISTS host_turns (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, attachment TEXT NOT NULL)`
	hostInsert     = `INSERT INTO host_turns (id, session_id, attachment) VALUES (?, ?, ?)`
	hostCount      = `SELECT count(*) FROM host_turns`
	hostAttachment = `SELECT attachment FROM host_turns WHERE id = ?`
)

func createHostTable(t testing.TB, s *attachstore.Store) {
	t.Helper()
	exec(t, s, hostTable)
}

func hostInsertTx(tx *attachstore.Tx, turn, session string, id attachstore.ID) error {
	_, err := tx.SQL().Exec(tx.SQL().Rebind(hostInsert), turn, session, id.String())
	return err
}

func testCommitsTogether(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	createHostTable(t, s)
	small, big := []byte("turn-1 image"), content(181, 3*chunk+2)
	var r1, r2 attachstore.Ref
	err := s.Update(t.Context(), func(tx *attachstore.Tx) (err error) {
		ss := tx.Session("s").WithOwner("turn-1")
		if r1, err = ss.Put(t.Context(), small, attachstore.Meta{MediaType: "image/png"}); err != nil {
			return err
		}
		if r2, err = ss.PutReader(t.Context(), readerOf(big), attachstore.Meta{}); err != nil {
			return err
		}
		if err := hostInsertTx(tx, "turn-1", "s", r1.ID); err != nil {
			return err
		}
		got, err := tx.Session("s").CommitOwned(t.Context(), "turn-1")
		if err == nil && !slices.Equal(got, []attachstore.ID{r1.ID, r2.ID}) {
			err = fmt.Errorf("CommitOwned(turn-1) = %v, want [%s %s]", got, r1.ID, r2.ID)
		}
		return err
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if n := count(t, s, hostCount); n != 1 {
		t.Errorf("%d host rows, want 1", n)
	}
	es := refs(t, s, "s")
	if len(es) != 2 {
		t.Fatalf("session s holds %d refs, want 2", len(es))
	}
	for _, e := range es {
		if !e.Committed() || e.Owner != "turn-1" {
			t.Errorf("ref %s: committed %v, owner %q; want committed by turn-1", e.ID, e.CommittedAt, e.Owner)
		}
	}
	for _, c := range []struct {
		id   attachstore.ID
		data []byte
	}{{r1.ID, small}, {r2.ID, big}} {
		if a, err := s.Session("s").Get(t.Context(), c.id); err != nil || !bytes.Equal(a.Data, c.data) {
			t.Errorf("Session.Get(%s) after Update = %d bytes, %v", c.id, len(a.Data), err)
		}
	}
}

// Invariant 5, seen from a reader: no snapshot shows a host row without
// its committed attachment, or an attachment of the turn uncommitted.
func testAtomicToReaders(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	createHostTable(t, s)
	const turns = 30
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range turns {
			turn := fmt.Sprintf("turn-%d", i)
			err := s.Update(t.Context(), func(tx *attachstore.Tx) error {
				ss := tx.Session("s").WithOwner(turn)
				ref, err := ss.PutReader(t.Context(), readerOf(content(uint64(i), chunk+i)), attachstore.Meta{})
				if err != nil {
					return err
				}
				if err := hostInsertTx(tx, turn, "s", ref.ID); err != nil {
					return err
				}
				_, err = tx.Session("s").CommitOwned(t.Context(), turn)
				return err
			})
			if err != nil {
				t.Errorf("turn %d: %v", i, err)
				return
			}
		}
	})
	observed := 0
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			err := s.View(t.Context(), func(tx *attachstore.Tx) error {
				var atts []string
				if err := tx.SQL().Select(&atts, `SELECT attachment FROM host_turns`); err != nil {
					return err
				}
				var committed, uncommitted int
				if err := tx.SQL().Get(&committed, `SELECT count(*) FROM attachstore_refs WHERE committed_at IS NOT NULL`); err != nil {
					return err
				}
				if err := tx.SQL().Get(&uncommitted, `SELECT count(*) FROM attachstore_refs WHERE committed_at IS NULL`); err != nil {
					return err
				}
				if committed != len(atts) || uncommitted != 0 {
					return fmt.Errorf("a snapshot holds %d host rows, %d committed and %d uncommitted refs", len(atts), committed, uncommitted)
				}
				for _, a := range atts {
					id, err := attachstore.ParseID(a)
					if err != nil {
						return err
					}
					if _, err := tx.Session("s").Get(t.Context(), id); err != nil {
						return fmt.Errorf("a host row names %s, which the session cannot read: %w", id, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			observed++
		}
	})
	within(t, time.Minute, "Updates with a concurrent observer", wg.Wait)
	if n := count(t, s, hostCount); n != turns {
		t.Errorf("%d host rows, want %d", n, turns)
	}
	t.Logf("%d snapshots observed", observed)
}

// testRollback fails an Update that wrote a host row, blobs, refs, commit
// stamps and a ref delete, by error or by panic, and checks that none of it
// is left and that the store goes on working on the same goroutine.
func testRollback(t *testing.T, h Harness, panics bool) {
	s := h.Open(t, smallChunks)
	createHostTable(t, s)
	ss := s.Session("s")
	pendingRef := mustSessionPut(t, ss, []byte("pending before"), attachstore.Meta{})
	committedRef := mustSessionPut(t, ss, []byte("committed before"), attachstore.Meta{})
	if err := ss.Commit(t.Context(), committedRef.ID); err != nil {
		t.Fatal(err)
	}
	before := state(t, s, "s", "other")
	chunks := chunkRows(t, s)

	errBoom := errors.New("storetest: the turn failed")
	type boom struct{ msg string }
	var newIDs []attachstore.ID
	fn := func(tx *attachstore.Tx) error {
		r1, err := tx.Session("s").Put(t.Context(), []byte("new in turn"), attachstore.Meta{})
		if err != nil {
			return err
		}
		r2, err := tx.Session("other").PutReader(t.Context(), readerOf(content(191, 3*chunk+1)), attachstore.Meta{})
		if err != nil {
			return err
		}
		r3, err := tx.Put(t.Context(), []byte("content only"), attachstore.Meta{})
		if err != nil {
			return err
		}
		newIDs = []attachstore.ID{r1.ID, r2.ID, r3.ID}
		if err := hostInsertTx(tx, "turn-1", "s", r1.ID); err != nil {
			return err
		}
		if err := tx.Session("s").Commit(t.Context()); err != nil {
			return err
		}
		if err := tx.Session("s").Delete(t.Context(), committedRef.ID); err != nil {
			return err
		}
		if panics {
			panic(boom{"the host panicked"})
		}
		return errBoom
	}

	var (
		err       error
		recovered any
	)
	func() {
		defer func() { recovered = recover() }()
		err = s.Update(t.Context(), fn)
	}()
	if panics {
		if b, ok := recovered.(boom); !ok || b.msg != "the host panicked" {
			t.Fatalf("Update's panic did not go on unchanged: recovered %#v (err %v)", recovered, err)
		}
	} else {
		if recovered != nil {
			t.Fatalf("Update panicked: %v", recovered)
		}
		if !errors.Is(err, errBoom) {
			t.Fatalf("Update = %v, want the function's error", err)
		}
	}
	if len(newIDs) != 3 {
		t.Fatalf("the function did not run to the end")
	}

	checkUnchanged(t, "a rolled-back Update", before, state(t, s, "s", "other"))
	for _, id := range newIDs {
		if _, err := s.Stat(t.Context(), id); !errors.Is(err, attachstore.ErrNotFound) {
			t.Errorf("blob %s put in the rolled-back Update: Stat = %v, want ErrNotFound", id, err)
		}
	}
	if n := count(t, s, hostCount); n != 0 {
		t.Errorf("%d host rows after the rolled-back Update, want 0", n)
	}
	if n := count(t, s, `SELECT count(*) FROM attachstore_refs`); n != 2 {
		t.Errorf("%d ref rows after the rolled-back Update, want the 2 from before", n)
	}
	if n := chunkRows(t, s); n != chunks {
		t.Errorf("%d chunk rows after the rolled-back Update, want %d", n, chunks)
	}
	if p := pending(t, s, "s"); !slices.Equal(p, []attachstore.ID{pendingRef.ID}) {
		t.Errorf("Pending = %v, want [%s]: the commit stamp was rolled back with the rest", p, pendingRef.ID)
	}
	// The same goroutine may use the Store again: it is no longer inside
	// a transaction.
	if _, err := s.Put(t.Context(), []byte("after"), attachstore.Meta{}); err != nil {
		t.Errorf("Put after the rolled-back Update = %v", err)
	}
	if err := s.Update(t.Context(), func(tx *attachstore.Tx) error {
		return hostInsertTx(tx, "turn-2", "s", pendingRef.ID)
	}); err != nil {
		t.Errorf("Update after the rolled-back one = %v", err)
	}
}

// A Tx call that fails leaves nothing of itself in the transaction, so a
// host that handles the error and commits the rest stores no half-written
// blob.
func testFailedCallInTx(t *testing.T, h Harness) {
	errBoom := errors.New("storetest: the input broke")
	failing := func() io.Reader {
		return io.MultiReader(bytes.NewReader(content(201, 2*chunk+10)), &errAfter{err: errBoom})
	}
	for _, c := range []struct {
		name string
		opts []attachstore.Option
		call func(tx *attachstore.Tx) error
		want error
	}{
		{"PutReaderInputFails", nil, func(tx *attachstore.Tx) error {
			_, err := tx.PutReader(t.Context(), failing(), attachstore.Meta{})
			return err
		}, errBoom},
		{"SessionPutReaderInputFails", nil, func(tx *attachstore.Tx) error {
			_, err := tx.Session("s").PutReader(t.Context(), failing(), attachstore.Meta{})
			return err
		}, errBoom},
		{"PutReaderTooLarge", []attachstore.Option{attachstore.WithMaxBlobSize(2 * chunk)}, func(tx *attachstore.Tx) error {
			_, err := tx.PutReader(t.Context(), readerOf(content(202, 3*chunk)), attachstore.Meta{})
			return err
		}, attachstore.ErrTooLarge},
		{"SessionPutReaderTooLarge", []attachstore.Option{attachstore.WithMaxBlobSize(2 * chunk)}, func(tx *attachstore.Tx) error {
			_, err := tx.Session("s").PutReader(t.Context(), readerOf(content(203, 3*chunk)), attachstore.Meta{})
			return err
		}, attachstore.ErrTooLarge},
		{"CommitNotHeld", nil, func(tx *attachstore.Tx) error {
			return tx.Session("s").Commit(t.Context(), attachstore.ContentID([]byte("x")))
		}, attachstore.ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := h.Open(t, append([]attachstore.Option{smallChunks}, c.opts...)...)
			mustPut(t, s, []byte("kept"), attachstore.Meta{})
			before := state(t, s, "s")
			chunks := chunkRows(t, s)
			var kept attachstore.Ref
			err := s.Update(t.Context(), func(tx *attachstore.Tx) (err error) {
				if err := c.call(tx); !errors.Is(err, c.want) {
					return fmt.Errorf("the failing call = %v, want %v", err, c.want)
				}
				// The host handles the error and goes on.
				kept, err = tx.Put(t.Context(), []byte("the rest of the turn"), attachstore.Meta{})
				return err
			})
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			after := listAll(t, s)
			if len(after) != 2 || after[1].ID != kept.ID {
				t.Errorf("after an Update that handled a failed call: List = %v, want the kept blob and %s\nbefore:\n%s", ids(after), kept.ID, before)
			}
			if n := chunkRows(t, s); n != chunks+1 {
				t.Errorf("%d chunk rows, want %d: the failed call left chunks behind", n, chunks+1)
			}
			if es := refs(t, s, "s"); len(es) != 0 {
				t.Errorf("session s holds %d refs, want 0", len(es))
			}
		})
	}
}

// errAfter is a reader that fails at once.
type errAfter struct{ err error }

func (e *errAfter) Read([]byte) (int, error) { return 0, e.err }

func testSeesOwnWrites(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	small, big := []byte("seen inside"), content(211, 2*chunk+1)
	err := s.Update(t.Context(), func(tx *attachstore.Tx) error {
		ctx := t.Context()
		r1, err := tx.Put(ctx, small, attachstore.Meta{Label: "one"})
		if err != nil {
			return err
		}
		if a, err := tx.Get(ctx, r1.ID); err != nil || !bytes.Equal(a.Data, small) {
			return fmt.Errorf("tx.Get of a blob put in the same Update = %q, %v", a.Data, err)
		}
		if st, err := tx.Stat(ctx, r1.ID); err != nil || st.Label != "one" {
			return fmt.Errorf("tx.Stat = %+v, %v", st, err)
		}
		ss := tx.Session("s")
		r2, err := ss.PutReader(ctx, readerOf(big), attachstore.Meta{Label: "two"})
		if err != nil {
			return err
		}
		if a, err := ss.Get(ctx, r2.ID); err != nil || !bytes.Equal(a.Data, big) || a.Label != "two" {
			return fmt.Errorf("tx.Session.Get = %d bytes %q, %v", len(a.Data), a.Label, err)
		}
		r, err := ss.NewReader(ctx, r2.ID)
		if err != nil {
			return err
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, big) {
			return fmt.Errorf("tx.Session.NewReader read %d bytes, %v", len(got), err)
		}
		if p, err := ss.Pending(ctx); err != nil || !slices.Equal(p, []attachstore.ID{r2.ID}) {
			return fmt.Errorf("tx.Session.Pending = %v, %v", p, err)
		}
		if err := ss.Commit(ctx); err != nil {
			return err
		}
		if es, err := ss.Refs(ctx); err != nil || len(es) != 1 || !es[0].Committed() {
			return fmt.Errorf("tx.Session.Refs after Commit = %+v, %v", es, err)
		}
		if err := tx.Delete(ctx, r1.ID); err != nil {
			return err
		}
		if _, err := tx.Stat(ctx, r1.ID); !errors.Is(err, attachstore.ErrNotFound) {
			return fmt.Errorf("tx.Stat after tx.Delete = %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if all := listAll(t, s); len(all) != 1 {
		t.Errorf("List after the Update = %v, want one blob", ids(all))
	}
}

// testStoreInsideTx: nothing stops a Store method called while an Update
// or View function runs, and none waits past its own ctx. One that needs
// what the transaction holds (on an Ephemeral store, its one connection;
// on SQLite, the writer during Update) returns ctx's error when ctx ends,
// whichever goroutine calls it, and the transaction goes on to commit or
// roll back as its function says. On a Durable store the Store's reads
// work inside View.
func testStoreInsideTx(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	data := content(221, 3*chunk+1)
	known := mustSessionPut(t, s.Session("allops"), data, attachstore.Meta{})
	durable := h.Persistence == attachstore.Durable
	// short bounds the calls that may wait for the transaction around them.
	short := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(t.Context(), 50*time.Millisecond)
	}

	t.Run("GetInsideView", func(t *testing.T) {
		within(t, 30*time.Second, "Store.Get inside View", func() {
			err := s.View(t.Context(), func(tx *attachstore.Tx) error {
				ctx, cancel := t.Context(), context.CancelFunc(func() {})
				if !durable {
					ctx, cancel = short()
				}
				defer cancel()
				a, err := s.Get(ctx, known.ID)
				switch {
				case durable && (err != nil || !bytes.Equal(a.Data, data)):
					t.Errorf("Store.Get inside View = %d bytes, %v; want the content", len(a.Data), err)
				case !durable && !errors.Is(err, context.DeadlineExceeded):
					t.Errorf("Store.Get inside View of an Ephemeral store = %v, want context.DeadlineExceeded", err)
				}
				_, err = tx.Stat(t.Context(), known.ID)
				return err
			})
			if err != nil {
				t.Errorf("View: %v", err)
			}
		})
	})

	t.Run("PutInsideUpdate", func(t *testing.T) {
		errFn := errors.New("storetest: fn failed")
		for i, fail := range []bool{false, true} {
			staged := content(uint64(222+i), chunk+i)
			outside := content(uint64(224+i), chunk+i)
			var outsideErr error
			within(t, 30*time.Second, "Store.Put inside Update", func() {
				err := s.Update(t.Context(), func(tx *attachstore.Tx) error {
					if _, err := tx.Session("inside").Put(t.Context(), staged, attachstore.Meta{}); err != nil {
						return err
					}
					ctx, cancel := short()
					defer cancel()
					// From a goroutine of fn's, as a host's worker would.
					done := make(chan error)
					go func() {
						_, err := s.Put(ctx, outside, attachstore.Meta{})
						done <- err
					}()
					outsideErr = <-done
					if fail {
						return errFn
					}
					return nil
				})
				if fail && !errors.Is(err, errFn) || !fail && err != nil {
					t.Errorf("Update (fn fails: %v) = %v", fail, err)
				}
			})
			// SQLite has one writer, which the Update holds; PostgreSQL's
			// writers run side by side.
			if outsideErr != nil && !errors.Is(outsideErr, context.DeadlineExceeded) {
				t.Errorf("Store.Put inside Update = %v, want nil or context.DeadlineExceeded", outsideErr)
			}
			held, err := s.HoldsRef(t.Context(), "inside", attachstore.ContentID(staged))
			if err != nil || held == fail {
				t.Errorf("after an Update whose fn failed (%v), the session holds what fn put: %v, %v", fail, held, err)
			}
		}
	})

	t.Run("EveryMethod", func(t *testing.T) {
		for _, kind := range []struct {
			name string
			run  func(fn func(*attachstore.Tx) error) error
		}{
			{"Update", func(fn func(*attachstore.Tx) error) error { return s.Update(t.Context(), fn) }},
			{"View", func(fn func(*attachstore.Tx) error) error { return s.View(t.Context(), fn) }},
		} {
			// A call that waited past its ctx fails the test rather than
			// hanging it.
			within(t, 60*time.Second, "Store methods inside "+kind.name, func() {
				err := kind.run(func(tx *attachstore.Tx) error {
					for _, o := range allOps(s, known.ID, nil) {
						ctx, cancel := short()
						err := o.call(ctx)
						cancel()
						if !durable && !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("%s inside %s of an Ephemeral store = %v, want context.DeadlineExceeded", o.name, kind.name, err)
						}
					}
					// The calls above may have deleted known (where they ran).
					_, err := tx.Session("inside").Refs(t.Context())
					return err
				})
				if err != nil {
					t.Errorf("%s: %v", kind.name, err)
				}
			})
		}
		ref, err := s.Put(t.Context(), []byte("after"), attachstore.Meta{})
		if err != nil {
			t.Fatalf("Put after the transactions: %v", err)
		}
		if a, err := s.Get(t.Context(), ref.ID); err != nil || string(a.Data) != "after" {
			t.Errorf("Get after the transactions = %q, %v", a.Data, err)
		}
	})
}

func testViewReadOnly(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	createHostTable(t, s)
	known := mustSessionPut(t, s.Session("s"), content(231, 2*chunk+1), attachstore.Meta{})
	before := state(t, s, "s")
	err := s.View(t.Context(), func(tx *attachstore.Tx) error {
		ctx := t.Context()
		ss := tx.Session("s")
		writes := map[string]error{}
		_, writes["Put"] = tx.Put(ctx, []byte("no"), attachstore.Meta{})
		_, writes["PutReader"] = tx.PutReader(ctx, readerOf(content(232, 2*chunk)), attachstore.Meta{})
		writes["Delete"] = tx.Delete(ctx, known.ID)
		_, writes["Session.Put"] = ss.Put(ctx, []byte("no"), attachstore.Meta{})
		_, writes["Session.PutReader"] = ss.PutReader(ctx, readerOf([]byte("no")), attachstore.Meta{})
		writes["Session.Delete"] = ss.Delete(ctx, known.ID)
		writes["Session.Commit"] = ss.Commit(ctx)
		writes["Session.CommitIDs"] = ss.Commit(ctx, known.ID)
		_, writes["Session.CommitOwned"] = ss.CommitOwned(ctx, "")
		_, writes["Session.Discard"] = ss.Discard(ctx, "")
		writes["Session.Hold"] = ss.Hold(ctx, "", time.Now().Add(time.Hour))
		writes["DropSession"] = tx.DropSession(ctx, "s")
		for name, err := range writes {
			if !errors.Is(err, attachstore.ErrReadOnly) {
				t.Errorf("tx.%s inside View = %v, want ErrReadOnly", name, err)
			}
		}
		if a, err := ss.Get(ctx, known.ID); err != nil || a.Size != known.Size {
			t.Errorf("tx.Session.Get inside View = size %d, %v", a.Size, err)
		}
		if _, err := tx.Stat(ctx, known.ID); err != nil {
			t.Errorf("tx.Stat inside View = %v", err)
		}
		if _, err := tx.SQL().ExecContext(ctx, tx.SQL().Rebind(hostInsert), "turn", "s", known.ID.String()); err == nil {
			t.Errorf("a host write through SQL() inside View succeeded; want it refused")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	checkUnchanged(t, "writes inside View", before, state(t, s, "s"))
	if n := count(t, s, hostCount); n != 0 {
		t.Errorf("%d host rows after View, want 0", n)
	}
	// The store's writes work after the View.
	if _, err := s.Session("s").Put(t.Context(), []byte("after"), attachstore.Meta{}); err != nil {
		t.Errorf("Session.Put after View: %v", err)
	}
	exec(t, s, hostInsert, "turn-after", "s", known.ID.String())
}

func testTxAfterReturn(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	known := mustPut(t, s, []byte("known"), attachstore.Meta{})
	var saved *attachstore.Tx
	if err := s.Update(t.Context(), func(tx *attachstore.Tx) error { saved = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	before := state(t, s, "s")
	errs := map[string]error{}
	_, errs["Put"] = saved.Put(t.Context(), []byte("late"), attachstore.Meta{})
	_, errs["Get"] = saved.Get(t.Context(), known.ID)
	_, errs["Stat"] = saved.Stat(t.Context(), known.ID)
	errs["Delete"] = saved.Delete(t.Context(), known.ID)
	_, errs["Session.Put"] = saved.Session("s").Put(t.Context(), []byte("late"), attachstore.Meta{})
	_, errs["Session.Pending"] = saved.Session("s").Pending(t.Context())
	for name, err := range errs {
		if err == nil {
			t.Errorf("tx.%s after Update returned succeeded, want an error", name)
		}
	}
	checkUnchanged(t, "using a Tx after its Update", before, state(t, s, "s"))
}
