package attachstore

import "context"

// Stats counts what the store holds.
type Stats struct {
	Blobs           int64 `json:"blobs"`
	Refs            int64 `json:"refs"` // manifest rows: committed refs and intents
	Sessions        int64 `json:"sessions"`
	UncommittedRefs int64 `json:"uncommitted_refs"`
	BlobBytes       int64 `json:"blob_bytes"` // sum of blob sizes
	FileBytes       int64 `json:"file_bytes"` // database file and WAL size on disk (0 when Ephemeral)
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
	return st, wrap(s, "stats", err)
}
