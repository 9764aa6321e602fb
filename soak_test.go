package attachstore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

// The multi-process soak (issue 5): the test binary runs itself three times
// over — a writer, a reclaimer, a reader — on one store file, SIGKILLs one
// of them every few seconds and starts it again. Children report on stdout,
// one line per write (atomic on a pipe, so a kill never leaves half a line):
//
//	C <session hex> <id>   a ref the writer saw committed after Commit returned
//	D <session hex>        a session the writer is about to drop (said first)
//	S <ops> <bytes> <n>    running totals of this incarnation (n: role-specific)
//	E <message>            a broken rule: the test fails
const (
	soakRoleEnv     = "ATTACHSTORE_SOAK_ROLE"
	soakPathEnv     = "ATTACHSTORE_SOAK_PATH"
	soakDurationEnv = "ATTACHSTORE_SOAK_DURATION" // default 60s
	soakGrace       = 300 * time.Millisecond      // the reclaimer's
)

var soakRoles = []string{"writer", "reclaimer", "reader"}

// TestSoakChild is the body of a soak child process; run directly it skips.
func TestSoakChild(t *testing.T) {
	role := os.Getenv(soakRoleEnv)
	if role == "" {
		t.Skip("a child of TestSoakMultiProcess; runs only when that test starts it")
	}
	soakChild(role, os.Getenv(soakPathEnv))
}

