package attachstore_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/attachstore/attachstore"
	"pgregory.net/rapid"
)

// TestModel drives a durable store through random sequences of every
// content, session, transaction and lifecycle operation — puts (bytes and
// streams, deduplicated), reads (plain and through the session guard),
// deletes, commits by id, of all and by owner, dropped sessions, Reclaim
// under a fake clock, Update with host rows, bad input, Close and reopen —
// and after every step compares everything the store shows (List, Get,
// Refs, Pending, HoldsRef, the guard for every session and id,
// ListUncommitted, Stats, host rows) with a small in-memory model of
// DESIGN.md's contract. rapid shrinks a failure to a minimal sequence.
//
// By default it runs 50 sequences of about 100 steps; under -short rapid
// itself cuts that to 10 sequences of about 50. -rapid.checks and
// -rapid.steps (or RAPID_CHECKS, RAPID_STEPS) override.
func TestModel(t *testing.T) {
	modelSetFlag(t, "rapid.checks", "RAPID_CHECKS", "50")
	modelSetFlag(t, "rapid.steps", "RAPID_STEPS", "100")

	var total, runs int
	start := time.Now()
	rapid.Check(t, func(rt *rapid.T) {
		m := newModelMachine(t, rt)
		rt.Repeat(m.actions())
		m.verify(rt)
		total += m.steps
		runs++
	})
	t.Logf("model: %d steps in %d sequences (%d per sequence on average), %v",
		total, runs, total/max(runs, 1), time.Since(start).Round(time.Millisecond))
}

// modelSetFlag sets one of rapid's flags for this test unless the command
// line or the environment chose a value.
func modelSetFlag(t *testing.T, name, env, value string) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	fl := flag.Lookup(name)
	if set || os.Getenv(env) != "" || fl == nil {
		return
	}
	old := fl.Value.String()
	if err := flag.Set(name, value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flag.Set(name, old) })
}

// The reference model.

type modelBlob struct {
	data             []byte
	meta             attachstore.Meta // of the first put
	created, touched int64
	seq              int // List order: the order blobs were (re)created
}

// modelRef is a session's committed ref, or an owner's intent.
type modelRef struct {
	meta      attachstore.Meta
	owner     string
	intent    int64
	committed int64 // 0 for an intent
}

type modelKey struct {
	session string
	id      attachstore.ID
}

type modelIntentKey struct {
	modelKey
	owner string
}

type modelHoldKey struct{ session, owner string }

// modelState is DESIGN.md's manifest as plain maps: at most one committed
// ref per (session, id), one intent per (session, id, owner), holds and
// tombstones. A committed ref leaves it only by Session.Delete or
// DropSession: the store must never lose one otherwise.
type modelState struct {
	blobs      map[attachstore.ID]*modelBlob
	committed  map[modelKey]*modelRef
	intents    map[modelIntentKey]*modelRef
	holds      map[modelHoldKey]int64
	tombstones map[string]int64
	seq        int
	hostRows   int
}

func newModelState() *modelState {
	return &modelState{
		blobs:      map[attachstore.ID]*modelBlob{},
		committed:  map[modelKey]*modelRef{},
		intents:    map[modelIntentKey]*modelRef{},
		holds:      map[modelHoldKey]int64{},
		tombstones: map[string]int64{},
	}
}

func (ms *modelState) put(data []byte, m attachstore.Meta, now int64) attachstore.Ref {
	id := attachstore.ContentID(data)
	b, ok := ms.blobs[id]
	if ok {
		b.touched = now
	} else {
		ms.seq++
		b = &modelBlob{data: data, meta: m, created: now, touched: now, seq: ms.seq}
		ms.blobs[id] = b
	}
	return attachstore.Ref{ID: id, Size: int64(len(b.data)), Meta: b.meta, CreatedAt: time.Unix(0, b.created)}
}

// sessionPut is Session.Put: ok is false for a dropped session, which
// changes nothing.
func (ms *modelState) sessionPut(session, owner string, data []byte, m attachstore.Meta, now int64) (attachstore.Ref, bool) {
	if _, dropped := ms.tombstones[session]; dropped {
		return attachstore.Ref{}, false
	}
	ref := ms.put(data, m, now)
	ref.Meta = m
	ms.intents[modelIntentKey{modelKey{session, ref.ID}, owner}] = &modelRef{meta: m, owner: owner, intent: now}
	return ref, true
}

// rows returns every manifest row with its key, committed or not.
func (ms *modelState) rows() []attachstore.Entry {
	var es []attachstore.Entry
	add := func(k modelKey, r *modelRef) {
		b := ms.blobs[k.id]
		es = append(es, attachstore.Entry{
			SessionID:   k.session,
			Ref:         attachstore.Ref{ID: k.id, Size: int64(len(b.data)), Meta: r.meta, CreatedAt: time.Unix(0, b.created)},
			Owner:       r.owner,
			IntentAt:    time.Unix(0, r.intent),
			CommittedAt: modelTime(r.committed),
		})
	}
	for k, r := range ms.committed {
		add(k, r)
	}
	for k, r := range ms.intents {
		add(k.modelKey, r)
	}
	return es
}

func modelTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// entryOrder is Refs' order: intent time, id, owner, intents first.
func entryOrder(a, b attachstore.Entry) int {
	if c := a.IntentAt.Compare(b.IntentAt); c != 0 {
		return c
	}
	if c := strings.Compare(a.SessionID, b.SessionID); c != 0 {
		return c
	}
	if c := bytes.Compare(a.ID[:], b.ID[:]); c != 0 {
		return c
	}
	if c := strings.Compare(a.Owner, b.Owner); c != 0 {
		return c
	}
	return a.CommittedAt.Compare(b.CommittedAt)
}

// entries returns a session's rows in Refs order.
func (ms *modelState) entries(session string) []attachstore.Entry {
	es := slices.DeleteFunc(ms.rows(), func(e attachstore.Entry) bool { return e.SessionID != session })
	slices.SortFunc(es, entryOrder)
	return es
}

// holds reports whether the session holds a ref to id, committed or not.
func (ms *modelState) holdsRef(session string, id attachstore.ID) bool {
	if ms.committed[modelKey{session, id}] != nil {
		return true
	}
	for k := range ms.intents {
		if k.modelKey == (modelKey{session, id}) {
			return true
		}
	}
	return false
}

// readRef is the ref a session reads: its committed one, else its newest
// intent (the least owner among equals).
func (ms *modelState) readRef(session string, id attachstore.ID) *modelRef {
	if r := ms.committed[modelKey{session, id}]; r != nil {
		return r
	}
	var best *modelRef
	for k, r := range ms.intents {
		if k.modelKey == (modelKey{session, id}) && (best == nil || r.intent > best.intent || r.intent == best.intent && r.owner < best.owner) {
			best = r
		}
	}
	return best
}

func (ms *modelState) referenced(id attachstore.ID) bool {
	for _, e := range ms.rows() {
		if e.ID == id {
			return true
		}
	}
	return false
}

// pending is Session.Pending: ids with an intent, each once, by their
// oldest intent.
func (ms *modelState) pending(session string) []attachstore.ID {
	oldest := map[attachstore.ID]int64{}
	for k, r := range ms.intents {
		if k.session != session {
			continue
		}
		if t, ok := oldest[k.id]; !ok || r.intent < t {
			oldest[k.id] = r.intent
		}
	}
	ids := slices.Collect(maps.Keys(oldest))
	slices.SortFunc(ids, func(a, b attachstore.ID) int {
		if c := cmp.Compare(oldest[a], oldest[b]); c != 0 {
			return c
		}
		return bytes.Compare(a[:], b[:])
	})
	return ids
}

// commit makes id's intents in the session its committed ref: the newest
// becomes it unless there is one. ok is false when the session holds no
// ref to id at all.
func (ms *modelState) commit(session string, id attachstore.ID, now int64) bool {
	k := modelKey{session, id}
	if !ms.holdsRef(session, id) {
		return false
	}
	if ms.committed[k] == nil {
		r := *ms.readRef(session, id)
		r.committed = now
		ms.committed[k] = &r
	}
	for ik := range ms.intents {
		if ik.modelKey == k {
			delete(ms.intents, ik)
		}
	}
	return true
}

// commitOwned is CommitOwned: every intent of owner joins or becomes the
// committed ref; it returns their ids, oldest intent first.
func (ms *modelState) commitOwned(session, owner string, now int64) []attachstore.ID {
	ids := ms.ownIntents(session, owner)
	for _, id := range ids {
		ik := modelIntentKey{modelKey{session, id}, owner}
		if ms.committed[ik.modelKey] == nil {
			r := *ms.intents[ik]
			r.committed = now
			ms.committed[ik.modelKey] = &r
		}
		delete(ms.intents, ik)
	}
	delete(ms.holds, modelHoldKey{session, owner})
	return ids
}

func (ms *modelState) ownIntents(session, owner string) []attachstore.ID {
	var ids []attachstore.ID
	for k := range ms.intents {
		if k.session == session && k.owner == owner {
			ids = append(ids, k.id)
		}
	}
	slices.SortFunc(ids, func(a, b attachstore.ID) int {
		ra, rb := ms.intents[modelIntentKey{modelKey{session, a}, owner}], ms.intents[modelIntentKey{modelKey{session, b}, owner}]
		if c := cmp.Compare(ra.intent, rb.intent); c != 0 {
			return c
		}
		return bytes.Compare(a[:], b[:])
	})
	return ids
}

func (ms *modelState) discard(session, owner string) []attachstore.ID {
	ids := ms.ownIntents(session, owner)
	for _, id := range ids {
		delete(ms.intents, modelIntentKey{modelKey{session, id}, owner})
	}
	delete(ms.holds, modelHoldKey{session, owner})
	return ids
}

func (ms *modelState) deleteRefs(session string, keep func(id attachstore.ID) bool) {
	for k := range ms.committed {
		if k.session == session && !keep(k.id) {
			delete(ms.committed, k)
		}
	}
	for k := range ms.intents {
		if k.session == session && !keep(k.id) {
			delete(ms.intents, k)
		}
	}
}

