package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// binary is the attachstore command built once for every test.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "attachstore-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "attachstore")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building attachstore: %v\n%s", err, out)
		return 1
	}
	if code := m.Run(); code != 0 {
		return code
	}
	return checkNoSchemaLeft()
}

// result is what one run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
}

// cliEnv runs the binary in a temporary working directory against a
// temporary database, with $ATTACHSTORE_DB unset unless a test sets it.
type cliEnv struct {
	t    *testing.T
	dir  string // working directory
	db   string // passed as --db by run; "" passes none
	vars []string
	attr *syscall.SysProcAttr // how the binary is started (as whom); nil: as the test
}

func newEnv(t *testing.T) *cliEnv {
	t.Helper()
	dir := t.TempDir()
	return &cliEnv{t: t, dir: dir, db: filepath.Join(dir, "test.db")}
}

// run runs attachstore --db DB args... with stdin (nil: empty).
func (e *cliEnv) run(stdin io.Reader, args ...string) result {
	e.t.Helper()
	if e.db != "" {
		args = append([]string{"--db", e.db}, args...)
	}
	return e.exec(stdin, args...)
}

// exec runs attachstore args... exactly as given.
func (e *cliEnv) exec(stdin io.Reader, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = e.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATTACHSTORE_DB=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, e.vars...)
	cmd.Stdin = stdin
	cmd.SysProcAttr = e.attr
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("running %v: %v", args, err)
	}
	return r
}

// ok runs args and fails the test unless the command exits 0.
func (e *cliEnv) ok(stdin io.Reader, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("attachstore %s: want exit 0, got\n%v", strings.Join(args, " "), r)
	}
	return r
}

// fails runs args and checks the exit status and that stderr holds every
// one of want.
func (e *cliEnv) fails(code int, want []string, args ...string) result {
	e.t.Helper()
	r := e.run(nil, args...)
	if r.code != code {
		e.t.Fatalf("attachstore %s: want exit %d, got\n%v", strings.Join(args, " "), code, r)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			e.t.Errorf("attachstore %s: stderr %q does not mention %q", strings.Join(args, " "), r.stderr, w)
		}
	}
	return r
}

