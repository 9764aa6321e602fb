package attachhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/attachstore/attachstore"
)

// apiError is the body of every error: the message, and its kind as the
// attachstore command's --json names it (plus unauthorized and forbidden,
// which only a server has).
type apiError struct {
	Error   string `json:"error"`
	Kind    string `json:"kind"`
	Session string `json:"session,omitempty"`
	ID      string `json:"id,omitempty"`
}

// writeError answers with status and a JSON error. Caching is off: an
// error must not outlive its cause.
func writeError(w http.ResponseWriter, r *http.Request, status int, kind, format string, args ...any) {
	body := apiError{Error: fmt.Sprintf(format, args...), Kind: kind}
	if r != nil {
		body.Session = r.PathValue("session")
		body.ID = r.PathValue("id")
	}
	hd := w.Header()
	for _, k := range []string{"Content-Disposition", "ETag", "Last-Modified", "Content-Encoding", "Content-Range"} {
		hd.Del(k)
	}
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r != nil && r.Method == http.MethodHead {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(body)
}

// statusOf maps an attachstore error to its HTTP status and kind.
func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, attachstore.ErrInvalidID):
		return http.StatusBadRequest, "invalid_id"
	case errors.Is(err, attachstore.ErrInvalidSession):
		return http.StatusBadRequest, "invalid_session"
	case errors.Is(err, attachstore.ErrInvalidMeta):
		return http.StatusBadRequest, "invalid_meta"
	case errors.Is(err, attachstore.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, attachstore.ErrSessionDropped):
		return http.StatusConflict, "session_dropped"
	case errors.Is(err, attachstore.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, attachstore.ErrFull):
		return http.StatusInsufficientStorage, "full"
	case errors.Is(err, attachstore.ErrReadOnly):
		return http.StatusForbidden, "read_only"
	case errors.Is(err, attachstore.ErrReferenced):
		return http.StatusConflict, "referenced"
	case errors.Is(err, attachstore.ErrCorrupt):
		return http.StatusInternalServerError, "corrupt"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "interrupted"
	case errors.Is(err, attachstore.ErrClosed), errors.Is(err, attachstore.ErrConflict):
		return http.StatusServiceUnavailable, "error"
	}
	return http.StatusInternalServerError, "error"
}

// fail answers with the status of a library error.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	status, kind := statusOf(err)
	if status == http.StatusNotFound {
		// The library's message is the same whether the bytes exist
		// elsewhere or not; say less anyway.
		writeError(w, r, status, kind, "not found")
		return
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, r, status, kind, "%s", cleanMsg(err.Error()))
}

// cleanMsg drops the "attachstore: " prefix library errors start with.
func cleanMsg(s string) string {
	s = strings.TrimPrefix(s, "attachstore: ")
	return strings.TrimPrefix(s, "attachhttp: ")
}
