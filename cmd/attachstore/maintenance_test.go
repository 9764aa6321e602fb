package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attachstore/attachstore"
)

func TestReclaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	orphan := e.put(e.file("orphan.bin", pseudoRandom(600<<10, 10)))[0]
	pending := e.put("--session", "s1", e.file("pending.bin", []byte("pending")))[0]
	committed := e.put("--session", "s1", e.file("committed.bin", []byte("committed")))[0]
	e.ok(nil, "commit", "--session", "s1", committed)

	report := func(args ...string) map[string]any {
		t.Helper()
		objs := jsonLines(t, e.ok(nil, append([]string{"reclaim", "--json"}, args...)...).stdout)
		if len(objs) != 1 {
			t.Fatalf("reclaim --json %v: want one report, got %v", args, objs)
		}
		return objs[0]
	}

	// Everything is younger than the default grace of 24h.
	if r := report(); r["expired_intents"] != 0.0 || r["reclaimed_blobs"] != 0.0 {
		t.Errorf("reclaim with the default grace took fresh work: %v", r)
	}
	// A dry run counts the orphan; whether it also counts the blob that only
	// the expiring intent holds is the library's call.
	if r := report("--grace", "0", "--dry-run"); r["dry_run"] != true || r["expired_intents"] != 1.0 || r["reclaimed_blobs"].(float64) < 1 {
		t.Errorf("dry run: got %v, want 1 intent and at least the unreferenced blob counted", r)
	}
	for _, id := range []string{orphan, pending, committed} {
		e.ok(nil, "stat", id) // the dry run deleted nothing
	}

	r := report("--grace", "0s", "--batch", "1")
	if r["expired_intents"] != 1.0 || r["reclaimed_blobs"] != 2.0 || r["reclaimed_bytes"] != float64(600<<10+len("pending")) {
		t.Errorf("reclaim --grace 0: got %v, want 1 intent and 2 blobs (%d bytes)", r, 600<<10+len("pending"))
	}
	e.fails(1, []string{"not found"}, "stat", orphan)
	e.fails(1, []string{"not found"}, "stat", pending)
	if got := e.ok(nil, "get", "--session", "s1", committed).stdout; got != "committed" {
		t.Errorf("a committed ref's bytes did not survive grace 0: %q", got)
	}

	// --vacuum: never leaves the orphan's pages free in the file; always
	// gives them back. Nothing is orphaned on the second run, but the free
	// pages the first one left are returned.
	again := e.put(e.file("again.bin", pseudoRandom(600<<10, 11)))[0]
	r = report("--grace", "0", "--vacuum", "never")
	if r["reclaimed_blobs"] != 1.0 || r["returned_bytes"] != 0.0 || r["free_bytes"].(float64) < 500<<10 {
		t.Errorf("reclaim --vacuum never: got %v, want 1 blob, nothing returned, at least 500 KiB free", r)
	}
	e.fails(1, []string{"not found"}, "stat", again)
	r = report("--grace", "0", "--vacuum", "always")
	if r["reclaimed_blobs"] != 0.0 || r["returned_bytes"].(float64) < 500<<10 || r["free_bytes"] != 0.0 {
		t.Errorf("reclaim --vacuum always: got %v, want at least 500 KiB returned, none free", r)
	}
	e.fails(2, []string{"--vacuum", "auto, always or never"}, "reclaim", "--vacuum", "sometimes")

	text := e.ok(nil, "reclaim", "--grace", "0", "--dry-run").stdout
	for _, want := range []string{"dry run", "expired intents", "would reclaim blobs"} {
		if !strings.Contains(text, want) {
			t.Errorf("reclaim text output lacks %q:\n%s", want, text)
		}
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := e.put(e.file("good.bin", pseudoRandom(300<<10, 11)))[0]
	bad := e.put(e.file("bad.bin", pseudoRandom(300<<10, 12)))[0]

	r := e.ok(nil, "verify")
	if !strings.Contains(r.stdout, "checked 2 blobs") || !strings.Contains(r.stdout, "ok") {
		t.Errorf("verify on a clean store: %v", r)
	}
	o := jsonLines(t, e.ok(nil, "verify", "--json").stdout)
	if len(o) != 1 || o[0]["ok"] != true || o[0]["checked_blobs"] != 2.0 {
		t.Errorf("verify --json on a clean store: %v", o)
	}

	corrupt(t, e.db, bad)
	r = e.fails(1, []string{"verify", "1 corrupt"}, "verify")
	if !strings.Contains(r.stdout, "corrupt "+bad) || strings.Contains(r.stdout, good) {
		t.Errorf("verify should list %s alone as corrupt:\n%s", bad, r.stdout)
	}
	r = e.fails(1, nil, "verify", "--json")
	o = jsonLines(t, r.stdout)
	if len(o) != 1 || o[0]["ok"] != false || len(o[0]["corrupt"].([]any)) != 1 || o[0]["corrupt"].([]any)[0] != bad {
		t.Errorf("verify --json on a damaged store: %v", o)
	}
}

