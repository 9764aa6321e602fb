package main

import (
	"context"
	"database/sql"
	"net/url"
	"os"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/db"
	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver tidy opens
)

// tidy removes the -wal and -shm files that reading a store left beside
// its file, where SQLite itself would remove them. It is the CLI's own
// promise, not the library's: a command that reads a store closed
// cleanly leaves the directory as it found it. A read-only store's
// connections create those files and cannot remove them (a connection
// that may not write never does), so after closing one, tidy opens a
// connection that may write, reads once and closes it. If it is the
// file's last connection, SQLite copies the WAL back — nothing, since
// tidy runs only when the WAL is empty — and removes both files; if
// another process has the store open, it is not the last, and the files
// stay that process's. A WAL that holds commits (a writer stopped before
// copying them back) is left alone, since copying it would change the
// file; so are files this process cannot remove.
func tidy(s *attachstore.Store) {
	path := s.Path()
	if !s.ReadOnly() || path == "" || db.IsURL(path) {
		return
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		return
	}
	q := url.Values{}
	q.Set("mode", "rw")
	q.Set("_busy_timeout", "1000")
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode(), OmitHost: true}
	h, err := sql.Open("sqlite3", u.String())
	if err != nil {
		return
	}
	defer h.Close()
	// A connection that has read nothing has not opened the WAL, and
	// closing it would leave the files.
	var n int
	_ = h.QueryRowContext(context.Background(), `SELECT count(*) FROM sqlite_master`).Scan(&n)
}
