// Command attachstore manages an attachstore database from the shell: it
// stores files as content-addressed blobs, reads them back, shows what a
// session references, and reclaims what nothing references any more. Each
// command is a thin wrapper around calls of the attachstore library.
//
// Usage:
//
//	attachstore [--db PATH|URL] [--json] [--read-only] COMMAND [ARGS]
//
// Run 'attachstore help' for the commands, the global flags (where the
// database is), what an ID may be, the --json error kinds and the exit
// statuses, and 'attachstore help COMMAND' for one command's flags and
// output. That text is the command's documentation, kept in one place.
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
	"fmt"
	"io"
	"os"
	"os/signal"
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
		tidy(c.store)
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
