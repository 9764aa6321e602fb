package attachstore_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

const holdEnvPath = "ATTACHSTORE_HOLD_CHILD_DB"

// TestHoldHonouredByAnotherProcess: a hold is in the database, so a
// Reclaim in another process — the CLI, another node's sweeper — keeps the
// held owner's intents while it forgets the others. The holding store stays
// open meanwhile, as a running agent's would.
func TestHoldHonouredByAnotherProcess(t *testing.T) {
	if path := os.Getenv(holdEnvPath); path != "" {
		holdChild(t, path)
		return
	}
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "held.db")
	s := openForTest(t, path)
	chat := s.Session("chat")
	held, err := chat.WithOwner("awaiting-approval").Put(ctx, []byte("a plan the user must approve"), attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	loose, err := chat.WithOwner("crashed").Put(ctx, []byte("a crashed turn's output"), attachstore.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := chat.Hold(ctx, "awaiting-approval", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // both intents older than the child's Grace

	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldHonouredByAnotherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdEnvPath+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var rep attachstore.ReclaimReport
	if err := json.Unmarshal(lastJSONLine(out), &rep); err != nil {
		t.Fatalf("child printed %q: %v", out, err)
	}
	if rep.ExpiredIntents != 1 || rep.ReclaimedBlobs != 1 {
		t.Errorf("the other process's Reclaim = %+v; want the crashed turn's intent and blob only", rep)
	}
	if ok, err := s.HoldsRef(ctx, "chat", held.ID); !ok || err != nil {
		t.Errorf("the held intent after another process's Reclaim: held %v, %v", ok, err)
	}
	if ok, err := s.HoldsRef(ctx, "chat", loose.ID); ok || err != nil {
		t.Errorf("the unheld intent after another process's Reclaim: held %v, %v; want it gone", ok, err)
	}
	got, err := chat.CommitOwned(ctx, "awaiting-approval")
	if err != nil || len(got) != 1 || got[0] != held.ID {
		t.Errorf("CommitOwned after approval = %v, %v; want [%s]", got, err, held.ID)
	}
}

// holdChild is the other process: it reclaims with a Grace shorter than
// the intents' age and prints the report as JSON.
func holdChild(t *testing.T, path string) {
	s := openForTest(t, path)
	rep, err := s.Reclaim(t.Context(), attachstore.ReclaimPolicy{Grace: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.Write(append([]byte("\n"), append(b, '\n')...))
}

// lastJSONLine is the last line of out that holds a JSON object, whatever
// test framework noise comes around it ("PASS").
func lastJSONLine(out []byte) []byte {
	var last []byte
	start := 0
	for i := 0; i <= len(out); i++ {
		if i == len(out) || out[i] == '\n' {
			if line := out[start:i]; len(line) > 0 && line[0] == '{' {
				last = line
			}
			start = i + 1
		}
	}
	return last
}
