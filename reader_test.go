package attachstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/internal/storetest"
)

// readerEngines opens a fresh store with 4 KiB chunks on SQLite, and on
// PostgreSQL when ATTACHSTORE_TEST_POSTGRES is set. The store is not closed
// for the test: a case may close it itself.
func readerEngines(t *testing.T, fn func(t *testing.T, open func() *attachstore.Store)) {
	chunks := attachstore.WithChunkSize(attachstore.MinChunkSize)
	t.Run("SQLite", func(t *testing.T) {
		fn(t, func() *attachstore.Store {
			s, err := attachstore.Open(t.Context(), filepath.Join(t.TempDir(), "a.db"), chunks)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("Postgres", func(t *testing.T) {
		storetest.PostgresURL(t)
		fn(t, func() *attachstore.Store {
			s, err := attachstore.Open(t.Context(), storetest.PostgresSchema(t), chunks)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

// errWriter takes max bytes, then fails.
type errWriter struct {
	max, n int
}

var errWrite = errors.New("write failed")

func (w *errWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.max {
		k := w.max - w.n
		w.n = w.max
		return k, errWrite
	}
	w.n += len(p)
	return len(p), nil
}

// TestReaderWriteTo: io.Copy from a Reader (its WriteTo) writes exactly
// the rest of the content from where the Reader stands, through the
// Store's and a session's Reader, and stops at a failing writer or a
// closed Reader.
func TestReaderWriteTo(t *testing.T) {
	const chunk = attachstore.MinChunkSize
	readerEngines(t, func(t *testing.T, open func() *attachstore.Store) {
		s := open()
		ctx := context.Background()
		for _, c := range []struct {
			name      string
			size, off int
		}{
			{"Empty", 0, 0},
			{"OneChunk", 1000, 0},
			{"OneChunkFromTheMiddle", chunk, 1234},
			{"Chunks", 3*chunk + 17, 0},
			{"ChunksFromTheMiddle", 3*chunk + 17, chunk + 5},
			{"PastTheEnd", 2 * chunk, 3 * chunk},
		} {
			data := make([]byte, c.size)
			for i := range data {
				data[i] = byte(i*13 + c.size)
			}
			ref, err := s.Session("chat").Put(ctx, data, attachstore.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			want := data[min(c.off, len(data)):]
			for _, via := range []string{"Store", "Session"} {
				t.Run(c.name+"/"+via, func(t *testing.T) {
					var r *attachstore.Reader
					if via == "Store" {
						r, err = s.NewReader(ctx, ref.ID)
					} else {
						r, err = s.Session("chat").NewReader(ctx, ref.ID)
					}
					if err != nil {
						t.Fatal(err)
					}
					defer r.Close()
					if _, err := r.Seek(int64(c.off), io.SeekStart); err != nil {
						t.Fatal(err)
					}
					var buf bytes.Buffer
					n, err := io.Copy(&buf, r)
					if err != nil || n != int64(len(want)) || !bytes.Equal(buf.Bytes(), want) {
						t.Fatalf("io.Copy = %d, %v; %d bytes, want %d, equal %v", n, err, buf.Len(), len(want), bytes.Equal(buf.Bytes(), want))
					}
					if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
						t.Errorf("Read after WriteTo = %d, %v; want 0, EOF", n, err)
					}
					if len(want) < 2 {
						return
					}
					if _, err := r.Seek(int64(c.off), io.SeekStart); err != nil {
						t.Fatal(err)
					}
					w := &errWriter{max: len(want) / 2}
					if n, err := r.WriteTo(w); !errors.Is(err, errWrite) || n != int64(w.max) {
						t.Errorf("WriteTo a failing writer = %d, %v; want %d, %v", n, err, w.max, errWrite)
					}
					r.Close()
					if n, err := r.WriteTo(io.Discard); err == nil || n != 0 {
						t.Errorf("WriteTo after Close = %d, %v; want an error", n, err)
					}
				})
			}
		}
	})
}

// TestSessionReaderReadsOneChunkAtOpen: a session's Reader of content of
// one chunk reads it in the query that opens it, so it needs the store no
// more; content of more chunks is read chunk by chunk.
func TestSessionReaderReadsOneChunkAtOpen(t *testing.T) {
	const chunk = attachstore.MinChunkSize
	readerEngines(t, func(t *testing.T, open func() *attachstore.Store) {
		for _, c := range []struct {
			name string
			size int
			err  error
		}{
			{"OneChunk", chunk, nil},
			{"TwoChunks", chunk + 1, attachstore.ErrClosed},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := open()
				data := bytes.Repeat([]byte{'x'}, c.size)
				ref, err := s.Session("chat").Put(t.Context(), data, attachstore.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				r, err := s.Session("chat").NewReader(t.Context(), ref.ID)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r)
				if !errors.Is(err, c.err) || (c.err == nil && !bytes.Equal(got, data)) {
					t.Errorf("reading after Close: %d bytes, %v; want error %v", len(got), err, c.err)
				}
			})
		}
	})
}
