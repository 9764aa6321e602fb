package main

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func TestStoreGroups(t *testing.T) {
	names := func(groups [][]opener) [][]string {
		var out [][]string
		for _, g := range groups {
			var ns []string
			for _, op := range g {
				ns = append(ns, op.name)
			}
			out = append(out, ns)
		}
		return out
	}
	for _, tt := range []struct {
		systems []opener
		want    [][]string
	}{
		{allSystems, [][]string{{"attachstore"}, {"postgres"}, {"filecas", "fileblob"}}},
		{[]opener{fileBlobOpener, attachstoreOpener}, [][]string{{"fileblob"}, {"attachstore"}}},
		{[]opener{fileCASOpener}, [][]string{{"filecas"}}},
	} {
		b := &bench{systems: tt.systems}
		got := names(b.storeGroups())
		if !slices.EqualFunc(got, tt.want, slices.Equal) {
			t.Errorf("storeGroups = %q, want %q", got, tt.want)
		}
	}
}

func TestW6Runs(t *testing.T) {
	for _, tt := range []struct{ runs, subject, peer int }{
		{5, 5, 3},
		{7, 7, 3},
		{2, 2, 2},
		{1, 1, 1},
	} {
		c := &config{runs: tt.runs}
		if got := c.w6Runs(subject); got != tt.subject {
			t.Errorf("runs %d: w6Runs(attachstore) = %d, want %d", tt.runs, got, tt.subject)
		}
		if got := c.w6Runs("filecas"); got != tt.peer {
			t.Errorf("runs %d: w6Runs(filecas) = %d, want %d", tt.runs, got, tt.peer)
		}
	}
}

