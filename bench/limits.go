package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Physical limits of this machine, measured in the same run as the
// workloads: they bound what any design can reach.

// shaMBps hashes n bytes and returns the SHA-256 throughput in MB/s.
func shaMBps(n int64) float64 {
	buf := pattern
	h := sha256.New()
	start := time.Now()
	for done := int64(0); done < n; done += int64(len(buf)) {
		h.Write(buf)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return mbps(n, time.Since(start))
}

// syncLatency returns the median time of writing 4 KiB at offset 0 of a file
// and flushing it, with fdatasync (data=true) or fsync: the floor under one
// durable commit.
func syncLatency(dir string, ops int, data bool) (time.Duration, error) {
	f, err := os.Create(filepath.Join(dir, "fsync.probe"))
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	copy(page, pattern)
	if _, err := f.WriteAt(page, 0); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	lat := make([]time.Duration, 0, ops)
	for i := range ops {
		page[0] = byte(i)
		start := time.Now()
		if _, err := f.WriteAt(page, 0); err != nil {
			return 0, err
		}
		if data {
			err = unix.Fdatasync(int(f.Fd()))
		} else {
			err = f.Sync()
		}
		if err != nil {
			return 0, err
		}
		lat = append(lat, time.Since(start))
	}
	return percentile(lat, 50), nil
}

// fileBandwidth writes a fresh n-byte file in 1 MiB writes and fsyncs it,
// then reads it back warm, then cold after posix_fadvise DONTNEED. It returns
// the three bandwidths in MB/s.
func fileBandwidth(dir string, n int64) (write, warm, cold float64, err error) {
	path := filepath.Join(dir, "seq.probe")
	defer os.Remove(path)
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, 0, err
	}
	buf := make([]byte, 1<<20)
	src := newPatternReader(n)
	start := time.Now()
	for {
		k, rerr := src.Read(buf)
		if k == 0 || rerr != nil {
			break
		}
		if _, err = f.Write(buf[:k]); err != nil {
			f.Close()
			return 0, 0, 0, err
		}
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return 0, 0, 0, err
	}
	write = mbps(n, time.Since(start))
	if err = f.Close(); err != nil {
		return 0, 0, 0, err
	}
	read := func() (float64, error) {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		start := time.Now()
		got, err := drain(f, buf)
		if err == nil && got != n {
			err = fmt.Errorf("read %d of %d bytes", got, n)
		}
		return mbps(n, time.Since(start)), err
	}
	if warm, err = read(); err != nil {
		return 0, 0, 0, err
	}
	if err = dropFile(path); err != nil {
		return 0, 0, 0, err
	}
	cold, err = read()
	return write, warm, cold, err
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }
