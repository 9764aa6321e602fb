package attachstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/attachstore/attachstore/db"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// Put stores data in this transaction; see Store.Put.
func (tx *Tx) Put(ctx context.Context, data []byte, meta Meta) (Ref, error) {
	if err := tx.check(true); err != nil {
		return Ref{}, err
	}
	m, err := meta.normalize()
	if err != nil {
		return Ref{}, err
	}
	if err := tx.s.checkSize(int64(len(data))); err != nil {
		return Ref{}, err
	}
	var ref Ref
	err = tx.undoable(ctx, func() (err error) {
		ref, err = tx.putBytes(ctx, ContentID(data), data, m)
		return err
	})
	return ref, err
}

// PutReader stores everything r yields in this transaction; see
// Store.PutReader. When it fails, nothing of it stays in the transaction.
func (tx *Tx) PutReader(ctx context.Context, r io.Reader, meta Meta) (Ref, error) {
	if err := tx.check(true); err != nil {
		return Ref{}, err
	}
	m, err := meta.normalize()
	if err != nil {
		return Ref{}, err
	}
	var ref Ref
	err = tx.undoable(ctx, func() (err error) {
		ref, err = tx.putStream(ctx, r, m)
		return err
	})
	return ref, err
}

// Get returns content and its bytes as seen in this transaction.
func (tx *Tx) Get(ctx context.Context, id ID) (Attachment, error) {
	if err := tx.check(false); err != nil {
		return Attachment{}, err
	}
	a, err := tx.readAll(ctx, id, getRead, id[:])
	return a, wrapID(err, "get", id)
}

// Stat returns the Ref of content as seen in this transaction.
func (tx *Tx) Stat(ctx context.Context, id ID) (Ref, error) {
	if err := tx.check(false); err != nil {
		return Ref{}, err
	}
	b, err := tx.stat(ctx, qStatBlob, id, id[:])
	return b.ref, wrapID(err, "stat", id)
}

// Delete removes content in this transaction; see Store.Delete.
func (tx *Tx) Delete(ctx context.Context, id ID) error {
	if err := tx.check(true); err != nil {
		return err
	}
	_, err := tx.q.ExecContext(ctx, qDeleteBlob, id[:])
	return wrapID(mapErr(err, "delete"), "delete", id)
}

// wrapID names the id in an error from a helper.
func wrapID(err error, op string, id ID) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("attachstore: %s %s: %w", op, id, err)
}

func (s *Store) checkSize(n int64) error {
	if n > s.opts.maxBlobSize {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.opts.maxBlobSize)
	}
	return nil
}

func (s *Store) now() int64 { return s.opts.now().UnixNano() }

// touch refreshes an existing blob's touched time and returns its Ref.
func (tx *Tx) touch(ctx context.Context, id ID, now int64) (Ref, bool, error) {
	var (
		pk, size, created int64
		m                 Meta
		extra             *string
	)
	err := tx.q.QueryRowContext(ctx, qTouchBlob, now, id[:]).Scan(&pk, &size, &m.MediaType, &m.Label, &extra, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Ref{}, false, nil
	}
	if err != nil {
		return Ref{}, false, mapErr(err, "put "+id.String())
	}
	m.Extra = extraFrom(extra)
	return Ref{ID: id, Size: size, Meta: m, CreatedAt: time.Unix(0, created)}, true, nil
}

// putBytes stores data under id unless it is there already.
func (tx *Tx) putBytes(ctx context.Context, id ID, data []byte, m Meta) (Ref, error) {
	now := tx.s.now()
	inserted, err := tx.insertBlob(ctx, id, int64(len(data)), m, now)
	if err != nil {
		// The schema's CHECK refuses a pk past its range; say so as the
		// streamed path does.
		if _, perr := tx.nextPK(ctx); errors.Is(perr, ErrFull) {
			return Ref{}, perr
		}
		return Ref{}, mapErr(err, "put "+id.String())
	}
	if !inserted {
		ref, ok, err := tx.touch(ctx, id, now)
		if err == nil && !ok {
			err = fmt.Errorf("%w: blob %s is neither there nor insertable", ErrCorrupt, id)
		}
		return ref, err
	}
	cs := tx.s.opts.chunkSize
	for seq, off := 0, 0; off < len(data); seq, off = seq+1, off+cs {
		chunk := data[off:min(off+cs, len(data))]
		if err := tx.insertChunk(ctx, id, seq, chunk); err != nil {
			return Ref{}, mapErr(err, "put "+id.String())
		}
		tx.wroteData(len(chunk))
	}
	return Ref{ID: id, Size: int64(len(data)), Meta: m, CreatedAt: time.Unix(0, now)}, nil
}

