package main

import (
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Key sets of the --json vocabulary, by what an object describes.
var (
	refKeys   = []string{"id", "size", "media_type", "label", "extra", "created_at"}
	entryKeys = append([]string{"session", "owner", "intent_at", "committed", "committed_at"}, refKeys...)
)

func keys(ks ...[]string) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k...)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// TestJSONVocabulary holds every command's --json output to one
// vocabulary: each object a command prints has exactly the keys listed
// here, whatever its values (a field is never left out because it is
// false, empty or not applicable), and an error object has only "error",
// "kind" and the keys naming what failed. A key that is missing, extra, or
// a second name for a concept fails the test.
func TestJSONVocabulary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// An empty label and no extra on one side, values on the other.
	plain := e.put("--session", "s", "--label", "", e.file("a.bin", []byte("plain")))[0]
	e.put("--session", "s", "--owner", "turn", e.file("b.txt", []byte("owned")))
	free := e.put(e.file("free.txt", []byte("free")))[0]
	e.ok(nil, "commit", "--session", "s", plain)

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"put", []string{"put", e.file("c.txt", []byte("c"))}, keys([]string{"file"}, refKeys)},
		{"put --session", []string{"put", "--session", "s", e.file("d.txt", []byte("d"))}, keys([]string{"file"}, refKeys)},
		{"get -o", []string{"get", plain, "-o", filepath.Join(e.dir, "out")}, keys([]string{"file"}, refKeys)},
		{"stat", []string{"stat", plain, free}, keys(refKeys)},
		{"ls", []string{"ls"}, keys(refKeys, []string{"refs"})},
		{"sessions", []string{"sessions"}, keys([]string{"session", "refs", "pending", "bytes", "last_intent_at"})},
		{"refs", []string{"refs", "--session", "s"}, keys(entryKeys)},
		{"refs --pending", []string{"refs", "--session", "s", "--pending"}, keys([]string{"session", "id"})},
		{"hold", []string{"hold", "--session", "s", "--owner", "turn", "--for", "1h"}, keys([]string{"session", "owner", "until"})},
		{"export", []string{"export", "--session", "s", filepath.Join(e.dir, "exp")}, keys([]string{"file"}, entryKeys)},
		{"import", []string{"import", "--session", "imp", filepath.Join(e.dir, "exp")}, keys([]string{"file", "session", "committed"}, refKeys)},
		{"commit --owner", []string{"commit", "--session", "s", "--owner", "turn"}, keys([]string{"session", "owner", "id", "committed"})},
		{"commit", []string{"commit", "--session", "s"}, keys([]string{"session", "owner", "id", "committed"})},
		{"commit ID", []string{"commit", "--session", "s", plain}, keys([]string{"session", "owner", "id", "committed"})},
		{"discard", []string{"discard", "--session", "imp", "--owner", ""}, keys([]string{"session", "owner", "id", "discarded"})},
		{"rm", []string{"rm", free, unknownID}, keys([]string{"id", "session", "removed"})},
		{"rm --session", []string{"rm", "--session", "s", plain, unknownID}, keys([]string{"id", "session", "removed"})},
		{"drop-session", []string{"drop-session", "imp", "never"}, keys([]string{"session", "dropped", "existed"})},
		{"stats", []string{"stats"}, keys([]string{"blobs", "refs", "sessions", "uncommitted_refs", "blob_bytes", "file_bytes", "checkpoint_failures"})},
		{"verify", []string{"verify"}, keys([]string{"ok", "checked_blobs", "checked_bytes", "corrupt", "problems"})},
		{"reclaim --dry-run", []string{"reclaim", "--dry-run"}, keys(reclaimKeys)},
		{"reclaim", []string{"reclaim"}, keys(reclaimKeys)},
		{"backup", []string{"backup", filepath.Join(e.dir, "backup.db")}, keys([]string{"db", "backup", "file_bytes"})},
		{"compact", []string{"compact"}, keys([]string{"file_bytes_before", "file_bytes_after"})},
		{"repair", []string{"repair", e.file("again.txt", []byte("owned"))}, keys([]string{"file", "id"})},
	}
	seen := map[string]bool{} // every key any command printed
	for _, tt := range tests {
		r := e.run(nil, append([]string{"--json"}, tt.args...)...)
		objs := jsonLines(t, r.stdout)
		if len(objs) == 0 {
			t.Errorf("%s --json printed no object:\n%v", tt.name, r)
			continue
		}
		for _, o := range objs {
			var got []string
			for k := range o {
				got = append(got, k)
				seen[k] = true
			}
			sort.Strings(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s --json: keys %v\nwant %v\n(object %v)", tt.name, got, tt.want, o)
			}
		}
	}
	// One name per concept, across commands.
	for synonym, name := range map[string]string{
		"session_id": "session", "sessionId": "session", "blob_id": "id", "ID": "id", "mediaType": "media_type",
		"content_type": "media_type", "name": "label", "path": "file", "database": "db",
	} {
		if seen[synonym] {
			t.Errorf("a command prints %q: the vocabulary's name for it is %q", synonym, name)
		}
	}

	// Errors: "error", "kind" and what failed, nothing else (a refused
	// reclaim carries no report).
	errKeys := []string{"error", "kind", "id", "file", "session", "db", "candidates", "sessions", "more_sessions"}
	empty := newEnv(t)
	empty.put(empty.file("x", []byte("x")))
	for _, tt := range []struct {
		e    *cliEnv
		args []string
	}{
		{empty, []string{"reclaim", "--grace", "0"}},
		{e, []string{"stat", unknownID, "zz"}},
		{e, []string{"get", "--session", "nobody", plain}},
		{e, []string{"put", "missing.txt"}},
		{e, []string{"--db", e.dir, "ls"}},
		{e, []string{"commit", "--session", "imp"}},
	} {
		r := tt.e.run(nil, append([]string{"--json"}, tt.args...)...)
		objs := jsonLines(t, r.stderr)
		if r.code == 0 || len(objs) == 0 {
			t.Errorf("%v: want a failure with JSON errors, got\n%v", tt.args, r)
		}
		for _, o := range objs {
			if _, ok := o["warning"]; ok {
				continue
			}
			for k := range o {
				if !slices.Contains(errKeys, k) {
					t.Errorf("%v: error object has %q: %v", tt.args, k, o)
				}
			}
			if o["error"] == nil || o["kind"] == nil {
				t.Errorf("%v: error object lacks error or kind: %v", tt.args, o)
			}
		}
	}
}

