package attachstore

import "strings"

// Every SQL statement of the package, SQLite's and PostgreSQL's text side
// by side where they differ, with numbered parameters (?1, ?2 …): a value
// used twice is passed once. Times are Unix nanoseconds; ids are 32-byte
// values; a ref with committed_at 0 is an owner's uncommitted intent.
//
// Parameters that WHERE, ON or LIMIT compare are written +?N. A planner
// that reads a bound value — LIMIT ?, the estimate for col = ? (is it 0 or
// 1?), a partial index's WHERE matched to a parameter, LIKE ? — sets the
// parameter's bit in the statement's expmask (sqlite3VdbeReprepareOnBind);
// sqlite3_clear_bindings expires a statement whose expmask is not 0,
// whatever the values, and mattn clears a cached statement's bindings
// before each bind, so every warm Get would be planned again. Under a
// unary plus the planner reads no value (sqlite3ExprIsInteger and
// sqlite3ExprCompare stop at TK_UPLUS), and the column keeps its index.
// (STAT4 reads values too, but is not compiled in: mattn's sqlite_stat4
// tag.) PostgreSQL gets no plus, and $N. TestQueryParametersKeepPlans
// holds every statement to this.

// stmt is one statement in each engine's text, made once as the package
// loads. An engine's text is "" where only the other runs it.
type stmt struct{ sqlite, pg string }

// stmts is every statement, for TestQueryParametersKeepPlans.
var stmts []*stmt

// sq is a statement whose text is the same on both engines.
func sq(text string) *stmt { return both(text, text) }

// both is a statement from SQLite's text and PostgreSQL's.
func both(sqlite, pg string) *stmt {
	s := &stmt{sqlite, strings.NewReplacer("+?", "$", "?", "$").Replace(pg)}
	stmts = append(stmts, s)
	return s
}

// text is the statement as the store's engine takes it.
func (s *Store) text(q *stmt) string {
	if s.db.Postgres() {
		return q.pg
	}
	return q.sqlite
}