func (ms *modelState) drop(session string, now int64) {
	ms.deleteRefs(session, func(attachstore.ID) bool { return false })
	for k := range ms.holds {
		if k.session == session {
			delete(ms.holds, k)
		}
	}
	ms.tombstones[session] = now
}

// reclaim applies (or, for a dry run, only counts) what Reclaim collects:
// intents older than the cutoff whose owner holds no hold past now,
// lapsed holds, tombstones older than the cutoff, then blobs untouched
// since before the cutoff that no ref is left pointing to. With an empty
// manifest and blobs to delete it refuses (ErrNoRoots) unless allowed.
func (ms *modelState) reclaim(cutoff, now int64, dry, allowEmpty bool) (attachstore.ReclaimReport, error) {
	var rep attachstore.ReclaimReport
	// A hold is no root (invariant 14).
	empty := len(ms.committed)+len(ms.intents)+len(ms.tombstones) == 0
	expired := map[modelIntentKey]bool{}
	for k, r := range ms.intents {
		if r.intent < cutoff && ms.holds[modelHoldKey{k.session, k.owner}] <= now {
			expired[k] = true
		}
	}
	held := map[attachstore.ID]bool{}
	for k := range ms.committed {
		held[k.id] = true
	}
	for k := range ms.intents {
		if !expired[k] {
			held[k.id] = true
		}
	}
	var gone []attachstore.ID
	var goneBytes int64
	for id, b := range ms.blobs {
		if !held[id] && b.touched < cutoff {
			gone = append(gone, id)
			goneBytes += int64(len(b.data))
		}
	}
	if empty && !allowEmpty && len(gone) > 0 {
		if dry {
			rep.ReclaimedBlobs, rep.ReclaimedBytes = len(gone), goneBytes
		}
		return rep, attachstore.ErrNoRoots
	}
	rep.ExpiredIntents = len(expired)
	rep.ReclaimedBlobs, rep.ReclaimedBytes = len(gone), goneBytes
	for _, at := range ms.tombstones {
		if at < cutoff {
			rep.ClearedTombstones++
		}
	}
	if !dry {
		for k := range expired {
			delete(ms.intents, k)
		}
		for k, until := range ms.holds {
			if until <= now {
				delete(ms.holds, k)
			}
		}
		for s, at := range ms.tombstones {
			if at < cutoff {
				delete(ms.tombstones, s)
			}
		}
		for _, id := range gone {
			delete(ms.blobs, id)
		}
	}
	return rep, nil
}

// The machine: the store under test, the model, and what actions draw from.

var (
	modelSessions = []string{"alpha", "beta", `o'brien "γ" 100%_`}
	modelOwners   = []string{"", "turn-1", "turn-2"}
	modelNever    = attachstore.ContentID([]byte("never put by the model test"))
	errModelUndo  = errors.New("model: roll this Update back")
)

type modelMeta struct {
	in, want attachstore.Meta
	valid    bool
}

var modelMetas = []modelMeta{
	{attachstore.Meta{}, attachstore.Meta{MediaType: attachstore.DefaultMediaType}, true},
	{attachstore.Meta{MediaType: "text/plain", Label: "notes.txt"}, attachstore.Meta{MediaType: "text/plain", Label: "notes.txt"}, true},
	{
		attachstore.Meta{MediaType: "Image/PNG", Label: "ünï 'q' 100%", Extra: []byte(" { \"w\": 640,\n \"h\" : 480 } ")},
		attachstore.Meta{MediaType: "image/png", Label: "ünï 'q' 100%", Extra: []byte(`{"w":640,"h":480}`)}, true,
	},
	{attachstore.Meta{MediaType: "application/vnd.x+json", Extra: []byte(`{}`)}, attachstore.Meta{MediaType: "application/vnd.x+json", Extra: []byte(`{}`)}, true},
	{in: attachstore.Meta{MediaType: "text/plain; charset=utf-8"}},
	{in: attachstore.Meta{MediaType: "text"}},
	{in: attachstore.Meta{Label: "a\x00b"}},
	{in: attachstore.Meta{Extra: []byte(`[1,2]`)}},
}

type modelMachine struct {
	tb    *testing.T
	path  string
	clock *fakeClock
	opts  []attachstore.Option
	s     *attachstore.Store
	ms    *modelState
	pool  [][]byte
	seen  map[attachstore.ID]bool
	steps int
}

