package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/jmoiron/sqlx"
)

// IsURL reports whether path names a PostgreSQL database rather than a
// file: it starts with postgres:// or postgresql:// in any letter case. It
// is the one test of that, for the library and the command: a URL taken
// for a file path would put its password in a "no such file" message.
func IsURL(path string) bool { return urlScheme(path) != "" }

// urlScheme returns the scheme path starts with, in lower case as pgx
// accepts it, or "".
func urlScheme(path string) string {
	for _, s := range []string{"postgres://", "postgresql://"} {
		if len(path) >= len(s) && strings.EqualFold(path[:len(s)], s) {
			return s
		}
	}
	return ""
}

// connString is the URL as pgx parses it: pgx recognises only a lower-case
// scheme, and would read POSTGRES://… as a key=value string.
func connString(rawURL string) string {
	s := urlScheme(rawURL)
	return s + rawURL[len(s):]
}

// Redact returns a PostgreSQL URL with its user's password and any
// password or sslpassword parameter masked. A URL that does not parse is
// named by its scheme alone: where its password ends cannot be known.
func Redact(rawURL string) string {
	u, err := url.Parse(connString(rawURL))
	if err != nil || u.Opaque != "" {
		return urlScheme(rawURL) + "(an unparsable URL)"
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q[k] = []string{"xxxxx"}
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// postgresMaxConns bounds the pool one Store opens on a server.
const postgresMaxConns = 16

func openPostgres(ctx context.Context, cfg Config) (*DB, error) {
	h, err := sqlx.Open("pgx", cfg.Path)
	if err != nil {
		return nil, err
	}
	d := &DB{Reader: h, Path: Redact(cfg.Path), pg: true}
	h.SetMaxOpenConns(postgresMaxConns)
	h.SetMaxIdleConns(postgresMaxConns)
	// attachstore's tables live in the first schema of the search_path
	// that exists; with none, there is nowhere a store could be.
	var schemaName sql.NullString
	var path string
	if err := h.QueryRowContext(ctx, `SELECT current_schema(), current_setting('search_path')`).Scan(&schemaName, &path); err != nil {
		return d, err
	}
	if !schemaName.Valid {
		return d, fmt.Errorf("%w: no schema on the search_path (%s) exists in the database; "+
			"create the schema (CREATE SCHEMA), or name one that exists in the URL's search_path", ErrNotAStore, path)
	}
	if cfg.ReadOnly {
		return d, usable(readVersion(ctx, h.DB, true))
	}
	d.writer = h
	var tables, stores int
	if err := h.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE table_name IN ('attachstore_schema_migrations', 'attachstore_blobs'))
		FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables, &stores); err != nil {
		return d, err
	}
	if stores == 0 && cfg.Existing {
		return d, errNeverWritten
	}
	d.Created, d.Adopted = tables == 0, tables > 0 && stores == 0
	return d, migrate(ctx, h.DB, cfg.Path)
}

// Step is one statement of a Pipeline. Scan, when not nil, receives the
// statement's one row (sql.ErrNoRows when it has none); otherwise the
// result is not read.
type Step struct {
	Query string
	Args  []any
	Scan  []any
}

// Pipeline sends steps to PostgreSQL in one round trip, through pgx's own
// batch (stdlib.Conn.Conn), and the server runs them in order in conn's
// open transaction. Each is a statement of its own, with its own snapshot,
// as if sent one by one; only the network waits are saved. It returns the
// first step's failure (the steps after a statement that failed fail too:
// the transaction is aborted).
func (d *DB) Pipeline(ctx context.Context, conn *sql.Conn, steps []Step) (err error) {
	rerr := conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("attachstore: no pipeline on %T", dc)
		}
		b := &pgx.Batch{}
		for _, s := range steps {
			b.Queue(s.Query, s.Args...)
		}
		br := c.Conn().SendBatch(ctx, b)
		for _, s := range steps {
			var serr error
			if s.Scan != nil {
				if serr = br.QueryRow().Scan(s.Scan...); errors.Is(serr, pgx.ErrNoRows) {
					serr = sql.ErrNoRows
				}
			} else {
				_, serr = br.Exec()
			}
			if err == nil {
				err = serr
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return nil
	})
	if rerr != nil {
		return rerr
	}
	return err
}
