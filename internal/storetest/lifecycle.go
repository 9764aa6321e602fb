package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/attachstore/attachstore"
)

// testLifecycle covers opening, reopening, closing, and what Open and reads
// do with a database that is too new, half-migrated or damaged.
func testLifecycle(t *testing.T, h Harness) {
	t.Run("Persistence", func(t *testing.T) {
		s := h.Open(t)
		if got := s.Persistence(); got != h.Persistence {
			t.Errorf("Persistence() = %v, want %v", got, h.Persistence)
		}
	})
	t.Run("FreshStoresAreSeparate", func(t *testing.T) {
		a, b := h.Open(t), h.Open(t)
		ref := mustPut(t, a, []byte("only in a"), attachstore.Meta{})
		if _, err := b.Stat(t.Context(), ref.ID); !errors.Is(err, attachstore.ErrNotFound) {
			t.Errorf("a second fresh store sees the first's content: Stat = %v, want ErrNotFound", err)
		}
	})
	t.Run("SurvivesReopen", func(t *testing.T) { testSurvivesReopen(t, h) })
	t.Run("ChunkSizeChange", func(t *testing.T) { testChunkSizeChange(t, h) })
	t.Run("ErrSchemaTooNew", func(t *testing.T) { testSchemaVersion(t, h, "version", 99, attachstore.ErrSchemaTooNew) })
	t.Run("ErrDirtySchema", func(t *testing.T) { testSchemaVersion(t, h, "dirty", true, attachstore.ErrDirtySchema) })
	t.Run("ErrCorrupt/Garbage", func(t *testing.T) { testGarbage(t, h) })
	t.Run("ErrCorrupt/DamagedChunks", func(t *testing.T) { testDamagedChunks(t, h) })
	t.Run("Repair", func(t *testing.T) { testRepair(t, h) })
	t.Run("ErrClosed", func(t *testing.T) { testClosed(t, h) })
	t.Run("StatsFileBytes", func(t *testing.T) { testStatsFileBytes(t, h) })
}

// testStatsFileBytes: a Durable store reports the space its content takes
// on disk (a file, or PostgreSQL's tables); an Ephemeral one reports none.
func testStatsFileBytes(t *testing.T, h Harness) {
	s := h.Open(t)
	data := content(81, 64<<10)
	mustPut(t, s, data, attachstore.Meta{})
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case h.Persistence == attachstore.Ephemeral && st.FileBytes != 0:
		t.Errorf("Stats.FileBytes of an Ephemeral store = %d, want 0", st.FileBytes)
	case h.Persistence == attachstore.Durable && st.FileBytes < int64(len(data)):
		t.Errorf("Stats.FileBytes of a Durable store holding %d bytes = %d, want at least that", len(data), st.FileBytes)
	}
}

