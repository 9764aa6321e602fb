package attachstore

// SetWALRewindBytes lets a test reach the WAL rewind with less data than
// db.WALRewindBytes. Call it before the store's first write.
func SetWALRewindBytes(s *Store, n int64) { s.walRewind = n }
