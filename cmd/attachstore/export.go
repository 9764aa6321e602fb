package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/attachstore/attachstore"
)

// manifestName is the file export writes beside the attachments; no
// attachment is ever given that name.
const manifestName = "manifest.json"

// manifestFormat and manifestVersion identify an export's manifest.
const (
	manifestFormat  = "attachstore-export"
	manifestVersion = 1
)

// manifest is what export writes to DIR/manifest.json and import reads.
type manifest struct {
	Format      string          `json:"format"`
	Version     int             `json:"version"`
	Session     string          `json:"session"`
	ExportedAt  time.Time       `json:"exported_at"`
	Attachments []manifestEntry `json:"attachments"`
}

// manifestEntry is one attachment: its file in the directory, and the
// session's ref to it as the session held it.
type manifestEntry struct {
	File        string          `json:"file"`
	ID          attachstore.ID  `json:"id"`
	Size        int64           `json:"size"`
	MediaType   string          `json:"media_type"`
	Label       string          `json:"label,omitempty"`
	Extra       json.RawMessage `json:"extra,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	Owner       string          `json:"owner,omitempty"`
	Committed   bool            `json:"committed"`
	IntentAt    time.Time       `json:"intent_at"`
	CommittedAt time.Time       `json:"committed_at,omitzero"`
}

var exportCmd = &command{
	name:    "export",
	args:    "--session S DIR",
	summary: "write a session's attachments and a manifest to DIR",
	access:  reads,
	long: `
Export writes each attachment session S holds a ref to (committed or
pending) as a file in DIR, named by its label made safe: path separators,
control and invisible characters become "_", runs of dots become one, a
leading dot or space is dropped, and the name is cut to 200 bytes. An
attachment with no usable label is named by the first 12 digits of its id
and an extension for its media type; names that collide (ignoring case) get
"-2", "-3", … before the extension. DIR/manifest.json lists every file with
its id, size, media type, label, extra, owner and commit state; 'import'
reads it back.

DIR must not exist (its parent must) or be an empty directory: export never
overwrites a file. Files are created with mode 0600 (DIR, when new, 0700).
Each file is hashed while written; a blob whose bytes do not hash to its id
is reported, left out, and the exit status is 1. The manifest is written
last, so a DIR without one is an export that did not finish; an interrupted
export removes what it wrote. Text output is the path of each file written;
--json prints one object per file: file (its path), and the fields refs
--json prints (session, id, size, media_type, label, extra, created_at,
owner, intent_at, committed, committed_at).`,
	setup: setupExport,
}

func setupExport(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	session := fs.String("session", "", "the `SESSION` to export (required)")
	return func(ctx context.Context, args []string) error {
		sess, err := sessionFlag(fs, *session, true)
		if err != nil {
			return err
		}
		if len(args) != 1 {
			return badUsage("want one DIR, got %d arguments", len(args))
		}
		dir := args[0]
		created, err := prepareExportDir(dir)
		if err != nil {
			return c.fail("export", fileSubj(dir), err)
		}
		var written []string // in dir, to remove if the export stops
		ok := false
		defer func() {
			if ok {
				return
			}
			for _, name := range written {
				os.Remove(filepath.Join(dir, name))
			}
			if created {
				os.Remove(dir)
			}
		}()

		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		ss := s.Session(sess)
		es, err := ss.Refs(ctx)
		if err != nil {
			return c.fail("export", sessionSubj(sess), err)
		}
		if len(es) == 0 {
			// An unknown session and an empty one look alike: a typo
			// should not pass for a successful backup unremarked.
			c.warn(sessionSubj(sess), nil, "export: %s holds no refs; %s lists nothing", sessionSubj(sess), filepath.Join(dir, manifestName))
		}
		m := manifest{Format: manifestFormat, Version: manifestVersion, Session: sess,
			ExportedAt: time.Now().UTC(), Attachments: []manifestEntry{}}
		names := newNamer(manifestName)
		err = c.each(ctx, len(es), func(i int) error {
			e := es[i]
			name := names.take(exportName(e.Ref))
			if err := exportOne(ctx, c, ss, e, filepath.Join(dir, name)); err != nil {
				return c.fail("export", idSubj(e.ID.String()), err)
			}
			written = append(written, name)
			m.Attachments = append(m.Attachments, manifestEntry{
				File: name, ID: e.ID, Size: e.Size, MediaType: e.MediaType, Label: e.Label,
				Extra: e.Extra, CreatedAt: e.CreatedAt, Owner: e.Owner, Committed: e.Committed(),
				IntentAt: e.IntentAt, CommittedAt: e.CommittedAt,
			})
			return nil
		})
		if err != nil {
			return err
		}
		if err := writeManifest(dir, m); err != nil {
			return c.fail("export", fileSubj(dir), err)
		}
		ok = true
		for _, a := range m.Attachments {
			path := filepath.Join(dir, a.File)
			if c.json {
				err = c.emitJSON(exportedJSON(sess, path, a))
			} else {
				_, err = fmt.Fprintln(c.stdout, path)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// prepareExportDir makes sure dir is a new or empty directory, and says
// whether it created it.
func prepareExportDir(dir string) (created bool, err error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := checkParent(dir); err != nil {
			return false, err
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			return false, pathErr(dir, err)
		}
		return true, nil
	case err != nil:
		return false, pathErr(dir, err)
	case !fi.IsDir():
		return false, fmt.Errorf("%s: exists and is not a directory", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return false, pathErr(dir, err)
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); !errors.Is(err, io.EOF) {
		if err != nil {
			return false, pathErr(dir, err)
		}
		return false, fmt.Errorf("%s: directory is not empty (export writes only into a new or empty directory)", dir)
	}
	return false, nil
}

// exportOne writes one attachment to path, verified, and syncs it. On
// failure nothing is left at path.
func exportOne(ctx context.Context, c *cli, ss *attachstore.Session, e attachstore.Entry, path string) (err error) {
	r, err := ss.NewReader(ctx, e.ID)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return pathErr(path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	b := c.newByteBar(r.Ref().Size, "export "+filepath.Base(path))
	_, err = verifiedCopy(b.writer(writerNamed{f, path}), r, e.ID, r.Ref().Size)
	b.done()
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return pathErr(path, err)
	}
	if err := f.Close(); err != nil {
		return pathErr(path, err)
	}
	return nil
}

// writeManifest writes dir/manifest.json through a temporary file, so the
// manifest is there whole or not at all.
func writeManifest(dir string, m manifest) (err error) {
	path := filepath.Join(dir, manifestName)
	f, err := os.CreateTemp(dir, "."+manifestName+".tmp-*")
	if err != nil {
		return pathErr(path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return pathErr(path, err)
	}
	if err := f.Sync(); err != nil {
		return pathErr(path, err)
	}
	if err := f.Close(); err != nil {
		return pathErr(path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return pathErr(path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// maxNameBytes bounds the names export makes, below the 255 bytes most
// filesystems allow, leaving room for a "-N" that makes a name unique.
const maxNameBytes = 200

// exportName is the file name of an attachment: its label made safe, or,
// without a usable label, its id's first 12 digits and an extension for
// its media type.
func exportName(ref attachstore.Ref) string {
	if name := safeName(ref.Label); name != "" {
		return name
	}
	return ref.ID.String()[:12] + extensionFor(ref.MediaType)
}

// safeName turns a label into a file name that names one file in the
// directory it is joined to, and shows as what it is (cleanName), cut to
// maxNameBytes. It returns "" when nothing of the label is left.
func safeName(label string) string {
	name := cleanName(label)
	if len(name) > maxNameBytes {
		ext := filepath.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		stem := name[:maxNameBytes-len(ext)]
		for !utf8.ValidString(stem) {
			stem = stem[:len(stem)-1]
		}
		name = cleanName(stem + ext)
	}
	return name
}

// cleanName replaces path separators, characters a Windows filesystem
// refuses, and control and invisible characters with "_", makes every run
// of dots one dot (so no ".."), and drops leading and trailing dots and
// spaces (no hidden file, nothing Windows would trim). It is idempotent.
func cleanName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '/' || r == '\\' || strings.ContainsRune(`<>:"|?*`, r):
			b.WriteByte('_')
		case !unicode.IsPrint(r) && r != ' ':
			// Control characters, and invisible ones: U+202E, the
			// right-to-left override, shows "gnp.exe" as "exe.png".
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	name := b.String()
	for strings.Contains(name, "..") {
		name = strings.ReplaceAll(name, "..", ".")
	}
	return strings.Trim(name, ". ")
}