// file writes data to name in the working directory and returns its path.
func (e *cliEnv) file(name string, data []byte) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// put stores files and returns their ids.
func (e *cliEnv) put(args ...string) []string {
	e.t.Helper()
	return lines(e.ok(nil, append([]string{"put"}, args...)...).stdout)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lines(s string) []string {
	return strings.Fields(strings.TrimSpace(s))
}

func sha(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// jsonLines decodes each line of s into a map.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// pseudoRandom returns n reproducible bytes that do not compress or repeat.
func pseudoRandom(n int, seed byte) []byte {
	out := make([]byte, 0, n+sha256.Size)
	block := sha256.Sum256([]byte{seed})
	for len(out) < n {
		out = append(out, block[:]...)
		block = sha256.Sum256(block[:])
	}
	return out[:n]
}

const unknownID = "0000000000000000000000000000000000000000000000000000000000000000"

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(e.file("a.txt", []byte("a")))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"NoCommand", nil, "no command"},
		{"UnknownCommand", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"UnknownGlobalFlag", []string{"--nope", "ls"}, "-nope"},
		{"UnknownFlag", []string{"ls", "--nope"}, "-nope"},
		{"MalformedFlagValue", []string{"reclaim", "--grace", "soon"}, "grace"},
		{"PutNoFile", []string{"put"}, "no FILE"},
		{"PutStdinTwice", []string{"put", "-", "-"}, "more than once"},
		{"PutBadType", []string{"put", "--type", "nonsense", "a.txt"}, "--type"},
		{"PutOwnerWithoutSession", []string{"put", "--owner", "o", "a.txt"}, "--owner needs --session"},
		{"PutEmptySession", []string{"put", "--session", "", "a.txt"}, "--session"},
		{"GetNoID", []string{"get"}, "want one ID"},
		{"GetTwoIDs", []string{"get", unknownID, unknownID}, "want one ID"},
		{"LsArgs", []string{"ls", "x"}, "no arguments"},
		{"CommitNoSession", []string{"commit"}, "--session"},
		{"RefsNoSession", []string{"refs"}, "--session"},
		{"DropSessionNoArg", []string{"drop-session"}, "session id"},
		{"InvalidSessionID", []string{"refs", "--session", strings.Repeat("s", 300)}, "session"},
		{"ReclaimNegativeGrace", []string{"reclaim", "--grace", "-1h"}, "negative"},
		{"ReclaimZeroBatch", []string{"reclaim", "--batch", "0"}, "--batch"},
		{"VerifyArgs", []string{"verify", "x"}, "no arguments"},
		{"EmptyDB", []string{"--db", "", "ls"}, "--db"},
		{"CommitOwnerWithIDs", []string{"commit", "--session", "s", "--owner", "o", unknownID}, "no IDs"},
		{"DiscardNoOwner", []string{"discard", "--session", "s"}, "--owner"},
		{"DiscardArgs", []string{"discard", "--session", "s", "--owner", "o", "x"}, "no arguments"},
		{"HoldNoTime", []string{"hold", "--session", "s", "--owner", "o"}, "--for"},
		{"SessionsArgs", []string{"sessions", "x"}, "no arguments"},
		{"BackupNoFile", []string{"backup"}, "one FILE"},
		{"BackupStdout", []string{"backup", "-"}, "not stdout"},
		{"CompactArgs", []string{"compact", "x"}, "no arguments"},
		{"WriteWithReadOnly", []string{"--read-only", "drop-session", "s"}, "--read-only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := *e
			e.t = t
			r := e.fails(2, []string{tt.want, "usage"}, tt.args...)
			if r.stdout != "" {
				t.Errorf("bad usage printed to stdout: %q", r.stdout)
			}
		})
	}
}

// TestMalformedIDFailsAlone: a malformed id fails as one argument (exit
// 1, never bad usage), and a good id beside it is still processed.
func TestMalformedIDFailsAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.put(e.file("a.txt", []byte("remove me")))[0]
	for _, bad := range []string{"3fa", strings.Repeat("z", 64), "sha256:12", "not-an-id"} {
		r := e.fails(1, []string{"malformed id"}, "stat", bad)
		if strings.Contains(r.stderr, "usage") {
			t.Errorf("stat %s: a malformed id is reported as bad usage:\n%v", bad, r)
		}
	}
	e.fails(1, []string{"malformed id"}, "rm", id, "not-an-id")
	e.fails(1, []string{"not found"}, "stat", id)
}

func TestHelp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	commandNames := []string{"put", "get", "stat", "ls", "rm", "sessions", "refs", "commit", "discard", "hold", "drop-session",
		"export", "import", "reclaim", "verify", "stats", "backup", "compact"}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		r := e.exec(nil, args...)
		if r.code != 0 {
			t.Fatalf("%v: want exit 0, got\n%v", args, r)
		}
		for _, name := range commandNames {
			if !strings.Contains(r.stdout, "\n  "+name+" ") {
				t.Errorf("%v: usage does not list %q:\n%s", args, name, r.stdout)
			}
		}
		for _, want := range []string{"--db", "--json", "--read-only", "ATTACHSTORE_DB", "attachments.db", "Exit status", "malformed ID included"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%v: usage does not mention %q", args, want)
			}
		}
	}
	for _, args := range [][]string{{"help", "put"}, {"put", "-h"}, {"put", "--help"}} {
		r := e.exec(nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "usage: attachstore put") || !strings.Contains(r.stdout, "--session") {
			t.Errorf("%v: want put's usage, got\n%v", args, r)
		}
	}
	e.fails(2, []string{`unknown command "nope"`}, "help", "nope")
}

