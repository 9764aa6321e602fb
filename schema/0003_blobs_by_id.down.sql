-- Back to 0002: blobs keyed by an AUTOINCREMENT pk with an id index,
-- chunks keyed by (blob_pk, seq) with a cascading foreign key.
CREATE TABLE IF NOT EXISTS blobs_by_pk (
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

INSERT INTO blobs_by_pk (pk, id, size, chunk_size, media_type, label, extra, created_at, touched_at)
    SELECT pk, id, size, chunk_size, media_type, label, extra, created_at, touched_at FROM blobs;

CREATE TABLE IF NOT EXISTS chunks_by_pk (
    blob_pk INTEGER NOT NULL REFERENCES blobs_by_pk (pk) ON DELETE CASCADE,
    seq     INTEGER NOT NULL CHECK (seq >= 0),
    data    BLOB    NOT NULL,
    PRIMARY KEY (blob_pk, seq)
);

INSERT INTO chunks_by_pk (blob_pk, seq, data) SELECT blob_pk, seq, data FROM chunks;

CREATE TABLE IF NOT EXISTS refs_v2 (
    session_id   TEXT    NOT NULL,
    blob_id      BLOB    NOT NULL REFERENCES blobs_by_pk (id) ON DELETE RESTRICT,
    media_type   TEXT    NOT NULL,
    label        TEXT    NOT NULL DEFAULT '',
    extra        TEXT,
    owner        TEXT    NOT NULL DEFAULT '',
    intent_at    INTEGER NOT NULL,
    committed_at INTEGER,
    PRIMARY KEY (session_id, blob_id)
) WITHOUT ROWID;

INSERT INTO refs_v2 (session_id, blob_id, media_type, label, extra, owner, intent_at, committed_at)
    SELECT session_id, blob_id, media_type, label, extra, owner, intent_at, committed_at FROM refs;

DROP TABLE refs;
DROP TABLE chunks;
DROP TABLE blobs;
ALTER TABLE blobs_by_pk RENAME TO blobs;
ALTER TABLE chunks_by_pk RENAME TO chunks;
ALTER TABLE refs_v2 RENAME TO refs;

CREATE INDEX IF NOT EXISTS blobs_touched ON blobs (touched_at);
CREATE INDEX IF NOT EXISTS refs_blob ON refs (blob_id);
CREATE INDEX IF NOT EXISTS refs_pending ON refs (session_id, owner, intent_at) WHERE committed_at IS NULL;
