package attachhttp

import (
	"context"
	"fmt"
	"testing"

	"github.com/attachstore/attachstore"
)

// TestStatusOf: every library error a request can meet has its status and
// the CLI's kind; ErrFull, which a test cannot easily provoke through a
// real disk, is checked here.
func TestStatusOf(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		kind   string
	}{
		{attachstore.ErrInvalidID, 400, "invalid_id"},
		{attachstore.ErrInvalidSession, 400, "invalid_session"},
		{attachstore.ErrInvalidMeta, 400, "invalid_meta"},
		{attachstore.ErrNotFound, 404, "not_found"},
		{attachstore.ErrSessionDropped, 409, "session_dropped"},
		{attachstore.ErrTooLarge, 413, "too_large"},
		{attachstore.ErrFull, 507, "full"},
		{attachstore.ErrReadOnly, 403, "read_only"},
		{attachstore.ErrCorrupt, 500, "corrupt"},
		{context.Canceled, 503, "interrupted"},
		{attachstore.ErrClosed, 503, "error"},
		{fmt.Errorf("session put: %w", fmt.Errorf("wrapped: %w", attachstore.ErrFull)), 507, "full"},
	} {
		status, kind := statusOf(c.err)
		if status != c.status || kind != c.kind {
			t.Errorf("%v: %d %s, want %d %s", c.err, status, kind, c.status, c.kind)
		}
	}
}
