package attachstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"sync"
	"time"

	"github.com/attachstore/attachstore/db"
)

// Put stores data and returns its Ref. It is idempotent: the same bytes are
// stored once, keep the metadata of their first put, and a repeated put only
// refreshes the blob's touched time (which keeps it from Reclaim for Grace).
// Content put without a session is held by nothing: Reclaim deletes it once
// it is untouched for Grace.
func (s *Store) Put(ctx context.Context, data []byte, meta Meta) (ref Ref, err error) {
	err = s.run(ctx, true, func(tx *Tx) (err error) {
		ref, err = tx.Put(ctx, data, meta)
		return err
	})
	return ref, wrap(s, "put", err)
}

// PutReader stores everything r yields, like Put, hashing while it writes
// chunks so that memory stays bounded by two chunks (the next is read from
// r on another goroutine, never two Reads at once). It holds the write
// lock while it reads r: spool a reader that may stall to a file first. An
// error from r, ErrTooLarge, a cancelled context or a panic in r's Read
// stores nothing. On PostgreSQL, a put that loses a race with another
// transaction after it read r returns ErrConflict: r cannot be read again.
func (s *Store) PutReader(ctx context.Context, r io.Reader, meta Meta) (ref Ref, err error) {
	err = s.run(ctx, true, once(func(tx *Tx) (err error) {
		ref, err = tx.PutReader(ctx, r, meta)
		return err
	}))
	return ref, wrap(s, "put", err)
}

// once wraps a transaction's function that consumes a reader: run retries
// a transaction that lost a race (PostgreSQL), and a second read would
// store the empty rest of the reader under the empty blob's id.
func once(fn func(tx *Tx) error) func(tx *Tx) error {
	ran := false
	return func(tx *Tx) error {
		if ran {
			return fmt.Errorf("%w: the transaction lost a race with another after reading the input, "+
				"which cannot be read again; nothing was written (try again)", ErrConflict)
		}
		ran = true
		return fn(tx)
	}
}

// Get returns the content with that id and its bytes, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id ID) (Attachment, error) {
	return s.reader().Get(ctx, id)
}

// NewReader opens the content with that id for streaming, or returns
// ErrNotFound. The Reader holds no lock or transaction between reads; if
// the content is deleted while it is read, Read returns ErrNotFound.
func (s *Store) NewReader(ctx context.Context, id ID) (*Reader, error) {
	return s.reader().NewReader(ctx, id)
}

// Stat returns the Ref of the content with that id, or ErrNotFound.
func (s *Store) Stat(ctx context.Context, id ID) (Ref, error) {
	return s.reader().Stat(ctx, id)
}

// Delete removes the content with that id. It returns ErrReferenced while
// any session holds a ref to it (the database's foreign key refuses it),
// and nil when there is no such content.
func (s *Store) Delete(ctx context.Context, id ID) error {
	return wrapID(s, "delete", id, s.run(ctx, true, func(tx *Tx) error {
		return tx.Delete(ctx, id)
	}))
}

// listPage is how many rows List and its kin read per query.
const listPage = 512

// List yields the Ref of every stored blob, oldest first. It reads in pages
// and holds nothing open between them, so content put or deleted during the
// iteration may or may not be seen. An error ends the iteration.
func (s *Store) List(ctx context.Context) iter.Seq2[Ref, error] {
	return func(yield func(Ref, error) bool) {
		for b, err := range s.reader().blobs(ctx) {
			if err == nil {
				err = b.idErr
			}
			if err != nil {
				yield(Ref{}, wrap(s, "list", err))
				return
			}
			if !yield(b.ref, nil) {
				return
			}
		}
	}
}

