package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/attachstore/attachstore"
)

var putCmd = &command{
	name:    "put",
	args:    "FILE...",
	summary: "store files (- for stdin); print each id",
	access:  creates,
	long: `
Each file's label is its base name (none for stdin) unless --label is given;
its media type is --type, else guessed from the file name's extension, else
from its first bytes. Parameters such as "; charset=utf-8" are dropped: the
store keeps a bare type/subtype. Input that is not a regular file (stdin
from a pipe, say) is first copied to a temporary file, so that the database
is not held locked while a slow producer writes.

Content is stored once: a put of bytes already stored keeps the metadata of
their first put, and put says so on stderr when that label or media type
differs from this one's (a session's ref keeps its own).

Without --session, the content is referenced by no session ('ls' shows it
with 0 refs): 'reclaim' deletes it once it is older than reclaim's --grace
(24h by default). To keep it, put it with --session S and 'commit --session
S'.

With --session S, each file is stored together with an uncommitted ref of
session S, in one transaction; 'commit --session S' commits it. --json
prints one object per file: file, id, size, media_type, label, extra (null
when none), created_at.
Every file is tried: a file that cannot be read or stored is reported and
the others are still stored; the exit status is then 1.`,
	setup: setupPut,
}

func setupPut(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	typ := fs.String("type", "", "media `TYPE` of every file (default: guessed)")
	label := fs.String("label", "", "`LABEL` of every file (default: each file's base name)")
	session := fs.String("session", "", "store through `SESSION`, recording an uncommitted ref")
	owner := fs.String("owner", "", "with --session: the refs' `OWNER` (e.g. a turn id)")
	return func(ctx context.Context, args []string) error {
		if len(args) == 0 {
			return badUsage("no FILE given (use - for stdin)")
		}
		stdin := 0
		for _, a := range args {
			if a == "-" {
				stdin++
			}
		}
		if stdin > 1 {
			return badUsage("- (stdin) given more than once")
		}
		sess, err := sessionFlag(fs, *session, false)
		if err != nil {
			return err
		}
		if *owner != "" && sess == "" {
			return badUsage("--owner needs --session")
		}
		mediaType := ""
		if *typ != "" {
			if mediaType = bareType(*typ); mediaType == "" {
				return badUsage("--type %q: want a media type such as text/plain", *typ)
			}
		}
		if err := (attachstore.Meta{MediaType: mediaType, Label: *label}).Validate(); err != nil {
			return badUsage("%s", cleanMsg(err.Error()))
		}
		labelSet := isSet(fs, "label")

		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		put := s.PutReader
		if sess != "" {
			put = s.Session(sess).WithOwner(*owner).PutReader
		}
		return c.each(ctx, len(args), func(i int) error {
			name := args[i]
			ref, asked, err := c.putFile(ctx, put, name, mediaType, *label, labelSet)
			if err != nil {
				return c.fail("put", fileSubj(name), inSession(sess, err))
			}
			if sess == "" && (ref.Label != asked.Label || ref.MediaType != asked.MediaType) {
				c.warnExisted(name, ref, asked)
			}
			if c.json {
				return c.emitJSON(struct {
					File string `json:"file"`
					refJSON
				}{name, refOut(ref)})
			}
			_, err = fmt.Fprintln(c.stdout, ref.ID)
			return err
		})
	}
}

// warnExisted says that a put found its content stored already, under
// other metadata, which the blob keeps.
func (c *cli) warnExisted(name string, ref attachstore.Ref, asked attachstore.Meta) {
	kept := "no label"
	if ref.Label != "" {
		kept = fmt.Sprintf("its label %q", ref.Label)
	}
	if ref.MediaType != asked.MediaType {
		kept += " and media type " + ref.MediaType
	}
	c.warn(fileSubj(name), map[string]any{"id": ref.ID, "label": ref.Label, "media_type": ref.MediaType},
		"put %s: content already stored as %s; it keeps %s (put it with --session to give a session's ref its own)",
		fileSubj(name), ref.ID, kept)
}

