package attachhttp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachhttp"
)

// TestGetHeaders: the bytes with their ETag, revalidated private caching,
// nosniff, and no date of the blob's.
func TestGetHeaders(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		sv := newServer(t, e.open(t), attachhttp.Options{Token: testToken})
		data := []byte("hello, attachments")
		id := sv.put("chat", data, attachstore.Meta{MediaType: "text/plain", Label: "note.txt"})
		w := sv.do(req("GET", attURL("chat", id), nil))
		if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), data) {
			t.Fatalf("GET: %d %q", w.Code, w.Body)
		}
		for k, want := range map[string]string{
			"ETag":                   `"` + id.String() + `"`,
			"Cache-Control":          "private, no-cache",
			"X-Content-Type-Options": "nosniff",
			"Content-Type":           "text/plain; charset=utf-8",
			"Content-Length":         fmt.Sprint(len(data)),
			"Accept-Ranges":          "bytes",
			"Last-Modified":          "",
		} {
			if got := w.Header().Get(k); got != want {
				t.Errorf("%s: %q, want %q", k, got, want)
			}
		}
		head := sv.do(req("HEAD", attURL("chat", id), nil))
		if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Content-Length") != fmt.Sprint(len(data)) ||
			head.Header().Get("ETag") != w.Header().Get("ETag") {
			t.Errorf("HEAD: %d, body %d bytes, headers %v", head.Code, head.Body.Len(), head.Header())
		}
	})
}

// TestIfNoneMatch: a matching ETag gets 304 while the session holds the
// content, and 404 once the session is dropped: a cached copy of a
// dropped chat's attachment stops showing.
func TestIfNoneMatch(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		s := e.open(t)
		sv := newServer(t, s, attachhttp.Options{Token: testToken})
		id := sv.put("chat", []byte("cached"), attachstore.Meta{MediaType: "image/png"})
		etag := `"` + id.String() + `"`
		r := req("GET", attURL("chat", id), nil)
		r.Header.Set("If-None-Match", etag)
		if w := sv.do(r); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("If-None-Match with the ETag: %d %q", w.Code, w.Body)
		}
		r = req("GET", attURL("chat", id), nil)
		r.Header.Set("If-None-Match", `"`+strings.Repeat("0", 64)+`"`)
		if w := sv.do(r); w.Code != http.StatusOK {
			t.Errorf("If-None-Match with another ETag: %d", w.Code)
		}
		if err := s.DropSession(context.Background(), "chat"); err != nil {
			t.Fatal(err)
		}
		r = req("GET", attURL("chat", id), nil)
		r.Header.Set("If-None-Match", etag)
		if w := sv.do(r); w.Code != http.StatusNotFound {
			t.Errorf("revalidating after DropSession: %d, want 404", w.Code)
		}
	})
}

// TestRanges: single, suffix, open and multiple ranges across chunk
// boundaries, and an unsatisfiable one.
func TestRanges(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		s := e.open(t, attachstore.WithChunkSize(attachstore.MinChunkSize))
		sv := newServer(t, s, attachhttp.Options{Token: testToken})
		data := make([]byte, 5*attachstore.MinChunkSize+123)
		for i := range data {
			data[i] = byte(i*7 + i/251)
		}
		id := sv.put("chat", data, attachstore.Meta{MediaType: "audio/wav"})
		n := len(data)
		for _, c := range []struct {
			rng        string
			start, end int // inclusive
		}{
			{"bytes=0-0", 0, 0},
			{"bytes=4090-4100", 4090, 4100},
			{"bytes=-10", n - 10, n - 1},
			{fmt.Sprintf("bytes=%d-", n-5000), n - 5000, n - 1},
			{"bytes=100-999999999", 100, n - 1},
		} {
			r := req("GET", attURL("chat", id), nil)
			r.Header.Set("Range", c.rng)
			w := sv.do(r)
			wantCR := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, n)
			if w.Code != http.StatusPartialContent || w.Header().Get("Content-Range") != wantCR ||
				!bytes.Equal(w.Body.Bytes(), data[c.start:c.end+1]) {
				t.Errorf("Range %s: %d, Content-Range %q (want %q), %d bytes", c.rng, w.Code, w.Header().Get("Content-Range"), wantCR, w.Body.Len())
			}
		}

		if w := sv.do(req("GET", attURL("chat", id), nil)); w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), data) {
			t.Errorf("GET without Range: %d, %d bytes of %d", w.Code, w.Body.Len(), n)
		}

		r := req("GET", attURL("chat", id), nil)
		r.Header.Set("Range", "bytes=0-9,8000-8191,-3")
		w := sv.do(r)
		mt, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
		if w.Code != http.StatusPartialContent || err != nil || mt != "multipart/byteranges" {
			t.Fatalf("multiple ranges: %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
		}
		mr := multipart.NewReader(w.Body, params["boundary"])
		for _, want := range [][2]int{{0, 9}, {8000, 8191}, {n - 3, n - 1}} {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("part %v: %v", want, err)
			}
			got, _ := io.ReadAll(p)
			if p.Header.Get("Content-Type") != "audio/wav" || !bytes.Equal(got, data[want[0]:want[1]+1]) ||
				p.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", want[0], want[1], n) {
				t.Errorf("part %v: %v, %d bytes", want, p.Header, len(got))
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("after the last part: %v", err)
		}

		r = req("GET", attURL("chat", id), nil)
		r.Header.Set("Range", fmt.Sprintf("bytes=%d-", n+10))
		if w := sv.do(r); w.Code != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("range past the end: %d", w.Code)
		}
	})
}