// isSafeName reports whether name is one export could have made: import
// reads only such files, so a manifest cannot lead it outside DIR.
func isSafeName(name string) bool {
	return name != "" && len(name) <= 255 && utf8.ValidString(name) &&
		cleanName(name) == name && !strings.EqualFold(name, manifestName)
}

// extensionFor returns a file extension for a media type, or "".
func extensionFor(mediaType string) string {
	switch mediaType {
	case "", attachstore.DefaultMediaType:
		return ".bin"
	case "text/plain":
		return ".txt"
	case "image/jpeg":
		return ".jpg"
	}
	if exts, err := mime.ExtensionsByType(mediaType); err == nil && len(exts) > 0 {
		return exts[0]
	}
	return ""
}

// namer hands out unique file names, comparing them without case so that
// the export unpacks the same on a case-insensitive filesystem.
type namer struct{ taken map[string]bool }

func newNamer(reserved ...string) *namer {
	n := &namer{taken: map[string]bool{}}
	for _, r := range reserved {
		n.taken[strings.ToLower(r)] = true
	}
	return n
}

func (n *namer) take(name string) string {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	cand := name
	for i := 2; n.taken[strings.ToLower(cand)]; i++ {
		cand = fmt.Sprintf("%s-%d%s", stem, i, ext)
	}
	n.taken[strings.ToLower(cand)] = true
	return cand
}