// TestGrowSharedStore runs the growing-store workloads at toy sizes on the
// two file peers, which share one store: each must get every sample of its
// own (W6 capped at peerW6Runs), nothing may fail, and the store must be
// gone afterwards.
func TestGrowSharedStore(t *testing.T) {
	c, err := parseFlags([]string{"-quick", "-runs", "4"})
	if err != nil {
		t.Fatal(err)
	}
	c.sessionSize = 100
	c.w3Stored, c.w3Reads, c.w4Reads = 300, 50, 20
	c.w7Levels, c.w7Ops, c.w7Reads = []int{200, 400}, 5, 20
	c.w6Total, c.w6Orphans = 600, 200
	scratch := t.TempDir()
	b := &bench{cfg: c, scratch: scratch, systems: []opener{fileCASOpener, fileBlobOpener}}
	b.layout()
	groups := b.storeGroups()
	if len(groups) != 1 {
		t.Fatalf("%d store groups for the two file peers, want 1", len(groups))
	}
	if err := b.grow(context.Background(), groups[0]); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(b.errs...); err != nil {
		t.Fatal(err)
	}
	g := &b.g
	for _, name := range []string{"filecas", "fileblob"} {
		for _, tt := range []struct {
			row  string
			gr   *group
			want int
		}{
			{"W3(a)", g.w3a, 4},
			{"W4(b)", g.w4b, 4},
			{"W7 p50 @400", g.w7p50[400], 4},
			{"W7 growth", g.w7growth, 1},
			{"W6 sweep", g.w6[name].rate, peerW6Runs},
			{"W6 p99 ratio", g.w6[name].ratio, peerW6Runs},
		} {
			if got := len(tt.gr.seriesFor(name).samples); got != tt.want {
				t.Errorf("%s: %s has %d samples, want %d", name, tt.row, got, tt.want)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(scratch, "grow")); err == nil {
		left, _ := os.ReadDir(filepath.Join(scratch, "grow"))
		for _, e := range left {
			t.Errorf("left behind: grow/%s", e.Name())
		}
	}
}

// TestConcurrentPutCommit checks that the 8-writer W1 writes every blob
// of every writer into that writer's own session, and counts them all.
func TestConcurrentPutCommit(t *testing.T) {
	ctx := t.Context()
	sys, err := openAttachstore(ctx, filepath.Join(t.TempDir(), "s"), &config{vacuum: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	rec := &recorder{System: sys, puts: map[string]int{}}
	rate, err := concurrentPutCommit(ctx, rec, "w", 3, 4, 100)
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("rate %v, want > 0", rate)
	}
	if want := map[string]int{"w-0": 4, "w-1": 4, "w-2": 4}; !maps.Equal(rec.puts, want) {
		t.Errorf("puts by session %v, want %v", rec.puts, want)
	}
	for s, ids := range rec.ids {
		for _, id := range ids {
			if _, err := sys.SessionGet(ctx, s, id); err != nil {
				t.Errorf("session %s: %v", s, err)
			}
		}
	}

	boom := errors.New("boom")
	rec.fail = boom
	if _, err := concurrentPutCommit(ctx, rec, "x", 3, 4, 100); !errors.Is(err, boom) {
		t.Errorf("a failing writer: err = %v, want %v", err, boom)
	}
}

// recorder counts a System's PutCommits by session, or fails them.
type recorder struct {
	System
	mu   sync.Mutex
	puts map[string]int
	ids  map[string][]ID
	fail error
}

func (r *recorder) PutCommit(ctx context.Context, session string, blobs [][]byte) ([]ID, error) {
	if r.fail != nil {
		return nil, r.fail
	}
	ids, err := r.System.PutCommit(ctx, session, blobs)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.puts[session]++
	if r.ids == nil {
		r.ids = map[string][]ID{}
	}
	r.ids[session] = append(r.ids[session], ids...)
	return ids, err
}

// TestSmallWritesPostgres runs W1, its 8 writers and W2 at toy sizes on
// attachstore and postgres: each gets its samples in its own rows and in
// the rows its targets are computed from.
func TestSmallWritesPostgres(t *testing.T) {
	srv := testPGServer(t)
	c, err := parseFlags([]string{"-quick", "-runs", "2", "-systems", "attachstore,postgres"})
	if err != nil {
		t.Fatal(err)
	}
	c.pg, c.w1Ops, c.w2Turns = srv, 5, 2
	b := &bench{cfg: c, scratch: t.TempDir(), systems: []opener{attachstoreOpener, postgresOpener}}
	b.layout()
	if err := b.smallWrites(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(b.errs...); err != nil {
		t.Fatal(err)
	}
	g := &b.g
	for _, tt := range []struct {
		row    string
		gr     *group
		system string
	}{
		{"W1", g.w1, subject},
		{"W1", g.w1, pgSubject},
		{"W1 vs SQLite alone", g.w1sqlite, subject},
		{"W1 vs PostgreSQL alone", g.w1pg, pgSubject},
		{"W1 8 writers", g.w1x8, subject},
		{"W1 8 writers", g.w1x8, pgSubject},
		{"W1 8 writers", g.w1x8, pgOneWriter},
		{"W2", g.w2, pgSubject},
		{"W2 vs PostgreSQL alone", g.w2pg, pgSubject},
	} {
		if got := len(tt.gr.seriesFor(tt.system).samples); got != 2 {
			t.Errorf("%s: %s has %d samples, want 2", tt.row, tt.system, got)
		}
	}
	if !slices.Equal(g.w1x8.seriesFor(pgOneWriter).samples, g.w1.seriesFor(pgSubject).samples) {
		t.Errorf("postgres, 1 writer %v is not postgres's W1 %v", g.w1x8.seriesFor(pgOneWriter).samples, g.w1.seriesFor(pgSubject).samples)
	}
}

// TestGrowPostgres runs the growing-store workloads at toy sizes on
// postgres: W3 and W6 (at postgres's own W6 size) get every sample, the
// workloads it skips get none, nothing fails, and the store's schema is
// gone afterwards.
func TestGrowPostgres(t *testing.T) {
	srv := testPGServer(t)
	c, err := parseFlags([]string{"-quick", "-runs", "2", "-systems", "postgres"})
	if err != nil {
		t.Fatal(err)
	}
	c.pg = srv
	c.sessionSize = 100
	c.w3Stored, c.w3Reads, c.w4Reads = 300, 50, 20
	c.w7Levels, c.w7Ops, c.w7Reads = []int{200, 400}, 5, 20
	c.w6Total, c.w6Orphans = 1000, 300
	c.pgW6Total, c.pgW6Orphans = 500, 100
	b := &bench{cfg: c, scratch: t.TempDir(), systems: []opener{postgresOpener}}
	b.layout()
	if got, want := b.ladder(postgresOpener), []int{300, 500}; !slices.Equal(got, want) {
		t.Errorf("postgres's ladder %v, want %v (W3's size and its own W6 size; no W7 sizes)", got, want)
	}
	if err := b.grow(t.Context(), []opener{postgresOpener}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(b.errs...); err != nil {
		t.Fatal(err)
	}
	g := &b.g
	for _, tt := range []struct {
		row  string
		gr   *group
		want int
	}{
		{"W3(a)", g.w3a, 2},
		{"W3(b)", g.w3b, 2},
		{"W4(a)", g.w4a, 0},
		{"W7 p50 @400", g.w7p50[400], 0},
		{"W6 sweep", g.w6[pgSubject].rate, 2},
		{"W6 p99 ratio", g.w6[pgSubject].ratio, 2},
	} {
		if got := len(tt.gr.seriesFor(pgSubject).samples); got != tt.want {
			t.Errorf("%s has %d samples, want %d", tt.row, got, tt.want)
		}
	}
	if got := schemas(t, srv); len(got) != 0 {
		t.Errorf("left behind: %q", got)
	}
}
