package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

// testInput covers invariant 9: bad input gets a typed error and changes
// nothing.
func testInput(t *testing.T, h Harness) {
	t.Run("ErrInvalidID", func(t *testing.T) { testInvalidID(t, h) })
	t.Run("ErrInvalidMeta", func(t *testing.T) { testInvalidMeta(t, h) })
	t.Run("ErrTooLarge", func(t *testing.T) { testTooLarge(t, h) })
	t.Run("ErrInvalidSession", func(t *testing.T) { testInvalidSession(t, h) })
}

func testInvalidID(t *testing.T, h Harness) {
	const hex64 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	s := h.Open(t)
	ref := mustPut(t, s, []byte("abc"), attachstore.Meta{})
	if ref.ID.String() != hex64 {
		t.Fatalf("Put(abc) = %s", ref.ID)
	}
	before := state(t, s)

	for _, c := range []struct{ name, in string }{
		{"Empty", ""},
		{"Short", hex64[:63]},
		{"Long", hex64 + "0"},
		{"NotHex", "g" + hex64[1:]},
		{"OnlyPrefix", "sha256:"},
		{"PrefixShort", "sha256:" + hex64[:63]},
		{"DoublePrefix", "SHA256:sha256:" + hex64},
		{"OtherAlgorithm", "sha512:" + hex64},
		{"Spaces", " " + hex64 + " "},
		{"Newline", hex64[:63] + "\n"},
		{"Unicode", strings.Repeat("é", 32)},
		{"NUL", hex64[:63] + "\x00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if id, err := attachstore.ParseID(c.in); !errors.Is(err, attachstore.ErrInvalidID) {
				t.Errorf("ParseID(%q) = %s, %v; want ErrInvalidID", c.in, id, err)
			}
			var id attachstore.ID
			if err := id.UnmarshalText([]byte(c.in)); !errors.Is(err, attachstore.ErrInvalidID) {
				t.Errorf("UnmarshalText(%q) = %v, want ErrInvalidID", c.in, err)
			}
			var v struct{ ID attachstore.ID }
			doc, _ := json.Marshal(map[string]string{"ID": c.in})
			if err := json.Unmarshal(doc, &v); !errors.Is(err, attachstore.ErrInvalidID) {
				t.Errorf("json.Unmarshal(%s) = %v, want ErrInvalidID", doc, err)
			}
		})
	}
	t.Run("Valid", func(t *testing.T) {
		// The prefix, like the digits, may come in any letter case.
		for _, in := range []string{hex64, strings.ToUpper(hex64), "sha256:" + hex64, "SHA256:" + hex64, "Sha256:" + strings.ToUpper(hex64)} {
			id, err := attachstore.ParseID(in)
			if err != nil || id != ref.ID {
				t.Errorf("ParseID(%q) = %s, %v; want %s", in, id, err, ref.ID)
			}
		}
		text, err := ref.ID.MarshalText()
		if err != nil || string(text) != hex64 {
			t.Errorf("MarshalText = %q, %v", text, err)
		}
		var back attachstore.ID
		if err := back.UnmarshalText(text); err != nil || back != ref.ID {
			t.Errorf("UnmarshalText(MarshalText) = %s, %v", back, err)
		}
	})
	checkUnchanged(t, "parsing bad ids", before, state(t, s))
}

