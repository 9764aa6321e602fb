package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
)

// errNoRaw means the database has no raw read path (PostgreSQL).
var errNoRaw = errors.New("attachstore: no raw read path on this engine")

// Read runs query on a read-pool connection through the driver's own
// interface (sql.Conn.Raw, driver.Rows.Next), calling row for each row
// until it returns stop or an error. database/sql would start a goroutine
// per query to watch ctx and copy every value once more; the driver checks
// ctx itself. A []byte in a row is the caller's to keep. The driver's
// statement cache serves the prepares.
func (d *DB) Read(ctx context.Context, query string, args []any, row func([]driver.Value) (stop bool, err error)) error {
	if d.pg {
		return errNoRaw
	}
	conn, err := d.Reader.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return conn.Raw(func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			return errNoRaw
		}
		rows, err := q.QueryContext(ctx, query, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]driver.Value, len(rows.Columns()))
		for {
			if err := rows.Next(dest); errors.Is(err, io.EOF) {
				return rows.Close()
			} else if err != nil {
				return err
			}
			if stop, err := row(dest); stop || err != nil {
				return err
			}
		}
	})
}