type putFunc func(context.Context, io.Reader, attachstore.Meta) (attachstore.Ref, error)

// putFile stores one input through put, streaming it, and returns the Ref
// and the metadata it asked for.
func (c *cli) putFile(ctx context.Context, put putFunc, name, mediaType, label string, labelSet bool) (attachstore.Ref, attachstore.Meta, error) {
	in, size, closeIn, err := c.openInput(ctx, name)
	if err != nil {
		return attachstore.Ref{}, attachstore.Meta{}, err
	}
	defer closeIn()
	b := c.newByteBar(size, "put "+fileSubj(name).String())
	defer b.done()
	lctx, in, stop := streamCtx(ctx, b.reader(in))
	defer stop()
	br := bufio.NewReader(in)
	if mediaType == "" && name != "-" {
		mediaType = bareType(mime.TypeByExtension(filepath.Ext(name)))
	}
	if mediaType == "" {
		head, err := br.Peek(512)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return attachstore.Ref{}, attachstore.Meta{}, err
		}
		mediaType = bareType(http.DetectContentType(head))
	}
	if !labelSet && name != "-" {
		label = fileLabel(name)
	}
	meta := attachstore.Meta{MediaType: mediaType, Label: label}
	ref, err := put(lctx, br, meta)
	return ref, meta, err
}

// streamGrace is how long after an interrupt a streaming library call may
// still run before its own context ends; see streamCtx.
const streamGrace = 2 * time.Second

// streamCtx returns the context for a library call that streams r, and r
// made to fail once ctx ends. An interrupt thus stops the input, and the
// library rolls the put back as for any input that fails; the call's own
// context ends streamGrace later, only to stop one that is still waiting
// (for another writer's lock, say). Ending the library's context in the
// middle of a write statement instead leaves the database's -wal file
// behind after Close, which an interrupted put must not.
func streamCtx(ctx context.Context, r io.Reader) (context.Context, io.Reader, func()) {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(streamGrace, cancel) })
	return lctx, ctxReader{ctx, r}, func() {
		stop()
		cancel()
	}
}

// openInput opens a file, or stdin for "-", and returns its size (-1 when
// unknown). Input that is not a regular file is spooled to a temporary
// file first, because PutReader holds the write transaction while it
// reads: a slow pipe would block every other writer of the database
// meanwhile.
func (c *cli) openInput(ctx context.Context, name string) (io.Reader, int64, func(), error) {
	var f *os.File
	if name == "-" {
		sf, ok := c.stdin.(*os.File)
		if !ok {
			return c.spool(ctx, c.stdin)
		}
		f = sf
	} else {
		var err error
		if f, err = os.Open(name); err != nil {
			return nil, 0, nil, err
		}
	}
	closeF := func() {
		if name != "-" {
			f.Close()
		}
	}
	fi, err := f.Stat()
	if err != nil {
		closeF()
		return nil, 0, nil, err
	}
	switch {
	case fi.IsDir():
		closeF()
		return nil, 0, nil, errors.New("is a directory")
	case fi.Mode().IsRegular():
		size := fi.Size()
		if name == "-" {
			// stdin may be a file read part-way already.
			if off, err := f.Seek(0, io.SeekCurrent); err == nil {
				size -= off
			}
		}
		return f, size, closeF, nil
	}
	defer closeF()
	return c.spool(ctx, f)
}

