package attachstore

// Every statement attachstore runs is here, so that a second SQL dialect
// (PostgreSQL: bytea chunks, the same foreign keys) has one file to follow.
// Times are Unix nanoseconds; ids are 32-byte BLOBs.
//
// Parameters in WHERE, ON and LIMIT are written +?N, not ?N. When the
// query planner sees a bare parameter as an equality operand or a LIMIT,
// it marks the statement to be prepared again once that parameter is
// rebound, and mattn/go-sqlite3 clears the bindings before every run, so
// such a statement was parsed and planned on every call (8–20 µs; a warm
// Get took twice as long). The unary plus hides the value from the
// planner and leaves the plan as it was: the column is still the index
// key. TestQueryParametersKeepPlans holds this file to it.

// The whole-blob reads (Get) fetch a blob's first chunk with an equality
// seek and the rest, if any, with a range scan up to the last key its size
// implies. A range scan alone would step on to the row after the range to
// see it end, and with a small chunk to a page that row is the next blob's
// page: one more page read per small Get, which a cold read pays for from
// disk. A chunk row past the last one is never read; Verify reports it.
const (
	// Never past the blob's own key range, whatever a damaged size says.
	qLastKey = `min((b.pk << 32) + max(b.size - 1, 0) / b.chunk_size, (b.pk << 32) | 4294967295)`
)

