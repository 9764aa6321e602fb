package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachhttp"
)

// W8 (issue 32) serves attachments over HTTP on loopback: GETs of a 10 KiB
// and a 1 MiB attachment with 1, 16 and 256 concurrent clients, and 1000
// concurrent Range readers of one large attachment. The peer is
// http.FileServer serving the same bytes as files. The floor beside the
// GETs is SQLite alone serving them through the same guard: the bytes as
// rows of a kv table and a manifest of which session holds which id (the
// guarded-read floor of W3(a)), each GET one statement through the
// driver's raw interface, written as the response body, with nothing of
// attachhttp's checks or headers. Each server runs in a
// child process (this binary, re-executed with -w8-serve), so that its
// peak RSS (VmHWM, read from /proc/PID/status) is its own, and the load
// generator's goroutines are not counted.
//
//	go run . -w8            # the full row: a 512 MiB attachment, 3 s a cell
//	go run . -w8 -quick     # smoke-sized: 32 MiB, 0.3 s a cell

type w8Config struct {
	run     bool
	serve   string // child mode: "attachstore", "files" or "sqlite"
	dir     string
	seconds float64
	big     int64
	readers int
}

var w8cfg w8Config

func w8Flags(fs *flag.FlagSet) {
	fs.BoolVar(&w8cfg.run, "w8", false, "run only W8 (HTTP serving, issue 32) and print its table")
	fs.Float64Var(&w8cfg.seconds, "w8-seconds", 0, "W8: seconds of load per cell (0: 3, or 0.3 with -quick)")
	fs.Int64Var(&w8cfg.big, "w8-big", 0, "W8: size of the Range readers' attachment (0: 512 MiB, or 32 MiB with -quick)")
	fs.IntVar(&w8cfg.readers, "w8-readers", 1000, "W8: concurrent Range readers")
	fs.StringVar(&w8cfg.serve, "w8-serve", "", "internal: serve W8's store (attachstore), files (files) or kv rows (sqlite) from -w8-dir")
	fs.StringVar(&w8cfg.dir, "w8-dir", "", "internal: the W8 child's directory")
}

const w8Token = "w8-bench-token"

// w8Files are the attachments W8 reads, by file name.
var w8Small, w8Medium, w8Big = "small.bin", "medium.bin", "big.bin"

// w8ServeMain is the child: it serves dir and prints its address.
func w8ServeMain(ctx context.Context) int {
	var h http.Handler
	switch w8cfg.serve {
	case "files":
		h = http.FileServer(http.Dir(filepath.Join(w8cfg.dir, "files")))
	case "attachstore":
		s, err := attachstore.Open(ctx, filepath.Join(w8cfg.dir, "store.db"), attachstore.WithReadOnly())
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench -w8-serve:", err)
			return 1
		}
		defer s.Close()
		h = attachhttp.New(s, attachhttp.Options{Token: w8Token})
	case "sqlite":
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(w8cfg.dir, w8KV)+"?mode=ro&_stmt_cache_size=64")
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench -w8-serve:", err)
			return 1
		}
		defer db.Close()
		h = kvHandler(db)
	default:
		fmt.Fprintln(os.Stderr, "bench: -w8-serve: want attachstore, files or sqlite")
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench -w8-serve:", err)
		return 1
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	fmt.Println(ln.Addr().String())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "bench -w8-serve:", err)
		return 1
	}
	return 0
}

// w8KV is the floor's database.
const w8KV = "kv.db"

// kvHandler is the floor's server: GET /SESSION/ID answers the bytes of
// id (hex) if the manifest of db says session holds it.
func kvHandler(db *sql.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, hexID, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		id, err := hex.DecodeString(hexID)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		conn, err := db.Conn(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		data, err := rawQuery(r.Context(), conn, guardedQuery, session, id)
		conn.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	})
}

// w8Child is a running server child.
type w8Child struct {
	cmd  *exec.Cmd
	addr string
}

func startW8Child(system, dir string) (*w8Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-w8-serve", system, "-w8-dir", dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("W8 %s server printed no address: %w", system, err)
	}
	return &w8Child{cmd: cmd, addr: strings.TrimSpace(line)}, nil
}

func (c *w8Child) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	c.cmd.Wait()
}

// hwm is the child's peak resident set size so far.
func (c *w8Child) hwm() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmHWM line")
}

// w8Setup writes the three attachments into a store (session "bench") and
// the same bytes as files, and returns their ids by file name.
func w8Setup(ctx context.Context, dir string, big int64) (map[string]attachstore.ID, error) {
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		return nil, err
	}
	s, err := attachstore.Open(ctx, filepath.Join(dir, "store.db"))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ids := map[string]attachstore.ID{}
	for _, f := range []struct {
		name string
		size int64
	}{{w8Small, 10 << 10}, {w8Medium, 1 << 20}, {w8Big, big}} {
		path := filepath.Join(dir, "files", f.name)
		out, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		src := &w8Bytes{seed: f.size}
		if _, err := io.Copy(out, io.LimitReader(src, f.size)); err != nil {
			out.Close()
			return nil, err
		}
		if err := out.Close(); err != nil {
			return nil, err
		}
		in, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		ref, err := s.Session("bench").PutReader(ctx, in, attachstore.Meta{MediaType: "application/octet-stream", Label: f.name})
		in.Close()
		if err != nil {
			return nil, err
		}
		if err := s.Session("bench").Commit(ctx, ref.ID); err != nil {
			return nil, err
		}
		ids[f.name] = ref.ID
	}
	return ids, w8Rows(ctx, dir)
}

