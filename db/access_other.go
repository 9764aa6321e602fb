//go:build !unix

package db

import "os"

// writable reports whether this process may write path. Without access(2)
// a file is opened for writing, which changes nothing; a directory is
// taken as writable, and SQLite says so if it is not.
func writable(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() {
		return err == nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		f.Close()
	}
	return err == nil
}
