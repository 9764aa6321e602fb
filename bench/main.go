// Command bench measures attachstore against the designs users would pick
// instead (issue 6): a file CAS with a separate SQLite manifest (filecas), a
// gocloud.dev fileblob bucket with the same manifest (fileblob), and the
// physical limits of the machine; and, when a PostgreSQL server is given,
// the same library on PostgreSQL (postgres) against that server's own floor
// (issue 24). It prints one table.
//
//	go run .            # the full run (under 30 minutes)
//	go run . -quick     # CI-sized smoke run (under 2 minutes)
//	go run . -only W1,W3 -runs 7
//	go run . -quick -postgres postgres://user@host/db
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

// config holds the flags and the sizes of one run.
type config struct {
	quick      bool
	runs       int
	only       []string
	systems    []string
	dir        string
	pageSize   int    // attachstore Tuning.PageSize; 0 = library default
	chunkSize  int    // attachstore WithChunkSize; 0 = library default
	cacheKiB   int    // attachstore Tuning.CacheSizeKiB; 0 = library default
	batch      int    // attachstore ReclaimPolicy.BatchSize
	vacuum     string // attachstore ReclaimPolicy.VacuumAt, by name: auto, always, never
	cpuProfile string
	sourceMBps float64 // W5's put source rate; 0 = memcpy speed
	postgres   string  // the PostgreSQL server's URL; "" = the postgres system does not run
	pg         *pgServer

	w1Ops, w2Turns     int
	w3Stored           int
	w3Reads, w4Reads   int
	w7Levels           []int
	w7Ops, w7Reads     int
	w6Total, w6Orphans int
	pgW6Total          int // postgres's W6 store and orphans (see w6Size)
	pgW6Orphans        int
	sessionSize        int // blobs per session when populating
	big                int64
	shaBytes           int64
	fsyncOps           int
	child              string // W5 child mode: the system to run
	childDir           string
	w5ID               string
}

func (c *config) want(w string) bool { return len(c.only) == 0 || slices.Contains(c.only, w) }

// peerW6Runs caps each peer's W6 runs, for the full run's duration: a
// peer's sweep lists a million files and asks its manifest about each, and
// with the fresh orphans loaded before each one the sweeps took about half
// of a peer's time. Three runs still give a median one outlier does not
// decide; attachstore, the system under test, keeps c.runs.
const peerW6Runs = 3

// w6Runs is how many W6 runs system gets.
func (c *config) w6Runs(system string) int {
	if system == subject || system == pgSubject {
		return c.runs
	}
	return min(c.runs, peerW6Runs)
}

// w6Size returns the store size and the orphans of system's W6. postgres
// sweeps a tenth of the others' (its W3 store at full size): the library
// builds a PostgreSQL store at about a thousand blobs a second on the
// 2-core machine (a dozen statements a blob, each a round trip), so the
// others' million, with the fresh orphans of each later sweep, would add
// some 25 minutes to the full run.
func (c *config) w6Size(system string) (total, orphans int) {
	if system == pgSubject {
		return c.pgW6Total, c.pgW6Orphans
	}
	return c.w6Total, c.w6Orphans
}

