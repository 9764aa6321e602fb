package attachhttp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachhttp"
	"github.com/attachstore/attachstore/internal/storetest"
)

const testToken = "s3cret-test-token"

// engine opens a fresh store for one test.
type engine struct {
	name string
	open func(t *testing.T, opts ...attachstore.Option) *attachstore.Store
}

// engines are the stores every handler test runs on: an SQLite file, and
// PostgreSQL when ATTACHSTORE_TEST_POSTGRES names a server.
func engines() []engine {
	return []engine{
		{"SQLite", func(t *testing.T, opts ...attachstore.Option) *attachstore.Store {
			return openStore(t, filepath.Join(t.TempDir(), "attachments.db"), opts...)
		}},
		{"Postgres", func(t *testing.T, opts ...attachstore.Option) *attachstore.Store {
			return openStore(t, storetest.PostgresSchema(t), opts...)
		}},
	}
}

// forEngines runs fn on every engine.
func forEngines(t *testing.T, fn func(t *testing.T, e engine)) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { fn(t, e) })
	}
}

func openStore(t *testing.T, path string, opts ...attachstore.Option) *attachstore.Store {
	t.Helper()
	s, err := attachstore.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// server is a handler under test with its store.
type server struct {
	t *testing.T
	s *attachstore.Store
	h http.Handler
}

func newServer(t *testing.T, s *attachstore.Store, opts attachhttp.Options) *server {
	return &server{t: t, s: s, h: attachhttp.New(s, opts)}
}

// req builds a request to the local server, with the test token unless
// the caller changes the header.
func req(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.Host = "127.0.0.1:8080"
	r.Header.Set("Authorization", "Bearer "+testToken)
	return r
}

func (sv *server) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	sv.h.ServeHTTP(w, r)
	return w
}

// put stores data into session under owner "turn" with the library.
func (sv *server) put(session string, data []byte, meta attachstore.Meta) attachstore.ID {
	sv.t.Helper()
	ref, err := sv.s.Session(session).WithOwner("turn").Put(context.Background(), data, meta)
	if err != nil {
		sv.t.Fatalf("put: %v", err)
	}
	return ref.ID
}

func attURL(session string, id attachstore.ID) string {
	return "/sessions/" + url.PathEscape(session) + "/attachments/" + id.String()
}

// errKind decodes a JSON error's kind.
func errKind(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct {
		Error, Kind string
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error answered with Content-Type %q, want application/json; body %q", ct, w.Body.String())
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Errorf("error body %q is not a JSON error: %v", w.Body.String(), err)
	}
	return e.Kind
}

func blobCount(t *testing.T, s *attachstore.Store) int64 {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Blobs
}

func newRecorder(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
