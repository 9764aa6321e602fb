package attachstore

// SetWALRewindBytes lets a test reach the WAL rewind with less data than
// db.WALRewindBytes. Call it before the store's first write.
func SetWALRewindBytes(s *Store, n int64) { s.walRewind = n }

// SetReclaimGather lets a test make Reclaim scan, delete and scan again
// with fewer orphans than defaultReclaimGather.
func SetReclaimGather(s *Store, n int) { s.reclaimGather = n }

// Writebacks is how many WAL writeback requests the kernel took, in this
// process, since it started.
func Writebacks() int64 { return writebacks.Load() }
