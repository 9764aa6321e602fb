package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestExportImportRoundTrip: export writes a session's attachments as
// files named by their labels made safe, plus a manifest; import puts
// them back, committed or pending as they were, with their metadata.
func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := pseudoRandom(700<<10, 27)
	files := []struct {
		label string
		data  []byte
		want  string // file name in the export
	}{
		{"plot.png", []byte("\x89PNG\r\n\x1a\nplot"), "plot.png"},
		{"../../etc/passwd", []byte("escape"), "_._etc_passwd"},
		{"PLOT.PNG", []byte("\x89PNG\r\n\x1a\nother"), "PLOT-2.PNG"}, // collides with plot.png, ignoring case
		{"", []byte("no label"), sha([]byte("no label"))[:12] + ".txt"},
		{"manifest.json", []byte(`{"not": "the manifest"}`), "manifest-2.json"},
		{"a\nb\x1b[31m.txt", []byte("control"), "a_b_[31m.txt"},
		{"evil\u202egnp.exe", []byte("rlo"), "evil_gnp.exe"},
		{"..", []byte("dots"), sha([]byte("dots"))[:12] + ".txt"},
		{".hidden", []byte("hidden"), "hidden"},
		{"big.bin", big, "big.bin"},
	}
	var committed []string
	for i, f := range files {
		p := e.file("in"+string(rune('a'+i)), f.data)
		id := e.put("--session", "chat", "--owner", "turn-1", "--label", f.label, "--type", "text/plain", p)[0]
		if i%2 == 0 {
			committed = append(committed, id)
		}
	}
	e.ok(nil, append([]string{"commit", "--session", "chat"}, committed...)...)

	dir := filepath.Join(e.dir, "export")
	r := e.ok(nil, "export", "--session", "chat", dir)
	if got := lines(r.stdout); len(got) != len(files) {
		t.Fatalf("export printed %d paths, want %d:\n%s", len(got), len(files), r.stdout)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.want))
		if err != nil || !bytes.Equal(got, f.data) {
			t.Errorf("label %q: want file %s with its bytes: %v", f.label, f.want, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(files)+1 {
		t.Errorf("export wrote %d files, want %d and the manifest", len(entries), len(files))
	}
	var m manifest
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil || json.Unmarshal(data, &m) != nil {
		t.Fatalf("manifest: %v\n%s", err, data)
	}
	if m.Session != "chat" || m.Format != manifestFormat || len(m.Attachments) != len(files) {
		t.Errorf("manifest: %+v", m)
	}

	// Into a new store, under the manifest's session.
	e2 := *e
	e2.db = filepath.Join(e.dir, "restored.db")
	objs := jsonLines(t, e2.ok(nil, "import", "--json", dir).stdout)
	if len(objs) != len(files) {
		t.Fatalf("import --json: want %d objects, got %v", len(files), objs)
	}
	want := jsonLines(t, e.ok(nil, "refs", "--session", "chat", "--json").stdout)
	got := jsonLines(t, e2.ok(nil, "refs", "--session", "chat", "--json").stdout)
	if len(got) != len(want) {
		t.Fatalf("restored refs: %d, want %d", len(got), len(want))
	}
	for i := range want {
		for _, k := range []string{"id", "size", "media_type", "label", "owner", "committed"} {
			if got[i][k] != want[i][k] {
				t.Errorf("restored ref %d: %s = %v, want %v", i, k, got[i][k], want[i][k])
			}
		}
	}

	// Into another session, twice: harmless.
	e2.ok(nil, "import", "--session", "copy", dir)
	e2.ok(nil, "import", "--session", "copy", dir)
	if n := len(lines(e2.ok(nil, "refs", "--session", "copy").stdout)); n == 0 {
		t.Error("import --session copy imported nothing")
	}
	if got := e2.ok(nil, "get", "--session", "copy", sha(big)).stdout; got != string(big) {
		t.Error("the big attachment did not survive the round trip")
	}
}

// TestExportRefusesToOverwrite: export writes only into a new or empty
// directory.
func TestExportRefusesToOverwrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put("--session", "s", e.file("a.txt", []byte("a")))
	full := filepath.Join(e.dir, "full")
	os.Mkdir(full, 0o700)
	os.WriteFile(filepath.Join(full, "a.txt"), []byte("mine"), 0o600)
	e.fails(1, []string{full, "not empty"}, "export", "--session", "s", full)
	if got, _ := os.ReadFile(filepath.Join(full, "a.txt")); string(got) != "mine" {
		t.Errorf("export overwrote a file: %q", got)
	}
	e.fails(1, []string{"does not exist"}, "export", "--session", "s", filepath.Join(e.dir, "no", "dir"))
	e.fails(1, []string{"not a directory"}, "export", "--session", "s", e.db)
	empty := filepath.Join(e.dir, "empty")
	os.Mkdir(empty, 0o700)
	e.ok(nil, "export", "--session", "s", empty)
	if r := e.ok(nil, "export", "--session", "nobody", filepath.Join(e.dir, "nobody")); !strings.Contains(r.stderr, "holds no refs") {
		t.Errorf("exporting an unknown session said nothing: %q", r.stderr)
	}
	e.fails(2, []string{"--session"}, "export", filepath.Join(e.dir, "x"))
}

