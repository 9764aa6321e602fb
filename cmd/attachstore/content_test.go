package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPutGetRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name string
		data []byte
	}{
		{"Empty", nil},
		{"Small", []byte("hello, attachments\n")},
		{"OneChunkExactly", pseudoRandom(256<<10, 1)},
		{"SeveralChunks", pseudoRandom(1<<20+12345, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := *e
			e.t = t
			path := e.file(tt.name+".bin", tt.data)
			ids := e.put(path)
			if len(ids) != 1 || ids[0] != sha(tt.data) {
				t.Fatalf("put printed %q, want the SHA-256 %s", ids, sha(tt.data))
			}
			if got := e.ok(nil, "get", ids[0]).stdout; got != string(tt.data) {
				t.Fatalf("get to stdout: got %d bytes, want %d", len(got), len(tt.data))
			}
			out := filepath.Join(e.dir, tt.name+".out")
			e.ok(nil, "get", ids[0], "-o", out)
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Fatalf("get -o: got %d bytes (%v), want %d", len(got), err, len(tt.data))
			}
			if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
				t.Errorf("get -o made mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
}

func TestGetOutputFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := pseudoRandom(300<<10, 3)
	id := e.put(e.file("a.bin", data))[0]
	outDir := filepath.Join(e.dir, "out")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(outDir, "copy.bin")
	if err := os.WriteFile(out, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.ok(nil, "get", "-o", out, "sha256:"+strings.ToUpper(id))
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatalf("get -o over an existing file: got %d bytes, want %d", len(got), len(data))
	}
	// An unknown id leaves the existing file alone and no temp file behind.
	e.fails(1, []string{"get " + unknownID, "not found"}, "get", unknownID, "-o", out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("a failed get changed the output file")
	}
	entries, _ := os.ReadDir(outDir)
	if len(entries) != 1 {
		t.Errorf("get left files behind: %v", entries)
	}
	e.fails(1, []string{"get " + id, "no-such-dir"}, "get", id, "-o", filepath.Join(e.dir, "no-such-dir", "x"))
}

func TestPutStdin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := pseudoRandom(700<<10, 4)
	t.Run("Pipe", func(t *testing.T) {
		r := e.run(bytes.NewReader(data), "put", "-")
		if r.code != 0 || strings.TrimSpace(r.stdout) != sha(data) {
			t.Fatalf("put - from a pipe: want id %s, got\n%v", sha(data), r)
		}
	})
	t.Run("RegularFile", func(t *testing.T) {
		f, err := os.Open(e.file("stdin.bin", data[:1000]))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		r := e.run(f, "put", "-")
		if r.code != 0 || strings.TrimSpace(r.stdout) != sha(data[:1000]) {
			t.Fatalf("put - from a file: want id %s, got\n%v", sha(data[:1000]), r)
		}
	})
	if got := e.ok(nil, "get", sha(data)).stdout; got != string(data) {
		t.Fatal("bytes put from stdin did not round-trip")
	}
	r := e.ok(bytes.NewReader([]byte("plain words")), "put", "--json", "-", e.file("x.json", []byte(`{}`)))
	objs := jsonLines(t, r.stdout)
	if len(objs) != 2 || objs[0]["file"] != "-" || objs[0]["media_type"] != "text/plain" || objs[0]["label"] != "" {
		t.Errorf("put --json - with text: got %v, want file -, media type text/plain, no label", objs)
	}
}

func TestPutJSONAndMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	png := append([]byte("\x89PNG\r\n\x1a\n"), pseudoRandom(100, 5)...)
	files := []struct {
		name, wantType string
		data           []byte
		args           []string
	}{
		{"doc.json", "application/json", []byte(`{"a": 1}`), nil},
		{"noext", "image/png", png, nil},
		{"notes.txt", "text/markdown", []byte("# title"), []string{"--type", "text/markdown; charset=utf-8"}},
		{"upper.dat", "image/webp", []byte("x"), []string{"--type", "IMAGE/WEBP"}},
	}
	for _, f := range files {
		path := e.file(f.name, f.data)
		r := e.ok(nil, append(append([]string{"put", "--json"}, f.args...), path)...)
		objs := jsonLines(t, r.stdout)
		if len(objs) != 1 {
			t.Fatalf("put --json %s: want one line, got %q", f.name, r.stdout)
		}
		o := objs[0]
		if o["id"] != sha(f.data) || o["size"] != float64(len(f.data)) || o["media_type"] != f.wantType ||
			o["label"] != f.name || o["file"] != path {
			t.Errorf("put --json %s: got %v, want id %s, size %d, media_type %s, label %s",
				f.name, o, sha(f.data), len(f.data), f.wantType, f.name)
		}
	}
	// Several files: one line each, in order; --label overrides the name.
	a, b := e.file("a", []byte("A")), e.file("b", []byte("B"))
	objs := jsonLines(t, e.ok(nil, "put", "--json", "--label", "shared", a, b).stdout)
	if len(objs) != 2 || objs[0]["id"] != sha([]byte("A")) || objs[1]["id"] != sha([]byte("B")) || objs[1]["label"] != "shared" {
		t.Errorf("put --json a b: got %v", objs)
	}
}

func TestPutMissingFileNamesIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := e.file("good.txt", []byte("good"))
	r := e.fails(1, []string{"put", "missing.txt"}, "put", good, "missing.txt")
	// The file before the failure was stored and its id printed.
	if strings.TrimSpace(r.stdout) != sha([]byte("good")) {
		t.Errorf("stdout = %q, want the id of the file stored before the failure", r.stdout)
	}
	e.fails(1, []string{"put " + e.dir, "directory"}, "put", e.dir)
}

func TestStat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := []byte("stat me")
	id := e.put("--type", "text/plain", e.file("s.txt", data))[0]
	r := e.ok(nil, "stat", id)
	for _, want := range []string{id, "size", "7", "text/plain", "s.txt", "created_at"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stat: output lacks %q:\n%s", want, r.stdout)
		}
	}
	objs := jsonLines(t, e.ok(nil, "stat", "--json", id).stdout)
	if len(objs) != 1 || objs[0]["id"] != id || objs[0]["size"] != float64(7) || objs[0]["created_at"] == nil {
		t.Errorf("stat --json: got %v", objs)
	}
	e.fails(1, []string{"stat " + unknownID, "not found"}, "stat", unknownID)
}

func TestLs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.ok(bytes.NewReader(nil), "put", "-"); r.stdout == "" {
		t.Fatal("put printed nothing")
	}
	want := map[string]string{}
	for i, name := range []string{"one.txt", "two.txt", "three.txt"} {
		data := []byte(strings.Repeat(name, i+1))
		want[e.put(e.file(name, data))[0]] = name
	}
	r := e.ok(nil, "ls")
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(rows) != 4 {
		t.Fatalf("ls: want 4 rows, got\n%s", r.stdout)
	}
	for id, name := range want {
		found := false
		for _, row := range rows {
			f := strings.Fields(row)
			if len(f) == 5 && f[0] == id && f[2] == "0" && f[3] == "text/plain" && f[4] == name {
				found = true
			}
		}
		if !found {
			t.Errorf("ls: no row %s SIZE 0 text/plain %s in\n%s", id, name, r.stdout)
		}
	}
	objs := jsonLines(t, e.ok(nil, "ls", "--json").stdout)
	if len(objs) != 4 {
		t.Fatalf("ls --json: want 4 objects, got %v", objs)
	}
	for _, o := range objs[1:] {
		if want[o["id"].(string)] != o["label"] {
			t.Errorf("ls --json: %v does not match what was put", o)
		}
	}
}

