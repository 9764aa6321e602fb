package attachstore

// Every statement attachstore runs is here, so that a second SQL dialect
// (PostgreSQL: bytea chunks, the same foreign keys) has one file to follow.
// Times are Unix nanoseconds; ids are 32-byte BLOBs.
const (
	qTouchBlob = `UPDATE blobs SET touched_at = ? WHERE id = ?
		RETURNING pk, size, media_type, label, extra, created_at`
	qInsertBlob = `INSERT INTO blobs (id, size, chunk_size, media_type, label, extra, created_at, touched_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING pk`
	qInsertChunk   = `INSERT INTO chunks (blob_pk, seq, data) VALUES (?, ?, ?)`
	qFinishBlob    = `UPDATE blobs SET id = ?, size = ? WHERE pk = ?`
	qDeleteBlobPK  = `DELETE FROM blobs WHERE pk = ?`
	qDeleteBlob    = `DELETE FROM blobs WHERE id = ?`
	qStatBlob      = `SELECT pk, size, chunk_size, media_type, label, extra, created_at FROM blobs WHERE id = ?`
	qReadChunk     = `SELECT data FROM chunks WHERE blob_pk = ? AND seq = ?`
	qGetBlobChunks = `SELECT b.size, b.media_type, b.label, b.extra, b.created_at, c.data
		FROM blobs b LEFT JOIN chunks c ON c.blob_pk = b.pk
		WHERE b.id = ? ORDER BY c.seq`
	qListBlobs = `SELECT pk, id, size, media_type, label, extra, created_at FROM blobs
		WHERE pk > ? ORDER BY pk LIMIT ?`
	qBlobPKExists = `SELECT EXISTS (SELECT 1 FROM blobs WHERE pk = ?)`

	// One Tx call inside a host's Update is undone alone when it fails.
	qSavepoint           = `SAVEPOINT attachstore_call`
	qRollbackToSavepoint = `ROLLBACK TO SAVEPOINT attachstore_call`
	qReleaseSavepoint    = `RELEASE SAVEPOINT attachstore_call`

	// A View on an in-memory store (one connection for reads and writes).
	qQueryOnlyOn  = `PRAGMA query_only = ON`
	qQueryOnlyOff = `PRAGMA query_only = OFF`

	// The manifest. A re-put keeps an existing commit stamp, and with it
	// the owner and intent time that were committed.
	qUpsertRef = `INSERT INTO refs (session_id, blob_id, media_type, label, extra, owner, intent_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (session_id, blob_id) DO UPDATE SET
			media_type = excluded.media_type,
			label = excluded.label,
			extra = excluded.extra,
			owner = CASE WHEN refs.committed_at IS NULL THEN excluded.owner ELSE refs.owner END,
			intent_at = CASE WHEN refs.committed_at IS NULL THEN excluded.intent_at ELSE refs.intent_at END`
	qSessionGet = `SELECT b.size, r.media_type, r.label, r.extra, b.created_at, c.data
		FROM refs r JOIN blobs b ON b.id = r.blob_id LEFT JOIN chunks c ON c.blob_pk = b.pk
		WHERE r.session_id = ? AND r.blob_id = ? ORDER BY c.seq`
	qSessionStat = `SELECT b.pk, b.size, b.chunk_size, r.media_type, r.label, r.extra, b.created_at
		FROM refs r JOIN blobs b ON b.id = r.blob_id
		WHERE r.session_id = ? AND r.blob_id = ?`
	qDeleteRef   = `DELETE FROM refs WHERE session_id = ? AND blob_id = ?`
	qDropSession = `DELETE FROM refs WHERE session_id = ?`
	// INDEXED BY: without statistics SQLite prefers the primary key, which
	// walks every ref of the session, committed or not, to find the few
	// pending ones.
	qPending        = `SELECT blob_id FROM refs INDEXED BY refs_pending WHERE session_id = ? AND committed_at IS NULL ORDER BY intent_at, blob_id`
	qCommitAll      = `UPDATE refs INDEXED BY refs_pending SET committed_at = ? WHERE session_id = ? AND committed_at IS NULL`
	qCommitOwned    = `UPDATE refs INDEXED BY refs_pending SET committed_at = ? WHERE session_id = ? AND owner = ? AND committed_at IS NULL`
	qCommitOne      = `UPDATE refs SET committed_at = coalesce(committed_at, ?) WHERE session_id = ? AND blob_id = ?`
	qHoldsRef       = `SELECT EXISTS (SELECT 1 FROM refs WHERE session_id = ? AND blob_id = ?)`
	qEntryColumns   = `r.session_id, r.blob_id, b.size, r.media_type, r.label, r.extra, b.created_at, r.owner, r.intent_at, r.committed_at`
	qSessionEntries = `SELECT ` + qEntryColumns + ` FROM refs r JOIN blobs b ON b.id = r.blob_id
		WHERE r.session_id = ? ORDER BY r.intent_at, r.blob_id`
	qUncommitted = `SELECT ` + qEntryColumns + ` FROM refs r JOIN blobs b ON b.id = r.blob_id
		WHERE r.committed_at IS NULL AND r.intent_at < ? ORDER BY r.intent_at, r.session_id, r.blob_id`
)

// Reclaim.
const (
	qCountExpired  = `SELECT count(*) FROM refs WHERE committed_at IS NULL AND intent_at < ?`
	qExpireIntents = `DELETE FROM refs WHERE (session_id, blob_id) IN (
		SELECT session_id, blob_id FROM refs WHERE committed_at IS NULL AND intent_at < ? LIMIT ?)`
	// Orphans in (touched_at, pk) order after a cursor; rows with refs are
	// passed over once each, never re-read by a later batch.
	qOrphanBlobs = `SELECT b.pk, b.size, b.touched_at FROM blobs b
		WHERE b.touched_at < ?1 AND (b.touched_at, b.pk) > (?2, ?3)
		AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.blob_id = b.id)
		ORDER BY b.touched_at, b.pk LIMIT ?4`
	// A dry run has forgotten no intent, so it counts a blob as orphaned
	// when its only refs are intents the real run would forget first.
	qOrphanBlobsDry = `SELECT b.pk, b.size, b.touched_at FROM blobs b
		WHERE b.touched_at < ?1 AND (b.touched_at, b.pk) > (?2, ?3)
		AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.blob_id = b.id
			AND (r.committed_at IS NOT NULL OR r.intent_at >= ?1))
		ORDER BY b.touched_at, b.pk LIMIT ?4`
	// The same test again under the write lock; the foreign key refuses
	// the delete regardless if a ref exists.
	qDeleteOrphan = `DELETE FROM blobs WHERE pk = ?1 AND touched_at < ?2
		AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.blob_id = blobs.id) RETURNING size`
)

// Verify and Stats.
const (
	qBlobTotals   = `SELECT count(*), coalesce(sum(size), 0) FROM blobs`
	qRefTotals    = `SELECT count(*), count(DISTINCT session_id), count(*) FILTER (WHERE committed_at IS NULL) FROM refs`
	qVerifyBlobs  = `SELECT pk, id, size, chunk_size FROM blobs WHERE pk > ? ORDER BY pk LIMIT ?`
	qVerifyChunks = `SELECT seq, data FROM chunks WHERE blob_pk = ? ORDER BY seq`
)
