package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// The floor of SQLite's own durable commits on this machine: the engine
// under attachstore committing the bytes of W1 and W2 with nothing of
// attachstore's work around them. One rowid table of (integer key, blob),
// WAL, synchronous FULL, attachstore's page size and auto_vacuum, no
// hashing, no metadata rows, indexes or foreign keys, no checkpoint inside
// the timed commits, and a WAL already as long as the commits need, so they
// overwrite blocks the file has (a fresh WAL that grows pays more per
// fsync). A target above this floor cannot be met by a design that keeps
// its bytes in a SQLite WAL at synchronous FULL with this page size (run
// the bench with -page-size to see another's).
//
// The read floor (W5's warm read) is the same table holding W5's big blob
// as rows of floorRowSize, read back in key order once it is written,
// each row Scanned through database/sql and copied into the caller's
// buffer: the least a design that keeps its bytes in SQLite rows, and
// reads them through database/sql, does to stream them out.

// floorDB is a scratch database for a floor: SQLite's here, PostgreSQL's
// in pgfloor.go.
type floorDB struct {
	db   *sql.DB
	conn *sql.Conn
	path string
	// insert is the statement commit runs for each row, in the engine's
	// placeholders.
	insert string
	// drop removes the database: its files, or its schema on a server.
	drop func() error
}

// openFloor creates a fresh database in dir with the given page size.
func openFloor(ctx context.Context, dir string, pageSize int) (*floorDB, error) {
	f, err := os.CreateTemp(dir, "floor-*.db")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	if err := f.Close(); err != nil {
		return nil, errors.Join(err, os.Remove(path))
	}
	fd := &floorDB{path: path, insert: "INSERT INTO t (data) VALUES (?)"}
	fd.drop = fd.remove
	if fd.db, err = sql.Open("sqlite3", "file:"+path+"?_synchronous=FULL&_txlock=immediate"); err != nil {
		return nil, errors.Join(err, fd.remove())
	}
	// One connection, so that the pragmas below hold for every commit. Page
	// size and auto_vacuum take only before the file leaves rollback mode.
	if fd.conn, err = fd.db.Conn(ctx); err != nil {
		return nil, errors.Join(err, fd.close())
	}
	for _, q := range []string{
		"PRAGMA page_size = " + strconv.Itoa(pageSize),
		"PRAGMA auto_vacuum = INCREMENTAL",
		"PRAGMA journal_mode = WAL",
		"PRAGMA wal_autocheckpoint = 0",
		"CREATE TABLE t (k INTEGER PRIMARY KEY, data BLOB NOT NULL)",
	} {
		if _, err := fd.conn.ExecContext(ctx, q); err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", q, err), fd.close())
		}
	}
	return fd, nil
}