// w8Rows writes the GETs' files as the floor's rows into dir's w8KV,
// held by session "bench" under their ids.
func w8Rows(ctx context.Context, dir string) error {
	fd, err := openFloor(ctx, dir, floorPageSize(&config{}))
	if err != nil {
		return err
	}
	p := &population{}
	var rows [][]byte
	for _, name := range []string{w8Small, w8Medium} {
		b, err := os.ReadFile(filepath.Join(dir, "files", name))
		if err != nil {
			return errors.Join(err, fd.close())
		}
		rows = append(rows, b)
		p.ids = append(p.ids, ID(attachstore.ContentID(b)))
	}
	if _, err := fd.commit(ctx, 1, func(int) [][]byte { return rows }); err != nil {
		return errors.Join(err, fd.close())
	}
	if err := fd.manifest(ctx, p, func(int) string { return "bench" }); err != nil {
		return errors.Join(err, fd.close())
	}
	if err := fd.shut(); err != nil {
		return errors.Join(err, fd.remove())
	}
	return os.Rename(fd.path, filepath.Join(dir, w8KV))
}

// w8Bytes makes bytes that do not repeat or compress, quickly.
type w8Bytes struct {
	seed  int64
	block [32]byte
	used  int
	n     uint64
}

func (b *w8Bytes) Read(p []byte) (int, error) {
	for i := range p {
		if b.used == 0 || b.used == len(b.block) {
			b.block = sha256.Sum256([]byte(fmt.Sprint(b.seed, b.n)))
			b.n++
			b.used = 0
		}
		p[i] = b.block[b.used]
		b.used++
	}
	return len(p), nil
}

// w8Target is how the load generator addresses one server.
type w8Target struct {
	system string
	child  *w8Child
	ids    map[string]attachstore.ID
}

func (t *w8Target) url(name string) string {
	switch t.system {
	case "files":
		return "http://" + t.child.addr + "/" + name
	case "sqlite":
		return "http://" + t.child.addr + "/bench/" + t.ids[name].String()
	}
	return "http://" + t.child.addr + "/sessions/bench/attachments/" + t.ids[name].String()
}

func (t *w8Target) request(ctx context.Context, name, rng string) *http.Request {
	r, _ := http.NewRequestWithContext(ctx, "GET", t.url(name), nil)
	if t.system == "attachstore" {
		r.Header.Set("Authorization", "Bearer "+w8Token)
	}
	if rng != "" {
		r.Header.Set("Range", rng)
	}
	return r
}

