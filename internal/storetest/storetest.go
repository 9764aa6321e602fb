// Package storetest is attachstore's conformance suite: the behaviour every
// backend of the Store must show, written once against the public API so
// that every engine (SQLite files, in-memory SQLite, PostgreSQL) runs every
// test, in the way of gocloud's drivertest. It is internal: the backends
// are wired into Open, so only this module's own tests can run it.
//
// A backend's tests call Run with a Harness that says how to open its
// stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			Persistence: attachstore.Durable,
//			Open:        func(t testing.TB, opts ...attachstore.Option) *attachstore.Store { ... },
//			Reopen:      ...,
//			Raw:         ...,
//		})
//	}
//
// Raw SQL in the suite names only the tables every backend shares (blobs,
// chunks, refs, schema_migrations) and is written with "?" placeholders,
// rebound for the backend by sqlx.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/jmoiron/sqlx"
)

// Harness tells Run how to make and reach the stores of one backend.
type Harness struct {
	// Persistence is what Store.Persistence reports for this backend.
	Persistence attachstore.Persistence

	// Open opens a new, empty store with opts, failing t if it cannot. The
	// harness closes it when t ends (t.Cleanup); the suite may close it
	// earlier, Close being idempotent. Required.
	Open func(t testing.TB, opts ...attachstore.Option) *attachstore.Store

	// Reopen opens another Store on the database under s, which may be
	// open or closed, and returns Open's error unchanged. The harness closes
	// a returned store when t ends. Nil when a store's content does not
	// outlive its handle (Ephemeral): the tests that need it skip.
	Reopen func(t testing.TB, s *attachstore.Store, opts ...attachstore.Option) (*attachstore.Store, error)

	// Raw opens a connection of the harness's own to the database under s,
	// independent of s's connections, enforcing foreign keys, and closes it
	// when t ends. Nil (or a nil result) when nothing outside the store can
	// reach its database: the tests that need it skip. Tests that only need
	// SQL inside the store's own transaction use Tx.SQL instead.
	Raw func(t testing.TB, s *attachstore.Store) *sqlx.DB

	// OpenGarbage opens a store on storage that holds garbage instead of a
	// database (for SQLite: a file with these bytes), and returns Open's
	// result and the bytes the storage holds after the attempt. Nil skips
	// the garbage tests.
	OpenGarbage func(t testing.TB, garbage []byte, opts ...attachstore.Option) (*attachstore.Store, []byte, error)
}

// Run runs the conformance suite against the backend h describes.
func Run(t *testing.T, h Harness) {
	if h.Open == nil {
		t.Fatal("storetest: Harness.Open is nil")
	}
	t.Run("Content", func(t *testing.T) { testContent(t, h) })
	t.Run("Input", func(t *testing.T) { testInput(t, h) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, h) })
	t.Run("Cancel", func(t *testing.T) { testCancel(t, h) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, h) })
	t.Run("Session", func(t *testing.T) { testSession(t, h) })
	t.Run("Tx", func(t *testing.T) { testTx(t, h) })
	t.Run("Owners", func(t *testing.T) { testOwners(t, h) })
}

// chunk is the chunk size the suite opens stores with where chunk
// boundaries matter: small, so multi-chunk content stays small.
const chunk = attachstore.MinChunkSize

// smallChunks is the option that sets it.
var smallChunks = attachstore.WithChunkSize(chunk)

// content returns n deterministic pseudo-random bytes; equal seeds give
// equal bytes.
func content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// opaque hides a reader's concrete type (and its Len, WriterTo, Seek) so
// that PutReader cannot learn the size in advance.
type opaque struct{ r io.Reader }

func (o opaque) Read(p []byte) (int, error) { return o.r.Read(p) }

func readerOf(b []byte) io.Reader { return opaque{bytes.NewReader(b)} }

func mustPut(t testing.TB, s *attachstore.Store, data []byte, m attachstore.Meta) attachstore.Ref {
	t.Helper()
	ref, err := s.Put(t.Context(), data, m)
	if err != nil {
		t.Fatalf("Put(%d bytes, %+v): %v", len(data), m, err)
	}
	return ref
}

func mustSessionPut(t testing.TB, ss *attachstore.Session, data []byte, m attachstore.Meta) attachstore.Ref {
	t.Helper()
	ref, err := ss.Put(t.Context(), data, m)
	if err != nil {
		t.Fatalf("Session(%q).Put(%d bytes): %v", ss.ID(), len(data), err)
	}
	return ref
}

func listAll(t testing.TB, s *attachstore.Store) []attachstore.Ref {
	t.Helper()
	var refs []attachstore.Ref
	for r, err := range s.List(t.Context()) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		refs = append(refs, r)
	}
	return refs
}

func refs(t testing.TB, s *attachstore.Store, session string) []attachstore.Entry {
	t.Helper()
	es, err := s.Session(session).Refs(t.Context())
	if err != nil {
		t.Fatalf("Session(%q).Refs: %v", session, err)
	}
	return es
}

