package main

import (
	"context"
	"os"
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