var reclaimKeys = []string{"dry_run", "expired_intents", "cleared_tombstones", "reclaimed_blobs",
	"reclaimed_bytes", "returned_bytes", "free_bytes", "needs_compact"}

// TestJSONVocabularyInHelp: each key TestJSONVocabulary expects is named
// in the help of the command that prints it, so the help's field lists
// stay the real ones.
func TestJSONVocabularyInHelp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for cmd, ks := range map[string][]string{
		"put": keys([]string{"file"}, refKeys), "get": keys([]string{"file"}, refKeys), "stat": refKeys,
		"ls": keys(refKeys, []string{"refs"}), "refs": entryKeys, "rm": {"id", "session", "removed"},
		"commit": {"session", "owner", "id", "committed"}, "discard": {"session", "owner", "id", "discarded"},
		"hold": {"session", "owner", "until"}, "drop-session": {"session", "dropped", "existed"},
		"sessions": {"session", "refs", "pending", "bytes", "last_intent_at"}, "reclaim": reclaimKeys,
		"verify": {"ok", "checked_blobs", "checked_bytes", "corrupt", "problems"},
		"stats":  {"blobs", "refs", "sessions", "uncommitted_refs", "blob_bytes", "file_bytes"},
		"backup": {"db", "backup", "file_bytes"}, "export": keys([]string{"file"}, entryKeys),
		"import": keys([]string{"file", "session", "committed"}, refKeys),
		"repair": {"file", "id"},
	} {
		help := e.exec(nil, "help", cmd).stdout
		for _, k := range ks {
			if !strings.Contains(help, k) {
				t.Errorf("help %s does not name the --json field %q", cmd, k)
			}
		}
		if strings.Contains(help, "session_id") {
			t.Errorf("help %s names session_id; the vocabulary's name is session", cmd)
		}
	}
}
