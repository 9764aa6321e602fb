package main

import (
	"flag"
	"strings"
)

// The CLI keeps the standard flag package rather than a CLI library
// (cobra, urfave/cli): the two things flag lacks, flags after positional
// arguments and per-command help, take parseInterleaved and the commands
// table, about a hundred lines. A library would bring a dependency tree to
// every user of the module, GNU-style flag bundling that changes what "-o"
// means, and its own usage and error formats, while the exit statuses, the
// one "attachstore: " prefix and JSON errors would still be ours to
// enforce.

// defaultDB is the database used without --db or $ATTACHSTORE_DB.
const defaultDB = "attachments.db"

// globalFlags declares the flags every command takes, before the command
// or among its arguments.
func (c *cli) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.db, "db", c.db, "database `PATH` (default $ATTACHSTORE_DB, else ./"+defaultDB+")")
	fs.BoolVar(&c.json, "json", c.json, "machine output: one JSON object per line, errors as JSON on stderr")
	fs.BoolVar(&c.readOnly, "read-only", c.readOnly, "open the database read-only; refuse commands that write")
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
