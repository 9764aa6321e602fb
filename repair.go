package attachstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
)

// Repair gives a damaged blob (one Verify reports in Corrupt) its bytes
// back. It reads r to the end and, when r's bytes hash to the id of a
// stored blob whose stored bytes do not, replaces that blob's chunks with
// r's bytes in one transaction. The blob keeps its id, metadata and every
// session's ref; nothing else in the store changes.
//
// Repair returns the id of r's bytes, and nil once the blob with that id
// holds exactly r's bytes: after a repair, or when it was intact (then
// nothing changes). Bytes whose id no stored blob has are not stored:
// ErrNotFound, with their id. An error reading r, ErrTooLarge, or a
// cancelled ctx changes nothing. As PutReader, Repair keeps memory to a
// chunk and holds the write lock while it reads r: give it a reader that
// does not stall.
func (s *Store) Repair(ctx context.Context, r io.Reader) (ID, error) {
	var id ID
	err := s.run(ctx, true, once(func(tx *Tx) (err error) {
		id, err = tx.repair(ctx, r)
		return err
	}))
	if errors.Is(err, errIntact) {
		err = nil
	}
	return id, wrap(s, "repair", err)
}

// errIntact rolls back a Repair that found its blob intact: the chunks
// written while the id was unknown go.
var errIntact = errors.New("blob is intact")

// repair writes r's bytes as chunks under a pk of their own while it
// hashes them, because which blob they repair is known only from their
// hash at the end: memory stays at one chunk with no spool file. Once the
// hash names a stored blob that does not verify, its old chunks go and the
// new ones move to its pk (List and Readers go by it), and its row and its
// refs' copies get the new size and chunk size. On SQLite the new chunks
// move only where they fit before the next blob's pk; when they do not
// (the chunk size changed since the put), the blob takes their pk, and a
// Reader open on it reads on as if it were deleted. The blob's row is
// locked before it is checked (see qRepairLockBlob).
func (tx *Tx) repair(ctx context.Context, r io.Reader) (id ID, err error) {
	s := tx.s
	pk, err := tx.nextPK(ctx)
	if err != nil {
		return ID{}, err
	}
	h := sha256.New()
	buf := make([]byte, s.opts.chunkSize)
	var size, chunks int64 // chunks: how many were written
	for seq := int64(0); ; seq++ {
		if err := ctx.Err(); err != nil {
			return ID{}, err
		}
		n, eof, err := readChunk(r, buf)
		if err != nil {
			return ID{}, fmt.Errorf("reading input: %w", err)
		}
		size += int64(n)
		if err := s.checkSize(size); err != nil {
			return ID{}, err
		}
		if n > 0 {
			h.Write(buf[:n])
			if err := tx.insertChunk(ctx, pk, seq, buf[:n]); err != nil {
				return ID{}, err
			}
			chunks = seq + 1
		}
		if eof {
			break
		}
	}
	h.Sum(id[:0])
	old := blobRow{ref: Ref{ID: id}}
	err = tx.queryRow(ctx, qRepairLockBlob, id[:]).Scan(&old.pk, &old.ref.Size, &old.chunkSize)
	if errors.Is(err, sql.ErrNoRows) {
		return id, fmt.Errorf("%w: no stored blob has the id of these bytes (%s); nothing was stored", ErrNotFound, id)
	}
	if err != nil {
		return id, err
	}
	ok, err := tx.verifyBlob(ctx, old)
	if ok && !tx.s.db.Postgres() {
		// On SQLite a chunk that names the blob past its range (damage
		// appends there) makes it corrupt too, as Verify says.
		var stray int64
		end := old.pk + (old.ref.Size+old.chunkSize-1)/old.chunkSize
		err = tx.queryRow(ctx, qCountChunks, end, pk, old.pk).Scan(&stray)
		ok = stray == 0
	}
	if err == nil && ok {
		err = errIntact
	}
	if err != nil {
		return id, err
	}
	newPK, err := tx.moveChunks(ctx, old.pk, pk, chunks)
	for _, q := range []*stmt{qRepairBlob, qRepairRefs} {
		if err == nil {
			_, err = tx.exec(ctx, q, newPK, size, s.opts.chunkSize, id[:])
		}
	}
	return id, err
}

// moveChunks deletes the chunks of the blob at pk old and gives it the n
// chunks written under pk from, and returns the blob's pk from now on.
func (tx *Tx) moveChunks(ctx context.Context, old, from, n int64) (int64, error) {
	if tx.s.db.Postgres() {
		if _, err := tx.exec(ctx, qDeleteChunksPG, old); err != nil {
			return 0, err
		}
		_, err := tx.exec(ctx, qRepairMoveChunksPG, old, from)
		return old, err
	}
	// The old chunks lie after the blob's pk, in its range or (damage)
	// appended later, but before the new ones. The new ones fit where no
	// other blob's keys begin.
	if _, err := tx.exec(ctx, qDeleteChunks, old, from); err != nil {
		return 0, err
	}
	var next sql.NullInt64
	if err := tx.queryRow(ctx, qNextBlobPK, old).Scan(&next); err != nil {
		return 0, err
	}
	if next.Valid && old+n > next.Int64 || old+n > from {
		return from, nil
	}
	_, err := tx.exec(ctx, qRepairMoveChunks, old, old-from, from, from+n)
	return old, err
}
