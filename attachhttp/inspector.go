package attachhttp

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/attachstore/attachstore"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Limits of what one inspector page shows.
const (
	maxSessionsShown = 1000    // sessions on the index page
	textExcerptBytes = 4 << 10 // of a text attachment's preview
)

// inspector serves the read-only pages at / (server-rendered, no script):
// stats, sessions, a session's attachments with previews, one blob's
// holders, a reclaim dry run and verify.
type inspector struct {
	h    *handler
	tmpl *template.Template
}

func newInspector(h *handler) *inspector {
	funcs := template.FuncMap{
		"bytes":   humanBytes,
		"pathseg": pathSession,
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		},
	}
	t := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))
	return &inspector{h: h, tmpl: t}
}

func (in *inspector) routes(m *http.ServeMux) {
	m.HandleFunc("GET /{$}", in.index)
	m.HandleFunc("GET /inspect/sessions/{session}", in.session)
	m.HandleFunc("GET /inspect/blobs/{id}", in.blob)
	m.HandleFunc("GET /inspect/blob", in.findBlob)
	m.HandleFunc("GET /inspect/reclaim", in.reclaim)
	m.HandleFunc("POST /inspect/reclaim", in.reclaim)
	m.HandleFunc("POST /inspect/sessions/{session}/commit", in.ownerAction(OpCommit))
	m.HandleFunc("POST /inspect/sessions/{session}/discard", in.ownerAction(OpDiscard))
	m.HandleFunc("POST /inspect/sessions/{session}/delete", in.deleteAction)
	m.HandleFunc("GET /inspect/verify", in.verify)
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	// Browsers ask for it on their own; without an answer they log an error.
	m.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "favicon.png")
	})
}

// pageCSP: the inspector's pages run no script at all, and load styles,
// images, media and frames only from the server itself.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; " +
	"frame-src 'self'; object-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// page holds what every template gets.
type page struct {
	Title  string
	Root   string // relative path back to the handler's root, so a prefix mount works
	Writes bool
	Data   any
}

func (in *inspector) render(w http.ResponseWriter, name string, p page) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", pageCSP)
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	p.Writes = in.h.opts.AllowWrites
	// Render into memory first: a template error must not leave half a page.
	var b strings.Builder
	if err := in.tmpl.ExecuteTemplate(&b, name, p); err != nil {
		writeError(w, nil, http.StatusInternalServerError, "error", "rendering %s: %v", name, err)
		return
	}
	io.WriteString(w, b.String())
}

// index is the inspector's home page. Opened as /?token=TOKEN (the URL
// serve prints), it trades the token for a cookie and shows the page: its
// links carry no token, and its Referrer-Policy keeps the URL from leaving.
func (in *inspector) index(w http.ResponseWriter, r *http.Request) {
	if tok := r.URL.Query().Get("token"); tok != "" && in.h.opts.Authorize == nil {
		if !in.h.tokenEqual(tok) {
			writeError(w, r, http.StatusUnauthorized, "unauthorized", "wrong token")
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: cookieName(r), Value: tok, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
		})
	} else if !in.h.guard(w, r, "", OpInspect) {
		return
	}
	ctx := r.Context()
	st, err := in.h.s.Stats(ctx)
	if err != nil {
		fail(w, r, err)
		return
	}
	var sessions []attachstore.SessionInfo
	more := false
	for si, err := range in.h.s.Sessions(ctx) {
		if err != nil {
			fail(w, r, err)
			return
		}
		if len(sessions) == maxSessionsShown {
			more = true
			break
		}
		sessions = append(sessions, si)
	}
	in.render(w, "index.html", page{Title: "attachstore", Data: struct {
		Stats    attachstore.Stats
		Sessions []attachstore.SessionInfo
		More     bool
		Path     string
	}{st, sessions, more, in.h.s.Path()}})
}

// preview is one attachment of a session page.
type preview struct {
	ID        attachstore.ID
	MediaType string
	Label     string
	Size      int64
	Kind      string // image, pdf, text, audio, video or download
	Text      string // the excerpt, for text
	Truncated bool
}

