package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

// testOwners covers invariants 11–14: owners' intents are their own,
// holds keep them from Reclaim, a dropped session's tombstone refuses
// writes, and Reclaim refuses to empty a store without roots.
func testOwners(t *testing.T, h Harness) {
	t.Run("TwoTurnsStageTheSameBytes", func(t *testing.T) { testTwoTurnsSameBytes(t, h) })
	t.Run("EveryOrderOfTwoOwners", func(t *testing.T) { testEveryOrderOfTwoOwners(t, h) })
	t.Run("CommitThenRestageAndExpiry", func(t *testing.T) { testCommitThenRestage(t, h) })
	t.Run("CommitOwnedAfterReclaim", func(t *testing.T) { testCommitOwnedAfterReclaim(t, h) })
	t.Run("DiscardLeavesOthersAlone", func(t *testing.T) { testDiscard(t, h) })
	t.Run("Hold", func(t *testing.T) { testHold(t, h) })
	t.Run("HoldAcrossReopen", func(t *testing.T) { testHoldAcrossReopen(t, h) })
	t.Run("Tombstone", func(t *testing.T) { testTombstone(t, h) })
	t.Run("DropSessionInUpdate", func(t *testing.T) { testDropSessionInUpdate(t, h) })
	t.Run("ErrNoRoots", func(t *testing.T) { testNoRoots(t, h) })
	t.Run("SessionsAndRefsTo", func(t *testing.T) { testSessionsAndRefsTo(t, h) })
	t.Run("Committed", func(t *testing.T) { testCommitted(t, h) })
	t.Run("Holds", func(t *testing.T) { testHolds(t, h) })
}

func mustReclaim(t testing.TB, s *attachstore.Store, p attachstore.ReclaimPolicy) attachstore.ReclaimReport {
	t.Helper()
	rep, err := s.Reclaim(t.Context(), p)
	if err != nil {
		t.Fatalf("Reclaim(%+v): %v", p, err)
	}
	return rep
}

func mustCommitOwned(t testing.TB, ss *attachstore.Session, owner string, want ...attachstore.ID) {
	t.Helper()
	got, err := ss.CommitOwned(t.Context(), owner)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("CommitOwned(%q) = %v, %v; want %v", owner, got, err, want)
	}
}

// committedRef returns the session's committed ref to id and fails t if
// there is none, and reports the owners of its intents to id.
func committedRef(t testing.TB, s *attachstore.Store, session string, id attachstore.ID) (committed *attachstore.Entry, intents []string) {
	t.Helper()
	for _, e := range refs(t, s, session) {
		switch {
		case e.ID != id:
		case e.Committed() && committed != nil:
			t.Fatalf("session %s holds two committed refs to %s", session, id)
		case e.Committed():
			committed = &e
		default:
			intents = append(intents, e.Owner)
		}
	}
	return committed, intents
}

// testTwoTurnsSameBytes is the defect of issue 21 as a user met it: turn 1
// commits what turn 2, abandoned, also staged; Reclaim must not take it.
func testTwoTurnsSameBytes(t *testing.T, h Harness) {
	clock := newClock()
	s := h.Open(t, attachstore.WithClock(clock.Now))
	x := []byte("a shared logo")
	chat := s.Session("chat-1")
	mustSessionPut(t, chat.WithOwner("turn-1"), x, attachstore.Meta{Label: "from-turn-1"})
	mustSessionPut(t, chat.WithOwner("turn-2"), x, attachstore.Meta{Label: "from-turn-2"})
	var stamped []attachstore.ID
	err := s.Update(t.Context(), func(tx *attachstore.Tx) (err error) {
		stamped, err = tx.Session("chat-1").CommitOwned(t.Context(), "turn-1")
		return err
	})
	if err != nil || !slices.Equal(stamped, []attachstore.ID{attachstore.ContentID(x)}) {
		t.Fatalf("CommitOwned(turn-1) = %v, %v; want the shared id", stamped, err)
	}
	clock.Advance(time.Second)
	rep := mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: 10 * time.Millisecond})
	if rep.ExpiredIntents != 1 || rep.ReclaimedBlobs != 0 {
		t.Errorf("Reclaim = %+v; want turn 2's intent forgotten and no blob deleted", rep)
	}
	a, err := chat.Get(t.Context(), attachstore.ContentID(x))
	if err != nil || string(a.Data) != string(x) || a.Label != "from-turn-1" {
		t.Fatalf("chat.Get after Reclaim = %q label %q, %v; want turn 1's committed content", a.Data, a.Label, err)
	}
	if c, intents := committedRef(t, s, "chat-1", attachstore.ContentID(x)); c == nil || c.Owner != "turn-1" || len(intents) != 0 {
		t.Errorf("refs after Reclaim: committed %+v, intents of %q; want turn 1's committed ref alone", c, intents)
	}
}