// TestVerifyNamesTheRepair: verify says, beside each corrupt blob and in
// its error, which command mends it.
func TestVerifyNamesTheRepair(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := e.put(e.file("bad.bin", pseudoRandom(300<<10, 13)))[0]
	corrupt(t, e.db, bad)
	r := e.fails(1, []string{"1 corrupt", "attachstore repair FILE"}, "verify")
	if want := "corrupt " + bad + " (repair with: attachstore repair FILE"; !strings.Contains(r.stdout, want) {
		t.Errorf("verify's line for the corrupt blob does not name the repair: want %q in\n%s", want, r.stdout)
	}
	r = e.fails(1, nil, "verify", "--json")
	if o := jsonLines(t, r.stderr); len(o) != 1 || o[0]["kind"] != "corrupt" ||
		!strings.Contains(o[0]["error"].(string), "attachstore repair FILE") {
		t.Errorf("verify --json's error does not name the repair: %v", o)
	}
}

// TestRepair: repair mends a corrupt blob from a file holding its bytes,
// keeps its refs and commit stamp, leaves intact blobs alone, and stores
// nothing for bytes no blob has.
func TestRepair(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := pseudoRandom(300<<10, 31)
	f := e.file("report.bin", data)
	id := e.put("--session", "s", f)[0]
	e.ok(nil, "commit", "--session", "s", id)
	intact := e.file("intact.txt", []byte("intact"))
	intactID := e.put(intact)[0]
	refsBefore := e.ok(nil, "refs", "--session", "s", "--json").stdout
	corrupt(t, e.db, id)
	e.fails(1, []string{"1 corrupt"}, "verify")

	if got := e.ok(nil, "repair", f).stdout; got != id+"\n" {
		t.Errorf("repair %s printed %q, want its id %s", f, got, id)
	}
	e.ok(nil, "verify")
	if got := e.ok(nil, "get", "--session", "s", id).stdout; got != string(data) {
		t.Errorf("get --session s after repair: %d bytes, want the %d put", len(got), len(data))
	}
	refsAfter := e.ok(nil, "refs", "--session", "s", "--json").stdout
	if refs := jsonLines(t, refsAfter); len(refs) != 1 || refs[0]["committed"] != true || refsAfter != refsBefore {
		t.Errorf("refs --session s after repair = %s, want the committed ref kept as it was: %s", refsAfter, refsBefore)
	}

	// An intact blob is left alone; stdin works; --json says file and id.
	o := jsonLines(t, e.ok(nil, "repair", "--json", intact, f).stdout)
	if len(o) != 2 || o[0]["file"] != intact || o[0]["id"] != intactID || o[1]["file"] != f || o[1]["id"] != id {
		t.Errorf("repair --json of two intact blobs = %v", o)
	}
	corrupt(t, e.db, id)
	if got := e.ok(bytes.NewReader(data), "repair", "-").stdout; got != id+"\n" {
		t.Errorf("repair - printed %q, want %s", got, id)
	}
	e.ok(nil, "verify")

	// Bytes no blob has: reported with their id, not stored; the other
	// files are still repaired.
	stranger := []byte("never stored")
	sf := e.file("stranger.txt", stranger)
	corrupt(t, e.db, id)
	r := e.fails(1, []string{"repair " + sf, "no stored blob has these bytes", sha(stranger), "nothing was stored"}, "repair", sf, f)
	if r.stdout != id+"\n" {
		t.Errorf("repair of a stranger and %s printed %q, want %s alone", f, r.stdout, id)
	}
	e.ok(nil, "verify")
	e.fails(1, []string{"not found"}, "stat", sha(stranger))
	r = e.fails(1, nil, "repair", "--json", sf)
	if o := jsonLines(t, r.stderr); len(o) != 1 || o[0]["kind"] != "not_found" || o[0]["file"] != sf || o[0]["id"] != sha(stranger) {
		t.Errorf("repair --json of bytes no blob has: stderr %v", o)
	}

	e.fails(2, []string{"no FILE", "usage"}, "repair")
	e.fails(2, []string{"more than once"}, "repair", "-", "-")
	e.fails(2, []string{"--read-only"}, "--read-only", "repair", f)
	e.fails(1, []string{"missing.bin"}, "repair", filepath.Join(e.dir, "missing.bin"))
	none := filepath.Join(e.dir, "none.db")
	e.fails(1, []string{"no such database"}, "--db", none, "repair", f)
	if _, err := os.Stat(none); err == nil {
		t.Errorf("repair created %s", none)
	}
}