func newModelMachine(tb *testing.T, rt *rapid.T) *modelMachine {
	dir, err := os.MkdirTemp(tb.TempDir(), "model")
	if err != nil {
		rt.Fatal(err)
	}
	clock := newFakeClock()
	m := &modelMachine{
		tb:    tb,
		path:  filepath.Join(dir, "model.db"),
		clock: clock,
		opts: []attachstore.Option{
			attachstore.WithClock(clock.Now),
			attachstore.WithChunkSize(attachstore.MinChunkSize),
			attachstore.WithTuning(attachstore.Tuning{PageSize: 4096}),
			// Close and reopen is the only "crash" here, so durability
			// against power loss buys nothing but fsyncs.
			attachstore.WithSync(attachstore.SyncOff),
		},
		ms:   newModelState(),
		seen: map[attachstore.ID]bool{modelNever: true},
	}
	c := attachstore.MinChunkSize
	m.pool = [][]byte{{}, []byte("a"), []byte("hello, attachments"), modelBytes(1, c), modelBytes(2, c+1), modelBytes(3, 3*c+5)}
	m.open(rt)
	rt.Cleanup(func() {
		m.s.Close()
		os.RemoveAll(dir)
	})
	if err := m.s.Update(context.Background(), func(tx *attachstore.Tx) error {
		_, err := tx.SQL().Exec(`CREATE TABLE model_host (n INTEGER NOT NULL)`)
		return err
	}); err != nil {
		rt.Fatal(err)
	}
	return m
}

func (m *modelMachine) open(rt *rapid.T) {
	s, err := attachstore.Open(context.Background(), m.path, m.opts...)
	if err != nil {
		rt.Fatalf("open %s: %v", m.path, err)
	}
	m.s = s
}

// modelBytes is n deterministic pseudo-random bytes.
func modelBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func (m *modelMachine) now() int64 { return m.clock.Now().UnixNano() }

// drawData draws content: one of the pool's (so puts deduplicate), or
// fresh bytes. It draws indexes and seeds, not bytes, so a failure's log
// stays short.
func (m *modelMachine) drawData(rt *rapid.T, label string) []byte {
	if rapid.IntRange(0, 4).Draw(rt, label+"Fresh") == 0 {
		n := rapid.IntRange(0, 2*attachstore.MinChunkSize+10).Draw(rt, label+"Len")
		return modelBytes(rapid.Uint64Range(100, 1<<40).Draw(rt, label+"Seed"), n)
	}
	return m.pool[rapid.IntRange(0, len(m.pool)-1).Draw(rt, label+"Pool")]
}

func (m *modelMachine) drawMeta(rt *rapid.T, validOnly bool) modelMeta {
	n := len(modelMetas)
	if validOnly || rapid.IntRange(0, 5).Draw(rt, "metaMaybeBad") != 0 {
		n = 4
	}
	return modelMetas[rapid.IntRange(0, n-1).Draw(rt, "meta")]
}

// drawID picks an id the model has seen (stored now or earlier) or one
// never put.
func (m *modelMachine) drawID(rt *rapid.T, label string) attachstore.ID {
	ids := make([]attachstore.ID, 0, len(m.seen))
	for id := range m.seen {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b attachstore.ID) int { return bytes.Compare(a[:], b[:]) })
	return rapid.SampledFrom(ids).Draw(rt, label)
}

// drawHeldID prefers an id the session holds, so commits and deletes hit.
func (m *modelMachine) drawHeldID(rt *rapid.T, session, label string) attachstore.ID {
	var held []attachstore.ID
	for _, e := range m.ms.entries(session) {
		held = append(held, e.ID)
	}
	if len(held) > 0 && rapid.IntRange(0, 3).Draw(rt, label+"Held") != 0 {
		return rapid.SampledFrom(held).Draw(rt, label)
	}
	return m.drawID(rt, label)
}

func (m *modelMachine) noted(ref attachstore.Ref) { m.seen[ref.ID] = true }

func modelWantErr(rt *rapid.T, op string, got, want error) {
	rt.Helper()
	if want == nil && got != nil {
		rt.Fatalf("%s: unexpected error %v", op, got)
	}
	if want != nil && !errors.Is(got, want) {
		rt.Fatalf("%s: error %v, want one matching %v", op, got, want)
	}
}

func modelRefEqual(a, b attachstore.Ref) bool {
	return a.ID == b.ID && a.Size == b.Size && fuzzMetaEqual(a.Meta, b.Meta) && a.CreatedAt.Equal(b.CreatedAt)
}

func modelEntryEqual(a, b attachstore.Entry) bool {
	return a.SessionID == b.SessionID && modelRefEqual(a.Ref, b.Ref) && a.Owner == b.Owner &&
		a.IntentAt.Equal(b.IntentAt) && a.CommittedAt.Equal(b.CommittedAt)
}

func modelShowEntries(es []attachstore.Entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n  %q %s size=%d meta=%+v owner=%q intent=%d committed=%d",
			e.SessionID, e.ID.String()[:12], e.Size, e.Meta, e.Owner, e.IntentAt.UnixNano(), e.CommittedAt.UnixNano())
	}
	return b.String()
}

