// Command attachstore manages an attachstore database from the shell: it
// stores files as content-addressed blobs, reads them back, shows what a
// session references, and reclaims what nothing references any more. Each
// command is a thin wrapper around one call of the attachstore library.
//
// Usage:
//
//	attachstore [--db PATH] [--json] COMMAND [ARGS]
//
// Content:
//
//	put FILE...                   store files (- for stdin); print each id
//	get ID [-o FILE]              write a blob's bytes to stdout or FILE
//	stat ID...                    show size, media type, label, creation time
//	ls                            list every blob: id, size, media type, label
//	rm ID...                      delete blobs that no session references
//
// put, get and rm take --session S to work through that session's
// manifest: put records an uncommitted ref (--owner O names its owner), get
// reads only blobs the session holds a ref to, and rm drops only the
// session's ref, leaving the bytes for reclaim. put guesses the media type
// from the file name, then the content, unless --type is given; the label is
// the file's base name unless --label is given.
//
// Sessions:
//
//	commit --session S [ID...]    commit a session's pending refs (all, or IDs)
//	refs --session S [--pending]  list a session's refs (or its pending ids)
//	drop-session S                release every ref of session S
//
// Maintenance:
//
//	reclaim [--grace 24h] [--dry-run] [--batch N] [--vacuum auto|always|never]
//	                              forget stale intents, delete orphans, shrink file
//	verify                        check integrity, re-hash blobs; exit 1 on a problem
//	stats                         count blobs, refs, sessions; show sizes
//
// On a terminal, long operations (a large put or get, reclaim, verify) draw
// a progress bar on stderr; nothing is drawn when stderr is not a terminal.
//
// The database is --db, else $ATTACHSTORE_DB, else ./attachments.db. Only
// put creates it; every other command needs an existing database. --db and
// --json may come before the command or among its arguments. --json prints
// one JSON object per line (one report for reclaim, verify and stats).
//
// An ID is 64 hexadecimal digits, optionally prefixed "sha256:".
//
// Exit status: 0 on success; 1 on an error, with a message on stderr that
// names the id or file that failed; 2 on bad usage — an unknown command or
// flag, a missing argument, or an ID that does not parse.
//
// For example, an agent's turn that stages a screenshot and commits it:
//
//	id=$(attachstore put --session chat-42 --owner turn-7 screenshot.png)
//	attachstore commit --session chat-42 "$id"
//	attachstore get --session chat-42 "$id" -o copy.png
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/attachstore/attachstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal cancels ctx, which rolls back a put and stops a
		// reclaim between batches; restoring the default lets a second
		// signal end a command blocked reading a terminal.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// defaultDB is the database used without --db or $ATTACHSTORE_DB.
const defaultDB = "attachments.db"

// cli is one invocation: its streams, global flags and open store.
type cli struct {
	stdin  io.Reader
	stdout *bufio.Writer
	stderr io.Writer
	// progress reports whether stderr is a terminal, where long commands
	// draw a progress bar.
	progress bool

	db   string
	json bool

	store *attachstore.Store
}

// command is one subcommand. setup declares the command's own flags on fs
// and returns the function that runs it with the positional arguments.
type command struct {
	name    string
	args    string
	summary string
	long    string // more help, for 'attachstore help NAME'
	setup   func(c *cli, fs *flag.FlagSet) func(ctx context.Context, args []string) error
}

// commands lists the subcommands in the order usage shows them; group is
// the heading each group starts under.
var commands = []struct {
	group string
	cmds  []*command
}{
	{"content", []*command{putCmd, getCmd, statCmd, lsCmd, rmCmd}},
	{"sessions", []*command{commitCmd, refsCmd, dropSessionCmd}},
	{"maintenance", []*command{reclaimCmd, verifyCmd, statsCmd}},
}

func lookup(name string) *command {
	for _, g := range commands {
		for _, c := range g.cmds {
			if c.name == name {
				return c
			}
		}
	}
	return nil
}

// exitError carries an exit status and the message printed for it.
type exitError struct {
	code  int
	msg   string
	usage *command // for code 2: whose usage to print (nil: the global one)
}

func (e *exitError) Error() string { return e.msg }

// usageErr is bad usage of cmd: exit status 2.
func usageErr(cmd *command, format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...), usage: cmd}
}

// badUsage is bad usage of the running command (dispatch names it).
func badUsage(format string, args ...any) error {
	return usageErr(nil, format, args...)
}

// run executes one invocation and returns its exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdin: stdin, stdout: bufio.NewWriter(stdout), stderr: stderr}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		c.progress = true
	}
	c.db = getenv("ATTACHSTORE_DB")
	if c.db == "" {
		c.db = defaultDB
	}
	err := c.dispatch(ctx, args)
	if c.store != nil {
		if cerr := c.store.Close(); cerr != nil && err == nil {
			err = c.fail("close", c.db, cerr)
		}
	}
	if ferr := c.stdout.Flush(); ferr != nil && err == nil {
		err = &exitError{code: 1, msg: "writing output: " + ferr.Error()}
	}
	if err == nil {
		return 0
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		ee = &exitError{code: 1, msg: cleanMsg(err.Error())}
	}
	name := "attachstore"
	if ee.usage != nil && !strings.HasPrefix(ee.msg, ee.usage.name+" ") {
		name += " " + ee.usage.name
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, ee.msg)
	if ee.code == 2 {
		if ee.usage != nil {
			fmt.Fprintf(stderr, "usage: %s\nRun 'attachstore help %s' for details.\n", synopsis(ee.usage), ee.usage.name)
		} else {
			printUsage(stderr)
		}
	}
	return ee.code
}