// Content.
var (
	qTouchBlob = sq(`UPDATE attachstore_blobs SET touched_at = ?1 WHERE id = +?2
		RETURNING size, media_type, label, extra, created_at`)
	// A new blob's row, taking the next pk, unless a blob has its id (no
	// row comes back then). On SQLite the pk is the key the blob's first
	// chunk takes: one past every chunk key and blob pk, which the write
	// lock keeps for the caller; the WHERE keeps SQLite from reading ON
	// CONFLICT as a join's ON.
	qInsertNewBlob = both(`INSERT INTO attachstore_blobs (id, pk, size, chunk_size, media_type, label, extra, created_at, touched_at)
		SELECT ?1, max(coalesce((SELECT max(k) FROM attachstore_chunks), 0), coalesce((SELECT max(pk) FROM attachstore_blobs), 0)) + 1,
			?2, ?3, ?4, ?5, ?6, ?7, ?7 WHERE true
		ON CONFLICT (id) DO NOTHING RETURNING pk`,
		`INSERT INTO attachstore_blobs (id, size, chunk_size, media_type, label, extra, created_at, touched_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (id) DO NOTHING RETURNING pk`)
	// The pk of a blob whose chunks are written before its row (see
	// qInsertNewBlob); on PostgreSQL, from the column's sequence.
	qNewPK = both(`SELECT max(coalesce((SELECT max(k) FROM attachstore_chunks), 0), coalesce((SELECT max(pk) FROM attachstore_blobs), 0)) + 1`,
		`SELECT nextval(pg_get_serial_sequence('attachstore_blobs', 'pk'))`)
	qInsertBlob = sq(`INSERT INTO attachstore_blobs (id, pk, size, chunk_size, media_type, label, extra, created_at, touched_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) ON CONFLICT (id) DO NOTHING`)
	// Chunk ?2 of the blob at pk ?1: SQLite keys it pk + seq, and finds a
	// blob's chunks by that range; PostgreSQL keys it (blob_pk, seq). Each
	// read yields a chunk's blob_pk and seq too, and checks them.
	qInsertChunk = both(`INSERT INTO attachstore_chunks (k, blob_pk, seq, data) VALUES (?1 + ?2, ?1, ?2, ?3)`,
		`INSERT INTO attachstore_chunks (blob_pk, seq, data) VALUES (?1, ?2, ?3)`)
	// SQLite's chunks from key ?1 to before ?2 that are the blob's at ?1:
	// a damaged size cannot reach another blob's.
	qDeleteChunks   = both(`DELETE FROM attachstore_chunks WHERE k >= +?1 AND k < +?2 AND blob_pk = +?1`, "")
	qDeleteChunksPG = both("", `DELETE FROM attachstore_chunks WHERE blob_pk = +?1`)
	qDeleteBlob     = sq(`DELETE FROM attachstore_blobs WHERE id = +?1 RETURNING pk, size, chunk_size`)
	qStatBlob       = sq(`SELECT pk, size, chunk_size, media_type, label, extra, created_at, NULL, NULL, NULL FROM attachstore_blobs WHERE id = +?1`)
	// A Reader holds no transaction between chunks, so it reads each one
	// with the blob it expects: a blob deleted meanwhile finds no row, even
	// if another took its pk since. Its arguments are seq, id, pk.
	qReadChunk = both(`SELECT c.blob_pk, c.seq, c.data FROM attachstore_blobs b JOIN attachstore_chunks c ON c.k = b.pk + +?1
		WHERE b.id = +?2 AND b.pk = +?3`,
		`SELECT c.blob_pk, c.seq, c.data FROM attachstore_blobs b JOIN attachstore_chunks c ON c.blob_pk = b.pk AND c.seq = +?1
		WHERE b.id = +?2 AND b.pk = +?3`)
	qBlobAtPK = sq(`SELECT count(*) FROM attachstore_blobs WHERE id = +?1 AND pk = +?2`)
	// A whole blob in one statement: its columns repeat on each chunk row,
	// which comes with its blob_pk and seq; no chunk is one row of NULLs.
	qGet = both(`SELECT b.pk, b.size, b.chunk_size, b.media_type, b.label, b.extra, b.created_at, c.blob_pk, c.seq, c.data
		FROM attachstore_blobs b LEFT JOIN attachstore_chunks c
			ON c.k >= b.pk AND c.k < b.pk + (b.size + b.chunk_size - 1) / b.chunk_size
		WHERE b.id = +?1 ORDER BY c.k`,
		`SELECT b.pk, b.size, b.chunk_size, b.media_type, b.label, b.extra, b.created_at, c.blob_pk, c.seq, c.data
		FROM attachstore_blobs b LEFT JOIN attachstore_chunks c ON c.blob_pk = b.pk
		WHERE b.id = +?1 ORDER BY c.seq`)
	// ?2 blobs after pk ?1 (List, Verify).
	qBlobPage = sq(`SELECT pk, id, size, chunk_size, media_type, label, extra, created_at FROM attachstore_blobs
		WHERE pk > +?1 ORDER BY pk LIMIT +?2`)
)

// One Tx call inside a host's Update is undone alone when it fails; when
// SQLite rolled the whole transaction back, qBegin starts another (see
// Tx.undoable).
var (
	qSavepoint           = sq(`SAVEPOINT attachstore_call`)
	qRollbackToSavepoint = sq(`ROLLBACK TO SAVEPOINT attachstore_call`)
	qReleaseSavepoint    = sq(`RELEASE SAVEPOINT attachstore_call`)
	qBegin               = sq(`BEGIN`)
)

// The manifest.
const (
	// The ref session ?1 reads of blob ?2: its committed one, else its
	// newest intent. Its key is picked by a scalar subquery, so that the
	// outer query is a key lookup whose chunks come in index order: joined
	// with a subquery that sorts, SQLite sorted the chunks, bytes and all,
	// in a temporary b-tree.
	qSessionRef = `WHERE r.session_id = +?1 AND r.blob_id = +?2 AND (r.owner, r.committed_at) = (
			SELECT owner, committed_at FROM attachstore_refs WHERE session_id = +?1 AND blob_id = +?2
			ORDER BY committed_at = 0, intent_at DESC, owner LIMIT 1)`
	// Every ref of session ?1, its committed refs and its intents, each
	// half found through its own index (the key starts with the blob).
	qOfSession    = `((r.session_id = +?1 AND r.committed_at <> 0) OR (r.session_id = +?1 AND r.committed_at = 0))`
	qEntryColumns = `r.session_id, r.blob_id, r.size, r.media_type, r.label, r.extra, r.created_at, r.owner, r.intent_at, r.committed_at`
)

