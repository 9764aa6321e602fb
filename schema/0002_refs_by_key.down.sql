-- Back to the rowid refs table of 0001 and its two partial indexes.
CREATE TABLE IF NOT EXISTS refs_rowid (
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

INSERT INTO refs_rowid (session_id, blob_id, media_type, label, extra, owner, intent_at, committed_at)
    SELECT session_id, blob_id, media_type, label, extra, owner, intent_at, committed_at FROM refs;

DROP TABLE refs;
ALTER TABLE refs_rowid RENAME TO refs;

CREATE INDEX IF NOT EXISTS refs_blob ON refs (blob_id);
CREATE INDEX IF NOT EXISTS refs_pending ON refs (session_id, owner) WHERE committed_at IS NULL;
CREATE INDEX IF NOT EXISTS refs_intent ON refs (intent_at) WHERE committed_at IS NULL;
