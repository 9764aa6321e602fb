package attachhttp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachhttp"
)

// TestStatusOrder checks every status of the contract, each case built so
// that the checks before it pass and the one it names fails.
func TestStatusOrder(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		s := e.open(t, attachstore.WithMaxBlobSize(1<<20))
		ctx := context.Background()
		writable := newServer(t, s, attachhttp.Options{Token: testToken, AllowWrites: true, MaxUpload: 64})
		readOnly := newServer(t, s, attachhttp.Options{Token: testToken})
		sv := writable
		held := sv.put("chat", []byte("hello"), attachstore.Meta{MediaType: "text/plain"})
		elsewhere := sv.put("other-chat", []byte("not yours"), attachstore.Meta{})
		sv.put("gone", []byte("dropped"), attachstore.Meta{})
		if err := s.DropSession(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		authz := func(err error) *server {
			return newServer(t, s, attachhttp.Options{AllowWrites: true,
				Authorize: func(*http.Request, string, attachhttp.Op) error { return err }})
		}
		small := bytes.Repeat([]byte("x"), 10)
		big := bytes.Repeat([]byte("x"), 65)

		for _, c := range []struct {
			name   string
			sv     *server
			r      func() *http.Request
			status int
			kind   string
		}{
			{"ForeignHost", sv, func() *http.Request {
				r := req("GET", attURL("chat", held), nil)
				r.Host = "attacker.example:8080"
				return r
			}, 403, "forbidden"},
			{"ForeignHostWithoutToken", sv, func() *http.Request {
				r := req("GET", "/nowhere", nil)
				r.Host = "rebound.example"
				r.Header.Del("Authorization")
				return r
			}, 403, "forbidden"},
			{"NoToken", sv, func() *http.Request {
				r := req("GET", attURL("chat", held), nil)
				r.Header.Del("Authorization")
				return r
			}, 401, "unauthorized"},
			{"WrongToken", sv, func() *http.Request {
				r := req("GET", attURL("chat", held), nil)
				r.Header.Set("Authorization", "Bearer guess")
				return r
			}, 401, "unauthorized"},
			{"NeitherTokenNorAuthorize", newServer(t, s, attachhttp.Options{}), func() *http.Request {
				return req("GET", attURL("chat", held), nil)
			}, 401, "unauthorized"},
			{"AuthorizeRefuses", authz(errors.New("who are you")), func() *http.Request {
				return req("GET", attURL("chat", held), nil)
			}, 401, "unauthorized"},
			{"AuthorizeForbids", authz(fmt.Errorf("session chat: %w", attachhttp.ErrForbidden)), func() *http.Request {
				return req("GET", attURL("chat", held), nil)
			}, 403, "forbidden"},
			{"CrossSiteUpload", sv, func() *http.Request {
				r := req("POST", "/sessions/chat/attachments?owner=t", bytes.NewReader(small))
				r.Header.Set("Origin", "https://evil.example")
				return r
			}, 403, "forbidden"},
			{"CrossSiteDeleteByFetchMetadata", sv, func() *http.Request {
				r := req("DELETE", attURL("chat", held), nil)
				r.Header.Set("Sec-Fetch-Site", "cross-site")
				return r
			}, 403, "forbidden"},
			{"CrossSiteRead", sv, func() *http.Request {
				r := req("GET", attURL("chat", held), nil)
				r.Header.Set("Origin", "https://evil.example")
				return r
			}, 403, "forbidden"},
			{"CrossSiteReadByFetchMetadata", sv, func() *http.Request {
				r := req("GET", attURL("chat", held), nil)
				r.Header.Set("Sec-Fetch-Site", "cross-site")
				return r
			}, 403, "forbidden"},
			{"CrossSiteInspector", sv, func() *http.Request {
				r := req("GET", "/", nil)
				r.Header.Set("Origin", "null")
				return r
			}, 403, "forbidden"},
			{"WritesOff", readOnly, func() *http.Request {
				return req("POST", "/sessions/chat/attachments?owner=t", bytes.NewReader(small))
			}, 403, "read_only"},
			{"WritesOffCommit", readOnly, func() *http.Request {
				return req("POST", "/sessions/chat/commit?owner=t", nil)
			}, 403, "read_only"},
			{"MalformedID", sv, func() *http.Request {
				return req("GET", "/sessions/chat/attachments/xyz", nil)
			}, 400, "invalid_id"},
			{"MalformedIDDelete", sv, func() *http.Request {
				return req("DELETE", "/sessions/chat/attachments/"+strings.Repeat("g", 64), nil)
			}, 400, "invalid_id"},
			{"MissingOwner", sv, func() *http.Request {
				return req("POST", "/sessions/chat/attachments", bytes.NewReader(small))
			}, 400, "usage"},
			{"MissingOwnerCommit", sv, func() *http.Request {
				return req("POST", "/sessions/chat/commit", nil)
			}, 400, "usage"},
			{"OverlongSession", sv, func() *http.Request {
				return req("GET", attURL(strings.Repeat("s", 300), held), nil)
			}, 400, "invalid_session"},
			{"NotHeld", sv, func() *http.Request {
				return req("GET", attURL("chat", elsewhere), nil)
			}, 404, "not_found"},
			{"NotHeldHead", sv, func() *http.Request {
				return req("HEAD", attURL("chat", elsewhere), nil)
			}, 404, ""},
			{"NotHeldDelete", sv, func() *http.Request {
				return req("DELETE", attURL("chat", elsewhere), nil)
			}, 404, "not_found"},
			{"DroppedUpload", sv, func() *http.Request {
				return req("POST", "/sessions/gone/attachments?owner=t", bytes.NewReader(small))
			}, 409, "session_dropped"},
			{"DroppedUploadTooLarge", sv, func() *http.Request {
				return req("POST", "/sessions/gone/attachments?owner=t", bytes.NewReader(big))
			}, 409, "session_dropped"},
			{"DroppedCommit", sv, func() *http.Request {
				return req("POST", "/sessions/gone/commit?owner=turn", nil)
			}, 409, "session_dropped"},
			{"TooLarge", sv, func() *http.Request {
				return req("POST", "/sessions/chat/attachments?owner=t", bytes.NewReader(big))
			}, 413, "too_large"},
			{"TooLargeWithoutLength", sv, func() *http.Request {
				r := req("POST", "/sessions/chat/attachments?owner=t", struct{ *bytes.Reader }{bytes.NewReader(big)})
				r.ContentLength = -1
				return r
			}, 413, "too_large"},
			{"TooLargeForTheStore", newServer(t, s, attachhttp.Options{Token: testToken, AllowWrites: true}), func() *http.Request {
				return req("POST", "/sessions/chat/attachments?owner=t", bytes.NewReader(make([]byte, 1<<20+1)))
			}, 413, "too_large"},
			{"UnknownPath", sv, func() *http.Request { return req("GET", "/nowhere", nil) }, 404, "not_found"},
			{"WrongMethod", sv, func() *http.Request { return req("PUT", attURL("chat", held), nil) }, 405, "usage"},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := blobCount(t, s)
				w := c.sv.do(c.r())
				if w.Code != c.status {
					t.Fatalf("status %d, want %d; body %q", w.Code, c.status, w.Body.String())
				}
				if c.kind != "" {
					if k := errKind(t, w); k != c.kind {
						t.Errorf("kind %q, want %q", k, c.kind)
					}
				}
				if w.Header().Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("no nosniff on a %d", w.Code)
				}
				if after := blobCount(t, s); after != before {
					t.Errorf("a refused request changed the store: %d blobs, then %d", before, after)
				}
				if strings.Contains(w.Body.String(), "not yours") {
					t.Errorf("an error shows another session's bytes")
				}
			})
		}
	})
}

