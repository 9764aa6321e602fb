package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

// testSession covers the manifest: invariants 4, 6 and 7, per-session
// metadata, commit stamping and the session-level queries.
func testSession(t *testing.T, h Harness) {
	t.Run("PutIsAtomic", func(t *testing.T) { testSessionPutAtomic(t, h) })
	t.Run("Guard", func(t *testing.T) { testGuard(t, h) })
	t.Run("SharedBytes", func(t *testing.T) { testSharedBytes(t, h) })
	t.Run("PerSessionMeta", func(t *testing.T) { testPerSessionMeta(t, h) })
	t.Run("DropSession", func(t *testing.T) { testDropSession(t, h) })
	t.Run("CommitAll", func(t *testing.T) { testCommitAll(t, h) })
	t.Run("CommitNeverResurrects", func(t *testing.T) { testCommitNeverResurrects(t, h) })
	t.Run("CommitIsAtomic", func(t *testing.T) { testCommitAtomic(t, h) })
	t.Run("RePutKeepsCommitStamp", func(t *testing.T) { testRePutKeepsStamp(t, h) })
	t.Run("CommitOwned", func(t *testing.T) { testCommitOwned(t, h) })
	t.Run("ListUncommitted", func(t *testing.T) { testListUncommitted(t, h) })
	t.Run("HoldsRef", func(t *testing.T) { testHoldsRef(t, h) })
}

// Invariant 4: Session.Put writes the blob and the intent in one
// transaction, so no reader ever sees one without the other.
func testSessionPutAtomic(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	ss := s.Session("w")
	ref := mustSessionPut(t, ss, []byte("both"), attachstore.Meta{})
	if _, err := s.Stat(t.Context(), ref.ID); err != nil {
		t.Errorf("Stat after Session.Put: %v", err)
	}
	if ok, err := s.HoldsRef(t.Context(), "w", ref.ID); !ok || err != nil {
		t.Errorf("HoldsRef after Session.Put = %v, %v", ok, err)
	}
	if p := pending(t, s, "w"); !slices.Equal(p, []attachstore.ID{ref.ID}) {
		t.Errorf("Pending after Session.Put = %v, want [%s]", p, ref.ID)
	}

	// Only session puts write to this store, so every snapshot must hold as
	// many blobs as refs.
	const puts = 40
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range puts {
			var err error
			if i%2 == 0 {
				_, err = ss.Put(t.Context(), fmt.Appendf(nil, "atomic %d", i), attachstore.Meta{})
			} else {
				_, err = ss.PutReader(t.Context(), readerOf(content(uint64(i), 2*chunk+i)), attachstore.Meta{})
			}
			if err != nil {
				t.Errorf("Session.Put %d: %v", i, err)
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
			var blobs, refs, dangling int64
			err := s.View(t.Context(), func(tx *attachstore.Tx) error {
				q := tx.SQL()
				if err := q.QueryRowxContext(t.Context(), `SELECT count(*) FROM attachstore_blobs`).Scan(&blobs); err != nil {
					return err
				}
				if err := q.QueryRowxContext(t.Context(), `SELECT count(*) FROM attachstore_refs`).Scan(&refs); err != nil {
					return err
				}
				return q.QueryRowxContext(t.Context(),
					`SELECT count(*) FROM attachstore_refs WHERE blob_id NOT IN (SELECT id FROM attachstore_blobs)`).Scan(&dangling)
			})
			if err != nil {
				t.Errorf("View: %v", err)
				return
			}
			if blobs != refs || dangling != 0 {
				t.Errorf("a snapshot holds %d blobs and %d refs (%d dangling): a blob and its intent were not written together", blobs, refs, dangling)
				return
			}
			observed++
		}
	})
	within(t, time.Minute, "Session.Put with a concurrent observer", wg.Wait)
	if n := len(listAll(t, s)); n != puts+1 {
		t.Errorf("List yielded %d blobs, want %d", n, puts+1)
	}
	t.Logf("%d snapshots observed", observed)
}

