package attachhttp

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// ErrForbidden is what Options.Authorize returns (or wraps) to refuse a
// request with 403 rather than 401: the caller is known, and may not do
// this.
var ErrForbidden = errors.New("attachhttp: forbidden")

// hostPattern is one entry of Options.AllowedHosts.
type hostPattern struct {
	host string // lowercased, without brackets
	port string // "" matches any port
}

// splitHost splits a Host header or an AllowedHosts entry into its host,
// lowercased and without brackets, and its port ("" when none).
func splitHost(s string) (host, port string) {
	if h, p, err := net.SplitHostPort(s); err == nil {
		return strings.ToLower(h), p
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")), ""
}

// hostAllowed reports whether a request's Host header is allowed.
func (h *handler) hostAllowed(hostHeader string) bool {
	if hostHeader == "" {
		return false
	}
	host, port := splitHost(hostHeader)
	for _, e := range h.hosts {
		if e.host == host && (e.port == "" || e.port == port) {
			return true
		}
	}
	return false
}

// originAllowed reports whether origin is one of Options.AllowedOrigins.
func (h *handler) originAllowed(origin string) bool {
	return slices.Contains(h.opts.AllowedOrigins, origin)
}

// cors answers for an allowed origin: its pages may read responses, with
// the headers a media element or a fetch needs.
func (h *handler) cors(w http.ResponseWriter, r *http.Request, origin string) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Add("Vary", "Origin")
	hd.Set("Access-Control-Expose-Headers", "ETag, Content-Range, Content-Length, Content-Disposition, Location, Accept-Ranges")
	if r.Method == http.MethodOptions {
		hd.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE")
		hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Range, If-None-Match")
		hd.Set("Access-Control-Max-Age", "600")
	}
}

// crossSite reports whether a state-changing request comes from another
// origin than the server's (and not one of AllowedOrigins). Requests
// without Origin or Sec-Fetch-Site headers are not from a browser, and
// pass: they carry their own credentials, which a page cannot forge.
func (h *handler) crossSite(r *http.Request) bool {
	if r.Header.Get("Origin") == "null" && slices.Contains(h.opts.AllowedOrigins, "null") {
		return false
	}
	return h.csrf.Check(r) != nil
}

// crossSiteRead reports whether a request that only reads comes from a
// page of another origin (and not one of AllowedOrigins). Such a page has
// no credentials to send (the cookie is SameSite=Strict, the token its
// own secret), so this refuses nothing legitimate; it keeps another site's
// page from learning even how the server answers.
func (h *handler) crossSiteRead(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin != "" && h.originAllowed(origin) {
		return false
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return true
	}
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host != r.Host
}

// cookieName is the name of the inspector's cookie on this server. It
// carries the port because browsers share cookies across the ports of a
// host: two servers on 127.0.0.1 must not take each other's tokens.
func cookieName(r *http.Request) string {
	_, port := splitHost(r.Host)
	if port == "" {
		port = "80"
		if r.TLS != nil {
			port = "443"
		}
	}
	return "attachstore_token_" + port
}

// tokenEqual compares in constant time, so that timing tells nothing
// about how much of a guess was right.
func (h *handler) tokenEqual(s string) bool {
	return h.opts.Token != "" && subtle.ConstantTimeCompare([]byte(s), []byte(h.opts.Token)) == 1
}

// authenticate checks the request's credentials: Authorize's verdict, or
// else the bearer token or the inspector's cookie.
func (h *handler) authenticate(r *http.Request, session string, op Op) error {
	if h.opts.Authorize != nil {
		return h.opts.Authorize(r, session, op)
	}
	if h.opts.Token == "" {
		return errors.New("the server has neither a token nor an Authorize hook: every request is refused")
	}
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, _ := strings.Cut(a, " ")
		if strings.EqualFold(scheme, "Bearer") && h.tokenEqual(strings.TrimSpace(tok)) {
			return nil
		}
		return errors.New("wrong bearer token")
	}
	if c, err := r.Cookie(cookieName(r)); err == nil && h.tokenEqual(c.Value) {
		return nil
	}
	return errors.New("missing credentials: send Authorization: Bearer TOKEN")
}

// guard runs the checks every route shares, after the Host check and in
// the package's order: credentials (401, or 403 for ErrForbidden), then
// for a request that changes state, its origin and the write switch (403).
// It answers a refused request itself and returns false.
func (h *handler) guard(w http.ResponseWriter, r *http.Request, session string, op Op) bool {
	if err := h.authenticate(r, session, op); err != nil {
		if errors.Is(err, ErrForbidden) {
			writeError(w, r, http.StatusForbidden, "forbidden", "%s", cleanMsg(err.Error()))
		} else {
			if h.opts.Authorize == nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="attachstore"`)
			}
			writeError(w, r, http.StatusUnauthorized, "unauthorized", "%s", cleanMsg(err.Error()))
		}
		return false
	}
	if !op.writes() && h.crossSiteRead(r) {
		writeError(w, r, http.StatusForbidden, "forbidden", "cross-origin request refused")
		return false
	}
	if op.writes() {
		if h.crossSite(r) {
			writeError(w, r, http.StatusForbidden, "forbidden", "cross-origin request refused")
			return false
		}
		if !h.opts.AllowWrites {
			writeError(w, r, http.StatusForbidden, "read_only", "writes are off on this server")
			return false
		}
	}
	return true
}