func (c *config) sizes() {
	if c.quick {
		c.w1Ops, c.w2Turns = 100, 10
		c.w3Stored, c.w3Reads, c.w4Reads = 2000, 2000, 200
		c.w7Levels, c.w7Ops, c.w7Reads = []int{1000, 5000}, 50, 500
		c.w6Total, c.w6Orphans = 20_000, 2000
		c.pgW6Total, c.pgW6Orphans = 10_000, 1000
		c.sessionSize = 1000
		c.big, c.shaBytes, c.fsyncOps = 64<<20, 64<<20, 100
		return
	}
	c.w1Ops, c.w2Turns = 300, 25
	c.w3Stored, c.w3Reads, c.w4Reads = 100_000, 20_000, 2000
	c.w7Levels, c.w7Ops, c.w7Reads = []int{10_000, 100_000, 1_000_000}, 300, 5000
	c.w6Total, c.w6Orphans = 1_000_000, 100_000
	c.pgW6Total, c.pgW6Orphans = 100_000, 10_000
	c.sessionSize = 1000
	c.big, c.shaBytes, c.fsyncOps = 1<<30, 512<<20, 300
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&c.quick, "quick", false, "CI-sized smoke run: tiny sizes, under 2 minutes")
	fs.IntVar(&c.runs, "runs", 5, "runs of each workload on each system (a peer's W6: at most 3)")
	only := fs.String("only", "", "comma-separated subset of W1..W7 (default all)")
	systems := fs.String("systems", "", "comma-separated subset of attachstore,postgres,filecas,fileblob (default all; postgres only with a server)")
	fs.StringVar(&c.dir, "dir", os.TempDir(), "parent of the scratch directory (a fresh one is made inside and removed at the end)")
	fs.IntVar(&c.pageSize, "page-size", 0, "attachstore page size in bytes (0: library default)")
	fs.IntVar(&c.chunkSize, "chunk-size", 0, "attachstore chunk size in bytes (0: library default)")
	fs.IntVar(&c.cacheKiB, "cache-size", 0, "attachstore page cache per connection in KiB (0: library default)")
	w1Ops := fs.Int("w1-ops", 0, "W1 operations per run (0: the mode's size); thousands show a sustained stream, through checkpoints")
	fs.IntVar(&c.batch, "reclaim-batch", 0, "attachstore Reclaim BatchSize (0: library default)")
	fs.StringVar(&c.vacuum, "reclaim-vacuum", "auto", "attachstore Reclaim's VacuumAt: auto (a quarter of the file, as the CLI's default), always or never")
	fs.Float64Var(&c.sourceMBps, "w5-source-mbps", 0, "W5's PutReader reads from a source that makes its bytes only when asked, at this many MB/s, 64 KiB a read (0: at memcpy speed)")
	fs.StringVar(&c.postgres, "postgres", "", "PostgreSQL server URL for the postgres system and PostgreSQL's floor (default $"+postgresEnv+"; none: they are skipped)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (not of W5's child processes) to this file")
	fs.StringVar(&c.child, "w5-child", "", "internal: run one W5 put+read of this system and print JSON")
	fs.StringVar(&c.childDir, "w5-dir", "", "internal: the W5 child's store directory")
	fs.Int64Var(&c.big, "w5-size", 0, "internal: the W5 child's blob size")
	fs.StringVar(&c.w5ID, "w5-id", "", "internal: the W5 child reads the blob with this id (hex) instead of putting one")
	w8Flags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	// The default is read here rather than given to StringVar, so that -h
	// does not print a password; an explicit -postgres "" turns it off.
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "postgres" })
	if !explicit {
		c.postgres = os.Getenv(postgresEnv)
	}
	if c.postgres != "" && !strings.HasPrefix(c.postgres, "postgres://") && !strings.HasPrefix(c.postgres, "postgresql://") {
		return nil, fmt.Errorf("-postgres: want a postgres:// or postgresql:// URL")
	}
	big := c.big
	c.sizes()
	if big > 0 {
		c.big = big
	}
	switch {
	case *w1Ops < 0:
		return nil, fmt.Errorf("-w1-ops must not be negative")
	case *w1Ops > 0:
		c.w1Ops = *w1Ops
	}
	if c.sourceMBps < 0 {
		return nil, fmt.Errorf("-w5-source-mbps must not be negative")
	}
	if c.runs < 1 {
		return nil, fmt.Errorf("-runs must be at least 1")
	}
	for _, w := range splitList(*only) {
		w = strings.ToUpper(w)
		if len(w) != 2 || w[0] != 'W' || w[1] < '1' || w[1] > '7' {
			return nil, fmt.Errorf("-only: unknown workload %q (want W1..W7)", w)
		}
		c.only = append(c.only, w)
	}
	for _, s := range splitList(*systems) {
		if findOpener(s) == nil {
			return nil, fmt.Errorf("-systems: unknown system %q", s)
		}
		if s == pgSubject && c.postgres == "" {
			return nil, fmt.Errorf("-systems: %s needs a server: give -postgres URL or set %s", s, postgresEnv)
		}
		c.systems = append(c.systems, s)
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// allSystems is every system under test; attachstore comes first so that it
// heads each group of the table, and postgres, the same library on another
// engine, follows it. postgres runs only when a server is given.
var allSystems = append([]opener{attachstoreOpener, postgresOpener}, peerSystems...)

// postgresEnv names the variable the -postgres flag defaults to: the one
// the library's tests and CI use.
const postgresEnv = "ATTACHSTORE_TEST_POSTGRES"

func findOpener(name string) *opener {
	for i := range allSystems {
		if allSystems[i].name == name {
			return &allSystems[i]
		}
	}
	return nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.child != "" {
		os.Exit(w5ChildMain(ctx, cfg))
	}
	if w8cfg.serve != "" {
		os.Exit(w8ServeMain(ctx))
	}
	if w8cfg.run {
		os.Exit(w8Main(ctx, cfg.quick, cfg.runs, cfg.dir))
	}
	os.Exit(run(ctx, cfg))
}

func run(ctx context.Context, cfg *config) int {
	scratch, err := os.MkdirTemp(cfg.dir, "attachstore-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(scratch)
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: cpuprofile:", err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}

	b := &bench{cfg: cfg, scratch: scratch, started: time.Now()}
	for _, op := range allSystems {
		if len(cfg.systems) == 0 || slices.Contains(cfg.systems, op.name) {
			b.systems = append(b.systems, op)
		}
	}
	pgLine := fmt.Sprintf("skipped: no server (give -postgres URL or set %s)", postgresEnv)
	if cfg.postgres == "" {
		b.systems = slices.DeleteFunc(b.systems, func(op opener) bool { return op.name == pgSubject })
		b.logf("postgres: %s", pgLine)
	} else if b.has(pgSubject) {
		pg, err := openPGServer(ctx, cfg.postgres)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: postgres:", err)
			return 1
		}
		defer func() {
			if err := pg.close(); err != nil {
				fmt.Fprintln(os.Stderr, "bench: postgres:", err)
			}
		}()
		cfg.pg = pg
		if pgLine, err = pg.describe(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "bench: postgres:", err)
			return 1
		}
		pgLine += "; " + postgresOpener.skipLine()
		b.logf("postgres: %s", pgLine)
	}
	b.layout()
	runErr := b.run(ctx)

	fmt.Println(header(cfg, time.Since(b.started), pgLine))
	b.tab.print(os.Stdout)
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "bench:", runErr)
		return 1
	}
	return 0
}

func header(cfg *config, took time.Duration, pgLine string) string {
	mode := "full"
	if cfg.quick {
		mode = "quick"
	}
	att := "library defaults"
	if cfg.pageSize > 0 || cfg.chunkSize > 0 || cfg.cacheKiB > 0 {
		att = fmt.Sprintf("page size %d, chunk size %d, cache %d KiB (0 = default)",
			cfg.pageSize, cfg.chunkSize, cfg.cacheKiB)
	}
	return fmt.Sprintf("attachstore bench, %s mode, %d runs each (a peer's W6: %d), %s\n"+
		"machine: %s, %d CPUs, %s %s/%s\n"+
		"attachstore: synchronous FULL, %s, reclaim batch %d, reclaim vacuum %v\n"+
		"postgres: %s\n"+
		"command: %s (in bench/)\n"+
		"ratio: attachstore ÷ best peer unless the target names another base (on a postgres row: postgres ÷ that base); medians of the runs\n",
		mode, cfg.runs, min(cfg.runs, peerW6Runs), took.Round(time.Second), cpuModel(), runtime.NumCPU(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, att, cfg.batch, cfg.vacuum, pgLine,
		strings.Join(append([]string{"bench"}, redactArgs(os.Args[1:])...), " "))
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
