package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/attachstore/attachstore/attachhttp"
)

var serveCmd = &command{
	name:    "serve",
	args:    "",
	summary: "serve sessions' attachments and the inspector page over HTTP",
	long: `serve answers HTTP on --addr (default 127.0.0.1:0, a free port) with the
attachhttp handler: GET /sessions/S/attachments/ID reads what session S
holds, and / is the inspector page (stats, sessions, previews, a reclaim
dry run, verify). It prints one line, the URL to open:

  http://127.0.0.1:PORT/?token=TOKEN

Every request needs the token: "Authorization: Bearer TOKEN", or the
cookie the inspector page sets when the URL above is opened. The token is
the first line of --token-file, else $ATTACHSTORE_TOKEN, else a new random
one; it is never an argument, which other users see in ps. Only Host headers naming localhost, 127.0.0.1 or
[::1] are served (--allowed-hosts adds names), and requests that change
the store must come from the same origin (--allowed-origins adds app
shells' origins, such as app://localhost).

The store is only read unless --allow-writes, which turns on uploads
(POST /sessions/S/attachments?owner=O&label=L), commits, discards and
deletes; --read-only with --allow-writes is bad usage. Ctrl-C (SIGINT) or
SIGTERM stops the server: requests in flight get a few seconds to finish,
then the store is closed and serve exits 130 (143 on SIGTERM).`,
	access: reads,
	setup:  setupServe,
}

// Server timeouts. There is no write timeout: it would cut a long video
// or a large download in the middle.
const (
	serveReadHeaderTimeout = 10 * time.Second // a client that never finishes its headers
	serveIdleTimeout       = 2 * time.Minute  // a kept-alive connection with no request
	serveShutdownTimeout   = 5 * time.Second  // for requests in flight at Ctrl-C
)

func setupServe(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	addr := fs.String("addr", "127.0.0.1:0", "listen on `HOST:PORT` (port 0: a free one)")
	tokenFile := fs.String("token-file", "", "read the token from the first line of `FILE` (default $ATTACHSTORE_TOKEN, else a new one)")
	allowWrites := fs.Bool("allow-writes", false, "allow uploads, commits, discards and deletes")
	hosts := fs.String("allowed-hosts", "", "comma-separated `HOSTS` served besides localhost, 127.0.0.1 and [::1]")
	origins := fs.String("allowed-origins", "", "comma-separated `ORIGINS` (app://localhost, null) that may write and read across origins")
	maxUpload := fs.Int64("max-upload", 0, "largest upload in `BYTES` (default: the store's limit)")
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return badUsage("serve takes no arguments, got %q", args[0])
		}
		if *allowWrites && c.readOnly {
			return badUsage("--read-only and --allow-writes contradict each other")
		}
		if *maxUpload < 0 {
			return badUsage("--max-upload %d is negative", *maxUpload)
		}
		token, err := serveToken(c.getenv("ATTACHSTORE_TOKEN"), *tokenFile)
		if err != nil {
			return err
		}
		opts := attachhttp.Options{Token: token, AllowWrites: *allowWrites, MaxUpload: *maxUpload}
		if *hosts != "" {
			opts.AllowedHosts = append([]string{"localhost", "127.0.0.1", "[::1]"}, splitList(*hosts)...)
		}
		for _, o := range splitList(*origins) {
			if err := checkOrigin(o); err != nil {
				return badUsage("--allowed-origins: %v", err)
			}
			opts.AllowedOrigins = append(opts.AllowedOrigins, o)
		}
		if *allowWrites {
			c.access = writes
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return &exitError{code: 1, kind: "error", msg: fmt.Sprintf("serve: %v", err), cause: err}
		}
		srv := &http.Server{
			Handler:           attachhttp.New(s, opts),
			ReadHeaderTimeout: serveReadHeaderTimeout,
			IdleTimeout:       serveIdleTimeout,
		}
		u := "http://" + ln.Addr().String() + "/?token=" + url.QueryEscape(token)
		if c.json {
			err = c.emitJSON(struct {
				URL  string `json:"url"`
				Addr string `json:"addr"`
			}{u, ln.Addr().String()})
		} else {
			_, err = fmt.Fprintln(c.stdout, u)
		}
		if err == nil {
			err = c.stdout.Flush()
		}
		if err != nil {
			ln.Close()
			return err
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served:
			return &exitError{code: 1, kind: "error", msg: fmt.Sprintf("serve: %v", err), cause: err}
		case <-ctx.Done():
		}
		// Requests in flight may finish; past the deadline, Close cuts
		// them, which cancels their contexts: a put stops and stores
		// nothing, and the store is closed only after every handler
		// returned.
		sctx, cancel := context.WithTimeout(context.Background(), serveShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		<-served
		return ctx.Err()
	}
}

// serveToken is the token from the file, else $ATTACHSTORE_TOKEN, else a
// new random one.
func serveToken(env, file string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", &exitError{code: 1, kind: kindOf(err), subj: fileSubj(file), cause: err,
				msg: fmt.Sprintf("serve: --token-file: %v", err)}
		}
		token, _, _ := strings.Cut(string(b), "\n")
		if token = strings.TrimSpace(token); token == "" {
			return "", badUsage("--token-file %s: the first line is empty", file)
		}
		return token, nil
	case env != "":
		return env, nil
	}
	return rand.Text(), nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// checkOrigin refuses what is not an origin by the rules the handler
// applies, so that bad usage is an exit status 2 and not a panic of New.
func checkOrigin(o string) error {
	if o == "null" {
		return nil
	}
	if err := http.NewCrossOriginProtection().AddTrustedOrigin(o); err != nil {
		return fmt.Errorf("%s: want scheme://host[:port] or null", o)
	}
	return nil
}
