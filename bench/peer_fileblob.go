package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/gcerrors"
)

// fileBlob is peer 2: what a Go developer reaches for first, a
// gocloud.dev/blob bucket on the local disk (fileblob) for the bytes, plus the
// same separate manifest and the same write order as filecas.
//
// fileblob alone is not durable: it writes a temp file and renames it, with
// no fsync. To compare durable with durable, every write captures the
// *os.File through WriterOptions.BeforeWrite, fsyncs it before Close (which
// renames) and then fsyncs the directory. Sidecar .attrs files are turned off
// (the manifest holds the metadata), which spares the peer a second file per
// blob.
type fileBlob struct {
	dir    string // the bucket's root
	bucket *blob.Bucket
	m      *manifest
}

var fileBlobOpener = opener{name: "fileblob", open: openFileBlob, layout: fileLayout}

func openFileBlob(ctx context.Context, dir string, _ *config) (System, error) {
	root := filepath.Join(dir, fileLayout)
	// As for filecas, the shard directories exist before any timed write.
	for i := range 256 {
		if err := os.MkdirAll(filepath.Join(root, "sha256", fmt.Sprintf("%02x", i)), 0o755); err != nil {
			return nil, err
		}
	}
	b, err := fileblob.OpenBucket(root, &fileblob.Options{
		NoTempDir: true, // temp files beside the target, so rename never crosses file systems
		Metadata:  fileblob.MetadataDontWrite,
	})
	if err != nil {
		return nil, err
	}
	m, err := openManifest(ctx, filepath.Join(dir, "manifest.db"))
	if err != nil {
		b.Close()
		return nil, err
	}
	return &fileBlob{dir: root, bucket: b, m: m}, nil
}

func (f *fileBlob) Name() string { return "fileblob" }

func (f *fileBlob) Close() error {
	err := f.bucket.Close()
	if merr := f.m.Close(); err == nil {
		err = merr
	}
	return err
}

func blobKey(hexID string) string { return "sha256/" + hexID[:2] + "/" + hexID }

// filePath is where fileblob stores blobKey(hexID): its keys are plain
// paths when they hold no character it escapes.
func (f *fileBlob) filePath(hexID string) string {
	return filepath.Join(f.dir, "sha256", hexID[:2], hexID)
}

func (f *fileBlob) PutCommit(ctx context.Context, session string, blobs [][]byte) ([]ID, error) {
	ids := hashAll(blobs)
	if err := f.m.intend(ctx, session, ids); err != nil {
		return nil, err
	}
	for i, b := range blobs {
		key := blobKey(ids[i].String())
		ok, err := f.bucket.Exists(ctx, key)
		if err != nil {
			return nil, err
		}
		if ok {
			continue
		}
		if err := f.writeDurable(ctx, key, b); err != nil {
			return nil, err
		}
	}
	return ids, f.m.commit(ctx, session, ids)
}

