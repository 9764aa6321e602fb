package main

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// ID is a blob's identity in every system under test: the SHA-256 of its bytes.
type ID [32]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// System is one design under test, reduced to what the workloads of issue 6
// exercise. Every write method is durable when it returns, except Load.
type System interface {
	Name() string

	// PutCommit stores blobs for session and stamps their refs committed, as
	// the system's normal write path does it: for attachstore one Update, for
	// the peers an intent row, durable file writes and a commit stamp.
	PutCommit(ctx context.Context, session string, blobs [][]byte) ([]ID, error)

	// Load stores blobs with committed refs for session as fast as the system
	// allows, for setting up a workload; it is never timed and need not be
	// durable (the harness syncs the file system afterwards).
	Load(ctx context.Context, session string, blobs [][]byte) ([]ID, error)

	// SessionGet is the guarded read: the bytes only if session holds a ref.
	SessionGet(ctx context.Context, session string, id ID) ([]byte, error)
	// Get reads the bytes with no session check.
	Get(ctx context.Context, id ID) ([]byte, error)

	// PutReader streams a blob of unknown id in, durably, with no session.
	PutReader(ctx context.Context, r io.Reader) (ID, error)
	// NewReader streams a blob out.
	NewReader(ctx context.Context, id ID) (io.ReadCloser, error)

	// DropSession releases every ref of session; its blobs become orphans.
	DropSession(ctx context.Context, session string) error
	// Reclaim deletes every blob no session references (grace zero) and
	// returns how many it deleted, or errNotImplemented.
	Reclaim(ctx context.Context) (int, error)

	Close() error
}

// sessionsLoader is a System with a faster way to build a store than one
// Load per session, for setup only. loadSessions uses it when a System has it.
type sessionsLoader interface {
	// LoadSessions is Load for several sessions at once: blobs[k] go to
	// sessions[k], and the IDs come back in the same shape.
	LoadSessions(ctx context.Context, sessions []string, blobs [][][]byte) ([][]ID, error)
}

// loadSessions loads blobs[k] with committed refs for sessions[k], outside
// every timed part.
func loadSessions(ctx context.Context, sys System, sessions []string, blobs [][][]byte) ([][]ID, error) {
	if l, ok := sys.(sessionsLoader); ok {
		return l.LoadSessions(ctx, sessions, blobs)
	}
	ids := make([][]ID, len(sessions))
	for k, s := range sessions {
		var err error
		if ids[k], err = sys.Load(ctx, s, blobs[k]); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// opener opens (creating if needed) the system's store inside dir.
type opener struct {
	name string
	open func(ctx context.Context, dir string, cfg *config) (System, error)
	// layout names how the system keeps a store in dir; systems of one
	// layout (not "") read and write each other's stores, and measure one
	// growing store in turn (see storeGroups).
	layout string
	// remove deletes what the system keeps outside dir for the store of
	// dir (a database server's schema), after the harness removed dir; nil
	// when dir holds everything.
	remove func(ctx context.Context, dir string, cfg *config) error
	// skips are the workloads the system does not run, and why.
	skips []skip
}

// skip is a workload a system does not run, and why.
type skip struct{ workload, why string }

// runs tells whether the system runs workload w.
func (op *opener) runs(w string) bool {
	for _, s := range op.skips {
		if s.workload == w {
			return false
		}
	}
	return true
}

// skipLine says which workloads the system skips and why, for the header.
func (op *opener) skipLine() string {
	if len(op.skips) == 0 {
		return "runs every workload"
	}
	var parts []string
	for _, s := range op.skips {
		parts = append(parts, s.workload+" ("+s.why+")")
	}
	return "skips " + strings.Join(parts, ", ")
}

// settler is a System whose store keeps writes outside the scratch
// directory (a database server's buffers). Settle writes them out, as
// syncFS does for the stores inside it, so that no setup write lands in a
// timed part.
type settler interface {
	Settle(ctx context.Context) error
}

// settle makes the setup writes of sys's store, kept under dir, durable
// before a timed part.
func settle(ctx context.Context, sys System, dir string) error {
	if err := syncFS(dir); err != nil {
		return err
	}
	if s, ok := sys.(settler); ok {
		return s.Settle(ctx)
	}
	return nil
}

// peerSystems are the peer designs: the systems users would pick instead
// of attachstore, which "best peer" ratios compare against.
var peerSystems = []opener{fileCASOpener, fileBlobOpener}

// isPeer tells whether name is a peer design's, not a system under test's
// or a limit's.
func isPeer(name string) bool {
	for _, op := range peerSystems {
		if op.name == name {
			return true
		}
	}
	return false
}

// errNotImplemented marks a workload a system cannot run yet; the table
// shows it as n/a instead of failing the run.
var errNotImplemented = errors.New("not implemented")

// parallel runs fn(0..n-1) on GOMAXPROCS goroutines and returns the first
// error. Setup only (Load): timed paths stay sequential, as the designs are.
func parallel(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
