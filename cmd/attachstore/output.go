package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

func synopsis(cmd *command) string {
	s := "attachstore " + cmd.name + " [flags]"
	if cmd.args != "" {
		s += " " + cmd.args
	}
	return s
}

// printUsage prints the overview of every command.
func printUsage(w io.Writer) {
	fmt.Fprint(w, `attachstore stores attachments as content-addressed blobs, with the
manifest of which session references them, in one SQLite file (or a
PostgreSQL database).

usage: attachstore [--db PATH|URL] [--json] [--read-only] COMMAND [ARGS]
`)
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
	fmt.Fprint(w, `
put, get and rm take --session S to act through that session's manifest.
Content put without --session is held by no session: reclaim deletes it
once it is older than its --grace.

global flags (before the command or among its arguments):
  --db PATH    the database (default $ATTACHSTORE_DB, else ./attachments.db),
               or a postgres:// URL (messages never show its password, but
               ps shows the command line: put the URL in $ATTACHSTORE_DB and
               leave the password out of it, for $PGPASSWORD or ~/.pgpass);
               only put and import create it, or adopt another program's
               database (saying so on stderr)
  --json       machine output: one JSON object per line on stdout, and each
               error as one JSON object on stderr; every field a command's
               help lists is always present (null or [] when empty)
  --read-only  refuse every command that would write (exit 2); commands
               that only read always open the database read-only, never
               change it, and work on a file they cannot write

An ID is 64 hex digits (either case), optionally prefixed "sha256:", or a
unique prefix of at least 8 of them.

Every argument is processed: each one that fails, a malformed ID included,
is reported on stderr and the others still run. On a terminal, long
operations draw a progress bar on stderr.

Exit status: 0 on success; 1 when anything failed (each message names the id
or file, malformed IDs included); 2 on bad usage (unknown command or flag,
missing argument, a writing command with --read-only), when nothing is done;
130 when interrupted (Ctrl-C), 143 on SIGTERM.

Run 'attachstore help COMMAND' for a command's flags.
`)
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

// emitJSON writes v as one line of JSON.
func (c *cli) emitJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table returns a writer that lines up tab-separated columns; Flush it.
func (c *cli) table() *tabwriter.Writer {
	return tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
}

// printable quotes s when it holds characters that would break a line of
// columns (tabs, newlines, other control or invisible characters).
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return strconv.Quote(s)
		}
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

// formatBytes prints n bytes exactly, with a rounded binary size beside it
// when that is shorter to read.
func formatBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%d (%s)", n, humanBytes(n))
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// plural writes n and the noun, with an "s" unless n is 1.
func plural[N int | int64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
