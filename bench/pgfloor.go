package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// PostgreSQL's own floor: the server under the postgres system committing
// the bytes of W1 and W2 with nothing of attachstore's work around them.
// One table of (bigint key, bytea) in a schema of its own, its bytes kept
// as the library keeps its chunks (out of line and uncompressed: STORAGE
// EXTERNAL; media is compressed already), no hashing, no metadata rows,
// other indexes or foreign keys; one transaction per W1 row or W2 turn,
// through database/sql and pgx as the library commits. Its commits are as
// durable as the server makes them (synchronous_commit, fsync: the header
// prints both), the same as the postgres system's. A target above this
// floor cannot be met by a design that keeps its bytes in PostgreSQL rows
// on this server.

// pgFloorTable is the floor's table.
var pgFloorTable = []string{
	"CREATE TABLE t (k BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, data BYTEA NOT NULL)",
	"ALTER TABLE t ALTER COLUMN data SET STORAGE EXTERNAL",
}

// openPGFloor creates the floor's table in a fresh schema on srv, on one
// connection.
func openPGFloor(ctx context.Context, srv *pgServer) (_ *floorDB, err error) {
	u, drop, err := srv.newFloorSchema(ctx)
	if err != nil {
		return nil, err
	}
	fd := &floorDB{insert: "INSERT INTO t (data) VALUES ($1)", drop: drop}
	if fd.db, err = sql.Open("pgx", u); err != nil {
		return nil, errors.Join(err, drop())
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, fd.close())
		}
	}()
	if fd.conn, err = fd.db.Conn(ctx); err != nil {
		return nil, err
	}
	for _, q := range pgFloorTable {
		if _, err := fd.conn.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return fd, nil
}

// postgresFloor measures PostgreSQL's floor for n transactions of rows: it
// commits them once, untimed, so that the connection has its statement
// prepared and the table and its TOAST table have their first pages, as
// the postgres system's store has after its first run, and times n more.
func postgresFloor(ctx context.Context, srv *pgServer, n int, rows func(i int) [][]byte) (perSec float64, err error) {
	fd, err := openPGFloor(ctx, srv)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, fd.close()) }()
	if _, err := fd.commit(ctx, n, rows); err != nil {
		return 0, err
	}
	return fd.commit(ctx, n, rows)
}