func testSurvivesReopen(t *testing.T, h Harness) {
	needReopen(t, h)
	s := h.Open(t, smallChunks)
	blobs := map[attachstore.ID][]byte{}
	keep := func(ref attachstore.Ref, data []byte) attachstore.Ref { blobs[ref.ID] = data; return ref }
	keep(mustPut(t, s, []byte("plain"), attachstore.Meta{MediaType: "text/plain", Label: "p.txt"}), []byte("plain"))
	keep(mustPut(t, s, nil, attachstore.Meta{}), nil)
	big := content(31, 3*chunk+1)
	if ref, err := s.PutReader(t.Context(), readerOf(big), attachstore.Meta{Label: "big"}); err != nil {
		t.Fatal(err)
	} else {
		keep(ref, big)
	}
	a := s.Session("a")
	committed := keep(mustSessionPut(t, a, []byte("committed"), attachstore.Meta{Label: "c"}), []byte("committed"))
	if err := a.Commit(t.Context(), committed.ID); err != nil {
		t.Fatal(err)
	}
	keep(mustSessionPut(t, a.WithOwner("turn-1"), []byte("pending"), attachstore.Meta{Label: "p"}), []byte("pending"))
	keep(mustSessionPut(t, s.Session("b"), big, attachstore.Meta{Label: "b's view"}), big)

	before := state(t, s, "a", "b")
	pendA, pendB := pending(t, s, "a"), pending(t, s, "b")
	if len(pendA) != 1 || len(pendB) != 1 {
		t.Fatalf("pending before reopen: a=%v b=%v, want one each", pendA, pendB)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2 := reopen(t, h, s, smallChunks)
	if s2.Persistence() != h.Persistence {
		t.Errorf("reopened Persistence() = %v", s2.Persistence())
	}
	checkUnchanged(t, "close and reopen", before, state(t, s2, "a", "b"))
	if got := pending(t, s2, "a"); !slices.Equal(got, pendA) {
		t.Errorf("Pending(a) after reopen = %v, want %v", got, pendA)
	}
	if got := pending(t, s2, "b"); !slices.Equal(got, pendB) {
		t.Errorf("Pending(b) after reopen = %v, want %v", got, pendB)
	}
	for id, data := range blobs {
		got, err := s2.Get(t.Context(), id)
		if err != nil || !bytes.Equal(got.Data, data) {
			t.Errorf("Get(%s) after reopen = %d bytes (equal=%v), %v", id, len(got.Data), bytes.Equal(got.Data, data), err)
		}
	}
	// The pending intent keeps its owner across the restart.
	if got, err := s2.Session("a").CommitOwned(t.Context(), "turn-1"); err != nil || !slices.Equal(got, pendA) {
		t.Fatalf("CommitOwned(turn-1) on the reopened store = %v, %v; want %v", got, err, pendA)
	}
	if got := pending(t, s2, "a"); len(got) != 0 {
		t.Errorf("Pending(a) after CommitOwned(turn-1) on the reopened store = %v, want none", got)
	}
}

func testChunkSizeChange(t *testing.T, h Harness) {
	needReopen(t, h)
	s := h.Open(t, smallChunks)
	data := content(41, 3*chunk+1)
	ref := mustPut(t, s, data, attachstore.Meta{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := reopen(t, h, s, attachstore.WithChunkSize(2*chunk))
	checkSeeks(t, s2, ref.ID, data)
	again, err := s2.PutReader(t.Context(), readerOf(data), attachstore.Meta{})
	if err != nil || again.ID != ref.ID {
		t.Fatalf("PutReader of the same bytes with another chunk size = %s, %v", again.ID, err)
	}
	if all := listAll(t, s2); len(all) != 1 {
		t.Errorf("List yielded %d blobs, want 1 (the same bytes under another chunk size are still one blob)", len(all))
	}
	other := content(42, 3*chunk+1)
	ref2 := mustPut(t, s2, other, attachstore.Meta{})
	checkSeeks(t, s2, ref2.ID, other)
	if n, want := chunkRows(t, s2), int64(4+2); n != want {
		t.Errorf("%d chunk rows, want %d (4 of %d bytes, then 2 of %d)", n, want, chunk, 2*chunk)
	}
}

// testSchemaVersion sets a column of the migration record by hand and
// checks that Open refuses the file with want, and leaves the record alone.
func testSchemaVersion(t *testing.T, h Harness, column string, value any, want error) {
	needReopen(t, h)
	s := h.Open(t)
	mustPut(t, s, []byte("written by an older version"), attachstore.Meta{})
	db := rawDB(t, h, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := db.ExecContext(t.Context(), db.Rebind(`UPDATE attachstore_schema_migrations SET `+column+` = ?`), value)
	if err != nil {
		t.Fatalf("setting schema_migrations.%s: %v", column, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("schema_migrations has %d rows, want 1", n)
	}
	var before string
	if err := db.QueryRowxContext(t.Context(), `SELECT version || ' ' || dirty FROM attachstore_schema_migrations`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	s2, err := h.Reopen(t, s)
	if !errors.Is(err, want) {
		t.Fatalf("Open with schema_migrations.%s = %v: %v, want %v", column, value, err, want)
	}
	if s2 != nil {
		t.Errorf("Open returned a store with its error")
	}
	if want == attachstore.ErrDirtySchema && !strings.Contains(err.Error(), "dirty") {
		t.Errorf("the error does not say how to recover: %v", err)
	}
	var after string
	if err := db.QueryRowxContext(t.Context(), `SELECT version || ' ' || dirty FROM attachstore_schema_migrations`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("the refused Open changed the migration record from %q to %q", before, after)
	}
}

func testGarbage(t *testing.T, h Harness) {
	if h.OpenGarbage == nil {
		t.Skip("harness cannot open garbage")
	}
	header := []byte("SQLite format 3\x00")
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"Random4KiB", content(51, 4096)},
		{"Random1MiB", content(52, 1<<20)},
		{"Text", []byte(strings.Repeat("this is not a database\n", 200))},
		{"Zeros", make([]byte, 8192)},
		{"HeaderThenGarbage", append(slices.Clone(header), content(53, 8192-len(header))...)},
		{"HeaderOnly", slices.Clone(header)},
		{"JSON", []byte(`{"attachments": []}`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			var (
				s     *attachstore.Store
				after []byte
				err   error
			)
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("Open of %s panicked: %v", c.name, p)
					}
				}()
				s, after, err = h.OpenGarbage(t, c.data)
			}()
			if s != nil {
				defer s.Close()
				t.Fatalf("Open of %d bytes of %s succeeded (err %v), want ErrCorrupt", len(c.data), c.name, err)
			}
			if !errors.Is(err, attachstore.ErrCorrupt) {
				t.Errorf("Open of %s = %v, want ErrCorrupt", c.name, err)
			}
			if !bytes.Equal(after, c.data) {
				t.Errorf("the refused Open changed the file: %d bytes before, %d after", len(c.data), len(after))
			}
		})
	}
}

func testDamagedChunks(t *testing.T, h Harness) {
	const size = 3*chunk + 5 // chunks 0..3, the last of 5 bytes
	byID := `(SELECT pk FROM attachstore_blobs WHERE id = ?)`
	cases := []struct {
		name   string
		damage string
		args   func(id attachstore.ID) []any
		reader bool // whether a Reader, which reads only Size bytes, sees it
		// readsFine: the damage lies past the recorded size, where no read
		// looks; reads return the right bytes and only Verify reports it.
		readsFine bool
	}{
		{"TruncatedChunk", `UPDATE attachstore_chunks SET data = ? WHERE seq = 1 AND blob_pk = ` + byID,
			func(id attachstore.ID) []any { return []any{[]byte("short"), id[:]} }, true, false},
		{"MissingMiddleChunk", `DELETE FROM attachstore_chunks WHERE seq = 1 AND blob_pk = ` + byID,
			func(id attachstore.ID) []any { return []any{id[:]} }, true, false},
		{"MissingLastChunk", `DELETE FROM attachstore_chunks WHERE seq = 3 AND blob_pk = ` + byID,
			func(id attachstore.ID) []any { return []any{id[:]} }, true, false},
		{"AllChunksMissing", `DELETE FROM attachstore_chunks WHERE blob_pk = ` + byID,
			func(id attachstore.ID) []any { return []any{id[:]} }, true, false},
		{"LastChunkTooLong", `UPDATE attachstore_chunks SET data = ? WHERE seq = 3 AND blob_pk = ` + byID,
			func(id attachstore.ID) []any { return []any{[]byte("0123456789"), id[:]} }, true, false},
		{"ExtraChunk", `INSERT INTO attachstore_chunks (blob_pk, seq, data) SELECT pk, 4, ? FROM attachstore_blobs WHERE id = ?`,
			func(id attachstore.ID) []any { return []any{[]byte("extra"), id[:]} }, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := h.Open(t, smallChunks)
			ref := mustSessionPut(t, s.Session("s"), content(61, size), attachstore.Meta{})
			exec(t, s, c.damage, c.args(ref.ID)...)
			if c.readsFine {
				for what, get := range map[string]func() (attachstore.Attachment, error){
					"Get":         func() (attachstore.Attachment, error) { return s.Get(t.Context(), ref.ID) },
					"Session.Get": func() (attachstore.Attachment, error) { return s.Session("s").Get(t.Context(), ref.ID) },
				} {
					if a, err := get(); err != nil || !bytes.Equal(a.Data, content(61, size)) {
						t.Errorf("%s of a blob with %s: %d bytes, %v; want the %d stored", what, c.name, len(a.Data), err, size)
					}
				}
				rep, err := s.Verify(t.Context())
				if err != nil || len(rep.Corrupt) != 1 || rep.Corrupt[0] != ref.ID {
					t.Errorf("Verify of a blob with %s: %+v, %v; want it reported corrupt", c.name, rep, err)
				}
				return
			}
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, attachstore.ErrCorrupt) {
					t.Errorf("%s of a blob with %s = %v, want ErrCorrupt", what, c.name, err)
				} else if !strings.Contains(err.Error(), ref.ID.String()) {
					t.Errorf("%s: %q does not name the id", what, err)
				}
			}
			_, err := s.Get(t.Context(), ref.ID)
			check("Get", err)
			_, err = s.Session("s").Get(t.Context(), ref.ID)
			check("Session.Get", err)
			if !c.reader {
				return
			}
			for _, open := range []struct {
				name string
				fn   func() (*attachstore.Reader, error)
			}{
				{"NewReader", func() (*attachstore.Reader, error) { return s.NewReader(t.Context(), ref.ID) }},
				{"Session.NewReader", func() (*attachstore.Reader, error) { return s.Session("s").NewReader(t.Context(), ref.ID) }},
			} {
				r, err := open.fn()
				if err != nil {
					t.Errorf("%s: %v", open.name, err)
					continue
				}
				_, err = io.ReadAll(r)
				check(open.name+" then ReadAll", err)
				r.Close()
			}
		})
	}
}

