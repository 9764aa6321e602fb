//go:build linux && !arm

package attachstore

import "syscall"

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE of <linux/fs.h>: start
// writing the range's dirty pages, and do not wait for them.
const syncFileRangeWrite = 0x2

// openWAL opens the WAL read-only for writeback requests.
func openWAL(path string) (int, bool) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	return fd, err == nil
}

// startWriteback asks the kernel to start writing every dirty page of the
// file to disk, and says whether it took the request.
func startWriteback(fd int) bool {
	return syscall.SyncFileRange(fd, 0, 0, syncFileRangeWrite) == nil
}

func closeWAL(fd int) { _ = syscall.Close(fd) }
