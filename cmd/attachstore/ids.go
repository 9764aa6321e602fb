package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/attachstore/attachstore"
)

// minPrefix is the fewest hex digits an id prefix may have, as in git's
// abbreviated hashes: fewer would match many ids in a store of any size.
const minPrefix = 8

// idArg is an id as given on the command line: a full id, a prefix that
// is resolved against the ids stored, or a malformed argument.
type idArg struct {
	arg       string         // as given
	id        attachstore.ID // when full
	prefix    string         // lowercase hex digits, when a prefix
	malformed bool           // neither: reported as that argument's failure
}

// parseIDArgs parses every id argument. One that does not parse is marked
// malformed: like any argument that fails, it is reported on its own
// (kind invalid_id, exit 1) and the others are still processed.
func parseIDArgs(args []string) []idArg {
	out := make([]idArg, 0, len(args))
	for _, s := range args {
		a, ok := parseIDArg(s)
		if !ok {
			a = idArg{arg: s, malformed: true}
		}
		out = append(out, a)
	}
	return out
}

// malformedErr is the failure of an id argument that does not parse.
func (c *cli) malformedErr(a idArg) error {
	return &exitError{code: 1, kind: "invalid_id", subj: idSubj(a.arg), cause: attachstore.ErrInvalidID,
		msg: fmt.Sprintf("%s %s: malformed id: want 64 hex digits, or a prefix of at least %d, optionally prefixed \"sha256:\"",
			c.cmd.name, strconv.Quote(truncate(a.arg, 80)), minPrefix)}
}

// allMalformed reports every id argument when none of them parses, and
// returns true: the command then has nothing to do and opens no store.
func (c *cli) allMalformed(args []idArg) bool {
	for _, a := range args {
		if !a.malformed {
			return false
		}
	}
	for _, a := range args {
		c.report(c.malformedErr(a))
	}
	return len(args) > 0
}

func parseIDArg(s string) (idArg, bool) {
	if id, err := attachstore.ParseID(s); err == nil {
		return idArg{arg: s, id: id}, true
	}
	h := s
	if len(h) >= len("sha256:") && strings.EqualFold(h[:len("sha256:")], "sha256:") {
		h = h[len("sha256:"):]
	}
	if len(h) < minPrefix || len(h) >= 64 {
		return idArg{}, false
	}
	for i := 0; i < len(h); i++ {
		if !isHex(h[i]) {
			return idArg{}, false
		}
	}
	return idArg{arg: s, prefix: strings.ToLower(h)}, true
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

// ambiguousError is a prefix that matches more than one id.
type ambiguousError struct {
	prefix string
	ids    []attachstore.ID // the first few matches
	more   int              // matches beyond those
}

// maxCandidates is how many matches of an ambiguous prefix are listed.
const maxCandidates = 10

func (e *ambiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "id prefix %s is ambiguous; it matches:", e.prefix)
	for _, id := range e.ids {
		b.WriteString("\n  " + id.String())
	}
	if e.more > 0 {
		fmt.Fprintf(&b, "\n  … and %d more", e.more)
	}
	return b.String()
}

// resolved is one id argument after resolution: its id, or why it has none.
type resolved struct {
	arg idArg
	id  attachstore.ID
	err error // ErrNotFound, *ambiguousError, or a malformed argument's *exitError
}

// resolveIDs resolves the prefixes among args against the ids that ids
// yields, scanning them once however many prefixes there are. Full ids
// pass through untouched. An error from ids stops it.
func resolveIDs(args []idArg, ids func(yield func(attachstore.ID) bool) error) ([]resolved, error) {
	out := make([]resolved, len(args))
	prefixes := 0
	for i, a := range args {
		out[i] = resolved{arg: a, id: a.id}
		if a.prefix != "" {
			prefixes++
		}
	}
	if prefixes == 0 {
		return out, nil
	}
	matches := make([][]attachstore.ID, len(args))
	counts := make([]int, len(args))
	err := ids(func(id attachstore.ID) bool {
		s := id.String()
		for i, a := range args {
			if a.prefix != "" && strings.HasPrefix(s, a.prefix) {
				counts[i]++
				if len(matches[i]) < maxCandidates {
					matches[i] = append(matches[i], id)
				}
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	for i, a := range args {
		if a.prefix == "" {
			continue
		}
		switch counts[i] {
		case 0:
			out[i].err = fmt.Errorf("%w: no id starts with %s", attachstore.ErrNotFound, a.prefix)
		case 1:
			out[i].id = matches[i][0]
		default:
			out[i].err = &ambiguousError{prefix: a.prefix, ids: matches[i], more: counts[i] - len(matches[i])}
		}
	}
	return out, nil
}

// storeIDs yields every stored id (for resolving prefixes without a
// session).
func storeIDs(ctx context.Context, s *attachstore.Store) func(func(attachstore.ID) bool) error {
	return func(yield func(attachstore.ID) bool) error {
		for ref, err := range s.List(ctx) {
			if err != nil {
				return err
			}
			if !yield(ref.ID) {
				return nil
			}
		}
		return nil
	}
}

// sessionIDs yields the ids a session holds refs to: a prefix given with
// --session resolves only among them, so it reveals nothing of what other
// sessions stored.
func sessionIDs(ctx context.Context, ss *attachstore.Session) func(func(attachstore.ID) bool) error {
	return func(yield func(attachstore.ID) bool) error {
		es, err := ss.Refs(ctx)
		if err != nil {
			return err
		}
		for _, e := range es {
			if !yield(e.ID) {
				return nil
			}
		}
		return nil
	}
}

// resolveFor resolves args within the session when sess is set, else
// within the whole store.
func (c *cli) resolveFor(ctx context.Context, s *attachstore.Store, sess string, args []idArg) ([]resolved, error) {
	ids := storeIDs(ctx, s)
	if sess != "" {
		ids = sessionIDs(ctx, s.Session(sess))
	}
	rs, err := resolveIDs(args, ids)
	for i := range rs {
		if rs[i].arg.malformed {
			rs[i].err = c.malformedErr(rs[i].arg)
		}
	}
	if err != nil {
		op := c.cmd.name
		if sess != "" {
			return nil, c.fail(op, sessionSubj(sess), err)
		}
		return nil, c.fail(op, subject{}, err)
	}
	return rs, nil
}