func TestRm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	free := e.put(e.file("free.txt", []byte("free")))[0]
	held := e.put("--session", "s1", e.file("held.txt", []byte("held")))[0]

	e.ok(nil, "rm", free)
	e.fails(1, []string{free, "not found"}, "stat", free)
	e.ok(nil, "rm", free) // removing what is absent is not an error

	r := e.fails(1, []string{"rm " + held, "referenced"}, "rm", held)
	if r.stdout != "" {
		t.Errorf("failed rm printed %q", r.stdout)
	}
	e.ok(nil, "stat", held)

	// Dropping the session's ref (the bytes stay) lets rm delete the blob.
	e.ok(nil, "rm", "--session", "s1", held)
	e.ok(nil, "stat", held)
	e.ok(nil, "rm", held)
	e.fails(1, []string{"not found"}, "get", held)
}

// TestPutSaysContentExisted: a put of content stored already keeps the
// blob's first label and media type, and says so on stderr; a session's
// ref keeps its own metadata, so a session put says nothing.
func TestPutSaysContentExisted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := pseudoRandom(2000, 23)
	id := e.put(e.file("old.png", data))[0]

	r := e.ok(nil, "put", "--label", "new.png", e.file("copy.bin", data))
	if strings.TrimSpace(r.stdout) != id {
		t.Errorf("stdout %q, want the id", r.stdout)
	}
	for _, want := range []string{"already stored", id, `label "old.png"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q does not mention %q", r.stderr, want)
		}
	}
	if strings.Count(r.stderr, "attachstore:") != 1 {
		t.Errorf("want one line with one prefix: %q", r.stderr)
	}

	r = e.ok(nil, "put", "--json", "--label", "new.png", "--type", "image/webp", e.file("copy.bin", data))
	objs := jsonLines(t, r.stdout)
	warn := jsonLines(t, r.stderr)
	if len(objs) != 1 || objs[0]["label"] != "old.png" {
		t.Errorf("put --json: %v, want the label the blob kept", objs)
	}
	if len(warn) != 1 || warn[0]["warning"] == nil || warn[0]["label"] != "old.png" || warn[0]["id"] != id ||
		!strings.Contains(warn[0]["warning"].(string), "media type") {
		t.Errorf("put --json warning: %v", warn)
	}

	// The same label again, or a session put: nothing to say.
	if r := e.ok(nil, "put", e.file("old.png", data)); r.stderr != "" {
		t.Errorf("put with the kept metadata warned: %q", r.stderr)
	}
	if r := e.ok(nil, "put", "--session", "s", "--label", "mine.png", e.file("x", data)); r.stderr != "" {
		t.Errorf("session put warned: %q", r.stderr)
	}
}

// TestLsShowsRefCounts: ls counts the refs each blob has, so that content
// no session holds (and reclaim will take) shows 0.
func TestLsShowsRefCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	free := e.put(e.file("free.txt", []byte("free")))[0]
	one := e.put("--session", "s1", e.file("one.txt", []byte("one")))[0]
	shared := e.file("two.txt", []byte("two"))
	two := e.put("--session", "s1", shared)[0]
	e.put("--session", "s2", shared)
	e.ok(nil, "commit", "--session", "s2")
	want := map[string]string{free: "0", one: "1", two: "2"}

	for _, row := range strings.Split(strings.TrimSpace(e.ok(nil, "ls").stdout), "\n") {
		f := strings.Fields(row)
		if len(f) < 3 || want[f[0]] != f[2] {
			t.Errorf("ls row %q: want refs %s in the third column", row, want[f[0]])
		}
	}
	for _, o := range jsonLines(t, e.ok(nil, "ls", "--json").stdout) {
		if n, ok := o["refs"].(float64); !ok || strconv.Itoa(int(n)) != want[o["id"].(string)] {
			t.Errorf("ls --json: %v, want refs %s", o, want[o["id"].(string)])
		}
	}
	if r := e.exec(nil, "help", "put"); !strings.Contains(r.stdout, "0 refs") || !strings.Contains(r.stdout, "reclaim") {
		t.Errorf("help put does not say that content put without a session is reclaimed:\n%s", r.stdout)
	}
}