// testEveryOrderOfTwoOwners has two owners stage the same bytes, then each
// commits, discards or lets its intent expire, in both orders. Once either
// commits, the session keeps that committed ref, with the first committer's
// metadata, whatever the other does after; CommitOwned returns the id to
// every owner that staged it.
func testEveryOrderOfTwoOwners(t *testing.T, h Harness) {
	ops := []string{"commit", "discard", "expire"}
	for _, first := range []string{"a", "b"} {
		for _, opA := range ops {
			for _, opB := range ops {
				t.Run(fmt.Sprintf("%s-%s-%s-first", opA, opB, first), func(t *testing.T) {
					testTwoOwnersOrder(t, h, first, map[string]string{"a": opA, "b": opB})
				})
			}
		}
	}
}

func testTwoOwnersOrder(t *testing.T, h Harness, first string, op map[string]string) {
	ctx := t.Context()
	clock := newClock()
	s := h.Open(t, smallChunks, attachstore.WithClock(clock.Now))
	data := content(301, 2*chunk+9)
	id := attachstore.ContentID(data)
	ss := s.Session("chat")
	owner := map[string]string{"a": "turn-a", "b": "turn-b"}
	for _, o := range []string{"a", "b"} {
		mustSessionPut(t, ss.WithOwner(owner[o]), data, attachstore.Meta{Label: "label-" + o})
	}
	pending := map[string]bool{"a": true, "b": true}
	firstCommitter := ""
	order := []string{"a", "b"}
	if first == "b" {
		order = []string{"b", "a"}
	}
	for _, o := range order {
		other := map[string]string{"a": "b", "b": "a"}[o]
		switch op[o] {
		case "commit":
			mustCommitOwned(t, ss, owner[o], id)
			if firstCommitter == "" {
				firstCommitter = o
			}
		case "discard":
			if got, err := ss.Discard(ctx, owner[o]); err != nil || !slices.Equal(got, []attachstore.ID{id}) {
				t.Fatalf("Discard(%s) = %v, %v; want [%s]", owner[o], got, err, id)
			}
		case "expire":
			// The other owner, still at work, holds its intent; this one
			// waits past Grace.
			if pending[other] {
				if err := ss.Hold(ctx, owner[other], clock.Now().Add(10*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(2 * time.Hour)
			rep := mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Hour, AllowEmptyRoots: true})
			if rep.ExpiredIntents != 1 {
				t.Fatalf("Reclaim expired %d intents, want %s's one", rep.ExpiredIntents, owner[o])
			}
			if pending[other] {
				// Its hold ends with the other's own commit or discard;
				// an expiry to come needs it gone now.
				if err := ss.Hold(ctx, owner[other], clock.Now()); err != nil {
					t.Fatal(err)
				}
			}
		}
		pending[o] = false
	}
	c, intents := committedRef(t, s, "chat", id)
	if len(intents) != 0 {
		t.Errorf("intents of %q left after both owners finished", intents)
	}
	if firstCommitter == "" {
		if c != nil {
			t.Fatalf("a committed ref %+v, though no owner committed", *c)
		}
		clock.Advance(time.Minute)
		mustReclaim(t, s, attachstore.ReclaimPolicy{AllowEmptyRoots: true})
		if _, err := s.Stat(ctx, id); !errors.Is(err, attachstore.ErrNotFound) {
			t.Errorf("Stat after Reclaim of content no one committed = %v, want ErrNotFound", err)
		}
		return
	}
	if c == nil || c.Owner != owner[firstCommitter] || c.Label != "label-"+firstCommitter {
		t.Fatalf("committed ref = %+v; want %s's with its label", c, owner[firstCommitter])
	}
	clock.Advance(3 * time.Hour)
	if rep := mustReclaim(t, s, attachstore.ReclaimPolicy{}); rep.ReclaimedBlobs != 0 {
		t.Errorf("Reclaim deleted %d blobs of a committed ref", rep.ReclaimedBlobs)
	}
	if a, err := ss.Get(ctx, id); err != nil || a.Size != int64(len(data)) {
		t.Errorf("Session.Get of the committed ref = %d bytes, %v", a.Size, err)
	}
}

// testCommitThenRestage: a turn commits, a later turn stages the same bytes
// again and is abandoned; its intent's expiry leaves the commit alone.
func testCommitThenRestage(t *testing.T, h Harness) {
	clock := newClock()
	s := h.Open(t, attachstore.WithClock(clock.Now))
	ss := s.Session("chat")
	ref := mustSessionPut(t, ss.WithOwner("turn-1"), []byte("chart"), attachstore.Meta{Label: "v1"})
	mustCommitOwned(t, ss, "turn-1", ref.ID)
	clock.Advance(time.Minute)
	mustSessionPut(t, ss.WithOwner("turn-2"), []byte("chart"), attachstore.Meta{Label: "v2"})
	if p := pending(t, s, "chat"); !slices.Equal(p, []attachstore.ID{ref.ID}) {
		t.Errorf("Pending with turn 2's re-stage = %v, want [%s]", p, ref.ID)
	}
	clock.Advance(2 * time.Hour)
	if rep := mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Hour}); rep.ExpiredIntents != 1 || rep.ReclaimedBlobs != 0 {
		t.Errorf("Reclaim = %+v; want turn 2's intent expired, no blob deleted", rep)
	}
	c, intents := committedRef(t, s, "chat", ref.ID)
	if c == nil || c.Owner != "turn-1" || c.Label != "v1" || len(intents) != 0 {
		t.Errorf("after turn 2 expired: committed %+v, intents %q; want turn 1's ref alone", c, intents)
	}
	if p := pending(t, s, "chat"); len(p) != 0 {
		t.Errorf("Pending after the expiry = %v", p)
	}
}

