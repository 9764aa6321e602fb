package attachhttp_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachhttp"
)

// TestUploadCommitDiscardDelete walks an owner's turn over HTTP: put,
// commit, another put discarded, a delete.
func TestUploadCommitDiscardDelete(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s := e.open(t)
		sv := newServer(t, s, attachhttp.Options{Token: testToken, AllowWrites: true})
		body := "a screenshot, really"
		r := req("POST", "/sessions/chat%2F1/attachments?owner=turn-7&label=shot+%C3%A9.png", strings.NewReader(body))
		r.Header.Set("Content-Type", "Image/PNG; charset=binary")
		w := sv.do(r)
		if w.Code != http.StatusCreated {
			t.Fatalf("upload: %d %s", w.Code, w.Body)
		}
		var ref struct {
			ID        string `json:"id"`
			Size      int64  `json:"size"`
			MediaType string `json:"media_type"`
			Label     string `json:"label"`
			CreatedAt string `json:"created_at"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &ref); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		if ref.ID != hex.EncodeToString(sum[:]) || ref.Size != int64(len(body)) || ref.MediaType != "image/png" ||
			ref.Label != "shot é.png" || ref.CreatedAt == "" {
			t.Errorf("upload answered %+v", ref)
		}
		if loc := w.Header().Get("Location"); loc != "attachments/"+ref.ID {
			t.Errorf("Location %q", loc)
		}
		id, _ := attachstore.ParseID(ref.ID)
		pending, err := s.Session("chat/1").Pending(ctx)
		if err != nil || !slices.Equal(pending, []attachstore.ID{id}) {
			t.Fatalf("pending after upload: %v %v", pending, err)
		}
		if w := sv.do(req("GET", attURL("chat/1", id), nil)); w.Code != 200 || w.Body.String() != body {
			t.Errorf("reading the upload back: %d %q", w.Code, w.Body)
		}

		w = sv.do(req("POST", "/sessions/chat%2F1/commit?owner=turn-7", nil))
		var res struct {
			Session, Owner string
			IDs            []string
		}
		if err := json.Unmarshal(w.Body.Bytes(), &res); w.Code != 200 || err != nil ||
			res.Session != "chat/1" || res.Owner != "turn-7" || !slices.Equal(res.IDs, []string{ref.ID}) {
			t.Errorf("commit: %d %s", w.Code, w.Body)
		}
		if p, _ := s.Session("chat/1").Pending(ctx); len(p) != 0 {
			t.Errorf("pending after commit: %v", p)
		}

		r = req("POST", "/sessions/chat%2F1/attachments?owner=turn-8", strings.NewReader("draft"))
		r.Header.Set("Content-Type", "not a media type")
		w = sv.do(r)
		if w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), `"media_type":"application/octet-stream"`) {
			t.Errorf("upload with a bad Content-Type: %d %s", w.Code, w.Body)
		}
		w = sv.do(req("POST", "/sessions/chat%2F1/discard?owner=turn-8", nil))
		if w.Code != 200 || !strings.Contains(w.Body.String(), attachstore.ContentID([]byte("draft")).String()) {
			t.Errorf("discard: %d %s", w.Code, w.Body)
		}
		w = sv.do(req("POST", "/sessions/chat%2F1/discard?owner=nobody", nil))
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"ids":[]`) {
			t.Errorf("discard of nothing: %d %s", w.Code, w.Body)
		}

		if w := sv.do(req("DELETE", attURL("chat/1", id), nil)); w.Code != http.StatusNoContent {
			t.Errorf("delete: %d %s", w.Code, w.Body)
		}
		if w := sv.do(req("GET", attURL("chat/1", id), nil)); w.Code != http.StatusNotFound {
			t.Errorf("read after delete: %d", w.Code)
		}
		if w := sv.do(req("DELETE", attURL("chat/1", id), nil)); w.Code != http.StatusNotFound {
			t.Errorf("second delete: %d", w.Code)
		}
	})
}

