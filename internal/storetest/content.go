package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/attachstore/attachstore"
)

// testContent covers the content store without sessions: invariants 1–3
// and the shape of Get, Stat, NewReader, List and Delete.
func testContent(t *testing.T, h Harness) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, h) })
	t.Run("IDIsSHA256", func(t *testing.T) { testIDIsSHA256(t, h) })
	t.Run("Dedup", func(t *testing.T) { testDedup(t, h) })
	t.Run("EmptyBlob", func(t *testing.T) { testEmptyBlob(t, h) })
	t.Run("ErrNotFound", func(t *testing.T) { testNotFound(t, h) })
	t.Run("ChunkBoundaries", func(t *testing.T) { testChunkBoundaries(t, h) })
	t.Run("ReaderDeletedWhileReading", func(t *testing.T) { testReaderDeleted(t, h, false) })
	t.Run("ReaderDeletedAndOtherContentPut", func(t *testing.T) { testReaderDeleted(t, h, true) })
	t.Run("List", func(t *testing.T) { testList(t, h) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, h) })
}

// putVia names the ways content gets in, for tests that run each.
var putVia = []struct {
	name string
	put  func(t testing.TB, s *attachstore.Store, data []byte, m attachstore.Meta) (attachstore.Ref, error)
}{
	{"Put", func(t testing.TB, s *attachstore.Store, data []byte, m attachstore.Meta) (attachstore.Ref, error) {
		return s.Put(t.Context(), data, m)
	}},
	{"PutReader", func(t testing.TB, s *attachstore.Store, data []byte, m attachstore.Meta) (attachstore.Ref, error) {
		return s.PutReader(t.Context(), readerOf(data), m)
	}},
	{"TxPut", func(t testing.TB, s *attachstore.Store, data []byte, m attachstore.Meta) (ref attachstore.Ref, err error) {
		err = s.Update(t.Context(), func(tx *attachstore.Tx) error {
			ref, err = tx.Put(t.Context(), data, m)
			return err
		})
		return ref, err
	}},
	{"TxPutReader", func(t testing.TB, s *attachstore.Store, data []byte, m attachstore.Meta) (ref attachstore.Ref, err error) {
		err = s.Update(t.Context(), func(tx *attachstore.Tx) error {
			ref, err = tx.PutReader(t.Context(), readerOf(data), m)
			return err
		})
		return ref, err
	}},
}