// insertBlob inserts the row of a blob under id unless one is there, and
// says whether it did. Puts write with statements that return no rows:
// inside a transaction database/sql starts a goroutine to watch the
// transaction's context for every result set it reads, and waking a
// thread for it cost more than the statement itself here.
func (tx *Tx) insertBlob(ctx context.Context, id ID, size int64, m Meta, now int64) (bool, error) {
	res, err := tx.q.ExecContext(ctx, qInsertNewBlob, id[:], size, tx.s.opts.chunkSize, m.MediaType, m.Label,
		extraArg(m.Extra), now, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// insertChunk writes chunk seq of the blob just inserted under id; the
// statement finds the blob's pk itself. The pk was just allocated, so a
// chunk already there means the file is damaged: chunks outlived their
// blob.
func (tx *Tx) insertChunk(ctx context.Context, id ID, seq int, data []byte) error {
	if seq < 0 || seq >= maxChunks {
		return fmt.Errorf("%w: more than %d chunks", ErrTooLarge, int64(maxChunks))
	}
	res, err := tx.q.ExecContext(ctx, qInsertChunkOf, id[:], seq, data)
	if err != nil {
		return chunkExists(err, int64(seq))
	}
	n, err := res.RowsAffected()
	if err == nil && n != 1 {
		err = fmt.Errorf("%w: chunk %d: the blob row it belongs to is gone", ErrCorrupt, seq)
	}
	return err
}

// chunkExists gives a failed chunk insert that hit a chunk already there
// ErrCorrupt: the pk was just allocated, so chunks outlived their blob.
// Other errors are returned as they are.
func chunkExists(err error, seq int64) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey || se.ExtendedCode == sqlite3.ErrConstraintUnique) {
		return fmt.Errorf("%w: chunk %d of a new blob exists already: %w", ErrCorrupt, seq, err)
	}
	return err
}

// maxChunks is how many chunks one blob may have: seq takes the low 32
// bits of a chunk's key.
const maxChunks = 1 << 32

// maxBlobPK bounds a blob's pk, as the schema's CHECK on blobs does, so
// that chunk keys stay positive.
const maxBlobPK = 1 << 31

// chunkKey is the key of chunk seq of blob pk: (pk << 32) | seq, so that a
// blob's chunks are one range of the chunks table's rowid and a read finds
// them with one b-tree walk. The schema keeps pk below 2^31 (a CHECK on
// blobs), so keys stay positive; pk is max(pk) + 1 at each put, so the pk
// of the newest blob is reused after it is deleted, and a streaming reader
// checks the blob's id with each chunk (qReadChunk).
func chunkKey(pk, seq int64) (int64, error) {
	if pk <= 0 || pk >= maxBlobPK {
		return 0, fmt.Errorf("%w: blob pk %d is outside 1..2^31-1", ErrCorrupt, pk)
	}
	if seq < 0 || seq >= maxChunks {
		return 0, fmt.Errorf("%w: more than %d chunks", ErrTooLarge, int64(maxChunks))
	}
	return pk<<32 | seq, nil
}

