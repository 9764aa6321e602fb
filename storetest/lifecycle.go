package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

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
