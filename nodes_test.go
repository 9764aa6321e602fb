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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/internal/storetest"
)

// The several-nodes test runs this test binary again as a node; these
// variables tell it what to do.
const (
	nodesEnvURL  = "ATTACHSTORE_NODE_URL"
	nodesEnvName = "ATTACHSTORE_NODE_NAME"
)

// TestPostgresSeveralNodes runs three OS processes against one PostgreSQL
// database for 30 s, as three service nodes behind a load balancer would:
// invariants 3, 8 and 11–13 under real races (DESIGN, invariant 15). Each
// node has writers that stage turns (some held, some abandoned, some
// discarded) into sessions of its own and sessions all nodes share,
// content that other nodes put too, a reclaimer with Grace 0, and a
// reader that re-hashes what its node committed. One node is SIGKILLed
// and started again several times. At the end every commit that returned
// nil is present and committed, no ref points at a missing blob, and
// Verify is clean.
func TestPostgresSeveralNodes(t *testing.T) {
	if u := os.Getenv(nodesEnvURL); u != "" {
		nodeMain(u, os.Getenv(nodesEnvName))
		return
	}
	if testing.Short() {
		t.Skip("runs three processes for 30 s")
	}
	u := storetest.PostgresSchema(t)
	// Migrated once here: the nodes also migrate, concurrently, at start.
	openForTest(t, u).Close()

	const duration = 30 * time.Second
	var (
		mu        sync.Mutex
		committed = map[[2]string]bool{} // (session, id) reported committed
		failures  []string
	)
	start := func(name string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPostgresSeveralNodes$", "-test.count=1")
		cmd.Env = append(os.Environ(), nodesEnvURL+"="+u, nodesEnvName+"="+name)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				mu.Lock()
				switch {
				case len(f) == 4 && f[0] == "committed" && f[3] == "end":
					committed[[2]string{f[1], f[2]}] = true
				case len(f) > 0 && f[0] == "error":
					failures = append(failures, name+": "+sc.Text())
				}
				mu.Unlock()
			}
		}()
		return cmd
	}
	nodes := []*exec.Cmd{start("node-a"), start("node-b"), start("node-c")}
	deadline := time.Now().Add(duration)
	kills := 0
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(4000+rand.IntN(3000)) * time.Millisecond)
		// node-a dies without a word, mid-transaction most likely, and
		// comes back.
		_ = nodes[0].Process.Signal(syscall.SIGKILL)
		_ = nodes[0].Wait()
		kills++
		nodes[0] = start("node-a")
	}
	for _, n := range nodes {
		_ = n.Process.Signal(syscall.SIGKILL)
		_ = n.Wait()
	}
	time.Sleep(100 * time.Millisecond) // the last lines
	mu.Lock()
	defer mu.Unlock()
	for _, f := range failures {
		t.Error(f)
	}
	if len(committed) < 100 {
		t.Fatalf("the nodes reported %d commits in %v: too few to prove anything", len(committed), duration)
	}

	s := openForTest(t, u)
	ctx := t.Context()
	bySession := map[string]map[attachstore.ID]bool{}
	for k := range committed {
		if bySession[k[0]] == nil {
			es, err := s.Session(k[0]).Refs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			bySession[k[0]] = map[attachstore.ID]bool{}
			for _, e := range es {
				if e.Committed() {
					bySession[k[0]][e.ID] = true
				}
			}
		}
		id, err := attachstore.ParseID(k[1])
		if err != nil {
			t.Fatal(err)
		}
		if !bySession[k[0]][id] {
			t.Errorf("session %s: %s was committed (CommitOwned returned it in an Update that returned nil) but has no committed ref", k[0], id)
			continue
		}
		a, err := s.Session(k[0]).Get(ctx, id)
		if err != nil || attachstore.ContentID(a.Data) != id {
			t.Errorf("session %s: Get(%s) = %d bytes, %v; want bytes that hash to it", k[0], id, len(a.Data), err)
		}
	}
	var dangling int
	if err := s.View(ctx, func(tx *attachstore.Tx) error {
		return tx.SQL().QueryRowContext(ctx, `SELECT count(*) FROM attachstore_refs WHERE blob_id NOT IN (SELECT id FROM attachstore_blobs)`).Scan(&dangling)
	}); err != nil || dangling != 0 {
		t.Errorf("%d refs point at a missing blob (%v)", dangling, err)
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
	t.Logf("%d commits by 3 nodes in %v, node-a killed %d times; %d blobs verified", len(committed), duration, kills, rep.CheckedBlobs)
}