// load runs clients loops of GETs for d and returns requests per second.
// Each GET must return want bytes.
func (t *w8Target) load(ctx context.Context, clients int, d time.Duration, next func(rnd *rand.Rand) (name, rng string, want int64)) (float64, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var done atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	buf := sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(i), 8))
			for ctx.Err() == nil {
				name, rng, want := next(rnd)
				resp, err := client.Do(t.request(ctx, name, rng))
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstErr = cmpErr(firstErr, err)
						mu.Unlock()
					}
					return
				}
				b := buf.Get().(*[]byte)
				n, err := io.CopyBuffer(io.Discard, resp.Body, *b)
				buf.Put(b)
				resp.Body.Close()
				if ctx.Err() != nil {
					return
				}
				if err != nil || n != want || resp.StatusCode >= 300 {
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("GET %s %s: %d, %d bytes of %d: %v", name, rng, resp.StatusCode, n, want, err))
					mu.Unlock()
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds(), firstErr
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// w8Main runs W8 and prints its table: the median of runs runs of each
// cell, with their range. Both servers run side by side and the cells
// alternate between them run by run, so that a drift of the machine's load
// falls on both alike.
func w8Main(ctx context.Context, quick bool, runs int, parent string) int {
	secs, big := w8cfg.seconds, w8cfg.big
	if secs <= 0 {
		secs = 3
		if quick {
			secs = 0.3
		}
	}
	if big <= 0 {
		big = 512 << 20
		if quick {
			big = 32 << 20
		}
	}
	if quick {
		runs = 1
	}
	d := time.Duration(secs * float64(time.Second))
	dir, err := os.MkdirTemp(parent, "attachstore-w8-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(os.Stderr, "W8: writing %s of attachments and files\n", humanBytes(big+(1<<20)+(10<<10)))
	ids, err := w8Setup(ctx, dir, big)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: W8 setup:", err)
		return 1
	}
	systems := []string{"files", "attachstore", "sqlite"}
	start := func(systems []string) (map[string]*w8Target, error) {
		ts := map[string]*w8Target{}
		for _, system := range systems {
			child, err := startW8Child(system, dir)
			if err != nil {
				for _, t := range ts {
					t.child.stop()
				}
				return nil, err
			}
			ts[system] = &w8Target{system: system, child: child, ids: ids}
		}
		return ts, nil
	}
	stopAll := func(ts map[string]*w8Target) {
		for _, t := range ts {
			t.child.stop()
		}
	}

	type cell struct {
		name string
		rps  map[string][]float64
	}
	var cells []*cell
	measure := func(ts map[string]*w8Target, c *cell, clients int, d time.Duration, next func(*rand.Rand) (string, string, int64)) error {
		var names []string
		for _, system := range systems {
			if ts[system] != nil {
				names = append(names, system)
			}
		}
		for r := range runs {
			// Each run starts with the next server.
			for i := range names {
				system := names[(r+i)%len(names)]
				fmt.Fprintf(os.Stderr, "W8 run %d/%d %s: %s\n", r+1, runs, system, c.name)
				v, err := ts[system].load(ctx, clients, d, next)
				if err != nil {
					return fmt.Errorf("W8 %s %s: %w", system, c.name, err)
				}
				c.rps[system] = append(c.rps[system], v)
			}
		}
		return nil
	}

	ts, err := start(systems)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	for _, size := range []struct {
		name  string
		label string
		n     int64
	}{{w8Small, "10 KiB", 10 << 10}, {w8Medium, "1 MiB", 1 << 20}} {
		for _, clients := range []int{1, 16, 256} {
			c := &cell{name: fmt.Sprintf("GET %s, %d clients", size.label, clients), rps: map[string][]float64{}}
			cells = append(cells, c)
			if err := measure(ts, c, clients, d, func(*rand.Rand) (string, string, int64) { return size.name, "", size.n }); err != nil {
				stopAll(ts)
				fmt.Fprintln(os.Stderr, "bench:", err)
				return 1
			}
		}
	}
	stopAll(ts)

	// The Range readers on fresh servers, so that the peak RSS read after
	// them is theirs: 64 KiB at a random offset, over and over.
	ts, err = start(systems[:2]) // the floor serves no Range
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	const span = 64 << 10
	rc := &cell{name: fmt.Sprintf("%d Range readers of %s, 64 KiB each", w8cfg.readers, humanBytes(big)), rps: map[string][]float64{}}
	cells = append(cells, rc)
	err = measure(ts, rc, w8cfg.readers, 2*d, func(rnd *rand.Rand) (string, string, int64) {
		off := rnd.Int64N(big - span)
		return w8Big, fmt.Sprintf("bytes=%d-%d", off, off+span-1), span
	})
	hwm := map[string]int64{}
	for _, system := range systems[:2] {
		if h, herr := ts[system].child.hwm(); herr == nil {
			hwm[system] = h
		} else if err == nil {
			err = herr
		}
	}
	stopAll(ts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}

	mode := "full"
	if quick {
		mode = "quick"
	}
	fmt.Printf("W8 (issue 32): HTTP on loopback, %s mode, %d runs of %v a cell (Range readers: %v), %s\nmachine: %s, %d CPUs, %s\ncommand: %s (in bench/)\n\n",
		mode, runs, d, 2*d, time.Now().UTC().Format("2006-01-02 15:04Z"), cpuModel(), runtime.NumCPU(), runtime.Version(),
		strings.Join(append([]string{"bench"}, redactArgs(os.Args[1:])...), " "))
	fmt.Println("| case | http.FileServer req/s | attachhttp req/s | ratio | target | SQLite alone req/s | attachhttp ÷ SQLite alone |")
	fmt.Println("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
	span2 := func(xs []float64) string {
		lo, hi := xs[0], xs[0]
		for _, x := range xs {
			lo, hi = min(lo, x), max(hi, x)
		}
		return fmt.Sprintf("%.0f (%.0f–%.0f)", median(xs), lo, hi)
	}
	for _, c := range cells {
		f, a := median(c.rps["files"]), median(c.rps["attachstore"])
		target := ""
		if strings.HasSuffix(c.name, " 16 clients") {
			target = "≥ 0.8× "
			if a < 0.8*f {
				target += "**missed**"
			} else {
				target += "met"
			}
		}
		floor, vs := "", ""
		if xs := c.rps["sqlite"]; len(xs) > 0 {
			floor, vs = span2(xs), fmt.Sprintf("%.2f×", a/median(xs))
		}
		fmt.Printf("| %s | %s | %s | %.2f× | %s | %s | %s |\n", c.name, span2(c.rps["files"]), span2(c.rps["attachstore"]), a/f, target, floor, vs)
	}
	rt := "≤ 512 MiB "
	if hwm["attachstore"] > 512<<20 {
		rt += "**missed**"
	} else {
		rt += "met"
	}
	fmt.Printf("| server peak RSS after the Range readers (MiB) | %.0f | %.0f | | %s | | |\n", float64(hwm["files"])/(1<<20), float64(hwm["attachstore"])/(1<<20), rt)
	return 0
}