// commit runs n write transactions, the i-th inserting the rows rows(i)
// returns, and returns rows committed per second, timing only the
// transactions.
func (fd *floorDB) commit(ctx context.Context, n int, rows func(i int) [][]byte) (float64, error) {
	var spent time.Duration
	total := 0
	for i := range n {
		batch := rows(i)
		start := time.Now()
		tx, err := fd.conn.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		for _, r := range batch {
			if _, err := tx.ExecContext(ctx, fd.insert, r); err != nil {
				return 0, errors.Join(err, tx.Rollback())
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		spent += time.Since(start)
		total += len(batch)
	}
	if spent <= 0 {
		return 0, fmt.Errorf("no commit timed")
	}
	return float64(total) / spent.Seconds(), nil
}

// restartWAL copies the WAL into the database and has the next commit
// write from the WAL's head again, over the blocks it has.
func (fd *floorDB) restartWAL(ctx context.Context) error {
	var busy, logged, done int
	if err := fd.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &logged, &done); err != nil {
		return err
	}
	if busy != 0 || done != logged {
		return fmt.Errorf("wal_checkpoint(RESTART): busy %d, %d of %d frames copied", busy, done, logged)
	}
	return nil
}

// close closes the database and removes it.
func (fd *floorDB) close() error {
	var err error
	if fd.conn != nil {
		err = fd.conn.Close()
	}
	return errors.Join(err, fd.db.Close(), fd.drop())
}

func (fd *floorDB) remove() error {
	var errs []error
	for _, p := range []string{fd.path, fd.path + "-wal", fd.path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sqliteFloor measures the floor for n transactions of rows: it commits
// them once to grow the WAL, restarts the WAL, and times n more.
func sqliteFloor(ctx context.Context, dir string, pageSize, n int, rows func(i int) [][]byte) (perSec float64, err error) {
	fd, err := openFloor(ctx, dir, pageSize)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, fd.close()) }()
	if _, err := fd.commit(ctx, n, rows); err != nil {
		return 0, err
	}
	if err := fd.restartWAL(ctx); err != nil {
		return 0, err
	}
	return fd.commit(ctx, n, rows)
}

// w1Rows is W1's transaction for the floor: one 10 KiB row.
func w1Rows(tag uint64) func(i int) [][]byte {
	return func(i int) [][]byte { return [][]byte{makeBlob(tag, uint64(i), blobSize)} }
}

// w2Rows is W2's turns for the floor: n turns of 20 rows, with the sizes
// turns writes in the same run.
func w2Rows(tag uint64, run, n int) func(i int) [][]byte {
	sizes := turnSizes(run, n)
	return func(i int) [][]byte { return turnBlobs(tag, i, sizes[i]) }
}

// floorRowSize is the row size of the read floor: attachstore's default
// chunk size.
const floorRowSize = 256 << 10

// fill writes src's bytes as rows of rowSize (the last may be shorter),
// rowsPerTx rows a transaction, and copies each transaction into the
// database before the next, so that the WAL stays short and the rows end
// in the database file.
func (fd *floorDB) fill(ctx context.Context, src io.Reader, rowSize, rowsPerTx int) error {
	row := make([]byte, rowSize)
	for done := false; !done; {
		tx, err := fd.conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for range rowsPerTx {
			k, err := io.ReadFull(src, row)
			if err == io.EOF {
				done = true
				break
			}
			if err != nil && err != io.ErrUnexpectedEOF {
				return errors.Join(err, tx.Rollback())
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO t (data) VALUES (?)", row[:k]); err != nil {
				return errors.Join(err, tx.Rollback())
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		if err := fd.restartWAL(ctx); err != nil {
			return err
		}
	}
	return nil
}

// readAll reads every row in key order, Scanning each through database/sql
// and copying it into buf as a streaming reader fills its caller's buffer,
// and returns the bytes and rows read.
func (fd *floorDB) readAll(ctx context.Context, buf []byte) (n int64, rows int, err error) {
	rs, err := fd.conn.QueryContext(ctx, "SELECT data FROM t ORDER BY k")
	if err != nil {
		return 0, 0, err
	}
	defer func() { err = errors.Join(err, rs.Close()) }()
	for rs.Next() {
		var data sql.RawBytes
		if err := rs.Scan(&data); err != nil {
			return n, rows, err
		}
		for rest := []byte(data); len(rest) > 0; {
			rest = rest[copy(buf, rest):]
		}
		n += int64(len(data))
		rows++
	}
	return n, rows, rs.Err()
}

// sqliteReadFloor measures the read floor for n bytes: it writes them as
// rows of floorRowSize and times the first read after that, through one
// 1 MiB buffer, as W5 times its first read after its put (the file is in
// the OS page cache from its write, as W5's is). It returns MB/s.
func sqliteReadFloor(ctx context.Context, dir string, pageSize int, n int64) (mbPerSec float64, err error) {
	fd, err := openFloor(ctx, dir, pageSize)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, fd.close()) }()
	if err := fd.fill(ctx, newPatternReader(n), floorRowSize, 64); err != nil {
		return 0, err
	}
	buf := make([]byte, 1<<20)
	wantRows := int((n + floorRowSize - 1) / floorRowSize)
	read := func() (float64, error) {
		start := time.Now()
		got, rows, err := fd.readAll(ctx, buf)
		took := time.Since(start)
		if err == nil && (got != n || rows != wantRows) {
			err = fmt.Errorf("read %d bytes in %d rows, want %d in %d", got, rows, n, wantRows)
		}
		return mbps(n, took), err
	}
	return read()
}
