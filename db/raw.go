package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// QueryRaw runs query on a connection of h through the driver itself and
// calls fn with each row's values, skipping database/sql's per-row work
// (its Rows wrapper and the conversions of Scan). The statement comes from
// the connection's statement cache. Values are the driver's: int64,
// float64, string, []byte (a copy fn may keep) or nil. fn must not keep
// row itself.
func QueryRaw(ctx context.Context, h *sql.DB, query string, args []any, fn func(row []driver.Value) error) error {
	return rawConn(ctx, h, args, func(q driver.QueryerContext, named []driver.NamedValue) error {
		rows, err := q.QueryContext(ctx, query, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		return eachRow(rows, fn)
	})
}

// QueryRawThen is QueryRaw for a read that may need a second query: it
// runs first and calls fn with its first row only. If fn returns true, it
// runs then, with the same arguments, on the same connection while first's
// statement is still open, and calls fn with each of its rows. An open
// statement keeps its read transaction, so both queries read one snapshot:
// no write can come between them. A read that needs only the first row
// (a small blob) runs one query and never steps past it.
func QueryRawThen(ctx context.Context, h *sql.DB, first, then string, args []any, fn func(row []driver.Value) (more bool, err error)) error {
	return rawConn(ctx, h, args, func(q driver.QueryerContext, named []driver.NamedValue) error {
		rows, err := q.QueryContext(ctx, first, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		row := make([]driver.Value, len(rows.Columns()))
		if err := rows.Next(row); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		more, err := fn(row)
		if err != nil || !more {
			return err
		}
		if testHookBetween != nil {
			testHookBetween()
		}
		rest, err := q.QueryContext(ctx, then, named)
		if err != nil {
			return err
		}
		defer rest.Close()
		return eachRow(rest, func(row []driver.Value) error {
			_, err := fn(row)
			return err
		})
	})
}

// testHookBetween, when set by a test, runs between QueryRawThen's two
// queries.
var testHookBetween func()

// rawConn takes a connection of h and calls fn with the driver's own
// connection and args converted to the driver's values.
func rawConn(ctx context.Context, h *sql.DB, args []any, fn func(q driver.QueryerContext, named []driver.NamedValue) error) error {
	conn, err := h.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return fmt.Errorf("attachstore: argument %d: %w", i+1, err)
		}
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return conn.Raw(func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("attachstore: driver connection %T cannot query", dc)
		}
		return fn(q, named)
	})
}

// eachRow calls fn with each row of rows.
func eachRow(rows driver.Rows, fn func(row []driver.Value) error) error {
	row := make([]driver.Value, len(rows.Columns()))
	for {
		err := rows.Next(row)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}