func pending(t testing.TB, s *attachstore.Store, session string) []attachstore.ID {
	t.Helper()
	ids, err := s.Session(session).Pending(t.Context())
	if err != nil {
		t.Fatalf("Session(%q).Pending: %v", session, err)
	}
	return ids
}

func fmtRef(r attachstore.Ref) string {
	return fmt.Sprintf("%s size=%d type=%s label=%q extra=%s created=%d",
		r.ID, r.Size, r.MediaType, r.Label, r.Extra, r.CreatedAt.UnixNano())
}

func fmtEntry(e attachstore.Entry) string {
	return fmt.Sprintf("%s %s owner=%q intent=%d committed=%d",
		e.SessionID, fmtRef(e.Ref), e.Owner, e.IntentAt.UnixNano(), unixNano(e.CommittedAt))
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// state renders everything the API shows of s: every blob, and every ref
// of the named sessions. Two equal states mean nothing observable changed.
func state(t testing.TB, s *attachstore.Store, sessions ...string) string {
	t.Helper()
	var b strings.Builder
	for _, r := range listAll(t, s) {
		fmt.Fprintf(&b, "blob %s\n", fmtRef(r))
	}
	for _, ss := range sessions {
		for _, e := range refs(t, s, ss) {
			fmt.Fprintf(&b, "ref %s\n", fmtEntry(e))
		}
	}
	return b.String()
}

func checkUnchanged(t testing.TB, what, before, after string) {
	t.Helper()
	if before != after {
		t.Errorf("%s changed the store:\nbefore:\n%s\nafter:\n%s", what, before, after)
	}
}

// sameRef describes how got differs from want, or returns "".
func sameRef(got, want attachstore.Ref) string {
	if got.ID != want.ID || got.Size != want.Size || got.MediaType != want.MediaType ||
		got.Label != want.Label || !bytes.Equal(got.Extra, want.Extra) || !got.CreatedAt.Equal(want.CreatedAt) {
		return fmt.Sprintf("got  %s\nwant %s", fmtRef(got), fmtRef(want))
	}
	return ""
}

// count runs a count query in a read snapshot of s, through the store's own
// transaction (so it works for every backend, in-memory ones included).
func count(t testing.TB, s *attachstore.Store, query string, args ...any) int64 {
	t.Helper()
	var n int64
	err := s.View(t.Context(), func(tx *attachstore.Tx) error {
		return tx.SQL().QueryRowxContext(t.Context(), tx.SQL().Rebind(query), args...).Scan(&n)
	})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// exec runs a statement in a write transaction of s, as host SQL.
func exec(t testing.TB, s *attachstore.Store, query string, args ...any) {
	t.Helper()
	err := s.Update(t.Context(), func(tx *attachstore.Tx) error {
		_, err := tx.SQL().ExecContext(t.Context(), tx.SQL().Rebind(query), args...)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// rawDB returns the harness's own connection to s's database, or skips t.
func rawDB(t testing.TB, h Harness, s *attachstore.Store) *sqlx.DB {
	t.Helper()
	if h.Raw == nil {
		t.Skip("harness has no raw access to the database")
	}
	db := h.Raw(t, s)
	if db == nil {
		t.Skip("harness has no raw access to this database")
	}
	return db
}

func reopen(t testing.TB, h Harness, s *attachstore.Store, opts ...attachstore.Option) *attachstore.Store {
	t.Helper()
	s2, err := h.Reopen(t, s, opts...)
	if err != nil {
		t.Fatalf("Reopen: %v", err)
	}
	return s2
}

func needReopen(t testing.TB, h Harness) {
	t.Helper()
	if h.Reopen == nil {
		t.Skipf("%v stores cannot be reopened", h.Persistence)
	}
}

// chunkRows is how many chunk rows the database holds.
func chunkRows(t testing.TB, s *attachstore.Store) int64 {
	t.Helper()
	return count(t, s, `SELECT count(*) FROM attachstore_chunks`)
}

// orphanChunks is how many chunk rows belong to no blob.
func orphanChunks(t testing.TB, s *attachstore.Store) int64 {
	t.Helper()
	return count(t, s, `SELECT count(*) FROM attachstore_chunks WHERE blob_pk NOT IN (SELECT pk FROM attachstore_blobs)`)
}

// within runs fn and fails t if it has not returned after d: a call that
// deadlocks fails the test instead of hanging it. fn must not call
// t.Fatal (it may run on another goroutine); it reports with t.Error.
func within(t testing.TB, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v (deadlock?)", what, d)
	}
}

// manualClock is a clock for WithClock that moves only when told.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *manualClock {
	return &manualClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func ids(refs []attachstore.Ref) []attachstore.ID {
	out := make([]attachstore.ID, len(refs))
	for i, r := range refs {
		out[i] = r.ID
	}
	return out
}

func sortedIDs(in []attachstore.ID) []attachstore.ID {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b attachstore.ID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// onePrefix fails t unless err's message names attachstore once, at its
// start, however many layers added what they were doing.
func onePrefix(t testing.TB, what string, err error) {
	t.Helper()
	if msg := err.Error(); !strings.HasPrefix(msg, "attachstore: ") || strings.Count(msg, "attachstore: ") != 1 {
		t.Errorf("%s: %q: want one \"attachstore: \" at the start", what, msg)
	}
}

// op is one call the suite makes against every method in turn.
type op struct {
	name string
	call func(ctx context.Context) error
}

// allOps returns a call of every Store, Session and Reader method on s, for
// tests that check one error comes from all of them (ErrClosed,
// a call inside a transaction, a cancelled context). known is content that exists;
// r is a Reader opened on it before the test (nil to leave Read out).
func allOps(s *attachstore.Store, known attachstore.ID, r *attachstore.Reader) []op {
	data := []byte("allOps payload")
	big := content(99, 3*chunk+1)
	ss := s.Session("allops")
	ops := []op{
		{"Put", func(ctx context.Context) error { _, err := s.Put(ctx, data, attachstore.Meta{}); return err }},
		{"PutReader", func(ctx context.Context) error {
			_, err := s.PutReader(ctx, readerOf(big), attachstore.Meta{})
			return err
		}},
		// After PutReader, which stores big: Repair finds it intact.
		{"Repair", func(ctx context.Context) error { _, err := s.Repair(ctx, readerOf(big)); return err }},
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, known); return err }},
		{"NewReader", func(ctx context.Context) error { _, err := s.NewReader(ctx, known); return err }},
		{"Stat", func(ctx context.Context) error { _, err := s.Stat(ctx, known); return err }},
		{"Delete", func(ctx context.Context) error { return s.Delete(ctx, known) }},
		{"List", func(ctx context.Context) error {
			for _, err := range s.List(ctx) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"Session.Put", func(ctx context.Context) error { _, err := ss.Put(ctx, data, attachstore.Meta{}); return err }},
		{"Session.PutReader", func(ctx context.Context) error {
			_, err := ss.PutReader(ctx, readerOf(big), attachstore.Meta{})
			return err
		}},
		{"Session.Get", func(ctx context.Context) error { _, err := ss.Get(ctx, known); return err }},
		{"Session.NewReader", func(ctx context.Context) error { _, err := ss.NewReader(ctx, known); return err }},
		{"Session.Delete", func(ctx context.Context) error { return ss.Delete(ctx, known) }},
		{"Session.Pending", func(ctx context.Context) error { _, err := ss.Pending(ctx); return err }},
		{"Session.Commit", func(ctx context.Context) error { return ss.Commit(ctx) }},
		{"Session.CommitIDs", func(ctx context.Context) error { return ss.Commit(ctx, known) }},
		{"Session.CommitOwned", func(ctx context.Context) error { _, err := ss.CommitOwned(ctx, "turn"); return err }},
		{"Session.Discard", func(ctx context.Context) error { _, err := ss.Discard(ctx, "turn"); return err }},
		{"Session.Hold", func(ctx context.Context) error { return ss.Hold(ctx, "turn", time.Now().Add(time.Hour)) }},
		{"Session.Refs", func(ctx context.Context) error { _, err := ss.Refs(ctx); return err }},
		{"DropSession", func(ctx context.Context) error { return s.DropSession(ctx, "allops") }},
		{"ListUncommitted", func(ctx context.Context) error { _, err := s.ListUncommitted(ctx, time.Now()); return err }},
		{"HoldsRef", func(ctx context.Context) error { _, err := s.HoldsRef(ctx, "allops", known); return err }},
		{"RefsTo", func(ctx context.Context) error { _, err := s.RefsTo(ctx, known); return err }},
		{"Sessions", func(ctx context.Context) error {
			for _, err := range s.Sessions(ctx) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"Update", func(ctx context.Context) error {
			return s.Update(ctx, func(tx *attachstore.Tx) error { return nil })
		}},
		{"View", func(ctx context.Context) error {
			return s.View(ctx, func(tx *attachstore.Tx) error { return nil })
		}},
	}
	if r != nil {
		ops = append(ops, op{"Reader.Read", func(ctx context.Context) error {
			// Seek to the end farther from the last read, whose chunk is
			// not buffered, so that Read must go to the database.
			pos, err := r.Seek(0, io.SeekCurrent)
			if err != nil {
				return err
			}
			target := r.Ref().Size - 1
			if pos >= r.Ref().Size/2 {
				target = 0
			}
			if _, err := r.Seek(target, io.SeekStart); err != nil {
				return err
			}
			_, err = r.Read(make([]byte, 1))
			return err
		}})
	}
	return ops
}