var importCmd = &command{
	name:    "import",
	args:    "[--session S] DIR",
	summary: "read an exported directory back into its session",
	access:  creates,
	long: `
Import reads DIR/manifest.json, as 'export' wrote it, and puts each file it
lists into the session the manifest names, or into --session S. Each file
is stored with the media type, label, extra and owner the manifest gives,
and, when the manifest says it was committed, committed in the same
transaction; a pending one stays pending (and reclaim forgets it after its
grace). A file must hash to the manifest's id: one that does not, is
missing, is not a regular file or has a name export would not make is
reported, nothing of it is stored, the other files are still imported, and
the exit status is 1. Importing twice is harmless: content is stored once.
Text output is each id imported; --json prints one object per file: file,
session, id, size, media_type, label, extra, created_at, committed.`,
	setup: setupImport,
}

// maxManifestBytes bounds the manifest import reads.
const maxManifestBytes = 64 << 20

func setupImport(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	session := fs.String("session", "", "import into `SESSION` (default: the manifest's session)")
	return func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return badUsage("want one DIR, got %d arguments", len(args))
		}
		dir := args[0]
		sess, err := sessionFlag(fs, *session, false)
		if err != nil {
			return err
		}
		m, err := readManifest(dir)
		if err != nil {
			return c.fail("import", fileSubj(dir), err)
		}
		if sess == "" {
			sess = m.Session
		}
		if sess == "" {
			return badUsage("%s names no session: give --session S", filepath.Join(dir, manifestName))
		}
		s, err := c.open(ctx)
		if err != nil {
			return err
		}
		return c.each(ctx, len(m.Attachments), func(i int) error {
			e := m.Attachments[i]
			path := filepath.Join(dir, e.File)
			if !isSafeName(e.File) {
				return c.fail("import", fileSubj(dir), fmt.Errorf("%s lists file %q, which export would not name so: not read", manifestName, e.File))
			}
			ref, err := importOne(ctx, c, s, sess, path, e)
			if err != nil {
				return c.fail("import", fileSubj(path), err)
			}
			if c.json {
				return c.emitJSON(struct {
					File    string `json:"file"`
					Session string `json:"session"`
					refJSON
					Committed bool `json:"committed"`
				}{path, sess, refOut(ref), e.Committed})
			}
			_, err = fmt.Fprintln(c.stdout, ref.ID)
			return err
		})
	}
}

