package attachhttp

import (
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/attachstore/attachstore"
)

// inlineTypes are the passive media types served inline: a browser renders
// them without running anything of theirs in the server's origin. Every
// other type (HTML, SVG, XML, JavaScript, and whatever is not listed) is
// served as a download in a sandbox.
var inlineTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"image/avif": true, "image/bmp": true,
	"application/pdf": true,
	"audio/mpeg":      true, "audio/ogg": true, "audio/wav": true, "audio/x-wav": true,
	"audio/wave": true, "audio/webm": true, "audio/flac": true, "audio/aac": true, "audio/mp4": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true,
	"text/plain": true,
}

// Inline reports whether content of mediaType is served inline (an image,
// PDF, audio, video or plain text on the short safe list) rather than as a
// sandboxed download.
func Inline(mediaType string) bool { return inlineTypes[strings.ToLower(mediaType)] }

// Content-Security-Policy values. Inline content may load nothing but
// itself and may be framed only by the server's own pages (the
// inspector's previews). A PDF goes without sandbox, which would keep the
// browser's PDF viewer from showing it; the viewer runs apart from the
// server's origin anyway. Downloads get the strictest policy, for a
// browser that renders them regardless.
const (
	cspInline   = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'"
	cspPDF      = "default-src 'none'; object-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'"
	cspDownload = "sandbox; default-src 'none'; frame-ancestors 'none'"
)

// serveContent answers GET and HEAD of one session's attachment through
// the session guard, with http.ServeContent over the streaming Reader:
// Range requests (one range or several) seek chunk by chunk, so memory
// stays bounded whatever the size, and a client that goes away cancels
// the read.
func (h *handler) serveContent(w http.ResponseWriter, r *http.Request) {
	session := r.PathValue("session")
	if !h.guard(w, r, session, OpRead) {
		return
	}
	id, ok := h.parseID(w, r)
	if !ok {
		return
	}
	rd, err := h.s.Session(session).NewReader(r.Context(), id)
	if err != nil {
		fail(w, r, err)
		return
	}
	defer rd.Close()
	ref := rd.Ref()
	hd := w.Header()
	contentHeaders(hd, ref)
	// The bytes of an id never change, but the session's hold on them may:
	// a browser revalidates every time, and the guard above runs on each
	// revalidation, so a dropped chat's attachments stop showing. No date
	// is sent: the blob's creation time would tell the session that
	// someone else stored the same bytes earlier.
	hd.Set("ETag", `"`+id.String()+`"`)
	hd.Set("Cache-Control", "private, no-cache")
	http.ServeContent(w, r, "", time.Time{}, rd)
}

// parseID reads the {id} of the path, answering 400 when it is not an id.
func (h *handler) parseID(w http.ResponseWriter, r *http.Request) (attachstore.ID, bool) {
	id, err := attachstore.ParseID(r.PathValue("id"))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_id", "invalid id: want 64 hex digits")
		return id, false
	}
	return id, true
}

// contentHeaders sets Content-Type, Content-Disposition and
// Content-Security-Policy for ref by the safe-type rules.
func contentHeaders(hd http.Header, ref attachstore.Ref) {
	mt := strings.ToLower(ref.MediaType)
	if mt == "" {
		mt = attachstore.DefaultMediaType
	}
	ct := mt
	if mt == "text/plain" {
		// Stored types are bare; UTF-8 is what a browser should assume,
		// rather than guessing from the bytes.
		ct += "; charset=utf-8"
	}
	hd.Set("Content-Type", ct)
	hd.Set("X-Content-Type-Options", "nosniff")
	disposition := "attachment"
	csp := cspDownload
	if Inline(mt) {
		disposition = "inline"
		csp = cspInline
		if mt == "application/pdf" {
			csp = cspPDF
		}
	}
	hd.Set("Content-Disposition", contentDisposition(disposition, ref.Label))
	hd.Set("Content-Security-Policy", csp)
}

// contentDisposition formats the header per RFC 6266: an ASCII filename
// for old clients and filename* (RFC 8187, UTF-8, percent-encoded) with
// the label's base name. Nothing of the label can end the header or add
// a parameter: quotes, backslashes, control characters and separators
// are replaced or encoded.
func contentDisposition(disposition, label string) string {
	name := fileName(label)
	if name == "" {
		return disposition
	}
	var ascii strings.Builder
	for _, c := range name {
		switch {
		case c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '%':
			ascii.WriteByte('_')
		default:
			ascii.WriteRune(c)
		}
	}
	return fmt.Sprintf(`%s; filename="%s"; filename*=UTF-8''%s`, disposition, ascii.String(), encode5987(name))
}

// fileName is the base name of a label, without control characters;
// "" when nothing usable is left.
func fileName(label string) string {
	if !utf8.ValidString(label) {
		return ""
	}
	label = strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\u2028' || c == '\u2029' {
			return -1
		}
		return c
	}, label)
	label = strings.ReplaceAll(label, `\`, "/")
	name := path.Base(label)
	if name == "." || name == "/" || name == ".." {
		return ""
	}
	return strings.TrimSpace(name)
}

// encode5987 percent-encodes every byte but RFC 8187's attr-char.
func encode5987(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