// spool copies r to a temporary file and returns it rewound, with its size.
func (c *cli) spool(ctx context.Context, r io.Reader) (io.Reader, int64, func(), error) {
	tmp, err := os.CreateTemp("", "attachstore-put-*")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("spooling input: %w", err)
	}
	cleanup := func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	b := c.newBar(-1, true, "reading stdin")
	n, err := io.Copy(b.writer(tmp), ctxReader{ctx, r})
	b.done()
	if err != nil {
		cleanup()
		return nil, 0, nil, fmt.Errorf("reading input: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, 0, nil, err
	}
	return tmp, n, cleanup, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// bareType returns the lowercased type/subtype of a media type, without
// parameters, or "" when s is not one.
func bareType(s string) string {
	mt, _, err := mime.ParseMediaType(s)
	if err != nil || !strings.Contains(mt, "/") {
		return ""
	}
	if (attachstore.Meta{MediaType: mt}).Validate() != nil {
		return ""
	}
	return mt
}

// fileLabel is the label a file gets by default: its base name, made valid
// UTF-8 and cut to the store's limit.
func fileLabel(name string) string {
	l := strings.ToValidUTF8(filepath.Base(name), "\uFFFD")
	l = strings.ReplaceAll(l, "\x00", "")
	for len(l) > attachstore.MaxLabelBytes {
		_, size := utf8.DecodeLastRuneInString(l)
		l = l[:len(l)-size]
	}
	return l
}

var getCmd = &command{
	name:    "get",
	args:    "ID [-o FILE]",
	summary: "write a blob's bytes to stdout or FILE",
	access:  reads,
	long: `
get hashes the bytes as it writes them and fails (exit 1, kind "corrupt")
when they do not hash to the id. With -o FILE they go to a temporary file
(mode 0600) in FILE's directory, which is renamed to FILE only once all the
bytes are there and their hash matches: FILE then holds either what it held
before or the whole, verified blob, never a part or corrupt bytes.

FILE is checked before anything is read: a directory, a missing directory,
or the database itself is refused. An existing FILE is replaced only if you
could write it (as cp would refuse a file it cannot open for writing), and
keeps its permission bits; a symbolic link is replaced, not followed. A FILE
that is not a regular file (a device such as /dev/null, a FIFO) is written
in place. Without -o, or with -o -, the bytes go to stdout, and a hash that
does not match is reported after them.

With --session S only a blob that session holds a ref to is read, and an ID
prefix is resolved among that session's ids; any other id is "not found",
even when the bytes are stored. --json prints, for -o, one object: file,
id, size, media_type, label, extra (null when none), created_at.`,
	setup: setupGet,
}

func setupGet(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	out := fs.String("o", "", "write to `FILE` instead of stdout")
	session := fs.String("session", "", "read through `SESSION`: only blobs it holds a ref to")
	return func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return badUsage("want one ID, got %d arguments", len(args))
		}
		ids := parseIDArgs(args)
		sess, err := sessionFlag(fs, *session, false)
		if err != nil {
			return err
		}
		if c.allMalformed(ids) {
			return nil
		}
		var target *outTarget
		if *out != "" && *out != "-" {
			if target, err = checkOutput(*out, c.db); err != nil {
				return c.fail("get", idSubj(args[0]), err)
			}
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		rs, err := c.resolveFor(ctx, s, sess, ids)
		if err != nil {
			return err
		}
		if rs[0].err != nil {
			return c.fail("get", idSubj(args[0]), rs[0].err)
		}
		id := rs[0].id
		var r *attachstore.Reader
		if sess != "" {
			r, err = s.Session(sess).NewReader(ctx, id)
		} else {
			r, err = s.NewReader(ctx, id)
		}
		if err != nil {
			return c.fail("get", idSubj(id.String()), inSession(sess, err))
		}
		defer r.Close()
		b := c.newByteBar(r.Ref().Size, "get "+truncate(id.String(), 12))
		if target == nil {
			_, err = verifiedCopy(b.writer(c.stdout), r, id, r.Ref().Size)
			b.done()
			var ce *corruptError
			if errors.As(err, &ce) {
				err = &corruptError{ce.msg + " (the bytes were written to stdout)"}
			}
			return c.fail("get", idSubj(id.String()), err)
		}
		err = target.write(b, r, id, r.Ref().Size)
		b.done()
		if err != nil {
			return c.fail("get", idSubj(id.String()), err)
		}
		if c.json {
			return c.emitJSON(struct {
				File string `json:"file"`
				refJSON
			}{*out, refOut(r.Ref())})
		}
		return nil
	}
}

var statCmd = &command{
	name:    "stat",
	args:    "ID...",
	summary: "show size, media type, label, creation time",
	access:  reads,
	long: `
Each ID is looked up on its own: one that is not found (or is an ambiguous
prefix) is reported on stderr and the others are still shown; the exit
status is then 1. --json prints one object per id found: id, size,
media_type, label, extra, created_at.`,
	setup: setupStat,
}