// testCommitOwnedAfterReclaim: a turn that waited past Grace without a
// hold finds its intents gone; CommitOwned says so by returning no ids.
func testCommitOwnedAfterReclaim(t *testing.T, h Harness) {
	clock := newClock()
	s := h.Open(t, attachstore.WithClock(clock.Now))
	ss := s.Session("chat")
	ref := mustSessionPut(t, ss.WithOwner("slow-turn"), []byte("waited too long"), attachstore.Meta{})
	mustSessionPut(t, ss.WithOwner("other"), []byte("committed by another"), attachstore.Meta{})
	mustCommitOwned(t, ss, "other", attachstore.ContentID([]byte("committed by another")))
	clock.Advance(2 * time.Hour)
	if rep := mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Hour}); rep.ExpiredIntents != 1 || rep.ReclaimedBlobs != 1 {
		t.Fatalf("Reclaim = %+v; want the slow turn's intent and blob gone", rep)
	}
	mustCommitOwned(t, ss, "slow-turn")
	if ok, err := s.HoldsRef(t.Context(), "chat", ref.ID); ok || err != nil {
		t.Errorf("HoldsRef after the reclaimed turn's CommitOwned = %v, %v; want false", ok, err)
	}
}

// testDiscard: one owner's discard forgets its intents only.
func testDiscard(t *testing.T, h Harness) {
	s := h.Open(t)
	ss := s.Session("chat")
	shared := mustSessionPut(t, ss.WithOwner("keep"), []byte("shared"), attachstore.Meta{}).ID
	mustSessionPut(t, ss.WithOwner("gone"), []byte("shared"), attachstore.Meta{})
	own := mustSessionPut(t, ss.WithOwner("gone"), []byte("only gone's"), attachstore.Meta{}).ID
	done := mustSessionPut(t, ss.WithOwner("done"), []byte("committed"), attachstore.Meta{}).ID
	mustCommitOwned(t, ss, "done", done)
	mustSessionPut(t, ss.WithOwner("gone"), []byte("committed"), attachstore.Meta{})
	other := mustSessionPut(t, s.Session("other").WithOwner("gone"), []byte("other session"), attachstore.Meta{}).ID

	got, err := ss.Discard(t.Context(), "gone")
	if want := []attachstore.ID{shared, own, done}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("Discard(gone) = %v, %v; want %v", got, err, want)
	}
	if p := pending(t, s, "chat"); !slices.Equal(p, []attachstore.ID{shared}) {
		t.Errorf("Pending after Discard(gone) = %v, want keep's [%s]", p, shared)
	}
	if c, _ := committedRef(t, s, "chat", done); c == nil {
		t.Error("Discard took a committed ref")
	}
	if p := pending(t, s, "other"); !slices.Equal(p, []attachstore.ID{other}) {
		t.Errorf("Discard in session chat touched session other: Pending = %v", p)
	}
	if got, err := ss.Discard(t.Context(), "gone"); err != nil || len(got) != 0 {
		t.Errorf("a second Discard(gone) = %v, %v; want nothing", got, err)
	}
	mustCommitOwned(t, ss, "keep", shared)
}