// blobs yields every blob in pk order (see paged).
func (tx *Tx) blobs(ctx context.Context) iter.Seq2[blobRow, error] {
	return paged(func(after int64) ([]blobRow, error) {
		return rowsOf(ctx, tx, qBlobPage, func(rows *sql.Rows) (b blobRow, err error) {
			var (
				id      []byte
				extra   *string
				created int64
			)
			err = rows.Scan(&b.pk, &id, &b.ref.Size, &b.chunkSize, &b.ref.MediaType, &b.ref.Label, &extra, &created)
			// Verify finds a blob with a damaged id corrupt; List fails on it.
			copy(b.ref.ID[:], id)
			_, b.idErr = idFromBytes(id)
			b.ref.Extra = extraFrom(extra)
			b.ref.CreatedAt = time.Unix(0, created)
			return b, err
		}, after, listPage)
	}, func(b blobRow) int64 { return b.pk })
}

// Put stores data in this transaction; see Store.Put.
func (tx *Tx) Put(ctx context.Context, data []byte, meta Meta) (Ref, error) {
	return tx.put(ctx, meta, func(m Meta) (Ref, error) {
		ref, _, err := tx.putBytes(ctx, data, m)
		return ref, err
	})
}

// PutReader stores everything r yields in this transaction; see
// Store.PutReader. When it fails, nothing of it stays in the transaction.
func (tx *Tx) PutReader(ctx context.Context, r io.Reader, meta Meta) (Ref, error) {
	return tx.put(ctx, meta, func(m Meta) (Ref, error) { return tx.putStream(ctx, r, m) })
}

// put runs a put of content with meta in this transaction, undoably.
func (tx *Tx) put(ctx context.Context, meta Meta, fn func(m Meta) (Ref, error)) (ref Ref, err error) {
	if err = tx.check(true); err == nil {
		var m Meta
		if m, err = meta.normalize(); err == nil {
			err = tx.undoable(ctx, func() (err error) {
				ref, err = fn(m)
				return err
			})
		}
	}
	return ref, wrap(tx.s, "put", err)
}

// Get returns content and its bytes as seen in this transaction.
func (tx *Tx) Get(ctx context.Context, id ID) (a Attachment, err error) {
	if err = tx.check(false); err == nil {
		a, err = tx.readAll(ctx, id, qGet, id[:])
	}
	return a, wrapID(tx.s, "get", id, err)
}

// Stat returns the Ref of content as seen in this transaction.
func (tx *Tx) Stat(ctx context.Context, id ID) (ref Ref, err error) {
	var r *Reader
	if err = tx.check(false); err == nil {
		if r, err = tx.open(ctx, id, qStatBlob, id[:]); err == nil {
			ref = r.b.ref
		}
	}
	return ref, wrapID(tx.s, "stat", id, err)
}

// NewReader opens content for streaming as seen in this transaction; the
// Reader must not be used after the transaction's function returns.
func (tx *Tx) NewReader(ctx context.Context, id ID) (r *Reader, err error) {
	if err = tx.check(false); err == nil {
		r, err = tx.open(ctx, id, qStatBlob, id[:])
	}
	return r, wrapID(tx.s, "open", id, err)
}

// Delete removes content in this transaction; see Store.Delete.
func (tx *Tx) Delete(ctx context.Context, id ID) (err error) {
	if err = tx.check(true); err == nil {
		err = tx.undoable(ctx, func() error {
			var pk, size, chunkSize int64
			err := tx.queryRow(ctx, qDeleteBlob, id[:]).Scan(&pk, &size, &chunkSize)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			return tx.deleteChunks(ctx, pk, size, chunkSize)
		})
	}
	return wrapID(tx.s, "delete", id, err)
}

// deleteChunks deletes the chunks of the blob that took pk, of size bytes
// in chunks of chunkSize, in the transaction that deletes its row (on
// PostgreSQL its foreign key cascades; see qDeleteChunks on SQLite).
func (tx *Tx) deleteChunks(ctx context.Context, pk, size, chunkSize int64) error {
	if tx.s.db.Postgres() {
		return nil
	}
	end := int64(math.MaxInt64)
	if size >= 0 && chunkSize > 0 && (size+chunkSize-1)/chunkSize < math.MaxInt64-pk {
		end = pk + (size+chunkSize-1)/chunkSize
	}
	_, err := tx.exec(ctx, qDeleteChunks, pk, end)
	return err
}