func (m *modelMachine) actions() map[string]func(*rapid.T) {
	ctx := context.Background()
	step := func(f func(*rapid.T)) func(*rapid.T) {
		return func(rt *rapid.T) { m.steps++; f(rt) }
	}
	// dropped is the error a write into a session gets: ErrSessionDropped
	// while its tombstone lasts.
	dropped := func(session string) error {
		if _, ok := m.ms.tombstones[session]; ok {
			return attachstore.ErrSessionDropped
		}
		return nil
	}
	return map[string]func(*rapid.T){
		"": m.check,

		"Put": step(func(rt *rapid.T) {
			data, meta := m.drawData(rt, "data"), m.drawMeta(rt, false)
			var (
				got attachstore.Ref
				err error
			)
			if rapid.Bool().Draw(rt, "reader") {
				got, err = m.s.PutReader(ctx, iotest.HalfReader(bytes.NewReader(data)), meta.in)
			} else {
				got, err = m.s.Put(ctx, data, meta.in)
			}
			if !meta.valid {
				modelWantErr(rt, "Put with bad meta", err, attachstore.ErrInvalidMeta)
				return
			}
			modelWantErr(rt, "Put", err, nil)
			want := m.ms.put(data, meta.want, m.now())
			m.noted(want)
			if !modelRefEqual(got, want) {
				rt.Fatalf("Put returned %+v, want %+v", got, want)
			}
		}),

		"SessionPut": step(func(rt *rapid.T) {
			session := rapid.SampledFrom(modelSessions).Draw(rt, "session")
			owner := rapid.SampledFrom(modelOwners).Draw(rt, "owner")
			data, meta := m.drawData(rt, "data"), m.drawMeta(rt, false)
			ss := m.s.Session(session).WithOwner(owner)
			var (
				got attachstore.Ref
				err error
			)
			if rapid.Bool().Draw(rt, "reader") {
				got, err = ss.PutReader(ctx, iotest.OneByteReader(bytes.NewReader(data)), meta.in)
			} else {
				got, err = ss.Put(ctx, data, meta.in)
			}
			if !meta.valid {
				modelWantErr(rt, "Session.Put with bad meta", err, attachstore.ErrInvalidMeta)
				return
			}
			want, ok := m.ms.sessionPut(session, owner, data, meta.want, m.now())
			if !ok {
				modelWantErr(rt, "Session.Put into a dropped session", err, attachstore.ErrSessionDropped)
				return
			}
			modelWantErr(rt, "Session.Put", err, nil)
			m.noted(want)
			if !modelRefEqual(got, want) {
				rt.Fatalf("Session(%q).Put returned %+v, want %+v", session, got, want)
			}
		}),

		"Get": step(func(rt *rapid.T) {
			id := m.drawID(rt, "id")
			a, err := m.s.Get(ctx, id)
			b, ok := m.ms.blobs[id]
			if !ok {
				modelWantErr(rt, "Get of absent content", err, attachstore.ErrNotFound)
				return
			}
			modelWantErr(rt, "Get", err, nil)
			if !bytes.Equal(a.Data, b.data) || !fuzzMetaEqual(a.Meta, b.meta) {
				rt.Fatalf("Get(%s) = %d bytes meta %+v, want %d bytes meta %+v", id, len(a.Data), a.Meta, len(b.data), b.meta)
			}
		}),

		"SessionGet": step(func(rt *rapid.T) {
			session := rapid.SampledFrom(modelSessions).Draw(rt, "session")
			id := m.drawHeldID(rt, session, "id")
			m.checkSessionRead(rt, session, id, rapid.Bool().Draw(rt, "stream"))
		}),

		"Delete": step(func(rt *rapid.T) {
			id := m.drawID(rt, "id")
			err := m.s.Delete(ctx, id)
			if m.ms.referenced(id) {
				modelWantErr(rt, "Delete of referenced content", err, attachstore.ErrReferenced)
				return
			}
			modelWantErr(rt, "Delete", err, nil)
			delete(m.ms.blobs, id)
		}),

		"SessionDelete": step(func(rt *rapid.T) {
			session := rapid.SampledFrom(modelSessions).Draw(rt, "session")
			id := m.drawHeldID(rt, session, "id")
			modelWantErr(rt, "Session.Delete", m.s.Session(session).Delete(ctx, id), nil)
			m.ms.deleteRefs(session, func(other attachstore.ID) bool { return other != id })
		}),

		"Commit": step(func(rt *rapid.T) {
			session := rapid.SampledFrom(modelSessions).Draw(rt, "session")
			n := rapid.IntRange(0, 3).Draw(rt, "n")
			var ids []attachstore.ID
			for i := range n {
				ids = append(ids, m.drawHeldID(rt, session, fmt.Sprint("id", i)))
			}
			err := m.s.Session(session).Commit(ctx, ids...)
			if want := dropped(session); want != nil {
				modelWantErr(rt, "Commit into a dropped session", err, want)
				return
			}
			if n == 0 {
				ids = m.ms.pending(session)
			}
			for _, id := range ids {
				if !m.ms.holdsRef(session, id) {
					// One missing id fails the whole Commit: nothing stamped.
					modelWantErr(rt, fmt.Sprintf("Commit of %s, never held", id), err, attachstore.ErrNotFound)
					return
				}
			}
			modelWantErr(rt, "Commit", err, nil)
			for _, id := range ids {
				m.ms.commit(session, id, m.now())
			}
		}),

		"CommitOwned": step(func(rt *rapid.T) {
			session := rapid.SampledFrom(modelSessions).Draw(rt, "session")
			owner := rapid.SampledFrom(modelOwners).Draw(rt, "owner")
			got, err := m.s.Session(session).CommitOwned(ctx, owner)
			if want := dropped(session); want != nil {
				modelWantErr(rt, "CommitOwned into a dropped session", err, want)
				return
			}
			modelWantErr(rt, "CommitOwned", err, nil)
			if want := m.ms.commitOwned(session, owner, m.now()); !slices.Equal(got, want) {
				rt.Fatalf("CommitOwned(%q, %q) = %v, want %v", session, owner, got, want)
			}
		}),

		"Discard": step(func(rt *rapid.T) {
			session := rapid.SampledFrom(modelSessions).Draw(rt, "session")
			owner := rapid.SampledFrom(modelOwners).Draw(rt, "owner")
			got, err := m.s.Session(session).Discard(ctx, owner)
			modelWantErr(rt, "Discard", err, nil)
			if want := m.ms.discard(session, owner); !slices.Equal(got, want) {
				rt.Fatalf("Discard(%q, %q) = %v, want %v", session, owner, got, want)
			}
		}),

		"Hold": step(func(rt *rapid.T) {
			session := rapid.SampledFrom(modelSessions).Draw(rt, "session")
			owner := rapid.SampledFrom(modelOwners).Draw(rt, "owner")
			until := m.clock.Now().Add(rapid.SampledFrom([]time.Duration{-time.Minute, 0, time.Second, time.Hour, 48 * time.Hour}).Draw(rt, "for"))
			err := m.s.Session(session).Hold(ctx, owner, until)
			if want := dropped(session); want != nil {
				modelWantErr(rt, "Hold in a dropped session", err, want)
				return
			}
			modelWantErr(rt, "Hold", err, nil)
			m.ms.holds[modelHoldKey{session, owner}] = until.UnixNano()
		}),

		"DropSession": step(func(rt *rapid.T) {
			session := rapid.SampledFrom(modelSessions).Draw(rt, "session")
			if rapid.Bool().Draw(rt, "inUpdate") {
				// With a host row, in one transaction.
				err := m.s.Update(ctx, func(tx *attachstore.Tx) error {
					if err := tx.DropSession(ctx, session); err != nil {
						return err
					}
					_, err := tx.SQL().ExecContext(ctx, `INSERT INTO model_host (n) VALUES (1)`)
					return err
				})
				modelWantErr(rt, "tx.DropSession", err, nil)
				m.ms.hostRows++
			} else {
				modelWantErr(rt, "DropSession", m.s.DropSession(ctx, session), nil)
			}
			m.ms.drop(session, m.now())
		}),

		"Reclaim": step(func(rt *rapid.T) {
			p := attachstore.ReclaimPolicy{
				Grace:           rapid.SampledFrom([]time.Duration{0, time.Millisecond, time.Second, time.Minute, time.Hour}).Draw(rt, "grace"),
				DryRun:          rapid.IntRange(0, 4).Draw(rt, "dry") == 0,
				BatchSize:       rapid.IntRange(0, 3).Draw(rt, "batch"),
				AllowEmptyRoots: rapid.Bool().Draw(rt, "allowEmpty"),
			}
			got, err := m.s.Reclaim(ctx, p)
			want, wantErr := m.ms.reclaim(m.now()-int64(p.Grace), m.now(), p.DryRun, p.AllowEmptyRoots)
			modelWantErr(rt, fmt.Sprintf("Reclaim(%+v)", p), err, wantErr)
			got.ReturnedBytes, got.FreeBytes, got.NeedsCompact = 0, 0, false
			if got != want {
				rt.Fatalf("Reclaim(%+v) = %+v, want %+v", p, got, want)
			}
		}),

		"Advance": step(func(rt *rapid.T) {
			m.clock.Advance(rapid.SampledFrom([]time.Duration{1, time.Millisecond, time.Second, time.Minute, 2 * time.Hour}).Draw(rt, "by"))
		}),

		"Reopen": step(func(rt *rapid.T) {
			if err := m.s.Close(); err != nil {
				rt.Fatalf("Close: %v", err)
			}
			_, err := m.s.Get(ctx, modelNever)
			modelWantErr(rt, "Get after Close", err, attachstore.ErrClosed)
			_, err = m.s.Session("alpha").Put(ctx, []byte("after close"), attachstore.Meta{})
			modelWantErr(rt, "Session.Put after Close", err, attachstore.ErrClosed)
			m.open(rt)
		}),

		"Update": step(func(rt *rapid.T) {
			session := rapid.SampledFrom(modelSessions).Draw(rt, "session")
			owner := rapid.SampledFrom(modelOwners).Draw(rt, "owner")
			plain, shared := m.drawData(rt, "plain"), m.drawData(rt, "shared")
			pm, sm := m.drawMeta(rt, true), m.drawMeta(rt, true)
			undo := rapid.IntRange(0, 2).Draw(rt, "undo") == 0
			var stamped []attachstore.ID
			err := m.s.Update(ctx, func(tx *attachstore.Tx) error {
				if _, err := tx.Put(ctx, plain, pm.in); err != nil {
					return err
				}
				ts := tx.Session(session).WithOwner(owner)
				if _, err := ts.Put(ctx, shared, sm.in); err != nil {
					return err
				}
				var err error
				if stamped, err = ts.CommitOwned(ctx, owner); err != nil {
					return err
				}
				if _, err := tx.SQL().ExecContext(ctx, `INSERT INTO model_host (n) VALUES (1)`); err != nil {
					return err
				}
				if undo {
					return errModelUndo
				}
				return nil
			})
			if want := dropped(session); want != nil {
				modelWantErr(rt, "Update into a dropped session", err, want)
				return
			}
			if undo {
				modelWantErr(rt, "rolled-back Update", err, errModelUndo)
				return
			}
			modelWantErr(rt, "Update", err, nil)
			now := m.now()
			m.noted(m.ms.put(plain, pm.want, now))
			ref, _ := m.ms.sessionPut(session, owner, shared, sm.want, now)
			m.noted(ref)
			if want := m.ms.commitOwned(session, owner, now); !slices.Equal(stamped, want) {
				rt.Fatalf("tx CommitOwned(%q, %q) = %v, want %v", session, owner, stamped, want)
			}
			m.ms.hostRows++
		}),

		"BadInput": step(func(rt *rapid.T) {
			var err error
			var want error = attachstore.ErrInvalidSession
			switch what := rapid.IntRange(0, 6).Draw(rt, "what"); what {
			case 0:
				_, err = m.s.Session("").Put(ctx, []byte("x"), attachstore.Meta{})
			case 1:
				_, err = m.s.Session("alpha").WithOwner("nul\x00owner").Put(ctx, []byte("x"), attachstore.Meta{})
			case 2:
				_, err = m.s.Session("alpha").CommitOwned(ctx, strings.Repeat("o", attachstore.MaxSessionIDBytes+1))
			case 3:
				err = m.s.DropSession(ctx, "\xff\xfe")
			case 4:
				_, err = m.s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: -time.Second})
				want = attachstore.ErrInvalidPolicy
			case 5:
				err = m.s.Session("alpha").Hold(ctx, "\xff", time.Now())
			case 6:
				_, err = m.s.Session("").Discard(ctx, "turn-1")
			}
			modelWantErr(rt, "bad input", err, want)
		}),

		"Verify": step(func(rt *rapid.T) { m.verify(rt) }),
	}
}