const (
	qTouchBlob = `UPDATE blobs SET touched_at = ? WHERE id = +?
		RETURNING pk, size, media_type, label, extra, created_at`
	// A put inserts the blob row unless its id is there, with a statement
	// that returns no rows (see Tx.insertBlob). The id test comes before
	// the insert, so content stored already is never refused by a
	// constraint on the new row (a used-up pk range). A new blob takes the
	// next pk after the highest (the pk index's last entry); see chunkKey.
	qInsertNewBlob = `INSERT INTO blobs (pk, id, size, chunk_size, media_type, label, extra, created_at, touched_at)
		SELECT (SELECT coalesce(max(pk), 0) + 1 FROM blobs), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
		WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE id = +?1)`
	// A chunk of the blob stored under id: the statement finds its pk.
	qInsertChunkOf = `INSERT INTO chunks (key, data) SELECT (pk << 32) | ?2, ?3 FROM blobs WHERE id = +?1`
	// A streamed put writes its chunks first, under the pk the next blob
	// takes, and inserts the blob row last, once the bytes are hashed (see
	// Tx.putStream); content stored already drops those chunks instead.
	qNextBlobPK   = `SELECT coalesce(max(pk), 0) + 1 FROM blobs`
	qInsertChunk  = `INSERT INTO chunks (key, data) VALUES (?, ?)`
	qInsertBlobAt = `INSERT INTO blobs (pk, id, size, chunk_size, media_type, label, extra, created_at, touched_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qDeleteChunksOf = `DELETE FROM chunks WHERE key >= +?1 << 32 AND key < (+?1 + 1) << 32`

	qDeleteBlob = `DELETE FROM blobs WHERE id = +?`
	qStatBlob   = `SELECT pk, size, chunk_size, media_type, label, extra, created_at FROM blobs WHERE id = +?`
	// A streaming reader holds no transaction between chunks, so it reads
	// each one with the blob row it expects: a pk reused after a delete
	// finds no row (see chunkKey).
	qReadChunk = `SELECT c.data FROM blobs b, chunks c
		WHERE b.id = +?1 AND b.pk = +?2 AND c.key = +?3`
	qBlobPK = `SELECT pk FROM blobs WHERE id = +?`
	// A whole-blob read (wholeRead): the first query reads the blob's
	// columns and its first chunk, the second the rest when the size says
	// there is more; the union of the two is the same read as one
	// statement, for transactions and in-memory stores.
	qGetFirst = `SELECT b.size, b.chunk_size, b.media_type, b.label, b.extra, b.created_at, c.data
		FROM blobs b LEFT JOIN chunks c ON c.key = b.pk << 32
		WHERE b.id = +?1`
	qGetRest = `SELECT b.size, b.chunk_size, b.media_type, b.label, b.extra, b.created_at, c.data
		FROM blobs b JOIN chunks c ON c.key > b.pk << 32 AND c.key <= ` + qLastKey + `
		WHERE b.id = +?1 AND b.size > b.chunk_size`
	qGetBlobChunks = qGetFirst + ` UNION ALL ` + qGetRest
	qListBlobs     = `SELECT pk, id, size, media_type, label, extra, created_at FROM blobs
		WHERE pk > +? ORDER BY pk LIMIT +?`

	// One Tx call inside a host's Update is undone alone when it fails.
	qSavepoint           = `SAVEPOINT attachstore_call`
	qRollbackToSavepoint = `ROLLBACK TO SAVEPOINT attachstore_call`
	qReleaseSavepoint    = `RELEASE SAVEPOINT attachstore_call`

	// A View on an in-memory store (one connection for reads and writes).
	qQueryOnlyOn  = `PRAGMA query_only = ON`
	qQueryOnlyOff = `PRAGMA query_only = OFF`

	// The manifest. A re-put keeps an existing commit stamp, and with it
	// the owner and intent time that were committed.
	// A ref copies its blob's pk, size, chunk size and creation time (schema
	// 0004), so that a guarded read never looks the blob up. They never
	// change while the ref exists, so a re-put leaves them as they are. No
	// blob, no row: the caller reports it.
	qUpsertRef = `INSERT INTO refs (session_id, blob_id, media_type, label, extra, owner, intent_at,
			blob_pk, blob_size, blob_chunk_size, blob_created_at)
		SELECT ?1, b.id, ?3, ?4, ?5, ?6, ?7, b.pk, b.size, b.chunk_size, b.created_at
		FROM blobs b WHERE b.id = +?2
		ON CONFLICT (session_id, blob_id) DO UPDATE SET
			media_type = excluded.media_type,
			label = excluded.label,
			extra = excluded.extra,
			owner = CASE WHEN refs.committed_at IS NULL THEN excluded.owner ELSE refs.owner END,
			intent_at = CASE WHEN refs.committed_at IS NULL THEN excluded.intent_at ELSE refs.intent_at END`
	// A session's ref with its blob's columns under the blobs table's
	// names, so that qLastKey serves both read paths. SQLite flattens the
	// subquery: the plan is one seek of refs.
	qRefBlob = `SELECT blob_pk AS pk, blob_size AS size, blob_chunk_size AS chunk_size,
			media_type, label, extra, blob_created_at AS created_at
		FROM refs WHERE session_id = +?1 AND blob_id = +?2`
	qSessionFirst = `SELECT b.size, b.chunk_size, b.media_type, b.label, b.extra, b.created_at, c.data
		FROM (` + qRefBlob + `) b LEFT JOIN chunks c ON c.key = b.pk << 32`
	qSessionRest = `SELECT b.size, b.chunk_size, b.media_type, b.label, b.extra, b.created_at, c.data
		FROM (` + qRefBlob + `) b JOIN chunks c ON c.key > b.pk << 32 AND c.key <= ` + qLastKey + `
		WHERE b.size > b.chunk_size`
	qSessionGet  = qSessionFirst + ` UNION ALL ` + qSessionRest
	qSessionStat = `SELECT b.pk, b.size, b.chunk_size, b.media_type, b.label, b.extra, b.created_at
		FROM (` + qRefBlob + `) b`
	qDeleteRef   = `DELETE FROM refs WHERE session_id = +? AND blob_id = +?`
	qDropSession = `DELETE FROM refs WHERE session_id = +?`
	// INDEXED BY: without statistics SQLite prefers the primary key, which
	// walks every ref of the session, committed or not, to find the few
	// pending ones.
	qPending        = `SELECT blob_id FROM refs INDEXED BY refs_pending WHERE session_id = +? AND committed_at IS NULL ORDER BY intent_at, blob_id`
	qCommitAll      = `UPDATE refs INDEXED BY refs_pending SET committed_at = ? WHERE session_id = +? AND committed_at IS NULL`
	qCommitOwned    = `UPDATE refs INDEXED BY refs_pending SET committed_at = ? WHERE session_id = +? AND owner = +? AND committed_at IS NULL`
	qCommitOne      = `UPDATE refs SET committed_at = coalesce(committed_at, ?) WHERE session_id = +? AND blob_id = +?`
	qHoldsRef       = `SELECT EXISTS (SELECT 1 FROM refs WHERE session_id = +? AND blob_id = +?)`
	qEntryColumns   = `r.session_id, r.blob_id, b.size, r.media_type, r.label, r.extra, b.created_at, r.owner, r.intent_at, r.committed_at`
	qSessionEntries = `SELECT ` + qEntryColumns + ` FROM refs r JOIN blobs b ON b.id = r.blob_id
		WHERE r.session_id = +? ORDER BY r.intent_at, r.blob_id`
	qUncommitted = `SELECT ` + qEntryColumns + ` FROM refs r JOIN blobs b ON b.id = r.blob_id
		WHERE r.committed_at IS NULL AND r.intent_at < +? ORDER BY r.intent_at, r.session_id, r.blob_id`
)

// Reclaim.
const (
	qCountExpired  = `SELECT count(*) FROM refs WHERE committed_at IS NULL AND intent_at < +?`
	qExpireIntents = `DELETE FROM refs WHERE (session_id, blob_id) IN (
		SELECT session_id, blob_id FROM refs WHERE committed_at IS NULL AND intent_at < +? LIMIT +?)`
	// Orphans in id order after a cursor; rows with refs are passed over
	// once each, never re-read by a later batch. id order is the blobs
	// table's own order and refs_blob's, so both are read sequentially (see
	// reclaimBlobs). Nearly every blob of a store is older than the grace
	// period, so this tests touched_at on each row rather than keep an
	// index on it that every put would write.
	qOrphanBlobs = `SELECT b.pk, b.id, b.size FROM blobs b
		WHERE b.id > +?2 AND b.touched_at < +?1
		AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.blob_id = b.id)
		ORDER BY b.id LIMIT +?3`
	// A dry run has forgotten no intent, so it counts a blob as orphaned
	// when its only refs are intents the real run would forget first.
	qOrphanBlobsDry = `SELECT b.pk, b.id, b.size FROM blobs b
		WHERE b.id > +?2 AND b.touched_at < +?1
		AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.blob_id = b.id
			AND (r.committed_at IS NOT NULL OR r.intent_at >= +?1))
		ORDER BY b.id LIMIT +?3`
	// The same test again under the write lock, for up to 32 candidates
	// at once (?2 … ?33; unused ones are NULL, which matches no id); the
	// foreign key refuses the delete regardless if a ref exists. Run
	// outside a transaction, one statement is one transaction, and SQLite
	// needs no statement journal for it (see deleteOrphans).
	qDeleteOrphans = `DELETE FROM blobs WHERE id IN (
		+?2, +?3, +?4, +?5, +?6, +?7, +?8, +?9, +?10, +?11, +?12, +?13, +?14, +?15, +?16, +?17,
		+?18, +?19, +?20, +?21, +?22, +?23, +?24, +?25, +?26, +?27, +?28, +?29, +?30, +?31, +?32, +?33)
		AND touched_at < +?1
		AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.blob_id = blobs.id)
		RETURNING size`
)

// Verify and Stats.
const (
	qBlobTotals   = `SELECT count(*), coalesce(sum(size), 0) FROM blobs`
	qRefTotals    = `SELECT count(*), count(DISTINCT session_id), count(*) FILTER (WHERE committed_at IS NULL) FROM refs`
	qVerifyBlobs  = `SELECT pk, id, size, chunk_size FROM blobs WHERE pk > +? ORDER BY pk LIMIT +?`
	qVerifyChunks = `SELECT seq, data FROM chunks WHERE key >= (?1 << 32) AND key < ((?1 + 1) << 32) ORDER BY key`
	// Refs whose copy of their blob's columns (schema 0004) is not the
	// blob's; a ref to a missing blob is foreign_key_check's finding.
	qStaleRefs = `SELECT count(*) FROM refs r JOIN blobs b ON b.id = r.blob_id
		WHERE r.blob_pk IS NOT b.pk OR r.blob_size IS NOT b.size
		OR r.blob_chunk_size IS NOT b.chunk_size OR r.blob_created_at IS NOT b.created_at`
	// Chunk rows whose key lies between two blobs' ranges belong to none.
	qStrayChunks = `SELECT count(*) FROM chunks WHERE key BETWEEN ?1 AND ?2`
)