func setupStat(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) == 0 {
			return badUsage("no ID given")
		}
		ids := parseIDArgs(args)
		if c.allMalformed(ids) {
			return nil
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		rs, err := c.resolveFor(ctx, s, "", ids)
		if err != nil {
			return err
		}
		shown := 0
		return c.each(ctx, len(rs), func(i int) error {
			if rs[i].err != nil {
				return c.fail("stat", idSubj(rs[i].arg.arg), rs[i].err)
			}
			ref, err := s.Stat(ctx, rs[i].id)
			if err != nil {
				return c.fail("stat", idSubj(rs[i].id.String()), err)
			}
			if c.json {
				return c.emitJSON(refOut(ref))
			}
			if shown++; shown > 1 {
				fmt.Fprintln(c.stdout)
			}
			tw := c.table()
			fmt.Fprintf(tw, "id\t%s\n", ref.ID)
			fmt.Fprintf(tw, "size\t%s\n", formatBytes(ref.Size))
			fmt.Fprintf(tw, "media_type\t%s\n", ref.MediaType)
			fmt.Fprintf(tw, "label\t%s\n", orDash(printable(ref.Label)))
			fmt.Fprintf(tw, "created_at\t%s\n", formatTime(ref.CreatedAt))
			if len(ref.Extra) > 0 {
				fmt.Fprintf(tw, "extra\t%s\n", ref.Extra)
			}
			return tw.Flush()
		})
	}
}

var lsCmd = &command{
	name:    "ls",
	summary: "list every blob: id, size, refs, media type, label",
	access:  reads,
	long: `
One line per blob, oldest first: its id, size in bytes, how many refs
sessions hold to it (committed refs and uncommitted intents, as 'refs' and
'sessions' count them), media type and label. A blob with 0 refs is held
by nothing: 'reclaim' deletes it once it is older than its --grace, which
is what becomes of content put without --session. 'rm ID' names the
sessions that hold a blob. --json prints one object per blob: id, size,
media_type, label, extra, created_at, refs.`,
	setup: setupLs,
}

func setupLs(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) != 0 {
			return badUsage("ls takes no arguments")
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		tw := c.table()
		for ref, err := range s.List(ctx) {
			if err != nil {
				tw.Flush()
				return c.fail("ls", subject{}, err)
			}
			// One indexed look-up per blob: the library has no listing
			// with counts. A blob deleted since List read it has none.
			es, err := s.RefsTo(ctx, ref.ID)
			if err != nil {
				tw.Flush()
				return c.fail("ls", idSubj(ref.ID.String()), err)
			}
			if c.json {
				err = c.emitJSON(struct {
					refJSON
					Refs int `json:"refs"`
				}{refOut(ref), len(es)})
			} else {
				_, err = fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", ref.ID, ref.Size, len(es), ref.MediaType, printable(ref.Label))
			}
			if err != nil {
				return err
			}
		}
		return tw.Flush()
	}
}

var rmCmd = &command{
	name:    "rm",
	args:    "ID...",
	summary: "delete unreferenced blobs (--session S: S's refs)",
	access:  writes,
	long: `
Without --session, rm deletes the blobs; a blob that any session still
references is refused and stays. Removing an id that is not stored is not
an error. With --session S, rm drops only session S's refs (an ID prefix is
resolved among that session's ids); the bytes stay until no ref is left and
'reclaim' collects them.

Every ID is tried: one that is refused, malformed or an unknown prefix is
reported on stderr and the others are still removed; the exit status is
then 1. --json prints one object per id: {"id": ..., "session": S or null,
"removed": B}, where removed is false when there was nothing to remove (the
blob is not stored, or session S holds no ref to it).`,
	setup: setupRm,
}

