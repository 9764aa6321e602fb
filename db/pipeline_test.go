package db_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/attachstore/attachstore/db"
	"github.com/attachstore/attachstore/internal/storetest"
)

// TestPipelineOnPostgres checks that Pipeline runs its steps in order in
// the open transaction, scans a step's row, says sql.ErrNoRows for a step
// with none while the rest still run, and returns the first failure when a
// statement fails, leaving the transaction to be rolled back.
func TestPipelineOnPostgres(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, db.Config{Path: storetest.PostgresSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	run := func(steps ...db.Step) (done func(), err error) {
		stx, conn, end, err := d.Begin(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stx.ExecContext(ctx, "CREATE TEMP TABLE IF NOT EXISTS p (v int)"); err != nil {
			t.Fatal(err)
		}
		return func() { stx.Rollback(); end() }, d.Pipeline(ctx, conn, steps)
	}

	var n, none int64
	done, err := run(
		db.Step{Query: "INSERT INTO p VALUES ($1)", Args: []any{7}},
		db.Step{Query: "SELECT v FROM p WHERE v = $1", Args: []any{8}, Scan: []any{&none}},
		db.Step{Query: "INSERT INTO p VALUES ($1)", Args: []any{8}},
		db.Step{Query: "SELECT sum(v) FROM p", Scan: []any{&n}},
	)
	done()
	if !errors.Is(err, sql.ErrNoRows) || n != 15 {
		t.Errorf("Pipeline = %v, sum %d; want sql.ErrNoRows from the second step and 15 from the last", err, n)
	}

	n = -1
	done, err = run(
		db.Step{Query: "SELECT 1/0"},
		db.Step{Query: "SELECT 2", Scan: []any{&n}},
	)
	done()
	if err == nil || errors.Is(err, sql.ErrNoRows) || n != -1 {
		t.Errorf("Pipeline with a failing first step = %v, and the second scanned %d; want the division's error and no scan", err, n)
	}
}
