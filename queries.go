package attachstore

// The SQL that is the same on every engine, written with ? placeholders
// (db.SQL makes them the engine's). Times are Unix nanoseconds; ids are
// 32-byte values. A ref with committed_at 0 is an owner's uncommitted
// intent (see the schema).
//
// Parameters that WHERE or LIMIT compare are written +?: when SQLite's
// planner sees a bare parameter there it marks the statement to be
// prepared again whenever the parameter is bound anew, so every warm Get
// parsed and planned its query again. The unary plus hides the value from
// the planner, not the column from its index. PostgreSQL gets them
// without the plus. TestQueryParametersKeepPlans holds this file to it.

// Content.
const (
	qTouchBlob = `UPDATE attachstore_blobs SET touched_at = ? WHERE id = +?
		RETURNING size, media_type, label, extra, created_at`
	qInsertBlob = `INSERT INTO attachstore_blobs (id, pk, size, chunk_size, media_type, label, extra, created_at, touched_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	// Chunks: SQLite keys chunk seq of the blob at pk as pk + seq, and
	// finds a blob's chunks by that range; PostgreSQL keys them (blob_pk,
	// seq). Each read yields a chunk's blob_pk and seq too, and checks them.
	qInsertChunk   = `INSERT INTO attachstore_chunks (k, blob_pk, seq, data) VALUES (?, ?, ?, ?)`
	qInsertChunkPG = `INSERT INTO attachstore_chunks (blob_pk, seq, data) VALUES (?, ?, ?)`
	// Chunks from one key to before another that are the blob's: a
	// damaged size cannot reach another blob's.
	qDeleteChunks   = `DELETE FROM attachstore_chunks WHERE k >= +? AND k < +? AND blob_pk = +?`
	qDeleteChunksPG = `DELETE FROM attachstore_chunks WHERE blob_pk = +?`
	// A deleted blob's chunks go next, in the same transaction (on
	// PostgreSQL its foreign key cascades).
	qDeleteBlob = `DELETE FROM attachstore_blobs WHERE id = +? RETURNING pk, size, chunk_size`
	qStatBlob   = `SELECT pk, size, chunk_size, media_type, label, extra, created_at, NULL, NULL, NULL FROM attachstore_blobs WHERE id = +?`
	// A Reader holds no transaction between chunks, so it reads each one
	// with the blob it expects: a blob deleted meanwhile finds no row, even
	// if another took its pk since. Its arguments are id, pk, seq.
	qReadChunk = `SELECT c.blob_pk, c.seq, c.data FROM attachstore_blobs b JOIN attachstore_chunks c ON c.k = b.pk + +?
		WHERE b.id = +? AND b.pk = +?`
	qReadChunkPG = `SELECT c.blob_pk, c.seq, c.data FROM attachstore_blobs b JOIN attachstore_chunks c ON c.blob_pk = b.pk AND c.seq = +?
		WHERE b.id = +? AND b.pk = +?`
	qBlobAtPK = `SELECT count(*) FROM attachstore_blobs WHERE id = +? AND pk = +?`
	// A whole blob in one statement: its columns repeat on each chunk row,
	// which comes with its blob_pk and seq; no chunk is one row of NULLs.
	qGet = `SELECT b.size, b.chunk_size, b.media_type, b.label, b.extra, b.created_at, b.pk, c.blob_pk, c.seq, c.data
		FROM attachstore_blobs b LEFT JOIN attachstore_chunks c
			ON c.k >= b.pk AND c.k < b.pk + (b.size + b.chunk_size - 1) / b.chunk_size
		WHERE b.id = +? ORDER BY c.k`
	qGetPG = `SELECT b.size, b.chunk_size, b.media_type, b.label, b.extra, b.created_at, b.pk, c.blob_pk, c.seq, c.data
		FROM attachstore_blobs b LEFT JOIN attachstore_chunks c ON c.blob_pk = b.pk
		WHERE b.id = +? ORDER BY c.seq`

	qListBlobs = `SELECT pk, id, size, media_type, label, extra, created_at FROM attachstore_blobs
		WHERE pk > +? ORDER BY pk LIMIT +?`
)

// One Tx call inside a host's Update is undone alone when it fails.
const (
	qSavepoint           = `SAVEPOINT attachstore_call`
	qRollbackToSavepoint = `ROLLBACK TO SAVEPOINT attachstore_call`
	qReleaseSavepoint    = `RELEASE SAVEPOINT attachstore_call`
)

// The manifest.
const (
	// The ref a session reads: its committed one, else its newest intent.
	// Its key is picked by a scalar subquery, so that the outer query is a
	// key lookup whose chunks come in index order: joined with a subquery
	// that sorts, SQLite sorted the chunks, bytes and all, in a temporary
	// b-tree. Its arguments are session, id, session, id.
	qSessionRef = `WHERE r.session_id = +? AND r.blob_id = +? AND (r.owner, r.committed_at) = (
			SELECT owner, committed_at FROM attachstore_refs WHERE session_id = +? AND blob_id = +?
			ORDER BY committed_at = 0, intent_at DESC, owner LIMIT 1)`
	// A ref carries its blob's pk, size, chunk size and creation time, so
	// a read through it needs no blob row: the ref (b here) and its chunks.
	qSessionGet = `SELECT r.size, r.chunk_size, r.media_type, r.label, r.extra, r.created_at, r.blob_pk, c.blob_pk, c.seq, c.data
		FROM attachstore_refs r LEFT JOIN attachstore_chunks c
			ON c.k >= r.blob_pk AND c.k < r.blob_pk + (r.size + r.chunk_size - 1) / r.chunk_size
		` + qSessionRef + ` ORDER BY c.k`
	qSessionGetPG = `SELECT r.size, r.chunk_size, r.media_type, r.label, r.extra, r.created_at, r.blob_pk, c.blob_pk, c.seq, c.data
		FROM attachstore_refs r LEFT JOIN attachstore_chunks c ON c.blob_pk = r.blob_pk
		` + qSessionRef + ` ORDER BY c.seq`
	// The session's ref and, for content of one chunk, that chunk
	// (Session.NewReader): a small read is one query.
	qSessionOpen = `SELECT r.blob_pk, r.size, r.chunk_size, r.media_type, r.label, r.extra, r.created_at, c.blob_pk, c.seq, c.data
		FROM attachstore_refs r LEFT JOIN attachstore_chunks c ON c.k = r.blob_pk AND r.size <= r.chunk_size
		` + qSessionRef
	qSessionOpenPG = `SELECT r.blob_pk, r.size, r.chunk_size, r.media_type, r.label, r.extra, r.created_at, c.blob_pk, c.seq, c.data
		FROM attachstore_refs r LEFT JOIN attachstore_chunks c ON c.blob_pk = r.blob_pk AND c.seq = 0 AND r.size <= r.chunk_size
		` + qSessionRef
	// An owner's intent, unless the session was dropped (no row then). A
	// re-put by the same owner refreshes its intent. The blob's columns are
	// copied from its row.
	qAddIntent = `INSERT INTO attachstore_refs (session_id, blob_id, owner, committed_at, intent_at, media_type, label, extra,
			blob_pk, size, chunk_size, created_at)
		SELECT ?, b.id, ?, 0, ?, ?, ?, ?, b.pk, b.size, b.chunk_size, b.created_at FROM attachstore_blobs b
		WHERE b.id = +? AND NOT EXISTS (SELECT 1 FROM attachstore_dropped_sessions WHERE session_id = +?)
		ON CONFLICT (session_id, blob_id, owner, committed_at) DO UPDATE SET
			intent_at = excluded.intent_at, media_type = excluded.media_type,
			label = excluded.label, extra = excluded.extra`
	// The session's committed ref, written at once (Session.PutCommitted),
	// unless it holds one already or was dropped (no row then either).
	qAddCommitted = `INSERT INTO attachstore_refs (session_id, blob_id, owner, committed_at, intent_at, media_type, label, extra,
			blob_pk, size, chunk_size, created_at)
		SELECT ?, b.id, ?, ?, ?, ?, ?, ?, b.pk, b.size, b.chunk_size, b.created_at FROM attachstore_blobs b
		WHERE b.id = +? AND NOT EXISTS (SELECT 1 FROM attachstore_dropped_sessions WHERE session_id = +?)
		ON CONFLICT DO NOTHING`
	// PostgreSQL's PutCommitted of new content of one chunk, in one round
	// trip: the blob row unless its id is stored (then no row comes back),
	// its chunk, and the committed ref unless the session was dropped (then
	// 0 comes back, and the caller rolls the call back).
	qPutCommittedPG = `WITH b AS (
			INSERT INTO attachstore_blobs (id, size, chunk_size, media_type, label, extra, created_at, touched_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING
			RETURNING pk, id, size, chunk_size, created_at),
		c AS (INSERT INTO attachstore_chunks (blob_pk, seq, data) SELECT b.pk, 0, $8 FROM b WHERE b.size > 0),
		r AS (INSERT INTO attachstore_refs (session_id, blob_id, owner, committed_at, intent_at, media_type, label, extra,
				blob_pk, size, chunk_size, created_at)
			SELECT $9, b.id, $10, $7, $7, $4, $5, $6, b.pk, b.size, b.chunk_size, b.created_at FROM b
			WHERE NOT EXISTS (SELECT 1 FROM attachstore_dropped_sessions WHERE session_id = $9)
			RETURNING 1)
		SELECT (SELECT count(*) FROM r) FROM b`
	qIsDropped    = `SELECT count(*) FROM attachstore_dropped_sessions WHERE session_id = +?`
	qHasRef       = `SELECT count(*) FROM attachstore_refs WHERE session_id = +? AND blob_id = +?`
	qHasCommitted = `SELECT count(*) FROM attachstore_refs WHERE session_id = +? AND blob_id = +? AND committed_at <> 0`
	// An owner's intents join the session's committed ref where there is
	// one, and become it where there is none. Both say what they did: a
	// reclaimer may forget an intent between a read and these.
	qMergeOwned = `DELETE FROM attachstore_refs WHERE session_id = +? AND owner = +? AND committed_at = 0
		AND blob_id IN (SELECT blob_id FROM attachstore_refs WHERE session_id = +? AND committed_at <> 0)
		RETURNING blob_id, intent_at`
	qStampOwned = `UPDATE attachstore_refs SET committed_at = ? WHERE session_id = +? AND owner = +? AND committed_at = 0
		RETURNING blob_id, intent_at`
	qDiscard = `DELETE FROM attachstore_refs WHERE session_id = +? AND owner = +? AND committed_at = 0 RETURNING blob_id, intent_at`
	qEndHold = `DELETE FROM attachstore_holds WHERE session_id = +? AND owner = +?`
	qHold    = `INSERT INTO attachstore_holds (session_id, owner, held_until) VALUES (?, ?, ?)
		ON CONFLICT (session_id, owner) DO UPDATE SET held_until = excluded.held_until`
	// Commit(id): the newest intent becomes the committed ref unless there
	// is one; then the session's other intents to id are part of it.
	qStampNewest = `UPDATE attachstore_refs SET committed_at = ? WHERE session_id = +? AND blob_id = +? AND committed_at = 0
		AND owner = (SELECT owner FROM attachstore_refs WHERE session_id = +? AND blob_id = +? AND committed_at = 0
			ORDER BY intent_at DESC, owner LIMIT 1)
		AND NOT EXISTS (SELECT 1 FROM attachstore_refs WHERE session_id = +? AND blob_id = +? AND committed_at <> 0)`
	qDropIntentsTo = `DELETE FROM attachstore_refs WHERE session_id = +? AND blob_id = +? AND committed_at = 0`
	qPending       = `SELECT blob_id FROM attachstore_refs WHERE session_id = +? AND committed_at = 0
		GROUP BY blob_id ORDER BY min(intent_at), blob_id`
	qDeleteRef = `DELETE FROM attachstore_refs WHERE session_id = +? AND blob_id = +?`
	qDropRefs  = `DELETE FROM attachstore_refs WHERE (session_id = +? AND committed_at <> 0) OR (session_id = +? AND committed_at = 0)`
	qDropHolds = `DELETE FROM attachstore_holds WHERE session_id = +?`
	qTombstone = `INSERT INTO attachstore_dropped_sessions (session_id, dropped_at) VALUES (?, ?)
		ON CONFLICT (session_id) DO UPDATE SET dropped_at = excluded.dropped_at`
	// Every ref of a session, its committed refs and its intents, each
	// half found through its own index (the key starts with the blob). Its
	// arguments are session, session.
	qOfSession      = `((r.session_id = +? AND r.committed_at <> 0) OR (r.session_id = +? AND r.committed_at = 0))`
	qEntryColumns   = `r.session_id, r.blob_id, r.size, r.media_type, r.label, r.extra, r.created_at, r.owner, r.intent_at, r.committed_at`
	qSessionEntries = `SELECT ` + qEntryColumns + ` FROM attachstore_refs r
		WHERE ` + qOfSession + ` ORDER BY r.intent_at, r.blob_id, r.owner, r.committed_at`
	qBlobEntries = `SELECT ` + qEntryColumns + ` FROM attachstore_refs r
		WHERE r.blob_id = +? ORDER BY r.session_id, r.intent_at, r.owner, r.committed_at`
	qUncommitted = `SELECT ` + qEntryColumns + ` FROM attachstore_refs r
		WHERE r.committed_at = 0 AND r.intent_at < +? ORDER BY r.intent_at, r.session_id, r.blob_id, r.owner`
	// The sessions after a cursor, in order: those with committed refs and
	// those with intents, each from its index.
	qSessionPage = `SELECT session_id FROM attachstore_refs WHERE committed_at <> 0 AND session_id > +?
		UNION SELECT session_id FROM attachstore_refs WHERE committed_at = 0 AND session_id > +? ORDER BY 1 LIMIT +?`
	// One session's rows, intents, last intent and the bytes of the
	// distinct blobs it refers to. Its arguments are the session, 4 times.
	qSessionUsage = `SELECT count(*), count(*) FILTER (WHERE r.committed_at = 0), coalesce(max(r.intent_at), 0),
			(SELECT CAST(coalesce(sum(d.size), 0) AS BIGINT) FROM (SELECT r.blob_id, max(r.size) AS size FROM attachstore_refs r
				WHERE ` + qOfSession + ` GROUP BY r.blob_id) d)
		FROM attachstore_refs r WHERE ` + qOfSession
)

// Reclaim.
const (
	// Only refs and tombstones are roots: a hold protects an owner's
	// intents but says nothing about whether the store is in use (a hold
	// for a session that holds nothing is a typo, not a user).
	qHasRoots = `SELECT (SELECT count(*) FROM (SELECT 1 FROM attachstore_refs LIMIT 1) r)
		+ (SELECT count(*) FROM (SELECT 1 FROM attachstore_dropped_sessions LIMIT 1) d)`
	// An intent expires when it is older than the cutoff (the first
	// parameter) and its owner holds no hold that lasts past now (the
	// second).
	qExpiring = `FROM attachstore_refs WHERE committed_at = 0 AND intent_at < +?
		AND NOT EXISTS (SELECT 1 FROM attachstore_holds h WHERE h.session_id = attachstore_refs.session_id AND h.owner = attachstore_refs.owner AND h.held_until > +?)`
	qCountExpiring = `SELECT count(*) ` + qExpiring
	qExpireIntents = `DELETE FROM attachstore_refs WHERE (session_id, blob_id, owner, committed_at) IN (
		SELECT session_id, blob_id, owner, committed_at ` + qExpiring + ` LIMIT +?)`
	qEndLapsedHolds     = `DELETE FROM attachstore_holds WHERE held_until <= +?`
	qClearTombstones    = `DELETE FROM attachstore_dropped_sessions WHERE dropped_at < +?`
	qCountOldTombstones = `SELECT count(*) FROM attachstore_dropped_sessions WHERE dropped_at < +?`
	// Orphans after a pk cursor: no ref, untouched since the cutoff.
	qOrphans = `SELECT b.pk, b.id, b.size FROM attachstore_blobs b
		WHERE b.pk > +? AND b.touched_at < +? AND NOT EXISTS (SELECT 1 FROM attachstore_refs r WHERE r.blob_id = b.id)
		ORDER BY b.pk LIMIT +?`
	// A dry run forgets no intent, so it counts a blob as orphaned when its
	// only refs are intents the real run would forget first.
	qOrphansDry = `SELECT b.pk, b.id, b.size FROM attachstore_blobs b
		WHERE b.pk > +? AND b.touched_at < +? AND NOT EXISTS (SELECT 1 FROM attachstore_refs r WHERE r.blob_id = b.id
			AND (r.committed_at <> 0 OR r.intent_at >= +? OR EXISTS (SELECT 1 FROM attachstore_holds h
				WHERE h.session_id = r.session_id AND h.owner = r.owner AND h.held_until > +?)))
		ORDER BY b.pk LIMIT +?`
	// The same test again under the write lock, so a blob touched or
	// referenced since the scan stays; the foreign key refuses the delete
	// regardless if a ref exists.
	qDeleteOrphan = `DELETE FROM attachstore_blobs WHERE id = +? AND touched_at < +?
		AND NOT EXISTS (SELECT 1 FROM attachstore_refs r WHERE r.blob_id = attachstore_blobs.id) RETURNING pk, size, chunk_size`
)

// Repair. The no-op update locks the blob's row on PostgreSQL, where a
// second Repair of the same blob then waits for the first (SQLite's write
// lock serializes them anyway).
const (
	qRepairLockBlob = `UPDATE attachstore_blobs SET touched_at = touched_at WHERE id = +?
		RETURNING pk, size, chunk_size`
	qRepairMoveChunksPG = `UPDATE attachstore_chunks SET blob_pk = ? WHERE blob_pk = +?`
	// SQLite's: chunks from one key to before another moved onto the blob
	// at the first parameter, their keys shifted by the second.
	qRepairMoveChunks = `UPDATE attachstore_chunks SET blob_pk = ?, k = k + ? WHERE k >= +? AND k < +?`
	qCountChunks      = `SELECT count(*) FROM attachstore_chunks WHERE k >= +? AND k < +? AND blob_pk = +?`
	qNextBlobPK       = `SELECT min(pk) FROM attachstore_blobs WHERE pk > +?`
	qRepairBlob       = `UPDATE attachstore_blobs SET (pk, size, chunk_size) = (?, ?, ?) WHERE id = +?`
	qRepairRefs       = `UPDATE attachstore_refs SET (blob_pk, size, chunk_size) = (?, ?, ?) WHERE blob_id = +?`
)

// Verify and Stats.
const (
	qBlobTotals  = `SELECT count(*), CAST(coalesce(sum(size), 0) AS BIGINT) FROM attachstore_blobs`
	qRefTotals   = `SELECT count(*), count(DISTINCT session_id), count(*) FILTER (WHERE committed_at = 0) FROM attachstore_refs`
	qVerifyBlobs = `SELECT pk, id, size, chunk_size FROM attachstore_blobs WHERE pk > +? ORDER BY pk LIMIT +?`
	// SQLite's chunks that are not where their blob's range puts them,
	// with the id of the blob they name, if there is one.
	qStrayChunks = `SELECT c.k, c.blob_pk, c.seq, b.id FROM attachstore_chunks c LEFT JOIN attachstore_blobs b ON b.pk = c.blob_pk
		WHERE b.pk IS NULL OR c.k <> c.blob_pk + c.seq OR c.seq >= (b.size + b.chunk_size - 1) / b.chunk_size`
	// SQLite's reads one key past the blob's chunks: a chunk there that
	// names the blob is one too many.
	qVerifyChunks   = `SELECT blob_pk, seq, data FROM attachstore_chunks WHERE k >= +? AND k <= +? ORDER BY k`
	qVerifyChunksPG = `SELECT blob_pk, seq, data FROM attachstore_chunks WHERE blob_pk = +? ORDER BY seq`
)

// A session's holds, for the hosts and inspectors that show them.
const qSessionHolds = `SELECT owner, held_until FROM attachstore_holds WHERE session_id = +? ORDER BY owner`