// session shows one session: its manifest rows and its attachments with
// previews, each loaded through the same guarded URL as any client's.
func (in *inspector) session(w http.ResponseWriter, r *http.Request) {
	session := r.PathValue("session")
	if !in.h.guard(w, r, session, OpInspect) || !in.h.session(w, r, session) {
		return
	}
	ctx := r.Context()
	ss := in.h.s.Session(session)
	entries, err := ss.Refs(ctx)
	if err != nil {
		fail(w, r, err)
		return
	}
	holds, err := ss.Holds(ctx)
	if err != nil {
		fail(w, r, err)
		return
	}
	var previews []preview
	var owners []string
	seen := map[attachstore.ID]bool{}
	var bytes int64
	pending := 0
	for _, e := range entries {
		if !e.Committed() {
			pending++
			if !slices.Contains(owners, e.Owner) {
				owners = append(owners, e.Owner)
			}
		}
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		bytes += e.Size
		p := preview{ID: e.ID, MediaType: e.MediaType, Label: e.Label, Size: e.Size, Kind: previewKind(e.MediaType)}
		if p.Kind == "text" {
			p.Text, p.Truncated, err = excerpt(ctx, ss, e.ID)
			if err != nil {
				p.Kind = "download"
			}
		}
		previews = append(previews, p)
	}
	in.render(w, "session.html", page{Title: "session " + session, Root: "../../", Data: struct {
		ID       string
		Entries  []attachstore.Entry
		Previews []preview
		Owners   []string // with uncommitted intents
		Holds    []attachstore.Hold
		Pending  int
		Bytes    int64
	}{session, entries, previews, owners, holds, pending, bytes}})
}

// previewKind is how the inspector shows content of a media type; only
// types served inline are previewed.
func previewKind(mt string) string {
	if !Inline(mt) {
		return "download"
	}
	switch {
	case mt == "application/pdf":
		return "pdf"
	case mt == "text/plain":
		return "text"
	case strings.HasPrefix(mt, "image/"):
		return "image"
	case strings.HasPrefix(mt, "audio/"):
		return "audio"
	case strings.HasPrefix(mt, "video/"):
		return "video"
	}
	return "download"
}

// excerpt reads the start of a text attachment, cut at a character.
func excerpt(ctx context.Context, ss *attachstore.Session, id attachstore.ID) (string, bool, error) {
	rd, err := ss.NewReader(ctx, id)
	if err != nil {
		return "", false, err
	}
	defer rd.Close()
	buf := make([]byte, textExcerptBytes)
	n, err := io.ReadFull(rd, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", false, err
	}
	b := buf[:n]
	// A character cut by the excerpt's end is dropped, not shown broken.
	for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); i++ {
		b = b[:len(b)-1]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), rd.Ref().Size > int64(len(b)), nil
}

// findBlob sends the blob form's id to the blob's page.
func (in *inspector) findBlob(w http.ResponseWriter, r *http.Request) {
	if !in.h.guard(w, r, "", OpInspect) {
		return
	}
	id, err := attachstore.ParseID(strings.TrimSpace(r.URL.Query().Get("id")))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_id", "invalid id: want 64 hex digits")
		return
	}
	seeOther(w, "blobs/"+id.String())
}

// blob shows one blob and the sessions that hold it (RefsTo).
func (in *inspector) blob(w http.ResponseWriter, r *http.Request) {
	if !in.h.guard(w, r, "", OpInspect) {
		return
	}
	id, ok := in.h.parseID(w, r)
	if !ok {
		return
	}
	ref, err := in.h.s.Stat(r.Context(), id)
	if err != nil {
		fail(w, r, err)
		return
	}
	holders, err := in.h.s.RefsTo(r.Context(), id)
	if err != nil {
		fail(w, r, err)
		return
	}
	slices.SortFunc(holders, func(a, b attachstore.Entry) int { return cmp.Compare(a.SessionID, b.SessionID) })
	in.render(w, "blob.html", page{Title: "blob " + id.String()[:12], Root: "../../", Data: struct {
		Ref     attachstore.Ref
		Holders []attachstore.Entry
	}{ref, holders}})
}