// putStream writes r's bytes chunk by chunk while hashing them, then
// inserts the blob's row under the id the hash gives, or, when that content
// is stored already, drops the chunks it wrote. Content that fits in one
// chunk takes putBytes's path: its id is known before anything is written.
//
// The chunks go under the pk the next blob takes (max(pk) + 1: the
// transaction holds the write lock, so no other put can take it), and the
// blob row comes last because its id is known only then, so that its page
// is written once. A row inserted first under a placeholder id and renamed
// at the end would have its page spilled to the WAL early in a large put
// and rewritten in place at the end, and a frame rewritten in place makes
// the commit read back and checksum every frame after it: for a 1 GiB put
// the whole gigabyte again, 0.4 s of its commit (bench/RESULTS.md, "W5
// put: the blob row last").
func (tx *Tx) putStream(ctx context.Context, r io.Reader, m Meta) (Ref, error) {
	s := tx.s
	buf := make([]byte, s.opts.chunkSize)
	n, eof, err := readChunk(r, buf)
	switch {
	case err != nil:
		return Ref{}, fmt.Errorf("attachstore: put: reading input: %w", err)
	case eof:
		if err := s.checkSize(int64(n)); err != nil {
			return Ref{}, err
		}
		return tx.putBytes(ctx, ContentID(buf[:n]), buf[:n], m)
	}

	now := s.now()
	pk, err := tx.nextPK(ctx)
	if err != nil {
		return Ref{}, err
	}
	h := sha256.New()
	next := make([]byte, len(buf))
	var size int64
	for seq := int64(0); n > 0; seq++ {
		size += int64(n)
		if err := s.checkSize(size); err != nil {
			return Ref{}, err
		}
		key, err := chunkKey(pk, seq)
		if err != nil {
			return Ref{}, err
		}
		// While SQLite writes the chunk, another core hashes it and, if the
		// chunk was full, reads the next one into the other buffer: SQLite
		// and the hash only read buf, the read writes only next, and all
		// finish before the two swap. A panic of r's Read is raised again
		// here, where the transaction's own recover rolls it back.
		more := n == len(buf)
		var (
			nextN    int
			readErr  error
			panicked any
			worker   sync.WaitGroup
		)
		worker.Go(func() {
			defer func() { panicked = recover() }()
			h.Write(buf[:n])
			if more {
				nextN, _, readErr = readChunk(r, next)
			}
		})
		_, err = tx.q.ExecContext(ctx, qInsertChunk, key, buf[:n])
		worker.Wait()
		if panicked != nil {
			panic(panicked)
		}
		if err != nil {
			return Ref{}, mapErr(chunkExists(err, seq), "put")
		}
		tx.wroteData(n)
		if !more {
			break
		}
		if readErr != nil {
			return Ref{}, fmt.Errorf("attachstore: put: reading input: %w", readErr)
		}
		if err := ctx.Err(); err != nil {
			return Ref{}, fmt.Errorf("attachstore: put: %w", err)
		}
		buf, next, n = next, buf, nextN
	}
	var id ID
	h.Sum(id[:0])
	if ref, ok, err := tx.touch(ctx, id, now); ok || err != nil {
		if err == nil {
			_, err = tx.q.ExecContext(ctx, qDeleteChunksOf, pk)
		}
		return ref, mapErr(err, "put "+id.String())
	}
	if _, err := tx.q.ExecContext(ctx, qInsertBlobAt, pk, id[:], size, s.opts.chunkSize,
		m.MediaType, m.Label, extraArg(m.Extra), now, now); err != nil {
		return Ref{}, mapErr(err, "put "+id.String())
	}
	return Ref{ID: id, Size: size, Meta: m, CreatedAt: time.Unix(0, now)}, nil
}

// nextPK returns the pk the next blob takes: one past the highest. Past
// the schema's range (2^31 - 1) the store takes no new content until the
// blob with the highest pk is deleted: ErrFull.
func (tx *Tx) nextPK(ctx context.Context) (int64, error) {
	var pk int64
	if err := tx.q.QueryRowContext(ctx, qNextBlobPK).Scan(&pk); err != nil {
		return 0, mapErr(err, "put")
	}
	if pk >= maxBlobPK {
		return 0, fmt.Errorf("%w: put: every blob pk up to %d is taken", ErrFull, int64(maxBlobPK-1))
	}
	return pk, nil
}

// wholeRead is the SQL of a whole-blob read (Get, Session.Get): first
// yields (size, chunk_size, media_type, label, extra, created_at, data)
// for the first chunk, rest the same for the chunks after it when the size
// says there are any, and union is the two as one statement.
type wholeRead struct{ first, rest, union string }

var (
	getRead     = wholeRead{qGetFirst, qGetRest, qGetBlobChunks}
	sessionRead = wholeRead{qSessionFirst, qSessionRest, qSessionGet}
)