func testRoundTrip(t *testing.T, h Harness) {
	cases := []struct {
		name string
		data []byte
		meta attachstore.Meta
		want attachstore.Meta
	}{
		{"Text", []byte("hello, attachments"),
			attachstore.Meta{MediaType: "Text/Plain", Label: "hello.txt"},
			attachstore.Meta{MediaType: "text/plain", Label: "hello.txt"}},
		{"DefaultMediaType", []byte{0, 1, 2, 3},
			attachstore.Meta{},
			attachstore.Meta{MediaType: attachstore.DefaultMediaType}},
		{"ExtraCompacted", content(1, 1000),
			attachstore.Meta{MediaType: "image/png", Label: "ünïcødé 🖼.png", Extra: json.RawMessage(" {\n \"width\": 640, \"height\" : 480 } ")},
			attachstore.Meta{MediaType: "image/png", Label: "ünïcødé 🖼.png", Extra: json.RawMessage(`{"width":640,"height":480}`)}},
		{"MultiChunk", content(2, 3*chunk+17),
			attachstore.Meta{MediaType: "application/vnd.api+json", Label: "x"},
			attachstore.Meta{MediaType: "application/vnd.api+json", Label: "x"}},
		{"ExactlyOneChunk", content(3, chunk),
			attachstore.Meta{MediaType: "application/pdf"},
			attachstore.Meta{MediaType: "application/pdf"}},
	}
	for _, c := range cases {
		for _, via := range putVia {
			t.Run(c.name+"/"+via.name, func(t *testing.T) {
				s := h.Open(t, smallChunks)
				ref, err := via.put(t, s, c.data, c.meta)
				if err != nil {
					t.Fatalf("%s(%d bytes, %+v): %v", via.name, len(c.data), c.meta, err)
				}
				want := attachstore.Ref{ID: sha256.Sum256(c.data), Size: int64(len(c.data)), Meta: c.want, CreatedAt: ref.CreatedAt}
				if ref.CreatedAt.IsZero() {
					t.Errorf("%s returned a zero CreatedAt", via.name)
				}
				if d := sameRef(ref, want); d != "" {
					t.Errorf("%s returned\n%s", via.name, d)
				}

				a, err := s.Get(t.Context(), ref.ID)
				if err != nil {
					t.Fatalf("Get(%s): %v", ref.ID, err)
				}
				if !bytes.Equal(a.Data, c.data) {
					t.Errorf("Get(%s) returned %d bytes that differ from the %d put", ref.ID, len(a.Data), len(c.data))
				}
				if d := sameRef(a.Ref, want); d != "" {
					t.Errorf("Get(%s).Ref:\n%s", ref.ID, d)
				}

				st, err := s.Stat(t.Context(), ref.ID)
				if err != nil {
					t.Fatalf("Stat(%s): %v", ref.ID, err)
				}
				if d := sameRef(st, want); d != "" {
					t.Errorf("Stat(%s):\n%s", ref.ID, d)
				}

				r, err := s.NewReader(t.Context(), ref.ID)
				if err != nil {
					t.Fatalf("NewReader(%s): %v", ref.ID, err)
				}
				defer r.Close()
				if d := sameRef(r.Ref(), want); d != "" {
					t.Errorf("NewReader(%s).Ref():\n%s", ref.ID, d)
				}
				got, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(got, c.data) {
					t.Errorf("NewReader(%s): read %d bytes (equal=%v), err %v; want the %d put",
						ref.ID, len(got), bytes.Equal(got, c.data), err, len(c.data))
				}

				all := listAll(t, s)
				if len(all) != 1 {
					t.Fatalf("List yielded %d refs, want 1", len(all))
				}
				if d := sameRef(all[0], want); d != "" {
					t.Errorf("List:\n%s", d)
				}
			})
		}
	}
}

