package attachhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachhttp"
)

// TestTokenExchange: /?token= shows the inspector and sets an HttpOnly,
// SameSite=Strict cookie named for the port; the cookie then opens the
// inspector on that port only.
func TestTokenExchange(t *testing.T) {
	sv := newServer(t, engines()[0].open(t), attachhttp.Options{Token: testToken})
	r := req("GET", "/?token="+testToken, nil)
	r.Header.Del("Authorization")
	w := sv.do(r)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="stats"`) || strings.Contains(w.Body.String(), testToken) {
		t.Fatalf("token exchange: %d\n%s", w.Code, w.Body)
	}
	if rp := w.Header().Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy %q: the token in the URL could leave in a Referer", rp)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	c := cookies[0]
	if c.Name != "attachstore_token_8080" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Value != testToken {
		t.Errorf("cookie %+v", c)
	}
	for _, tc := range []struct {
		host   string
		cookie *http.Cookie
		want   int
	}{
		{"127.0.0.1:8080", c, 200},
		{"127.0.0.1:9090", &http.Cookie{Name: c.Name, Value: c.Value}, 401}, // another server's port
		{"127.0.0.1:8080", &http.Cookie{Name: c.Name, Value: "guess"}, 401},
		{"127.0.0.1:8080", nil, 401},
	} {
		r := req("GET", "/", nil)
		r.Header.Del("Authorization")
		r.Host = tc.host
		if tc.cookie != nil {
			r.AddCookie(tc.cookie)
		}
		if w := sv.do(r); w.Code != tc.want {
			t.Errorf("Host %s, cookie %v: %d, want %d", tc.host, tc.cookie, w.Code, tc.want)
		}
	}
	r = req("GET", "/?token=guess", nil)
	r.Header.Del("Authorization")
	if w := sv.do(r); w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
		t.Errorf("wrong token: %d, cookies %v", w.Code, w.Result().Cookies())
	}
}

// TestInspectorPages: the index lists stats and sessions; a session page
// previews its attachments by the safe rules; the blob page names its
// holders; the reclaim page shows Reclaim's dry run; verify reports.
func TestInspectorPages(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s := e.open(t)
		sv := newServer(t, s, attachhttp.Options{Token: testToken})
		img := sv.put("chat <1>", []byte("\x89PNG fake"), attachstore.Meta{MediaType: "image/png", Label: "shot.png"})
		pdf := sv.put("chat <1>", []byte("%PDF-1.4 fake"), attachstore.Meta{MediaType: "application/pdf", Label: "doc.pdf"})
		txt := sv.put("chat <1>", []byte("a note with <b>markup</b>"), attachstore.Meta{MediaType: "text/plain"})
		html := sv.put("chat <1>", []byte("<script>alert(1)</script>"), attachstore.Meta{MediaType: "text/html", Label: "<i>page</i>.html"})
		sv.put("other", []byte("\x89PNG fake"), attachstore.Meta{MediaType: "image/png"})
		if _, err := s.Put(ctx, []byte("orphan"), attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Session("chat <1>").Hold(ctx, "turn <2>", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}

		get := func(target string) string {
			t.Helper()
			w := sv.do(req("GET", target, nil))
			if w.Code != 200 {
				t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
			}
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
				t.Errorf("GET %s: Content-Security-Policy %q", target, csp)
			}
			if strings.Contains(w.Body.String(), "<script") {
				t.Errorf("GET %s: the page holds a script", target)
			}
			return w.Body.String()
		}
		index := get("/")
		for _, want := range []string{`id="stat-blobs">5<`, `href="inspect/sessions/chat%20%3C1%3E"`, "chat &lt;1&gt;", ">other<"} {
			if !strings.Contains(index, want) {
				t.Errorf("index lacks %s:\n%s", want, index)
			}
		}
		page := get("/inspect/sessions/chat%20%3C1%3E")
		att := func(id attachstore.ID) string {
			return "../../sessions/chat%20%3C1%3E/attachments/" + id.String()
		}
		for _, want := range []string{
			`<img src="` + att(img) + `"`,
			`<iframe class="pdf" src="` + att(pdf) + `"`,
			`<pre class="text">a note with &lt;b&gt;markup&lt;/b&gt;</pre>`,
			`href="` + att(html) + `" class="download">&lt;i&gt;page&lt;/i&gt;.html</a>`,
			`4 manifest rows, 4 uncommitted`,
			`<table id="holds">`,
			`<td>turn &lt;2&gt;</td>`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("session page lacks %s:\n%s", want, page)
			}
		}
		_ = txt
		blob := get("/inspect/blobs/" + img.String())
		for _, want := range []string{">chat &lt;1&gt;</a>", ">other</a>"} {
			if !strings.Contains(blob, want) {
				t.Errorf("blob page lacks %s:\n%s", want, blob)
			}
		}
		rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: 0, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		rec := get("/inspect/reclaim?grace=0s")
		for _, want := range []string{
			fmt.Sprintf(`id="expired-intents">%d<`, rep.ExpiredIntents),
			fmt.Sprintf(`id="reclaimed-blobs">%d<`, rep.ReclaimedBlobs),
			fmt.Sprintf(`data-bytes="%d"`, rep.ReclaimedBytes),
		} {
			if !strings.Contains(rec, want) {
				t.Errorf("reclaim page lacks %s:\n%s", want, rec)
			}
		}
		if rep.ReclaimedBlobs == 0 {
			t.Errorf("the dry run found nothing: the test proves nothing")
		}
		if n := blobCount(t, s); n != 5 {
			t.Errorf("the dry run page changed the store: %d blobs", n)
		}
		if v := get("/inspect/verify"); !strings.Contains(v, `id="verify-result" class="ok"`) || !strings.Contains(v, "5 of 5 blobs") {
			t.Errorf("verify page:\n%s", v)
		}
		if w := sv.do(req("GET", "/static/style.css", nil)); w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") {
			t.Errorf("style sheet: %d %q", w.Code, w.Header().Get("Content-Type"))
		}
		if w := sv.do(req("GET", "/inspect/reclaim?grace=soon", nil)); w.Code != 400 {
			t.Errorf("bad grace: %d", w.Code)
		}
		if w := sv.do(req("GET", "/inspect/blob?id="+img.String(), nil)); w.Code != http.StatusSeeOther {
			t.Errorf("blob form: %d", w.Code)
		}
	})
}

// TestInspectorUnderPrefix: mounted under a prefix in a host's own mux,
// the inspector's links and previews stay under it (they are relative).
func TestInspectorUnderPrefix(t *testing.T) {
	s := engines()[0].open(t)
	mux := http.NewServeMux()
	mux.Handle("/attachments/", http.StripPrefix("/attachments", attachhttp.New(s, attachhttp.Options{Token: testToken})))
	ref, err := s.Session("c").Put(context.Background(), []byte("x"), attachstore.Meta{MediaType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	w := newRecorder(mux, req("GET", "/attachments/sessions/c/attachments/"+ref.ID.String(), nil))
	if w.Code != 200 || w.Body.String() != "x" {
		t.Errorf("attachment under a prefix: %d %q", w.Code, w.Body)
	}
	w = newRecorder(mux, req("GET", "/attachments/", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `href="inspect/sessions/c"`) || strings.Contains(w.Body.String(), `href="/`) {
		t.Errorf("inspector under a prefix: %d\n%s", w.Code, w.Body)
	}
	_ = time.Now
}

