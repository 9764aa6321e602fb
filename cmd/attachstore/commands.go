package main

import (
	"context"
	"errors"
	"flag"
	"io"
)

// command is one subcommand. setup declares the command's own flags on fs
// and returns the function that runs it with the positional arguments.
// Its name, args and summary make its line in 'attachstore help', its
// synopsis and the first line of 'attachstore help NAME': they are written
// nowhere else.
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

// commands lists the subcommands in the order usage shows them; group is
// the heading each group starts under. A new command is one entry here:
// help, dispatch and the README test all read this table.
var commands = []struct {
	group string
	cmds  []*command
}{
	{"content", []*command{putCmd, getCmd, statCmd, lsCmd, rmCmd}},
	{"sessions", []*command{sessionsCmd, refsCmd, commitCmd, discardCmd, holdCmd, dropSessionCmd, exportCmd, importCmd}},
	{"maintenance", []*command{reclaimCmd, verifyCmd, repairCmd, statsCmd, backupCmd, compactCmd}},
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

// dispatch parses the global flags, finds the command, parses its flags
// (which may sit among its arguments) and runs it. Bad usage of any kind
// is refused before the command touches the database.
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

// readOnlyUsage is the error for a command that writes, run with
// --read-only: it is refused before it does anything.
func (c *cli) readOnlyUsage() error {
	if c.cmd.readsWith != "" {
		return usageErr(c.cmd, "%s changes the store; with --read-only, give --%s", c.cmd.name, c.cmd.readsWith)
	}
	return usageErr(c.cmd, "%s changes the store; it cannot run with --read-only", c.cmd.name)
}