func testInvalidMeta(t *testing.T, h Harness) {
	bad := []struct {
		name string
		meta attachstore.Meta
	}{
		{"TypeOnly", attachstore.Meta{MediaType: "text"}},
		{"NoSubtype", attachstore.Meta{MediaType: "text/"}},
		{"NoType", attachstore.Meta{MediaType: "/plain"}},
		{"Parameters", attachstore.Meta{MediaType: "text/plain; charset=utf-8"}},
		{"Space", attachstore.Meta{MediaType: "text/pl ain"}},
		{"TwoSlashes", attachstore.Meta{MediaType: "text/plain/x"}},
		{"NonASCII", attachstore.Meta{MediaType: "tëxt/plain"}},
		{"TypeTooLong", attachstore.Meta{MediaType: strings.Repeat("a", 128) + "/plain"}},
		{"LeadingPunctuation", attachstore.Meta{MediaType: "text/+plain"}},
		{"LabelTooLong", attachstore.Meta{Label: strings.Repeat("x", attachstore.MaxLabelBytes+1)}},
		{"LabelInvalidUTF8", attachstore.Meta{Label: "bad\xffname"}},
		{"LabelNUL", attachstore.Meta{Label: "bad\x00name"}},
		{"ExtraArray", attachstore.Meta{Extra: json.RawMessage(`[1, 2]`)}},
		{"ExtraNumber", attachstore.Meta{Extra: json.RawMessage(`1`)}},
		{"ExtraString", attachstore.Meta{Extra: json.RawMessage(`"s"`)}},
		{"ExtraNull", attachstore.Meta{Extra: json.RawMessage(`null`)}},
		{"ExtraTruncated", attachstore.Meta{Extra: json.RawMessage(`{"a":`)}},
		{"ExtraTrailing", attachstore.Meta{Extra: json.RawMessage(`{} {}`)}},
		{"ExtraBlank", attachstore.Meta{Extra: json.RawMessage("  \n")}},
		{"ExtraTooLong", attachstore.Meta{Extra: json.RawMessage(`{"a":"` + strings.Repeat("x", attachstore.MaxExtraBytes) + `"}`)}},
	}
	small := []byte("small content")
	big := content(21, 2*chunk+5)
	puts := []struct {
		name string
		put  func(t testing.TB, s *attachstore.Store, m attachstore.Meta) error
	}{
		{"Put", func(t testing.TB, s *attachstore.Store, m attachstore.Meta) error {
			_, err := s.Put(t.Context(), small, m)
			return err
		}},
		{"PutReader", func(t testing.TB, s *attachstore.Store, m attachstore.Meta) error {
			_, err := s.PutReader(t.Context(), readerOf(small), m)
			return err
		}},
		{"PutReaderMultiChunk", func(t testing.TB, s *attachstore.Store, m attachstore.Meta) error {
			_, err := s.PutReader(t.Context(), readerOf(big), m)
			return err
		}},
		{"Session.Put", func(t testing.TB, s *attachstore.Store, m attachstore.Meta) error {
			_, err := s.Session("s").Put(t.Context(), small, m)
			return err
		}},
		{"Session.PutReader", func(t testing.TB, s *attachstore.Store, m attachstore.Meta) error {
			_, err := s.Session("s").PutReader(t.Context(), readerOf(big), m)
			return err
		}},
		{"Tx.Put", func(t testing.TB, s *attachstore.Store, m attachstore.Meta) error {
			return s.Update(t.Context(), func(tx *attachstore.Tx) error {
				_, err := tx.Put(t.Context(), small, m)
				return err
			})
		}},
		{"Tx.Session.PutReader", func(t testing.TB, s *attachstore.Store, m attachstore.Meta) error {
			return s.Update(t.Context(), func(tx *attachstore.Tx) error {
				_, err := tx.Session("s").PutReader(t.Context(), readerOf(big), m)
				return err
			})
		}},
	}
	s := h.Open(t, smallChunks)
	mustSessionPut(t, s.Session("s"), []byte("already there"), attachstore.Meta{Label: "before"})
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			if err := b.meta.Validate(); !errors.Is(err, attachstore.ErrInvalidMeta) {
				t.Errorf("Validate(%s) = %v, want ErrInvalidMeta", b.name, err)
			}
			before := state(t, s, "s")
			chunks := chunkRows(t, s)
			for _, p := range puts {
				if err := p.put(t, s, b.meta); !errors.Is(err, attachstore.ErrInvalidMeta) {
					t.Errorf("%s with %s meta = %v, want ErrInvalidMeta", p.name, b.name, err)
				}
			}
			checkUnchanged(t, "puts with invalid meta", before, state(t, s, "s"))
			if n := chunkRows(t, s); n != chunks {
				t.Errorf("%d chunk rows after refused puts, want %d", n, chunks)
			}
		})
	}

	t.Run("ValidEdges", func(t *testing.T) {
		for _, m := range []attachstore.Meta{
			{MediaType: "APPLICATION/VND.API+JSON"},
			{MediaType: "x-custom/x.y_z-1"},
			{Label: strings.Repeat("é", attachstore.MaxLabelBytes/2)},
			{Extra: json.RawMessage(" {} ")},
			{Extra: json.RawMessage(`{"nested":{"a":[1,2,{"b":null}]}}`)},
		} {
			if err := m.Validate(); err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", m, err)
			}
			if _, err := s.Put(t.Context(), fmt.Appendf(nil, "%+v", m), m); err != nil {
				t.Errorf("Put with meta %+v: %v", m, err)
			}
		}
	})
}