func (c *cli) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.db, "db", c.db, "database `PATH` (default $ATTACHSTORE_DB, else ./"+defaultDB+")")
	fs.BoolVar(&c.json, "json", c.json, "machine output: one JSON object per line")
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	gfs := flag.NewFlagSet("attachstore", flag.ContinueOnError)
	gfs.SetOutput(io.Discard)
	c.globalFlags(gfs)
	if err := gfs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(c.stdout)
			return nil
		}
		return usageErr(nil, "%v", err)
	}
	rest := gfs.Args()
	if len(rest) == 0 {
		return usageErr(nil, "no command given")
	}
	if rest[0] == "help" {
		return c.help(rest[1:])
	}
	cmd := lookup(rest[0])
	if cmd == nil {
		return usageErr(nil, "unknown command %q", rest[0])
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.globalFlags(fs)
	runCmd := cmd.setup(c, fs)
	pos, err := parseInterleaved(fs, rest[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandUsage(c.stdout, cmd, fs)
			return nil
		}
		return usageErr(cmd, "%v", err)
	}
	if c.db == "" {
		return usageErr(cmd, "--db is empty")
	}
	err = runCmd(ctx, pos)
	var ee *exitError
	if errors.As(err, &ee) && ee.code == 2 && ee.usage == nil {
		ee.usage = cmd
	}
	return err
}

// help prints the usage, or one command's usage.
func (c *cli) help(args []string) error {
	switch len(args) {
	case 0:
		printUsage(c.stdout)
		return nil
	case 1:
		cmd := lookup(args[0])
		if cmd == nil {
			return usageErr(nil, "help: unknown command %q", args[0])
		}
		fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		c.globalFlags(fs)
		cmd.setup(c, fs)
		printCommandUsage(c.stdout, cmd, fs)
		return nil
	}
	return usageErr(nil, "help takes at most one command")
}

// parseInterleaved parses flags that come before, between or after the
// positional arguments, which the flag package alone stops at; "--" ends
// the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		used := len(args) - len(rest)
		if used > 0 && args[used-1] == "--" && !isFlagValue(fs, args, used-1) {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// isFlagValue reports whether args[i] was consumed as the value of the flag
// before it (as in "--session --").
func isFlagValue(fs *flag.FlagSet, args []string, i int) bool {
	if i == 0 {
		return false
	}
	name, ok := strings.CutPrefix(args[i-1], "-")
	if !ok || strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(strings.TrimPrefix(name, "-"))
	if f == nil {
		return false
	}
	b, isBool := f.Value.(interface{ IsBoolFlag() bool })
	return !isBool || !b.IsBoolFlag()
}

// open opens the store. Only put creates a database: for every other
// command a missing file is an error rather than a new empty database.
func (c *cli) open(ctx context.Context, create bool) (*attachstore.Store, error) {
	if !create && c.db != attachstore.MemoryPath {
		if _, err := os.Stat(c.db); errors.Is(err, fs.ErrNotExist) {
			return nil, &exitError{code: 1, msg: fmt.Sprintf("open %s: no such database (put creates one; choose another with --db or $ATTACHSTORE_DB)", c.db)}
		}
	}
	s, err := attachstore.Open(ctx, c.db)
	if err != nil {
		return nil, c.fail("open", c.db, err)
	}
	c.store = s
	return s, nil
}

// parseIDs parses ids; one that does not parse is bad usage.
func parseIDs(args []string) ([]attachstore.ID, error) {
	ids := make([]attachstore.ID, 0, len(args))
	for _, a := range args {
		id, err := attachstore.ParseID(a)
		if err != nil {
			return nil, badUsage("malformed id %q: want 64 hex digits, optionally prefixed \"sha256:\"", truncate(a, 80))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// fail turns a library error into the message printed for it: the
// operation and the id or file it failed on, then the cause. Invalid
// session ids are bad usage (exit 2); everything else exits 1.
func (c *cli) fail(op, subject string, err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	code := 1
	if errors.Is(err, attachstore.ErrInvalidSession) {
		code = 2
	}
	head := op
	if subject != "" {
		head += " " + subject
	}
	cause := cleanMsg(err.Error())
	// The library often names the operation and id itself; say them once.
	var kept []string
	for _, part := range strings.Split(cause, ": ") {
		if part == op || part == subject || (subject != "" && strings.HasSuffix(part, " "+subject) && !strings.Contains(part, `"`)) {
			continue
		}
		kept = append(kept, part)
	}
	if len(kept) > 0 {
		head += ": " + strings.Join(kept, ": ")
	}
	return &exitError{code: code, msg: head}
}

// cleanMsg drops the "attachstore: " prefixes that each wrapping layer of a
// library error adds; the CLI prints its own once.
func cleanMsg(s string) string {
	return strings.ReplaceAll(s, "attachstore: ", "")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