func testIDIsSHA256(t *testing.T, h Harness) {
	known := []struct{ data, id string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	s := h.Open(t, smallChunks)
	for _, k := range known {
		if got := attachstore.ContentID([]byte(k.data)).String(); got != k.id {
			t.Errorf("ContentID(%q) = %s, want %s", k.data, got, k.id)
		}
		ref := mustPut(t, s, []byte(k.data), attachstore.Meta{})
		if ref.ID.String() != k.id {
			t.Errorf("Put(%q).ID = %s, want %s", k.data, ref.ID, k.id)
		}
	}
	for _, n := range []int{1, chunk - 1, chunk, 2*chunk + 3} {
		data := content(uint64(n), n)
		for _, via := range putVia {
			ref, err := via.put(t, s, data, attachstore.Meta{})
			if err != nil {
				t.Fatalf("%s(%d bytes): %v", via.name, n, err)
			}
			if want := attachstore.ID(sha256.Sum256(data)); ref.ID != want {
				t.Errorf("%s(%d bytes).ID = %s, want SHA-256 %s", via.name, n, ref.ID, want)
			}
		}
	}
}

func testDedup(t *testing.T, h Harness) {
	small := []byte("the same bytes, twice")
	big := content(7, 2*chunk+100)
	m1 := attachstore.Meta{MediaType: "text/plain", Label: "first"}
	m2 := attachstore.Meta{MediaType: "text/markdown", Label: "second"}
	for _, data := range [][]byte{small, big} {
		for _, first := range putVia {
			for _, second := range putVia {
				t.Run(fmt.Sprintf("%dBytes/%sThen%s", len(data), first.name, second.name), func(t *testing.T) {
					s := h.Open(t, smallChunks)
					r1, err := first.put(t, s, data, m1)
					if err != nil {
						t.Fatalf("first %s: %v", first.name, err)
					}
					r2, err := second.put(t, s, data, m2)
					if err != nil {
						t.Fatalf("second %s: %v", second.name, err)
					}
					if d := sameRef(r2, r1); d != "" {
						t.Errorf("second put returned another ref than the first (a blob keeps the metadata of its first put):\n%s", d)
					}
					if all := listAll(t, s); len(all) != 1 {
						t.Errorf("List yielded %d blobs after two puts of the same bytes, want 1", len(all))
					}
					want := int64((len(data) + chunk - 1) / chunk)
					if n := chunkRows(t, s); n != want {
						t.Errorf("%d chunk rows after two puts of %d bytes, want %d (stored once)", n, len(data), want)
					}
				})
			}
		}
	}
	t.Run("Sessions", func(t *testing.T) {
		s := h.Open(t, smallChunks)
		for i, name := range []string{"a", "b", "c"} {
			ss := s.Session(name)
			if i%2 == 0 {
				mustSessionPut(t, ss, big, attachstore.Meta{Label: name})
			} else if _, err := ss.PutReader(t.Context(), readerOf(big), attachstore.Meta{Label: name}); err != nil {
				t.Fatalf("Session(%q).PutReader: %v", name, err)
			}
		}
		mustPut(t, s, big, attachstore.Meta{})
		if all := listAll(t, s); len(all) != 1 {
			t.Errorf("List yielded %d blobs after four puts of the same bytes, want 1", len(all))
		}
		if n, want := chunkRows(t, s), int64(3); n != want {
			t.Errorf("%d chunk rows, want %d", n, want)
		}
	})
}

func testEmptyBlob(t *testing.T, h Harness) {
	empty := attachstore.ID(sha256.Sum256(nil))
	ways := []struct {
		name string
		put  func(t testing.TB, s *attachstore.Store) (attachstore.Ref, error)
	}{
		{"PutNil", func(t testing.TB, s *attachstore.Store) (attachstore.Ref, error) {
			return s.Put(t.Context(), nil, attachstore.Meta{})
		}},
		{"PutEmpty", func(t testing.TB, s *attachstore.Store) (attachstore.Ref, error) {
			return s.Put(t.Context(), []byte{}, attachstore.Meta{})
		}},
		{"PutReader", func(t testing.TB, s *attachstore.Store) (attachstore.Ref, error) {
			return s.PutReader(t.Context(), readerOf(nil), attachstore.Meta{})
		}},
		{"SessionPut", func(t testing.TB, s *attachstore.Store) (attachstore.Ref, error) {
			return s.Session("s").Put(t.Context(), nil, attachstore.Meta{})
		}},
		{"SessionPutReader", func(t testing.TB, s *attachstore.Store) (attachstore.Ref, error) {
			return s.Session("s").PutReader(t.Context(), iotest.DataErrReader(strings.NewReader("")), attachstore.Meta{})
		}},
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			s := h.Open(t, smallChunks)
			ref, err := w.put(t, s)
			if err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			if ref.ID != empty || ref.Size != 0 {
				t.Errorf("%s = %s size %d, want %s size 0", w.name, ref.ID, ref.Size, empty)
			}
			a, err := s.Get(t.Context(), empty)
			if err != nil || len(a.Data) != 0 || a.Size != 0 {
				t.Errorf("Get(empty) = %d bytes, size %d, %v; want 0, 0, nil", len(a.Data), a.Size, err)
			}
			r, err := s.NewReader(t.Context(), empty)
			if err != nil {
				t.Fatalf("NewReader(empty): %v", err)
			}
			if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Errorf("Read of the empty blob = %d, %v; want 0, io.EOF", n, err)
			}
			if err := iotest.TestReader(r, nil); err != nil {
				t.Errorf("iotest.TestReader(empty): %v", err)
			}
			if all := listAll(t, s); len(all) != 1 || all[0].ID != empty || all[0].Size != 0 {
				t.Errorf("List = %v, want just the empty blob", ids(all))
			}
			if w.name == "SessionPut" || w.name == "SessionPutReader" {
				a, err := s.Session("s").Get(t.Context(), empty)
				if err != nil || len(a.Data) != 0 {
					t.Errorf("Session.Get(empty) = %d bytes, %v", len(a.Data), err)
				}
			}
		})
	}
}