// TestExportSkipsCorruptBlob: a blob whose bytes no longer hash to its id
// is reported and left out; the rest is exported with its manifest.
func TestExportSkipsCorruptBlob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := e.put("--session", "s", e.file("bad.bin", pseudoRandom(300<<10, 28)))[0]
	e.put("--session", "s", e.file("good.txt", []byte("good")))
	corrupt(t, e.db, bad)
	dir := filepath.Join(e.dir, "out")
	e.fails(1, []string{"export " + bad, "corrupt"}, "export", "--session", "s", dir)
	if _, err := os.Stat(filepath.Join(dir, "bad.bin")); err == nil {
		t.Error("the corrupt blob was exported")
	}
	m, err := readManifest(dir)
	if err != nil || len(m.Attachments) != 1 || m.Attachments[0].File != "good.txt" {
		t.Errorf("manifest: %+v, %v; want good.txt alone", m, err)
	}
}

// TestImportRefusesWhatExportWouldNotWrite: a manifest cannot make import
// read outside its directory, and a file that does not hash to the
// manifest's id stores nothing; the other files are still imported.
func TestImportRefusesWhatExportWouldNotWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put("--session", "s", e.file("a.txt", []byte("a")), e.file("b.txt", []byte("b")))
	dir := filepath.Join(e.dir, "out")
	e.ok(nil, "export", "--session", "s", dir)
	secret := e.file("secret.txt", []byte("secret"))

	m, err := readManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	escape := m.Attachments[0]
	escape.File = "../secret.txt"
	m.Attachments = append(m.Attachments, escape)
	data, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(dir, manifestName), data, 0o600)
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("tampered"), 0o600)

	e2 := *e
	e2.db = filepath.Join(e.dir, "restored.db")
	r := e2.fails(1, []string{`"../secret.txt"`, "b.txt", "hash"}, "import", dir)
	if got := lines(r.stdout); len(got) != 1 || got[0] != sha([]byte("a")) {
		t.Errorf("import: stdout %q, want a.txt's id alone", r.stdout)
	}
	if strings.Contains(e2.ok(nil, "ls").stdout, sha([]byte("tampered"))) {
		t.Error("a file that does not match the manifest was stored")
	}
	_ = secret

	os.WriteFile(filepath.Join(dir, manifestName), []byte(`{"format": "other"}`), 0o600)
	e2.fails(1, []string{"format"}, "import", dir)
	e2.fails(1, []string{"manifest.json"}, "import", e.dir)
}

func TestSafeNames(t *testing.T) {
	for _, label := range []string{
		"plot.png", "../x", "a/b\\c", "..", ".", "...", " . ", "\x00", "a\u202eb", "CON", "x:y*z?",
		strings.Repeat("é", 300) + ".png", strings.Repeat("a", 500), "\xff\xfe", "a..b", ".env",
	} {
		name := safeName(label)
		if name == "" {
			continue
		}
		if !isSafeName(name) {
			t.Errorf("safeName(%q) = %q, which isSafeName refuses", label, name)
		}
		if strings.ContainsAny(name, "/\\") || strings.Contains(name, "..") || strings.HasPrefix(name, ".") ||
			len(name) > maxNameBytes || !utf8.ValidString(name) || filepath.Base(name) != name {
			t.Errorf("safeName(%q) = %q is not safe", label, name)
		}
	}
	n := newNamer(manifestName)
	seen := map[string]bool{}
	for _, name := range []string{"a.txt", "A.TXT", "a.txt", "a-2.txt", "Manifest.json", strings.Repeat("b", maxNameBytes)} {
		got := n.take(name)
		if seen[strings.ToLower(got)] || strings.EqualFold(got, manifestName) || !isSafeName(got) {
			t.Errorf("take(%q) = %q: taken already, the manifest's, or unsafe", name, got)
		}
		seen[strings.ToLower(got)] = true
	}
}
