package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/attachstore/attachstore/schema"
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
// the bench with -page-size to see another's). It never copies its WAL into
// the file while timed, which a store that keeps writing must: the
// checkpointing floor beside W2 (sqliteCheckpointingFloor) does.
//
// The write floor (beside W5's put) is the same table taking W5's big blob
// as rows of floorRowSize in one transaction, as the library's PutReader
// writes its chunks. The read floor (W5's warm read) is the same table holding W5's big blob
// as rows of floorRowSize, read back in key order once it is written,
// each row Scanned through database/sql and copied into the caller's
// buffer: the least a design that keeps its bytes in SQLite rows, and
// reads them through database/sql, does to stream them out.

// The point-read floor (beside W3(b) and W4(b)) is the same table holding
// the grown store's 10 KiB blobs, blob i at key i+1, each read by its key
// through the driver's raw interface, as the library reads: the least a
// design that keeps a blob in SQLite rows does to find one and copy it out.

// floorDB is a scratch database for a floor: SQLite's here, PostgreSQL's
// in pgfloor.go.
type floorDB struct {
	db   *sql.DB
	conn *sql.Conn
	path string
	// insert is the statement commit runs for each row, in the engine's
	// placeholders.
	insert string
	// tables: the database has attachstore's own tables instead of t, and
	// commit writes each row as the library's PutCommitted of new content
	// does (see openTablesFloor); pk counts the rows written so.
	tables bool
	pk     int64
	// drop removes the database: its files, or its schema on a server.
	drop func() error
}

// openFloor creates a fresh database in dir with the given page size.
func openFloor(ctx context.Context, dir string, pageSize int) (*floorDB, error) {
	return openFloorWith(ctx, dir, pageSize, kvTable, 0)
}

// kvTable is the floor's one table.
const kvTable = "CREATE TABLE t (k INTEGER PRIMARY KEY, data BLOB NOT NULL)"

// openTablesFloor is openFloor with attachstore's own tables, made by its
// migration, in place of t: the floor under a design that writes the
// b-trees attachstore's schema has, with nothing of the library around
// them (no hashing, savepoints, subqueries or checks in Go).
func openTablesFloor(ctx context.Context, dir string, pageSize int) (*floorDB, error) {
	ddl, err := schema.FS.ReadFile("sqlite/0001_init.up.sql")
	if err != nil {
		return nil, err
	}
	fd, err := openFloorWith(ctx, dir, pageSize, string(ddl), 0)
	if fd != nil {
		fd.tables = true
	}
	return fd, err
}

// floorDSN is the floors' connection settings: durable commits, and
// mattn's statement cache, as the library's connections have, so that a
// read prepares its statement once rather than on every call.
const floorDSN = "?_synchronous=FULL&_txlock=immediate&_stmt_cache_size=64"

