//go:build unix

package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/attachstore/attachstore/internal/storetest"
)

// served is a running 'attachstore serve'.
type served struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    *url.URL // as printed
	token  string
	stderr *bytes.Buffer
	done   chan struct{}
}

// serve starts 'attachstore --db DB serve args...' and reads the URL line.
func (e *cliEnv) serve(args ...string) *served {
	e.t.Helper()
	args = append([]string{"serve"}, args...)
	if e.db != "" {
		args = append([]string{"--db", e.db}, args...)
	}
	cmd := exec.Command(binary, args...)
	cmd.Dir = e.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATTACHSTORE_DB=") && !strings.HasPrefix(kv, "ATTACHSTORE_TOKEN=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, e.vars...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	sv := &served{t: e.t, cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = sv.stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		<-sv.done
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() {
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(sv.done)
	}()
	if err != nil {
		<-sv.done
		e.t.Fatalf("serve printed no URL line (%v); exit %d, stderr %q", err, cmd.ProcessState.ExitCode(), sv.stderr)
	}
	if sv.url, err = url.Parse(strings.TrimSpace(line)); err != nil || sv.url.Scheme != "http" {
		e.t.Fatalf("serve printed %q, not a URL", line)
	}
	sv.token = sv.url.Query().Get("token")
	return sv
}

// do sends a request with the bearer token (if any) and returns status
// and body.
func (sv *served) do(method, path, token string, body io.Reader) (int, string) {
	sv.t.Helper()
	r, err := http.NewRequest(method, "http://"+sv.url.Host+path, body)
	if err != nil {
		sv.t.Fatal(err)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		sv.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stop sends sig and returns the exit status.
func (sv *served) stop(sig syscall.Signal) int {
	sv.t.Helper()
	if err := sv.cmd.Process.Signal(sig); err != nil {
		sv.t.Fatal(err)
	}
	<-sv.done
	return sv.cmd.ProcessState.ExitCode()
}

// TestServeReadsAndStopsCleanly: serve prints the URL with a generated
// token on the loopback address, serves what a session holds to that
// token only, and on Ctrl-C exits 130 with the store closed cleanly.
func TestServeReadsAndStopsCleanly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.put("--session", "chat", e.file("note.txt", []byte("served bytes")))[0]
	sv := e.serve()
	if h := sv.url.Hostname(); h != "127.0.0.1" || sv.url.Port() == "0" || sv.url.Path != "/" || len(sv.token) < 20 {
		t.Fatalf("URL %s: want http://127.0.0.1:PORT/?token=TOKEN", sv.url)
	}
	if code, body := sv.do("GET", "/sessions/chat/attachments/"+id, sv.token, nil); code != 200 || body != "served bytes" {
		t.Errorf("GET with the token: %d %q", code, body)
	}
	if code, _ := sv.do("GET", "/sessions/chat/attachments/"+id, "", nil); code != 401 {
		t.Errorf("GET without the token: %d", code)
	}
	if code, _ := sv.do("POST", "/sessions/chat/attachments?owner=o", sv.token, strings.NewReader("x")); code != 403 {
		t.Errorf("upload without --allow-writes: %d", code)
	}
	if code := sv.stop(syscall.SIGINT); code != 130 {
		t.Errorf("exit %d after SIGINT, want 130; stderr %q", code, sv.stderr)
	}
	if sv.stderr.String() != "attachstore: interrupted\n" {
		t.Errorf("stderr %q", sv.stderr)
	}
	for _, f := range []string{e.db + "-wal", e.db + "-shm"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s left behind: the store was not closed cleanly", filepath.Base(f))
		}
	}
}

// TestServeAllowWrites: with --allow-writes an upload is stored under its
// owner and committed over HTTP; SIGTERM then exits 143.
func TestServeAllowWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(e.file("seed.txt", []byte("seed")))
	tokenFile := e.file("token", []byte("from-a-file-0123456789\nignored\n"))
	sv := e.serve("--allow-writes", "--token-file", tokenFile)
	const tok = "from-a-file-0123456789"
	if sv.token != tok {
		t.Errorf("URL %s: want the token of the file", sv.url)
	}
	if code, body := sv.do("POST", "/sessions/chat/attachments?owner=turn-1&label=up.txt", tok, strings.NewReader("uploaded")); code != 201 || !strings.Contains(body, sha([]byte("uploaded"))) {
		t.Fatalf("upload: %d %s", code, body)
	}
	if code, body := sv.do("POST", "/sessions/chat/commit?owner=turn-1", tok, nil); code != 200 || !strings.Contains(body, sha([]byte("uploaded"))) {
		t.Errorf("commit: %d %s", code, body)
	}
	if code := sv.stop(syscall.SIGTERM); code != 143 {
		t.Errorf("exit %d after SIGTERM, want 143; stderr %q", code, sv.stderr)
	}
	if _, err := os.Stat(e.db + "-wal"); err == nil {
		t.Errorf("-wal left behind: the writable store was not closed cleanly")
	}
	refs := e.ok(nil, "refs", "--session", "chat").stdout
	if !strings.Contains(refs, sha([]byte("uploaded"))) || !strings.Contains(refs, "committed") {
		t.Errorf("refs after the upload and commit:\n%s", refs)
	}
}

