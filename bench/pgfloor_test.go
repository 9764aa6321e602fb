package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/attachstore/attachstore"
)

// TestPostgresFloorTable checks that PostgreSQL's floor is what it claims
// to be: one table of (bigint key, bytea) with its bytes out of line and
// uncompressed as the library's chunks, no index but the key's and no
// other constraint; commits as durable as the postgres system's (the
// server's synchronous_commit, not one of its own); rows that land; and
// a schema that is gone once it closes.
func TestPostgresFloorTable(t *testing.T) {
	ctx := context.Background()
	srv := testPGServer(t)
	fd, err := openPGFloor(ctx, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.close() })

	var cols []string
	rows, err := fd.conn.QueryContext(ctx, `SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attstorage::text
		FROM pg_attribute a WHERE a.attrelid = 't'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	// p: plain, e: external (out of line, never compressed).
	if want := []string{"k bigint p", "data bytea e"}; !slices.Equal(cols, want) {
		t.Errorf("columns %q, want %q", cols, want)
	}
	var indexes, constraints int
	if err := fd.conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass),
		(SELECT count(*) FROM pg_constraint WHERE conrelid = 't'::regclass AND contype <> 'p')`).Scan(&indexes, &constraints); err != nil {
		t.Fatal(err)
	}
	if indexes != 1 || constraints != 0 {
		t.Errorf("%d indexes and %d constraints besides the key, want the key's index alone", indexes, constraints)
	}

	settings, err := srv.settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var floorSync string
	if err := fd.conn.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&floorSync); err != nil {
		t.Fatal(err)
	}
	sys, err := openPostgres(ctx, filepath.Join(t.TempDir(), "small", "postgres"), &config{pg: srv})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	var storeSync string
	if err := sys.(*pgStore).s.View(ctx, func(tx *attachstore.Tx) error {
		return tx.SQL().QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&storeSync)
	}); err != nil {
		t.Fatal(err)
	}
	if floorSync != settings["synchronous_commit"] || storeSync != floorSync {
		t.Errorf("synchronous_commit: floor %s, postgres system %s, server %s: want one setting", floorSync, storeSync, settings["synchronous_commit"])
	}

	rate, err := fd.commit(ctx, 3, w2Rows(newTag(), 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("commit rate %v, want > 0", rate)
	}
	var n, bytes int64
	if err := fd.conn.QueryRowContext(ctx, "SELECT count(*), sum(octet_length(data)) FROM t").Scan(&n, &bytes); err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, turn := range turnSizes(1, 3) {
		for _, size := range turn {
			want += int64(size)
		}
	}
	if n != 60 || bytes != want {
		t.Errorf("table holds %d rows of %d bytes, want 60 of %d", n, bytes, want)
	}
	if err := fd.close(); err != nil {
		t.Fatal(err)
	}
	if got := schemas(t, srv); slices.ContainsFunc(got, isFloorSchema) {
		t.Errorf("left behind: %q", got)
	}
}

func isFloorSchema(s string) bool { return strings.HasPrefix(s, "floor_") }

func TestPostgresFloor(t *testing.T) {
	srv := testPGServer(t)
	rate, err := postgresFloor(context.Background(), srv, 20, w1Rows(newTag()))
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("postgresFloor = %v, want > 0", rate)
	}
	if got := schemas(t, srv); slices.ContainsFunc(got, isFloorSchema) {
		t.Errorf("left behind: %q", got)
	}
}

func TestPostgresFloorHonoursCancel(t *testing.T) {
	srv := testPGServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := postgresFloor(ctx, srv, 5, w1Rows(newTag())); err == nil {
		t.Fatal("postgresFloor with a cancelled context: nil error")
	}
	// Cancelled mid-way: the drop still runs on a context of its own.
	ctx, cancel = context.WithCancel(context.Background())
	rows := w1Rows(newTag())
	if _, err := postgresFloor(ctx, srv, 50, func(i int) [][]byte {
		if i == 10 {
			cancel()
		}
		return rows(i)
	}); err == nil {
		t.Fatal("postgresFloor cancelled mid-way: nil error")
	}
	if got := schemas(t, srv); slices.ContainsFunc(got, isFloorSchema) {
		t.Errorf("left behind: %q", got)
	}
}