var (
	// A ref carries its blob's pk, size, chunk size and creation time, so
	// a read through it needs no blob row: the ref (b here) and its chunks.
	qSessionGet = both(`SELECT r.blob_pk, r.size, r.chunk_size, r.media_type, r.label, r.extra, r.created_at, c.blob_pk, c.seq, c.data
		FROM attachstore_refs r LEFT JOIN attachstore_chunks c
			ON c.k >= r.blob_pk AND c.k < r.blob_pk + (r.size + r.chunk_size - 1) / r.chunk_size
		`+qSessionRef+` ORDER BY c.k`,
		`SELECT r.blob_pk, r.size, r.chunk_size, r.media_type, r.label, r.extra, r.created_at, c.blob_pk, c.seq, c.data
		FROM attachstore_refs r LEFT JOIN attachstore_chunks c ON c.blob_pk = r.blob_pk
		`+qSessionRef+` ORDER BY c.seq`)
	// The session's ref and, for content of one chunk, that chunk
	// (Session.NewReader): a small read is one query.
	qSessionOpen = both(`SELECT r.blob_pk, r.size, r.chunk_size, r.media_type, r.label, r.extra, r.created_at, c.blob_pk, c.seq, c.data
		FROM attachstore_refs r LEFT JOIN attachstore_chunks c ON c.k = r.blob_pk AND r.size <= r.chunk_size
		`+qSessionRef,
		`SELECT r.blob_pk, r.size, r.chunk_size, r.media_type, r.label, r.extra, r.created_at, c.blob_pk, c.seq, c.data
		FROM attachstore_refs r LEFT JOIN attachstore_chunks c ON c.blob_pk = r.blob_pk AND c.seq = 0 AND r.size <= r.chunk_size
		`+qSessionRef)
	// Owner ?2's intent in session ?1 to blob ?7, unless the session was
	// dropped (no row then). A re-put by the same owner refreshes its
	// intent. The blob's columns are copied from its row.
	qAddIntent = sq(`INSERT INTO attachstore_refs (session_id, blob_id, owner, committed_at, intent_at, media_type, label, extra,
			blob_pk, size, chunk_size, created_at)
		SELECT ?1, b.id, ?2, 0, ?3, ?4, ?5, ?6, b.pk, b.size, b.chunk_size, b.created_at FROM attachstore_blobs b
		WHERE b.id = +?7 AND NOT EXISTS (SELECT 1 FROM attachstore_dropped_sessions WHERE session_id = +?1)
		ON CONFLICT (session_id, blob_id, owner, committed_at) DO UPDATE SET
			intent_at = excluded.intent_at, media_type = excluded.media_type,
			label = excluded.label, extra = excluded.extra`)
	// The session's committed ref, written at once (Session.PutCommitted),
	// unless it holds one already or was dropped (no row then either).
	qAddCommitted = sq(`INSERT INTO attachstore_refs (session_id, blob_id, owner, committed_at, intent_at, media_type, label, extra,
			blob_pk, size, chunk_size, created_at)
		SELECT ?1, b.id, ?2, ?3, ?3, ?4, ?5, ?6, b.pk, b.size, b.chunk_size, b.created_at FROM attachstore_blobs b
		WHERE b.id = +?7 AND NOT EXISTS (SELECT 1 FROM attachstore_dropped_sessions WHERE session_id = +?1)
		ON CONFLICT DO NOTHING`)
	// PostgreSQL's PutCommitted of new content of one chunk, in one
	// statement: the blob row, its chunk and the committed ref, unless the
	// id is stored or the session was dropped: then it writes nothing and
	// returns no row.
	qPutCommittedPG = both("", `WITH b AS (
			INSERT INTO attachstore_blobs (id, size, chunk_size, media_type, label, extra, created_at, touched_at)
			SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7
			WHERE NOT EXISTS (SELECT 1 FROM attachstore_dropped_sessions WHERE session_id = ?9)
			ON CONFLICT (id) DO NOTHING
			RETURNING pk, id, size, chunk_size, created_at),
		c AS (INSERT INTO attachstore_chunks (blob_pk, seq, data) SELECT b.pk, 0, ?8 FROM b WHERE b.size > 0),
		r AS (INSERT INTO attachstore_refs (session_id, blob_id, owner, committed_at, intent_at, media_type, label, extra,
				blob_pk, size, chunk_size, created_at)
			SELECT ?9, b.id, ?10, ?7, ?7, ?4, ?5, ?6, b.pk, b.size, b.chunk_size, b.created_at FROM b)
		SELECT 1 FROM b`)
	qIsDropped    = sq(`SELECT count(*) FROM attachstore_dropped_sessions WHERE session_id = +?1`)
	qHasRef       = sq(`SELECT count(*) FROM attachstore_refs WHERE session_id = +?1 AND blob_id = +?2`)
	qHasCommitted = sq(`SELECT count(*) FROM attachstore_refs WHERE session_id = +?1 AND blob_id = +?2 AND committed_at <> 0`)
	// Owner ?2's intents in session ?1 join the session's committed ref
	// where there is one, and become it where there is none. Both say what
	// they did: a reclaimer may forget an intent between a read and these.
	qMergeOwned = sq(`DELETE FROM attachstore_refs WHERE session_id = +?1 AND owner = +?2 AND committed_at = 0
		AND blob_id IN (SELECT blob_id FROM attachstore_refs WHERE session_id = +?1 AND committed_at <> 0)
		RETURNING blob_id, intent_at`)
	qStampOwned = sq(`UPDATE attachstore_refs SET committed_at = ?3 WHERE session_id = +?1 AND owner = +?2 AND committed_at = 0
		RETURNING blob_id, intent_at`)
	qDiscard = sq(`DELETE FROM attachstore_refs WHERE session_id = +?1 AND owner = +?2 AND committed_at = 0 RETURNING blob_id, intent_at`)
	qEndHold = sq(`DELETE FROM attachstore_holds WHERE session_id = +?1 AND owner = +?2`)
	qHold    = sq(`INSERT INTO attachstore_holds (session_id, owner, held_until) VALUES (?1, ?2, ?3)
		ON CONFLICT (session_id, owner) DO UPDATE SET held_until = excluded.held_until`)
	// Commit of blob ?2 in session ?1 at ?3: the newest intent becomes the
	// committed ref unless there is one; then the session's other intents
	// to it are part of it.
	qStampNewest = sq(`UPDATE attachstore_refs SET committed_at = ?3 WHERE session_id = +?1 AND blob_id = +?2 AND committed_at = 0
		AND owner = (SELECT owner FROM attachstore_refs WHERE session_id = +?1 AND blob_id = +?2 AND committed_at = 0
			ORDER BY intent_at DESC, owner LIMIT 1)
		AND NOT EXISTS (SELECT 1 FROM attachstore_refs WHERE session_id = +?1 AND blob_id = +?2 AND committed_at <> 0)`)
	qDropIntentsTo = sq(`DELETE FROM attachstore_refs WHERE session_id = +?1 AND blob_id = +?2 AND committed_at = 0`)
	qPending       = sq(`SELECT blob_id FROM attachstore_refs WHERE session_id = +?1 AND committed_at = 0
		GROUP BY blob_id ORDER BY min(intent_at), blob_id`)
	qDeleteRef = sq(`DELETE FROM attachstore_refs WHERE session_id = +?1 AND blob_id = +?2`)
	qDropRefs  = sq(`DELETE FROM attachstore_refs AS r WHERE ` + qOfSession)
	qDropHolds = sq(`DELETE FROM attachstore_holds WHERE session_id = +?1`)
	qTombstone = sq(`INSERT INTO attachstore_dropped_sessions (session_id, dropped_at) VALUES (?1, ?2)
		ON CONFLICT (session_id) DO UPDATE SET dropped_at = excluded.dropped_at`)
	qSessionEntries = sq(`SELECT ` + qEntryColumns + ` FROM attachstore_refs r
		WHERE ` + qOfSession + ` ORDER BY r.intent_at, r.blob_id, r.owner, r.committed_at`)
	qBlobEntries = sq(`SELECT ` + qEntryColumns + ` FROM attachstore_refs r
		WHERE r.blob_id = +?1 ORDER BY r.session_id, r.intent_at, r.owner, r.committed_at`)
	qUncommitted = sq(`SELECT ` + qEntryColumns + ` FROM attachstore_refs r
		WHERE r.committed_at = 0 AND r.intent_at < +?1 ORDER BY r.intent_at, r.session_id, r.blob_id, r.owner`)
	// ?2 sessions after ?1, in order: those with committed refs and those
	// with intents, each from its index.
	qSessionPage = sq(`SELECT session_id FROM attachstore_refs WHERE committed_at <> 0 AND session_id > +?1
		UNION SELECT session_id FROM attachstore_refs WHERE committed_at = 0 AND session_id > +?1 ORDER BY 1 LIMIT +?2`)
	// One session's rows, intents, last intent and the bytes of the
	// distinct blobs it refers to.
	qSessionUsage = sq(`SELECT count(*), count(*) FILTER (WHERE r.committed_at = 0), coalesce(max(r.intent_at), 0),
			(SELECT CAST(coalesce(sum(d.size), 0) AS BIGINT) FROM (SELECT r.blob_id, max(r.size) AS size FROM attachstore_refs r
				WHERE ` + qOfSession + ` GROUP BY r.blob_id) d)
		FROM attachstore_refs r WHERE ` + qOfSession)
	qSessionHolds = sq(`SELECT owner, held_until FROM attachstore_holds WHERE session_id = +?1 ORDER BY owner`)
	// PostgreSQL's lock on a session's writes, by a hash of its id (see
	// Tx.lockSession).
	qLockSession = both("", `SELECT pg_advisory_xact_lock(?1)`)
)

