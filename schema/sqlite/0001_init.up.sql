-- attachstore's schema for SQLite as released in 0.1.0, and frozen since:
-- a later change is a new migration, never an edit of this one. Times are
-- Unix nanoseconds; ids are the 32-byte SHA-256 of the content. Every
-- statement is IF NOT EXISTS, so two processes creating a new file at the
-- same moment cannot fail each other.

-- A blob is content. Its bytes are rows of chunks, chunk_size bytes each
-- but the last, so that a blob may pass SQLite's 1 GB value limit and
-- streams in and out with bounded memory. Reads look blobs up by id, so id
-- is the key. pk is the key of the blob's first chunk: its chunks sit at
-- consecutive keys from there (see attachstore_chunks), so a read finds
-- them with one range search and no index of their own. pk is unique and
-- indexed, so that List yields blobs oldest first, page by page; an empty
-- blob has no chunk but still takes a pk. The metadata is the first put's.
-- touched_at is refreshed by every put of the same bytes, and keeps the
-- blob from Reclaim for its grace period.
CREATE TABLE IF NOT EXISTS attachstore_blobs (
    id         BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 32),
    pk         INTEGER NOT NULL UNIQUE CHECK (pk > 0),
    size       INTEGER NOT NULL CHECK (size >= 0),
    chunk_size INTEGER NOT NULL CHECK (chunk_size > 0),
    media_type TEXT    NOT NULL,
    label      TEXT    NOT NULL DEFAULT '',
    extra      TEXT,
    created_at INTEGER NOT NULL,
    touched_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Chunk seq of the blob whose pk is blob_pk has the key k = blob_pk + seq:
-- a rowid table, so that a put appends its chunks at the end of one b-tree
-- and never rewrites a page it wrote before (an index b-tree rebalances
-- earlier leaves, which SQLite may already have spilled to the WAL), and a
-- read of a whole blob is one range search. blob_pk and seq repeat what k
-- says, so that every read checks a chunk is the one it wants: a damaged
-- row reads as ErrCorrupt, never as another blob's bytes. There is no
-- foreign key (it would need an index on blob_pk): whoever deletes a blob
-- deletes its range of chunks in the same transaction. New keys come after
-- the highest chunk key and blob pk, so a key is reused only after the
-- blob that had it is gone; a Reader that holds no transaction checks its
-- blob's id and pk with each chunk.
CREATE TABLE IF NOT EXISTS attachstore_chunks (
    k       INTEGER PRIMARY KEY,
    blob_pk INTEGER NOT NULL,
    seq     INTEGER NOT NULL CHECK (seq >= 0),
    data    BLOB    NOT NULL
);

-- The manifest: which session references which blob. A row is either an
-- owner's uncommitted intent (committed_at = 0) or the session's committed
-- ref (committed_at is when it was stamped; owner is whose intent it was).
-- Each owner's intent is its own row, so one owner's put, expiry or discard
-- never changes another's, and a session holds at most one committed ref
-- to a blob (attachstore_refs_committed). ON DELETE RESTRICT is what makes it
-- impossible to delete referenced content, whatever the Go code does.
-- attachstore's tables are its own (a host reads them, never writes them),
-- so a ref carries what a session's read needs of its blob, copied from the
-- blob's row when the ref is written: blob_pk, size, chunk_size and
-- created_at never change while a ref holds the blob, and a read through a
-- ref needs the blobs table no more.
CREATE TABLE IF NOT EXISTS attachstore_refs (
    session_id   TEXT    NOT NULL,
    blob_id      BLOB    NOT NULL REFERENCES attachstore_blobs (id) ON DELETE RESTRICT,
    owner        TEXT    NOT NULL DEFAULT '',
    committed_at INTEGER NOT NULL DEFAULT 0 CHECK (committed_at >= 0),
    intent_at    INTEGER NOT NULL,
    media_type   TEXT    NOT NULL,
    label        TEXT    NOT NULL DEFAULT '',
    extra        TEXT,
    blob_pk      INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    chunk_size   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    -- blob_id first: the foreign key's lookup when a blob is deleted,
    -- RefsTo, and a session's read of one blob all search this b-tree.
    PRIMARY KEY (blob_id, session_id, owner, committed_at)
) WITHOUT ROWID;

-- A session's committed refs and its intents: together, every ref of a
-- session (Refs, DropSession, Sessions read both).
CREATE UNIQUE INDEX IF NOT EXISTS attachstore_refs_committed ON attachstore_refs (session_id, blob_id) WHERE committed_at <> 0;
-- An owner's intents (CommitOwned, Discard) and Reclaim's expiry read only
-- uncommitted rows.
CREATE INDEX IF NOT EXISTS attachstore_refs_pending ON attachstore_refs (session_id, owner) WHERE committed_at = 0;

-- A hold keeps an owner's intents from Reclaim until held_until, whatever
-- its grace period. CommitOwned and Discard end it.
CREATE TABLE IF NOT EXISTS attachstore_holds (
    session_id TEXT    NOT NULL,
    owner      TEXT    NOT NULL,
    held_until INTEGER NOT NULL,
    PRIMARY KEY (session_id, owner)
) WITHOUT ROWID;

-- A dropped session's tombstone: puts and commits into it fail until
-- Reclaim clears tombstones older than its grace period, so a turn still in
-- flight cannot bring a deleted chat back.
CREATE TABLE IF NOT EXISTS attachstore_dropped_sessions (
    session_id TEXT    NOT NULL PRIMARY KEY,
    dropped_at INTEGER NOT NULL
) WITHOUT ROWID;