// TestNotFoundSaysNothingOfOtherSessions: content another session holds
// and content nobody stored get the same answer.
func TestNotFoundSaysNothingOfOtherSessions(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		sv := newServer(t, e.open(t), attachhttp.Options{Token: testToken})
		elsewhere := sv.put("other", []byte("theirs"), attachstore.Meta{})
		missing := attachstore.ContentID([]byte("nobody's"))
		a := sv.do(req("GET", attURL("mine", elsewhere), nil))
		b := sv.do(req("GET", attURL("mine", missing), nil))
		norm := func(s string) string {
			return strings.NewReplacer(elsewhere.String(), "ID", missing.String(), "ID").Replace(s)
		}
		if a.Code != 404 || b.Code != 404 || norm(a.Body.String()) != norm(b.Body.String()) {
			t.Errorf("held elsewhere: %d %q; stored nowhere: %d %q", a.Code, a.Body, b.Code, b.Body)
		}
	})
}

// TestAuthorizeSeesSessionAndOp: the hook is called with the session of
// the path and the operation.
func TestAuthorizeSeesSessionAndOp(t *testing.T) {
	s := engines()[0].open(t)
	type call struct {
		session string
		op      attachhttp.Op
	}
	var got []call
	h := newServer(t, s, attachhttp.Options{AllowWrites: true, Authorize: func(r *http.Request, session string, op attachhttp.Op) error {
		got = append(got, call{session, op})
		return nil
	}})
	id := h.put("c", []byte("x"), attachstore.Meta{})
	for _, c := range []struct {
		method, target string
		want           call
	}{
		{"GET", attURL("c", id), call{"c", attachhttp.OpRead}},
		{"HEAD", attURL("c", id), call{"c", attachhttp.OpRead}},
		{"POST", "/sessions/c/attachments?owner=o", call{"c", attachhttp.OpPut}},
		{"POST", "/sessions/c/commit?owner=o", call{"c", attachhttp.OpCommit}},
		{"POST", "/sessions/c/discard?owner=o", call{"c", attachhttp.OpDiscard}},
		{"DELETE", attURL("c", id), call{"c", attachhttp.OpDelete}},
		{"GET", "/", call{"", attachhttp.OpInspect}},
		{"GET", "/inspect/sessions/c", call{"c", attachhttp.OpInspect}},
	} {
		got = nil
		r := req(c.method, c.target, strings.NewReader("y"))
		r.Header.Del("Authorization")
		if w := h.do(r); w.Code >= 300 {
			t.Errorf("%s %s: %d %s", c.method, c.target, w.Code, w.Body)
		}
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s %s: Authorize saw %v, want %v", c.method, c.target, got, c.want)
		}
	}
}

