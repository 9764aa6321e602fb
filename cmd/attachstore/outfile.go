package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/db"
)

// outTarget is a file get -o writes, checked before anything is read.
type outTarget struct {
	path   string      // as given: every message names it, never a temporary file
	direct bool        // not a regular file (a device, a FIFO): written in place
	mode   fs.FileMode // permission bits of the file it replaces; 0 for a new one
}

// checkOutput decides how to write path, or refuses it, before a byte is
// read: a directory, a missing or non-directory parent, the database
// itself, and an existing file that the user could not write (as cp would
// refuse it) are refused.
func checkOutput(path, dbPath string) (*outTarget, error) {
	t := &outTarget{path: path}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return t, checkParent(path)
	case err != nil:
		return nil, pathErr(path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("%s: is a directory (give the file to write, not where to put it)", path)
	case fi.Mode()&fs.ModeSymlink != 0:
		// Replaced by the new file, never followed: a link must not
		// carry the bytes somewhere the user did not name.
		return t, checkParent(path)
	case !fi.Mode().IsRegular():
		t.direct = true
		return t, nil
	}
	if !db.IsURL(dbPath) {
		if dfi, err := os.Stat(dbPath); err == nil && os.SameFile(fi, dfi) {
			return nil, fmt.Errorf("%s: is the database itself", path)
		}
	}
	// Opening for writing (without truncating) asks the system the
	// question cp's open would: may this user overwrite the file?
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, pathErr(path, err)
	}
	f.Close()
	t.mode = fi.Mode().Perm()
	return t, nil
}

func checkParent(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &kindError{fmt.Sprintf("%s: directory %s does not exist", path, dir), fs.ErrNotExist}
	case err != nil:
		return pathErr(path, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: %s is not a directory", path, dir)
	}
	return nil
}

// tempErr is the failure to create the temporary file that replaces
// path. It says so: the error is about the directory, and path itself may
// well exist (/proc/version, whose directory takes no new file, would
// otherwise read "no such file"). Only a permission error keeps its kind.
func tempErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	dir := filepath.Dir(path)
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%s: cannot create a file in %s to replace it with (%w)", path, dir, err)
	}
	return fmt.Errorf("%s: cannot create a file in %s to replace it with (%v)", path, dir, err)
}

// pathErr names path, the one the user gave, in place of whatever file
// an *fs.PathError names (a temporary one, say).
func pathErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// write copies the blob r holds to the target, counting on b. A regular
// file is written to a temporary file beside it and renamed over it only
// once every byte is there and hashes to id; on any failure the temporary
// file is removed and the target is as it was.
func (t *outTarget) write(b *bar, r io.Reader, id attachstore.ID, size int64) (err error) {
	if t.direct {
		f, err := os.OpenFile(t.path, os.O_WRONLY, 0)
		if err != nil {
			return pathErr(t.path, err)
		}
		_, err = verifiedCopy(b.writer(f), r, id, size)
		if cerr := f.Close(); err == nil && cerr != nil {
			err = pathErr(t.path, cerr)
		}
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(t.path), "."+filepath.Base(t.path)+".tmp-*")
	if err != nil {
		return tempErr(t.path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = verifiedCopy(b.writer(writerNamed{f, t.path}), r, id, size); err != nil {
		var ce *corruptError
		if errors.As(err, &ce) {
			err = &corruptError{ce.msg + "; nothing was written to " + t.path}
		}
		return err
	}
	if t.mode != 0 {
		if err = f.Chmod(t.mode); err != nil {
			return pathErr(t.path, err)
		}
	}
	if err = f.Sync(); err != nil {
		return pathErr(t.path, err)
	}
	if err = f.Close(); err != nil {
		return pathErr(t.path, err)
	}
	if err = os.Rename(f.Name(), t.path); err != nil {
		return pathErr(t.path, err)
	}
	// The rename is durable once the directory is synced; a failure here
	// is no reason to call the get failed.
	if d, derr := os.Open(filepath.Dir(t.path)); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// writerNamed reports write errors under the name the user gave.
type writerNamed struct {
	w    io.Writer
	name string
}

func (w writerNamed) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		err = pathErr(w.name, err)
	}
	return n, err
}

// verifiedCopy copies r to w while hashing it, and fails with a
// *corruptError when the bytes are not size bytes that hash to want.
func verifiedCopy(w io.Writer, r io.Reader, want attachstore.ID, size int64) (int64, error) {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), r)
	if err != nil {
		return n, err
	}
	var got attachstore.ID
	h.Sum(got[:0])
	if got != want || n != size {
		return n, &corruptError{fmt.Sprintf("the blob is corrupt: its %d bytes hash to %s (recorded: %d bytes)", n, got, size)}
	}
	return n, nil
}
