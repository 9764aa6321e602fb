-- Back to 0003: refs without the copied blob columns.
DROP TRIGGER IF EXISTS refs_fill_blob;
DROP TRIGGER IF EXISTS refs_refill_blob;

CREATE TABLE IF NOT EXISTS refs_v3 (
    session_id   TEXT    NOT NULL,
    blob_id      BLOB    NOT NULL REFERENCES blobs (id) ON DELETE RESTRICT,
    media_type   TEXT    NOT NULL,
    label        TEXT    NOT NULL DEFAULT '',
    extra        TEXT,
    owner        TEXT    NOT NULL DEFAULT '',
    intent_at    INTEGER NOT NULL,
    committed_at INTEGER,
    PRIMARY KEY (session_id, blob_id)
) WITHOUT ROWID;

INSERT INTO refs_v3 (session_id, blob_id, media_type, label, extra, owner, intent_at, committed_at)
    SELECT session_id, blob_id, media_type, label, extra, owner, intent_at, committed_at FROM refs;

DROP TABLE refs;
ALTER TABLE refs_v3 RENAME TO refs;

CREATE INDEX IF NOT EXISTS refs_blob ON refs (blob_id);
CREATE INDEX IF NOT EXISTS refs_pending ON refs (session_id, owner, intent_at) WHERE committed_at IS NULL;
