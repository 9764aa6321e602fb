package attachstore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

// The crash test runs this test binary again as a child; these variables
// tell the child what to do.
const (
	crashEnvPath = "ATTACHSTORE_CRASH_CHILD_DB"
	crashEnvRun  = "ATTACHSTORE_CRASH_CHILD_RUN"
)

// TestCrashSafetyUnderSIGKILL kills a writing process at random moments,
// again and again on one file: invariant 4 (a Session.Put leaves the blob and
// its intent, or neither), durability of what Commit acknowledged, and
// invariant 12 (a killed turn's held intents survive Reclaim, its unheld
// ones expire).
//
// The child loops Session.Put (or PutReader) + Commit and prints each id
// once Commit has returned. After each SIGKILL, every id any child reported
// must be readable through its session, committed, and hash to its id; the
// file must pass integrity_check and foreign_key_check; no ref may point to
// a missing blob, no blob may lack the intent it was written with, and no
// chunk may lack its blob.
func TestCrashSafetyUnderSIGKILL(t *testing.T) {
	if path := os.Getenv(crashEnvPath); path != "" {
		crashChild(path, os.Getenv(crashEnvRun))
		return
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skipf("no SIGKILL of a child process on %s", runtime.GOOS)
	}
	const kills = 24
	path := filepath.Join(t.TempDir(), "crash.db")
	// The file exists, migrated, before the first child: this test is about
	// the put/commit loop, not about a first migration cut short.
	s, err := attachstore.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	var reported []crashReport
	for run := range kills {
		delay := 50*time.Millisecond + time.Duration(rng.Int64N(int64(250*time.Millisecond)))
		got, err := crashRun(t, path, run, delay)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		reported = append(reported, got...)
		if !crashVerify(t, path, reported) {
			t.Fatalf("run %d (killed %v after it was ready, %d ids reported): the file is not as the child left it", run, delay, len(got))
		}
		t.Logf("run %d: killed %v after ready, %d ids reported, %d in all", run, delay.Round(time.Millisecond), len(got), len(reported))
	}
	kinds := map[string]int{}
	for _, r := range reported {
		kinds[r.kind]++
	}
	if kinds["committed"] == 0 || kinds["held"] == 0 || kinds["loose"] == 0 {
		t.Fatalf("children reported %v before they were killed: the test proved too little", kinds)
	}
	t.Logf("reported in all: %v", kinds)
}

type crashReport struct {
	kind    string // "committed", or an intent: "held" (with a Hold) or "loose"
	session string
	id      attachstore.ID
}

// crashRun starts a child, waits until it is ready, lets it write for
// delay, kills it with SIGKILL and returns every id it reported.
func crashRun(t *testing.T, path string, run int, delay time.Duration) ([]crashReport, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafetyUnderSIGKILL$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvPath+"="+path, fmt.Sprintf("%s=%d", crashEnvRun, run))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	var (
		got    []crashReport
		killAt <-chan time.Time
		ready  = time.After(30 * time.Second) // a child that never gets ready
		killed bool
	)
	kill := func() {
		if !killed {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	for lines != nil {
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil
				break
			}
			switch f := strings.Fields(line); {
			case line == "ready":
				killAt = time.After(delay)
				ready = nil
			case len(f) == 4 && (f[0] == "committed" || f[0] == "held" || f[0] == "loose") && f[3] == "end":
				id, err := attachstore.ParseID(f[2])
				if err != nil {
					kill()
					return nil, fmt.Errorf("child printed %q: %w", line, err)
				}
				got = append(got, crashReport{kind: f[0], session: f[1], id: id})
			default:
				// A line cut short by the kill, or test framework noise.
			}
		case <-killAt:
			kill()
			killAt = nil
		case <-ready:
			kill()
			return nil, fmt.Errorf("child not ready after 30s; stderr:\n%s", stderr.String())
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !killed || !errors.As(err, &exit) {
		return nil, fmt.Errorf("child ended by itself (%v) before it was killed; stderr:\n%s", err, stderr.String())
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return nil, fmt.Errorf("child ended with %v, not SIGKILL; stderr:\n%s", err, stderr.String())
	}
	return got, nil
}

// crashChild is the child process: it writes until it is killed.
func crashChild(path, run string) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		os.Exit(3)
	}
	ctx := context.Background()
	s, err := attachstore.Open(ctx, path, attachstore.WithChunkSize(attachstore.MinChunkSize))
	if err != nil {
		fail("open: %v", err)
	}
	session := "run-" + run
	ss := s.Session(session)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	fmt.Println("ready")
	deadline := time.Now().Add(60 * time.Second) // the parent never waits this long
	for i := 0; time.Now().Before(deadline); i++ {
		var data []byte
		if i%5 == 0 {
			// Content every run puts: the dedup path, under crashes too.
			data = fmt.Appendf(nil, "shared content %d", i%3)
		} else {
			data = make([]byte, rng.IntN(5*attachstore.MinChunkSize))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
		}
		// Now and then a turn stages content of its own and leaves it
		// uncommitted: held (a Hold that outlives the test) or not.
		if i%7 == 3 || i%11 == 5 {
			kind, owner := "loose", fmt.Sprint("loose-", run, "-", i)
			ref, err := ss.WithOwner(owner).Put(ctx, fmt.Appendf(nil, "%s intent %d of run %s", kind, i, run), attachstore.Meta{})
			if err != nil {
				fail("put intent %d: %v", i, err)
			}
			if i%7 == 3 {
				kind = "held"
				if err := ss.Hold(ctx, owner, time.Now().Add(time.Hour)); err != nil {
					fail("hold %d: %v", i, err)
				}
			}
			fmt.Printf("%s %s %s end\n", kind, session, ref.ID)
			continue
		}
		var ref attachstore.Ref
		if i%2 == 0 {
			ref, err = ss.Put(ctx, data, attachstore.Meta{Label: fmt.Sprint(i)})
		} else {
			ref, err = ss.WithOwner(fmt.Sprint("turn-", i)).PutReader(ctx, bytes.NewReader(data), attachstore.Meta{Label: fmt.Sprint(i)})
		}
		if err != nil {
			fail("put %d: %v", i, err)
		}
		if err := ss.Commit(ctx, ref.ID); err != nil {
			fail("commit %d: %v", i, err)
		}
		// One write of a short line: a pipe delivers it whole or not at all.
		fmt.Printf("committed %s %s end\n", session, ref.ID)
	}
	fail("not killed within a minute")
}

