package db

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
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

func openPostgres(ctx context.Context, cfg Config) (_ *DB, err error) {
	h, err := sqlx.Open("pgx", cfg.Path)
	if err != nil {
		return nil, err
	}
	d := &DB{Reader: h, Path: Redact(cfg.Path), pg: true}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	h.SetMaxOpenConns(postgresMaxConns)
	h.SetMaxIdleConns(postgresMaxConns)
	// attachstore's tables live in the first schema of the search_path
	// that exists; with none, there is nowhere a store could be.
	var schemaName sql.NullString
	var path string
	if err := h.QueryRowContext(ctx, `SELECT current_schema(), current_setting('search_path')`).Scan(&schemaName, &path); err != nil {
		return nil, err
	}
	if !schemaName.Valid {
		return nil, fmt.Errorf("%w: no schema on the search_path (%s) exists in the database; "+
			"create the schema (CREATE SCHEMA), or name one that exists in the URL's search_path", ErrNotAStore, path)
	}
	if cfg.ReadOnly {
		return d, usable(readVersion(ctx, h.DB, true))
	}
	d.writer = h
	var tables, stores int
	if err := h.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE table_name IN ('attachstore_schema_migrations', 'attachstore_blobs'))
		FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables, &stores); err != nil {
		return nil, err
	}
	if stores == 0 && cfg.Existing {
		return nil, errNeverWritten
	}
	d.Created, d.Adopted = tables == 0, tables > 0 && stores == 0
	return d, migrate(ctx, h.DB, cfg.Path)
}
