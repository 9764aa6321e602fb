package attachstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachstoretest"
)

// Security (issue 5): the session guard on every read path, session names
// that only ever reach SQL as bound parameters, private files.

// securityHostileNames are session ids (and owners) that would break or
// widen a query if they were ever spliced into SQL text or matched with
// LIKE or without case.
var securityHostileNames = []string{
	`'; DROP TABLE blobs; --`,
	`"; DROP TABLE refs; --`,
	`Robert'); DELETE FROM attachstore_refs WHERE ('1'='1`,
	`' OR '1'='1`,
	`%`, `_`, `%chat%`, `chat%`, `\`, `\'`, `''`,
	"tab\there", "new\nline", "cr\rlf",
	"会话-🙂", "e\u0301", "\u00e9", "\u202eevil", "\ufeffbom",
	"CHAT", "chat ", " chat",
	strings.Repeat("x", attachstore.MaxSessionIDBytes),
}

// securityRead is one way a session reads content.
type securityRead struct {
	name string
	read func(ctx context.Context, s *attachstore.Store, session string, id attachstore.ID) ([]byte, error)
}

func securityReadAll(r *attachstore.Reader, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

var securityReads = []securityRead{
	{"Session.Get", func(ctx context.Context, s *attachstore.Store, session string, id attachstore.ID) ([]byte, error) {
		a, err := s.Session(session).Get(ctx, id)
		return a.Data, err
	}},
	{"Session.NewReader", func(ctx context.Context, s *attachstore.Store, session string, id attachstore.ID) ([]byte, error) {
		return securityReadAll(s.Session(session).NewReader(ctx, id))
	}},
	{"View/Session.Get", func(ctx context.Context, s *attachstore.Store, session string, id attachstore.ID) (data []byte, err error) {
		verr := s.View(ctx, func(tx *attachstore.Tx) error {
			a, err := tx.Session(session).Get(ctx, id)
			data = a.Data
			return err
		})
		return data, verr
	}},
	{"View/Session.NewReader", func(ctx context.Context, s *attachstore.Store, session string, id attachstore.ID) (data []byte, err error) {
		verr := s.View(ctx, func(tx *attachstore.Tx) error {
			data, err = securityReadAll(tx.Session(session).NewReader(ctx, id))
			return err
		})
		return data, verr
	}},
	{"Update/Session.Get", func(ctx context.Context, s *attachstore.Store, session string, id attachstore.ID) (data []byte, err error) {
		uerr := s.Update(ctx, func(tx *attachstore.Tx) error {
			a, err := tx.Session(session).Get(ctx, id)
			data = a.Data
			return err
		})
		return data, uerr
	}},
	{"Update/Session.NewReader", func(ctx context.Context, s *attachstore.Store, session string, id attachstore.ID) (data []byte, err error) {
		uerr := s.Update(ctx, func(tx *attachstore.Tx) error {
			data, err = securityReadAll(tx.Session(session).NewReader(ctx, id))
			return err
		})
		return data, uerr
	}},
}

// securityCheckGuard reads every id through every session on every path:
// content comes back exactly when the session holds a ref, otherwise
// ErrNotFound and no bytes.
func securityCheckGuard(t *testing.T, s *attachstore.Store, sessions []string, content map[attachstore.ID][]byte) {
	t.Helper()
	ctx := context.Background()
	for _, session := range sessions {
		for id, want := range content {
			holds, err := s.HoldsRef(ctx, session, id)
			if err != nil {
				t.Fatalf("HoldsRef(%q, %s): %v", session, id, err)
			}
			for _, r := range securityReads {
				got, err := r.read(ctx, s, session, id)
				switch {
				case holds && (err != nil || !bytes.Equal(got, want)):
					t.Errorf("%s: session %q holds %s but reads %d bytes, %v", r.name, session, id, len(got), err)
				case !holds && !errors.Is(err, attachstore.ErrNotFound):
					t.Errorf("%s: session %q holds no ref to %s (stored) but got %d bytes, err %v; want ErrNotFound",
						r.name, session, id, len(got), err)
				case !holds && len(got) > 0:
					t.Errorf("%s: session %q read %d bytes of %s it holds no ref to", r.name, session, len(got), id)
				}
			}
		}
	}
}

// TestSecuritySessionGuard puts content through some sessions (committed
// or not) and without a session, then reads every id through every session
// — owners, strangers, look-alike and wildcard names — on every read path:
// a session reads exactly what it holds a ref to, even knowing the hash of
// content that is stored. Dropping a ref, a session, or an intent expired
// by Reclaim closes the door again while the bytes remain.
func TestSecuritySessionGuard(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := attachstoretest.NewFile(t, attachstore.WithChunkSize(attachstore.MinChunkSize), attachstore.WithClock(clock.Now))
	content := map[attachstore.ID][]byte{}
	put := func(session string, data []byte, commit bool) attachstore.ID {
		t.Helper()
		var ref attachstore.Ref
		var err error
		if session == "" {
			ref, err = s.Put(ctx, data, attachstore.Meta{})
		} else {
			ref, err = s.Session(session).Put(ctx, data, attachstore.Meta{})
		}
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := s.Session(session).Commit(ctx, ref.ID); err != nil {
				t.Fatal(err)
			}
		}
		content[ref.ID] = data
		return ref.ID
	}
	chatPending := put("chat", []byte("chat's uncommitted notes"), false)
	chatCommitted := put("chat", faultContent(1, 3*attachstore.MinChunkSize+9), true)
	otherCommitted := put("other", []byte("other's committed secret"), true)
	put("", []byte("content put without any session"), false)
	shared := put("chat", []byte("bytes both sessions put"), true)
	put("other", []byte("bytes both sessions put"), false)

	readers := append([]string{"chat", "other", "stranger", "Chat", "chat\x01", "cha", "chatt", "c%", "_hat", "*"},
		securityHostileNames...)
	securityCheckGuard(t, s, readers, content)

	// The door closes when the ref goes, though the bytes stay.
	if err := s.Session("chat").Delete(ctx, chatCommitted); err != nil {
		t.Fatal(err)
	}
	if err := s.DropSession(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ExpiredIntents != 1 {
		t.Fatalf("Reclaim expired %d intents, want chat's one pending: %+v", rep.ExpiredIntents, rep)
	}
	// Put what Reclaim collected back without a session, so all the bytes
	// are stored while the sessions no longer hold them.
	for _, data := range content {
		if _, err := s.Put(ctx, data, attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	for id := range content {
		if !exists(t, s, id) {
			t.Fatalf("%s is not stored; the guard check below would prove nothing", id)
		}
	}
	for _, c := range []struct {
		session string
		id      attachstore.ID
		want    bool
	}{{"chat", chatCommitted, false}, {"chat", chatPending, false}, {"other", otherCommitted, false}, {"chat", shared, true}} {
		if holds, err := s.HoldsRef(ctx, c.session, c.id); err != nil || holds != c.want {
			t.Fatalf("HoldsRef(%q, %s) = %v, %v; want %v", c.session, c.id, holds, err, c.want)
		}
	}
	securityCheckGuard(t, s, readers, content)
	faultVerify(t, s)
}

// TestSecurityHostileSessionNames runs every session operation with session
// ids and owners built to break SQL, LIKE patterns and case folding. Each
// round-trips byte for byte, touches only its own rows, and the schema is
// intact afterwards. Names the contract refuses are ErrInvalidSession and
// change nothing.
func TestSecurityHostileSessionNames(t *testing.T) {
	ctx := context.Background()
	s := attachstoretest.NewFile(t)
	bystander := s.Session("chat")
	bystanderID := mustPut(t, bystander, "the bystander's content")
	if err := bystander.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	for i, name := range securityHostileNames {
		t.Run(fmt.Sprintf("%02d", i), func(t *testing.T) {
			owner := securityHostileNames[(i+1)%len(securityHostileNames)]
			ss := s.Session(name).WithOwner(owner)
			data := fmt.Appendf(nil, "content of hostile session %d", i)
			ref, err := ss.Put(ctx, data, attachstore.Meta{Label: name})
			if err != nil {
				t.Fatalf("Put through session %q: %v", name, err)
			}
			pending, err := ss.Pending(ctx)
			if err != nil || !slices.Equal(pending, []attachstore.ID{ref.ID}) {
				t.Fatalf("Pending(%q) = %v, %v; want [%s]", name, pending, err, ref.ID)
			}
			unc, err := s.ListUncommitted(ctx, time.Now().Add(24*time.Hour))
			if err != nil || !slices.ContainsFunc(unc, func(e attachstore.Entry) bool { return e.SessionID == name && e.ID == ref.ID }) {
				t.Fatalf("ListUncommitted does not show session %q's intent exactly: %v", name, err)
			}
			if _, err := ss.CommitOwned(ctx, owner); err != nil {
				t.Fatalf("CommitOwned(%q) of session %q: %v", owner, name, err)
			}
			es, err := ss.Refs(ctx)
			if err != nil || len(es) != 1 {
				t.Fatalf("Refs(%q) = %v, %v; want one entry", name, es, err)
			}
			if e := es[0]; e.SessionID != name || e.Owner != owner || e.Label != name || !e.Committed() || e.ID != ref.ID {
				t.Fatalf("Refs(%q) = session %q owner %q label %q committed %v; want them byte for byte, committed",
					name, e.SessionID, e.Owner, e.Label, e.Committed())
			}
			a, err := ss.Get(ctx, ref.ID)
			if err != nil || !bytes.Equal(a.Data, data) {
				t.Fatalf("Get through session %q: %q, %v", name, a.Data, err)
			}
			// The session sees only its own rows: not the bystander's.
			if _, err := ss.Get(ctx, bystanderID); !errors.Is(err, attachstore.ErrNotFound) {
				t.Fatalf("session %q reads the bystander's content: %v", name, err)
			}
			if err := ss.Commit(ctx, bystanderID); !errors.Is(err, attachstore.ErrNotFound) {
				t.Fatalf("session %q commits the bystander's ref: %v", name, err)
			}
			if err := s.DropSession(ctx, name); err != nil {
				t.Fatalf("DropSession(%q): %v", name, err)
			}
			if es, err := ss.Refs(ctx); err != nil || len(es) != 0 {
				t.Fatalf("Refs(%q) after DropSession = %v, %v", name, es, err)
			}
			if es, err := bystander.Refs(ctx); err != nil || len(es) != 1 || !es[0].Committed() {
				t.Fatalf("the bystander's refs after session %q was dropped: %v, %v", name, es, err)
			}
		})
	}

	t.Run("Refused", func(t *testing.T) {
		before := faultSnapshot(t, s, "chat")
		for _, bad := range []string{"", "nul\x00inside", "\xff\xfe", strings.Repeat("y", attachstore.MaxSessionIDBytes+1)} {
			ss := s.Session(bad)
			if _, err := ss.Put(ctx, []byte("refused"), attachstore.Meta{}); !errors.Is(err, attachstore.ErrInvalidSession) {
				t.Errorf("Put through session %q: %v, want ErrInvalidSession", bad, err)
			}
			if _, err := ss.Get(ctx, bystanderID); !errors.Is(err, attachstore.ErrInvalidSession) {
				t.Errorf("Get through session %q: %v, want ErrInvalidSession", bad, err)
			}
			if err := s.DropSession(ctx, bad); !errors.Is(err, attachstore.ErrInvalidSession) {
				t.Errorf("DropSession(%q): %v, want ErrInvalidSession", bad, err)
			}
			if bad == "" {
				continue // an empty owner is allowed
			}
			if _, err := s.Session("chat").WithOwner(bad).Put(ctx, []byte("refused"), attachstore.Meta{}); !errors.Is(err, attachstore.ErrInvalidSession) {
				t.Errorf("Put with owner %q: %v, want ErrInvalidSession", bad, err)
			}
		}
		if d := before.diff(faultSnapshot(t, s, "chat")); d != "" {
			t.Errorf("refused names changed the store: %s", d)
		}
	})

	// The schema is whole: every table still there, every check clean.
	db := rawDB(t, s.Path())
	for _, table := range []string{"attachstore_blobs", "attachstore_chunks", "attachstore_refs", "attachstore_schema_migrations"} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s after the hostile names: count %d, %v", table, n, err)
		}
	}
	if a, err := bystander.Get(ctx, bystanderID); err != nil || string(a.Data) != "the bystander's content" {
		t.Errorf("the bystander's content after the hostile names: %q, %v", a.Data, err)
	}
	faultVerify(t, s)
}

// TestSecurityFilesArePrivate opens a new durable store and checks that the
// database file and the -wal and -shm files SQLite makes beside it are
// 0600, under the usual umask and under umask 0.
func TestSecurityFilesArePrivate(t *testing.T) {
	for _, umask := range []int{0o022, 0} {
		t.Run(fmt.Sprintf("umask%03o", umask), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "private.db")
			s, err := attachstore.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// Write and read so the WAL and shared-memory files exist.
			if _, err := s.Session("chat").Put(ctx, []byte("private"), attachstore.Meta{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Stats(ctx); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatalf("stat %s: %v", p, err)
				}
				if mode := fi.Mode().Perm(); mode != 0o600 {
					t.Errorf("%s has mode %v, want -rw-------", filepath.Base(p), mode)
				}
			}
			// Nothing else appeared beside the database.
			ents, err := os.ReadDir(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), "private.db") {
					t.Errorf("unexpected file %s beside the store", e.Name())
				}
				if info, err := e.Info(); err == nil && info.Mode()&fs.ModePerm&0o077 != 0 {
					t.Errorf("%s is readable by others: %v", e.Name(), info.Mode())
				}
			}
		})
	}
}