// TestServeTokenFromEnvironment: $ATTACHSTORE_TOKEN is the token, which
// the URL line carries as it carries a generated one.
func TestServeTokenFromEnvironment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(e.file("seed.txt", []byte("seed")))
	e.vars = []string{"ATTACHSTORE_TOKEN=env-token-0123456789"}
	sv := e.serve()
	if sv.token != "env-token-0123456789" {
		t.Errorf("URL %s: want the token from the environment", sv.url)
	}
	if code, _ := sv.do("GET", "/", "env-token-0123456789", nil); code != 200 {
		t.Errorf("inspector with the token from the environment: %d", code)
	}
	if code, _ := sv.do("GET", "/", "wrong", nil); code != 401 {
		t.Errorf("inspector with a wrong token: %d", code)
	}
}

// TestServeUsage: contradictions and stray arguments are bad usage.
func TestServeUsage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(e.file("seed.txt", []byte("seed")))
	e.fails(2, []string{"--read-only and --allow-writes"}, "--read-only", "serve", "--allow-writes")
	e.fails(2, []string{"no arguments"}, "serve", "extra")
	e.fails(2, []string{"--allowed-origins"}, "serve", "--allowed-origins", "app://x/path")
	e.fails(1, []string{"no such database"}, "--db", filepath.Join(e.dir, "missing.db"), "serve")
}

// TestServeOnPostgres: serve reads and writes a PostgreSQL store as it
// does an SQLite file.
func TestServeOnPostgres(t *testing.T) {
	db := newPGSchema(t, storetest.PostgresURL(t))
	e := newEnv(t)
	e.db = db
	id := e.put("--session", "chat", e.file("note.txt", []byte("on postgres")))[0]
	sv := e.serve("--allow-writes")
	if code, body := sv.do("GET", "/sessions/chat/attachments/"+id, sv.token, nil); code != 200 || body != "on postgres" {
		t.Errorf("GET: %d %q", code, body)
	}
	if code, body := sv.do("POST", "/sessions/chat/attachments?owner=o", sv.token, strings.NewReader("up")); code != 201 {
		t.Errorf("upload: %d %s", code, body)
	}
	if code := sv.stop(syscall.SIGINT); code != 130 {
		t.Errorf("exit %d, want 130; stderr %q", code, sv.stderr)
	}
	if u, err := url.Parse(db); err != nil {
		t.Error(err)
	} else if p, ok := u.User.Password(); ok && strings.Contains(sv.stderr.String(), p) {
		t.Errorf("stderr shows the password: %q", sv.stderr)
	}
}
