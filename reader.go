package attachstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// Reader streams one blob's bytes. It holds one chunk in memory and no lock
// or transaction between reads, so it may be kept open as long as needed; if
// the content is deleted meanwhile, Read returns an error matching
// ErrNotFound. A Reader is not safe for concurrent use.
type Reader struct {
	tx     *Tx // the Store's reader, or a live Update/View
	ctx    context.Context
	b      blobRow
	off    int64
	buf    []byte // chunk bufSeq, when hasBuf
	bufSeq int64
	hasBuf bool
	closed bool
}

// open runs a query yielding a blob's row (see blobOf) and, for content of one chunk, the chunk's
// (blob_pk, seq, data), and returns a Reader holding that chunk: a small
// read is then one query. A chunk that does not fit is not kept, and the
// first Read loads it again and reports what is wrong.
func (tx *Tx) open(ctx context.Context, id ID, query *stmt, args ...any) (*Reader, error) {
	r := &Reader{tx: tx, ctx: ctx}
	found := false
	err := tx.each(ctx, query, args, func(v []driver.Value) (_ bool, err error) {
		found = true
		if r.b, err = blobOf(id, v); err != nil {
			return true, err
		}
		if v[9] != nil {
			cpk, seq, data, err := chunkOf(v[7:])
			if err == nil && cpk == r.b.pk && seq == 0 && chunkFits(0, 0, int64(len(data)), r.b.ref.Size, r.b.chunkSize) == nil {
				r.buf, r.hasBuf = data, true
			}
		}
		return true, nil
	})
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, ErrNotFound
	}
	return r, nil
}

// Ref describes the content being read.
func (r *Reader) Ref() Ref { return r.b.ref }

// Read implements io.Reader. It reads through the context given when the
// Reader was opened.
func (r *Reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, wrapID(r.tx.s, "read", r.b.ref.ID, errors.New("reader is closed"))
	}
	if r.off >= r.b.ref.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	seq := r.off / r.b.chunkSize
	if !r.hasBuf || r.bufSeq != seq {
		if err := r.load(seq); err != nil {
			return 0, wrapID(r.tx.s, "read", r.b.ref.ID, err)
		}
	}
	n := copy(p, r.buf[r.off-seq*r.b.chunkSize:])
	r.off += int64(n)
	return n, nil
}

// WriteTo implements io.WriterTo, which io.Copy uses: it writes the rest
// of the content to w a chunk at a time, straight from the chunk it
// loaded, with no copy and, as Read, no transaction held between chunks.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for r.off < r.b.ref.Size {
		if r.closed {
			break // Read says so
		}
		seq := r.off / r.b.chunkSize
		if !r.hasBuf || r.bufSeq != seq {
			if err := r.load(seq); err != nil {
				return n, wrapID(r.tx.s, "read", r.b.ref.ID, err)
			}
		}
		m, err := w.Write(r.buf[r.off-seq*r.b.chunkSize:])
		r.off += int64(m)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	if _, err := r.Read(nil); !errors.Is(err, io.EOF) {
		return n, err
	}
	return n, nil
}

// load reads chunk seq into the buffer.
func (r *Reader) load(seq int64) error {
	if err := r.tx.check(false); err != nil {
		return err
	}
	id := r.b.ref.ID
	var (
		found         bool
		chunkPK, cseq int64
		chunk         []byte
	)
	err := r.tx.each(r.ctx, qReadChunk, []any{seq, id[:], r.b.pk}, func(v []driver.Value) (_ bool, err error) {
		found = true
		chunkPK, cseq, chunk, err = chunkOf(v)
		return true, err
	})
	if err != nil {
		return err
	}
	if !found {
		return r.missing(seq)
	}
	if chunkPK != r.b.pk || cseq != seq {
		return fmt.Errorf("%w: chunk %d of blob pk %d found where chunk %d of pk %d belongs", ErrCorrupt, cseq, chunkPK, seq, r.b.pk)
	}
	if err := chunkFits(seq, seq*r.b.chunkSize, int64(len(chunk)), r.b.ref.Size, r.b.chunkSize); err != nil {
		return err
	}
	r.buf = chunk
	r.bufSeq, r.hasBuf = seq, true
	return nil
}

// missing explains a chunk that is not there: the content was deleted while
// being read (perhaps put again since, under another pk), or, if its blob
// row is still there under the same pk, the database is damaged.
func (r *Reader) missing(seq int64) error {
	var n int64
	id := r.b.ref.ID
	if err := r.tx.queryRow(r.ctx, qBlobAtPK, id[:], r.b.pk).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w: chunk %d of %d bytes is missing", ErrCorrupt, seq, r.b.ref.Size)
	}
	return fmt.Errorf("%w: content was deleted while being read (chunk %d)", ErrNotFound, seq)
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
		return 0, wrapID(r.tx.s, "seek", r.b.ref.ID, fmt.Errorf("%w: whence %d", ErrInvalid, whence))
	}
	if abs < 0 {
		return 0, wrapID(r.tx.s, "seek", r.b.ref.ID, fmt.Errorf("%w: negative position %d", ErrInvalid, abs))
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
