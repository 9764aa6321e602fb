package attachstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"

	"github.com/attachstore/attachstore/db"
)

// Reader streams one blob's bytes. It holds one chunk in memory and no lock
// or transaction between reads, so it may be kept open as long as needed; if
// the content is deleted meanwhile, Read returns an error matching
// ErrNotFound. A Reader is not safe for concurrent use.
type Reader struct {
	tx     *Tx // the Tx it reads through: the Store's reader, or a live Update/View
	ctx    context.Context
	b      blobRow
	off    int64
	buf    []byte
	bufSeq int64 // which chunk buf holds; -1 for none
	closed bool
	// noHandle is set once db.ReadInto reports that the driver's handle
	// cannot be reached; the Reader then reads chunks with loadRaw.
	noHandle bool
}

func (tx *Tx) openReader(ctx context.Context, b blobRow) *Reader {
	return &Reader{tx: tx, ctx: ctx, b: b, bufSeq: -1}
}

// Ref describes the content being read.
func (r *Reader) Ref() Ref { return r.b.ref }

// Size is the content's length in bytes.
func (r *Reader) Size() int64 { return r.b.ref.Size }

// Read implements io.Reader. It reads through the context given when the
// Reader was opened.
func (r *Reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("attachstore: read %s: reader is closed", r.b.ref.ID)
	}
	if r.off >= r.b.ref.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	seq := r.off / r.b.chunkSize
	if seq != r.bufSeq {
		if err := r.ready(); err != nil {
			return 0, err
		}
		if r.tx.rawReads() && !r.noHandle {
			n, err := r.readInto(p)
			if !errors.Is(err, db.ErrNoHandle) {
				return n, err
			}
			r.noHandle = true
		}
		if err := r.load(seq); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf[r.off-seq*r.b.chunkSize:])
	r.off += int64(n)
	return n, nil
}

// ready reports whether the Reader may read now: its Tx still open, and,
// reading through the Store, the Store open and not inside a transaction.
func (r *Reader) ready() error {
	if err := r.tx.check(false); err != nil {
		return err
	}
	if r.tx.sqlTx == nil {
		return r.tx.s.enter()
	}
	return nil
}

func (r *Reader) load(seq int64) error {
	if r.tx.rawReads() {
		return r.loadRaw(seq)
	}
	key, err := chunkKey(r.b.pk, seq)
	if err != nil {
		return wrapID(err, "read", r.b.ref.ID)
	}
	rows, err := r.tx.q.QueryContext(r.ctx, qReadChunk, r.b.ref.ID[:], r.b.pk, key)
	if err != nil {
		return wrapID(mapErr(err, "read"), "read", r.b.ref.ID)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return wrapID(mapErr(err, "read"), "read", r.b.ref.ID)
		}
		// Closed first: an in-memory store has one connection to ask on.
		rows.Close()
		return wrapID(r.missing(seq), "read", r.b.ref.ID)
	}
	var raw sql.RawBytes
	if err := rows.Scan(&raw); err != nil {
		return wrapID(mapErr(err, "read"), "read", r.b.ref.ID)
	}
	return r.keep(seq, raw, false)
}

// loadRaw is load through db.QueryRaw, on a file store's read pool, for
// when readInto cannot reach the driver's handle. The driver's copy of the
// chunk becomes the buffer: no second copy.
func (r *Reader) loadRaw(seq int64) error {
	var (
		chunk []byte
		found bool
	)
	key, err := chunkKey(r.b.pk, seq)
	if err != nil {
		return wrapID(err, "read", r.b.ref.ID)
	}
	err = db.QueryRaw(r.ctx, r.tx.s.db.Reader.DB, qReadChunk, []any{r.b.ref.ID[:], r.b.pk, key}, func(row []driver.Value) error {
		var ok bool
		if chunk, ok = chunkValue(row[0]); !ok {
			return fmt.Errorf("%w: chunk %d of type %T", ErrCorrupt, seq, row[0])
		}
		found = true
		return nil
	})
	if err != nil {
		return wrapID(mapErr(err, "read"), "read", r.b.ref.ID)
	}
	if !found {
		return wrapID(r.missing(seq), "read", r.b.ref.ID)
	}
	return r.keep(seq, chunk, true)
}