// TestInspectorWrites: with writes on, the session page commits and
// discards an owner's intents and drops a ref, and the reclaim page
// reclaims, each by a same-origin form; with writes off, or from another
// origin, the same posts are refused and change nothing.
func TestInspectorWrites(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s := e.open(t)
		ro := newServer(t, s, attachhttp.Options{Token: testToken})
		rw := newServer(t, s, attachhttp.Options{Token: testToken, AllowWrites: true})
		a, err := s.Session("c").WithOwner("turn-1").Put(ctx, []byte("keep"), attachstore.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Session("c").WithOwner("turn-2").Put(ctx, []byte("drop"), attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, []byte("orphan"), attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
		form := func(target, body, origin string) *http.Request {
			r := req("POST", target, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Origin", origin)
			return r
		}
		const self = "http://127.0.0.1:8080"
		if page := ro.do(req("GET", "/inspect/sessions/c", nil)).Body.String(); strings.Contains(page, "<form method=\"post\"") {
			t.Errorf("read-only session page offers writes:\n%s", page)
		}
		if page := rw.do(req("GET", "/inspect/sessions/c", nil)).Body.String(); !strings.Contains(page, `action="c/commit"`) || !strings.Contains(page, `value="turn-2"`) {
			t.Errorf("writable session page offers no commit for turn-2:\n%s", page)
		}
		for _, c := range []struct {
			sv     *server
			r      *http.Request
			status int
		}{
			{ro, form("/inspect/sessions/c/commit", "owner=turn-1", self), 403},
			{rw, form("/inspect/sessions/c/commit", "owner=turn-1", "https://evil.example"), 403},
			{ro, form("/inspect/reclaim", "grace=0s", self), 403},
			{rw, form("/inspect/sessions/c/commit", "owner=turn-1", self), 303},
			{rw, form("/inspect/sessions/c/discard", "owner=turn-2", self), 303},
		} {
			w := c.sv.do(c.r)
			if w.Code != c.status {
				t.Errorf("%s %s from %s: %d, want %d %s", c.r.Method, c.r.URL, c.r.Header.Get("Origin"), w.Code, c.status, w.Body)
			}
			if w.Code == 303 && w.Header().Get("Location") != "../c" {
				t.Errorf("%s: Location %q", c.r.URL, w.Header().Get("Location"))
			}
		}
		entries, err := s.Session("c").Refs(ctx)
		if err != nil || len(entries) != 1 || entries[0].ID != a.ID || !entries[0].Committed() {
			t.Fatalf("after commit of turn-1 and discard of turn-2: %+v %v", entries, err)
		}
		w := rw.do(form("/inspect/reclaim", "grace=0s", self))
		if w.Code != 200 || !strings.Contains(w.Body.String(), `id="reclaimed-blobs">2<`) {
			t.Errorf("reclaim: %d\n%s", w.Code, w.Body)
		}
		if n := blobCount(t, s); n != 1 {
			t.Errorf("%d blobs after reclaim, want the committed one", n)
		}
		if w := rw.do(form("/inspect/sessions/c/delete", "id="+a.ID.String(), self)); w.Code != 303 {
			t.Errorf("drop ref: %d %s", w.Code, w.Body)
		}
		if held, _ := s.HoldsRef(ctx, "c", a.ID); held {
			t.Errorf("the ref survived the drop")
		}
	})
}