// testHold: a held owner's intents outlive Grace until the hold lapses;
// holding again moves the time; CommitOwned and Discard end the hold.
func testHold(t *testing.T, h Harness) {
	ctx := t.Context()
	clock := newClock()
	s := h.Open(t, attachstore.WithClock(clock.Now))
	ss := s.Session("chat")
	waiting := mustSessionPut(t, ss.WithOwner("waits"), []byte("awaiting approval"), attachstore.Meta{}).ID
	loose := mustSessionPut(t, ss.WithOwner("loose"), []byte("nobody holds me"), attachstore.Meta{}).ID
	if err := ss.Hold(ctx, "waits", clock.Now().Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	if rep := mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Hour}); rep.ExpiredIntents != 1 {
		t.Errorf("Reclaim with a hold = %+v; want only the loose intent expired", rep)
	}
	if p := pending(t, s, "chat"); !slices.Equal(p, []attachstore.ID{waiting}) {
		t.Fatalf("Pending after Reclaim = %v, want the held [%s]", p, waiting)
	}
	if ok, _ := s.HoldsRef(ctx, "chat", loose); ok {
		t.Error("the unheld intent survived")
	}
	// Holding again extends it past the first time.
	if err := ss.Hold(ctx, "waits", clock.Now().Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Hour})
	if p := pending(t, s, "chat"); !slices.Equal(p, []attachstore.ID{waiting}) {
		t.Fatalf("Pending after the hold was extended = %v, want [%s]", p, waiting)
	}
	// The hold lapses: the next Reclaim forgets the intent.
	clock.Advance(3 * time.Hour)
	if rep := mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Hour, AllowEmptyRoots: true}); rep.ExpiredIntents != 1 {
		t.Errorf("Reclaim after the hold lapsed = %+v; want the intent expired", rep)
	}
	mustCommitOwned(t, ss, "waits")

	// CommitOwned and Discard end the hold: a later intent of the same
	// owner is not held.
	for _, end := range []string{"commit", "discard"} {
		owner := "ends-by-" + end
		mustSessionPut(t, ss.WithOwner(owner), []byte(owner+" 1"), attachstore.Meta{})
		if err := ss.Hold(ctx, owner, clock.Now().Add(100*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if end == "commit" {
			mustCommitOwned(t, ss, owner, attachstore.ContentID([]byte(owner+" 1")))
		} else if _, err := ss.Discard(ctx, owner); err != nil {
			t.Fatal(err)
		}
		later := mustSessionPut(t, ss.WithOwner(owner), []byte(owner+" 2"), attachstore.Meta{}).ID
		clock.Advance(2 * time.Hour)
		mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Hour, AllowEmptyRoots: true})
		if ok, _ := s.HoldsRef(ctx, "chat", later); ok {
			t.Errorf("after %s, a later intent of %s was still held", end, owner)
		}
	}
}