// checkSessionRead reads id through the session with Get or NewReader: the
// session sees its own metadata and the blob's bytes, or ErrNotFound when it
// holds no ref, even if the content is stored.
func (m *modelMachine) checkSessionRead(rt *rapid.T, session string, id attachstore.ID, stream bool) {
	rt.Helper()
	ctx := context.Background()
	ss := m.s.Session(session)
	var (
		a   attachstore.Attachment
		err error
	)
	if stream {
		var r *attachstore.Reader
		if r, err = ss.NewReader(ctx, id); err == nil {
			a.Ref = r.Ref()
			var buf bytes.Buffer
			_, err = buf.ReadFrom(r)
			a.Data = buf.Bytes()
			r.Close()
		}
	} else {
		a, err = ss.Get(ctx, id)
	}
	r := m.ms.readRef(session, id)
	if r == nil {
		modelWantErr(rt, fmt.Sprintf("session %q reading %s it holds no ref to (stored: %v)", session, id, m.ms.blobs[id] != nil),
			err, attachstore.ErrNotFound)
		return
	}
	modelWantErr(rt, fmt.Sprintf("session %q reading %s (stream %v)", session, id, stream), err, nil)
	b := m.ms.blobs[id]
	if !bytes.Equal(a.Data, b.data) || !fuzzMetaEqual(a.Meta, r.meta) || a.Size != int64(len(b.data)) || !a.CreatedAt.Equal(time.Unix(0, b.created)) {
		rt.Fatalf("session %q read %s: %d bytes, size %d, meta %+v, created %v; want %d bytes, meta %+v, created %d",
			session, id, len(a.Data), a.Size, a.Meta, a.CreatedAt.UnixNano(), len(b.data), r.meta, b.created)
	}
}