// wrapID is wrap of op on id; it formats the id only on error.
func wrapID(s *Store, op string, id ID, err error) error {
	if err == nil {
		return nil
	}
	return wrap(s, op+" "+id.String(), err)
}

func (s *Store) checkSize(n int64) error {
	if n > s.opts.maxBlobSize {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.opts.maxBlobSize)
	}
	return nil
}

// touch refreshes a stored blob's touched time and returns its Ref; ok is
// false when no blob has that id.
func (tx *Tx) touch(ctx context.Context, id ID, now int64) (ref Ref, ok bool, err error) {
	var (
		created int64
		extra   *string
	)
	ref.ID = id
	err = tx.queryRow(ctx, qTouchBlob, now, id[:]).Scan(&ref.Size, &ref.MediaType, &ref.Label, &extra, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Ref{}, false, nil
	}
	if err != nil {
		return Ref{}, false, err
	}
	ref.Extra = extraFrom(extra)
	ref.CreatedAt = time.Unix(0, created)
	return ref, true, nil
}

// putBytes stores data unless it is there already, which it touches (a
// reclaimer's delete in between is retried, as in insertBlob); stored says
// the content is new.
func (tx *Tx) putBytes(ctx context.Context, data []byte, m Meta) (_ Ref, stored bool, _ error) {
	if err := tx.s.checkSize(int64(len(data))); err != nil {
		return Ref{}, false, err
	}
	id, now, size := ContentID(data), tx.s.now(), int64(len(data))
	for range maxRetries {
		var pk int64
		err := tx.queryRow(ctx, qInsertNewBlob, id[:], size, tx.s.opts.chunkSize,
			m.MediaType, m.Label, extraArg(m.Extra), now).Scan(&pk)
		if errors.Is(err, sql.ErrNoRows) {
			if ref, ok, err := tx.touch(ctx, id, now); ok || err != nil {
				return ref, false, err
			}
			continue
		}
		if err != nil {
			return Ref{}, false, err
		}
		if err := (&room{tx: tx}).fits(ctx, size); err != nil {
			return Ref{}, false, err
		}
		cs := tx.s.opts.chunkSize
		for seq, off := int64(0), 0; off < len(data); seq, off = seq+1, off+cs {
			if err := tx.insertChunk(ctx, pk, seq, data[off:min(off+cs, len(data))]); err != nil {
				return Ref{}, false, err
			}
		}
		return Ref{ID: id, Size: size, Meta: m, CreatedAt: time.Unix(0, now)}, true, nil
	}
	return Ref{}, false, errAppearing
}

// insertBlob inserts the row of a blob whose chunks were streamed under pk.
// Where writers run in parallel (PostgreSQL), another may have stored the
// same content meanwhile: then that one stays, touched, and these chunks
// go; if a reclaimer deletes it before the touch, the insert is tried again.
func (tx *Tx) insertBlob(ctx context.Context, id ID, pk, size int64, m Meta, now int64) (Ref, error) {
	for range maxRetries {
		res, err := tx.exec(ctx, qInsertBlob, id[:], pk, size, tx.s.opts.chunkSize,
			m.MediaType, m.Label, extraArg(m.Extra), now)
		if err != nil {
			return Ref{}, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return Ref{}, err
		} else if n == 1 {
			return Ref{ID: id, Size: size, Meta: m, CreatedAt: time.Unix(0, now)}, nil
		}
		if ref, ok, err := tx.touch(ctx, id, now); err != nil {
			return Ref{}, err
		} else if ok {
			return ref, tx.deleteStreamed(ctx, pk, size)
		}
	}
	return Ref{}, errAppearing
}

// errAppearing: a reclaimer deleted the content a put found stored, again
// and again.
var errAppearing = fmt.Errorf("%w: the blob kept appearing and disappearing", ErrConflict)

// deleteStreamed deletes the chunks putStream wrote under pk for size
// bytes, when the content was stored already.
func (tx *Tx) deleteStreamed(ctx context.Context, pk, size int64) error {
	if tx.s.db.Postgres() {
		_, err := tx.exec(ctx, qDeleteChunksPG, pk)
		return err
	}
	return tx.deleteChunks(ctx, pk, size, int64(tx.s.opts.chunkSize))
}

