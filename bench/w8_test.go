package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/attachstore/attachstore"
)

// TestW8Floor checks W8's floor serves each GET's file from its row, whole,
// to the session that holds it, and nothing to another session.
func TestW8Floor(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	ids := map[string]attachstore.ID{}
	for name, size := range map[string]int64{w8Small: 10 << 10, w8Medium: 1 << 20} {
		b, err := io.ReadAll(io.LimitReader(&w8Bytes{seed: size}, size))
		if err != nil {
			t.Fatal(err)
		}
		want[name] = b
		ids[name] = attachstore.ContentID(b)
		if err := os.WriteFile(filepath.Join(dir, "files", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := w8Rows(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, w8KV)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv := httptest.NewServer(kvHandler(db))
	t.Cleanup(srv.Close)
	tg := &w8Target{system: "sqlite", child: &w8Child{addr: srv.Listener.Addr().String()}, ids: ids}
	get := func(url string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	for name, w := range want {
		if code, got := get(tg.url(name)); code != http.StatusOK || !bytes.Equal(got, w) {
			t.Errorf("GET %s: %d, %d bytes; want 200 and its %d bytes", name, code, len(got), len(w))
		}
	}
	if code, _ := get(srv.URL + "/other/" + ids[w8Small].String()); code != http.StatusNotFound {
		t.Errorf("GET in a session that does not hold the id: %d, want 404", code)
	}
}
