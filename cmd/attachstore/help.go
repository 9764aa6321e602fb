package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// The help text is the CLI's one description of itself: the overview
// below, and each command's name, args, summary and long help in the
// commands table. The package doc points here rather than repeating it,
// and what the overview says about commands (which ones only read, which
// ones create a store) is computed from the table.

// usageLine is the synopsis of every invocation.
const usageLine = "attachstore [--db PATH|URL] [--json] [--read-only] COMMAND [ARGS]"

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

// synopsis is how one command is invoked, as its help and its usage
// errors show it.
func synopsis(cmd *command) string {
	s := "attachstore " + cmd.name + " [flags]"
	if cmd.args != "" {
		s += " " + cmd.args
	}
	return s
}

// printUsage prints the overview of every command.
func printUsage(w io.Writer) {
	fmt.Fprintf(w, `attachstore stores attachments as content-addressed blobs, with the
manifest of which session references them, in one SQLite file (or a
PostgreSQL database).

usage: %s
`, usageLine)
	const col = 30
	for _, g := range commands {
		fmt.Fprintf(w, "\n%s:\n", g.group)
		for _, c := range g.cmds {
			use := strings.TrimSpace(c.name + " " + c.args)
			if len(use) > col-2 {
				fmt.Fprintf(w, "  %s\n  %-*s %s\n", use, col-2, "", c.summary)
			} else {
				fmt.Fprintf(w, "  %-*s %s\n", col-2, use, c.summary)
			}
		}
	}
	fmt.Fprintf(w, `
put, get and rm take --session S to act through that session's manifest.
Content put without --session is held by no session: reclaim deletes it
once it is older than its --grace.

global flags (before the command or among its arguments):
  --db PATH    the database (default $ATTACHSTORE_DB, else ./%s),
               or a postgres:// or postgresql:// URL, in any letter case
               (messages never show its password, but ps shows the command
               line: put the URL in $ATTACHSTORE_DB and leave the password
               out of it, for $PGPASSWORD or ~/.pgpass)
  --json       machine output: one JSON object per line on stdout, and each
               error as one JSON object on stderr; every field a command's
               help lists is always present ("", null or [] when empty)
  --read-only  refuse every command that would write (exit 2)

%s

An ID is 64 hex digits (either case), optionally prefixed "sha256:", or a
prefix of at least 8 of them that matches exactly one stored id (with
--session: one id the session holds); an ambiguous prefix fails and lists
the ids it matches.

Every argument is processed: each one that fails, a malformed ID included,
is reported on stderr and the others still run. On a terminal, long
operations draw a progress bar on stderr.

With --json, each error or warning is one JSON object on a line of stderr,
{"error": MESSAGE, "kind": KIND, ...} or {"warning": MESSAGE, ...}, with the
id, file, session or db it concerns.
%s

Exit status: 0 on success; 1 when anything failed (each message names the id
or file, malformed IDs included); 2 on bad usage (unknown command or flag,
missing argument, a writing command with --read-only), when nothing is done;
130 when interrupted (Ctrl-C), 143 on SIGTERM, after the store is closed
cleanly.

Run 'attachstore help COMMAND' for a command's flags and output.
`, defaultDB, accessText(), kindsText())
}

// accessText says which commands create a store and which only read,
// from the table.
func accessText() string {
	var creators, readers []string
	for _, g := range commands {
		for _, c := range g.cmds {
			switch {
			case c.access == creates:
				creators = append(creators, c.name)
			case c.access == reads:
				readers = append(readers, c.name)
			case c.readsWith != "":
				// A writing command that a flag turns into a reading one
				// is listed as a user runs it, kept on one line.
				readers = append(readers, c.name+"\x00--"+c.readsWith)
			}
		}
	}
	return wrap("Only "+andList(creators)+" create the database, or add attachstore's tables to "+
		"another program's SQLite database (and say so on stderr); every other command needs an "+
		"existing store.", 72) + "\n\n" +
		strings.ReplaceAll(wrap("Commands that only read ("+strings.Join(readers, ", ")+") open the database read-only: "+
			"they never change the file, work on a file they cannot write, and refuse a database that "+
			"is not a store.", 72), "\x00", " ")
}

// kindsText lists the kinds an error may have under --json, from the
// table kindOf reads.
func kindsText() string {
	names := []string{"usage", "ambiguous"}
	for _, k := range kinds {
		names = append(names, k.name)
	}
	return wrap("KIND is one of "+strings.Join(names, ", ")+" or error.", 72)
}

// andList joins names as a sentence does: "a, b and c".
func andList(names []string) string {
	if n := len(names); n > 1 {
		return strings.Join(names[:n-1], ", ") + " and " + names[n-1]
	}
	return strings.Join(names, "")
}

// wrap breaks s into lines of at most width bytes, at spaces.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(s) {
		switch {
		case n == 0:
		case n+1+len(word) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// printCommandUsage prints one command's synopsis, description and flags.
func printCommandUsage(w io.Writer, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", synopsis(cmd), cmd.summary)
	if cmd.long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.long))
	}
	fmt.Fprintln(w, "\nflags:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-" // as synopses and the Unix habit write it: -o FILE
		}
		fmt.Fprintf(tw, "  %s%s %s\t%s", dash, f.Name, name, usage)
		switch f.Name {
		case "db", "json", "read-only":
		default:
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				fmt.Fprintf(tw, " (default %s)", f.DefValue)
			}
		}
		fmt.Fprintln(tw)
	})
	tw.Flush()
}