// nodeMain is one node: it works until it is killed, printing each commit
// once its Update returned nil, and "error …" for anything unexpected.
func nodeMain(u, name string) {
	ctx := context.Background()
	report := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	fail := func(format string, args ...any) { report("error "+format, args...) }
	s, err := attachstore.Open(ctx, u)
	if err != nil {
		fail("open: %v", err)
		os.Exit(3)
	}
	var (
		mu   sync.Mutex
		mine []struct {
			session string
			id      attachstore.ID
		}
		wg sync.WaitGroup
	)
	pid := strconv.Itoa(os.Getpid())
	// shared content: every node puts these bytes, so puts race on one blob
	shared := func(rng *rand.Rand) []byte { return fmt.Appendf(nil, "shared content %d", rng.IntN(20)) }
	for w := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(w)))
			for turn := 0; ; turn++ {
				session := fmt.Sprintf("%s-s%d", name, rng.IntN(4))
				if rng.IntN(3) == 0 {
					session = fmt.Sprintf("shared-s%d", rng.IntN(3)) // every node's turns
				}
				owner := fmt.Sprintf("%s-%s-w%d-t%d", name, pid, w, turn)
				ss := s.Session(session).WithOwner(owner)
				held := rng.IntN(2) == 0
				if held {
					if err := ss.Hold(ctx, owner, time.Now().Add(time.Minute)); err != nil {
						fail("hold: %v", err)
						continue
					}
				}
				for range 1 + rng.IntN(3) {
					data := shared(rng)
					if rng.IntN(2) == 0 {
						data = fmt.Appendf(nil, "%s turn %d by %s: %x", session, turn, owner, rng.Uint64())
					}
					if _, err := ss.Put(ctx, data, attachstore.Meta{Label: owner}); err != nil {
						fail("put: %v", err)
					}
				}
				switch rng.IntN(5) {
				case 0: // abandoned: left for the reclaimers
					continue
				case 1:
					if _, err := ss.Discard(ctx, owner); err != nil {
						fail("discard: %v", err)
					}
					continue
				}
				var ids []attachstore.ID
				err := s.Update(ctx, func(tx *attachstore.Tx) (err error) {
					ids, err = tx.Session(session).CommitOwned(ctx, owner)
					return err
				})
				if err != nil {
					fail("commit: %v", err)
					continue
				}
				if held && len(ids) == 0 {
					fail("a held turn %s of session %s committed nothing: the reclaimers took its intents", owner, session)
				}
				for _, id := range ids {
					report("committed %s %s end", session, id)
					mu.Lock()
					mine = append(mine, struct {
						session string
						id      attachstore.ID
					}{session, id})
					mu.Unlock()
				}
			}
		})
	}
	wg.Go(func() { // the reclaimer
		for {
			if _, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: 0, BatchSize: 20}); err != nil && !errors.Is(err, attachstore.ErrNoRoots) {
				fail("reclaim: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	wg.Go(func() { // the reader
		rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 99))
		for {
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			if len(mine) == 0 {
				mu.Unlock()
				continue
			}
			c := mine[rng.IntN(len(mine))]
			mu.Unlock()
			a, err := s.Session(c.session).Get(ctx, c.id)
			if err != nil {
				fail("read of committed %s in %s: %v", c.id, c.session, err)
				continue
			}
			if sha256.Sum256(a.Data) != c.id {
				fail("committed %s in %s reads back other bytes", c.id, c.session)
			}
		}
	})
	wg.Wait()
}
