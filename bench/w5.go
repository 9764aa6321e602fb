package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// W5 streams one big blob in with PutReader and out with NewReader, warm and
// then cold. Each system's run happens in two child processes (this binary,
// re-executed with -w5-child), so that VmHWM, which is process-wide, is the
// peak of that run alone: the first puts and closes the store, the second
// opens it again and reads, warm (the file in the OS page cache from the
// put) and then cold. The warm read is thus the first read after the put in
// a fresh process, as the SQLite floor's read is its first after writing
// its rows: neither shares its process with the put's work still running
// (the library's checkpoint of a WAL the put filled) or the put's heap.

type w5Result struct {
	PutMBps  float64 `json:"put_mbps"`
	WarmMBps float64 `json:"warm_mbps"`
	ColdMBps float64 `json:"cold_mbps"`
	HWM      int64   `json:"vm_hwm_bytes"`
	ID       string  `json:"id,omitempty"` // what the put stored, for the read
	Error    string  `json:"error,omitempty"`
}

func (b *bench) w5(ctx context.Context) error {
	c, g := b.cfg, &b.g
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	failed := map[string]bool{}
	for r := range c.runs {
		for _, op := range b.systems {
			if failed[op.name] || !op.runs("W5") {
				continue
			}
			b.logf("W5 run %d/%d %s: %s", r+1, c.runs, op.name, humanBytes(c.big))
			dir := filepath.Join(b.scratch, "w5", op.name)
			put, err := runW5Child(ctx, exe, c, op.name, dir, "")
			var res w5Result
			if err == nil {
				res, err = runW5Child(ctx, exe, c, op.name, dir, put.ID)
				b.logf("W5 %s: peak RSS %.1f MiB putting, %.1f MiB reading", op.name, float64(put.HWM)/(1<<20), float64(res.HWM)/(1<<20))
				res.PutMBps, res.HWM = put.PutMBps, max(put.HWM, res.HWM)
			}
			removeAndSync(dir)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				failed[op.name] = true
				b.fail(op.name, fmt.Errorf("W5: %w", err), g.w5put, g.w5warm, g.w5cold, g.w5rss)
				continue
			}
			g.w5put.add(op.name, res.PutMBps)
			g.w5warm.add(op.name, res.WarmMBps)
			g.w5cold.add(op.name, res.ColdMBps)
			g.w5rss.add(op.name, float64(res.HWM)/(1<<20))
		}
	}
	return nil
}

// runW5Child runs one W5 child: the put when id is empty, else the reads
// of id.
func runW5Child(ctx context.Context, exe string, c *config, system, dir, id string) (w5Result, error) {
	cmd := exec.CommandContext(ctx, exe,
		"-w5-child", system, "-w5-dir", dir, "-w5-size", strconv.FormatInt(c.big, 10), "-w5-id", id,
		"-page-size", strconv.Itoa(c.pageSize), "-chunk-size", strconv.Itoa(c.chunkSize),
		"-cache-size", strconv.Itoa(c.cacheKiB),
		"-w5-source-mbps", strconv.FormatFloat(c.sourceMBps, 'g', -1, 64))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var res w5Result
	if line := lastLine(out); len(line) > 0 {
		if jerr := json.Unmarshal(line, &res); jerr != nil && err == nil {
			err = fmt.Errorf("child output %q: %w", line, jerr)
		}
	} else if err == nil {
		err = fmt.Errorf("child printed nothing")
	}
	if err == nil && res.Error != "" {
		err = fmt.Errorf("%s", res.Error)
	} else if err != nil && res.Error != "" {
		err = fmt.Errorf("%w: %s", err, res.Error)
	}
	return res, err
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

// w5ChildMain is the child: it prints one JSON w5Result and exits 0 when the
// run succeeded.
func w5ChildMain(ctx context.Context, c *config) int {
	res, err := w5Child(ctx, c)
	if err != nil {
		res.Error = err.Error()
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if err != nil {
		return 1
	}
	return 0
}

func w5Child(ctx context.Context, c *config) (res w5Result, err error) {
	op := findOpener(c.child)
	if op == nil {
		return res, fmt.Errorf("unknown system %q", c.child)
	}
	sys, err := op.open(ctx, c.childDir, c)
	if err != nil {
		return res, fmt.Errorf("open: %w", err)
	}
	defer func() {
		if sys != nil {
			err = errors.Join(err, sys.Close())
		}
	}()
	if c.w5ID == "" {
		var src io.Reader = newPatternReader(c.big)
		if c.sourceMBps > 0 {
			src = &pacedReader{r: src, rate: c.sourceMBps * 1e6}
		}
		start := time.Now()
		id, err := sys.PutReader(ctx, src)
		if err != nil {
			return res, fmt.Errorf("put: %w", err)
		}
		res.PutMBps, res.ID = mbps(c.big, time.Since(start)), id.String()
		err = sys.Close()
		sys = nil
		if err != nil {
			return res, err
		}
		res.HWM, err = vmHWM()
		return res, err
	}
	var id ID
	if b, err := hex.DecodeString(c.w5ID); err != nil || len(b) != len(id) {
		return res, fmt.Errorf("-w5-id %q: want 64 hex digits", c.w5ID)
	} else {
		copy(id[:], b)
	}
	buf := make([]byte, 1<<20)
	read := func() (float64, error) {
		start := time.Now()
		rc, err := sys.NewReader(ctx, id)
		if err != nil {
			return 0, err
		}
		n, err := drain(rc, buf)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err == nil && n != c.big {
			err = fmt.Errorf("read %d bytes, want %d", n, c.big)
		}
		return mbps(c.big, time.Since(start)), err
	}
	if res.WarmMBps, err = read(); err != nil {
		return res, fmt.Errorf("warm read: %w", err)
	}
	err = sys.Close()
	sys = nil
	if err != nil {
		return res, err
	}
	if err := dropCaches(c.childDir); err != nil {
		return res, err
	}
	if sys, err = op.open(ctx, c.childDir, c); err != nil {
		return res, fmt.Errorf("reopen: %w", err)
	}
	if res.ColdMBps, err = read(); err != nil {
		return res, fmt.Errorf("cold read: %w", err)
	}
	res.HWM, err = vmHWM()
	return res, err
}