func setupRm(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	session := fs.String("session", "", "drop only `SESSION`'s refs to the ids")
	return func(ctx context.Context, args []string) error {
		if len(args) == 0 {
			return badUsage("no ID given")
		}
		ids := parseIDArgs(args)
		sess, err := sessionFlag(fs, *session, false)
		if err != nil {
			return err
		}
		if c.allMalformed(ids) {
			return nil
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		rs, err := c.resolveFor(ctx, s, sess, ids)
		if err != nil {
			return err
		}
		return c.each(ctx, len(rs), func(i int) error {
			if rs[i].err != nil {
				return c.fail("rm", idSubj(rs[i].arg.arg), rs[i].err)
			}
			id := rs[i].id
			removed, err := remove(ctx, s, sess, id)
			if errors.Is(err, attachstore.ErrReferenced) {
				return c.referenced(ctx, s, id, err)
			}
			if err != nil {
				return c.fail("rm", idSubj(id.String()), inSession(sess, err))
			}
			if c.json {
				return c.emitJSON(struct {
					ID      attachstore.ID `json:"id"`
					Session *string        `json:"session"`
					Removed bool           `json:"removed"`
				}{id, optional(sess != "", sess), removed})
			}
			return nil
		})
	}
}

// maxHolders is how many sessions rm names for a blob it may not delete.
const maxHolders = 10

// referenced is rm's refusal of a blob that sessions hold: it names them
// (Store.RefsTo), and how to let go of it.
func (c *cli) referenced(ctx context.Context, s *attachstore.Store, id attachstore.ID, cause error) error {
	ee := &exitError{code: 1, kind: "referenced", subj: idSubj(id.String()), cause: cause}
	es, err := s.RefsTo(ctx, id)
	if err != nil || len(es) == 0 {
		// Who held it could not be read, or let go of it meanwhile.
		ee.msg = fmt.Sprintf("rm %s: referenced by a session (drop the refs first: 'rm --session S %s' or 'drop-session S')", id, id)
		return ee
	}
	type holder struct {
		committed bool
		owners    []string // of uncommitted intents
	}
	var order []string
	held := map[string]*holder{}
	for _, e := range es {
		h := held[e.SessionID]
		if h == nil {
			h = &holder{}
			held[e.SessionID] = h
			order = append(order, e.SessionID)
		}
		if e.Committed() {
			h.committed = true
		} else {
			h.owners = append(h.owners, e.Owner)
		}
	}
	var names []string
	for _, sid := range order[:min(len(order), maxHolders)] {
		h := held[sid]
		var state []string
		if h.committed {
			state = append(state, "committed")
		}
		for _, o := range h.owners {
			if o == "" {
				state = append(state, "pending")
			} else {
				state = append(state, fmt.Sprintf("pending for owner %q", truncate(o, 80)))
			}
		}
		names = append(names, fmt.Sprintf("%s (%s)", sessionSubj(sid), strings.Join(state, ", ")))
	}
	list := strings.Join(names, ", ")
	if more := len(order) - len(names); more > 0 {
		list += fmt.Sprintf(" and %s", plural(more, "more session"))
	}
	first := order[0]
	arg := first
	if printable(first) != first || strings.ContainsAny(first, " '\"$`\\") {
		arg = "S"
	}
	ee.msg = fmt.Sprintf("rm %s: referenced by %s; drop the refs first: 'rm --session %s %s' or 'drop-session %s'",
		id, list, arg, id, arg)
	ee.details = map[string]any{"sessions": order[:len(names)], "more_sessions": len(order) - len(names)}
	return ee
}

// isSet reports whether the flag was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// sessionFlag returns the --session value. Absent when required is bad
// usage; given but empty is an invalid session id (ErrInvalidSession, as
// the library says of it), which is bad usage too (exit 2).
func sessionFlag(fs *flag.FlagSet, v string, required bool) (string, error) {
	switch {
	case v != "":
		return v, nil
	case isSet(fs, "session"):
		return "", &exitError{code: 2, kind: "invalid_session", subj: sessionSubj(""), cause: attachstore.ErrInvalidSession,
			msg: `--session "": invalid session id: a session id must not be empty`}
	case required:
		return "", badUsage("--session SESSION is required")
	}
	return "", nil
}