// readInto is Read on a file store's read pool, through db.ReadInto: each
// chunk is read by qReadChunk, the same statement as loadRaw's, and
// copied from SQLite's buffer straight into p when p holds the rest of
// the chunk, else whole into the Reader's buffer, which is allocated once
// and reused. Neither way allocates per chunk. loadRaw, the fallback,
// gets each chunk as a fresh copy from the driver: streaming a 1 GiB blob
// allocated 1 GiB, and the garbage collector's work and the page faults
// of memory it had returned to the OS cost more than reading the bytes.
// In bench W5 (1 GiB, reads of 1 MiB) warm reads went from 756 to 1,673
// MB/s and cold ones from 293 to 429 (bench/RESULTS.md, "W5 warm read").
//
// It reads whole chunks into p while p has room for them; when bytes were
// read before an error, it returns them, and the error comes again on the
// next call.
func (r *Reader) readInto(p []byte) (int, error) {
	var (
		n       int
		missing = int64(-1)
	)
	cs := r.b.chunkSize
	// A copy: the ID inside the Reader shares an allocation with Go
	// pointers, which cgo will not pass to C.
	id := r.b.ref.ID
	err := db.ReadInto(r.ctx, r.tx.s.db.Reader.DB, qReadChunk, func(read db.ReadFunc) error {
		for len(p) > 0 && r.off < r.b.ref.Size {
			seq := r.off / cs
			in := int(r.off - seq*cs)
			want := int(min(cs, r.b.ref.Size-seq*cs))
			key, err := chunkKey(r.b.pk, seq)
			if err != nil {
				return err
			}
			direct := len(p) >= want-in
			if !direct && n > 0 {
				break // the rest of p next time, through the buffer
			}
			var dst []byte
			if direct {
				dst = p[:want-in]
			} else {
				if cap(r.buf) < want {
					r.buf = make([]byte, cs)
				}
				// The buffer is overwritten now: until the read is
				// checked, it holds no chunk.
				r.bufSeq = -1
				dst, in = r.buf[:want], 0
			}
			got, size, err := read([]any{id[:], r.b.pk, key}, dst, in)
			switch {
			case errors.Is(err, db.ErrNoRow):
				missing = seq
				return err
			case errors.Is(err, db.ErrNotBlob):
				return fmt.Errorf("%w: chunk %d: %w", ErrCorrupt, seq, err)
			case err != nil:
				return err
			case size != want:
				return errChunkSize(seq, int64(size), int64(want))
			case got != len(dst):
				return fmt.Errorf("attachstore: chunk %d: read %d of %d bytes", seq, got, len(dst))
			}
			if direct {
				p = p[got:]
				n += got
				r.off += int64(got)
				continue
			}
			r.buf, r.bufSeq = dst, seq
			c := copy(p, r.buf[r.off-seq*cs:])
			n += c
			r.off += int64(c)
			break
		}
		return nil
	})
	switch {
	case errors.Is(err, db.ErrNoHandle):
		return n, err
	case err == nil || n > 0:
		return n, nil
	case missing >= 0:
		return 0, wrapID(r.missing(missing), "read", r.b.ref.ID)
	}
	// mapErr passes attachstore's own errors (ErrCorrupt) through.
	return 0, wrapID(mapErr(err, "read"), "read", r.b.ref.ID)
}

// errChunkSize reports chunk seq holding size bytes where its blob's
// size and chunk size say want.
func errChunkSize(seq, size, want int64) error {
	return fmt.Errorf("%w: chunk %d holds %d bytes, want %d", ErrCorrupt, seq, size, want)
}

// keep makes chunk seq the buffer after checking its length. owned says
// the chunk is a copy no one else holds, so it is kept without copying.
func (r *Reader) keep(seq int64, chunk []byte, owned bool) error {
	want := min(r.b.chunkSize, r.b.ref.Size-seq*r.b.chunkSize)
	if int64(len(chunk)) != want {
		return wrapID(errChunkSize(seq, int64(len(chunk)), want), "read", r.b.ref.ID)
	}
	if owned {
		r.buf = chunk
	} else {
		r.buf = append(r.buf[:0], chunk...)
	}
	r.bufSeq = seq
	return nil
}

// missing explains a chunk that is not there: the content was deleted while
// being read (perhaps put again since, under another pk), or, if its blob
// row is still there under the same pk, the database is damaged.
func (r *Reader) missing(seq int64) error {
	var pk int64
	err := r.tx.q.QueryRowContext(r.ctx, qBlobPK, r.b.ref.ID[:]).Scan(&pk)
	switch {
	case err == nil && pk == r.b.pk:
		return fmt.Errorf("%w: chunk %d of %d bytes is missing", ErrCorrupt, seq, r.b.ref.Size)
	case err == nil || errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: content was deleted while being read (chunk %d)", ErrNotFound, seq)
	}
	return mapErr(err, "read")
}

// Seek implements io.Seeker. Seeking past the end is allowed; reading there
// returns io.EOF.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.b.ref.Size + offset
	default:
		return 0, errors.New("attachstore: seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("attachstore: seek: negative position")
	}
	r.off = abs
	return abs, nil
}

// Close releases the Reader's buffer. It is idempotent.
func (r *Reader) Close() error {
	r.closed = true
	r.buf = nil
	return nil
}
