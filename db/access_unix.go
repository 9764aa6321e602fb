//go:build unix

package db

import "golang.org/x/sys/unix"

// writable reports whether this process may write path, a file or a
// directory (create files in it), as access(2) answers from its
// permissions and a read-only filesystem, without trying.
func writable(path string) bool {
	return unix.Access(path, unix.W_OK) == nil
}
