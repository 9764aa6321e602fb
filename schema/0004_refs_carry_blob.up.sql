-- Each ref carries what a guarded read needs of its blob: the blob's pk,
-- size, chunk size and creation time.
--
-- Why: Session.Get looked the ref up by (session_id, blob_id), then the
-- blob by id, then its chunks by pk: three b-tree descents, each a page
-- read that a cold cache pays for from disk. With these columns it is two,
-- the ref and the chunks, as many as the file-based designs pay (a manifest
-- row, then the file).
--
-- The copied values cannot go stale: a blob's pk, size, chunk size and
-- creation time never change once its put has finished, and the foreign
-- key keeps a blob from being deleted (and its pk reused) while any ref
-- points at it. Verify checks every ref against its blob.
--
-- attachstore writes the columns itself (qUpsertRef). A ref inserted by
-- other SQL without them, which the foreign key still protects, gets them
-- filled in by the trigger below; so does a ref whose blob_id is changed.
--
-- Safe to run twice, as 0003: the copy reads only columns that the old and
-- the new refs tables both have, and LEFT JOIN keeps a ref even if its
-- blob were missing (Verify reports such a ref).
CREATE TABLE IF NOT EXISTS refs_v4 (
    session_id      TEXT    NOT NULL,
    blob_id         BLOB    NOT NULL REFERENCES blobs (id) ON DELETE RESTRICT,
    media_type      TEXT    NOT NULL,
    label           TEXT    NOT NULL DEFAULT '',
    extra           TEXT,
    owner           TEXT    NOT NULL DEFAULT '',
    intent_at       INTEGER NOT NULL,
    committed_at    INTEGER,
    blob_pk         INTEGER,
    blob_size       INTEGER,
    blob_chunk_size INTEGER,
    blob_created_at INTEGER,
    PRIMARY KEY (session_id, blob_id)
) WITHOUT ROWID;

INSERT INTO refs_v4 (session_id, blob_id, media_type, label, extra, owner, intent_at, committed_at,
        blob_pk, blob_size, blob_chunk_size, blob_created_at)
    SELECT r.session_id, r.blob_id, r.media_type, r.label, r.extra, r.owner, r.intent_at, r.committed_at,
        b.pk, b.size, b.chunk_size, b.created_at
    FROM refs r LEFT JOIN blobs b ON b.id = r.blob_id;

DROP TABLE refs;
ALTER TABLE refs_v4 RENAME TO refs;

CREATE INDEX IF NOT EXISTS refs_blob ON refs (blob_id);
CREATE INDEX IF NOT EXISTS refs_pending ON refs (session_id, owner, intent_at) WHERE committed_at IS NULL;

-- A ref written without the blob's columns, or moved to another blob, takes
-- them from the blob. Triggers do not fire themselves again (recursive
-- triggers are off), so the UPDATE below does not re-enter.
CREATE TRIGGER IF NOT EXISTS refs_fill_blob AFTER INSERT ON refs
WHEN NEW.blob_pk IS NULL OR NEW.blob_size IS NULL OR NEW.blob_chunk_size IS NULL OR NEW.blob_created_at IS NULL
BEGIN
    UPDATE refs SET (blob_pk, blob_size, blob_chunk_size, blob_created_at) =
        (SELECT pk, size, chunk_size, created_at FROM blobs WHERE id = NEW.blob_id)
    WHERE session_id = NEW.session_id AND blob_id = NEW.blob_id;
END;

CREATE TRIGGER IF NOT EXISTS refs_refill_blob AFTER UPDATE OF blob_id, blob_pk, blob_size, blob_chunk_size, blob_created_at ON refs
WHEN NEW.blob_id IS NOT OLD.blob_id
    OR NEW.blob_pk IS NULL OR NEW.blob_size IS NULL OR NEW.blob_chunk_size IS NULL OR NEW.blob_created_at IS NULL
BEGIN
    UPDATE refs SET (blob_pk, blob_size, blob_chunk_size, blob_created_at) =
        (SELECT pk, size, chunk_size, created_at FROM blobs WHERE id = NEW.blob_id)
    WHERE session_id = NEW.session_id AND blob_id = NEW.blob_id;
END;
