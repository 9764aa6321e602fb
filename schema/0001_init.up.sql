-- blobs: one row per distinct content. id is the SHA-256 of the bytes; pk is
-- the key chunks hang from (AUTOINCREMENT so a pk is never reused, which lets
-- a streaming reader address chunks by pk without holding a transaction).
CREATE TABLE IF NOT EXISTS blobs (
    pk         INTEGER PRIMARY KEY AUTOINCREMENT,
    id         BLOB    NOT NULL UNIQUE CHECK (length(id) = 32),
    size       INTEGER NOT NULL CHECK (size >= 0),
    chunk_size INTEGER NOT NULL CHECK (chunk_size > 0),
    media_type TEXT    NOT NULL,
    label      TEXT    NOT NULL DEFAULT '',
    extra      TEXT,
    created_at INTEGER NOT NULL,
    touched_at INTEGER NOT NULL
);

-- Reclaim scans orphans oldest-first.
CREATE INDEX IF NOT EXISTS blobs_touched ON blobs (touched_at);

-- chunks: the bytes, in fixed-size rows so a blob may exceed SQLite's 1 GB
-- value limit and be streamed with bounded memory. A rowid table (not WITHOUT
-- ROWID): large rows in a WITHOUT ROWID b-tree are read through overflow pages
-- just to compare keys.
CREATE TABLE IF NOT EXISTS chunks (
    blob_pk INTEGER NOT NULL REFERENCES blobs (pk) ON DELETE CASCADE,
    seq     INTEGER NOT NULL CHECK (seq >= 0),
    data    BLOB    NOT NULL,
    PRIMARY KEY (blob_pk, seq)
);

-- refs: the manifest. A row says a session references a blob; committed_at is
-- NULL while the row is only an intent. ON DELETE RESTRICT is what makes it
-- impossible to delete referenced content, whatever the Go code does.
CREATE TABLE IF NOT EXISTS refs (
    session_id   TEXT    NOT NULL,
    blob_id      BLOB    NOT NULL REFERENCES blobs (id) ON DELETE RESTRICT,
    media_type   TEXT    NOT NULL,
    label        TEXT    NOT NULL DEFAULT '',
    extra        TEXT,
    owner        TEXT    NOT NULL DEFAULT '',
    intent_at    INTEGER NOT NULL,
    committed_at INTEGER,
    PRIMARY KEY (session_id, blob_id)
);

-- The foreign key check on blob delete and Reclaim's "no ref left" test.
CREATE INDEX IF NOT EXISTS refs_blob ON refs (blob_id);
-- Pending, CommitOwned and ListUncommitted read only uncommitted rows.
CREATE INDEX IF NOT EXISTS refs_pending ON refs (session_id, owner) WHERE committed_at IS NULL;
CREATE INDEX IF NOT EXISTS refs_intent ON refs (intent_at) WHERE committed_at IS NULL;
