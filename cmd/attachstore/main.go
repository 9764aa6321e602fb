// Command attachstore manages an attachstore database from the shell: it
// stores files as content-addressed blobs, reads them back, shows what a
// session references, and reclaims what nothing references any more. Each
// command is a thin wrapper around calls of the attachstore library.
//
// Usage:
//
//	attachstore [--db PATH] [--json] [--read-only] COMMAND [ARGS]
//
// Content:
//
//	put FILE...                   store files (- for stdin); print each id
//	get ID [-o FILE]              write a blob's bytes to stdout or FILE
//	stat ID...                    show size, media type, label, creation time
//	ls                            list every blob: id, size, refs, media type, label
//	rm ID...                      delete blobs that no session references
//
// put, get and rm take --session S to work through that session's
// manifest: put records an uncommitted ref (--owner O names its owner), get
// reads only blobs the session holds a ref to, and rm drops only the
// session's ref, leaving the bytes for reclaim. put guesses the media type
// from the file name, then the content, unless --type is given; the label is
// the file's base name unless --label is given. Content put without
// --session is referenced by no session: reclaim deletes it once it is
// older than --grace. rm of a blob that sessions hold names them.
//
// Sessions:
//
//	sessions                      list every session: refs, pending, bytes, last intent
//	refs --session S [--pending]  list a session's refs (or its pending ids)
//	commit --session S [--owner O | ID...]
//	                              commit pending refs (all, O's, or IDs); print each id
//	discard --session S --owner O forget what O put into S and did not commit
//	hold --session S --owner O (--for DURATION | --until TIME)
//	                              keep O's uncommitted refs from reclaim until then
//	drop-session S...             release every ref of each session
//	export --session S DIR        write a session's attachments and a manifest to DIR
//	import DIR                    read an exported directory back into its session
//
// Maintenance:
//
//	reclaim [--grace 24h] [--dry-run] [--batch N] [--vacuum auto|always|never] [--allow-empty-roots]
//	                              forget stale intents, delete orphans, shrink file
//	verify                        check integrity, re-hash blobs; exit 1 on a problem
//	stats                         count blobs, refs, sessions; show sizes
//	backup FILE                   write a verified copy of the store to a new FILE
//	compact                       rewrite the file without free space; enable shrinking
//
// Serving:
//
//	serve [--addr 127.0.0.1:0] [--allow-writes] [--token-file FILE]
//	                              serve attachments and the inspector page over HTTP
//
// On a terminal, long operations (a large put, get, export or import,
// reclaim, verify) draw a progress bar on stderr; nothing is drawn when
// stderr is not a terminal.
//
// The database is --db, else $ATTACHSTORE_DB, else ./attachments.db. Only
// put and import create it, or add attachstore's tables to another
// program's SQLite database (and say so on stderr); every other command
// needs an existing store. Commands that only read (get, stat, ls,
// sessions, refs, export, verify, stats, backup, reclaim --dry-run) open it
// read-only: they never change the file, work on a file they cannot write,
// and refuse a database that is not a store. --read-only refuses every
// command that would write (exit 2). --db, --json and --read-only may come
// before the command or among its arguments.
//
// An ID is 64 hexadecimal digits, optionally prefixed "sha256:", or a prefix
// of at least 8 of them that matches exactly one stored id (with --session:
// one id the session holds); an ambiguous prefix fails and lists the ids it
// matches.
//
// Every argument is processed: a command given several files, ids or
// sessions reports each one that fails on stderr, goes on with the rest, and
// exits 1 at the end.
//
// With --json, each result is one JSON object on a line of stdout (one
// report for reclaim, verify, stats and compact), and each error or warning
// is one JSON object on a line of stderr: {"error": MESSAGE, "kind": KIND,
// ...} or {"warning": MESSAGE, ...}, with the id, file, session or db it
// concerns. KIND is one of usage, not_found, ambiguous, referenced,
// corrupt, invalid_id, invalid_meta, invalid_session, too_large, read_only,
// full, schema_too_new, dirty_schema, not_a_store, no_roots,
// session_dropped, exists, no_such_file, permission, interrupted or error.
//
// Exit status: 0 on success; 1 when anything failed, with a message on
// stderr that names the id or file that failed; 2 on bad usage — an unknown
// command or flag, a missing argument, or an ID that does not parse — in
// which case nothing is done; 130 when interrupted (SIGINT, Ctrl-C) and 143
// when terminated (SIGTERM), after the store is closed cleanly.
//
// For example, an agent's turn that stages a screenshot and commits it:
//
//	id=$(attachstore put --session chat-42 --owner turn-7 screenshot.png)
//	attachstore commit --session chat-42 --owner turn-7
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
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/attachstore/attachstore"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		// The first signal cancels ctx: the running command stops at its
		// next step, rolls back what it was writing and closes the store.
		// Restoring the default lets a second signal end a command that
		// is blocked (reading a terminal, say) at once.
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		cancel(signalError{sig})
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string {
	if e.sig == syscall.SIGTERM {
		return "terminated"
	}
	return "interrupted"
}