// openFloorWith creates the database with ddl's tables and SQLite's
// automatic checkpoint at autocheckpoint WAL pages (0: none).
func openFloorWith(ctx context.Context, dir string, pageSize int, ddl string, autocheckpoint int) (*floorDB, error) {
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
	if fd.db, err = sql.Open("sqlite3", "file:"+path+floorDSN); err != nil {
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
		"PRAGMA wal_autocheckpoint = " + strconv.Itoa(autocheckpoint),
		ddl,
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
			if err := fd.put(ctx, tx, i, r); err != nil {
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

// put writes row r of transaction i: one insert into t, or, into
// attachstore's tables, the blob's row, its one chunk and a committed ref
// of session i, each a plain insert of values known in Go. The blob's id
// is the hash of its pk: as random as a content hash, and no hash of the
// bytes counts.
func (fd *floorDB) put(ctx context.Context, tx *sql.Tx, i int, r []byte) error {
	if !fd.tables {
		_, err := tx.ExecContext(ctx, fd.insert, r)
		return err
	}
	fd.pk++
	id := sha256.Sum256(binary.AppendVarint(nil, fd.pk))
	now := time.Now().UnixNano()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO attachstore_blobs (id, pk, size, chunk_size, media_type, label, created_at, touched_at)
			VALUES (?, ?, ?, ?, 'application/octet-stream', '', ?, ?)`, []any{id[:], fd.pk, len(r), floorRowSize, now, now}},
		{`INSERT INTO attachstore_chunks (k, blob_pk, seq, data) VALUES (?, ?, 0, ?)`, []any{fd.pk, fd.pk, r}},
		{`INSERT INTO attachstore_refs (session_id, blob_id, committed_at, intent_at, media_type, blob_pk, size, chunk_size, created_at)
			VALUES (?, ?, ?, ?, 'application/octet-stream', ?, ?, ?, ?)`, []any{"s" + strconv.Itoa(i), id[:], now, now, fd.pk, len(r), floorRowSize, now}},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			return err
		}
	}
	return nil
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

// shut closes the database's handles, keeping its file; open opens it
// again, with no page of it in the new connection's cache.
func (fd *floorDB) shut() error {
	err := errors.Join(fd.conn.Close(), fd.db.Close())
	fd.conn = nil
	return err
}

func (fd *floorDB) open(ctx context.Context) (err error) {
	if fd.db, err = sql.Open("sqlite3", "file:"+fd.path+floorDSN); err != nil {
		return err
	}
	fd.conn, err = fd.db.Conn(ctx)
	return err
}

// get reads the row with key k through the driver's raw interface.
func (fd *floorDB) get(ctx context.Context, k int64) ([]byte, error) {
	return fd.query(ctx, "SELECT data FROM t WHERE k = ?", k)
}

// manifestTable is the guarded-read floor's manifest: which session holds
// which blob (by id), and the key of the blob's row in t.
const manifestTable = "CREATE TABLE m (session TEXT NOT NULL, id BLOB NOT NULL, k INTEGER NOT NULL, PRIMARY KEY (session, id)) WITHOUT ROWID"

// getGuarded reads the blob id of session through the manifest, in one
// statement: the manifest row, then the blob's row by its key.
func (fd *floorDB) getGuarded(ctx context.Context, session string, id []byte) ([]byte, error) {
	return fd.query(ctx, guardedQuery, session, id)
}

const guardedQuery = "SELECT t.data FROM m JOIN t ON t.k = m.k WHERE m.session = ? AND m.id = ?"

// idsTable maps each blob's id (its content hash) to its key in t: what a
// content-addressed store needs to find a blob by id, and nothing more.
const idsTable = "CREATE TABLE ids (id BLOB NOT NULL PRIMARY KEY, k INTEGER NOT NULL) WITHOUT ROWID"

// getByID reads the blob id through ids, in one statement.
func (fd *floorDB) getByID(ctx context.Context, id []byte) ([]byte, error) {
	return fd.query(ctx, "SELECT t.data FROM ids JOIN t ON t.k = ids.k WHERE ids.id = ?", id)
}

func (fd *floorDB) query(ctx context.Context, query string, args ...any) ([]byte, error) {
	return rawQuery(ctx, fd.conn, query, args...)
}

// rawQuery returns the first column of query's one row on conn, read
// through the driver's raw interface, as the library reads.
func rawQuery(ctx context.Context, conn *sql.Conn, query string, args ...any) (data []byte, err error) {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	err = conn.Raw(func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("driver %T cannot query", dc)
		}
		rows, err := q.QueryContext(ctx, query, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		v := make([]driver.Value, 1)
		if err := rows.Next(v); err != nil {
			return fmt.Errorf("%v: %w", args, err)
		}
		data, _ = v[0].([]byte)
		return nil
	})
	return data, err
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
	return fd.twice(ctx, n, rows)
}

// sqliteTablesFloor is sqliteFloor writing attachstore's own tables (see
// openTablesFloor).
func sqliteTablesFloor(ctx context.Context, dir string, pageSize, n int, rows func(i int) [][]byte) (perSec float64, err error) {
	fd, err := openTablesFloor(ctx, dir, pageSize)
	if err != nil {
		return 0, err
	}
	return fd.twice(ctx, n, rows)
}

// sqliteCheckpointingFloor is sqliteFloor with SQLite's automatic
// checkpoint at its default of 1000 WAL pages left on, so that the timed
// commits copy their WAL back into the file as they go, as a store that
// keeps writing must: the commit that crosses 1000 pages copies them and
// syncs the file. sqliteFloor leaves that work until after its timing;
// attachstore's background checkpoint does it while W1 and W2 run.
func sqliteCheckpointingFloor(ctx context.Context, dir string, pageSize, n int, rows func(i int) [][]byte) (perSec float64, err error) {
	fd, err := openFloorWith(ctx, dir, pageSize, kvTable, 1000)
	if err != nil {
		return 0, err
	}
	return fd.twice(ctx, n, rows)
}

// twice commits n transactions of rows once, to grow the WAL, restarts
// it, times them a second time, and closes the floor.
func (fd *floorDB) twice(ctx context.Context, n int, rows func(i int) [][]byte) (perSec float64, err error) {
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

// kvFloor measures the point-read floors on st's grown store: it writes
// st's blobs into a floor database, with a manifest of their sessions and
// a map of their ids, reads them warm with W3's reads, then cold with W4's
// (the file's pages dropped from the OS cache and the database opened
// again before each run), plain by key and by id as (b) and guarded
// through the manifest as (a), and adds the rates to W3's and W4's floor
// rows.
func (b *bench) kvFloor(ctx context.Context, st *growing) (err error) {
	c, g, p := b.cfg, &b.g, st.p
	dir := filepath.Join(st.dir, "kv-floor")
	if err := mkdirAll(dir); err != nil {
		return err
	}
	start := time.Now()
	fd, err := openFloor(ctx, dir, floorPageSize(c))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, fd.close()) }()
	const perTx = 1000
	if _, err := fd.commit(ctx, (len(p.ids)+perTx-1)/perTx, func(t int) [][]byte {
		rows := make([][]byte, 0, perTx)
		for i := t * perTx; i < min((t+1)*perTx, len(p.ids)); i++ {
			rows = append(rows, makeBlob(p.tag, uint64(i), blobSize))
		}
		return rows
	}); err != nil {
		return err
	}
	if err := fd.manifest(ctx, p, p.session); err != nil {
		return err
	}
	if err := fd.restartWAL(ctx); err != nil {
		return err
	}
	b.logf("%s: %d blobs written as rows (%.0f s)", kvLimit, len(p.ids), time.Since(start).Seconds())
	get := func(i int) ([]byte, error) { return fd.get(ctx, int64(i)+1) }
	guarded := func(i int) ([]byte, error) { return fd.getGuarded(ctx, p.session(i), p.ids[i][:]) }
	byID := func(i int) ([]byte, error) { return fd.getByID(ctx, p.ids[i][:]) }
	// The reads of W3 and W4, with their seeds, each row after its
	// system's: (b) plain, by key and by id, and (a) guarded.
	for _, r := range []struct {
		warm, cold *group
		seed       uint64
		get        func(int) ([]byte, error)
		name       string
	}{{g.w3kv, g.w4kv, 32, get, kvLimit}, {g.w3kv, g.w4kv, 32, byID, idLimit}, {g.w3guard, g.w4guard, 31, guarded, guardLimit}} {
		if r.warm != nil {
			if _, err := timeReads(len(p.ids), c.w3Reads, r.seed, r.get); err != nil {
				return err
			}
			for range c.runs {
				rate, err := timeReads(len(p.ids), c.w3Reads, r.seed, r.get)
				if err != nil {
					return err
				}
				r.warm.add(r.name, rate)
			}
		}
		if r.cold != nil {
			for run := range c.runs {
				if err := fd.shut(); err != nil {
					return err
				}
				if err := dropCaches(dir); err != nil {
					return err
				}
				if err := fd.open(ctx); err != nil {
					return err
				}
				rate, err := timeReads(len(p.ids), c.w4Reads, uint64(400+run), r.get)
				if err != nil {
					return err
				}
				r.cold.add(r.name, rate)
			}
		}
	}
	return nil
}

// manifest adds the guarded-read floor's manifest and the id map to the
// database: blob i of p, at key i+1 of t, held by session(i).
func (fd *floorDB) manifest(ctx context.Context, p *population, session func(i int) string) error {
	for _, ddl := range []string{manifestTable, idsTable} {
		if _, err := fd.conn.ExecContext(ctx, ddl); err != nil {
			return err
		}
	}
	const perTx = 10_000
	for start := 0; start < len(p.ids); start += perTx {
		tx, err := fd.conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for i := start; i < min(start+perTx, len(p.ids)); i++ {
			if _, err := tx.ExecContext(ctx, "INSERT INTO m (session, id, k) VALUES (?, ?, ?)", session(i), p.ids[i][:], i+1); err != nil {
				return errors.Join(err, tx.Rollback())
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO ids (id, k) VALUES (?, ?) ON CONFLICT DO NOTHING", p.ids[i][:], i+1); err != nil {
				return errors.Join(err, tx.Rollback())
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// kvLimit names the point-read floor's rows.
const kvLimit = "limit sqlite kv"

// idLimit names the point-read floor by content id, a line of W3(b)'s and
// W4(b)'s floor rows: the same table, each blob found through its id in
// ids first, as a content-addressed store must.
const idLimit = "limit sqlite kv by id"

// guardLimit names the guarded-read floor's rows (beside W3(a) and W4(a)):
// the same table and a manifest of which session holds which blob, read
// in one statement, one search in each.
const guardLimit = "limit sqlite kv + manifest"

// sqliteWriteFloor measures the write floor for n bytes (beside W5's put)
// in a fresh floor database (see writeOnce). It returns MB/s.
func sqliteWriteFloor(ctx context.Context, dir string, pageSize int, n int64) (mbPerSec float64, err error) {
	fd, err := openFloor(ctx, dir, pageSize)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, fd.close()) }()
	return fd.writeOnce(ctx, n)
}

// writeOnce inserts n bytes as rows of floorRowSize (the last may be
// shorter) in one transaction committed at synchronous FULL, each row the
// same bytes (SQLite does not look at them, and no source or hash then
// counts), and returns MB/s.
func (fd *floorDB) writeOnce(ctx context.Context, n int64) (float64, error) {
	row := make([]byte, floorRowSize)
	if _, err := io.ReadFull(newPatternReader(floorRowSize), row); err != nil {
		return 0, err
	}
	start := time.Now()
	tx, err := fd.conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	for off := int64(0); off < n; off += floorRowSize {
		if _, err := tx.ExecContext(ctx, fd.insert, row[:min(floorRowSize, n-off)]); err != nil {
			return 0, errors.Join(err, tx.Rollback())
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return mbps(n, time.Since(start)), nil
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
