//go:build !linux || arm

package attachstore

// Without sync_file_range there is no way to start one file's writeback
// without waiting for it, so writeback does nothing here and the commit's
// fsync writes the whole transaction, as SQLite alone does. (32-bit arm
// Linux has the call under another number and argument order, which the
// syscall package does not wrap.)

func openWAL(string) (int, bool) { return 0, false }
func startWriteback(int) bool    { return false }
func closeWAL(int)               {}
