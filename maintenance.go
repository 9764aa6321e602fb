package attachstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/attachstore/attachstore/db"
)

// VerifyReport says what Verify found.
type VerifyReport struct {
	CheckedBlobs int      `json:"checked_blobs"`
	CheckedBytes int64    `json:"checked_bytes"`
	Corrupt      []ID     `json:"corrupt,omitempty"`  // bytes no longer hash to their id, or chunks missing, extra or misshapen
	Problems     []string `json:"problems,omitempty"` // the database's own integrity and foreign key findings
}

// OK reports whether Verify found nothing wrong.
func (r VerifyReport) OK() bool { return len(r.Corrupt) == 0 && len(r.Problems) == 0 }

// VerifyProgress is the running state of a Verify.
type VerifyProgress struct {
	CheckedBlobs int
	CheckedBytes int64
	TotalBlobs   int64
	TotalBytes   int64
}

// VerifyOption configures Verify.
type VerifyOption func(*verifyOptions)

type verifyOptions struct {
	progress func(VerifyProgress)
}

// WithVerifyProgress has Verify call fn after each blob it checks, with
// the running totals, so that a long Verify can be followed.
func WithVerifyProgress(fn func(VerifyProgress)) VerifyOption {
	return func(o *verifyOptions) { o.progress = fn }
}

// Verify checks the whole store: the database's integrity and foreign key
// checks, and a re-hash of every blob, chunk by chunk, in one snapshot (so
// content deleted meanwhile is not mistaken for corruption). It returns an
// error only when it could not check; what it found is in the report.
// Repair, given a corrupt blob's original bytes, gives them back.
func (s *Store) Verify(ctx context.Context, opts ...VerifyOption) (VerifyReport, error) {
	var o verifyOptions
	for _, opt := range opts {
		opt(&o)
	}
	var rep VerifyReport
	err := s.run(ctx, false, func(t *Tx) error {
		probs, err := s.db.Check(ctx, t.sqlTx)
		if err != nil {
			return err
		}
		rep.Problems = probs
		if err := t.verifyPlaces(ctx, &rep); err != nil {
			return err
		}
		var prog VerifyProgress
		if err := t.queryRow(ctx, qBlobTotals).Scan(&prog.TotalBlobs, &prog.TotalBytes); err != nil {
			return err
		}
		for b, err := range t.blobs(ctx) {
			if err != nil {
				return err
			}
			ok, err := t.verifyBlob(ctx, b)
			if err != nil {
				return err
			}
			if !ok && !slices.Contains(rep.Corrupt, b.ref.ID) {
				rep.Corrupt = append(rep.Corrupt, b.ref.ID)
			}
			rep.CheckedBlobs++
			rep.CheckedBytes += b.ref.Size
			if o.progress != nil {
				prog.CheckedBlobs, prog.CheckedBytes = rep.CheckedBlobs, rep.CheckedBytes
				o.progress(prog)
			}
		}
		return nil
	})
	return rep, wrap(s, "verify", err)
}

// verifyPlaces finds what no foreign key guards on SQLite: chunks that are
// not where their blob's range puts them (no such blob: a problem; a
// blob's chunk out of place: that blob is corrupt).
func (t *Tx) verifyPlaces(ctx context.Context, rep *VerifyReport) error {
	if t.s.db.Postgres() {
		return nil
	}
	rows, err := t.query(ctx, qStrayChunks)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k, pk, seq int64
			id         []byte
		)
		if err := rows.Scan(&k, &pk, &seq, &id); err != nil {
			return err
		}
		if bid, err := idFromBytes(id); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("attachstore_chunks: chunk %d (blob pk %d, seq %d) belongs to no blob", k, pk, seq))
		} else if !slices.Contains(rep.Corrupt, bid) {
			rep.Corrupt = append(rep.Corrupt, bid)
		}
	}
	return rows.Err()
}