// status is the exit status for the signal, by the shell's convention.
func (e signalError) status() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// defaultDB is the database used without --db or $ATTACHSTORE_DB.
const defaultDB = "attachments.db"

// cli is one invocation: its streams, global flags and open store.
type cli struct {
	stdin  io.Reader
	stdout *bufio.Writer
	stderr io.Writer
	getenv func(string) string
	// progress reports whether stderr is a terminal, where long commands
	// draw a progress bar.
	progress bool

	db       string
	json     bool
	readOnly bool // --read-only: refuse every command that writes

	cmd    *command // the command running
	access access   // what it does to the database: cmd.access, or less
	store  *attachstore.Store
	failed bool // an argument failed and was reported: exit 1 at the end
}

// access says what a command does to the database.
type access int

const (
	// reads: the command only reads. It needs an existing store and must
	// never change the file (no schema, no adoption of a foreign file).
	reads access = iota
	// writes: the command changes an existing store.
	writes
	// creates: the command writes, and creates the store if it is missing.
	creates
)

// command is one subcommand. setup declares the command's own flags on fs
// and returns the function that runs it with the positional arguments.
type command struct {
	name    string
	args    string
	summary string
	long    string // more help, for 'attachstore help NAME'
	access  access
	// readsWith names a boolean flag that makes a writing command one
	// that only reads (reclaim's --dry-run).
	readsWith string
	setup     func(c *cli, fs *flag.FlagSet) func(ctx context.Context, args []string) error
}

// commands lists the subcommands in the order usage shows them; group is
// the heading each group starts under.
var commands = []struct {
	group string
	cmds  []*command
}{
	{"content", []*command{putCmd, getCmd, statCmd, lsCmd, rmCmd}},
	{"sessions", []*command{sessionsCmd, refsCmd, commitCmd, discardCmd, holdCmd, dropSessionCmd, exportCmd, importCmd}},
	{"maintenance", []*command{reclaimCmd, verifyCmd, statsCmd, backupCmd, compactCmd}},
	{"serving", []*command{serveCmd}},
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

// run executes one invocation and returns its exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdin: stdin, stdout: bufio.NewWriter(stdout), stderr: stderr, getenv: getenv}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		c.progress = true
	}
	c.db = getenv("ATTACHSTORE_DB")
	if c.db == "" {
		c.db = defaultDB
	}
	c.json = jsonRequested(args)
	err := c.dispatch(ctx, args)
	if c.store != nil {
		// Close runs on every path, an interrupted one included: it is
		// what removes the -wal file.
		if cerr := c.store.Close(); cerr != nil && err == nil {
			err = c.fail("close", subject{}, cerr)
		}
	}
	if ferr := c.stdout.Flush(); ferr != nil && err == nil {
		err = &exitError{code: 1, kind: "error", msg: "writing output: " + ferr.Error()}
	}
	var sig signalError
	if (err != nil || c.failed) && errors.As(context.Cause(ctx), &sig) {
		c.printError(&exitError{code: sig.status(), kind: "interrupted", msg: sig.Error()})
		return sig.status()
	}
	if err == nil {
		if c.failed {
			return 1
		}
		return 0
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		ee = &exitError{code: 1, kind: kindOf(err), msg: cleanMsg(err.Error())}
	}
	c.printError(ee)
	if ee.code == 2 && !c.json {
		if ee.usage != nil {
			fmt.Fprintf(stderr, "usage: %s\nRun 'attachstore help %s' for details.\n", synopsis(ee.usage), ee.usage.name)
		} else {
			printUsage(stderr)
		}
	}
	return ee.code
}

// jsonRequested reports whether --json is among the flags, so that even an
// error in parsing them is reported as JSON.
func jsonRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-json", "--json", "-json=true", "--json=true":
			return true
		}
	}
	return false
}

func (c *cli) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.db, "db", c.db, "database `PATH` (default $ATTACHSTORE_DB, else ./"+defaultDB+")")
	fs.BoolVar(&c.json, "json", c.json, "machine output: one JSON object per line, errors as JSON on stderr")
	fs.BoolVar(&c.readOnly, "read-only", c.readOnly, "open the database read-only; refuse commands that write")
}