// Reclaim.
const (
	// An intent expires when it is older than the cutoff (?1) and its
	// owner holds no hold that lasts past now (?2).
	qExpiring = `FROM attachstore_refs WHERE committed_at = 0 AND intent_at < +?1
		AND NOT EXISTS (SELECT 1 FROM attachstore_holds h WHERE h.session_id = attachstore_refs.session_id AND h.owner = attachstore_refs.owner AND h.held_until > +?2)`
)

var (
	// Only refs and tombstones are roots: a hold protects an owner's
	// intents but says nothing about whether the store is in use (a hold
	// for a session that holds nothing is a typo, not a user).
	qHasRoots = sq(`SELECT (SELECT count(*) FROM (SELECT 1 FROM attachstore_refs LIMIT 1) r)
		+ (SELECT count(*) FROM (SELECT 1 FROM attachstore_dropped_sessions LIMIT 1) d)`)
	qCountExpiring = sq(`SELECT count(*) ` + qExpiring)
	qExpireIntents = sq(`DELETE FROM attachstore_refs WHERE (session_id, blob_id, owner, committed_at) IN (
		SELECT session_id, blob_id, owner, committed_at ` + qExpiring + ` LIMIT +?3)`)
	qEndLapsedHolds     = sq(`DELETE FROM attachstore_holds WHERE held_until <= +?1`)
	qClearTombstones    = sq(`DELETE FROM attachstore_dropped_sessions WHERE dropped_at < +?1`)
	qCountOldTombstones = sq(`SELECT count(*) FROM attachstore_dropped_sessions WHERE dropped_at < +?1`)
	// ?3 orphans after pk ?1: no ref, untouched since the cutoff ?2.
	qOrphans = sq(`SELECT b.pk, b.id, b.size FROM attachstore_blobs b
		WHERE b.pk > +?1 AND b.touched_at < +?2 AND NOT EXISTS (SELECT 1 FROM attachstore_refs r WHERE r.blob_id = b.id)
		ORDER BY b.pk LIMIT +?3`)
	// A dry run forgets no intent, so it counts a blob as orphaned when its
	// only refs are intents the real run would forget first (now is ?3).
	qOrphansDry = sq(`SELECT b.pk, b.id, b.size FROM attachstore_blobs b
		WHERE b.pk > +?1 AND b.touched_at < +?2 AND NOT EXISTS (SELECT 1 FROM attachstore_refs r WHERE r.blob_id = b.id
			AND (r.committed_at <> 0 OR r.intent_at >= +?2 OR EXISTS (SELECT 1 FROM attachstore_holds h
				WHERE h.session_id = r.session_id AND h.owner = r.owner AND h.held_until > +?3)))
		ORDER BY b.pk LIMIT +?4`)
	// The same test again under the write lock, so a blob touched or
	// referenced since the scan stays; the foreign key refuses the delete
	// regardless if a ref exists.
	qDeleteOrphan = sq(`DELETE FROM attachstore_blobs WHERE id = +?1 AND touched_at < +?2
		AND NOT EXISTS (SELECT 1 FROM attachstore_refs r WHERE r.blob_id = attachstore_blobs.id) RETURNING pk, size, chunk_size`)
)