func testNotFound(t *testing.T, h Harness) {
	s := h.Open(t, smallChunks)
	mustPut(t, s, []byte("something else"), attachstore.Meta{})
	mustSessionPut(t, s.Session("s"), []byte("the session's own"), attachstore.Meta{})
	for _, c := range []struct {
		name string
		id   attachstore.ID
	}{
		{"NeverStored", attachstore.ContentID([]byte("never stored"))},
		{"ZeroID", attachstore.ID{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := state(t, s, "s")
			ss := s.Session("s")
			errs := map[string]error{}
			_, errs["Get"] = s.Get(t.Context(), c.id)
			_, errs["Stat"] = s.Stat(t.Context(), c.id)
			_, errs["NewReader"] = s.NewReader(t.Context(), c.id)
			_, errs["Session.Get"] = ss.Get(t.Context(), c.id)
			_, errs["Session.NewReader"] = ss.NewReader(t.Context(), c.id)
			errs["Session.Commit"] = ss.Commit(t.Context(), c.id)
			errs["View"] = s.View(t.Context(), func(tx *attachstore.Tx) error {
				if _, err := tx.Get(t.Context(), c.id); !errors.Is(err, attachstore.ErrNotFound) {
					return fmt.Errorf("tx.Get: %v", err)
				}
				_, err := tx.Stat(t.Context(), c.id)
				return err
			})
			for name, err := range errs {
				if !errors.Is(err, attachstore.ErrNotFound) {
					t.Errorf("%s(%s) = %v, want ErrNotFound", name, c.id, err)
				} else if name != "View" && !strings.Contains(err.Error(), c.id.String()) {
					t.Errorf("%s(%s) = %q: the message does not name the id", name, c.id, err)
				}
			}
			if err := s.Delete(t.Context(), c.id); err != nil {
				t.Errorf("Delete(absent %s) = %v, want nil", c.id, err)
			}
			if err := ss.Delete(t.Context(), c.id); err != nil {
				t.Errorf("Session.Delete(absent %s) = %v, want nil", c.id, err)
			}
			if ok, err := s.HoldsRef(t.Context(), "s", c.id); ok || err != nil {
				t.Errorf("HoldsRef(absent %s) = %v, %v; want false, nil", c.id, ok, err)
			}
			checkUnchanged(t, "looking up an unknown id", before, state(t, s, "s"))
		})
	}
}

// wrapReaders are the shapes of reader PutReader must handle: short reads,
// one byte at a time, data returned together with io.EOF.
var wrapReaders = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"Plain", func(r io.Reader) io.Reader { return r }},
	{"HalfReader", iotest.HalfReader},
	{"OneByteReader", iotest.OneByteReader},
	{"DataErrReader", iotest.DataErrReader},
}

func testChunkBoundaries(t *testing.T, h Harness) {
	sizes := []int{0, 1, chunk - 1, chunk, chunk + 1, 2*chunk - 1, 3 * chunk, 3*chunk + 1}
	for _, size := range sizes {
		data := content(uint64(size)+100, size)
		for _, w := range wrapReaders {
			t.Run(fmt.Sprintf("%d/%s", size, w.name), func(t *testing.T) {
				s := h.Open(t, smallChunks)
				ref, err := s.PutReader(t.Context(), w.wrap(readerOf(data)), attachstore.Meta{})
				if err != nil {
					t.Fatalf("PutReader(%d bytes): %v", size, err)
				}
				if want := attachstore.ID(sha256.Sum256(data)); ref.ID != want || ref.Size != int64(size) {
					t.Fatalf("PutReader(%d bytes) = %s size %d, want %s size %d", size, ref.ID, ref.Size, want, size)
				}
				wantChunks := int64((size + chunk - 1) / chunk)
				if n := chunkRows(t, s); n != wantChunks {
					t.Errorf("%d bytes stored in %d chunk rows, want %d", size, n, wantChunks)
				}
				if n := count(t, s, `SELECT count(*) FROM attachstore_chunks WHERE length(data) > ?`, chunk); n != 0 {
					t.Errorf("%d chunk rows are longer than the chunk size %d", n, chunk)
				}
				a, err := s.Get(t.Context(), ref.ID)
				if err != nil || !bytes.Equal(a.Data, data) {
					t.Fatalf("Get = %d bytes (equal=%v), %v; want the %d put", len(a.Data), bytes.Equal(a.Data, data), err, size)
				}
				if w.name == "Plain" {
					checkSeeks(t, s, ref.ID, data)
				}
			})
		}
	}
}