func testTooLarge(t *testing.T, h Harness) {
	cases := []struct {
		name  string
		max   int64
		sizes []int // each more than max
	}{
		{"MultiChunk", 2*chunk + 10, []int{2*chunk + 11, 3 * chunk, 10 * chunk}},
		{"WithinOneChunk", 100, []int{101, chunk, chunk + 1}},
		{"Zero", 0, []int{1, chunk + 1}},
	}
	puts := []struct {
		name string
		put  func(t testing.TB, s *attachstore.Store, data []byte) (attachstore.Ref, error)
	}{
		{"Put", func(t testing.TB, s *attachstore.Store, data []byte) (attachstore.Ref, error) {
			return s.Put(t.Context(), data, attachstore.Meta{})
		}},
		{"PutReader", func(t testing.TB, s *attachstore.Store, data []byte) (attachstore.Ref, error) {
			return s.PutReader(t.Context(), readerOf(data), attachstore.Meta{})
		}},
		{"Session.Put", func(t testing.TB, s *attachstore.Store, data []byte) (attachstore.Ref, error) {
			return s.Session("s").Put(t.Context(), data, attachstore.Meta{})
		}},
		{"Session.PutReader", func(t testing.TB, s *attachstore.Store, data []byte) (attachstore.Ref, error) {
			return s.Session("s").PutReader(t.Context(), readerOf(data), attachstore.Meta{})
		}},
		{"Tx.PutReader", func(t testing.TB, s *attachstore.Store, data []byte) (ref attachstore.Ref, err error) {
			err = s.Update(t.Context(), func(tx *attachstore.Tx) error {
				ref, err = tx.PutReader(t.Context(), readerOf(data), attachstore.Meta{})
				return err
			})
			return ref, err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := h.Open(t, smallChunks, attachstore.WithMaxBlobSize(c.max))
			mustSessionPut(t, s.Session("s"), content(1, int(c.max)), attachstore.Meta{Label: "at the limit"})
			before := state(t, s, "s")
			chunks := chunkRows(t, s)
			for _, size := range c.sizes {
				data := content(uint64(size), size)
				for _, p := range puts {
					if ref, err := p.put(t, s, data); !errors.Is(err, attachstore.ErrTooLarge) {
						t.Errorf("%s(%d bytes) with max %d = %s, %v; want ErrTooLarge", p.name, size, c.max, ref.ID, err)
					}
				}
			}
			checkUnchanged(t, "refused puts", before, state(t, s, "s"))
			if n := chunkRows(t, s); n != chunks {
				t.Errorf("%d chunk rows after refused puts, want %d", n, chunks)
			}
			if n := orphanChunks(t, s); n != 0 {
				t.Errorf("%d orphan chunk rows", n)
			}
			// Exactly the limit is accepted by every way in.
			for i, p := range puts {
				data := content(uint64(1000+i), int(c.max))
				if c.max == 0 {
					data = nil
				}
				if _, err := p.put(t, s, data); err != nil {
					t.Errorf("%s(%d bytes) with max %d: %v", p.name, len(data), c.max, err)
				}
			}
		})
	}
}