// The CLI keeps the standard flag package rather than a CLI library
// (cobra, urfave/cli): the two things flag lacks, flags after positional
// arguments and per-command help, take parseInterleaved and the commands
// table here, about a hundred lines. A library would bring a dependency
// tree to every user of the module, GNU-style flag bundling that changes
// what "-o" means, and its own usage and error formats, while the exit
// statuses, the one "attachstore: " prefix and JSON errors would still be
// ours to enforce.
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
	c.cmd = cmd
	c.access = cmd.access
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
	if f := fs.Lookup(cmd.readsWith); f != nil && f.Value.String() == "true" {
		c.access = reads
	}
	if c.readOnly && c.access != reads {
		return c.readOnlyUsage()
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

// dbName is the database as messages name it: a PostgreSQL URL without its
// password.
func (c *cli) dbName() string {
	if u, err := url.Parse(c.db); err == nil && isURL(c.db) {
		return u.Redacted()
	}
	return c.db
}

// open opens the store as the running command's access says. A command
// that reads opens it read-only: nothing in the file changes, a file that
// is not a store is refused (ErrNotAStore), and a file this process cannot
// write still opens. A command that writes needs an existing store: only
// put and import create one, or add attachstore's tables to another
// program's database, and they say so when they adopt one.
func (c *cli) open(ctx context.Context) (*attachstore.Store, error) {
	if c.access == reads || c.readOnly {
		s, err := attachstore.Open(ctx, c.db, attachstore.WithReadOnly())
		if err != nil {
			return nil, c.openFailed(err)
		}
		c.store = s
		return s, nil
	}
	if c.access == writes && c.db != attachstore.MemoryPath {
		// A command that changes a store must not turn a missing file, or
		// another program's database, into one: a read-only look first
		// changes nothing. Any other failure is left to the writable open,
		// which says why it cannot write.
		probe, err := attachstore.Open(ctx, c.db, attachstore.WithReadOnly())
		if err == nil {
			probe.Close()
		} else if errors.Is(err, fs.ErrNotExist) || errors.Is(err, attachstore.ErrNotAStore) {
			return nil, c.openFailed(err)
		}
	}
	s, err := attachstore.Open(ctx, c.db)
	if err != nil {
		return nil, c.openFailed(err)
	}
	c.store = s
	if s.Origin() == attachstore.AdoptedFile {
		c.warn(subject{"db", c.dbName()}, map[string]any{"origin": s.Origin().String()},
			"%s: %s was not an attachstore store: attachstore's tables were added beside its own", c.cmd.name, c.dbName())
	}
	return s, nil
}

// openFailed is the message for a store that did not open.
func (c *cli) openFailed(err error) error {
	subj := subject{"db", c.dbName()}
	switch {
	case errors.Is(err, attachstore.ErrNotAStore):
		return &exitError{code: 1, kind: "not_a_store", subj: subj, cause: err,
			msg: fmt.Sprintf("open %s: not an attachstore store; nothing was changed (only put and import add attachstore's tables to another program's database)", c.dbName())}
	case errors.Is(err, fs.ErrNotExist):
		return &exitError{code: 1, kind: "no_such_file", subj: subj, cause: err,
			msg: fmt.Sprintf("open %s: no such database (put creates one; choose another with --db or $ATTACHSTORE_DB)", c.dbName())}
	case errors.Is(err, attachstore.ErrReadOnly) && !c.readOnly && c.access != reads:
		hint := "commands that only read work on it"
		if c.cmd.readsWith != "" {
			hint = fmt.Sprintf("%s --%s only reads", c.cmd.name, c.cmd.readsWith)
		}
		return &exitError{code: 1, kind: "read_only", subj: subj, cause: err,
			msg: fmt.Sprintf("open %s: cannot write the database (%s), and %s changes it; %s, and --read-only keeps any command from writing",
				c.dbName(), readOnlyReason(err), c.cmd.name, hint)}
	}
	return c.fail("open", subj, err)
}

// readOnlyReason is why the system refused to let the database be
// written, as the library found it ("permission denied", say).
func readOnlyReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	for _, e := range []error{fs.ErrPermission, syscall.EROFS} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "not writable"
}

// readOnlyUsage is the error for a command that writes, run with
// --read-only: it is refused before it does anything.
func (c *cli) readOnlyUsage() error {
	if c.cmd.readsWith != "" {
		return usageErr(c.cmd, "%s changes the store; with --read-only, give --%s", c.cmd.name, c.cmd.readsWith)
	}
	return usageErr(c.cmd, "%s changes the store; it cannot run with --read-only", c.cmd.name)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// isURL reports whether the database is named by a URL (a PostgreSQL
// server's) rather than a file path: it goes to Open untouched, and no
// file-only check (stat, absolute path, file mode) applies to it.
func isURL(db string) bool {
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if len(db) >= len(scheme) && strings.EqualFold(db[:len(scheme)], scheme) {
			return true
		}
	}
	return false
}