// checkSeeks reads id through NewReader from every interesting offset.
func checkSeeks(t *testing.T, s *attachstore.Store, id attachstore.ID, data []byte) {
	t.Helper()
	size := int64(len(data))
	r, err := s.NewReader(t.Context(), id)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	defer r.Close()
	if r.Ref().Size != size {
		t.Errorf("Reader Ref().Size = %d, want %d", r.Ref().Size, size)
	}
	if err := iotest.TestReader(r, data); err != nil {
		t.Errorf("iotest.TestReader(%d bytes): %v", size, err)
	}
	for _, off := range []int64{0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk, size - 1, size, size + 10} {
		if off < 0 {
			continue
		}
		pos, err := r.Seek(off, io.SeekStart)
		if err != nil || pos != off {
			t.Errorf("Seek(%d, SeekStart) = %d, %v", off, pos, err)
			continue
		}
		got, err := io.ReadAll(r)
		want := data[min(off, size):]
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("after Seek(%d): read %d bytes (equal=%v), %v; want %d bytes", off, len(got), bytes.Equal(got, want), err, len(want))
		}
	}
	if size > 0 {
		if pos, err := r.Seek(-1, io.SeekEnd); err != nil || pos != size-1 {
			t.Errorf("Seek(-1, SeekEnd) = %d, %v; want %d", pos, err, size-1)
		}
		b := make([]byte, 1)
		if n, err := r.Read(b); n != 1 || err != nil || b[0] != data[size-1] {
			t.Errorf("Read at the last byte = %d, %v, %#x; want 1, nil, %#x", n, err, b[0], data[size-1])
		}
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Read(b); err != nil {
			t.Fatal(err)
		}
		if pos, err := r.Seek(size/2, io.SeekCurrent); err != nil || pos != 1+size/2 {
			t.Errorf("Seek(%d, SeekCurrent) from 1 = %d, %v; want %d", size/2, pos, err, 1+size/2)
		}
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Errorf("Seek(-1, SeekStart) succeeded, want an error")
	}
	if _, err := r.Seek(0, 42); err == nil {
		t.Errorf("Seek(0, whence 42) succeeded, want an error")
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 1)); err == nil && size > 0 {
		t.Errorf("Read after Close = %d, nil; want an error", n)
	}
}