func TestDBFromFlagEnvAndDefault(t *testing.T) {
	t.Parallel()
	t.Run("FlagBeforeOrAfterCommand", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.db = ""
		f := e.file("a.txt", []byte("flags anywhere"))
		for i, args := range [][]string{
			{"--db", "one.db", "put", f},
			{"put", "--db", "two.db", f},
			{"put", f, "--db", "three.db"},
			{"put", "--db=four.db", "--json", f},
		} {
			e.ok(nil, args...)
			name := []string{"one.db", "two.db", "three.db", "four.db"}[i]
			if _, err := os.Stat(filepath.Join(e.dir, name)); err != nil {
				t.Errorf("%v: no database %s: %v", args, name, err)
			}
		}
		if _, err := os.Stat(filepath.Join(e.dir, defaultDB)); err == nil {
			t.Errorf("--db was given, yet %s was created", defaultDB)
		}
	})
	t.Run("Env", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.db = ""
		envDB := filepath.Join(e.dir, "from-env.db")
		e.vars = []string{"ATTACHSTORE_DB=" + envDB}
		id := e.put(e.file("a.txt", []byte("env")))[0]
		if _, err := os.Stat(envDB); err != nil {
			t.Fatalf("$ATTACHSTORE_DB not used: %v", err)
		}
		e.ok(nil, "stat", id)
		// --db wins over the environment.
		e.fails(1, []string{"other.db"}, "--db", "other.db", "stat", id)
	})
	t.Run("Default", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.db = ""
		id := e.put("-")
		if _, err := os.Stat(filepath.Join(e.dir, "attachments.db")); err != nil {
			t.Fatalf("default ./attachments.db not created: %v", err)
		}
		e.ok(nil, "stat", id[0])
	})
}

func TestMissingDatabaseIsNotCreated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, args := range [][]string{{"ls"}, {"stat", unknownID}, {"get", unknownID}, {"stats"}, {"verify"}, {"reclaim"},
		{"reclaim", "--dry-run"}, {"drop-session", "s"}, {"sessions"}, {"refs", "--session", "s"}, {"rm", unknownID},
		{"commit", "--session", "s"}, {"discard", "--session", "s", "--owner", "o"},
		{"hold", "--session", "s", "--owner", "o", "--for", "1h"}, {"backup", filepath.Join(e.dir, "b.db")}, {"compact"}} {
		e.fails(1, []string{e.db, "no such database"}, args...)
	}
	if _, err := os.Stat(e.db); err == nil {
		t.Fatal("a read command created the database")
	}
}

func TestNotADatabaseNamesTheFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.file("garbage.db", pseudoRandom(8192, 13))
	e.db = "garbage.db"
	r := e.fails(1, []string{"open garbage.db", "not an attachstore database"}, "ls")
	if strings.Contains(r.stderr, e.dir) {
		t.Errorf("message shows the absolute path rather than the one given: %q", r.stderr)
	}
}

func TestDocExampleWorks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	png := append([]byte("\x89PNG\r\n\x1a\n"), pseudoRandom(5000, 14)...)
	e.file("screenshot.png", png)
	id := strings.TrimSpace(e.ok(nil, "put", "--session", "chat-42", "--owner", "turn-7", "screenshot.png").stdout)
	if got := strings.TrimSpace(e.ok(nil, "commit", "--session", "chat-42", "--owner", "turn-7").stdout); got != id {
		t.Errorf("commit --owner turn-7 printed %q, want %s", got, id)
	}
	e.ok(nil, "get", "--session", "chat-42", id, "-o", "copy.png")
	got, err := os.ReadFile(filepath.Join(e.dir, "copy.png"))
	if err != nil || !bytes.Equal(got, png) {
		t.Fatalf("copy.png: %d bytes, %v", len(got), err)
	}
}

