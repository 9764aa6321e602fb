package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"slices"
	"testing"
)

// TestFloorDatabaseIsDurable checks that the floor commits under the
// settings it claims (a floor measured at a weaker synchronous level, or
// with the checkpoint left on, would be no floor for attachstore's rows),
// that its commits land, and that it leaves no file behind.
func TestFloorDatabaseIsDurable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fd, err := openFloor(ctx, dir, 8192)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.close() })
	for _, tt := range []struct {
		pragma, want string
	}{
		{"page_size", "8192"}, // not SQLite's default
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"auto_vacuum", "2"}, // INCREMENTAL, as attachstore
		{"wal_autocheckpoint", "0"},
	} {
		var got string
		if err := fd.conn.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}

	rate, err := fd.commit(ctx, 3, w2Rows(newTag(), 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("commit rate %v, want > 0", rate)
	}
	var rows, bytes int64
	if err := fd.conn.QueryRowContext(ctx, "SELECT count(*), sum(length(data)) FROM t").Scan(&rows, &bytes); err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, turn := range turnSizes(1, 3) {
		for _, size := range turn {
			want += int64(size)
		}
	}
	if rows != 60 || bytes != want {
		t.Errorf("table holds %d rows of %d bytes, want 60 of %d", rows, bytes, want)
	}
	if err := fd.restartWAL(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fd.close(); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, dir)
}

func TestSQLiteFloor(t *testing.T) {
	dir := t.TempDir()
	rate, err := sqliteFloor(context.Background(), dir, 16384, 20, w1Rows(newTag()))
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("sqliteFloor = %v, want > 0", rate)
	}
	assertEmpty(t, dir)
}

func TestSQLiteFloorHonoursCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	if _, err := sqliteFloor(ctx, dir, 16384, 5, w1Rows(newTag())); err == nil {
		t.Fatal("sqliteFloor with a cancelled context: nil error")
	}
	assertEmpty(t, dir)
}

// TestFloorFillLandsInTheDatabase checks that the read floor's rows hold
// the source's bytes in order, the last row cut short, that they are
// copied out of the WAL into the database file (a read that went through
// the WAL would be a different floor), and that readAll counts them.
func TestFloorFillLandsInTheDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fd, err := openFloor(ctx, dir, 4096)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.close() })
	src, err := io.ReadAll(newPatternReader(5*3000 + 123))
	if err != nil {
		t.Fatal(err)
	}
	if err := fd.fill(ctx, bytes.NewReader(src), 3000, 2); err != nil {
		t.Fatal(err)
	}
	var got []byte
	rs, err := fd.conn.QueryContext(ctx, "SELECT data FROM t ORDER BY k")
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for rs.Next() {
		var row []byte
		if err := rs.Scan(&row); err != nil {
			t.Fatal(err)
		}
		got, sizes = append(got, row...), append(sizes, len(row))
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	rs.Close()
	if want := []int{3000, 3000, 3000, 3000, 3000, 123}; !slices.Equal(sizes, want) {
		t.Errorf("row sizes %v, want %v", sizes, want)
	}
	if !bytes.Equal(got, src) {
		t.Errorf("rows hold %d bytes that differ from the source's %d", len(got), len(src))
	}
	fi, err := os.Stat(fd.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < int64(len(src)) {
		t.Errorf("database file holds %d bytes, fewer than the rows' %d: rows left in the WAL", fi.Size(), len(src))
	}

	n, rows, err := fd.readAll(ctx, make([]byte, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(src)) || rows != 6 {
		t.Errorf("readAll = %d bytes in %d rows, want %d in 6", n, rows, len(src))
	}
}

func TestSQLiteReadFloor(t *testing.T) {
	dir := t.TempDir()
	rate, err := sqliteReadFloor(context.Background(), dir, 16384, 3*floorRowSize+1000)
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("sqliteReadFloor = %v, want > 0", rate)
	}
	assertEmpty(t, dir)
}

func TestSQLiteReadFloorHonoursCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	if _, err := sqliteReadFloor(ctx, dir, 16384, 3*floorRowSize); err == nil {
		t.Fatal("sqliteReadFloor with a cancelled context: nil error")
	}
	assertEmpty(t, dir)
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind: %s", e.Name())
	}
}

// TestFloorPointRead checks the point-read floor's read: each key yields its
// own row's bytes, also after the database is shut and opened again (as
// kvFloor does before a cold run), and a key with no row is an error, not
// an empty read that would count as fast.
func TestFloorPointRead(t *testing.T) {
	ctx := context.Background()
	fd, err := openFloor(ctx, t.TempDir(), 16384)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.close() })
	rows := [][]byte{makeBlob(7, 0, blobSize), makeBlob(7, 1, blobSize), makeBlob(7, 2, blobSize)}
	if _, err := fd.commit(ctx, 1, func(int) [][]byte { return rows }); err != nil {
		t.Fatal(err)
	}
	for _, reopen := range []bool{false, true} {
		if reopen {
			if err := fd.shut(); err != nil {
				t.Fatal(err)
			}
			if err := fd.open(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for i, want := range rows {
			got, err := fd.get(ctx, int64(i)+1)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("reopened %v: row %d: %d bytes, %v; want its %d bytes", reopen, i+1, len(got), err, len(want))
			}
		}
		if got, err := fd.get(ctx, int64(len(rows))+1); err == nil {
			t.Fatalf("reopened %v: a key with no row read %d bytes and no error", reopen, len(got))
		}
	}
}