// insertChunk writes chunk seq of the blob that takes pk. The pk is new,
// so a chunk there already means chunks outlived their blob: a damaged
// file.
func (tx *Tx) insertChunk(ctx context.Context, pk, seq int64, data []byte) error {
	_, err := tx.exec(ctx, qInsertChunk, pk, seq, data)
	if db.KindOf(err) == db.Conflict {
		return fmt.Errorf("%w: chunk %d of new blob pk %d exists already: %w", ErrCorrupt, seq, pk, err)
	}
	return err
}

// nextPK returns the pk a new blob takes.
func (tx *Tx) nextPK(ctx context.Context) (int64, error) {
	var pk int64
	err := tx.queryRow(ctx, qNewPK).Scan(&pk)
	return pk, err
}

// putStream writes r's bytes chunk by chunk under a pk taken in advance
// while hashing them, then inserts the blob's row under the id the hash
// gives (the chunks' foreign key is checked at commit), or drops the
// chunks when that content is stored already. Content that fits in one
// chunk takes putBytes's path: its id is known before anything is written.
func (tx *Tx) putStream(ctx context.Context, r io.Reader, m Meta) (Ref, error) {
	s := tx.s
	buf := make([]byte, s.opts.chunkSize)
	n, eof, err := readChunk(r, buf)
	switch {
	case err != nil:
		return Ref{}, fmt.Errorf("reading input: %w", err)
	case eof:
		ref, _, err := tx.putBytes(ctx, buf[:n], m)
		return ref, err
	}
	now := s.now()
	pk, err := tx.nextPK(ctx)
	if err != nil {
		return Ref{}, err
	}
	h := sha256.New()
	next := make([]byte, len(buf))
	var size int64
	room := &room{tx: tx}
	for seq := int64(0); ; seq++ {
		size += int64(n)
		if err := s.checkSize(size); err != nil {
			return Ref{}, err
		}
		if err := room.fits(ctx, size); err != nil {
			return Ref{}, err
		}
		// While the database writes this chunk, another core hashes it and,
		// if the chunk was full, reads the next one into the other buffer:
		// the database and the hash only read buf, the read writes only
		// next, and all finish before the two swap. A panic of r's Read is
		// raised again here, where the transaction's recover rolls it back.
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
		err := tx.insertChunk(ctx, pk, seq, buf[:n])
		worker.Wait()
		if panicked != nil {
			panic(panicked)
		}
		if err != nil {
			return Ref{}, err
		}
		if !more {
			break
		}
		if readErr != nil {
			return Ref{}, fmt.Errorf("reading input: %w", readErr)
		}
		if err := ctx.Err(); err != nil {
			return Ref{}, err
		}
		if nextN == 0 {
			break
		}
		buf, next, n = next, buf, nextN
	}
	var id ID
	h.Sum(id[:0])
	if ref, ok, err := tx.touch(ctx, id, now); ok || err != nil {
		if err == nil {
			err = tx.deleteStreamed(ctx, pk, size)
		}
		return ref, err
	}
	return tx.insertBlob(ctx, id, pk, size, m, now)
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

// readAll runs a whole-blob read, whose rows are a blob's (see blobOf)
// and a chunk's (blob_pk, seq, data), one per chunk in order, and
// assembles the attachment. No row means ErrNotFound; missing, extra,
// foreign or misshapen chunks are ErrCorrupt.
func (tx *Tx) readAll(ctx context.Context, id ID, query *stmt, args ...any) (Attachment, error) {
	var (
		a     Attachment
		b     blobRow
		found bool
	)
	err := tx.each(ctx, query, args, func(v []driver.Value) (_ bool, err error) {
		if !found {
			found = true
			if b, err = blobOf(id, v); err != nil {
				return true, err
			}
			a.Ref = b.ref
		}
		if v[8] == nil || int64(len(a.Data)) >= a.Size {
			// No chunk (an empty blob), or rows past the recorded size,
			// which no read looks at and Verify reports.
			return true, nil
		}
		cpk, seq, data, err := chunkOf(v[7:])
		if err == nil && cpk != b.pk {
			err = fmt.Errorf("%w: chunk %d of blob pk %d found where blob pk %d's belongs", ErrCorrupt, seq, cpk, b.pk)
		}
		if err == nil {
			err = chunkFits(seq, int64(len(a.Data)), int64(len(data)), a.Size, b.chunkSize)
		}
		if err != nil {
			return true, err
		}
		if a.Data == nil && int64(len(data)) == a.Size {
			a.Data = data // the driver's copy, not copied again
			return true, nil
		}
		if a.Data == nil {
			// A damaged size must not allocate: the chunks bound the bytes.
			a.Data = make([]byte, 0, min(a.Size, 64<<20))
		}
		a.Data = append(a.Data, data...)
		return false, nil
	})
	switch {
	case err != nil:
		return Attachment{}, err
	case !found:
		return Attachment{}, ErrNotFound
	case int64(len(a.Data)) != a.Size:
		return Attachment{}, fmt.Errorf("%w: chunks hold %d of the %d bytes recorded", ErrCorrupt, len(a.Data), a.Size)
	case a.Data == nil:
		a.Data = []byte{}
	}
	return a, nil
}

// blobOf reads a blob's (pk, size, chunk_size, media_type, label, extra,
// created_at) from a row's first values; a damaged row is ErrCorrupt.
func blobOf(id ID, v []driver.Value) (blobRow, error) {
	pk, ok1 := v[0].(int64)
	size, ok2 := v[1].(int64)
	cs, ok3 := v[2].(int64)
	created, ok4 := v[6].(int64)
	if !ok1 || !ok2 || !ok3 || !ok4 || size < 0 || cs <= 0 {
		return blobRow{}, fmt.Errorf("%w: blob row has size %v, chunk size %v", ErrCorrupt, v[1], v[2])
	}
	b := blobRow{pk: pk, chunkSize: cs, ref: Ref{ID: id, Size: size, CreatedAt: time.Unix(0, created)}}
	b.ref.MediaType, _ = v[3].(string)
	b.ref.Label, _ = v[4].(string)
	if x, ok := v[5].(string); ok {
		b.ref.Extra = extraFrom(&x)
	}
	return b, nil
}

// chunkOf reads a chunk's blob_pk, seq and data from a row's values; one of
// the wrong type (a damaged row) is ErrCorrupt.
func chunkOf(v []driver.Value) (pk, seq int64, data []byte, err error) {
	pk, ok1 := v[0].(int64)
	seq, ok2 := v[1].(int64)
	data, ok3 := v[2].([]byte)
	if !ok1 || !ok2 || !ok3 {
		return 0, 0, nil, fmt.Errorf("%w: chunk row holds %T, %T, %T", ErrCorrupt, v[0], v[1], v[2])
	}
	return pk, seq, data, nil
}

// chunkFits checks that chunk seq, of n bytes, is the one that starts at
// byte off of a blob of size bytes in chunks of chunkSize.
func chunkFits(seq, off, n, size, chunkSize int64) error {
	if seq != off/chunkSize || off%chunkSize != 0 {
		return fmt.Errorf("%w: chunk %d found where chunk %d belongs", ErrCorrupt, seq, off/chunkSize)
	}
	if want := min(chunkSize, size-off); n != want {
		return fmt.Errorf("%w: chunk %d holds %d bytes, want %d", ErrCorrupt, seq, n, max(want, 0))
	}
	return nil
}

// blobRow is what a Reader needs of a blob.
type blobRow struct {
	pk        int64
	chunkSize int64
	ref       Ref
	idErr     error // the stored id is not 32 bytes
}

func idFromBytes(b []byte) (ID, error) {
	var id ID
	if len(b) != len(id) {
		return ID{}, fmt.Errorf("%w: stored id has %d bytes", ErrCorrupt, len(b))
	}
	copy(id[:], b)
	return id, nil
}
