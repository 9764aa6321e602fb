package main

import (
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestPackageDocDefersToHelp: the package doc repeats no part of the help
// but the synopsis, which must be the help's own, and every command it
// shows in its example is one the table has. The per-command lines it
// used to carry drifted from the summaries; a command list in it fails.
func TestPackageDocDefersToHelp(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil {
		t.Fatal("main.go has no package doc")
	}
	doc := f.Doc.Text()
	if !strings.Contains(doc, "\n\t"+usageLine+"\n") {
		t.Errorf("the package doc's synopsis is not the help's %q:\n%s", usageLine, doc)
	}
	if !strings.Contains(doc, "'attachstore help'") {
		t.Errorf("the package doc does not point to 'attachstore help':\n%s", doc)
	}
	// Its code lines: the synopsis and the example.
	for _, m := range regexp.MustCompile(`(?m)^\t.*?attachstore ([a-z][a-z-]*)`).FindAllStringSubmatch(doc, -1) {
		if lookup(m[1]) == nil {
			t.Errorf("the package doc shows %q, which is no command", m[0])
		}
	}
	for _, g := range commands {
		for _, cmd := range g.cmds {
			if strings.Contains(doc, cmd.summary) || strings.Contains(doc, "\n\t"+cmd.name+" ") {
				t.Errorf("the package doc lists %s: the help does, from the command table", cmd.name)
			}
		}
	}
}

// TestHelpListsTheCommandsThatOnlyRead: the commands the overview says
// only read are exactly those --read-only lets run, each as the list
// writes it (reclaim with --dry-run).
func TestHelpListsTheCommandsThatOnlyRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(e.file("a.txt", []byte("a")))
	usage := strings.Join(strings.Fields(e.exec(nil, "help").stdout), " ")
	_, rest, ok := strings.Cut(usage, "Commands that only read (")
	list, _, ok2 := strings.Cut(rest, ")")
	if !ok || !ok2 {
		t.Fatalf("help does not say which commands only read:\n%s", usage)
	}
	listed := strings.Split(list, ", ")
	for _, g := range commands {
		for _, cmd := range g.cmds {
			if cmd == serveCmd {
				continue // it serves until interrupted; serve_test.go holds --read-only to it
			}
			for _, args := range [][]string{{cmd.name}, {cmd.name, "--" + cmd.readsWith}} {
				if cmd.readsWith == "" && len(args) == 2 {
					continue
				}
				r := e.run(nil, append([]string{"--read-only"}, args...)...)
				refused := strings.Contains(r.stderr, "changes the store")
				if says := slices.Contains(listed, strings.Join(args, " ")); says == refused {
					t.Errorf("help lists %q among the commands that only read: %v; --read-only %s: %v", args, says, strings.Join(args, " "), r)
				}
			}
		}
	}
}
