package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// fileCAS is peer 1: the design of the best-known agent-runtime attachment
// store. Bytes live at root/sha256/<first 2 hex>/<hex>, each written to a
// unique staging file in the same directory, fsynced, renamed into place and
// the directory fsynced; a separate SQLite manifest holds the refs. A write is
// three steps that never share a transaction: the intent row (its own
// transaction, before any byte), the durable file, the commit stamp (its own
// transaction).
type fileCAS struct {
	root string // holds sha256/ and staging/
	m    *manifest
}

var fileCASOpener = opener{name: "filecas", open: openFileCAS, layout: fileLayout}

// fileLayout is how both file peers keep a store in their directory: the
// bytes at files/sha256/<2 hex>/<hex>, the refs in manifest.db. Each reads
// and writes what the other wrote, so the harness builds one growing store
// for the two.
const fileLayout = "files"

func openFileCAS(ctx context.Context, dir string, _ *config) (System, error) {
	c := &fileCAS{root: filepath.Join(dir, fileLayout)}
	// The 256 shard directories are made once, so no write pays for them.
	for i := range 256 {
		if err := os.MkdirAll(filepath.Join(c.root, "sha256", fmt.Sprintf("%02x", i)), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(c.root, "staging"), 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{dir, c.root, filepath.Join(c.root, "sha256")} {
		if err := syncDir(d); err != nil {
			return nil, err
		}
	}
	m, err := openManifest(ctx, filepath.Join(dir, "manifest.db"))
	if err != nil {
		return nil, err
	}
	c.m = m
	return c, nil
}

func (c *fileCAS) Name() string { return "filecas" }
func (c *fileCAS) Close() error { return c.m.Close() }

func (c *fileCAS) path(hexID string) string {
	return filepath.Join(c.root, "sha256", hexID[:2], hexID)
}

func hashAll(blobs [][]byte) []ID {
	ids := make([]ID, len(blobs))
	for i, b := range blobs {
		ids[i] = sha256.Sum256(b)
	}
	return ids
}

func (c *fileCAS) PutCommit(ctx context.Context, session string, blobs [][]byte) ([]ID, error) {
	ids := hashAll(blobs)
	if err := c.m.intend(ctx, session, ids); err != nil {
		return nil, err
	}
	for i, b := range blobs {
		if err := c.writeDurable(ids[i], b); err != nil {
			return nil, err
		}
	}
	return ids, c.m.commit(ctx, session, ids)
}

// writeDurable writes the bytes of id unless they are already there.
func (c *fileCAS) writeDurable(id ID, data []byte) error {
	final := c.path(id.String())
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	dir := filepath.Dir(final)
	f, err := os.CreateTemp(dir, ".stage-*")
	if err != nil {
		return err
	}
	return commitStaged(f, data, final, dir)
}

// commitStaged writes data (if any) to the staging file f, fsyncs it, renames
// it to final and fsyncs dir, the directory holding final.
func commitStaged(f *os.File, data []byte, final, dir string) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), final)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return syncDir(dir)
}

func (c *fileCAS) Load(ctx context.Context, session string, blobs [][]byte) ([]ID, error) {
	ids, err := c.LoadSessions(ctx, []string{session}, [][][]byte{blobs})
	if err != nil {
		return nil, err
	}
	return ids[0], nil
}

func (c *fileCAS) LoadSessions(ctx context.Context, sessions []string, blobs [][][]byte) ([][]ID, error) {
	return loadFiles(ctx, c.m, c.path, sessions, blobs)
}

// loadFiles is LoadSessions for both file peers: it writes every file
// straight into its place (two goroutines, no fsync), then records the
// refs of all the sessions in one loader transaction (manifest.load).
func loadFiles(ctx context.Context, m *manifest, path func(hexID string) string, sessions []string, blobs [][][]byte) ([][]ID, error) {
	ids := make([][]ID, len(blobs))
	var all [][]byte
	for k, bl := range blobs {
		ids[k] = hashAll(bl)
		all = append(all, bl...)
	}
	allIDs := slices.Concat(ids...)
	if err := parallel(len(all), func(i int) error {
		return os.WriteFile(path(allIDs[i].String()), all[i], 0o644)
	}); err != nil {
		return nil, err
	}
	return ids, m.load(ctx, sessions, ids)
}

func (c *fileCAS) SessionGet(ctx context.Context, session string, id ID) ([]byte, error) {
	ok, err := c.m.holdsRef(ctx, session, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("filecas: session %q holds no ref to %s", session, id)
	}
	return c.Get(ctx, id)
}

func (c *fileCAS) Get(_ context.Context, id ID) ([]byte, error) {
	return os.ReadFile(c.path(id.String()))
}

func (c *fileCAS) PutReader(_ context.Context, r io.Reader) (ID, error) {
	f, err := os.CreateTemp(filepath.Join(c.root, "staging"), "stream-*")
	if err != nil {
		return ID{}, err
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(io.MultiWriter(f, h), r, buf); err != nil {
		f.Close()
		os.Remove(f.Name())
		return ID{}, err
	}
	var id ID
	h.Sum(id[:0])
	final := c.path(id.String())
	return id, commitStaged(f, nil, final, filepath.Dir(final))
}

func (c *fileCAS) NewReader(_ context.Context, id ID) (io.ReadCloser, error) {
	return os.Open(c.path(id.String()))
}

func (c *fileCAS) DropSession(ctx context.Context, session string) error {
	return c.m.drop(ctx, session)
}

// Reclaim is the peer's sweep: list the tree, ask the manifest about each
// blob, unlink the unreferenced. (The real design adds a condemn/arm fence and
// freshness re-checks; leaving them out only flatters the peer.)
func (c *fileCAS) Reclaim(ctx context.Context) (int, error) {
	n := 0
	for i := range 256 {
		dir := filepath.Join(c.root, "sha256", fmt.Sprintf("%02x", i))
		names, err := readNames(dir)
		if err != nil {
			return n, err
		}
		for _, name := range names {
			if len(name) != 64 || strings.HasPrefix(name, ".") {
				continue // a staging file
			}
			ref, err := c.m.isReferenced(ctx, name)
			if err != nil {
				return n, err
			}
			if ref {
				continue
			}
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// readNames lists a directory without sorting it.
func readNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}
