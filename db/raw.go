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
		rows, err := q.QueryContext(ctx, query, named)
		if err != nil {
			return err
		}
		defer rows.Close()
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
	})
}