// readManifest reads and checks dir/manifest.json.
func readManifest(dir string) (manifest, error) {
	path := filepath.Join(dir, manifestName)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return manifest{}, &kindError{fmt.Sprintf("no %s: not a finished export", path), fs.ErrNotExist}
		}
		return manifest{}, pathErr(path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return manifest{}, pathErr(path, err)
	}
	if len(data) > maxManifestBytes {
		return manifest{}, fmt.Errorf("%s: larger than %d bytes", path, maxManifestBytes)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return manifest{}, fmt.Errorf("%s: not an export manifest: %v", path, err)
	}
	if m.Format != manifestFormat {
		return manifest{}, fmt.Errorf("%s: format is %q, not %q", path, m.Format, manifestFormat)
	}
	if m.Version != manifestVersion {
		return manifest{}, fmt.Errorf("%s: version %d; this attachstore reads version %d", path, m.Version, manifestVersion)
	}
	return m, nil
}

// importOne stores one exported file into the session, and commits its
// ref in the same transaction when the manifest says it was committed.
func importOne(ctx context.Context, c *cli, s *attachstore.Store, sess, path string, e manifestEntry) (attachstore.Ref, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return attachstore.Ref{}, pathErr(path, err)
	}
	if !fi.Mode().IsRegular() {
		return attachstore.Ref{}, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return attachstore.Ref{}, pathErr(path, err)
	}
	defer f.Close()
	b := c.newByteBar(fi.Size(), "import "+e.File)
	defer b.done()
	lctx, in, stop := streamCtx(ctx, b.reader(f))
	defer stop()
	in = &hashingReader{r: in, h: sha256.New(), want: e.ID, size: e.Size}
	meta := attachstore.Meta{MediaType: e.MediaType, Label: e.Label, Extra: e.Extra}
	var ref attachstore.Ref
	err = s.Update(lctx, func(tx *attachstore.Tx) error {
		ss := tx.Session(sess)
		if e.Owner != "" {
			ss = ss.WithOwner(e.Owner)
		}
		var err error
		if ref, err = ss.PutReader(lctx, in, meta); err != nil {
			return err
		}
		if e.Committed {
			return ss.Commit(lctx, ref.ID)
		}
		return nil
	})
	return ref, err
}

// hashingReader passes r through and, at its end, fails with a
// *corruptError unless what it passed is size bytes that hash to want: a
// put that reads it then stores nothing.
type hashingReader struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	want attachstore.ID
	size int64
}

func (v *hashingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if errors.Is(err, io.EOF) {
		var got attachstore.ID
		v.h.Sum(got[:0])
		if got != v.want || v.n != v.size {
			return n, &corruptError{fmt.Sprintf("its %d bytes hash to %s, not to the manifest's id (%d bytes)", v.n, got, v.size)}
		}
	}
	return n, err
}

// exportedJSON is export's --json object for one file written: its path
// and the session's ref, in the vocabulary of refs --json.
func exportedJSON(sess, path string, a manifestEntry) any {
	e := entryJSON{Session: sess, refJSON: refOut(attachstore.Ref{ID: a.ID, Size: a.Size,
		Meta: attachstore.Meta{MediaType: a.MediaType, Label: a.Label, Extra: a.Extra}, CreatedAt: a.CreatedAt}),
		Owner: a.Owner, IntentAt: a.IntentAt, Committed: a.Committed}
	if a.Committed {
		at := a.CommittedAt
		e.CommittedAt = &at
	}
	return struct {
		File string `json:"file"`
		entryJSON
	}{path, e}
}