// writeDurable writes key through the bucket, then makes it durable.
func (f *fileBlob) writeDurable(ctx context.Context, key string, data []byte) error {
	return f.writeKey(ctx, key, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func (f *fileBlob) writeKey(ctx context.Context, key string, fill func(io.Writer) error) error {
	var file *os.File
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := f.bucket.NewWriter(wctx, key, &blob.WriterOptions{
		ContentType: "application/octet-stream",
		BeforeWrite: func(as func(any) bool) error {
			if !as(&file) {
				return fmt.Errorf("fileblob: writer is not an *os.File")
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	err = fill(w)
	if err == nil {
		err = file.Sync()
	}
	if err != nil {
		cancel() // a cancelled writer discards its temp file on Close
		_ = w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Join(f.dir, filepath.FromSlash(key[:strings.LastIndexByte(key, '/')])))
}

func (f *fileBlob) Load(ctx context.Context, session string, blobs [][]byte) ([]ID, error) {
	ids, err := f.LoadSessions(ctx, []string{session}, [][][]byte{blobs})
	if err != nil {
		return nil, err
	}
	return ids[0], nil
}

// LoadSessions writes the files where fileblob keeps them, bypassing its
// writer (temp file, MkdirAll, rename per blob), which made filling a 1M
// store take minutes; with MetadataDontWrite the layout is just the files.
func (f *fileBlob) LoadSessions(ctx context.Context, sessions []string, blobs [][][]byte) ([][]ID, error) {
	return loadFiles(ctx, f.m, f.filePath, sessions, blobs)
}

func (f *fileBlob) SessionGet(ctx context.Context, session string, id ID) ([]byte, error) {
	ok, err := f.m.holdsRef(ctx, session, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("fileblob: session %q holds no ref to %s", session, id)
	}
	return f.Get(ctx, id)
}

func (f *fileBlob) Get(ctx context.Context, id ID) ([]byte, error) {
	return f.bucket.ReadAll(ctx, blobKey(id.String()))
}

// PutReader cannot name the blob before it has hashed it, and the blob API
// has no rename: stream to a staging key, then Copy to the content key.
func (f *fileBlob) PutReader(ctx context.Context, r io.Reader) (ID, error) {
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	staging := "staging/" + hex.EncodeToString(rnd[:])
	h := sha256.New()
	buf := make([]byte, 1<<20)
	if err := f.writeKey(ctx, staging, func(w io.Writer) error {
		_, err := io.CopyBuffer(io.MultiWriter(w, h), r, buf)
		return err
	}); err != nil {
		return ID{}, err
	}
	var id ID
	h.Sum(id[:0])
	key := blobKey(id.String())
	if err := f.writeKey(ctx, key, func(w io.Writer) error {
		rd, err := f.bucket.NewReader(ctx, staging, nil)
		if err != nil {
			return err
		}
		defer rd.Close()
		_, err = io.CopyBuffer(w, rd, buf)
		return err
	}); err != nil {
		return ID{}, err
	}
	return id, f.bucket.Delete(ctx, staging)
}

func (f *fileBlob) NewReader(ctx context.Context, id ID) (io.ReadCloser, error) {
	return f.bucket.NewReader(ctx, blobKey(id.String()), nil)
}

func (f *fileBlob) DropSession(ctx context.Context, session string) error {
	return f.m.drop(ctx, session)
}

// Reclaim lists the bucket one shard prefix at a time, asks the manifest
// about each blob and deletes the unreferenced.
//
// fileblob's ListPaged re-walks the listed directory from the start for every
// page, so List with its default page of 1000 is quadratic in the directory's
// size (a 1M-blob sweep took minutes per run). The sweep asks for one page per
// shard instead: the peer at its best.
func (f *fileBlob) Reclaim(ctx context.Context) (int, error) {
	n := 0
	for i := range 256 {
		prefix := fmt.Sprintf("sha256/%02x/", i)
		// fileblob's List fails with NotFound when a concurrent write renames
		// its temp file away mid-walk; a sweep beside live writers must retry.
		for try := 0; ; try++ {
			k, err := f.sweepPrefix(ctx, prefix)
			n += k
			if err == nil {
				break
			}
			if gcerrors.Code(err) != gcerrors.NotFound || try == 100 {
				return n, err
			}
		}
	}
	return n, nil
}

const sweepPage = 1 << 16 // far more than a shard holds; ListPage allocates this many slots

func (f *fileBlob) sweepPrefix(ctx context.Context, prefix string) (int, error) {
	n := 0
	token := blob.FirstPageToken
	for {
		objs, next, err := f.bucket.ListPage(ctx, token, sweepPage, &blob.ListOptions{Prefix: prefix})
		if err != nil {
			return n, err
		}
		for _, obj := range objs {
			name := obj.Key[strings.LastIndexByte(obj.Key, '/')+1:]
			if len(name) != 64 {
				continue // a temp file of a write in flight
			}
			ref, err := f.m.isReferenced(ctx, name)
			if err != nil {
				return n, err
			}
			if ref {
				continue
			}
			if err := f.bucket.Delete(ctx, obj.Key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
				return n, err
			}
			n++
		}
		if len(next) == 0 {
			return n, nil
		}
		token = next
	}
}