// Repair. The no-op update locks the blob's row on PostgreSQL, where a
// second Repair of the same blob then waits for the first and finds it
// intact (SQLite's write lock serializes them anyway).
var (
	qRepairLockBlob = sq(`UPDATE attachstore_blobs SET touched_at = touched_at WHERE id = +?1
		RETURNING pk, size, chunk_size`)
	qRepairMoveChunksPG = both("", `UPDATE attachstore_chunks SET blob_pk = ?1 WHERE blob_pk = +?2`)
	// SQLite's: chunks from key ?3 to before ?4 moved onto the blob at ?1,
	// their keys shifted by ?2.
	qRepairMoveChunks = both(`UPDATE attachstore_chunks SET blob_pk = ?1, k = k + ?2 WHERE k >= +?3 AND k < +?4`, "")
	qCountChunks      = both(`SELECT count(*) FROM attachstore_chunks WHERE k >= +?1 AND k < +?2 AND blob_pk = +?3`, "")
	qNextBlobPK       = both(`SELECT min(pk) FROM attachstore_blobs WHERE pk > +?1`, "")
	qRepairBlob       = sq(`UPDATE attachstore_blobs SET (pk, size, chunk_size) = (?1, ?2, ?3) WHERE id = +?4`)
	qRepairRefs       = sq(`UPDATE attachstore_refs SET (blob_pk, size, chunk_size) = (?1, ?2, ?3) WHERE blob_id = +?4`)
)

