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

// urlSchemes are the schemes that name a PostgreSQL database, as pgx
// accepts them (lower case).
var urlSchemes = [...]string{"postgres://", "postgresql://"}

// IsURL reports whether path names a PostgreSQL database rather than a
// file: it starts with postgres:// or postgresql:// in any letter case, as
// URL schemes are case-insensitive. It is the one test of that, for the
// library and the command alike: a URL taken for a file path would put its
// password in a "no such file" message.
func IsURL(path string) bool {
	return urlScheme(path) != ""
}

// urlScheme returns the scheme path starts with, in lower case, or "".
func urlScheme(path string) string {
	for _, s := range urlSchemes {
		if len(path) >= len(s) && strings.EqualFold(path[:len(s)], s) {
			return s
		}
	}
	return ""
}

// connString is the URL as pgx parses it: pgx recognises only a lower-case
// scheme, and would read POSTGRES://… as a key=value string.
func connString(rawURL string) string {
	if s := urlScheme(rawURL); s != "" {
		return s + rawURL[len(s):]
	}
	return rawURL
}

// Redact returns a PostgreSQL URL without its password, for messages and
// output: the password of its user part and any password or sslpassword
// query parameter are masked. A URL that does not parse is named by its
// scheme alone, since where its password ends cannot be known. It is the
// one redactor the library and the command use.
func Redact(rawURL string) string {
	u, err := url.Parse(connString(rawURL))
	if err != nil || u.Opaque != "" {
		return urlScheme(rawURL) + "(an unparsable URL)"
	}
	q := u.Query()
	masked := false
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q[k] = []string{"xxxxx"}
			masked = true
		}
	}
	if masked {
		u.RawQuery = q.Encode()
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
	if err := h.PingContext(ctx); err != nil {
		return nil, err
	}
	// attachstore's tables live in the first schema of the search_path
	// that exists; with none, there is nowhere a store could be.
	var schemaName sql.NullString
	if err := h.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schemaName); err != nil {
		return nil, err
	}
	if !schemaName.Valid {
		var path string
		if err := h.QueryRowContext(ctx, `SHOW search_path`).Scan(&path); err != nil {
			return nil, err
		}
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
	switch {
	case stores == 0 && cfg.Existing:
		return nil, errNeverWritten
	case tables == 0:
		d.Created = true
	case stores == 0:
		d.Adopted = true
	}
	return d, migrate(ctx, h.DB, cfg.Path)
}
