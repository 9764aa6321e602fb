package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/attachstore/attachstore"
)

// exitError is a failure: its exit status and the message printed for it.
// A command returns one to stop; it reports one (cli.report) to go on with
// its other arguments.
type exitError struct {
	code    int
	kind    string         // for --json: what went wrong, e.g. "not_found"
	msg     string         // without the "attachstore: " prefix
	subj    subject        // what failed, for --json
	details map[string]any // more fields for --json (candidates, …)
	usage   *command       // for code 2: whose usage to print (nil: the global one)
	cause   error
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) Unwrap() error { return e.cause }

// subject is what an operation worked on: an id, a file or a session. Its
// field is the JSON key that names it, in results and errors alike.
type subject struct {
	field string // "id", "file", "session", "db" or "" for none
	name  string
}

func idSubj(s string) subject      { return subject{"id", s} }
func fileSubj(s string) subject    { return subject{"file", s} }
func sessionSubj(s string) subject { return subject{"session", s} }

// String is how a message names the subject.
func (s subject) String() string {
	switch s.field {
	case "file":
		if s.name == "-" {
			return "stdin"
		}
		return s.name
	case "session":
		return fmt.Sprintf("session %q", truncate(s.name, 80))
	}
	return truncate(s.name, 80)
}

// usageErr is bad usage of cmd: exit status 2.
func usageErr(cmd *command, format string, args ...any) error {
	return &exitError{code: 2, kind: "usage", msg: fmt.Sprintf(format, args...), usage: cmd}
}

// badUsage is bad usage of the running command (dispatch names it).
func badUsage(format string, args ...any) error {
	return usageErr(nil, format, args...)
}

// fail turns an error into the message printed for it: the operation and
// the id or file it failed on, then the cause. Invalid session ids are bad
// usage (exit 2); everything else exits 1.
func (c *cli) fail(op string, subj subject, err error) error {
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
	if name := subj.String(); name != "" {
		head += " " + name
	}
	msg := cause(err)
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == subj.name {
		msg = pe.Err.Error() // head names the file
	}
	if errors.Is(err, attachstore.ErrSessionDropped) {
		// What matters is the session (which head, or within, names) and
		// what to do about it.
		msg = droppedMsg
		var w *wrapError
		if errors.As(err, &w) {
			msg = w.what + ": " + droppedMsg
		}
	}
	out := &exitError{code: code, kind: kindOf(err), msg: head + ": " + msg, subj: subj, cause: err}
	var amb *ambiguousError
	if errors.As(err, &amb) {
		out.details = map[string]any{"candidates": amb.ids}
	}
	return out
}

// droppedMsg explains ErrSessionDropped.
const droppedMsg = "session was dropped (drop-session); it takes no puts, commits or holds " +
	"until reclaim clears it, --grace after the drop"

// report prints a failure of one argument and lets the command go on with
// the others; the command exits 1 at the end. An error that is not an
// *exitError (output failing, say) is not one argument's: report returns
// it, and the command stops.
func (c *cli) report(err error) error {
	var ee *exitError
	if !errors.As(err, &ee) {
		return err
	}
	c.failed = true
	c.printError(ee)
	return nil
}

// each runs fn for every argument, reporting each failure and going on;
// the command then exits 1. An interrupt stops it, and so does bad usage
// (exit 2: an invalid --session, say, would fail every argument alike).
func (c *cli) each(ctx context.Context, n int, fn func(i int) error) error {
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(i); err != nil {
			var ee *exitError
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.As(err, &ee) && ee.code == 2:
				return err
			}
			if err := c.report(err); err != nil {
				return err
			}
		}
	}
	return nil
}

// printError writes ee on stderr: "attachstore: MESSAGE", or one JSON
// object under --json. Results already printed are flushed first, so that
// on a terminal each error follows the results before it.
func (c *cli) printError(ee *exitError) {
	c.stdout.Flush()
	if c.json {
		obj := map[string]any{"error": ee.msg, "kind": ee.kind}
		if ee.subj.field != "" {
			obj[ee.subj.field] = ee.subj.name
		}
		for k, v := range ee.details {
			obj[k] = v
		}
		c.stderrJSON(obj)
		return
	}
	name := "attachstore"
	if ee.usage != nil && !strings.HasPrefix(ee.msg, ee.usage.name+" ") {
		name += " " + ee.usage.name
	}
	fmt.Fprintf(c.stderr, "%s: %s\n", name, ee.msg)
}