// crashVerify checks the file after a kill; it reports whether all is well.
func crashVerify(t *testing.T, path string, reported []crashReport) bool {
	t.Helper()
	ok := true
	errorf := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		ok = false
	}
	ctx := t.Context()

	raw := rawSQLite(t, path)
	var integrity []string
	if err := raw.SelectContext(ctx, &integrity, `PRAGMA integrity_check`); err != nil {
		errorf("integrity_check: %v", err)
	} else if len(integrity) != 1 || integrity[0] != "ok" {
		errorf("integrity_check: %q", integrity)
	}
	rows, err := raw.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		errorf("foreign_key_check: %v", err)
	} else {
		for rows.Next() {
			var table, parent string
			var rowid, fk any
			if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
				errorf("foreign_key_check: %v", err)
				break
			}
			errorf("foreign_key_check: %s row %v breaks its key to %s", table, rowid, parent)
		}
		rows.Close()
	}
	for _, q := range []struct{ what, query string }{
		{"attachstore_refs to a missing blob", `SELECT count(*) FROM attachstore_refs WHERE blob_id NOT IN (SELECT id FROM attachstore_blobs)`},
		// Every blob here was put by a session: a blob without a ref is a
		// Session.Put that kept the blob and lost the intent.
		{"attachstore_blobs with no ref", `SELECT count(*) FROM attachstore_blobs WHERE id NOT IN (SELECT blob_id FROM attachstore_refs)`},
		{"attachstore_chunks with no blob", `SELECT count(*) FROM attachstore_chunks WHERE blob_pk NOT IN (SELECT pk FROM attachstore_blobs)`},
	} {
		var n int
		if err := raw.GetContext(ctx, &n, q.query); err != nil {
			errorf("%s: %v", q.what, err)
		} else if n != 0 {
			errorf("%d %s", n, q.what)
		}
	}
	raw.Close()

	s, err := attachstore.Open(ctx, path)
	if err != nil {
		errorf("reopening after the kill: %v", err)
		return false
	}
	defer s.Close()
	committed := map[string]map[attachstore.ID]bool{}
	for _, r := range reported {
		if r.kind != "committed" {
			continue
		}
		if committed[r.session] == nil {
			es, err := s.Session(r.session).Refs(ctx)
			if err != nil {
				errorf("Refs(%s): %v", r.session, err)
				return false
			}
			committed[r.session] = map[attachstore.ID]bool{}
			for _, e := range es {
				// A re-put after the commit adds an intent beside the
				// committed ref.
				committed[r.session][e.ID] = committed[r.session][e.ID] || e.Committed()
			}
		}
		if !committed[r.session][r.id] {
			errorf("session %s: %s was reported committed but its ref is missing or uncommitted", r.session, r.id)
		}
		a, err := s.Session(r.session).Get(ctx, r.id)
		if err != nil {
			errorf("session %s: Get(%s) of a reported id: %v", r.session, r.id, err)
			continue
		}
		if got := attachstore.ID(sha256.Sum256(a.Data)); got != r.id {
			errorf("session %s: %s reads back %d bytes that hash to %s", r.session, r.id, len(a.Data), got)
		}
	}
	// A killed turn's intents: a Reclaim now forgets those without a hold,
	// and keeps those whose hold outlives it.
	if _, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: 0, AllowEmptyRoots: true}); err != nil {
		errorf("Reclaim after the kill: %v", err)
	}
	for _, r := range reported {
		if r.kind == "committed" {
			continue
		}
		held, err := s.HoldsRef(ctx, r.session, r.id)
		switch {
		case err != nil:
			errorf("HoldsRef(%s, %s): %v", r.session, r.id, err)
		case r.kind == "held" && !held:
			errorf("session %s: a held intent to %s did not survive the kill and a Reclaim", r.session, r.id)
		case r.kind == "loose" && held:
			errorf("session %s: an intent to %s without a hold survived a Reclaim with Grace 0", r.session, r.id)
		}
	}
	// Reported or not (the kill may come between Commit and the print, or
	// between Put and Commit), every blob in the file must be whole.
	for ref, err := range s.List(ctx) {
		if err != nil {
			errorf("List: %v", err)
			break
		}
		a, err := s.Get(ctx, ref.ID)
		if err != nil {
			errorf("Get(%s) of a listed blob: %v", ref.ID, err)
			continue
		}
		if got := attachstore.ID(sha256.Sum256(a.Data)); got != ref.ID {
			errorf("blob %s holds %d bytes that hash to %s", ref.ID, len(a.Data), got)
		}
	}
	return ok
}