// testHoldAcrossReopen: a hold is in the database, so a store opened
// afterwards honours it.
func testHoldAcrossReopen(t *testing.T, h Harness) {
	needReopen(t, h)
	clock := newClock()
	s := h.Open(t, attachstore.WithClock(clock.Now))
	ss := s.Session("chat")
	id := mustSessionPut(t, ss.WithOwner("turn"), []byte("held across a restart"), attachstore.Meta{}).ID
	if err := ss.Hold(t.Context(), "turn", clock.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := reopen(t, h, s, attachstore.WithClock(clock.Now))
	clock.Advance(2 * time.Hour)
	if rep := mustReclaim(t, s2, attachstore.ReclaimPolicy{Grace: time.Hour}); rep.ExpiredIntents != 0 || rep.ReclaimedBlobs != 0 {
		t.Errorf("Reclaim on the reopened store = %+v; want the held intent kept", rep)
	}
	mustCommitOwned(t, s2.Session("chat"), "turn", id)
}

// testTombstone: a dropped session refuses puts, commits and holds until
// Reclaim clears its tombstone, and changes nothing meanwhile.
func testTombstone(t *testing.T, h Harness) {
	ctx := t.Context()
	clock := newClock()
	s := h.Open(t, smallChunks, attachstore.WithClock(clock.Now))
	ss := s.Session("chat").WithOwner("late-turn")
	id := mustSessionPut(t, ss, []byte("before the drop"), attachstore.Meta{}).ID
	if err := s.DropSession(ctx, "chat"); err != nil {
		t.Fatal(err)
	}
	data := content(311, 3*chunk)
	before := state(t, s, "chat")
	writes := func() map[string]error {
		errs := map[string]error{}
		_, errs["Put"] = ss.Put(ctx, data, attachstore.Meta{})
		_, errs["PutReader"] = ss.PutReader(ctx, readerOf(data), attachstore.Meta{})
		errs["Commit"] = ss.Commit(ctx)
		errs["Commit(id)"] = ss.Commit(ctx, id)
		_, errs["CommitOwned"] = ss.CommitOwned(ctx, "late-turn")
		errs["Hold"] = ss.Hold(ctx, "late-turn", clock.Now().Add(time.Hour))
		errs["Tx.Session.Put"] = s.Update(ctx, func(tx *attachstore.Tx) error {
			_, err := tx.Session("chat").Put(ctx, data, attachstore.Meta{})
			return err
		})
		return errs
	}
	for name, err := range writes() {
		if !errors.Is(err, attachstore.ErrSessionDropped) {
			t.Errorf("%s into a dropped session = %v, want ErrSessionDropped", name, err)
		} else {
			onePrefix(t, name, err)
		}
	}
	checkUnchanged(t, "writes into a dropped session", before, state(t, s, "chat"))
	if _, err := s.Session("chat").Get(ctx, id); !errors.Is(err, attachstore.ErrNotFound) {
		t.Errorf("Get in a dropped session = %v, want ErrNotFound", err)
	}
	// A tombstone younger than Grace stays.
	if rep := mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Hour}); rep.ClearedTombstones != 0 {
		t.Errorf("Reclaim cleared %d tombstones younger than Grace", rep.ClearedTombstones)
	}
	if _, err := ss.Put(ctx, data, attachstore.Meta{}); !errors.Is(err, attachstore.ErrSessionDropped) {
		t.Errorf("Put after a Reclaim within Grace = %v, want ErrSessionDropped", err)
	}
	clock.Advance(2 * time.Hour)
	if rep := mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Hour}); rep.ClearedTombstones != 1 {
		t.Errorf("Reclaim past Grace = %+v; want the tombstone cleared", rep)
	}
	ref := mustSessionPut(t, ss, data, attachstore.Meta{})
	mustCommitOwned(t, ss, "late-turn", ref.ID)
	if err := ss.Hold(ctx, "late-turn", clock.Now().Add(time.Hour)); err != nil {
		t.Errorf("Hold after the tombstone was cleared: %v", err)
	}
}

