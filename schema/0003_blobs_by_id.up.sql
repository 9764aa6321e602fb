-- blobs becomes a WITHOUT ROWID table keyed by content id, and chunks a
-- rowid table keyed by one integer, (blob pk << 32) | seq.
--
-- Why: every read looks a blob up by id and then its chunks by pk. With
-- blobs keyed by pk and chunks by (blob_pk, seq), that was four b-trees
-- (the id index, blobs, the chunks key index, chunks); now it is two. A
-- small put wrote a page of each of those trees plus the touched_at index
-- and sqlite_sequence; each is a whole page in the WAL on every commit.
-- Blob rows are small (an id, sizes, a media type, a label), what WITHOUT
-- ROWID is for; chunks stay in a rowid table, whose large rows are not
-- read just to compare keys.
--
-- What changes with it:
--  - pk is no longer AUTOINCREMENT: a put takes max(pk) + 1, so the pk of
--    the newest blob can come back after that blob is deleted. A streaming
--    reader therefore reads each chunk together with its blob's id and pk.
--  - chunks have no foreign key (it cannot point into a computed key);
--    the trigger below deletes a blob's chunks with it, and Verify looks
--    for chunk rows that belong to no blob.
--  - blobs_touched is gone: Reclaim walks blobs in pk (put) order and
--    tests touched_at on each row, which it did for nearly every row
--    anyway. pk order keeps a dropped session's orphans, and their chunks,
--    together when they are deleted.
--  - blob_pk and seq remain as virtual columns of chunks for reading.
--
-- Safe to run twice (two processes opening the file at once): every copy
-- reads column names that the old and the new tables both have.
CREATE TABLE IF NOT EXISTS blobs_by_id (
    id         BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 32),
    pk         INTEGER NOT NULL UNIQUE CHECK (pk > 0 AND pk < 2147483648),
    size       INTEGER NOT NULL CHECK (size >= 0),
    chunk_size INTEGER NOT NULL CHECK (chunk_size > 0),
    media_type TEXT    NOT NULL,
    label      TEXT    NOT NULL DEFAULT '',
    extra      TEXT,
    created_at INTEGER NOT NULL,
    touched_at INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO blobs_by_id (id, pk, size, chunk_size, media_type, label, extra, created_at, touched_at)
    SELECT id, pk, size, chunk_size, media_type, label, extra, created_at, touched_at FROM blobs;

CREATE TABLE IF NOT EXISTS chunks_by_key (
    key     INTEGER PRIMARY KEY,
    data    BLOB    NOT NULL,
    blob_pk INTEGER GENERATED ALWAYS AS (key >> 32) VIRTUAL,
    seq     INTEGER GENERATED ALWAYS AS (key & 4294967295) VIRTUAL
);

INSERT INTO chunks_by_key (key, data) SELECT (blob_pk << 32) | seq, data FROM chunks;

-- The new refs points at blobs_by_id; the rename below makes that blobs.
CREATE TABLE IF NOT EXISTS refs_v3 (
    session_id   TEXT    NOT NULL,
    blob_id      BLOB    NOT NULL REFERENCES blobs_by_id (id) ON DELETE RESTRICT,
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

-- Children first: dropping blobs while a ref points at it would be refused.
DROP TABLE refs;
DROP TABLE chunks;
DROP TABLE blobs;
ALTER TABLE blobs_by_id RENAME TO blobs;
ALTER TABLE chunks_by_key RENAME TO chunks;
ALTER TABLE refs_v3 RENAME TO refs;

-- The foreign key check on blob delete and Reclaim's "no ref left" test.
CREATE INDEX IF NOT EXISTS refs_blob ON refs (blob_id);
-- Pending, Commit, CommitOwned, ListUncommitted and Reclaim's expiry read
-- only uncommitted rows.
CREATE INDEX IF NOT EXISTS refs_pending ON refs (session_id, owner, intent_at) WHERE committed_at IS NULL;

-- A blob's chunks go with it, whoever deletes it.
CREATE TRIGGER IF NOT EXISTS blobs_delete_chunks AFTER DELETE ON blobs BEGIN
    DELETE FROM chunks WHERE key >= (old.pk << 32) AND key < ((old.pk + 1) << 32);
END;