// readAll runs a whole-blob read and assembles the attachment, from one
// snapshot. No row means ErrNotFound.
func (tx *Tx) readAll(ctx context.Context, id ID, q wholeRead, args ...any) (Attachment, error) {
	if tx.rawReads() {
		return tx.readAllRaw(ctx, id, q, args...)
	}
	rows, err := tx.q.QueryContext(ctx, q.union, args...)
	if err != nil {
		return Attachment{}, mapErr(err, "read")
	}
	defer rows.Close()
	b := attachmentBuilder{a: Attachment{Ref: Ref{ID: id}}}
	var (
		size, chunkSize, created int64
		mediaType, label         string
		extra                    *string
		chunk                    sql.RawBytes
	)
	for rows.Next() {
		// The blob's columns repeat on every chunk row; they are scanned
		// again rather than skipped because database/sql cannot skip.
		if err := rows.Scan(&size, &chunkSize, &mediaType, &label, &extra, &created, &chunk); err != nil {
			return Attachment{}, mapErr(err, "read")
		}
		if !b.started {
			if err := b.start(size, mediaType, label, extra, created); err != nil {
				return Attachment{}, err
			}
		}
		if err := b.add(chunk, false); err != nil {
			return Attachment{}, err
		}
	}
	if err := rows.Err(); err != nil {
		return Attachment{}, mapErr(err, "read")
	}
	return b.finish()
}

// rawReads reports whether tx is the Store's own read on a file store's
// read pool, where statements may bypass database/sql (db.QueryRaw).
func (tx *Tx) rawReads() bool { return tx.sqlTx == nil && !tx.s.db.Memory }

// readAllRaw is readAll through db.QueryRawThen: the hot path of Store.Get
// and Session.Get. A blob of one chunk runs q.first alone, never the second
// half of the union (about 5% of a small warm Get), and keeps the driver's
// copy of its chunk as Data instead of copying it again. A longer blob
// reads the rest with q.rest in the same snapshot.
func (tx *Tx) readAllRaw(ctx context.Context, id ID, q wholeRead, args ...any) (Attachment, error) {
	b := attachmentBuilder{a: Attachment{Ref: Ref{ID: id}}}
	err := db.QueryRawThen(ctx, tx.s.db.Reader.DB, q.first, q.rest, args, func(row []driver.Value) (bool, error) {
		more := false
		if !b.started {
			size, ok0 := row[0].(int64)
			chunkSize, ok1 := row[1].(int64)
			mediaType, ok2 := textValue(row[2])
			label, ok3 := textValue(row[3])
			created, ok4 := row[5].(int64)
			if !ok0 || !ok1 || !ok2 || !ok3 || !ok4 {
				return false, fmt.Errorf("%w: blob row has columns of the wrong type", ErrCorrupt)
			}
			var extra *string
			if row[4] != nil {
				x, isText := textValue(row[4])
				if !isText {
					return false, fmt.Errorf("%w: extra metadata is not text", ErrCorrupt)
				}
				extra = &x
			}
			if err := b.start(size, mediaType, label, extra, created); err != nil {
				return false, err
			}
			more = size > chunkSize
		}
		chunk, ok := chunkValue(row[6])
		if !ok {
			return false, fmt.Errorf("%w: chunk of type %T", ErrCorrupt, row[6])
		}
		return more, b.add(chunk, true)
	})
	if err != nil {
		return Attachment{}, mapErr(err, "read")
	}
	return b.finish()
}

// attachmentBuilder assembles an Attachment from the rows of a read query:
// the blob's columns from the first row, then each row's chunk in order.
type attachmentBuilder struct {
	a       Attachment
	started bool
	extra   *string
	created int64
}

func (b *attachmentBuilder) start(size int64, mediaType, label string, extra *string, created int64) error {
	if size < 0 {
		return fmt.Errorf("%w: recorded size %d", ErrCorrupt, size)
	}
	b.a.Size, b.a.MediaType, b.a.Label = size, mediaType, label
	b.extra, b.created, b.started = extra, created, true
	return nil
}

