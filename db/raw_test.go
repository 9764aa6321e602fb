package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"slices"
	"testing"
)

// TestQueryRawThenReadsOneSnapshot deletes rows between QueryRawThen's two
// queries, from another connection: the second query must still see them,
// as one statement would, while a query started afterwards must not.
func TestQueryRawThenReadsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "snap.db")
	w, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	r, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := w.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3)`); err != nil {
		t.Fatal(err)
	}
	deleted := false
	testHookBetween = func() {
		if _, err := w.Exec(`DELETE FROM t WHERE k > 1`); err != nil {
			t.Errorf("delete between the queries: %v", err)
		}
		deleted = true
	}
	t.Cleanup(func() { testHookBetween = nil })

	for _, tc := range []struct {
		name  string
		more  bool
		want  []int64
		after []int64 // what a query after it sees
	}{
		{"SecondQuery", true, []int64{1, 2, 3}, []int64{1}},
		{"FirstOnly", false, []int64{1}, []int64{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deleted = false
			var got []int64
			err := QueryRawThen(ctx, r, `SELECT k FROM t WHERE k = 1`, `SELECT k FROM t WHERE k > 1 ORDER BY k`, nil,
				func(row []driver.Value) (bool, error) {
					got = append(got, row[0].(int64))
					return tc.more, nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("QueryRawThen read %v, want %v", got, tc.want)
			}
			if deleted != tc.more {
				t.Errorf("the second query ran = %v, want %v", deleted, tc.more)
			}
			var after []int64
			if err := QueryRaw(ctx, r, `SELECT k FROM t ORDER BY k`, nil, func(row []driver.Value) error {
				after = append(after, row[0].(int64))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if tc.more && !slices.Equal(after, tc.after) {
				t.Errorf("a query after the delete read %v, want %v", after, tc.after)
			}
		})
	}
}
