package attachstore_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"github.com/attachstore/attachstore"
)

// TestWritebackDuringLargeWrite checks that a write transaction putting
// tens of MiB has the kernel write its WAL frames to disk while it goes on
// (writeback.go), so that the commit's fsync finds little left, for each
// way of writing that much: one streamed put, one put of bytes, and a turn
// of many small puts in one Update. Before the commit it reads how much of
// the WAL is still dirty in the page cache (cachestat(2), Linux 6.5): the
// frames written before the last writeback request must not be, so at most
// a quarter of what the transaction wrote may be. Without writeback all of
// it is dirty until the commit. It also checks that the transaction's own
// descriptor on the WAL is closed when the Update returns, and that a small
// transaction, or one whose commit does not fsync the WAL (synchronous
// NORMAL), makes no request.
func TestWritebackDuringLargeWrite(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH == "arm" {
		t.Skip("writeback requests are made on Linux only")
	}
	const size = 64 << 20
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		size  int64
		write func(tx *attachstore.Tx, r io.Reader) error
		opts  []attachstore.Option // the default (synchronous FULL) when nil
	}{
		{"PutReader", size, func(tx *attachstore.Tx, r io.Reader) error {
			_, err := tx.PutReader(ctx, r, attachstore.Meta{})
			return err
		}, nil},
		{"SessionPut", size, func(tx *attachstore.Tx, r io.Reader) error {
			data, err := io.ReadAll(r)
			if err == nil {
				_, err = tx.Session("chat").Put(ctx, data, attachstore.Meta{})
			}
			return err
		}, nil},
		{"TurnOfSmallPuts", size, func(tx *attachstore.Tx, r io.Reader) error {
			buf := make([]byte, 512<<10)
			for {
				n, err := io.ReadFull(r, buf)
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
					return err
				}
				if _, err := tx.Session("chat").Put(ctx, buf[:n], attachstore.Meta{}); err != nil {
					return err
				}
			}
		}, nil},
		{"Small", 4 << 20, func(tx *attachstore.Tx, r io.Reader) error {
			_, err := tx.PutReader(ctx, r, attachstore.Meta{})
			return err
		}, nil},
		{"SynchronousNormal", size, func(tx *attachstore.Tx, r io.Reader) error {
			_, err := tx.PutReader(ctx, r, attachstore.Meta{})
			return err
		}, []attachstore.Option{attachstore.WithSynchronous("NORMAL")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wb.db")
			s := openForTest(t, path, tc.opts...)
			wal := path + "-wal"
			fdsBefore := descriptorsOf(t, wal)
			requests := attachstore.Writebacks()
			var dirty int64
			err := s.Update(ctx, func(tx *attachstore.Tx) error {
				if err := tc.write(tx, newLargeGen(9, tc.size)); err != nil {
					return err
				}
				dirty = dirtyBytes(t, wal)
				return nil
			})
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			made := attachstore.Writebacks() - requests
			t.Logf("%d MiB written: %d writeback requests, %d KiB of the WAL dirty before the commit", tc.size>>20, made, dirty>>10)
			if fds := descriptorsOf(t, wal); fds != fdsBefore {
				t.Errorf("descriptors on the WAL: %d after the Update, %d before", fds, fdsBefore)
			}
			if tc.size < 8<<20 || tc.opts != nil {
				if made != 0 {
					t.Errorf("a %d MiB transaction made %d writeback requests, want none", tc.size>>20, made)
				}
				return
			}
			if made == 0 {
				t.Errorf("a %d MiB transaction made no writeback request", tc.size>>20)
			}
			if dirty >= 0 && dirty > tc.size/4 {
				t.Errorf("%d MiB of the WAL still dirty before the commit of %d MiB: not written back during the transaction", dirty>>20, tc.size>>20)
			}
		})
	}
}

// descriptorsOf counts this process's open descriptors on the file at path.
func descriptorsOf(t *testing.T, path string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list descriptors: %v", err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

// dirtyBytes is how much of the file at path is dirty in the page cache,
// from cachestat(2), or -1 where the kernel has no cachestat (before 6.5).
func dirtyBytes(t *testing.T, path string) int64 {
	t.Helper()
	const sysCachestat = 451 // the same number on every Linux architecture
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		rng   struct{ off, len uint64 } // len 0: to the end of the file
		stats struct{ cache, dirty, writeback, evicted, recentlyEvicted uint64 }
	)
	_, _, errno := syscall.Syscall6(sysCachestat, f.Fd(), uintptr(unsafe.Pointer(&rng)), uintptr(unsafe.Pointer(&stats)), 0, 0, 0)
	runtime.KeepAlive(f)
	if errno == syscall.ENOSYS {
		t.Log("no cachestat on this kernel: dirty pages not checked")
		return -1
	}
	if errno != 0 {
		t.Fatalf("cachestat: %v", errno)
	}
	return int64(stats.dirty) * int64(os.Getpagesize())
}