// TestActiveContentNeverInline: only the safe list is inline; HTML, SVG,
// XML, script and unknown types are sandboxed downloads, whatever the
// label says.
func TestActiveContentNeverInline(t *testing.T) {
	sv := newServer(t, engines()[0].open(t), attachhttp.Options{Token: testToken})
	for _, c := range []struct {
		mediaType string
		inline    bool
	}{
		{"image/png", true}, {"image/jpeg", true}, {"image/gif", true}, {"image/webp", true},
		{"application/pdf", true}, {"audio/mpeg", true}, {"audio/wav", true}, {"video/mp4", true}, {"text/plain", true},
		{"text/html", false}, {"image/svg+xml", false}, {"application/xhtml+xml", false}, {"text/xml", false},
		{"application/xml", false}, {"application/javascript", false}, {"text/javascript", false},
		{"text/css", false}, {"application/octet-stream", false}, {"application/x-unknown", false},
		{"multipart/x-mixed-replace", false}, {"text/vtt", false},
	} {
		data := []byte("<script>document.title='ran'</script> " + c.mediaType)
		id := sv.put("chat", data, attachstore.Meta{MediaType: c.mediaType, Label: "picture.png"})
		w := sv.do(req("GET", attURL("chat", id), nil))
		cd := w.Header().Get("Content-Disposition")
		csp := w.Header().Get("Content-Security-Policy")
		if w.Code != 200 || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d, nosniff %q", c.mediaType, w.Code, w.Header().Get("X-Content-Type-Options"))
		}
		if got := strings.HasPrefix(cd, "inline"); got != c.inline {
			t.Errorf("%s: Content-Disposition %q, want inline=%v", c.mediaType, cd, c.inline)
		}
		if !c.inline && (!strings.HasPrefix(cd, "attachment") || !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'")) {
			t.Errorf("%s: Content-Disposition %q, Content-Security-Policy %q: want a sandboxed download", c.mediaType, cd, csp)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, c.mediaType) {
			t.Errorf("%s: Content-Type %q", c.mediaType, ct)
		}
		if c.mediaType != "application/pdf" && !strings.Contains(csp, "sandbox") {
			t.Errorf("%s: Content-Security-Policy %q has no sandbox", c.mediaType, csp)
		}
	}
}

// TestFilenames: labels reach Content-Disposition as RFC 6266 filename*,
// and nothing in a label can inject a header or a parameter.
func TestFilenames(t *testing.T) {
	sv := newServer(t, engines()[0].open(t), attachhttp.Options{Token: testToken})
	for _, c := range []struct {
		label string
		want  string // Content-Disposition
	}{
		{"", "inline"},
		{"plain.txt", `inline; filename="plain.txt"; filename*=UTF-8''plain.txt`},
		{"résumé 1.txt", `inline; filename="r_sum_ 1.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9%201.txt`},
		{"dir/sub/leaf.txt", `inline; filename="leaf.txt"; filename*=UTF-8''leaf.txt`},
		{`C:\Users\me\leaf.txt`, `inline; filename="leaf.txt"; filename*=UTF-8''leaf.txt`},
		{"evil\"; filename=x.html\r\nX-Injected: 1", `inline; filename="evil_; filename=x.htmlX-Injected: 1"; filename*=UTF-8''evil%22%3B%20filename%3Dx.htmlX-Injected%3A%201`},
		{"100%.txt", `inline; filename="100_.txt"; filename*=UTF-8''100%25.txt`},
		{"..", "inline"},
	} {
		id := sv.put("chat", []byte("label "+c.label), attachstore.Meta{MediaType: "text/plain", Label: c.label})
		w := sv.do(req("GET", attURL("chat", id), nil))
		if got := w.Header().Get("Content-Disposition"); got != c.want {
			t.Errorf("label %q: Content-Disposition\n %s\nwant\n %s", c.label, got, c.want)
		}
		if w.Header().Get("X-Injected") != "" {
			t.Errorf("label %q injected a header", c.label)
		}
		_, params, err := mime.ParseMediaType(w.Header().Get("Content-Disposition"))
		if err != nil && c.label != "" && c.label != ".." {
			t.Errorf("label %q: Content-Disposition does not parse: %v", c.label, err)
		} else if c.label != "" && c.label != ".." && strings.ContainsAny(params["filename"], "/\\\r\n") {
			t.Errorf("label %q: filename %q", c.label, params["filename"])
		}
	}
}

// TestLargeAttachmentStreams: a Range read deep inside a large
// attachment returns exactly its bytes (the reader seeks by chunk).
func TestLargeAttachmentStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("large attachment")
	}
	s := engines()[0].open(t)
	sv := newServer(t, s, attachhttp.Options{Token: testToken})
	const size = 64 << 20
	pattern := func(off int64) byte { return byte(off*31 + off>>12) }
	ref, err := s.Session("big").PutReader(context.Background(), io.LimitReader(&patternReader{f: pattern}, size), attachstore.Meta{MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	r := req("GET", attURL("big", ref.ID), nil)
	r.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", size-(3<<20)-17, size-(3<<20)+4096))
	w := sv.do(r)
	if w.Code != 206 || w.Body.Len() != 4096+18 {
		t.Fatalf("%d, %d bytes", w.Code, w.Body.Len())
	}
	for i, b := range w.Body.Bytes() {
		if off := int64(size-(3<<20)-17) + int64(i); b != pattern(off) {
			t.Fatalf("byte at %d: %d, want %d", off, b, pattern(off))
		}
	}
}

type patternReader struct {
	f   func(int64) byte
	off int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = p.f(p.off)
		p.off++
	}
	return len(b), nil
}
