package attachhttp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachhttp"
)

// A host mounts the handler under a prefix of its own mux; its UI then
// reads a session's attachments by URL with the token.
func Example() {
	ctx := context.Background()
	store, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	ref, err := store.Session("chat-42").Put(ctx, []byte("hello"), attachstore.Meta{MediaType: "text/plain", Label: "hello.txt"})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	h := attachhttp.New(store, attachhttp.Options{Token: "s3cret"})
	mux.Handle("/attachments/", http.StripPrefix("/attachments", h))

	srv := httptest.NewServer(mux) // 127.0.0.1: an allowed Host
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/attachments/sessions/chat-42/attachments/"+ref.ID.String(), nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Disposition"), string(body))
	// Output: 200 inline; filename="hello.txt"; filename*=UTF-8''hello.txt hello
}
