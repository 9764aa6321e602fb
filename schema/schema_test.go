package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// released holds the SHA-256 of every migration file as a release shipped
// it. Stores in users' hands were written by these bytes: a change to the
// schema is a new migration (and a new Version), never an edit here.
var released = map[string]string{
	"sqlite/0001_init.up.sql":     "38ba1adb84f27df1fe86467dbe1353a291252201a8a66cb11b8f8c082379fa79",
	"sqlite/0001_init.down.sql":   "223c41ce8a8f8832802d725c311a87efb7f9e438261e5e17164f9a8f47f8f376",
	"postgres/0001_init.up.sql":   "23a7353ef662f07fa3957f5646384b1b0e24e147a83d7774febef7b2e91fe31e",
	"postgres/0001_init.down.sql": "223c41ce8a8f8832802d725c311a87efb7f9e438261e5e17164f9a8f47f8f376",
}

func TestReleasedMigrationsAreFrozen(t *testing.T) {
	for name, want := range released {
		data, err := FS.ReadFile(name)
		if err != nil {
			t.Errorf("%s, released in 0.1.0, is gone: %v", name, err)
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s changed (sha256 %s, released as %s): a released migration is frozen; "+
				"put the change in a new migration, with a test that upgrades a store the last release wrote",
				name, got, want)
		}
	}
	if Version < 1 {
		t.Errorf("Version = %d, below the released 1", Version)
	}
}
