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
	// CheckpointFailures counts the background checkpoints (copies of the
	// write-ahead log back into the file) that failed since Open, as on a
	// full disk: each is tried again after the next commit, and the WAL
	// grows meanwhile. 0 but for a writable SQLite file.
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
