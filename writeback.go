package attachstore

import "sync/atomic"

// writebackEvery is how many bytes of blob data a write transaction puts
// between two requests that the kernel start writing the WAL to disk.
// Measured on a 1 GiB PutReader (bench/RESULTS.md, "W5 put: the WAL
// written back during the put"): 8 and 32 MiB were as fast as each other,
// and 8 MiB leaves the least for the commit's fsync.
const writebackEvery = 8 << 20

// writeback starts the disk writes of a large write transaction's WAL
// frames while the transaction is still writing more of them.
//
// SQLite writes WAL frames with pwrite as its page cache spills, and the
// commit's fsync then waits for the disk to take every one of them: the
// kernel keeps them all dirty until then (dirty_background_ratio of a large
// memory is gigabytes). For a 1 GiB put that fsync was 0.8–0.9 s of a
// 2.6 s put, spent after all the CPU work was done. Asking the kernel to
// start writing back (sync_file_range with SYNC_FILE_RANGE_WRITE, which
// does not wait) every writebackEvery bytes overlaps the disk with SQLite's
// work, and the commit's fsync finds little left: 0.01–0.03 s.
//
// It changes nothing about durability: the commit still fsyncs the WAL,
// and writing frames early can only make more of an uncommitted
// transaction reach the disk, which recovery ignores, as it ignores
// frames spilled before a crash today. Errors of the early writes are not
// reported: the commit's fsync reports the real ones.
//
// The WAL is opened on its own descriptor, read-only. SQLite never takes a
// POSIX lock on the WAL (only on the database file and the -shm), so
// closing that descriptor cannot drop one of SQLite's locks, the hazard of
// opening a database file behind SQLite's back.
//
// Only Linux has a non-blocking way to start writeback of one file; on
// other systems a writeback does nothing (see writeback_other.go).
type writeback struct {
	pending int64 // bytes put since the last request
	fd      int
	failed  bool          // the WAL could not be opened: do not try again
	kick    chan struct{} // nil until the WAL is open and run is running
	done    chan struct{}
}

// writebacks counts the requests that reached the kernel, for tests.
var writebacks atomic.Int64

// wrote records n bytes of blob data written to the WAL at walPath, and
// asks for writeback once writebackEvery of them have gathered. The first
// request opens the WAL and starts the goroutine that makes the requests,
// so that small transactions pay nothing. An empty walPath means the
// store's commits do not fsync the WAL: with synchronous OFF or NORMAL,
// early writeback would save no commit any time and could write WAL pages
// twice, before and after they are reused.
func (w *writeback) wrote(walPath string, n int) {
	if walPath == "" || w.failed {
		return
	}
	w.pending += int64(n)
	if w.pending < writebackEvery {
		return
	}
	w.pending = 0
	if w.kick == nil {
		fd, ok := openWAL(walPath)
		if !ok {
			w.failed = true
			return
		}
		w.fd = fd
		w.kick, w.done = make(chan struct{}, 1), make(chan struct{})
		go w.run()
	}
	select {
	case w.kick <- struct{}{}:
	default: // one is waiting already; it covers these bytes too
	}
}

// run makes one writeback request per kick: the request may block while
// the disk's queue is full, and it must not hold up the transaction.
func (w *writeback) run() {
	defer close(w.done)
	for range w.kick {
		if startWriteback(w.fd) {
			writebacks.Add(1)
		}
	}
}

// stop waits for a request in flight and closes the WAL's descriptor. It
// runs when the transaction has ended, and leaves w ready for reuse.
func (w *writeback) stop() {
	if w.kick != nil {
		close(w.kick)
		<-w.done
		closeWAL(w.fd)
	}
	*w = writeback{}
}