// check compares everything the store shows with the model.
func (m *modelMachine) check(rt *rapid.T) {
	ctx := context.Background()
	s, ms := m.s, m.ms

	var listed []attachstore.Ref
	for r, err := range s.List(ctx) {
		if err != nil {
			rt.Fatalf("List: %v", err)
		}
		listed = append(listed, r)
	}
	var blobs []*modelBlob
	for _, b := range ms.blobs {
		blobs = append(blobs, b)
	}
	slices.SortFunc(blobs, func(a, b *modelBlob) int { return a.seq - b.seq })
	if len(listed) != len(blobs) {
		rt.Fatalf("List yields %d blobs, model has %d", len(listed), len(blobs))
	}
	var blobBytes int64
	for i, b := range blobs {
		want := attachstore.Ref{ID: attachstore.ContentID(b.data), Size: int64(len(b.data)), Meta: b.meta, CreatedAt: time.Unix(0, b.created)}
		if !modelRefEqual(listed[i], want) {
			rt.Fatalf("List[%d] = %+v, want %+v", i, listed[i], want)
		}
		a, err := s.Get(ctx, want.ID)
		if err != nil || !bytes.Equal(a.Data, b.data) {
			rt.Fatalf("Get(%s) = %d bytes, %v; want %d bytes", want.ID, len(a.Data), err, len(b.data))
		}
		blobBytes += want.Size
	}

	var uncommitted []attachstore.Entry
	for _, session := range modelSessions {
		ss := s.Session(session)
		got, err := ss.Refs(ctx)
		if err != nil {
			rt.Fatalf("Refs(%q): %v", session, err)
		}
		want := ms.entries(session)
		if !slices.EqualFunc(got, want, modelEntryEqual) {
			rt.Fatalf("Session(%q).Refs = %s\nwant %s", session, modelShowEntries(got), modelShowEntries(want))
		}
		for _, e := range want {
			if !e.Committed() {
				uncommitted = append(uncommitted, e)
			}
		}
		pending, err := ss.Pending(ctx)
		if wantPending := ms.pending(session); err != nil || !slices.Equal(pending, wantPending) {
			rt.Fatalf("Session(%q).Pending = %v, %v; want %v", session, pending, err, wantPending)
		}
		// The guard, for every id the test has seen: the session reads
		// exactly what it holds.
		for id := range m.seen {
			holds, err := s.HoldsRef(ctx, session, id)
			if want := ms.holdsRef(session, id); err != nil || holds != want {
				rt.Fatalf("HoldsRef(%q, %s) = %v, %v; want %v", session, id, holds, err, want)
			}
			m.checkSessionRead(rt, session, id, false)
		}
	}

	// RefsTo, for every id seen: every row that holds it, by session.
	rows := ms.rows()
	for id := range m.seen {
		got, err := s.RefsTo(ctx, id)
		want := slices.DeleteFunc(slices.Clone(rows), func(e attachstore.Entry) bool { return e.ID != id })
		slices.SortFunc(want, func(a, b attachstore.Entry) int {
			if c := strings.Compare(a.SessionID, b.SessionID); c != 0 {
				return c
			}
			return entryOrder(a, b)
		})
		if err != nil || !slices.EqualFunc(got, want, modelEntryEqual) {
			rt.Fatalf("RefsTo(%s) = %s, %v\nwant %s", id, modelShowEntries(got), err, modelShowEntries(want))
		}
	}

	// Sessions: each session with a row, in id order, with its use.
	var wantInfo []attachstore.SessionInfo
	for _, session := range slices.Sorted(slices.Values(modelSessions)) {
		es := ms.entries(session)
		if len(es) == 0 {
			continue
		}
		si := attachstore.SessionInfo{ID: session, Refs: int64(len(es))}
		distinct := map[attachstore.ID]bool{}
		for _, e := range es {
			if !e.Committed() {
				si.Pending++
			}
			if !distinct[e.ID] {
				distinct[e.ID] = true
				si.Bytes += e.Size
			}
			if e.IntentAt.After(si.LastIntentAt) {
				si.LastIntentAt = e.IntentAt
			}
		}
		wantInfo = append(wantInfo, si)
	}
	var gotInfo []attachstore.SessionInfo
	for si, err := range s.Sessions(ctx) {
		if err != nil {
			rt.Fatalf("Sessions: %v", err)
		}
		gotInfo = append(gotInfo, si)
	}
	if !slices.EqualFunc(gotInfo, wantInfo, func(a, b attachstore.SessionInfo) bool {
		return a.ID == b.ID && a.Refs == b.Refs && a.Pending == b.Pending && a.Bytes == b.Bytes && a.LastIntentAt.Equal(b.LastIntentAt)
	}) {
		rt.Fatalf("Sessions = %+v\nwant %+v", gotInfo, wantInfo)
	}

	slices.SortFunc(uncommitted, entryOrder)
	gotUnc, err := s.ListUncommitted(ctx, m.clock.Now().Add(time.Nanosecond))
	if err != nil || !slices.EqualFunc(gotUnc, uncommitted, modelEntryEqual) {
		rt.Fatalf("ListUncommitted = %s, %v\nwant %s", modelShowEntries(gotUnc), err, modelShowEntries(uncommitted))
	}

	st, err := s.Stats(ctx)
	if err != nil {
		rt.Fatalf("Stats: %v", err)
	}
	want := attachstore.Stats{Blobs: int64(len(blobs)), Refs: int64(len(rows)), Sessions: int64(len(wantInfo)),
		UncommittedRefs: int64(len(uncommitted)), BlobBytes: blobBytes, FileBytes: st.FileBytes}
	if st != want {
		rt.Fatalf("Stats = %+v, want %+v", st, want)
	}

	var host int
	if err := s.View(ctx, func(tx *attachstore.Tx) error {
		return tx.SQL().QueryRowContext(ctx, `SELECT count(*) FROM model_host`).Scan(&host)
	}); err != nil || host != ms.hostRows {
		rt.Fatalf("host rows = %d, %v; want %d", host, err, ms.hostRows)
	}
}

func (m *modelMachine) verify(rt *rapid.T) {
	rep, err := m.s.Verify(context.Background())
	if err != nil || !rep.OK() {
		rt.Fatalf("Verify = %+v, %v", rep, err)
	}
}