// add appends one chunk. owned says the chunk is a copy no one else holds,
// so a blob of that one chunk may keep it as its Data.
func (b *attachmentBuilder) add(chunk []byte, owned bool) error {
	a := &b.a
	if int64(len(a.Data)+len(chunk)) > a.Size {
		return fmt.Errorf("%w: chunks hold more than the %d bytes recorded", ErrCorrupt, a.Size)
	}
	switch {
	case a.Data == nil && owned && int64(len(chunk)) == a.Size:
		a.Data = chunk
	case a.Data == nil:
		// A damaged size must not allocate: the chunks bound the bytes.
		a.Data = append(make([]byte, 0, min(a.Size, 64<<20)), chunk...)
	default:
		a.Data = append(a.Data, chunk...)
	}
	return nil
}

// finish checks the chunks added up to the recorded size. No row at all
// means ErrNotFound.
func (b *attachmentBuilder) finish() (Attachment, error) {
	a := b.a
	if !b.started {
		return Attachment{}, ErrNotFound
	}
	if int64(len(a.Data)) != a.Size {
		return Attachment{}, fmt.Errorf("%w: chunks hold %d of the %d bytes recorded", ErrCorrupt, len(a.Data), a.Size)
	}
	if a.Data == nil {
		a.Data = []byte{}
	}
	a.Extra = extraFrom(b.extra)
	a.CreatedAt = time.Unix(0, b.created)
	return a, nil
}

// textValue is a TEXT column's value as the driver returns it.
func textValue(v driver.Value) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}

// chunkValue is a chunk's bytes as the driver returns them; NULL (the LEFT
// JOIN of a blob with no chunk) is none.
func chunkValue(v driver.Value) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case []byte:
		return v, true
	case string:
		return []byte(v), true
	}
	return nil, false
}

// readChunk fills buf from r. Only io.EOF ends the content: any other
// error, io.ErrUnexpectedEOF included (a cut-off HTTP body says that), is
// an input failure, so a truncated stream is never stored as complete.
func readChunk(r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}

// blobRow is what a reader needs of a blob.
type blobRow struct {
	pk        int64
	chunkSize int64
	ref       Ref
}

// stat runs a query yielding (pk, size, chunk_size, media_type, label,
// extra, created_at).
func (tx *Tx) stat(ctx context.Context, query string, id ID, args ...any) (blobRow, error) {
	var (
		b       = blobRow{ref: Ref{ID: id}}
		created int64
		extra   *string
	)
	err := tx.q.QueryRowContext(ctx, query, args...).Scan(&b.pk, &b.ref.Size, &b.chunkSize,
		&b.ref.MediaType, &b.ref.Label, &extra, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return blobRow{}, ErrNotFound
	}
	if err != nil {
		return blobRow{}, mapErr(err, "stat")
	}
	b.ref.Extra = extraFrom(extra)
	b.ref.CreatedAt = time.Unix(0, created)
	if b.ref.Size < 0 || b.chunkSize <= 0 {
		return blobRow{}, fmt.Errorf("%w: blob row has size %d, chunk size %d", ErrCorrupt, b.ref.Size, b.chunkSize)
	}
	return b, nil
}

func (tx *Tx) newReader(ctx context.Context, id ID) (*Reader, error) {
	if err := tx.check(false); err != nil {
		return nil, err
	}
	b, err := tx.stat(ctx, qStatBlob, id, id[:])
	if err != nil {
		return nil, wrapID(err, "open", id)
	}
	return tx.openReader(ctx, b), nil
}

func (tx *Tx) listPage(ctx context.Context, after int64, limit int) ([]Ref, int64, error) {
	rows, err := tx.q.QueryContext(ctx, qListBlobs, after, limit)
	if err != nil {
		return nil, 0, mapErr(err, "list")
	}
	defer rows.Close()
	var (
		page []Ref
		last int64
	)
	for rows.Next() {
		var (
			r       Ref
			id      []byte
			extra   *string
			created int64
		)
		if err := rows.Scan(&last, &id, &r.Size, &r.MediaType, &r.Label, &extra, &created); err != nil {
			return nil, 0, mapErr(err, "list")
		}
		if len(id) != len(r.ID) {
			return nil, 0, fmt.Errorf("%w: blob row %d has a %d-byte id", ErrCorrupt, last, len(id))
		}
		copy(r.ID[:], id)
		r.Extra = extraFrom(extra)
		r.CreatedAt = time.Unix(0, created)
		page = append(page, r)
	}
	return page, last, mapErr(rows.Err(), "list")
}