func testInvalidSession(t *testing.T, h Harness) {
	bad := []struct{ name, id string }{
		{"Empty", ""},
		{"TooLong", strings.Repeat("a", attachstore.MaxSessionIDBytes+1)},
		{"InvalidUTF8", "session-\xff\xfe"},
		{"NUL", "sess\x00ion"},
	}
	s := h.Open(t, smallChunks)
	known := mustSessionPut(t, s.Session("good"), content(3, 2*chunk), attachstore.Meta{})
	data := []byte("refused")
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			before := state(t, s, "good")
			ss := s.Session(b.id)
			if ss.ID() != b.id {
				t.Errorf("Session(%q).ID() = %q", b.id, ss.ID())
			}
			errs := map[string]error{}
			_, errs["Put"] = ss.Put(t.Context(), data, attachstore.Meta{})
			_, errs["PutReader"] = ss.PutReader(t.Context(), readerOf(data), attachstore.Meta{})
			_, errs["Get"] = ss.Get(t.Context(), known.ID)
			_, errs["NewReader"] = ss.NewReader(t.Context(), known.ID)
			errs["Delete"] = ss.Delete(t.Context(), known.ID)
			_, errs["Pending"] = ss.Pending(t.Context())
			errs["Commit"] = ss.Commit(t.Context())
			errs["CommitIDs"] = ss.Commit(t.Context(), known.ID)
			_, errs["CommitOwned"] = ss.CommitOwned(t.Context(), "turn")
			_, errs["Discard"] = ss.Discard(t.Context(), "turn")
			errs["Hold"] = ss.Hold(t.Context(), "turn", time.Now().Add(time.Hour))
			_, errs["Refs"] = ss.Refs(t.Context())
			errs["DropSession"] = s.DropSession(t.Context(), b.id)
			_, errs["HoldsRef"] = s.HoldsRef(t.Context(), b.id, known.ID)
			errs["Tx.Session.Put"] = s.Update(t.Context(), func(tx *attachstore.Tx) error {
				_, err := tx.Session(b.id).Put(t.Context(), data, attachstore.Meta{})
				return err
			})
			errs["Tx.Session.Get"] = s.View(t.Context(), func(tx *attachstore.Tx) error {
				_, err := tx.Session(b.id).Get(t.Context(), known.ID)
				return err
			})
			// As an owner: the same rules.
			if b.id != "" {
				_, errs["WithOwner.Put"] = s.Session("good").WithOwner(b.id).Put(t.Context(), data, attachstore.Meta{})
				_, errs["CommitOwned(owner)"] = s.Session("good").CommitOwned(t.Context(), b.id)
				_, errs["Discard(owner)"] = s.Session("good").Discard(t.Context(), b.id)
				errs["Hold(owner)"] = s.Session("good").Hold(t.Context(), b.id, time.Now().Add(time.Hour))
			}
			for name, err := range errs {
				if !errors.Is(err, attachstore.ErrInvalidSession) {
					t.Errorf("%s with session %q = %v, want ErrInvalidSession", name, truncate(b.id), err)
				} else {
					onePrefix(t, name, err)
				}
			}
			checkUnchanged(t, "calls with an invalid session id", before, state(t, s, "good"))
		})
	}
	t.Run("ValidEdges", func(t *testing.T) {
		for _, id := range []string{strings.Repeat("a", attachstore.MaxSessionIDBytes), "séance 🙂", "x", " "} {
			ss := s.Session(id)
			ref, err := ss.Put(t.Context(), data, attachstore.Meta{})
			if err != nil {
				t.Errorf("Session(%q).Put: %v", truncate(id), err)
				continue
			}
			if a, err := ss.Get(t.Context(), ref.ID); err != nil || string(a.Data) != string(data) {
				t.Errorf("Session(%q).Get = %q, %v", truncate(id), a.Data, err)
			}
			if err := ss.Commit(t.Context(), ref.ID); err != nil {
				t.Errorf("Session(%q).Commit: %v", truncate(id), err)
			}
		}
		if _, err := s.Session("good").WithOwner("").Put(t.Context(), data, attachstore.Meta{}); err != nil {
			t.Errorf("an empty owner is allowed: %v", err)
		}
	})
}

func truncate(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}