// reclaim shows what Reclaim would collect with the given grace: a dry
// run, which changes nothing. POSTed (with writes on), it reclaims.
func (in *inspector) reclaim(w http.ResponseWriter, r *http.Request) {
	run := r.Method == http.MethodPost
	op := OpInspect
	if run {
		op = OpDelete // what Reclaim does, for Authorize and the write checks
	}
	if !in.h.guard(w, r, "", op) || (run && !in.parseForm(w, r)) {
		return
	}
	graceText := cmp.Or(r.FormValue("grace"), "24h")
	grace, err := time.ParseDuration(graceText)
	if err != nil || grace < 0 {
		writeError(w, r, http.StatusBadRequest, "usage", "grace %q: want a duration such as 24h", graceText)
		return
	}
	rep, err := in.h.s.Reclaim(r.Context(), attachstore.ReclaimPolicy{Grace: grace, DryRun: !run})
	refused := ""
	if errors.Is(err, attachstore.ErrNoRoots) {
		refused = cleanMsg(err.Error())
	} else if err != nil {
		fail(w, r, err)
		return
	}
	in.render(w, "reclaim.html", page{Title: "reclaim", Root: "../", Data: struct {
		Grace   string
		Report  attachstore.ReclaimReport
		Refused string
		Ran     bool
	}{grace.String(), rep, refused, run}})
}

// maxFormBytes bounds the inspector's forms, which hold an owner or an id.
const maxFormBytes = 64 << 10

// parseForm reads a POSTed form, answering 400 when it does not parse.
func (in *inspector) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeError(w, r, http.StatusBadRequest, "usage", "form: %v", err)
		return false
	}
	return true
}

// ownerAction commits or discards an owner's intents from the session
// page, and goes back to it.
func (in *inspector) ownerAction(op Op) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		session := r.PathValue("session")
		if !in.h.guard(w, r, session, op) || !in.parseForm(w, r) || !in.h.session(w, r, session) {
			return
		}
		owner := r.PostForm.Get("owner")
		if err := checkText("owner", owner, true); err != nil {
			writeError(w, r, http.StatusBadRequest, "invalid_session", "%v", err)
			return
		}
		ss := in.h.s.Session(session)
		var err error
		if op == OpCommit {
			_, err = ss.CommitOwned(r.Context(), owner)
		} else {
			_, err = ss.Discard(r.Context(), owner)
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		seeOther(w, "../"+pathSession(session))
	}
}

// deleteAction drops the session's ref to one attachment from the session
// page, and goes back to it.
func (in *inspector) deleteAction(w http.ResponseWriter, r *http.Request) {
	session := r.PathValue("session")
	if !in.h.guard(w, r, session, OpDelete) || !in.parseForm(w, r) || !in.h.session(w, r, session) {
		return
	}
	id, err := attachstore.ParseID(r.PostForm.Get("id"))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_id", "invalid id: want 64 hex digits")
		return
	}
	if err := in.h.s.Session(session).Delete(r.Context(), id); err != nil {
		fail(w, r, err)
		return
	}
	seeOther(w, "../"+pathSession(session))
}

// verify runs Verify and streams its progress as the page loads, so a
// long check shows how far it got without any script.
func (in *inspector) verify(w http.ResponseWriter, r *http.Request) {
	if !in.h.guard(w, r, "", OpInspect) {
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", pageCSP)
	hd.Set("Cache-Control", "no-store")
	p := page{Title: "verify", Root: "../", Writes: in.h.opts.AllowWrites}
	if err := in.tmpl.ExecuteTemplate(w, "verify_head", p); err != nil {
		return
	}
	rc := http.NewResponseController(w)
	rc.Flush()
	step := int64(1)
	var next int64
	rep, err := in.h.s.Verify(r.Context(), attachstore.WithVerifyProgress(func(vp attachstore.VerifyProgress) {
		if int64(vp.CheckedBlobs) < next && int64(vp.CheckedBlobs) != vp.TotalBlobs {
			return
		}
		if step == 1 && vp.TotalBlobs > 100 {
			step = vp.TotalBlobs / 100
		}
		next = int64(vp.CheckedBlobs) + step
		fmt.Fprintf(w, "<li>%d of %d blobs, %s of %s</li>\n", vp.CheckedBlobs, vp.TotalBlobs,
			humanBytes(vp.CheckedBytes), humanBytes(vp.TotalBytes))
		rc.Flush()
	}))
	errText := ""
	if err != nil {
		errText = cleanMsg(err.Error())
	}
	in.tmpl.ExecuteTemplate(w, "verify_tail", struct {
		page
		Report attachstore.VerifyReport
		Error  string
	}{p, rep, errText})
}

// seeOther redirects to a path relative to the request's: http.Redirect
// would make it absolute, and lose the prefix the handler is mounted under.
func seeOther(w http.ResponseWriter, loc string) {
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}

// humanBytes is a size in B, KiB, MiB or GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 3; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGT"[exp])
}
