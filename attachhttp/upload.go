package attachhttp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/attachstore/attachstore"
)

// upload stores the request body into a session under an owner: POST
// /sessions/{session}/attachments?owner=O&label=L, the media type from
// Content-Type (without its parameters: a charset is dropped, since stored
// types are bare; a type the store does not accept is stored as
// application/octet-stream rather than refused). It answers 201 with the
// ref as JSON, whose created_at is the time of this put (never the time
// the bytes were first stored, which would tell of other sessions).
//
// The body is spooled to a temporary file first, up to the upload limit,
// and only then put: Session.PutReader holds the store's write lock while
// it reads, and a slow client must not stall other writers. A client that
// goes away, or a body past the limit, stores nothing.
func (h *handler) upload(w http.ResponseWriter, r *http.Request) {
	session := r.PathValue("session")
	if !h.guard(w, r, session, OpPut) {
		return
	}
	owner, ok := h.owner(w, r)
	if !ok {
		return
	}
	meta := attachstore.Meta{MediaType: mediaType(r.Header.Get("Content-Type")), Label: r.URL.Query().Get("label")}
	if err := meta.Validate(); err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_meta", "%s", cleanMsg(err.Error()))
		return
	}
	ss := h.s.Session(session).WithOwner(owner)
	if err := ss.Validate(); err != nil {
		fail(w, r, err) // 400, before the body is read
		return
	}
	limit := h.maxUpload()
	if r.ContentLength > limit {
		h.tooLarge(w, r, ss, meta, limit)
		return
	}
	f, err := os.CreateTemp(h.opts.TempDir, "attachhttp-upload-*")
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, "error", "spooling the upload: %v", err)
		return
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if _, err := io.Copy(f, http.MaxBytesReader(w, r.Body, limit)); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			h.tooLarge(w, r, ss, meta, limit)
		case r.Context().Err() != nil:
			fail(w, r, r.Context().Err())
		default:
			writeError(w, r, http.StatusBadRequest, "error", "reading the upload: %v", err)
		}
		return
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		writeError(w, r, http.StatusInternalServerError, "error", "spooling the upload: %v", err)
		return
	}
	ref, err := ss.PutReader(r.Context(), f, meta)
	if err != nil {
		fail(w, r, err)
		return
	}
	ref.CreatedAt = time.Now().UTC()
	w.Header().Set("Location", "attachments/"+ref.ID.String())
	writeJSON(w, http.StatusCreated, ref)
}

// maxUpload is the upload limit: Options.MaxUpload, else the store's.
func (h *handler) maxUpload() int64 {
	if h.opts.MaxUpload > 0 {
		return h.opts.MaxUpload
	}
	return h.s.MaxBlobSize()
}

// errProbe stops a put before it stores anything.
var errProbe = errors.New("attachhttp: probe")

type probeReader struct{}

func (probeReader) Read([]byte) (int, error) { return 0, errProbe }

// tooLarge answers an upload past the limit: 413, unless the session was
// dropped, which comes first (409). The library has no question for "is
// this session dropped"; a put that fails on its first read asks it, and
// stores nothing either way.
func (h *handler) tooLarge(w http.ResponseWriter, r *http.Request, ss *attachstore.Session, meta attachstore.Meta, limit int64) {
	if _, err := ss.PutReader(r.Context(), probeReader{}, meta); err != nil && !errors.Is(err, errProbe) {
		if status, _ := statusOf(err); status < http.StatusRequestEntityTooLarge {
			fail(w, r, err)
			return
		}
	}
	writeError(w, r, http.StatusRequestEntityTooLarge, "too_large", "upload is larger than %d bytes", limit)
}

// mediaType is the bare media type of a Content-Type header, or "" (the
// store's default) when it has none the store accepts.
func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || (attachstore.Meta{MediaType: mt}).Validate() != nil {
		return ""
	}
	return mt
}

// owner reads ?owner=, which may be empty (the default owner) but must be
// given, answering 400 when it is missing. A malformed owner or session id
// is the library's ErrInvalidSession (Session.Validate), 400 too, before
// the body or the store is read.
func (h *handler) owner(w http.ResponseWriter, r *http.Request) (string, bool) {
	q := r.URL.Query()
	if !q.Has("owner") {
		writeError(w, r, http.StatusBadRequest, "usage", "missing owner: add ?owner=O (a turn id, say)")
		return "", false
	}
	return q.Get("owner"), true
}

// ownerResult is the body of commit and discard: the ids the owner's call
// stamped or forgot.
type ownerResult struct {
	Session string           `json:"session"`
	Owner   string           `json:"owner"`
	IDs     []attachstore.ID `json:"ids"`
}

// commit stamps an owner's intents committed (Session.CommitOwned).
func (h *handler) commit(w http.ResponseWriter, r *http.Request) {
	h.ownerCall(w, r, OpCommit, (*attachstore.Session).CommitOwned)
}

// discard forgets an owner's uncommitted intents (Session.Discard).
func (h *handler) discard(w http.ResponseWriter, r *http.Request) {
	h.ownerCall(w, r, OpDiscard, (*attachstore.Session).Discard)
}

func (h *handler) ownerCall(w http.ResponseWriter, r *http.Request, op Op,
	call func(*attachstore.Session, context.Context, string) ([]attachstore.ID, error)) {
	session := r.PathValue("session")
	if !h.guard(w, r, session, op) {
		return
	}
	owner, ok := h.owner(w, r)
	if !ok {
		return
	}
	ids, err := call(h.s.Session(session), r.Context(), owner)
	if err != nil {
		fail(w, r, err)
		return
	}
	if ids == nil {
		ids = []attachstore.ID{}
	}
	writeJSON(w, http.StatusOK, ownerResult{Session: session, Owner: owner, IDs: ids})
}

// deleteRef drops the session's ref to one attachment: 204, or 404 when
// the session holds none.
func (h *handler) deleteRef(w http.ResponseWriter, r *http.Request) {
	session := r.PathValue("session")
	if !h.guard(w, r, session, OpDelete) {
		return
	}
	id, ok := h.parseID(w, r)
	if !ok {
		return
	}
	held, err := h.s.HoldsRef(r.Context(), session, id)
	if err == nil && !held {
		err = attachstore.ErrNotFound
	}
	if err == nil {
		err = h.s.Session(session).Delete(r.Context(), id)
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// pathSession escapes a session id for a URL path.
func pathSession(s string) string { return url.PathEscape(s) }