// testDropSessionInUpdate: a host deletes a chat and its own rows in one
// transaction: both, or (rolled back) neither.
func testDropSessionInUpdate(t *testing.T, h Harness) {
	ctx := t.Context()
	s := h.Open(t)
	createHostTable(t, s)
	ss := s.Session("chat")
	ref := mustSessionPut(t, ss, []byte("a chat's chart"), attachstore.Meta{})
	exec(t, s, hostInsert, "turn-1", "chat", ref.ID.String())
	for _, undo := range []bool{true, false} {
		err := s.Update(ctx, func(tx *attachstore.Tx) error {
			if err := tx.DropSession(ctx, "chat"); err != nil {
				return err
			}
			if _, err := tx.SQL().ExecContext(ctx, tx.SQL().Rebind(`DELETE FROM host_turns WHERE session_id = ?`), "chat"); err != nil {
				return err
			}
			if undo {
				return errors.New("the host changed its mind")
			}
			return nil
		})
		held, herr := s.HoldsRef(ctx, "chat", ref.ID)
		rows := count(t, s, hostCount)
		switch {
		case herr != nil:
			t.Fatal(herr)
		case undo && (err == nil || !held || rows != 1):
			t.Errorf("rolled-back drop: err %v, ref held %v, host rows %d; want an error, the ref and the row", err, held, rows)
		case !undo && (err != nil || held || rows != 0):
			t.Errorf("drop: err %v, ref held %v, host rows %d; want neither ref nor row", err, held, rows)
		}
	}
	if _, err := ss.Put(ctx, []byte("late"), attachstore.Meta{}); !errors.Is(err, attachstore.ErrSessionDropped) {
		t.Errorf("Put after tx.DropSession = %v, want ErrSessionDropped", err)
	}
}

// testNoRoots: a store with content but no manifest at all is what a host
// that never used sessions, or the wrong file, looks like. Reclaim refuses
// to empty it unless told.
func testNoRoots(t *testing.T, h Harness) {
	ctx := t.Context()
	s := h.Open(t)
	if rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{}); err != nil || rep.ReclaimedBlobs != 0 {
		t.Errorf("Reclaim of an empty store = %+v, %v; want nothing and nil", rep, err)
	}
	var ids []attachstore.ID
	for i := range 3 {
		ids = append(ids, mustPut(t, s, fmt.Appendf(nil, "plain put %d", i), attachstore.Meta{}).ID)
	}
	before := state(t, s)
	rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{})
	if !errors.Is(err, attachstore.ErrNoRoots) || rep.ReclaimedBlobs != 0 {
		t.Errorf("Reclaim without roots = %+v, %v; want ErrNoRoots and nothing deleted", rep, err)
	}
	if err != nil && !strings.Contains(err.Error(), "AllowEmptyRoots") {
		t.Errorf("ErrNoRoots does not name the policy field to set: %v", err)
	}
	rep, err = s.Reclaim(ctx, attachstore.ReclaimPolicy{DryRun: true})
	if !errors.Is(err, attachstore.ErrNoRoots) || rep.ReclaimedBlobs != len(ids) {
		t.Errorf("dry run without roots = %+v, %v; want ErrNoRoots and the %d blobs it would delete", rep, err, len(ids))
	}
	checkUnchanged(t, "Reclaim without roots", before, state(t, s))
	// A hold is no root: it protects intents, and a hold for a session and
	// owner that hold nothing (a typo) must not unlock the refusal.
	if err := s.Session("ghost").Hold(ctx, "x", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rep, err = s.Reclaim(ctx, attachstore.ReclaimPolicy{})
	if !errors.Is(err, attachstore.ErrNoRoots) || rep.ReclaimedBlobs != 0 {
		t.Errorf("Reclaim with only a hold for a session that holds nothing = %+v, %v; want ErrNoRoots and nothing deleted", rep, err)
	}
	checkUnchanged(t, "Reclaim with only a hold", before, state(t, s))
	// A tombstone is a root: the store was used with sessions.
	if err := s.DropSession(ctx, "old-chat"); err != nil {
		t.Fatal(err)
	}
	if rep := mustReclaim(t, s, attachstore.ReclaimPolicy{Grace: time.Hour}); rep.ReclaimedBlobs != 0 {
		t.Errorf("Reclaim within Grace = %+v", rep)
	}
	s2 := h.Open(t)
	for i := range 2 {
		mustPut(t, s2, fmt.Appendf(nil, "plain put %d", i), attachstore.Meta{})
	}
	if rep := mustReclaim(t, s2, attachstore.ReclaimPolicy{AllowEmptyRoots: true}); rep.ReclaimedBlobs != 2 {
		t.Errorf("Reclaim with AllowEmptyRoots = %+v; want the 2 blobs", rep)
	}
}

