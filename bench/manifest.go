package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// manifest is the peers' separate SQLite database of which session references
// which blob, set up the way the peer design prescribes: WAL, synchronous
// FULL, one writer connection whose transactions begin IMMEDIATE, and a pool
// of readers. It never shares a transaction with the bytes: that is the
// point of comparison.
type manifest struct {
	path string
	w, r *sql.DB

	insIntent, stampCommit, dropSession *sql.Stmt // on w
	holds, referenced                   *sql.Stmt // on r
}

const manifestSchema = `
CREATE TABLE IF NOT EXISTS refs (
	session_id   TEXT    NOT NULL,
	blob_id      TEXT    NOT NULL,
	intent_at    INTEGER NOT NULL,
	committed_at INTEGER,
	PRIMARY KEY (session_id, blob_id)
);
CREATE INDEX IF NOT EXISTS refs_blob ON refs (blob_id);
`

func manifestDSN(path, synchronous, extra string) string {
	// Pragmas go in the DSN so that every pooled connection gets them.
	return "file:" + url.PathEscape(path) +
		"?_journal_mode=WAL&_synchronous=" + synchronous + "&_busy_timeout=10000&_foreign_keys=on" + extra
}

func openManifest(ctx context.Context, path string) (_ *manifest, err error) {
	m := &manifest{path: path}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.w, err = sql.Open("sqlite3", manifestDSN(path, "FULL", "&_txlock=immediate")); err != nil {
		return nil, err
	}
	m.w.SetMaxOpenConns(1)
	if _, err = m.w.ExecContext(ctx, manifestSchema); err != nil {
		return nil, fmt.Errorf("manifest schema: %w", err)
	}
	if m.r, err = sql.Open("sqlite3", manifestDSN(path, "FULL", "&_query_only=1")); err != nil {
		return nil, err
	}
	m.r.SetMaxOpenConns(4)
	m.r.SetMaxIdleConns(4)
	prep := func(db *sql.DB, dst **sql.Stmt, q string) {
		if err == nil {
			*dst, err = db.PrepareContext(ctx, q)
		}
	}
	// An intent never clears an existing row's commit stamp.
	prep(m.w, &m.insIntent, `INSERT INTO refs (session_id, blob_id, intent_at) VALUES (?, ?, ?)
		ON CONFLICT (session_id, blob_id) DO NOTHING`)
	prep(m.w, &m.stampCommit, `UPDATE refs SET committed_at = ?
		WHERE session_id = ? AND blob_id = ? AND committed_at IS NULL`)
	prep(m.w, &m.dropSession, `DELETE FROM refs WHERE session_id = ?`)
	prep(m.r, &m.holds, `SELECT 1 FROM refs WHERE session_id = ? AND blob_id = ?`)
	prep(m.r, &m.referenced, `SELECT EXISTS (SELECT 1 FROM refs WHERE blob_id = ?)`)
	if err != nil {
		return nil, fmt.Errorf("manifest prepare: %w", err)
	}
	return m, nil
}

func (m *manifest) Close() error {
	var first error
	for _, db := range []*sql.DB{m.r, m.w} {
		if db == nil {
			continue
		}
		if err := db.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// inTx runs fn in one write transaction on the writer connection.
func (m *manifest) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := m.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// intend records uncommitted refs, durably, before any byte is written.
func (m *manifest) intend(ctx context.Context, session string, ids []ID) error {
	now := time.Now().UnixNano()
	return m.inTx(ctx, func(tx *sql.Tx) error {
		st := tx.StmtContext(ctx, m.insIntent)
		for _, id := range ids {
			if _, err := st.ExecContext(ctx, session, id.String(), now); err != nil {
				return err
			}
		}
		return nil
	})
}

// commit stamps the session's refs to ids committed, after the bytes are durable.
func (m *manifest) commit(ctx context.Context, session string, ids []ID) error {
	now := time.Now().UnixNano()
	return m.inTx(ctx, func(tx *sql.Tx) error {
		st := tx.StmtContext(ctx, m.stampCommit)
		for _, id := range ids {
			if _, err := st.ExecContext(ctx, now, session, id.String()); err != nil {
				return err
			}
		}
		return nil
	})
}

// Loader settings, for building stores only, as attachstore's loader has
// them: a page cache that holds the refs' indexes, and no fsync (the
// harness syncs the file system after loading). The measured handles keep
// the design's settings.
const (
	loaderDSN  = "&_txlock=immediate&_cache_size=-524288" // 512 MiB
	loaderSync = "OFF"
)

// openLoader opens a second handle on the manifest with the loader
// settings, one connection.
func (m *manifest) openLoader() (*sql.DB, error) {
	db, err := sql.Open("sqlite3", manifestDSN(m.path, loaderSync, loaderDSN))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// load records committed refs, ids[k] for sessions[k], in one transaction
// of a loader handle (setup only).
func (m *manifest) load(ctx context.Context, sessions []string, ids [][]ID) (err error) {
	db, err := m.openLoader()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO refs (session_id, blob_id, intent_at, committed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (session_id, blob_id) DO UPDATE SET committed_at = coalesce(committed_at, excluded.committed_at)`)
	if err != nil {
		return errors.Join(err, tx.Rollback())
	}
	now := time.Now().UnixNano()
	for k, session := range sessions {
		for _, id := range ids[k] {
			if _, err := st.ExecContext(ctx, session, id.String(), now, now); err != nil {
				return errors.Join(err, tx.Rollback())
			}
		}
	}
	return tx.Commit()
}

func (m *manifest) drop(ctx context.Context, session string) error {
	return m.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, m.dropSession).ExecContext(ctx, session)
		return err
	})
}

// holdsRef is the guard of a session read.
func (m *manifest) holdsRef(ctx context.Context, session string, id ID) (bool, error) {
	var one int
	err := m.holds.QueryRowContext(ctx, session, id.String()).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

// isReferenced tells whether any session, committed or not, references hexID.
func (m *manifest) isReferenced(ctx context.Context, hexID string) (bool, error) {
	var yes bool
	err := m.referenced.QueryRowContext(ctx, hexID).Scan(&yes)
	return yes, err
}