// TestOpenURLAnyCaseNeverShowsThePassword: a PostgreSQL URL is one in any
// letter case of its scheme; none is taken for a file path (whose error
// would print it whole), and no Open error shows the password, whether it
// is in the user part or a query parameter.
func TestOpenURLAnyCaseNeverShowsThePassword(t *testing.T) {
	const secret = "s3cret-any-case"
	for _, scheme := range []string{"postgres", "postgresql", "POSTGRES", "POSTGRESQL", "PostgreSQL", "pOSTGRES"} {
		for _, rest := range []string{
			"://agent:" + secret + "@127.0.0.1:1/chats?connect_timeout=2",
			"://agent@127.0.0.1:1/chats?connect_timeout=2&password=" + secret,
			"://agent:" + secret + "@127.0.0.1:notaport/chats",
		} {
			u := scheme + rest
			for _, opts := range [][]attachstore.Option{nil, {attachstore.WithReadOnly()}} {
				s, err := attachstore.Open(t.Context(), u, opts...)
				if err == nil {
					s.Close()
					t.Fatalf("Open(%q) succeeded", u)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Open(%q): the error shows the password: %v", u, err)
				}
				if errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Open(%q) took the URL for a file path: %v", u, err)
				}
			}
		}
	}
	if entries, err := os.ReadDir("."); err == nil {
		for _, e := range entries {
			if strings.Contains(strings.ToLower(e.Name()), "postgres") {
				t.Errorf("Open left %q in the working directory", e.Name())
			}
		}
	}
}
