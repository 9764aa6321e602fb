// Package attachhttp serves an attachstore Store over HTTP: one session's
// attachments by URL (GET and HEAD with Range and ETag), uploads, commits
// and discards of an owner's intents, and an inspector page that shows what
// the store holds.
//
// It is the server a desktop agent app would otherwise write for its web
// view, with the safety such a server needs on 127.0.0.1, which every web
// page the user visits can reach:
//
//   - every request is authenticated: by Options.Authorize, or else by the
//     bearer token Options.Token (a browser exchanges it once for a cookie);
//     with neither, every request is refused;
//   - the Host header must be one of Options.AllowedHosts (DNS rebinding);
//   - state-changing requests must be same-origin (CSRF), and writes are off
//     unless Options.AllowWrites;
//   - a session reads only what it holds a ref to;
//   - content is never rendered as active content (HTML, SVG, script) in the
//     server's origin: only a short list of passive types is served inline,
//     everything else as a sandboxed download, always with nosniff.
//
// Routes, relative to where the handler is mounted:
//
//	GET, HEAD /sessions/{session}/attachments/{id}   the bytes (Range, ETag)
//	POST      /sessions/{session}/attachments?owner=O&label=L   upload: 201 and the ref as JSON
//	DELETE    /sessions/{session}/attachments/{id}   drop the session's ref: 204
//	POST      /sessions/{session}/commit?owner=O     commit O's intents: the ids as JSON
//	POST      /sessions/{session}/discard?owner=O    forget O's intents: the ids as JSON
//	GET       /                                      the inspector
//
// A request is checked in this order, and answered with the first that
// applies: a Host not allowed, 403; missing or wrong credentials, or
// Authorize refusing, 401 (403 when Authorize returns an error matching
// ErrForbidden); a request from another origin's page (a state-changing
// one, by http.CrossOriginProtection's rules; a read, when its Origin or
// Sec-Fetch-Site header says so), or a write while writes are off, 403; a malformed id, session or owner, or a missing owner,
// 400; content the session does not hold, 404; a dropped session, 409; an
// upload past the limit, 413; a full store, 507. Errors are JSON objects
// {"error": MESSAGE, "kind": KIND}, with the kinds of the attachstore
// command's --json.
package attachhttp

import (
	"io"
	"net/http"
	"strings"

	"github.com/attachstore/attachstore"
)

// Op is what a request does, as Options.Authorize sees it.
type Op int

// The operations a request may perform.
const (
	OpRead    Op = iota // GET or HEAD of an attachment
	OpPut               // POST of an attachment
	OpCommit            // POST …/commit
	OpDiscard           // POST …/discard
	OpDelete            // DELETE of a session's ref
	OpInspect           // the inspector's pages (session "" for store-wide ones)
)

// String returns the operation's name: "read", "put", "commit", "discard",
// "delete" or "inspect".
func (o Op) String() string {
	switch o {
	case OpRead:
		return "read"
	case OpPut:
		return "put"
	case OpCommit:
		return "commit"
	case OpDiscard:
		return "discard"
	case OpDelete:
		return "delete"
	case OpInspect:
		return "inspect"
	}
	return "op(?)"
}

// writes reports whether o changes the store.
func (o Op) writes() bool {
	switch o {
	case OpPut, OpCommit, OpDiscard, OpDelete:
		return true
	}
	return false
}

// Options configures New. The zero Options refuses every request: a server
// needs a Token or an Authorize hook.
type Options struct {
	// Token is the bearer token every request must carry
	// ("Authorization: Bearer TOKEN") when Authorize is nil. A browser
	// opening the inspector at /?token=TOKEN gets it as an HttpOnly,
	// SameSite=Strict cookie instead, named for the server's port.
	Token string
	// Authorize, if set, decides every request instead of Token: it is
	// called with the session the request concerns ("" for store-wide
	// inspector pages) and what it does. A nil error lets the request
	// through; an error matching ErrForbidden answers 403, any other 401.
	Authorize func(r *http.Request, session string, op Op) error
	// AllowWrites turns on uploads, commits, discards and deletes. Without
	// it they are refused with 403 and the store is only read.
	AllowWrites bool
	// AllowedHosts are the Host header values accepted; anything else is
	// refused with 403, which defeats DNS rebinding. An entry without a
	// port matches any port; "[::1]" and "::1" are the same host. The
	// default is localhost, 127.0.0.1 and [::1]. A server behind a reverse
	// proxy lists the names it is reached by.
	AllowedHosts []string
	// AllowedOrigins are the origins (scheme://host[:port], or "null")
	// whose pages may use the server across origins, writes included, and
	// read its responses (CORS): an app shell whose pages have a scheme of
	// their own, such as "app://localhost". Without it there is no CORS,
	// and requests from another origin's page are refused.
	AllowedOrigins []string
	// MaxUpload is the largest upload accepted, in bytes; larger ones get
	// 413 and store nothing. 0 means the store's MaxBlobSize.
	MaxUpload int64
	// TempDir is where uploads are spooled before they are stored; ""
	// means os.TempDir().
	TempDir string
}