// TestHelpMatchesFlags: each command's help lists the flags it takes, the
// way its synopsis writes them (-o FILE, --session S), and every flag the
// synopsis shows is one the command accepts.
func TestHelpMatchesFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	flagRE := regexp.MustCompile(`(^|[\s\[])(--?[a-z][a-z-]*)`)
	for _, g := range commands {
		for _, cmd := range g.cmds {
			r := e.exec(nil, "help", cmd.name)
			if r.code != 0 {
				t.Fatalf("help %s: %v", cmd.name, r)
			}
			_, flagsPart, ok := strings.Cut(r.stdout, "\nflags:\n")
			if !ok {
				t.Fatalf("help %s has no flags section:\n%s", cmd.name, r.stdout)
			}
			listed := map[string]bool{}
			for _, l := range strings.Split(flagsPart, "\n") {
				if f := strings.Fields(l); len(f) > 0 {
					listed[f[0]] = true
					name := strings.TrimLeft(f[0], "-")
					if (len(name) == 1) != (f[0] == "-"+name) {
						t.Errorf("help %s lists %s: one-letter flags take one dash, others two", cmd.name, f[0])
					}
				}
			}
			for _, m := range flagRE.FindAllStringSubmatch(synopsis(cmd), -1) {
				if !listed[m[2]] {
					t.Errorf("help %s: the synopsis shows %s, which the flags do not list (%v)", cmd.name, m[2], listed)
				}
			}
		}
	}
	if r := e.exec(nil, "help", "get"); !strings.Contains(r.stdout, "  -o FILE") || strings.Contains(r.stdout, "--o") {
		t.Errorf("help get should list -o FILE:\n%s", r.stdout)
	}
}

// TestOnePrefixPerMessage: every message on stderr carries the
// "attachstore:" prefix once, however many library layers wrapped it.
func TestOnePrefixPerMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	held := e.put("--session", "s", e.file("h", []byte("held")))[0]
	garbage := e.file("garbage.db", pseudoRandom(8192, 24))
	host := e.hostFile("host.db", "wal")
	e.ok(nil, "drop-session", "dropped")
	noRoots := filepath.Join(e.dir, "noroots.db")
	e.ok(nil, "put", "--db", noRoots, e.file("n", []byte("n")))
	for _, args := range [][]string{
		{"get", unknownID},
		{"get", "--session", "s", unknownID},
		{"stat", unknownID},
		{"rm", held},
		{"commit", "--session", "s", unknownID},
		{"put", "missing.txt"},
		{"get", held, "-o", e.dir},
		{"--db", garbage, "ls"},
		{"--db", filepath.Join(e.dir, "none.db"), "ls"},
		{"--db", host, "ls"},
		{"--db", host, "rm", held},
		{"backup", e.db},
		{"reclaim", "--grace", "0", "--db", noRoots},
		{"put", "--session", "dropped", e.file("d", []byte("d"))},
		{"commit", "--session", "dropped", "--owner", "o"},
		{"hold", "--session", "dropped", "--owner", "o", "--for", "1h"},
	} {
		r := e.run(nil, args...)
		if r.code == 0 {
			t.Errorf("%v: want a failure, got %v", args, r)
			continue
		}
		for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			if n := strings.Count(l, "attachstore:"); strings.HasPrefix(l, "attachstore") && n != 1 {
				t.Errorf("%v: %q has the prefix %d times", args, l, n)
			}
		}
	}
}

// TestReadmeListsEveryCommandAndFlag: the README's CLI section names every
// command and every flag there is.
func TestReadmeListsEveryCommandAndFlag(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## The CLI\n")
	if !ok {
		t.Fatal("README.md has no \"## The CLI\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	c := &cli{}
	for _, g := range commands {
		for _, cmd := range g.cmds {
			if !strings.Contains(section, "attachstore "+cmd.name+" ") && !strings.Contains(section, "| "+cmd.name) {
				t.Errorf("README's CLI section does not show the command %s", cmd.name)
			}
			fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
			c.globalFlags(fs)
			cmd.setup(c, fs)
			fs.VisitAll(func(f *flag.Flag) {
				dash := "--"
				if len(f.Name) == 1 {
					dash = "-"
				}
				if !strings.Contains(section, dash+f.Name) {
					t.Errorf("README's CLI section does not show %s's flag %s%s", cmd.name, dash, f.Name)
				}
			})
		}
	}
}
