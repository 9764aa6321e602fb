package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// syncDir fsyncs a directory, making the renames and creations in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncFS flushes every dirty page of the file system holding dir, so that
// setup writes neither linger in the timed part nor escape a cache drop
// (posix_fadvise DONTNEED leaves dirty pages in place).
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}

// dropFile evicts one file's pages from the page cache.
func dropFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// dropCaches evicts every regular file under dir from the page cache: the
// cold-cache state of W4 and the cold reads of W5. The caller must have closed
// what it has open under dir, or mapped pages survive.
func dropCaches(dir string) error {
	if err := syncFS(dir); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if err := dropFile(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

// vmHWM returns this process's peak resident set size in bytes, read from
// /proc/self/status. It is process-wide: W5 runs each system in a child
// process so that the peak is that system's own.
func vmHWM() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			fields := bytes.Fields(rest)
			if len(fields) != 2 || string(fields[1]) != "kB" {
				return 0, fmt.Errorf("vmHWM: unexpected line %q", line)
			}
			kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
			return kb << 10, err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("vmHWM: no VmHWM line in /proc/self/status")
}

// drain reads r to the end through one 1 MiB buffer and returns the byte
// count. Every system's streaming read goes through it, so none is favoured by
// io.Copy's WriterTo/ReaderFrom shortcuts (io.Discard reads 8 KiB at a time).
func drain(r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func mkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

// removeAndSync deletes a store and waits until the file system has
// committed the deletion. On a file system mounted with discard (as here),
// freeing gigabytes issues TRIMs at the next journal commit: without the
// sync they land in the next system's timed part.
func removeAndSync(dir string) {
	_ = removeTree(dir, removeWorkers)
	_ = syncFS(filepath.Dir(dir))
}

// removeWorkers is how many directories removeTree empties at once.
const removeWorkers = 8

// removeTree is os.RemoveAll that empties the directories of a tree with
// several goroutines at once. A peer CAS's tree holds a million files in 256
// fan-out directories three levels down at full size; one os.RemoveAll of it
// took 170 s here with its inodes out of the cache, eight workers 68 s.
// It runs between systems, outside every timed part.
func removeTree(root string, workers int) error {
	var (
		mu      sync.Mutex
		pending sync.WaitGroup
		errs    []error
	)
	work := make(chan string, 1024)
	// empty unlinks the files of one directory and queues its directories.
	// A queued directory is counted in pending before it is sent, so Wait
	// returns only once every directory has been emptied.
	empty := func(dir string) {
		defer pending.Done()
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if e.IsDir() {
				pending.Add(1)
				go func() { work <- p }()
				continue
			}
			if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	var workersDone sync.WaitGroup
	for range workers {
		workersDone.Go(func() {
			for dir := range work {
				empty(dir)
			}
		})
	}
	pending.Add(1)
	work <- root
	pending.Wait()
	close(work)
	workersDone.Wait()
	// What is left is empty directories (or whatever the workers could not
	// remove, which RemoveAll then reports).
	return errors.Join(append(errs, os.RemoveAll(root))...)
}