// testSessionsAndRefsTo: each session's use, and who holds a blob.
func testSessionsAndRefsTo(t *testing.T, h Harness) {
	ctx := t.Context()
	clock := newClock()
	s := h.Open(t, smallChunks, attachstore.WithClock(clock.Now))
	big := content(321, 2*chunk)
	a := s.Session("a")
	shared := mustSessionPut(t, a.WithOwner("t1"), big, attachstore.Meta{}).ID
	mustCommitOwned(t, a, "t1", shared)
	clock.Advance(time.Second)
	mustSessionPut(t, a.WithOwner("t2"), big, attachstore.Meta{})
	mustSessionPut(t, a.WithOwner("t2"), []byte("small"), attachstore.Meta{})
	last := clock.Now()
	clock.Advance(time.Second)
	mustSessionPut(t, s.Session("b"), big, attachstore.Meta{})
	mustPut(t, s, []byte("no session"), attachstore.Meta{})

	var got []string
	for si, err := range s.Sessions(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s refs=%d pending=%d bytes=%d last=%d", si.ID, si.Refs, si.Pending, si.Bytes, si.LastIntentAt.UnixNano()))
	}
	want := []string{
		fmt.Sprintf("a refs=3 pending=2 bytes=%d last=%d", len(big)+len("small"), last.UnixNano()),
		fmt.Sprintf("b refs=1 pending=1 bytes=%d last=%d", len(big), last.Add(time.Second).UnixNano()),
	}
	if !slices.Equal(got, want) {
		t.Errorf("Sessions =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	es, err := s.RefsTo(ctx, shared)
	if err != nil {
		t.Fatal(err)
	}
	var holders []string
	for _, e := range es {
		holders = append(holders, fmt.Sprintf("%s/%s/%v", e.SessionID, e.Owner, e.Committed()))
	}
	if want := []string{"a/t1/true", "a/t2/false", "b//false"}; !slices.Equal(holders, want) {
		t.Errorf("RefsTo(shared) = %v, want %v", holders, want)
	}
	if es, err := s.RefsTo(ctx, attachstore.ContentID([]byte("no session"))); err != nil || len(es) != 0 {
		t.Errorf("RefsTo of content no session holds = %v, %v", es, err)
	}
}

// testCommitted: Session.Committed answers for the session, not for one
// manifest row. After turn 1 commits what turn 2 also staged, Refs holds a
// committed row and turn 2's intent to the same id, and Committed is true;
// before, and for ids the session holds nothing of, it is false.
func testCommitted(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := t.Context()
	x := []byte("a plot both turns made")
	id := attachstore.ContentID(x)
	chat := s.Session("chat")
	mustSessionPut(t, chat.WithOwner("turn-1"), x, attachstore.Meta{})
	mustSessionPut(t, chat.WithOwner("turn-2"), x, attachstore.Meta{})
	if ok, err := chat.Committed(ctx, id); err != nil || ok {
		t.Fatalf("Committed before any commit = %v, %v; want false", ok, err)
	}
	if _, err := chat.CommitOwned(ctx, "turn-1"); err != nil {
		t.Fatal(err)
	}
	refs, err := chat.Refs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows, uncommitted int
	for _, e := range refs {
		if e.ID == id {
			rows++
			if !e.Committed() {
				uncommitted++
			}
		}
	}
	if rows != 2 || uncommitted != 1 {
		t.Fatalf("Refs after turn 1's commit: %d rows to the id, %d uncommitted; want 2 and 1", rows, uncommitted)
	}
	if ok, err := chat.Committed(ctx, id); err != nil || !ok {
		t.Errorf("Committed after turn 1's commit = %v, %v; want true", ok, err)
	}
	err = s.View(ctx, func(tx *attachstore.Tx) error {
		ok, err := tx.Session("chat").Committed(ctx, id)
		if err == nil && !ok {
			err = fmt.Errorf("inside View: false, want true")
		}
		return err
	})
	if err != nil {
		t.Errorf("Committed through a Tx: %v", err)
	}
	for _, tc := range []struct {
		session string
		id      attachstore.ID
	}{{"other", id}, {"chat", attachstore.ContentID([]byte("never stored"))}} {
		if ok, err := s.Session(tc.session).Committed(ctx, tc.id); err != nil || ok {
			t.Errorf("Committed(%s, %s) = %v, %v; want false", tc.session, tc.id, ok, err)
		}
	}
	if _, err := s.Session("").Committed(ctx, id); !errors.Is(err, attachstore.ErrInvalidSession) {
		t.Errorf("Committed of an empty session id = %v, want ErrInvalidSession", err)
	}
}

// testHolds: Session.Holds lists each owner's hold with its time, in owner
// order; Hold again moves it, CommitOwned and DropSession end it, and other
// sessions' holds are not listed.
func testHolds(t *testing.T, h Harness) {
	clock := newClock()
	s := h.Open(t, attachstore.WithClock(clock.Now))
	ctx := t.Context()
	chat := s.Session("chat")
	soon, later := clock.Now().Add(time.Hour), clock.Now().Add(48*time.Hour)
	for _, hd := range []struct {
		session, owner string
		until          time.Time
	}{{"chat", "turn-b", soon}, {"chat", "turn-a", soon}, {"other", "turn-c", soon}, {"chat", "turn-a", later}} {
		if err := s.Session(hd.session).Hold(ctx, hd.owner, hd.until); err != nil {
			t.Fatalf("Hold(%s, %s): %v", hd.session, hd.owner, err)
		}
	}
	list := func() string {
		t.Helper()
		hs, err := chat.Holds(ctx)
		if err != nil {
			t.Fatalf("Holds: %v", err)
		}
		var out []string
		for _, hd := range hs {
			out = append(out, fmt.Sprintf("%s@%d", hd.Owner, hd.Until.UnixNano()))
		}
		return strings.Join(out, " ")
	}
	if got, want := list(), fmt.Sprintf("turn-a@%d turn-b@%d", later.UnixNano(), soon.UnixNano()); got != want {
		t.Errorf("Holds = %q, want %q", got, want)
	}
	if _, err := chat.CommitOwned(ctx, "turn-b"); err != nil {
		t.Fatal(err)
	}
	if got, want := list(), fmt.Sprintf("turn-a@%d", later.UnixNano()); got != want {
		t.Errorf("Holds after CommitOwned(turn-b) = %q, want %q", got, want)
	}
	if err := s.DropSession(ctx, "chat"); err != nil {
		t.Fatal(err)
	}
	if got := list(); got != "" {
		t.Errorf("Holds after DropSession = %q, want none", got)
	}
	if hs, err := s.Session("other").Holds(ctx); err != nil || len(hs) != 1 || hs[0].Owner != "turn-c" {
		t.Errorf("Holds of the other session = %+v, %v; want turn-c's alone", hs, err)
	}
}