// Invariant 6: a session reads only what it holds a ref to.
func testGuard(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	data := content(111, 2*chunk+1)
	a, b := s.Session("a"), s.Session("b")
	ref := mustSessionPut(t, a, data, attachstore.Meta{})

	notFound := func(who string) {
		t.Helper()
		ss := s.Session(who)
		if _, err := ss.Get(t.Context(), ref.ID); !errors.Is(err, attachstore.ErrNotFound) {
			t.Errorf("Session(%s).Get of content it holds no ref to = %v, want ErrNotFound", who, err)
		}
		if _, err := ss.NewReader(t.Context(), ref.ID); !errors.Is(err, attachstore.ErrNotFound) {
			t.Errorf("Session(%s).NewReader of content it holds no ref to = %v, want ErrNotFound", who, err)
		}
		err := s.View(t.Context(), func(tx *attachstore.Tx) error {
			if _, err := tx.Session(who).Get(t.Context(), ref.ID); !errors.Is(err, attachstore.ErrNotFound) {
				return fmt.Errorf("tx.Session(%s).Get = %w", who, err)
			}
			if _, err := tx.Session(who).NewReader(t.Context(), ref.ID); !errors.Is(err, attachstore.ErrNotFound) {
				return fmt.Errorf("tx.Session(%s).NewReader = %w", who, err)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%v, want ErrNotFound", err)
		}
	}
	notFound("b")
	if got, err := a.Get(t.Context(), ref.ID); err != nil || !bytes.Equal(got.Data, data) {
		t.Errorf("Session(a).Get = %d bytes, %v", len(got.Data), err)
	}
	if r, err := a.NewReader(t.Context(), ref.ID); err != nil {
		t.Errorf("Session(a).NewReader: %v", err)
	} else if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
		t.Errorf("Session(a).NewReader read %d bytes, %v", len(got), err)
	}
	if _, err := s.Get(t.Context(), ref.ID); err != nil {
		t.Errorf("Store.Get (no session guard) = %v", err)
	}

	if err := a.Delete(t.Context(), ref.ID); err != nil {
		t.Fatal(err)
	}
	notFound("a")
	if _, err := s.Stat(t.Context(), ref.ID); err != nil {
		t.Errorf("the bytes went with the ref: Stat = %v", err)
	}
	_ = b
}

func testSharedBytes(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	data := content(121, 3*chunk)
	a, b := s.Session("a"), s.Session("b")
	ra := mustSessionPut(t, a, data, attachstore.Meta{})
	rb, err := b.PutReader(t.Context(), readerOf(data), attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if ra.ID != rb.ID {
		t.Fatalf("same bytes, two ids: %s and %s", ra.ID, rb.ID)
	}
	if n := len(listAll(t, s)); n != 1 {
		t.Errorf("List yielded %d blobs after two sessions put the same bytes, want 1", n)
	}
	if n := chunkRows(t, s); n != 3 {
		t.Errorf("%d chunk rows, want 3 (one copy)", n)
	}
	if err := a.Delete(t.Context(), ra.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(t.Context(), ra.ID); err != nil || !bytes.Equal(got.Data, data) {
		t.Errorf("Session(b).Get after a dropped its ref = %d bytes, %v", len(got.Data), err)
	}
	if err := s.Delete(t.Context(), ra.ID); !errors.Is(err, attachstore.ErrReferenced) {
		t.Errorf("Delete while b still holds a ref = %v, want ErrReferenced", err)
	}
	if err := b.Delete(t.Context(), ra.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(t.Context(), ra.ID); err != nil {
		t.Errorf("Delete after the last ref was dropped = %v, want nil", err)
	}
	if n := chunkRows(t, s); n != 0 {
		t.Errorf("%d chunk rows after the blob was deleted, want 0", n)
	}
}

func testPerSessionMeta(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	data := content(131, chunk+7)
	ma := attachstore.Meta{MediaType: "Text/Plain", Label: "a.txt", Extra: json.RawMessage(`{ "from": "a" }`)}
	mb := attachstore.Meta{MediaType: "text/markdown", Label: "b.md"}
	wantA := attachstore.Meta{MediaType: "text/plain", Label: "a.txt", Extra: json.RawMessage(`{"from":"a"}`)}
	wantB := attachstore.Meta{MediaType: "text/markdown", Label: "b.md"}
	ra := mustSessionPut(t, s.Session("a"), data, ma)
	rb, err := s.Session("b").PutReader(t.Context(), readerOf(data), mb)
	if err != nil {
		t.Fatal(err)
	}
	sameMeta := func(what string, got, want attachstore.Meta) {
		t.Helper()
		if got.MediaType != want.MediaType || got.Label != want.Label || !bytes.Equal(got.Extra, want.Extra) {
			t.Errorf("%s meta = %+v (extra %s), want %+v (extra %s)", what, got, got.Extra, want, want.Extra)
		}
	}
	sameMeta("Session(a).Put's ref", ra.Meta, wantA)
	sameMeta("Session(b).PutReader's ref", rb.Meta, wantB)
	for _, c := range []struct {
		session string
		want    attachstore.Meta
	}{{"a", wantA}, {"b", wantB}} {
		ss := s.Session(c.session)
		got, err := ss.Get(t.Context(), ra.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameMeta("Session("+c.session+").Get", got.Meta, c.want)
		r, err := ss.NewReader(t.Context(), ra.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameMeta("Session("+c.session+").NewReader.Ref", r.Ref().Meta, c.want)
		r.Close()
		es := refs(t, s, c.session)
		if len(es) != 1 {
			t.Fatalf("Session(%s).Refs = %d entries", c.session, len(es))
		}
		sameMeta("Session("+c.session+").Refs", es[0].Meta, c.want)
	}
	blob, err := s.Get(t.Context(), ra.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameMeta("Store.Get (the blob keeps its first put's)", blob.Meta, wantA)

	// A re-put by the same session refreshes that session's metadata only.
	mc := attachstore.Meta{MediaType: "text/x-c", Label: "renamed.c"}
	mustSessionPut(t, s.Session("a"), data, mc)
	got, err := s.Session("a").Get(t.Context(), ra.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameMeta("Session(a).Get after a re-put", got.Meta, mc)
	got, err = s.Session("b").Get(t.Context(), ra.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameMeta("Session(b).Get after a re-put by a", got.Meta, wantB)
}

func testDropSession(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	a := s.Session("a")
	var put []attachstore.ID
	for i := range 3 {
		put = append(put, mustSessionPut(t, a, content(uint64(140+i), chunk+i), attachstore.Meta{}).ID)
	}
	if err := a.Commit(t.Context(), put[0]); err != nil {
		t.Fatal(err)
	}
	kept := mustSessionPut(t, s.Session("b"), content(140, chunk), attachstore.Meta{})
	if err := s.DropSession(t.Context(), "a"); err != nil {
		t.Fatalf("DropSession(a): %v", err)
	}
	if es := refs(t, s, "a"); len(es) != 0 {
		t.Errorf("Refs(a) after DropSession = %d entries", len(es))
	}
	if p := pending(t, s, "a"); len(p) != 0 {
		t.Errorf("Pending(a) after DropSession = %v", p)
	}
	if n := len(listAll(t, s)); n != 3 {
		t.Errorf("List yielded %d blobs after DropSession, want 3 (the bytes stay)", n)
	}
	if _, err := s.Session("b").Get(t.Context(), kept.ID); err != nil {
		t.Errorf("another session's ref went with DropSession(a): %v", err)
	}
	for _, id := range put[1:] {
		if err := s.Delete(t.Context(), id); err != nil {
			t.Errorf("Delete(%s) after DropSession = %v, want nil", id, err)
		}
	}
	if err := s.DropSession(t.Context(), "never existed"); err != nil {
		t.Errorf("DropSession of an unknown session = %v, want nil", err)
	}
}

func testCommitAll(t *testing.T, h Harness) {
	clock := newClock()
	s := h.Open(t, smallChunks, attachstore.WithClock(clock.Now))
	a := s.Session("a")
	if err := a.Commit(t.Context()); err != nil {
		t.Errorf("Commit() with nothing pending = %v, want nil", err)
	}
	var first []attachstore.ID
	for i := range 3 {
		first = append(first, mustSessionPut(t, a, fmt.Appendf(nil, "first %d", i), attachstore.Meta{}).ID)
		clock.Advance(time.Second)
	}
	other := mustSessionPut(t, s.Session("b"), []byte("b's"), attachstore.Meta{})
	if p := pending(t, s, "a"); !slices.Equal(p, first) {
		t.Errorf("Pending = %v, want %v (oldest intent first)", p, first)
	}
	stamp1 := clock.Now()
	if err := a.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	later := mustSessionPut(t, a, []byte("later"), attachstore.Meta{})
	if p := pending(t, s, "a"); !slices.Equal(p, []attachstore.ID{later.ID}) {
		t.Errorf("Pending after Commit() and one more put = %v, want [%s]", p, later.ID)
	}
	clock.Advance(time.Minute)
	stamp2 := clock.Now()
	if err := a.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, e := range refs(t, s, "a") {
		want := stamp1
		if e.ID == later.ID {
			want = stamp2
		}
		if !e.CommittedAt.Equal(want) {
			t.Errorf("%s committed at %v, want %v", e.ID, e.CommittedAt, want)
		}
	}
	if p := pending(t, s, "b"); !slices.Equal(p, []attachstore.ID{other.ID}) {
		t.Errorf("Commit() on session a stamped session b's refs: Pending(b) = %v", p)
	}
}

// Invariant 7: Commit stamps existing rows only and never brings back a
// ref that is gone.
func testCommitNeverResurrects(t *testing.T, h Harness) {
	forget := []struct {
		name string
		fn   func(t *testing.T, s *attachstore.Store, id attachstore.ID)
		// want is what commits into session a then return: a dropped
		// session's tombstone refuses them all.
		want, wantAll error
	}{
		{"SessionDelete", func(t *testing.T, s *attachstore.Store, id attachstore.ID) {
			if err := s.Session("a").Delete(t.Context(), id); err != nil {
				t.Fatal(err)
			}
		}, attachstore.ErrNotFound, nil},
		{"DropSession", func(t *testing.T, s *attachstore.Store, id attachstore.ID) {
			if err := s.DropSession(t.Context(), "a"); err != nil {
				t.Fatal(err)
			}
		}, attachstore.ErrSessionDropped, attachstore.ErrSessionDropped},
		{"RowDeleted", func(t *testing.T, s *attachstore.Store, id attachstore.ID) {
			// What Reclaim does to an expired intent.
			exec(t, s, `DELETE FROM attachstore_refs WHERE session_id = ? AND blob_id = ?`, "a", id[:])
		}, attachstore.ErrNotFound, nil},
	}
	for _, f := range forget {
		t.Run(f.name, func(t *testing.T) {
			s := h.Open(t, smallChunks)
			a := s.Session("a")
			ref := mustSessionPut(t, a, content(151, chunk+1), attachstore.Meta{})
			f.fn(t, s, ref.ID)
			before := state(t, s, "a", "b")
			if err := a.Commit(t.Context(), ref.ID); !errors.Is(err, f.want) {
				t.Errorf("Commit of a forgotten ref = %v, want %v", err, f.want)
			}
			if err := a.Commit(t.Context()); !errors.Is(err, f.wantAll) {
				t.Errorf("Commit() with nothing pending = %v, want %v", err, f.wantAll)
			}
			// b never put it, though the bytes exist.
			if err := s.Session("b").Commit(t.Context(), ref.ID); !errors.Is(err, attachstore.ErrNotFound) {
				t.Errorf("Commit by a session that never put it = %v, want ErrNotFound", err)
			}
			err := s.Update(t.Context(), func(tx *attachstore.Tx) error {
				return tx.Session("a").Commit(t.Context(), ref.ID)
			})
			if !errors.Is(err, f.want) {
				t.Errorf("tx.Session.Commit of a forgotten ref = %v, want %v", err, f.want)
			}
			checkUnchanged(t, "Commit of forgotten refs", before, state(t, s, "a", "b"))
			if ok, _ := s.HoldsRef(t.Context(), "a", ref.ID); ok {
				t.Errorf("Commit resurrected the ref")
			}
			if n := count(t, s, `SELECT count(*) FROM attachstore_refs`); n != 0 {
				t.Errorf("%d ref rows, want 0", n)
			}
		})
	}
}

func testCommitAtomic(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	a := s.Session("a")
	held := mustSessionPut(t, a, []byte("held"), attachstore.Meta{})
	notHeld := mustPut(t, s, []byte("not held"), attachstore.Meta{})
	before := state(t, s, "a")
	for _, order := range [][]attachstore.ID{{held.ID, notHeld.ID}, {notHeld.ID, held.ID}} {
		if err := a.Commit(t.Context(), order...); !errors.Is(err, attachstore.ErrNotFound) {
			t.Errorf("Commit(%v) = %v, want ErrNotFound", order, err)
		}
		checkUnchanged(t, "a Commit that failed on one of its ids", before, state(t, s, "a"))
	}
	if err := a.Commit(t.Context(), held.ID, held.ID); err != nil {
		t.Errorf("Commit of the same id twice = %v", err)
	}
}

// Invariant 7: re-putting committed content never clears its stamp.
func testRePutKeepsStamp(t *testing.T, h Harness) {
	clock := newClock()
	s := h.Open(t, smallChunks, attachstore.WithClock(clock.Now))
	a := s.Session("a")
	data := content(161, 2*chunk+3)
	intent := clock.Now()
	ref := mustSessionPut(t, a.WithOwner("turn-1"), data, attachstore.Meta{Label: "v1"})
	clock.Advance(time.Second)
	stamp := clock.Now()
	if err := a.Commit(t.Context(), ref.ID); err != nil {
		t.Fatal(err)
	}
	// check: the committed ref is the first commit's whatever came after;
	// owners lists the intents to it expected besides.
	check := func(after string, owners ...string) {
		t.Helper()
		var committed []attachstore.Entry
		var intents []string
		for _, e := range refs(t, s, "a") {
			if e.Committed() {
				committed = append(committed, e)
			} else {
				intents = append(intents, e.Owner)
			}
		}
		if len(committed) != 1 {
			t.Fatalf("after %s: %d committed refs, want 1", after, len(committed))
		}
		e := committed[0]
		if !e.CommittedAt.Equal(stamp) || !e.IntentAt.Equal(intent) || e.Owner != "turn-1" || e.Label != "v1" {
			t.Errorf("after %s: committed %v, intent %v, owner %q, label %q; want %v, %v, %q, %q (the first commit's)",
				after, e.CommittedAt, e.IntentAt, e.Owner, e.Label, stamp, intent, "turn-1", "v1")
		}
		slices.Sort(intents)
		if !slices.Equal(intents, owners) {
			t.Errorf("after %s: intents of owners %q, want %q", after, intents, owners)
		}
		if got, err := s.Session("a").Get(t.Context(), ref.ID); err != nil || got.Label != "v1" {
			t.Errorf("after %s: Session.Get = label %q, %v; want the committed ref's %q", after, got.Label, err, "v1")
		}
	}
	clock.Advance(time.Second)
	mustSessionPut(t, a.WithOwner("turn-2"), data, attachstore.Meta{Label: "v2"})
	check("a re-put by another owner", "turn-2")
	clock.Advance(time.Second)
	if _, err := a.PutReader(t.Context(), readerOf(data), attachstore.Meta{Label: "v3"}); err != nil {
		t.Fatal(err)
	}
	check("a re-put by PutReader without an owner", "", "turn-2")
	clock.Advance(time.Second)
	if err := a.Commit(t.Context(), ref.ID); err != nil {
		t.Fatal(err)
	}
	check("a second Commit(id)")
	mustSessionPut(t, a.WithOwner("turn-2"), data, attachstore.Meta{Label: "v4"})
	if err := a.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	check("Commit()")
	mustSessionPut(t, a.WithOwner("turn-1"), data, attachstore.Meta{Label: "v5"})
	check("a re-put by the owner that committed", "turn-1")
	if got, err := a.CommitOwned(t.Context(), "turn-1"); err != nil || !slices.Equal(got, []attachstore.ID{ref.ID}) {
		t.Errorf("CommitOwned(turn-1) of content held committed = %v, %v; want [%s]", got, err, ref.ID)
	}
	check("CommitOwned(turn-1)")
	mustPut(t, s, data, attachstore.Meta{})
	check("a Store.Put of the same bytes")
	err := s.Update(t.Context(), func(tx *attachstore.Tx) error {
		_, err := tx.Session("a").WithOwner("turn-3").Put(t.Context(), data, attachstore.Meta{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	check("a re-put inside Update", "turn-3")
	if got, err := a.Discard(t.Context(), "turn-3"); err != nil || !slices.Equal(got, []attachstore.ID{ref.ID}) {
		t.Errorf("Discard(turn-3) = %v, %v; want [%s]", got, err, ref.ID)
	}
	check("Discard(turn-3)")
}

func testCommitOwned(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	a := s.Session("a")
	put := func(owner, data string) attachstore.ID {
		return mustSessionPut(t, a.WithOwner(owner), []byte(data), attachstore.Meta{}).ID
	}
	t1a, t1b := put("turn-1", "1a"), put("turn-1", "1b")
	t2 := put("turn-2", "2")
	none := put("", "no owner")
	b1 := mustSessionPut(t, s.Session("b").WithOwner("turn-1"), []byte("b 1"), attachstore.Meta{}).ID

	for _, e := range refs(t, s, "a") {
		want := map[attachstore.ID]string{t1a: "turn-1", t1b: "turn-1", t2: "turn-2", none: ""}[e.ID]
		if e.Owner != want {
			t.Errorf("Entry %s owner = %q, want %q", e.ID, e.Owner, want)
		}
	}
	if got, err := a.CommitOwned(t.Context(), "turn-1"); err != nil || !slices.Equal(got, []attachstore.ID{t1a, t1b}) {
		t.Fatalf("CommitOwned(turn-1) = %v, %v; want %v", got, err, []attachstore.ID{t1a, t1b})
	}
	if p := sortedIDs(pending(t, s, "a")); !slices.Equal(p, sortedIDs([]attachstore.ID{t2, none})) {
		t.Errorf("Pending(a) after CommitOwned(turn-1) = %v, want %v", p, []attachstore.ID{t2, none})
	}
	if p := pending(t, s, "b"); !slices.Equal(p, []attachstore.ID{b1}) {
		t.Errorf("CommitOwned(turn-1) on session a stamped session b's refs: Pending(b) = %v", p)
	}
	before := state(t, s, "a", "b")
	for _, owner := range []string{"turn-1", "nobody"} {
		if got, err := a.CommitOwned(t.Context(), owner); err != nil || len(got) != 0 {
			t.Errorf("CommitOwned(%q) with nothing of it pending = %v, %v; want no ids, nil", owner, got, err)
		}
	}
	checkUnchanged(t, "CommitOwned with nothing pending", before, state(t, s, "a", "b"))
	if got, err := a.CommitOwned(t.Context(), ""); err != nil || !slices.Equal(got, []attachstore.ID{none}) {
		t.Fatalf("CommitOwned(\"\") = %v, %v; want [%s]", got, err, none)
	}
	if p := pending(t, s, "a"); !slices.Equal(p, []attachstore.ID{t2}) {
		t.Errorf("Pending(a) after CommitOwned(\"\") = %v, want [%s]", p, t2)
	}
	var got []attachstore.ID
	err := s.Update(t.Context(), func(tx *attachstore.Tx) (err error) {
		got, err = tx.Session("a").CommitOwned(t.Context(), "turn-2")
		return err
	})
	if err != nil || !slices.Equal(got, []attachstore.ID{t2}) {
		t.Fatalf("tx CommitOwned(turn-2) = %v, %v; want [%s]", got, err, t2)
	}
	if p := pending(t, s, "a"); len(p) != 0 {
		t.Errorf("Pending(a) after tx CommitOwned(turn-2) = %v", p)
	}
}

func testListUncommitted(t *testing.T, h Harness) {
	clock := newClock()
	s := h.Open(t, smallChunks, attachstore.WithClock(clock.Now))
	t0 := clock.Now()
	x := mustSessionPut(t, s.Session("a"), []byte("x"), attachstore.Meta{})
	clock.Advance(time.Hour)
	y := mustSessionPut(t, s.Session("b").WithOwner("turn"), content(171, chunk+1), attachstore.Meta{})
	clock.Advance(time.Hour)
	list := func(olderThan time.Time) []string {
		t.Helper()
		es, err := s.ListUncommitted(t.Context(), olderThan)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			if e.Committed() {
				t.Errorf("ListUncommitted yielded committed %s", e.ID)
			}
			out = append(out, fmt.Sprintf("%s/%s/%d/%s", e.SessionID, e.ID, e.Size, e.Owner))
		}
		return out
	}
	ex := fmt.Sprintf("a/%s/1/", x.ID)
	ey := fmt.Sprintf("b/%s/%d/turn", y.ID, chunk+1)
	for _, c := range []struct {
		olderThan time.Time
		want      []string
	}{
		{t0, nil},
		{t0.Add(30 * time.Minute), []string{ex}},
		{t0.Add(2 * time.Hour), []string{ex, ey}},
	} {
		if got := list(c.olderThan); !slices.Equal(got, c.want) {
			t.Errorf("ListUncommitted(t0+%v) = %v, want %v", c.olderThan.Sub(t0), got, c.want)
		}
	}
	if err := s.Session("a").Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := list(t0.Add(2 * time.Hour)); !slices.Equal(got, []string{ey}) {
		t.Errorf("ListUncommitted after a committed = %v, want [%s]", got, ey)
	}
}

func testHoldsRef(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	a := s.Session("a")
	p := mustSessionPut(t, a, []byte("pending"), attachstore.Meta{})
	c := mustSessionPut(t, a, []byte("committed"), attachstore.Meta{})
	if err := a.Commit(t.Context(), c.ID); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		session string
		id      attachstore.ID
		want    bool
	}{
		{"a", p.ID, true},
		{"a", c.ID, true},
		{"b", p.ID, false},
		{"a", attachstore.ContentID([]byte("nothing")), false},
	} {
		if got, err := s.HoldsRef(t.Context(), q.session, q.id); got != q.want || err != nil {
			t.Errorf("HoldsRef(%s, %s) = %v, %v; want %v", q.session, q.id, got, err, q.want)
		}
	}
	if err := a.Delete(t.Context(), c.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.HoldsRef(t.Context(), "a", c.ID); got || err != nil {
		t.Errorf("HoldsRef after Session.Delete = %v, %v", got, err)
	}
}
