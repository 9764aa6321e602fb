package main

import (
	"bytes"
	"database/sql"
	"os"
	"testing"
)

// TestPutRefusesAClash is issue 29's repro: put into a host's file that
// has a table named as one of attachstore's is refused, naming the table,
// and the file stays as it was (same bytes, same journal mode, nothing
// beside it), so that later commands find it as the host left it.
func TestPutRefusesAClash(t *testing.T) {
	t.Parallel()
	for _, journal := range []string{"delete", "wal"} {
		t.Run(journal, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.db = e.hostFile("host.db", journal)
			raw, err := sql.Open("sqlite3", e.db)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(`CREATE TABLE attachstore_refs (name TEXT)`); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			before := readFile(t, e.db)
			small := e.file("small.txt", []byte("small"))
			for _, args := range [][]string{{"put", small}, {"ls"}, {"compact"}} {
				r := e.fails(1, []string{"open " + e.db, `table "attachstore_refs" is not attachstore's`}, args...)
				if bytes.Contains([]byte(r.stderr), []byte("corrupt")) {
					t.Errorf("%v: the refusal says corrupt: %q", args, r.stderr)
				}
				if !bytes.Equal(before, readFile(t, e.db)) {
					t.Fatalf("%v changed the host's file", args)
				}
				for _, suffix := range []string{"-wal", "-shm"} {
					if _, err := os.Stat(e.db + suffix); err == nil {
						t.Errorf("%v left a %s file beside the host's file", args, suffix)
					}
				}
			}
			if o := jsonLines(t, e.fails(1, nil, "put", small, "--json").stderr); len(o) != 1 || o[0]["kind"] != "not_a_store" {
				t.Errorf("put --json on a clash: stderr %v, want kind not_a_store", o)
			}
			if got := hostRow(t, e.db); got != "the host app's own row" {
				t.Errorf("the host's row: %q", got)
			}
		})
	}
}