// warn prints a notice about one argument that did not fail: text, or
// {"warning": MESSAGE, ...} under --json.
func (c *cli) warn(subj subject, details map[string]any, format string, args ...any) {
	c.stdout.Flush()
	msg := fmt.Sprintf(format, args...)
	if c.json {
		obj := map[string]any{"warning": msg}
		if subj.field != "" {
			obj[subj.field] = subj.name
		}
		for k, v := range details {
			obj[k] = v
		}
		c.stderrJSON(obj)
		return
	}
	fmt.Fprintf(c.stderr, "attachstore: %s\n", msg)
}

func (c *cli) stderrJSON(v any) {
	enc := json.NewEncoder(c.stderr)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// kinds names each error's kind for --json, in the order kindOf tries
// them; the help's list of kinds is made from it.
var kinds = []struct {
	name string
	is   error
}{
	{"interrupted", context.Canceled},
	{"not_found", attachstore.ErrNotFound},
	{"referenced", attachstore.ErrReferenced},
	{"corrupt", attachstore.ErrCorrupt},
	{"invalid_id", attachstore.ErrInvalidID},
	{"invalid_meta", attachstore.ErrInvalidMeta},
	{"invalid_session", attachstore.ErrInvalidSession},
	{"too_large", attachstore.ErrTooLarge},
	{"read_only", attachstore.ErrReadOnly},
	{"full", attachstore.ErrFull},
	{"schema_too_new", attachstore.ErrSchemaTooNew},
	{"dirty_schema", attachstore.ErrDirtySchema},
	{"not_a_store", attachstore.ErrNotAStore},
	{"no_roots", attachstore.ErrNoRoots},
	{"rowids_may_change", attachstore.ErrRowidsMayChange},
	{"session_dropped", attachstore.ErrSessionDropped},
	{"exists", fs.ErrExist},
	{"no_such_file", fs.ErrNotExist},
	{"permission", fs.ErrPermission},
}

// kindOf names the kind of an error for --json: "usage" is bad usage's
// alone, "ambiguous" an ID prefix that matches several ids, then the
// first of kinds the error matches, else "error".
func kindOf(err error) string {
	var amb *ambiguousError
	if errors.As(err, &amb) {
		return "ambiguous"
	}
	for _, k := range kinds {
		if errors.Is(err, k.is) {
			return k.name
		}
	}
	return "error"
}

// cleanMsg drops the "attachstore: " prefix a library error starts with;
// the CLI prints its own once.
func cleanMsg(s string) string {
	return strings.TrimPrefix(s, "attachstore: ")
}

// cause is what err says after the operation it names: a library error
// names its operation and the id or session it worked on ("get ID: not
// found"), which the CLI's message (fail's head, within) names its own
// way.
func cause(err error) string {
	msg := cleanMsg(err.Error())
	if u := errors.Unwrap(err); u != nil && msg != err.Error() {
		if c := cleanMsg(u.Error()); strings.HasSuffix(msg, ": "+c) {
			return c
		}
	}
	return msg
}

// within puts what an error concerns (a session, say) before its cause,
// keeping the error reachable.
func within(what string, err error) error {
	return &wrapError{what: what, err: err}
}

// inSession is within the session sess, if one is given.
func inSession(sess string, err error) error {
	if sess == "" {
		return err
	}
	return within(sessionSubj(sess).String(), err)
}

type wrapError struct {
	what string
	err  error
}

func (e *wrapError) Error() string { return e.what + ": " + cause(e.err) }
func (e *wrapError) Unwrap() error { return e.err }

// corruptError is bytes that do not hash to the id they were read or
// imported under. It matches attachstore.ErrCorrupt.
type corruptError struct{ msg string }

func (e *corruptError) Error() string { return e.msg }
func (e *corruptError) Unwrap() error { return attachstore.ErrCorrupt }

// kindError is a message of the CLI's own that matches a sentinel (for
// errors.Is and --json's kind) without repeating the sentinel's text.
type kindError struct {
	msg string
	is  error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.is }