// testReaderDeleted deletes content while a Reader is half-way through it.
// With putOther, other content of the same size is put right after the
// delete: a backend that reuses the deleted content's storage key must
// still not let the Reader go on with the new content's bytes.
func testReaderDeleted(t *testing.T, h Harness, putOther bool) {
	s := h.Open(t, smallChunks)
	data := content(11, 3*chunk)
	ref := mustPut(t, s, data, attachstore.Meta{})
	r, err := s.NewReader(t.Context(), ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := make([]byte, chunk)
	if _, err := io.ReadFull(r, first); err != nil || !bytes.Equal(first, data[:chunk]) {
		t.Fatalf("reading the first chunk: %v", err)
	}
	if err := s.Delete(t.Context(), ref.ID); err != nil {
		t.Fatalf("Delete(%s) with a Reader open: %v", ref.ID, err)
	}
	if putOther {
		mustPut(t, s, content(12, 3*chunk), attachstore.Meta{})
	}
	if _, err := io.ReadAll(r); !errors.Is(err, attachstore.ErrNotFound) {
		t.Errorf("reading on after Delete: %v, want ErrNotFound", err)
	}
}

func testList(t *testing.T, h Harness) {
	t.Run("Empty", func(t *testing.T) {
		s := h.Open(t)
		if all := listAll(t, s); len(all) != 0 {
			t.Errorf("List of a new store yielded %d refs", len(all))
		}
	})

	// More than one page (the SQLite backend reads 512 per query), with
	// one partial page at the end.
	const n = 2*512 + 77
	s := h.Open(t, smallChunks)
	put := make([]attachstore.ID, 0, n)
	err := s.Update(t.Context(), func(tx *attachstore.Tx) error {
		for i := range n {
			ref, err := tx.Put(t.Context(), fmt.Appendf(nil, "blob %d", i), attachstore.Meta{Label: fmt.Sprint(i)})
			if err != nil {
				return err
			}
			put = append(put, ref.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("putting %d blobs: %v", n, err)
	}

	t.Run("Pagination", func(t *testing.T) {
		all := listAll(t, s)
		if len(all) != n {
			t.Fatalf("List yielded %d refs, want %d", len(all), n)
		}
		seen := map[attachstore.ID]bool{}
		for i, r := range all {
			if seen[r.ID] {
				t.Fatalf("List yielded %s twice (position %d)", r.ID, i)
			}
			seen[r.ID] = true
			if r.ID != put[i] || r.Label != fmt.Sprint(i) {
				t.Fatalf("List position %d = %s label %q, want %s label %q (oldest first)", i, r.ID, r.Label, put[i], fmt.Sprint(i))
			}
		}
	})
	t.Run("StopEarly", func(t *testing.T) {
		// A List that kept yielding after the loop broke would panic.
		for _, stop := range []int{1, 511, 512, 513} {
			got := 0
			for _, err := range s.List(t.Context()) {
				if err != nil {
					t.Fatal(err)
				}
				got++
				if got == stop {
					break
				}
			}
			if got != stop {
				t.Errorf("broke at %d, saw %d", stop, got)
			}
		}
	})
	t.Run("StoreCallsInLoop", func(t *testing.T) {
		within(t, 30*time.Second, "List with Store calls in its loop", func() {
			i := 0
			for r, err := range s.List(t.Context()) {
				if err != nil {
					t.Error(err)
					return
				}
				if i%100 == 0 {
					if _, err := s.Get(t.Context(), r.ID); err != nil {
						t.Errorf("Get inside List loop: %v", err)
						return
					}
					if _, err := s.Put(t.Context(), fmt.Appendf(nil, "put in loop %d", i), attachstore.Meta{}); err != nil {
						t.Errorf("Put inside List loop: %v", err)
						return
					}
				}
				i++
			}
		})
	})
}

func testDelete(t *testing.T, h Harness) {
	t.Run("Unreferenced", func(t *testing.T) {
		s := h.Open(t, smallChunks)
		keep := mustPut(t, s, []byte("keep"), attachstore.Meta{})
		ref := mustPut(t, s, content(5, 2*chunk+1), attachstore.Meta{})
		if err := s.Delete(t.Context(), ref.ID); err != nil {
			t.Fatalf("Delete(%s): %v", ref.ID, err)
		}
		if _, err := s.Stat(t.Context(), ref.ID); !errors.Is(err, attachstore.ErrNotFound) {
			t.Errorf("Stat after Delete = %v, want ErrNotFound", err)
		}
		if all := listAll(t, s); len(all) != 1 || all[0].ID != keep.ID {
			t.Errorf("List after Delete = %v, want just %s", ids(all), keep.ID)
		}
		if n := chunkRows(t, s); n != 1 {
			t.Errorf("%d chunk rows after Delete, want 1 (the deleted blob's chunks go with it)", n)
		}
		if err := s.Delete(t.Context(), ref.ID); err != nil {
			t.Errorf("second Delete(%s) = %v, want nil", ref.ID, err)
		}
	})

	t.Run("ErrReferenced", func(t *testing.T) {
		s := h.Open(t, smallChunks)
		ss := s.Session("s")
		pendingRef := mustSessionPut(t, ss, []byte("pending"), attachstore.Meta{})
		committedRef := mustSessionPut(t, ss, content(6, 2*chunk), attachstore.Meta{})
		if err := ss.Commit(t.Context(), committedRef.ID); err != nil {
			t.Fatal(err)
		}
		before := state(t, s, "s")
		for _, ref := range []attachstore.Ref{pendingRef, committedRef} {
			if err := s.Delete(t.Context(), ref.ID); !errors.Is(err, attachstore.ErrReferenced) {
				t.Errorf("Delete(%s) held by a session = %v, want ErrReferenced", ref.ID, err)
			}
			err := s.Update(t.Context(), func(tx *attachstore.Tx) error { return tx.Delete(t.Context(), ref.ID) })
			if !errors.Is(err, attachstore.ErrReferenced) {
				t.Errorf("tx.Delete(%s) held by a session = %v, want ErrReferenced", ref.ID, err)
			}
		}
		checkUnchanged(t, "refused deletes", before, state(t, s, "s"))
		if err := ss.Delete(t.Context(), pendingRef.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(t.Context(), pendingRef.ID); err != nil {
			t.Errorf("Delete(%s) after its only ref was dropped = %v, want nil", pendingRef.ID, err)
		}
	})

}
