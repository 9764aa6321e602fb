package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// The PostgreSQL server of a run. The postgres system and PostgreSQL's
// floor work in a database of the run's own, created when the run starts
// and dropped when it ends (also on Ctrl-C, as the scratch directory is
// removed), so a run leaves nothing on a server it shares with others;
// inside it each store, and each floor, has a schema of its own.

// pgServer is the server of one run and the database made for it.
type pgServer struct {
	base  *url.URL // the URL given, with the run's database in its path
	name  string   // the run's database
	admin *sql.DB  // on the database the URL given names: creates and drops the run's
	db    *sql.DB  // on the run's database: schemas, CHECKPOINT, SHOW

	mu      sync.Mutex
	schemas map[string]string // store directory → its schema
	floors  int
}

// pgDropTimeout bounds dropping the run's database at the end, which runs
// after Ctrl-C too, on a context of its own.
const pgDropTimeout = time.Minute

// openPGServer connects to the server rawURL names and creates the run's
// database on it. The role needs CREATEDB; a superuser (as CI's) has it.
func openPGServer(ctx context.Context, rawURL string) (_ *pgServer, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("-postgres: the URL does not parse") // its text may hold a password
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	p := &pgServer{name: "attachstore_bench_" + hex.EncodeToString(b[:]), schemas: map[string]string{}}
	if p.admin, err = sql.Open("pgx", rawURL); err != nil {
		return nil, err
	}
	if _, err := p.admin.ExecContext(ctx, "CREATE DATABASE "+p.name); err != nil {
		p.admin.Close()
		return nil, fmt.Errorf("creating database %s on %s: %w", p.name, u.Redacted(), err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.close())
		}
	}()
	run := *u
	run.Path = "/" + p.name
	run.RawPath = ""
	p.base = &run
	if p.db, err = sql.Open("pgx", run.String()); err != nil {
		return nil, err
	}
	return p, p.db.PingContext(ctx)
}

// close drops the run's database, and with it every store and floor left
// in it, ending any connection still on it.
func (p *pgServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), pgDropTimeout)
	defer cancel()
	var errs []error
	if p.db != nil {
		errs = append(errs, p.db.Close())
	}
	if _, err := p.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+p.name+" WITH (FORCE)"); err != nil {
		errs = append(errs, fmt.Errorf("dropping database %s: %w", p.name, err))
	}
	return errors.Join(append(errs, p.admin.Close())...)
}

// urlFor returns the run database's URL with schema first in search_path,
// where attachstore creates its tables.
func (p *pgServer) urlFor(schema string) string {
	u := *p.base
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// storeURL returns the URL of the store kept in dir's stead: a schema of
// its own, created if needed, the same for every call with that dir, so
// that a system reopened on the same dir finds its store.
func (p *pgServer) storeURL(ctx context.Context, dir string) (string, error) {
	schema := p.schemaFor(dir)
	if _, err := p.db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return "", fmt.Errorf("creating schema %s: %w", schema, err)
	}
	return p.urlFor(schema), nil
}

// dropStore drops the store kept in dir's stead, as removeAndSync deletes
// a file store between phases.
func (p *pgServer) dropStore(ctx context.Context, dir string) error {
	schema := p.schemaFor(dir)
	if _, err := p.db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
		return fmt.Errorf("dropping schema %s: %w", schema, err)
	}
	return nil
}

// schemaFor names dir's schema after its last two elements ("small_postgres",
// "grow_postgres"), with a number added when another dir took that name.
func (p *pgServer) schemaFor(dir string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.schemas[dir]; ok {
		return s
	}
	name := identifier(filepath.Base(filepath.Dir(dir)) + "_" + filepath.Base(dir))
	taken := func(n string) bool {
		for _, s := range p.schemas {
			if s == n {
				return true
			}
		}
		return false
	}
	s := name
	for k := 2; taken(s); k++ {
		s = fmt.Sprintf("%s_%d", name, k)
	}
	p.schemas[dir] = s
	return s
}

// identifier makes s a lower-case SQL identifier that needs no quoting.
func identifier(s string) string {
	var b strings.Builder
	b.WriteString("s_")
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	return out[:min(len(out), 48)]
}

// newFloorSchema creates a fresh schema for one floor measurement and
// returns its URL and the function that drops it.
func (p *pgServer) newFloorSchema(ctx context.Context) (string, func() error, error) {
	p.mu.Lock()
	p.floors++
	schema := fmt.Sprintf("floor_%d", p.floors)
	p.mu.Unlock()
	if _, err := p.db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("creating schema %s: %w", schema, err)
	}
	drop := func() error {
		// The floor may end because ctx did: the drop must still run.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgDropTimeout)
		defer cancel()
		if _, err := p.db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("dropping schema %s: %w", schema, err)
		}
		return nil
	}
	return p.urlFor(schema), drop, nil
}

// checkpoint writes every dirty buffer of the server out and fsyncs it:
// for a store on the server, what syncFS is for a store in the scratch
// directory, so that a load's writes do not land in a timed part.
// CHECKPOINT needs a superuser or the pg_checkpoint role.
func (p *pgServer) checkpoint(ctx context.Context) error {
	if _, err := p.db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("CHECKPOINT: %w", err)
	}
	return nil
}

// pgSettings are the server settings the header records: what a commit
// costs depends on them.
var pgSettings = []string{"server_version", "synchronous_commit", "fsync", "shared_buffers"}

// settings returns pgSettings as the run's database sees them.
func (p *pgServer) settings(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range pgSettings {
		var v string
		if err := p.db.QueryRowContext(ctx, "SHOW "+name).Scan(&v); err != nil {
			return nil, fmt.Errorf("SHOW %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

// describe is the header's line about the server.
func (p *pgServer) describe(ctx context.Context) (string, error) {
	s, err := p.settings(ctx)
	if err != nil {
		return "", err
	}
	line := fmt.Sprintf("PostgreSQL %s at %s, synchronous_commit %s, fsync %s, shared_buffers %s",
		s["server_version"], p.base.Host, s["synchronous_commit"], s["fsync"], s["shared_buffers"])
	if s["fsync"] != "on" || s["synchronous_commit"] == "off" {
		line += " (commits are NOT durable: its rows do not compare with the durable ones)"
	}
	return line, nil
}

// redactArgs returns args with the password of any PostgreSQL URL among
// them removed, for the header's command line.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		prefix, v := "", a
		if k, val, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "-") {
			prefix, v = k+"=", val
		}
		if strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://") {
			if u, err := url.Parse(v); err == nil {
				v = u.Redacted()
			} else {
				v = "(a PostgreSQL URL)"
			}
		}
		out[i] = prefix + v
	}
	return out
}
