package db

import (
	"path/filepath"
	"testing"
	"time"
)

// TestCheckpointerCountsFailures: a background checkpoint that fails is
// counted (DB.CheckpointFailures, Stats.CheckpointFailures), not dropped.
func TestCheckpointerCountsFailures(t *testing.T) {
	h := openHandle("file:" + filepath.Join(t.TempDir(), "c.db"))
	h.Close() // every checkpoint on it fails
	var d DB
	d.ckpt.start(h, h, 4096)
	defer d.Close()
	d.Committed()
	for deadline := time.Now().Add(5 * time.Second); d.CheckpointFailures() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a failed checkpoint was not counted within 5s")
		}
	}
	if got := d.CheckpointFailures(); got != 1 {
		t.Errorf("CheckpointFailures = %d after one failed checkpoint, want 1", got)
	}
}