// TestAllowedHosts: the defaults accept the loopback names on any port;
// a list replaces them, and an entry with a port needs that port.
func TestAllowedHosts(t *testing.T) {
	s := engines()[0].open(t)
	for _, c := range []struct {
		hosts []string
		host  string
		ok    bool
	}{
		{nil, "localhost:1234", true},
		{nil, "LOCALHOST", true},
		{nil, "127.0.0.1:80", true},
		{nil, "[::1]:9999", true},
		{nil, "127.0.0.2:80", false},
		{nil, "localhost.attacker.example", false},
		{nil, "", false},
		{[]string{"app.internal"}, "app.internal:443", true},
		{[]string{"app.internal"}, "localhost:1", false},
		{[]string{"app.internal:8443"}, "app.internal:443", false},
		{[]string{"app.internal:8443"}, "app.internal:8443", true},
		{[]string{"::1"}, "[::1]:1", true},
	} {
		sv := newServer(t, s, attachhttp.Options{Token: testToken, AllowedHosts: c.hosts})
		r := req("GET", "/", nil)
		r.Host = c.host
		w := sv.do(r)
		if ok := w.Code != http.StatusForbidden; ok != c.ok {
			t.Errorf("AllowedHosts %q, Host %q: status %d, want allowed=%v", c.hosts, c.host, w.Code, c.ok)
		}
	}
}

// TestAllowedOrigins: an app shell's origin may write and read across
// origins (CORS); any other origin gets no CORS header and may not write.
func TestAllowedOrigins(t *testing.T) {
	s := engines()[0].open(t)
	sv := newServer(t, s, attachhttp.Options{Token: testToken, AllowWrites: true,
		AllowedOrigins: []string{"app://localhost", "null"}})
	for _, c := range []struct {
		origin string
		ok     bool
	}{
		{"app://localhost", true},
		{"null", true},
		{"https://evil.example", false},
		{"app://other", false},
	} {
		pre := req("OPTIONS", "/sessions/c/attachments?owner=o", nil)
		pre.Header.Set("Origin", c.origin)
		pre.Header.Set("Access-Control-Request-Method", "POST")
		w := sv.do(pre)
		if got := w.Header().Get("Access-Control-Allow-Origin"); (got == c.origin) != c.ok {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q", c.origin, got)
		}
		r := req("POST", "/sessions/c/attachments?owner=o", strings.NewReader("from "+c.origin))
		r.Header.Set("Origin", c.origin)
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		w = sv.do(r)
		if (w.Code == http.StatusCreated) != c.ok {
			t.Errorf("upload from %s: status %d %s", c.origin, w.Code, w.Body)
		}
	}
	plain := newServer(t, s, attachhttp.Options{Token: testToken})
	r := req("GET", "/", nil)
	r.Header.Set("Origin", "app://localhost")
	if got := plain.do(r).Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("without AllowedOrigins: Access-Control-Allow-Origin %q", got)
	}
}

// TestSameOriginAllowed: the server's own pages (same origin), and a URL
// typed or opened from a terminal (Sec-Fetch-Site: none), may read and
// write.
func TestSameOriginAllowed(t *testing.T) {
	s := engines()[0].open(t)
	sv := newServer(t, s, attachhttp.Options{Token: testToken, AllowWrites: true})
	r := req("POST", "/sessions/c/attachments?owner=o", strings.NewReader("x"))
	r.Header.Set("Origin", "http://127.0.0.1:8080")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	w := sv.do(r)
	if w.Code != http.StatusCreated {
		t.Fatalf("same-origin upload: %d %s", w.Code, w.Body)
	}
	id := attachstore.ContentID([]byte("x"))
	for _, h := range []map[string]string{
		{"Origin": "http://127.0.0.1:8080", "Sec-Fetch-Site": "same-origin"},
		{"Sec-Fetch-Site": "same-origin"},
		{"Sec-Fetch-Site": "none"},
		{"Sec-Fetch-Site": "same-site"},
	} {
		r := req("GET", attURL("c", id), nil)
		for k, v := range h {
			r.Header.Set(k, v)
		}
		if w := sv.do(r); w.Code != http.StatusOK {
			t.Errorf("read with %v: %d %s", h, w.Code, w.Body)
		}
	}
}