// TestSoakMultiProcess: after a minute of writers committing, a reclaimer
// with a 300 ms grace and a re-hashing reader, with random SIGKILLs and
// restarts, every ref a writer reported committed is intact through its
// session, still committed, and Verify is clean.
func TestSoakMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("the multi-process soak runs a minute; skipped under -short")
	}
	duration := 60 * time.Second
	if v := os.Getenv(soakDurationEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", soakDurationEnv, v, err)
		}
		duration = d
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "soak.db")
	s, err := attachstore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *attachstore.Tx) error {
		_, err := tx.SQL().Exec(`CREATE TABLE soak_host (session TEXT NOT NULL)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	sv := &soakSupervisor{t: t, path: path, committed: map[string]map[attachstore.ID]bool{}, totals: map[string]*soakTotals{}}
	for _, role := range soakRoles {
		sv.totals[role] = &soakTotals{}
		sv.start(role)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(2000+rng.IntN(2000)) * time.Millisecond)
		if t.Failed() {
			break
		}
		role := soakRoles[rng.IntN(len(soakRoles))]
		sv.kill(role)
		sv.start(role)
	}
	for _, role := range soakRoles {
		sv.kill(role)
	}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if t.Failed() {
		return
	}

	// Every committed ref the writers reported is there.
	s, err = attachstore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var refs int
	for session, ids := range sv.committed {
		es, err := s.Session(session).Refs(ctx)
		if err != nil {
			t.Fatalf("Refs(%q): %v", session, err)
		}
		stamped := map[attachstore.ID]bool{}
		for _, e := range es {
			stamped[e.ID] = e.Committed()
		}
		for id := range ids {
			refs++
			a, err := s.Session(session).Get(ctx, id)
			if err != nil {
				t.Errorf("committed ref %s of session %q: %v", id, session, err)
				continue
			}
			if attachstore.ContentID(a.Data) != id {
				t.Errorf("committed ref %s of session %q reads back bytes hashing to %s", id, session, attachstore.ContentID(a.Data))
			}
			if !stamped[id] {
				t.Errorf("ref %s of session %q was reported committed and is not stamped now", id, session)
			}
		}
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify after the soak = %+v, %v", rep, err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kills int
	for _, role := range soakRoles {
		tot := sv.totals[role]
		kills += tot.kills
		t.Logf("%-9s %d incarnations, %d SIGKILLs, %d operations, %d bytes, %d %s",
			role, tot.starts, tot.kills, tot.ops, tot.bytes, tot.extra, map[string]string{
				"writer": "commits refused (intent expired first)", "reclaimer": "blobs reclaimed", "reader": "blobs re-hashed"}[role])
	}
	t.Logf("soak: %v, %d SIGKILLs; %d committed refs in %d sessions all intact (%d more sessions dropped on purpose); "+
		"Verify checked %d blobs (%d bytes); store now %+v",
		duration, kills, refs, len(sv.committed), sv.dropped, rep.CheckedBlobs, rep.CheckedBytes, st)
	if refs == 0 {
		t.Fatal("the writers reported no committed ref: the soak proved nothing")
	}
}

type soakTotals struct {
	starts, kills         int
	ops, bytes, extra     int64
	curOps, curB, curXtra int64 // the running incarnation's last report
}

type soakSupervisor struct {
	t         *testing.T
	path      string
	mu        sync.Mutex
	committed map[string]map[attachstore.ID]bool
	dropped   int // sessions the writers announced they drop
	totals    map[string]*soakTotals
	procs     sync.Map // role -> *soakProc
}

type soakProc struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	stderr *bytes.Buffer
	lines  chan struct{} // closed when stdout is drained
}

func (sv *soakSupervisor) start(role string) {
	t := sv.t
	cmd := exec.Command(os.Args[0], "-test.run=^TestSoakChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), soakRoleEnv+"="+role, soakPathEnv+"="+sv.path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &soakProc{cmd: cmd, stdin: stdin, stderr: &bytes.Buffer{}, lines: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sv.mu.Lock()
	sv.totals[role].starts++
	tot := sv.totals[role]
	tot.curOps, tot.curB, tot.curXtra = 0, 0, 0
	sv.mu.Unlock()
	sv.procs.Store(role, p)
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			sv.line(role, sc.Text())
		}
	}()
}

func (sv *soakSupervisor) line(role, line string) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	f := strings.Fields(line)
	switch {
	case len(f) == 3 && f[0] == "C":
		session, err1 := hex.DecodeString(f[1])
		id, err2 := attachstore.ParseID(f[2])
		if err1 != nil || err2 != nil {
			sv.t.Errorf("%s: malformed line %q", role, line)
			return
		}
		m := sv.committed[string(session)]
		if m == nil {
			m = map[attachstore.ID]bool{}
			sv.committed[string(session)] = m
		}
		m[id] = true
	case len(f) == 4 && f[0] == "S":
		tot := sv.totals[role]
		tot.curOps, _ = strconv.ParseInt(f[1], 10, 64)
		tot.curB, _ = strconv.ParseInt(f[2], 10, 64)
		tot.curXtra, _ = strconv.ParseInt(f[3], 10, 64)
	case len(f) == 2 && f[0] == "D":
		session, err := hex.DecodeString(f[1])
		if err != nil {
			sv.t.Errorf("%s: malformed line %q", role, line)
			return
		}
		delete(sv.committed, string(session))
		sv.dropped++
	case strings.HasPrefix(line, "E "):
		sv.t.Errorf("%s: %s", role, line[2:])
	}
	// Anything else is the testing package's own output.
}

// kill SIGKILLs the role's process, waits for it and banks its totals. A
// process that had ended some other way fails the test.
func (sv *soakSupervisor) kill(role string) {
	v, ok := sv.procs.Load(role)
	if !ok {
		return
	}
	p := v.(*soakProc)
	_ = p.cmd.Process.Kill()
	<-p.lines
	err := p.cmd.Wait()
	p.stdin.Close()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		sv.t.Errorf("%s ended with %v, not by the SIGKILL\n%s", role, err, p.stderr)
	}
	sv.mu.Lock()
	tot := sv.totals[role]
	tot.kills++
	tot.ops += tot.curOps
	tot.bytes += tot.curB
	tot.extra += tot.curXtra
	tot.curOps, tot.curB, tot.curXtra = 0, 0, 0
	sv.mu.Unlock()
	sv.procs.Delete(role)
}

// soakOut writes one line to stdout in one write.
var soakOutMu sync.Mutex

func soakOut(format string, args ...any) {
	soakOutMu.Lock()
	defer soakOutMu.Unlock()
	os.Stdout.Write([]byte(fmt.Sprintf(format, args...) + "\n"))
}

// soakChild runs one role until its parent kills it (or closes stdin).
func soakChild(role, path string) {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0) // the parent is gone
	}()
	ctx := context.Background()
	s, err := attachstore.Open(ctx, path, attachstore.WithBusyTimeout(2*time.Second))
	if err != nil {
		soakOut("E open: %v", err)
		select {}
	}
	var mu sync.Mutex
	var ops, nbytes, extra int64
	count := func(o, b, x int64) {
		mu.Lock()
		ops, nbytes, extra = ops+o, nbytes+b, extra+x
		mu.Unlock()
	}
	go func() {
		for range time.Tick(200 * time.Millisecond) {
			mu.Lock()
			soakOut("S %d %d %d", ops, nbytes, extra)
			mu.Unlock()
		}
	}()
	seed := uint64(time.Now().UnixNano()) ^ uint64(os.Getpid())
	switch role {
	case "writer":
		for g := range 2 {
			go soakWriter(s, rand.New(rand.NewPCG(seed, uint64(g))), g, count)
		}
	case "reclaimer":
		go soakReclaimer(s, count)
	case "reader":
		go soakReader(s, rand.New(rand.NewPCG(seed, 99)), count)
	default:
		soakOut("E unknown role %q", role)
	}
	select {}
}

// soakPool is content every writer process shares, so puts deduplicate
// across processes and race the reclaimer for the same blobs.
func soakPool(i int) []byte {
	n := []int{0, 1, 1000, 256 << 10, 256<<10 + 1, 600 << 10}[i%6]
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(i), 7))
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

func soakWriter(s *attachstore.Store, rng *rand.Rand, g int, count func(o, b, x int64)) {
	var done []string // this goroutine's sessions with committed refs
	for n := 0; soakWriteOnce(s, rng, g, n, &done, count); n++ {
	}
}

// soakWriteOnce runs one writer turn; false means it reported a broken rule.
func soakWriteOnce(s *attachstore.Store, rng *rand.Rand, g, n int, donep *[]string, count func(o, b, x int64)) bool {
	pid := os.Getpid()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := *donep
	defer func() { *donep = done }()
	{
		session := fmt.Sprintf("w%d-g%d-%d", pid, g, n)
		owner := fmt.Sprint("turn-", rng.IntN(3))
		ss := s.Session(session).WithOwner(owner)
		var ids []attachstore.ID
		for range 1 + rng.IntN(4) {
			var data []byte
			if rng.IntN(2) == 0 {
				data = soakPool(rng.IntN(24))
			} else {
				data = make([]byte, rng.IntN(100<<10))
				for j := range data {
					data[j] = byte(rng.Uint32())
				}
			}
			var ref attachstore.Ref
			var err error
			if rng.IntN(2) == 0 {
				ref, err = ss.Put(ctx, data, attachstore.Meta{MediaType: "application/x-soak"})
			} else {
				ref, err = ss.PutReader(ctx, bytes.NewReader(data), attachstore.Meta{})
			}
			if err != nil {
				soakOut("E session put: %v", err)
				return false
			}
			ids = append(ids, ref.ID)
			count(1, int64(len(data)), 0)
		}
		if rng.IntN(8) == 0 {
			// A slow turn: the reclaimer may forget the intents first, and
			// then Commit must stamp nothing (ErrNotFound) or only what is
			// still there — never bring a forgotten ref back.
			time.Sleep(soakGrace + time.Duration(rng.IntN(200))*time.Millisecond)
		}
		var err error
		switch rng.IntN(6) {
		case 0:
			err = ss.Commit(ctx, ids...)
		case 1:
			err = ss.Commit(ctx)
		case 2:
			_, err = ss.CommitOwned(ctx, owner)
		case 3:
			// Put and commit in one transaction with a host row: no window
			// for the reclaimer at all.
			data := soakPool(rng.IntN(24))
			err = s.Update(ctx, func(tx *attachstore.Tx) error {
				ts := tx.Session(session).WithOwner(owner)
				ref, err := ts.Put(ctx, data, attachstore.Meta{})
				if err != nil {
					return err
				}
				if _, err := tx.SQL().ExecContext(ctx, `INSERT INTO soak_host (session) VALUES (?)`, session); err != nil {
					return err
				}
				return ts.Commit(ctx, append(ids, ref.ID)...)
			})
			count(1, int64(len(data)), 0)
		case 4:
			// Abandoned: the intents stay for the reclaimer to expire.
		case 5:
			err = s.DropSession(ctx, session)
		}
		count(1, 0, 0)
		if errors.Is(err, attachstore.ErrNotFound) {
			// The reclaimer expired an intent before this Commit: the
			// contract says nothing is stamped.
			count(0, 0, 1)
			err = nil
		}
		if err != nil {
			soakOut("E commit: %v", err)
			return false
		}
		es, err := ss.Refs(ctx)
		if err != nil {
			soakOut("E refs: %v", err)
			return false
		}
		var stamped bool
		for _, e := range es {
			if e.Committed() {
				soakOut("C %s %s", hex.EncodeToString([]byte(session)), e.ID)
				stamped = true
			}
		}
		if stamped {
			done = append(done, session)
		}
		// Now and then a finished session goes, so the store does not only
		// grow and the reclaimer collects committed content too. It is
		// announced first: a kill in between only means one check less.
		if len(done) > 20 && rng.IntN(2) == 0 {
			i := rng.IntN(len(done))
			old := done[i]
			done = append(done[:i], done[i+1:]...)
			soakOut("D %s", hex.EncodeToString([]byte(old)))
			if err := s.DropSession(ctx, old); err != nil {
				soakOut("E drop: %v", err)
				return false
			}
			count(1, 0, 0)
		}
		if rng.IntN(3) == 0 {
			data := soakPool(rng.IntN(24))
			if _, err := s.Put(ctx, data, attachstore.Meta{}); err != nil {
				soakOut("E put: %v", err)
				return false
			}
			count(1, int64(len(data)), 0)
		}
	}
	return true
}

func soakReclaimer(s *attachstore.Store, count func(o, b, x int64)) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: soakGrace, BatchSize: 50})
		cancel()
		if err != nil {
			soakOut("E reclaim: %v", err)
			return
		}
		count(1, rep.ReclaimedBytes, int64(rep.ReclaimedBlobs))
		time.Sleep(50 * time.Millisecond)
	}
}

func soakReader(s *attachstore.Store, rng *rand.Rand, count func(o, b, x int64)) {
	lastVerify := time.Now()
	for soakReadOnce(s, rng, &lastVerify, count) {
	}
}

// soakReadOnce runs one reader round; false means it reported a broken rule.
func soakReadOnce(s *attachstore.Store, rng *rand.Rand, lastVerify *time.Time, count func(o, b, x int64)) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	{
		var ids []attachstore.ID
		for ref, err := range s.List(ctx) {
			if err != nil {
				soakOut("E list: %v", err)
				return false
			}
			ids = append(ids, ref.ID)
		}
		count(1, 0, 0)
		for range min(len(ids), 20) {
			id := ids[rng.IntN(len(ids))]
			var got attachstore.ID
			var n int64
			if rng.IntN(2) == 0 {
				a, err := s.Get(ctx, id)
				if errors.Is(err, attachstore.ErrNotFound) {
					continue // reclaimed since List
				}
				if err != nil {
					soakOut("E get %s: %v", id, err)
					return false
				}
				got, n = attachstore.ContentID(a.Data), int64(len(a.Data))
			} else {
				r, err := s.NewReader(ctx, id)
				if errors.Is(err, attachstore.ErrNotFound) {
					continue
				}
				if err != nil {
					soakOut("E open %s: %v", id, err)
					return false
				}
				h := sha256.New()
				n, err = io.Copy(h, r)
				r.Close()
				if errors.Is(err, attachstore.ErrNotFound) {
					continue // reclaimed while being read
				}
				if err != nil {
					soakOut("E read %s: %v", id, err)
					return false
				}
				h.Sum(got[:0])
			}
			if got != id {
				soakOut("E %s read back %d bytes hashing to %s", id, n, got)
				return false
			}
			count(1, n, 1)
		}
		// Sessions' reads too, through their intents.
		if es, err := s.ListUncommitted(ctx, time.Now().Add(time.Hour)); err == nil && len(es) > 0 {
			e := es[rng.IntN(len(es))]
			a, err := s.Session(e.SessionID).Get(ctx, e.ID)
			if err == nil && attachstore.ContentID(a.Data) != e.ID {
				soakOut("E session %q read %s back hashing to %s", e.SessionID, e.ID, attachstore.ContentID(a.Data))
				return false
			}
			if err != nil && !errors.Is(err, attachstore.ErrNotFound) {
				soakOut("E session get: %v", err)
				return false
			}
			count(1, int64(len(a.Data)), 0)
		}
		if time.Since(*lastVerify) > 15*time.Second {
			rep, err := s.Verify(ctx)
			if err != nil || !rep.OK() {
				soakOut("E live Verify = %+v, %v", rep, err)
				return false
			}
			*lastVerify = time.Now()
			count(1, rep.CheckedBytes, 0)
		}
	}
	return true
}