// TestFloorWriteOnce checks the write floor commits every byte it times, as
// rows of the chunk size, and leaves nothing behind.
func TestFloorWriteOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fd, err := openFloor(ctx, dir, 16384)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3*floorRowSize + 1000
	if rate, err := fd.writeOnce(ctx, n); err != nil || rate <= 0 {
		t.Fatalf("writeOnce = %v, %v", rate, err)
	}
	var rows, total int64
	if err := fd.conn.QueryRowContext(ctx, "SELECT count(*), sum(length(data)) FROM t").Scan(&rows, &total); err != nil {
		t.Fatal(err)
	}
	if rows != 4 || total != n {
		t.Errorf("committed %d rows of %d bytes in all, want 4 of %d", rows, total, n)
	}
	if err := fd.close(); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, dir)
	if _, err := sqliteWriteFloor(ctx, dir, 16384, n); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, dir)
}

// TestTablesFloor checks the floor in attachstore's tables writes what the
// library's PutCommitted of new content writes: per row a blob, its one
// chunk at the blob's pk, and a committed ref of the transaction's
// session, each blob under an id of its own; and that the migration made
// the tables (a floor without their indexes would be no floor).
func TestTablesFloor(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fd, err := openTablesFloor(ctx, dir, 16384)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.close() })
	rows := func(i int) [][]byte { return [][]byte{makeBlob(3, uint64(2*i), 100), makeBlob(3, uint64(2*i+1), 5000)} }
	if _, err := fd.commit(ctx, 3, rows); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		query string
		want  int64
	}{
		{"SELECT count(DISTINCT id) FROM attachstore_blobs", 6},
		{"SELECT count(*) FROM attachstore_chunks c JOIN attachstore_blobs b ON c.k = b.pk AND c.blob_pk = b.pk AND c.seq = 0 AND length(c.data) = b.size", 6},
		{"SELECT count(*) FROM attachstore_refs r JOIN attachstore_blobs b ON r.blob_id = b.id AND r.blob_pk = b.pk WHERE r.committed_at <> 0", 6},
		{"SELECT count(DISTINCT session_id) FROM attachstore_refs", 3},
		{"SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'attachstore_refs_committed'", 1},
	} {
		var got int64
		if err := fd.conn.QueryRowContext(ctx, tt.query).Scan(&got); err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		if got != tt.want {
			t.Errorf("%s = %d, want %d", tt.query, got, tt.want)
		}
	}
	if rate, err := sqliteTablesFloor(ctx, dir, 16384, 3, rows); err != nil || rate <= 0 {
		t.Errorf("sqliteTablesFloor = %v, %v", rate, err)
	}
}

// TestCheckpointingFloor checks that the checkpointing floor copies its WAL
// into the database file while it commits, and the bar's floor does not:
// after the same commits, past SQLite's 1000 pages, only the first has the
// rows in its file.
func TestCheckpointingFloor(t *testing.T) {
	ctx := context.Background()
	rows := func(i int) [][]byte { return [][]byte{makeBlob(4, uint64(i), 3000)} }
	fileSize := func(autocheckpoint int) int64 {
		fd, err := openFloorWith(ctx, t.TempDir(), 1024, kvTable, autocheckpoint)
		if err != nil {
			t.Fatal(err)
		}
		defer fd.close()
		// 500 rows of 3000 bytes take about 1,500 pages of 1 KiB.
		if _, err := fd.commit(ctx, 500, rows); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(fd.path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if with, without := fileSize(1000), fileSize(0); with < 500*3000/2 || without > 64<<10 {
		t.Errorf("database file after 1.5 MB of commits: %d bytes checkpointing, %d bytes not; want over 750,000 and under 65,536", with, without)
	}
	if rate, err := sqliteCheckpointingFloor(ctx, t.TempDir(), 16384, 3, rows); err != nil || rate <= 0 {
		t.Errorf("sqliteCheckpointingFloor = %v, %v", rate, err)
	}
}

// TestFloorGuardedRead checks the guarded-read floor reads a blob only
// through a session's manifest row: its own session reads its bytes,
// another session reads nothing; and that the id map finds each blob.
func TestFloorGuardedRead(t *testing.T) {
	ctx := context.Background()
	fd, err := openFloor(ctx, t.TempDir(), 16384)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.close() })
	p := &population{tag: 9, per: 2}
	var rows [][]byte
	for i := range 5 {
		rows = append(rows, makeBlob(p.tag, uint64(i), blobSize))
		p.ids = append(p.ids, ID(sha256.Sum256(rows[i])))
	}
	if _, err := fd.commit(ctx, 1, func(int) [][]byte { return rows }); err != nil {
		t.Fatal(err)
	}
	if err := fd.manifest(ctx, p, p.session); err != nil {
		t.Fatal(err)
	}
	for i, want := range rows {
		got, err := fd.getGuarded(ctx, p.session(i), p.ids[i][:])
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("blob %d in its session %s: %d bytes, %v; want its %d bytes", i, p.session(i), len(got), err, len(want))
		}
		if got, err := fd.getGuarded(ctx, p.session(i+2), p.ids[i][:]); err == nil {
			t.Fatalf("blob %d read %d bytes in session %s, which does not hold it", i, len(got), p.session(i+2))
		}
		if got, err := fd.getByID(ctx, p.ids[i][:]); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("blob %d by id: %d bytes, %v; want its %d bytes", i, len(got), err, len(want))
		}
	}
}