// Verify, Stats and the disk reserve.
var (
	qBlobTotals = sq(`SELECT count(*), CAST(coalesce(sum(size), 0) AS BIGINT) FROM attachstore_blobs`)
	qRefTotals  = sq(`SELECT count(*), count(DISTINCT session_id), count(*) FILTER (WHERE committed_at = 0) FROM attachstore_refs`)
	// SQLite's chunks that are not where their blob's range puts them,
	// with the id of the blob they name, if there is one.
	qStrayChunks = both(`SELECT c.k, c.blob_pk, c.seq, b.id FROM attachstore_chunks c LEFT JOIN attachstore_blobs b ON b.pk = c.blob_pk
		WHERE b.pk IS NULL OR c.k <> c.blob_pk + c.seq OR c.seq >= (b.size + b.chunk_size - 1) / b.chunk_size`, "")
	// SQLite's reads one key past the blob's chunks: a chunk there that
	// names the blob is one too many.
	qVerifyChunks   = both(`SELECT blob_pk, seq, data FROM attachstore_chunks WHERE k >= +?1 AND k <= +?2 ORDER BY k`, "")
	qVerifyChunksPG = both("", `SELECT blob_pk, seq, data FROM attachstore_chunks WHERE blob_pk = +?1 ORDER BY seq`)
	// What PostgreSQL's tables of attachstore take on disk (Stats.FileBytes).
	qTableBytes = both("", `SELECT pg_total_relation_size('attachstore_blobs') + pg_total_relation_size('attachstore_chunks')
		+ pg_total_relation_size('attachstore_refs') + pg_total_relation_size('attachstore_holds')
		+ pg_total_relation_size('attachstore_dropped_sessions')`)
	// The file's size in pages, how many of them are free, and the page
	// size, read in the transaction (SQLite's).
	qSpace = both(`SELECT page_count, freelist_count, page_size FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()`, "")
)
