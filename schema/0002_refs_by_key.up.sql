-- refs becomes a WITHOUT ROWID table clustered on its primary key.
--
-- Every guarded read looks a ref up by (session_id, blob_id) and every
-- Session.Put writes one. As a rowid table that was two b-trees, the table
-- and its primary-key index: two lookups per read, two pages per write. The
-- rows are small (ids, a media type, a label), the case WITHOUT ROWID is for.
-- The two partial indexes of uncommitted rows become one: pending rows are
-- few, and the queries by intent time scan them all anyway.
--
-- Safe to run twice (two processes opening the file at once): the copy
-- reads whichever refs table exists, and the statements before it use
-- IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS refs_by_key (
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

INSERT INTO refs_by_key (session_id, blob_id, media_type, label, extra, owner, intent_at, committed_at)
    SELECT session_id, blob_id, media_type, label, extra, owner, intent_at, committed_at FROM refs;

DROP TABLE refs;
ALTER TABLE refs_by_key RENAME TO refs;

-- The foreign key check on blob delete and Reclaim's "no ref left" test.
CREATE INDEX IF NOT EXISTS refs_blob ON refs (blob_id);
-- Pending, Commit, CommitOwned, ListUncommitted and Reclaim's expiry read
-- only uncommitted rows.
CREATE INDEX IF NOT EXISTS refs_pending ON refs (session_id, owner, intent_at) WHERE committed_at IS NULL;