// corrupt overwrites the first chunk of the blob with id with other bytes
// of the same length, through the host-SQL door of the library.
func corrupt(t *testing.T, path, id string) {
	t.Helper()
	ctx := context.Background()
	s, err := attachstore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bid, err := attachstore.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		res, err := tx.SQL().ExecContext(ctx, `UPDATE attachstore_chunks SET data = zeroblob(length(data))
			WHERE seq = 0 AND blob_pk = (SELECT pk FROM attachstore_blobs WHERE id = ?)`, bid[:])
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("corrupting %s changed %d rows", id, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(e.file("a", []byte("aaaa")))
	e.put("--session", "s1", e.file("b", []byte("bb")))
	e.put("--session", "s2", e.file("b", []byte("bb")))
	e.ok(nil, "commit", "--session", "s2")
	o := jsonLines(t, e.ok(nil, "stats", "--json").stdout)
	if len(o) != 1 {
		t.Fatalf("stats --json: %v", o)
	}
	want := map[string]float64{"blobs": 2, "refs": 2, "sessions": 2, "uncommitted_refs": 1, "blob_bytes": 6}
	for k, v := range want {
		if o[0][k] != v {
			t.Errorf("stats --json: %s = %v, want %v (all: %v)", k, o[0][k], v, o[0])
		}
	}
	if fb, _ := o[0]["file_bytes"].(float64); fb <= 0 {
		t.Errorf("stats --json: file_bytes = %v, want > 0", o[0]["file_bytes"])
	}
	text := e.ok(nil, "stats").stdout
	for _, want := range []string{"blobs", "uncommitted refs", "sessions", "file bytes"} {
		if !strings.Contains(text, want) {
			t.Errorf("stats text lacks %q:\n%s", want, text)
		}
	}
}

// TestReclaimNoRoots: a store that no session holds anything in (content
// put without --session only) is not emptied by reclaim: it stops, says
// what it would delete, and names the flag that lets it.
func TestReclaimNoRoots(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.put(e.file("a.bin", pseudoRandom(3000, 40)))[0]
	b := e.put(e.file("b.bin", pseudoRandom(2000, 41)))[0]

	r := e.fails(1, []string{"no session holds any ref", "2 blobs (4.9 KiB)", "--allow-empty-roots", "without --session"},
		"reclaim", "--grace", "0")
	if r.stdout != "" {
		t.Errorf("a refused reclaim printed a report: %q", r.stdout)
	}
	r = e.fails(1, []string{"--allow-empty-roots"}, "reclaim", "--grace", "0", "--dry-run")
	if !strings.Contains(r.stdout, "would reclaim blobs  2") {
		t.Errorf("a refused dry run should still say what it would reclaim:\n%s", r.stdout)
	}
	r = e.fails(1, nil, "reclaim", "--grace", "0", "--json")
	// The counts are in the message; an error object carries no report.
	if o := jsonLines(t, r.stderr); len(o) != 1 || o[0]["kind"] != "no_roots" || o[0]["reclaimed_blobs"] != nil ||
		!strings.Contains(fmt.Sprint(o[0]["error"]), "2 blobs") {
		t.Errorf("reclaim --json without roots: %v, want kind no_roots counting 2 blobs in its message alone", o)
	}
	for _, id := range []string{a, b} {
		e.ok(nil, "stat", id)
	}
	// Young content is not at stake: nothing to refuse.
	e.ok(nil, "reclaim")

	o := jsonLines(t, e.ok(nil, "reclaim", "--grace", "0", "--allow-empty-roots", "--json").stdout)
	if len(o) != 1 || o[0]["reclaimed_blobs"] != 2.0 {
		t.Errorf("reclaim --allow-empty-roots: %v, want 2 blobs", o)
	}
	e.fails(1, []string{"not found"}, "stat", a)
}

// TestReclaimNeedsCompact: a host's file adopted without incremental
// vacuum keeps its free space after reclaim, which says that compact
// gives it back; compact refuses while the host's table has implicit
// rowids, and runs with --allow-rowid-changes; after it, reclaim shrinks
// the file itself.
func TestReclaimNeedsCompact(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.db = e.hostFile("host.db", "wal")
	e.put("--session", "keep", e.file("keep.txt", []byte("keep")))
	e.ok(nil, "commit", "--session", "keep")
	e.put("--session", "s", e.file("big.bin", pseudoRandom(2<<20, 42)))
	e.ok(nil, "drop-session", "s")

	r := e.ok(nil, "reclaim", "--grace", "0", "--vacuum", "always")
	if !strings.Contains(r.stderr, "'attachstore compact'") || !strings.Contains(r.stderr, "incremental vacuum") {
		t.Errorf("reclaim on an adopted file: stderr %q does not name compact", r.stderr)
	}
	r = e.ok(nil, "reclaim", "--grace", "0", "--json")
	o := jsonLines(t, r.stdout)
	if len(o) != 1 || o[0]["needs_compact"] != true || o[0]["free_bytes"].(float64) < 2<<20 {
		t.Errorf("reclaim --json on an adopted file: %v, want needs_compact and 2 MiB free", o)
	}
	if w := jsonLines(t, r.stderr); len(w) != 1 || w[0]["needs_compact"] != true {
		t.Errorf("reclaim --json: stderr %v, want one needs_compact warning", w)
	}

	// The host's notes table has implicit rowids, which the rewrite may
	// renumber: compact refuses until told the host keeps none.
	before := fileSize(t, e.db)
	beforeBytes := readFile(t, e.db)
	r = e.fails(1, []string{"compact", `table "notes"`, "rowids", "--allow-rowid-changes"}, "compact")
	if strings.Contains(r.stderr, "AllowRowidChanges") {
		t.Errorf("the message names the Go option: %q", r.stderr)
	}
	if o := jsonLines(t, e.fails(1, nil, "compact", "--json").stderr); len(o) != 1 || o[0]["kind"] != "rowids_may_change" {
		t.Errorf("compact --json on a file with implicit rowids: stderr %v, want kind rowids_may_change", o)
	}
	if !bytes.Equal(beforeBytes, readFile(t, e.db)) {
		t.Error("the refused compact changed the file")
	}
	o = jsonLines(t, e.ok(nil, "compact", "--allow-rowid-changes", "--json").stdout)
	after := fileSize(t, e.db)
	if after > before/4 || len(o) != 1 || o[0]["file_bytes_after"].(float64) >= o[0]["file_bytes_before"].(float64) {
		t.Errorf("compact: file %d -> %d bytes, report %v; want it to lose the 2 MiB freed", before, after, o)
	}
	if got := hostRow(t, e.db); got != "the host app's own row" {
		t.Errorf("compact lost the host's row: %q", got)
	}
	if text := e.ok(nil, "compact", "--allow-rowid-changes").stdout; !strings.Contains(text, "file bytes before") || !strings.Contains(text, "file bytes after") {
		t.Errorf("compact text output: %q", text)
	}

	// From now on reclaim gives space back by itself.
	e.put("--session", "s2", e.file("big2.bin", pseudoRandom(2<<20, 43)))
	e.ok(nil, "drop-session", "s2")
	r = e.ok(nil, "reclaim", "--grace", "0", "--vacuum", "always", "--json")
	o = jsonLines(t, r.stdout)
	if len(o) != 1 || o[0]["needs_compact"] != false || o[0]["returned_bytes"].(float64) < 2<<20 || r.stderr != "" {
		t.Errorf("reclaim after compact: %v, stderr %q; want 2 MiB returned and no advice", o, r.stderr)
	}
}

// TestCompact: compact gives a store's free space back at once and says
// how large the file was and is.
func TestCompact(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put("--session", "keep", e.file("keep.txt", []byte("keep")))
	e.ok(nil, "commit", "--session", "keep")
	e.put("--session", "s", e.file("big.bin", pseudoRandom(2<<20, 46)))
	e.ok(nil, "drop-session", "s")
	e.ok(nil, "reclaim", "--grace", "0", "--vacuum", "never")

	before := fileSize(t, e.db)
	o := jsonLines(t, e.ok(nil, "compact", "--json").stdout)
	after := fileSize(t, e.db)
	if after > before/4 || len(o) != 1 || o[0]["file_bytes_after"].(float64) >= o[0]["file_bytes_before"].(float64) {
		t.Errorf("compact: file %d -> %d bytes, report %v; want it to lose the 2 MiB freed", before, after, o)
	}
	if text := e.ok(nil, "compact").stdout; !strings.Contains(text, "file bytes before") || !strings.Contains(text, "file bytes after") {
		t.Errorf("compact text output: %q", text)
	}
	e.ok(nil, "verify")
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestBackupRestoresAndVerifies: backup writes a copy that verify passes,
// that holds the same content and refs, and that serves as the store once
// copied into place; it never overwrites a file.
func TestBackupRestoresAndVerifies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := pseudoRandom(700<<10, 44)
	big := e.put("--session", "s", e.file("big.bin", data))[0]
	e.ok(nil, "commit", "--session", "s")
	small := e.put("--session", "s", "--owner", "t", e.file("small.txt", []byte("small")))[0]
	free := e.put(e.file("free.txt", []byte("free")))[0]

	backup := filepath.Join(e.dir, "backup.db")
	if r := e.ok(nil, "backup", backup); r.stdout != "" || r.stderr != "" {
		t.Errorf("backup printed %v", r)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 0600", fi, err)
	}
	r := e.ok(nil, "verify", "--db", backup)
	if !strings.Contains(r.stdout, "checked 3 blobs") || !strings.Contains(r.stdout, "ok") {
		t.Errorf("verify of the backup: %v", r)
	}

	// Restore: the copy put in place of a lost store is that store.
	restored := filepath.Join(e.dir, "restored.db")
	if err := os.WriteFile(restored, readFile(t, backup), 0o600); err != nil {
		t.Fatal(err)
	}
	e.db = restored
	e.ok(nil, "verify")
	if got := e.ok(nil, "get", "--session", "s", big).stdout; got != string(data) {
		t.Errorf("restored store: get %s returned %d bytes, want %d", big, len(got), len(data))
	}
	if got := lines(e.ok(nil, "refs", "--session", "s", "--pending").stdout); len(got) != 1 || got[0] != small {
		t.Errorf("restored store: pending = %q, want [%s]", got, small)
	}
	e.ok(nil, "stat", free)

	// Never over a file; never into a missing directory.
	before := readFile(t, backup)
	o := jsonLines(t, e.fails(1, []string{"backup " + backup, "exists"}, "backup", backup, "--json").stderr)
	if len(o) != 1 || o[0]["kind"] != "exists" || o[0]["file"] != backup {
		t.Errorf("backup over a file --json: %v", o)
	}
	if !bytes.Equal(before, readFile(t, backup)) {
		t.Error("backup changed the file it refused to overwrite")
	}
	e.fails(1, []string{"does not exist"}, "backup", filepath.Join(e.dir, "none", "b.db"))
	e.fails(2, []string{"want one FILE"}, "backup")
	o = jsonLines(t, e.ok(nil, "backup", filepath.Join(e.dir, "b2.db"), "--json").stdout)
	if len(o) != 1 || o[0]["backup"] != filepath.Join(e.dir, "b2.db") || o[0]["file_bytes"].(float64) <= 0 {
		t.Errorf("backup --json: %v", o)
	}
}

// TestBackupOfADamagedStore: a copy that does not verify fails the backup
// and is kept, and the message sends the user to verify.
func TestBackupOfADamagedStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.put("--session", "s", e.file("a.bin", pseudoRandom(10<<10, 45)))[0]
	corrupt(t, e.db, id)
	backup := filepath.Join(e.dir, "backup.db")
	r := e.fails(1, []string{"does not verify", "kept", "attachstore verify"}, "backup", backup)
	if strings.Contains(r.stderr, "run Verify") {
		t.Errorf("the message names the Go method: %q", r.stderr)
	}
	if _, err := os.Stat(backup); err != nil {
		t.Errorf("the copy that did not verify is gone: %v", err)
	}
}