func testClosed(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	known := mustSessionPut(t, s.Session("allops"), content(71, 3*chunk+1), attachstore.Meta{})
	r, err := s.NewReader(t.Context(), known.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, o := range allOps(s, known.ID, r) {
		if err := o.call(t.Context()); !errors.Is(err, attachstore.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", o.name, err)
		} else {
			onePrefix(t, o.name+" after Close", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	_ = fmt.Sprint(s.Persistence()) // still answers, without panicking
}

// blobPK is the pk of the blob with id: a changed pk means its chunks were
// written again.
func blobPK(t testing.TB, s *attachstore.Store, id attachstore.ID) int64 {
	t.Helper()
	return count(t, s, `SELECT pk FROM attachstore_blobs WHERE id = ?`, id[:])
}

// repairFixture is a blob held by two sessions (one committed ref, one
// owner's intent) and by a plain put, damaged by hand.
type repairFixture struct {
	s      *attachstore.Store
	data   []byte
	ref    attachstore.Ref
	before string // state before the damage
}

func newRepairFixture(t *testing.T, h Harness, data []byte, opts ...attachstore.Option) repairFixture {
	t.Helper()
	s := h.Open(t, append([]attachstore.Option{smallChunks}, opts...)...)
	meta := attachstore.Meta{MediaType: "image/png", Label: "first.png", Extra: []byte(`{"w":3}`)}
	ref := mustPut(t, s, data, meta)
	mustSessionPut(t, s.Session("a"), data, attachstore.Meta{Label: "a's view"})
	if err := s.Session("a").Commit(t.Context(), ref.ID); err != nil {
		t.Fatal(err)
	}
	mustSessionPut(t, s.Session("b").WithOwner("turn-1"), data, attachstore.Meta{Label: "b's view"})
	return repairFixture{s: s, data: data, ref: ref, before: state(t, s, "a", "b")}
}

// verifyCorrupt fails t unless Verify reports exactly the ids given.
func verifyCorrupt(t testing.TB, s *attachstore.Store, what string, want ...attachstore.ID) {
	t.Helper()
	rep, err := s.Verify(t.Context())
	if err != nil {
		t.Fatalf("%s: Verify: %v", what, err)
	}
	if !slices.Equal(sortedIDs(rep.Corrupt), sortedIDs(want)) || len(rep.Problems) != 0 {
		t.Errorf("%s: Verify = corrupt %v, problems %q; want corrupt %v and no problems", what, rep.Corrupt, rep.Problems, want)
	}
}

// testRepair: Repair with the right bytes gives a damaged blob its bytes
// back and keeps everything else; it never stores bytes that no blob had.
func testRepair(t *testing.T, h Harness) {
	const size = 3*chunk + 5 // chunks 0..3, the last of 5 bytes
	byID := `(SELECT pk FROM attachstore_blobs WHERE id = ?)`
	idArg := func(id attachstore.ID) []any { return []any{id[:]} }
	for _, c := range []struct {
		name   string
		damage string
		args   func(id attachstore.ID) []any
	}{
		{"FlippedBytes", `UPDATE attachstore_chunks SET data = ? WHERE seq = 2 AND blob_pk = ` + byID,
			func(id attachstore.ID) []any { return []any{content(62, chunk), id[:]} }},
		{"TruncatedChunk", `UPDATE attachstore_chunks SET data = ? WHERE seq = 1 AND blob_pk = ` + byID,
			func(id attachstore.ID) []any { return []any{[]byte("short"), id[:]} }},
		{"MissingMiddleChunk", `DELETE FROM attachstore_chunks WHERE seq = 1 AND blob_pk = ` + byID, idArg},
		{"MissingLastChunk", `DELETE FROM attachstore_chunks WHERE seq = 3 AND blob_pk = ` + byID, idArg},
		{"AllChunksMissing", `DELETE FROM attachstore_chunks WHERE blob_pk = ` + byID, idArg},
		{"LastChunkTooLong", `UPDATE attachstore_chunks SET data = ? WHERE seq = 3 AND blob_pk = ` + byID,
			func(id attachstore.ID) []any { return []any{[]byte("0123456789"), id[:]} }},
		{"ExtraChunk", `INSERT INTO attachstore_chunks (blob_pk, seq, data) SELECT pk, 4, ? FROM attachstore_blobs WHERE id = ?`,
			func(id attachstore.ID) []any { return []any{[]byte("extra"), id[:]} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newRepairFixture(t, h, content(61, size))
			s, ctx := f.s, t.Context()
			mustPut(t, s, content(63, size), attachstore.Meta{})
			before := state(t, s, "a", "b")
			pk := blobPK(t, s, f.ref.ID)
			exec(t, s, c.damage, c.args(f.ref.ID)...)
			verifyCorrupt(t, s, "after the damage", f.ref.ID)

			id, err := s.Repair(ctx, readerOf(f.data))
			if err != nil || id != f.ref.ID {
				t.Fatalf("Repair with the right bytes = %s, %v; want %s, nil", id, err, f.ref.ID)
			}
			verifyCorrupt(t, s, "after Repair")
			checkUnchanged(t, "the damage and Repair", before, state(t, s, "a", "b"))
			if got := blobPK(t, s, f.ref.ID); got != pk {
				t.Errorf("Repair moved the blob from pk %d to %d (List goes by pk)", pk, got)
			}
			if a, err := s.Get(ctx, f.ref.ID); err != nil || !bytes.Equal(a.Data, f.data) {
				t.Errorf("Get after Repair = %d bytes (equal %v), %v", len(a.Data), bytes.Equal(a.Data, f.data), err)
			}
			for _, ss := range []*attachstore.Session{s.Session("a"), s.Session("b")} {
				if a, err := ss.Get(ctx, f.ref.ID); err != nil || !bytes.Equal(a.Data, f.data) {
					t.Errorf("Session(%q).Get after Repair = %d bytes, %v", ss.ID(), len(a.Data), err)
				}
			}
			checkSeeks(t, s, f.ref.ID, f.data)
			if n := chunkRows(t, s); n != 8 {
				t.Errorf("%d chunk rows after Repair, want 8 (4 of each blob)", n)
			}
			if n := orphanChunks(t, s); n != 0 {
				t.Errorf("%d chunk rows of no blob after Repair", n)
			}
			if p := pending(t, s, "b"); !slices.Equal(p, []attachstore.ID{f.ref.ID}) {
				t.Errorf("Pending(b) after Repair = %v, want the intent kept", p)
			}
		})
	}

	t.Run("IntactChangesNothing", func(t *testing.T) {
		f := newRepairFixture(t, h, content(64, size))
		small, empty := content(65, 10), []byte{}
		mustPut(t, f.s, small, attachstore.Meta{})
		mustPut(t, f.s, empty, attachstore.Meta{})
		before := state(t, f.s, "a", "b")
		for _, data := range [][]byte{f.data, small, empty} {
			want := attachstore.ContentID(data)
			pk, rows := blobPK(t, f.s, want), chunkRows(t, f.s)
			id, err := f.s.Repair(t.Context(), readerOf(data))
			if err != nil || id != want {
				t.Fatalf("Repair of an intact blob of %d bytes = %s, %v; want %s, nil", len(data), id, err, want)
			}
			checkUnchanged(t, "Repair of an intact blob", before, state(t, f.s, "a", "b"))
			if got := blobPK(t, f.s, want); got != pk {
				t.Errorf("Repair of an intact blob of %d bytes rewrote it: pk %d -> %d", len(data), pk, got)
			}
			if got := chunkRows(t, f.s); got != rows {
				t.Errorf("Repair of an intact blob of %d bytes left %d chunk rows, want %d", len(data), got, rows)
			}
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := newRepairFixture(t, h, content(67, size))
		rows := chunkRows(t, f.s)
		for _, data := range [][]byte{content(66, size), []byte("never stored"), {}} {
			id, err := f.s.Repair(t.Context(), readerOf(data))
			if !errors.Is(err, attachstore.ErrNotFound) {
				t.Fatalf("Repair with %d bytes no blob has = %s, %v; want ErrNotFound", len(data), id, err)
			}
			if id != attachstore.ContentID(data) || !strings.Contains(err.Error(), id.String()) {
				t.Errorf("Repair's ErrNotFound = %s, %q; want the id of the bytes, %s, in both", id, err, attachstore.ContentID(data))
			}
			onePrefix(t, "Repair's ErrNotFound", err)
			checkUnchanged(t, "Repair with bytes no blob has", f.before, state(t, f.s, "a", "b"))
			if got := chunkRows(t, f.s); got != rows {
				t.Errorf("Repair with bytes no blob has left %d chunk rows, want %d: it stored them", got, rows)
			}
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Where writers run in parallel (PostgreSQL), the first Repair
		// rewrites the blob and the others find it intact; every one
		// succeeds, and the blob has one set of chunks.
		f := newRepairFixture(t, h, content(72, size))
		exec(t, f.s, `DELETE FROM attachstore_chunks WHERE seq = 2 AND blob_pk = `+byID, f.ref.ID[:])
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if id, err := f.s.Repair(t.Context(), readerOf(f.data)); err != nil || id != f.ref.ID {
					t.Errorf("concurrent Repair = %s, %v; want %s, nil", id, err, f.ref.ID)
				}
			})
		}
		wg.Wait()
		verifyCorrupt(t, f.s, "after concurrent Repairs")
		checkUnchanged(t, "concurrent Repairs", f.before, state(t, f.s, "a", "b"))
		if n := chunkRows(t, f.s); n != 4 {
			t.Errorf("%d chunk rows after concurrent Repairs, want 4", n)
		}
	})

	t.Run("StopsUnchanged", func(t *testing.T) {
		errBoom := errors.New("storetest: the input broke")
		for _, c := range []struct {
			name  string
			input func(data []byte, cancel context.CancelFunc) io.Reader
			want  error
		}{
			{"CancelledBefore", func(data []byte, cancel context.CancelFunc) io.Reader {
				cancel()
				return readerOf(data)
			}, context.Canceled},
			{"CancelledMidway", func(data []byte, cancel context.CancelFunc) io.Reader {
				return &cancelAfter{r: readerOf(data), n: chunk + 1, cancel: cancel}
			}, context.Canceled},
			{"InputFails", func(data []byte, cancel context.CancelFunc) io.Reader {
				return io.MultiReader(bytes.NewReader(data[:2*chunk]), iotest.ErrReader(errBoom))
			}, errBoom},
			{"TooLarge", func(data []byte, cancel context.CancelFunc) io.Reader {
				return readerOf(append(slices.Clone(data), content(68, 4*chunk)...))
			}, attachstore.ErrTooLarge},
		} {
			t.Run(c.name, func(t *testing.T) {
				f := newRepairFixture(t, h, content(69, size), attachstore.WithMaxBlobSize(6*chunk))
				exec(t, f.s, `DELETE FROM attachstore_chunks WHERE seq = 1 AND blob_pk = `+byID, f.ref.ID[:])
				pk, rows := blobPK(t, f.s, f.ref.ID), chunkRows(t, f.s)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				if _, err := f.s.Repair(ctx, c.input(f.data, cancel)); !errors.Is(err, c.want) {
					t.Fatalf("Repair = %v, want %v", err, c.want)
				}
				verifyCorrupt(t, f.s, "after the stopped Repair", f.ref.ID)
				checkUnchanged(t, "a stopped Repair", f.before, state(t, f.s, "a", "b"))
				if got := blobPK(t, f.s, f.ref.ID); got != pk {
					t.Errorf("a stopped Repair changed the blob's pk %d -> %d", pk, got)
				}
				if got := chunkRows(t, f.s); got != rows {
					t.Errorf("a stopped Repair left %d chunk rows, want %d", got, rows)
				}
			})
		}
	})

	t.Run("OtherChunkSize", func(t *testing.T) {
		needReopen(t, h)
		f := newRepairFixture(t, h, content(70, size))
		exec(t, f.s, `UPDATE attachstore_chunks SET data = ? WHERE seq = 0 AND blob_pk = `+byID, content(71, chunk), f.ref.ID[:])
		if err := f.s.Close(); err != nil {
			t.Fatal(err)
		}
		s := reopen(t, h, f.s, attachstore.WithChunkSize(2*chunk))
		if _, err := s.Repair(t.Context(), readerOf(f.data)); err != nil {
			t.Fatalf("Repair with another chunk size: %v", err)
		}
		verifyCorrupt(t, s, "after Repair with another chunk size")
		checkUnchanged(t, "Repair with another chunk size", f.before, state(t, s, "a", "b"))
		checkSeeks(t, s, f.ref.ID, f.data)
		if n := chunkRows(t, s); n != 2 {
			t.Errorf("%d chunk rows, want 2 of %d bytes", n, 2*chunk)
		}
	})
}