// verifyBlob re-hashes one blob's chunks; a gap, an extra chunk, a chunk of
// the wrong length or a hash mismatch makes it corrupt.
func (t *Tx) verifyBlob(ctx context.Context, b blobRow) (bool, error) {
	if b.ref.Size < 0 || b.chunkSize <= 0 {
		return false, nil
	}
	n := (b.ref.Size + b.chunkSize - 1) / b.chunkSize
	query, args := qVerifyChunks, []any{b.pk, b.pk + n}
	if t.s.db.Postgres() {
		query, args = qVerifyChunksPG, []any{b.pk}
	}
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	h := sha256.New()
	var (
		off          int64
		ok           = true
		data         sql.RawBytes
		chunkPK, seq int64
	)
	for rows.Next() {
		if err := rows.Scan(&chunkPK, &seq, &data); err != nil {
			return false, err
		}
		if chunkPK != b.pk {
			// The next blob's first chunk, one past this one's (SQLite),
			// is not this blob's; any other is a chunk out of place.
			ok = ok && off == b.ref.Size
			continue
		}
		if chunkFits(seq, off, int64(len(data)), b.ref.Size, b.chunkSize) != nil {
			ok = false
		}
		h.Write(data)
		off += int64(len(data))
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	var sum ID
	h.Sum(sum[:0])
	return ok && off == b.ref.Size && sum == b.ref.ID, nil
}

// Backup writes a consistent copy of the store, as of one moment, to a new
// file at path while writers go on, then verifies the copy (Verify). path
// must not exist. A copy that fails verification is ErrCorrupt and is left
// at path for inspection. A restored backup is an ordinary store file. A
// PostgreSQL store is backed up with the server's own tools.
func (s *Store) Backup(ctx context.Context, path string) (err error) {
	defer func() { err = wrap(s, "backup to "+path, err) }()
	if s.closed.Load() {
		return ErrClosed
	}
	if s.db.Memory {
		return errors.New("an Ephemeral store has no file to copy")
	}
	// Created empty first, so that it is private and not already there;
	// SQLite writes into an empty file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return errors.Unwrap(err) // the path is named already
	}
	f.Close()
	if err := s.db.Backup(ctx, path); err != nil {
		os.Remove(path)
		return err
	}
	b, err := Open(ctx, path, WithReadOnly())
	if err != nil {
		return &opError{"backup to " + path + ": the copy does not open", err}
	}
	defer b.Close()
	rep, err := b.Verify(ctx)
	if err != nil {
		return &opError{"backup to " + path + ": verifying the copy", err}
	}
	if !rep.OK() {
		return fmt.Errorf("%w: the copy has %d corrupt blobs and %d problems (the store itself may be damaged: run Verify)",
			ErrCorrupt, len(rep.Corrupt), len(rep.Problems))
	}
	return nil
}

// Stats counts what the store holds.
type Stats struct {
	Blobs           int64 `json:"blobs"`
	Refs            int64 `json:"refs"` // manifest rows: committed refs and intents
	Sessions        int64 `json:"sessions"`
	UncommittedRefs int64 `json:"uncommitted_refs"`
	BlobBytes       int64 `json:"blob_bytes"` // sum of blob sizes
	FileBytes       int64 `json:"file_bytes"` // database file and WAL size on disk (0 when Ephemeral)
	// CheckpointFailures counts the background checkpoints (copies of the
	// WAL into the file) that failed since Open, as on a full disk; each is
	// retried after the next commit. 0 but for a writable SQLite file.
	CheckpointFailures int64 `json:"checkpoint_failures"`
}

// Stats returns counts of blobs, refs and sessions as of one snapshot.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := s.run(ctx, false, func(tx *Tx) error {
		if err := tx.queryRow(ctx, qBlobTotals).Scan(&st.Blobs, &st.BlobBytes); err != nil {
			return err
		}
		return tx.queryRow(ctx, qRefTotals).Scan(&st.Refs, &st.Sessions, &st.UncommittedRefs)
	})
	st.FileBytes = s.db.DiskBytes()
	if s.db.Postgres() {
		_ = s.reader().queryRow(ctx, qTableBytes).Scan(&st.FileBytes)
	}
	st.CheckpointFailures = s.db.CheckpointFailures()
	return st, wrap(s, "stats", err)
}

// CompactOption changes what Compact may do.
type CompactOption func(*compactOptions)

type compactOptions struct {
	allowRowidChanges bool
}

// AllowRowidChanges lets Compact renumber other tables' implicit rowids
// (see Compact): give it when nothing stores them (another table, a
// full-text index, anything outside the file).
func AllowRowidChanges() CompactOption {
	return func(o *compactOptions) { o.allowRowidChanges = true }
}

// Compact rewrites the whole database file so that it holds no free page,
// and turns on incremental vacuum for a file created without it (see
// ReclaimReport.NeedsCompact), so that Reclaim can give pages back. It
// holds the write lock for time in proportion to the store, and needs free
// disk about the size of the file beyond the disk reserve (else ErrFull,
// changing nothing). It does nothing to an Ephemeral store or on
// PostgreSQL.
//
// The rewrite (SQLite's VACUUM) keeps every row, but may renumber the
// implicit rowids of tables with neither an INTEGER PRIMARY KEY nor
// WITHOUT ROWID. attachstore's tables have none; where another table has
// them, Compact returns ErrRowidsMayChange and changes nothing, unless
// AllowRowidChanges is given.
func (s *Store) Compact(ctx context.Context, opts ...CompactOption) (err error) {
	defer func() { err = wrap(s, "compact", err) }()
	if s.closed.Load() {
		return ErrClosed
	}
	if s.ReadOnly() {
		return ErrReadOnly
	}
	var o compactOptions
	for _, opt := range opts {
		opt(&o)
	}
	if !o.allowRowidChanges {
		tables, err := s.db.RowidTables(ctx)
		if err != nil {
			return err
		}
		if len(tables) > 0 {
			for i, t := range tables {
				tables[i] = fmt.Sprintf("table %q", t)
			}
			return fmt.Errorf("%w: %s (neither an INTEGER PRIMARY KEY nor WITHOUT ROWID); nothing was changed",
				ErrRowidsMayChange, strings.Join(tables, ", "))
		}
	}
	if err := s.compactRoom(ctx, nil); err != nil {
		return err
	}
	err = s.db.Compact(ctx)
	if db.KindOf(err) == db.Full {
		return s.compactRoom(ctx, err)
	}
	return err
}