// TestUploadInvalidLabel: a label the store refuses is 400 and stores
// nothing.
func TestUploadInvalidLabel(t *testing.T) {
	s := engines()[0].open(t)
	sv := newServer(t, s, attachhttp.Options{Token: testToken, AllowWrites: true})
	w := sv.do(req("POST", "/sessions/c/attachments?owner=o&label="+strings.Repeat("x", attachstore.MaxLabelBytes+1), strings.NewReader("x")))
	if w.Code != 400 || errKind(t, w) != "invalid_meta" || blobCount(t, s) != 0 {
		t.Errorf("overlong label: %d %s", w.Code, w.Body)
	}
}

// bodyNotRead fails the test that reads it.
type bodyNotRead struct{ t *testing.T }

func (b bodyNotRead) Read([]byte) (int, error) {
	b.t.Error("the body was read")
	return 0, io.EOF
}

// TestUploadInvalidOwnerBeforeBody: a malformed owner is 400 before the
// body is read (Session.Validate), so a server spools nothing for it.
func TestUploadInvalidOwnerBeforeBody(t *testing.T) {
	s := engines()[0].open(t)
	sv := newServer(t, s, attachhttp.Options{Token: testToken, AllowWrites: true})
	w := sv.do(req("POST", "/sessions/c/attachments?owner=bad%00owner", bodyNotRead{t}))
	if w.Code != 400 || errKind(t, w) != "invalid_session" || blobCount(t, s) != 0 {
		t.Errorf("owner with NUL: %d %s", w.Code, w.Body)
	}
}

// TestSlowUploadDoesNotStallWriters: while a client is still sending its
// body, other writers go on (the body is spooled before the put takes the
// write lock). If the upload held the lock, the Put below would wait
// forever and the test would time out.
func TestSlowUploadDoesNotStallWriters(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		s := e.open(t)
		ts := httptest.NewServer(attachhttp.New(s, attachhttp.Options{Token: testToken, AllowWrites: true}))
		defer ts.Close()
		pr, pw := io.Pipe()
		r, _ := http.NewRequest("POST", ts.URL+"/sessions/slow/attachments?owner=o", pr)
		r.Header.Set("Authorization", "Bearer "+testToken)
		done := make(chan *http.Response)
		go func() {
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Error(err)
			}
			done <- resp
		}()
		pw.Write([]byte("first half, "))
		if _, err := s.Session("other").Put(context.Background(), []byte("meanwhile"), attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
		pw.Write([]byte("second half"))
		pw.Close()
		resp := <-done
		if resp == nil {
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("slow upload: %d %s", resp.StatusCode, b)
		}
		if _, err := s.Session("slow").Get(context.Background(), attachstore.ContentID([]byte("first half, second half"))); err != nil {
			t.Errorf("slow upload not stored whole: %v", err)
		}
	})
}

// TestCancelledUploadStoresNothing: a client that goes away in the middle
// of its body leaves no blob and no intent.
func TestCancelledUploadStoresNothing(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		s := e.open(t)
		finished := make(chan struct{})
		h := attachhttp.New(s, attachhttp.Options{Token: testToken, AllowWrites: true})
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(finished)
			h.ServeHTTP(w, r)
		}))
		defer ts.Close()
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		r, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/sessions/c/attachments?owner=o", pr)
		r.Header.Set("Authorization", "Bearer "+testToken)
		errc := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(r)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		pw.Write([]byte("the start of something"))
		cancel()
		<-errc
		pw.Close()
		<-finished
		if n := blobCount(t, s); n != 0 {
			t.Errorf("%d blobs after a cancelled upload", n)
		}
		if p, err := s.Session("c").Pending(context.Background()); err != nil || len(p) != 0 {
			t.Errorf("pending after a cancelled upload: %v %v", p, err)
		}
	})
}
