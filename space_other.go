//go:build !(linux || darwin || freebsd || windows)

package attachstore

// statfsFree cannot measure free space on this system: puts are not
// refused ahead of a full disk, and SQLite's own SQLITE_FULL is ErrFull.
func statfsFree(string) (uint64, error) { return 0, errNoStatfs }
