package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/db"
)

// dbName is the database as messages name it: a PostgreSQL URL without its
// password.
func (c *cli) dbName() string {
	if db.IsURL(c.db) {
		return db.Redact(c.db)
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
	if !db.IsURL(c.db) && c.db != attachstore.MemoryPath {
		// Said first, for every command: SQLite's own failure on a
		// directory reads as an I/O error, or as a file it cannot write.
		if fi, err := os.Stat(c.db); err == nil && fi.IsDir() {
			return nil, &exitError{code: 1, kind: "not_a_store", subj: subject{"db", c.dbName()},
				msg: fmt.Sprintf("open %s: is a directory, not a database file; name the store's file with --db or $ATTACHSTORE_DB", c.dbName())}
		}
	}
	if c.access == reads || c.readOnly {
		s, err := attachstore.Open(ctx, c.db, attachstore.WithReadOnly())
		if err != nil {
			return nil, c.openFailed(err)
		}
		c.store = s
		return s, nil
	}
	var opts []attachstore.Option
	if c.access == writes && c.db != attachstore.MemoryPath {
		// A command that changes a store must not turn a missing file, or
		// another program's database, into one.
		opts = append(opts, attachstore.WithExisting())
	}
	s, err := attachstore.Open(ctx, c.db, opts...)
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
		// The library's message says why: attachstore never wrote the
		// file, or an object in it is named as one of attachstore's
		// (which a writable open refuses too).
		failed := c.fail("open", subj, err)
		var ee *exitError
		if errors.As(failed, &ee) && c.access != creates {
			ee.msg += " (only put and import add attachstore's tables to another program's database)"
		}
		return failed
	case errors.Is(err, fs.ErrNotExist):
		return &exitError{code: 1, kind: "no_such_file", subj: subj, cause: err,
			msg: fmt.Sprintf("open %s: no such database (put creates one; choose another with --db or $ATTACHSTORE_DB)", c.dbName())}
	case errors.Is(err, attachstore.ErrReadOnly) && !c.readOnly && c.access != reads:
		hint := "commands that only read work on it"
		if c.cmd.readsWith != "" {
			hint = fmt.Sprintf("%s --%s only reads", c.cmd.name, c.cmd.readsWith)
		}
		what := fmt.Sprintf("cannot write the database (%s)", readOnlyReason(err))
		if dir, ok := c.dirNotWritable(err); ok {
			what = fmt.Sprintf("the directory %s is not writable (SQLite keeps its -wal and -shm files beside the database, so it cannot write the database without it)", dir)
		}
		return &exitError{code: 1, kind: "read_only", subj: subj, cause: err,
			msg: fmt.Sprintf("open %s: %s, and %s changes it; %s, and --read-only keeps any command from writing",
				c.dbName(), what, c.cmd.name, hint)}
	}
	return c.fail("open", subj, err)
}

// dirNotWritable reports whether a refused write is the directory's doing:
// the database file itself can be written, its directory cannot. The
// directory is named as the user wrote it ("." for a bare file name).
func (c *cli) dirNotWritable(err error) (string, bool) {
	if db.IsURL(c.db) || c.db == attachstore.MemoryPath {
		return "", false
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "", false // the system named the file itself
	}
	f, ferr := os.OpenFile(c.db, os.O_WRONLY, 0)
	if ferr != nil {
		return "", false
	}
	f.Close()
	dir := filepath.Dir(c.db)
	// Creating a file is the question SQLite asks of the directory; this
	// path runs only after a write was refused, and removes what it made.
	probe, perr := os.CreateTemp(dir, ".attachstore-probe-*")
	if perr == nil {
		probe.Close()
		os.Remove(probe.Name())
		return "", false
	}
	return dir, true
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