// handler is what New returns.
type handler struct {
	s     *attachstore.Store
	opts  Options
	hosts []hostPattern
	csrf  *http.CrossOriginProtection
	mux   *http.ServeMux
	ui    *inspector
}

// New returns a handler serving s as the package documentation describes.
// It may be mounted under a prefix with http.StripPrefix. New panics only
// if an entry of opts.AllowedOrigins is not an origin, which is a
// programming error of the host.
func New(s *attachstore.Store, opts Options) http.Handler {
	h := &handler{s: s, opts: opts, csrf: http.NewCrossOriginProtection()}
	hosts := opts.AllowedHosts
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "[::1]"}
	}
	for _, e := range hosts {
		host, port := splitHost(e)
		h.hosts = append(h.hosts, hostPattern{host, port})
	}
	for _, o := range opts.AllowedOrigins {
		if o == "null" {
			continue // checked by h.crossSite: CrossOriginProtection takes only URLs
		}
		if err := h.csrf.AddTrustedOrigin(o); err != nil {
			panic("attachhttp: AllowedOrigins: " + err.Error())
		}
	}
	// Refusals are answered by h.crossSite, as JSON in the package's order.
	h.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	h.ui = newInspector(h)

	m := http.NewServeMux()
	m.HandleFunc("GET /sessions/{session}/attachments/{id}", h.serveContent)
	m.HandleFunc("HEAD /sessions/{session}/attachments/{id}", h.serveContent)
	m.HandleFunc("DELETE /sessions/{session}/attachments/{id}", h.deleteRef)
	m.HandleFunc("POST /sessions/{session}/attachments", h.upload)
	m.HandleFunc("POST /sessions/{session}/commit", h.commit)
	m.HandleFunc("POST /sessions/{session}/discard", h.discard)
	h.ui.routes(m)
	h.mux = m
	return h
}

// ServeHTTP checks the Host header before anything else, so that a page
// reaching the server through a rebound DNS name learns nothing, not even
// which paths exist.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !h.hostAllowed(r.Host) {
		writeError(w, r, http.StatusForbidden, "forbidden", "host %q is not allowed", r.Host)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && h.originAllowed(origin) {
		h.cors(w, r, origin)
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	h.mux.ServeHTTP(&statusWriter{ResponseWriter: w, r: r}, r)
}

// statusWriter turns the mux's own plain-text 404 and 405 answers into
// JSON errors.
type statusWriter struct {
	http.ResponseWriter
	r       *http.Request
	replace bool
}

func (w *statusWriter) WriteHeader(code int) {
	if (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) &&
		strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.replace = true
		kind := "not_found"
		if code == http.StatusMethodNotAllowed {
			kind = "usage"
		}
		w.Header().Del("Content-Length")
		writeError(w.ResponseWriter, w.r, code, kind, "%s", strings.ToLower(http.StatusText(code)))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.replace {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom sends a body (ServeContent's io.CopyN) that runs to the end of
// the content with the Reader's WriteTo: each chunk goes to the
// connection as the store read it, in one write, with no copy. A range
// that ends earlier takes the default copy.
func (w *statusWriter) ReadFrom(src io.Reader) (int64, error) {
	if lr, ok := src.(*io.LimitedReader); ok {
		if rd, ok := lr.R.(*attachstore.Reader); ok {
			if off, err := rd.Seek(0, io.SeekCurrent); err == nil && rd.Ref().Size-off <= lr.N {
				n, err := rd.WriteTo(writerOnly{w})
				lr.N -= n
				return n, err
			}
		}
	}
	return io.Copy(writerOnly{w}, src)
}

// writerOnly hides ReadFrom, so that io.Copy does not call it again.
type writerOnly struct{ io.Writer }

// Unwrap lets http.ResponseController reach the connection (Flush).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush lets the inspector's verify page stream its progress.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
