package attachstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math"
)

// VerifyReport says what Verify found.
type VerifyReport struct {
	CheckedBlobs int      `json:"checked_blobs"`
	CheckedBytes int64    `json:"checked_bytes"`
	Corrupt      []ID     `json:"corrupt,omitempty"`  // bytes no longer hash to their id, or chunks missing or extra
	Problems     []string `json:"problems,omitempty"` // integrity_check and foreign_key_check findings, chunk rows of no blob, refs that disagree with their blob
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

// VerifyPolicy configures VerifyWith.
type VerifyPolicy struct {
	// Progress, if set, is called as blobs are checked.
	Progress func(VerifyProgress)
}

// Verify checks the whole store: SQLite's integrity_check and
// foreign_key_check, chunk rows that belong to no blob, refs whose copy of
// their blob's columns disagrees with the blob, and a re-hash of
// every blob streamed chunk by chunk. It returns an error only when it
// could not check; what it found is in the report.
func (s *Store) Verify(ctx context.Context) (VerifyReport, error) {
	return s.VerifyWith(ctx, VerifyPolicy{})
}

// VerifyWith is Verify with a progress callback. It reads one snapshot (a
// View), so content deleted while it runs is not mistaken for corruption.
func (s *Store) VerifyWith(ctx context.Context, p VerifyPolicy) (VerifyReport, error) {
	var rep VerifyReport
	err := s.View(ctx, func(t *Tx) error {
		var err error
		rep, err = t.verify(ctx, p)
		return err
	})
	return rep, err
}

func (t *Tx) verify(ctx context.Context, p VerifyPolicy) (VerifyReport, error) {
	var rep VerifyReport
	for _, check := range []string{"PRAGMA integrity_check", "PRAGMA foreign_key_check"} {
		probs, err := t.pragmaRows(ctx, check)
		if err != nil {
			return rep, err
		}
		rep.Problems = append(rep.Problems, probs...)
	}

	var stale int64
	if err := t.q.QueryRowContext(ctx, qStaleRefs).Scan(&stale); err != nil {
		return rep, mapErr(err, "verify")
	}
	if stale > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d refs disagree with their blob's pk, size, chunk size or creation time", stale))
	}

	var prog VerifyProgress
	if err := t.q.QueryRowContext(ctx, qBlobTotals).Scan(&prog.TotalBlobs, &prog.TotalBytes); err != nil {
		return rep, mapErr(err, "verify")
	}
	var after int64
	strays := strayChunks{from: math.MinInt64}
	for {
		page, last, err := t.verifyPage(ctx, after)
		if err != nil {
			return rep, err
		}
		for _, b := range page {
			if err := strays.upTo(ctx, t, b.pk, &rep); err != nil {
				return rep, err
			}
			ok, err := t.verifyBlob(ctx, b)
			if err != nil {
				return rep, err
			}
			if !ok {
				rep.Corrupt = append(rep.Corrupt, b.ref.ID)
			}
			rep.CheckedBlobs++
			rep.CheckedBytes += b.ref.Size
			if p.Progress != nil {
				prog.CheckedBlobs, prog.CheckedBytes = rep.CheckedBlobs, rep.CheckedBytes
				p.Progress(prog)
			}
		}
		if len(page) < listPage {
			return rep, strays.upTo(ctx, t, 0, &rep)
		}
		after = last
	}
}

// strayChunks finds chunk rows that belong to no blob. The chunks table has
// no foreign key (its key is computed; see chunkKey), so foreign_key_check
// cannot see them: walking blobs in pk order, it counts the chunk keys in
// each gap between one blob's range and the next.
type strayChunks struct {
	from int64 // the first key after the ranges checked so far
	done bool
}

// upTo checks the keys before blob pk's range, then moves past it; pk 0
// checks the rest of the table.
func (s *strayChunks) upTo(ctx context.Context, t *Tx, pk int64, rep *VerifyReport) error {
	if s.done {
		return nil
	}
	to := int64(math.MaxInt64)
	if pk != 0 {
		start, err := chunkKey(pk, 0)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("blobs: %v", err))
			return nil
		}
		to = start - 1
	}
	var n int64
	if s.from <= to {
		if err := t.q.QueryRowContext(ctx, qStrayChunks, s.from, to).Scan(&n); err != nil {
			return mapErr(err, "verify")
		}
	}
	if n > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("chunks: %d rows with keys %d..%d belong to no blob", n, s.from, to))
	}
	if pk == 0 || pk >= 1<<31-1 {
		s.done = true
		return nil
	}
	s.from = (pk + 1) << 32
	return nil
}

// pragmaRows runs a checking pragma and returns its findings ("ok" is none).
func (t *Tx) pragmaRows(ctx context.Context, pragma string) ([]string, error) {
	rows, err := t.q.QueryContext(ctx, pragma)
	if err != nil {
		return nil, mapErr(err, pragma)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, mapErr(err, pragma)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, mapErr(err, pragma)
		}
		if len(vals) == 1 && fmt.Sprint(vals[0]) == "ok" {
			continue
		}
		line := pragma + ":"
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			line += fmt.Sprintf(" %s=%v", cols[i], v)
		}
		out = append(out, line)
	}
	return out, mapErr(rows.Err(), pragma)
}

func (t *Tx) verifyPage(ctx context.Context, after int64) ([]blobRow, int64, error) {
	rows, err := t.q.QueryContext(ctx, qVerifyBlobs, after, listPage)
	if err != nil {
		return nil, 0, mapErr(err, "verify")
	}
	defer rows.Close()
	var (
		page []blobRow
		last int64
	)
	for rows.Next() {
		var (
			b  blobRow
			id []byte
		)
		if err := rows.Scan(&b.pk, &id, &b.ref.Size, &b.chunkSize); err != nil {
			return nil, 0, mapErr(err, "verify")
		}
		copy(b.ref.ID[:], id)
		last = b.pk
		page = append(page, b)
	}
	return page, last, mapErr(rows.Err(), "verify")
}

// verifyBlob re-hashes one blob's chunks; a gap, an extra chunk, a chunk of
// the wrong length or a hash mismatch makes it corrupt.
func (t *Tx) verifyBlob(ctx context.Context, b blobRow) (bool, error) {
	rows, err := t.q.QueryContext(ctx, qVerifyChunks, b.pk)
	if err != nil {
		return false, mapErr(err, "verify "+b.ref.ID.String())
	}
	defer rows.Close()
	h := sha256.New()
	var (
		next int64
		seen int64
		ok   = true
		data sql.RawBytes
		seq  int64
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &data); err != nil {
			return false, mapErr(err, "verify "+b.ref.ID.String())
		}
		want := min(b.chunkSize, b.ref.Size-seq*b.chunkSize)
		if seq != next || int64(len(data)) != want {
			ok = false
		}
		h.Write(data)
		seen += int64(len(data))
		next = seq + 1
	}
	if err := rows.Err(); err != nil {
		return false, mapErr(err, "verify "+b.ref.ID.String())
	}
	var sum ID
	h.Sum(sum[:0])
	return ok && seen == b.ref.Size && sum == b.ref.ID, nil
}
