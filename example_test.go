package attachstore_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/attachstore/attachstore"
)

func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "attachstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A file on disk: content survives Close and restarts.
	s, err := attachstore.Open(ctx, filepath.Join(dir, "attachments.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	fmt.Println(s.Persistence())

	// A private in-memory store, for tests and scratch work.
	mem, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer mem.Close()
	fmt.Println(mem.Persistence())
	// Output:
	// durable
	// ephemeral
}

func ExampleStore_Put() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ref, err := s.Put(ctx, []byte("hello, world\n"), attachstore.Meta{MediaType: "Text/Plain", Label: "hello.txt"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ref.ID, ref.Size, ref.MediaType, ref.Label)

	// The same bytes are the same content: stored once, and they keep the
	// metadata of their first put.
	again, err := s.Put(ctx, []byte("hello, world\n"), attachstore.Meta{Label: "other.txt"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(again.ID == ref.ID, again.Label)
	// Output:
	// 853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020 13 text/plain hello.txt
	// true hello.txt
}

func ExampleStore_Get() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ref, err := s.Put(ctx, []byte(`{"answer": 42}`), attachstore.Meta{MediaType: "application/json", Label: "answer.json"})
	if err != nil {
		log.Fatal(err)
	}
	// An id travels as text (in a chat transcript, say) and comes back
	// with ParseID.
	id, err := attachstore.ParseID(ref.ID.String())
	if err != nil {
		log.Fatal(err)
	}
	a, err := s.Get(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s %s\n", a.Data, a.MediaType, a.Label)

	_, err = s.Get(ctx, attachstore.ContentID([]byte("never stored")))
	fmt.Println(errors.Is(err, attachstore.ErrNotFound))
	// Output:
	// {"answer": 42} application/json answer.json
	// true
}

func ExampleStore_NewReader() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// 1 MiB, streamed in and out: memory stays bounded by the chunk size.
	text := strings.Repeat("0123456789abcdef", 1<<16)
	ref, err := s.PutReader(ctx, strings.NewReader(text), attachstore.Meta{MediaType: "text/plain"})
	if err != nil {
		log.Fatal(err)
	}
	r, err := s.NewReader(ctx, ref.ID)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, attachstore.ID(h.Sum(nil)) == ref.ID)

	// A Reader seeks, so it can serve HTTP range requests.
	if _, err := r.Seek(-6, io.SeekEnd); err != nil {
		log.Fatal(err)
	}
	tail, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", tail)
	// Output:
	// 1048576 true
	// abcdef
}

func ExampleSession_Put() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// The agent stages a screenshot in its session: the bytes and an
	// uncommitted intent are written together.
	chat := s.Session("chat-42")
	ref, err := chat.Put(ctx, []byte("\x89PNG..."), attachstore.Meta{MediaType: "image/png", Label: "screenshot.png"})
	if err != nil {
		log.Fatal(err)
	}
	pending, err := chat.Pending(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pending:", len(pending))

	// When the turn is saved, the intent is stamped committed.
	if err := chat.Commit(ctx, ref.ID); err != nil {
		log.Fatal(err)
	}
	pending, err = chat.Pending(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pending:", len(pending))

	a, err := chat.Get(ctx, ref.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Label, a.Size)

	// Another session cannot read it, even knowing the id.
	_, err = s.Session("chat-43").Get(ctx, ref.ID)
	fmt.Println(errors.Is(err, attachstore.ErrNotFound))
	// Output:
	// pending: 1
	// pending: 0
	// screenshot.png 7
	// true
}

// The turn-commit pattern: the host saves its own record of an agent's turn
// and commits the turn's attachments in one transaction, so a crash leaves
// either both or neither.
func ExampleStore_Update() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// The host keeps its own tables in the same database.
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		_, err := tx.SQL().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS turns (
			id TEXT PRIMARY KEY, session_id TEXT NOT NULL, reply TEXT NOT NULL, attachment TEXT NOT NULL)`)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	saveTurn := func(turn, reply string, chart []byte, fail bool) error {
		return s.Update(ctx, func(tx *attachstore.Tx) error {
			chat := tx.Session("chat-42").WithOwner(turn)
			ref, err := chat.Put(ctx, chart, attachstore.Meta{MediaType: "image/svg+xml", Label: "chart.svg"})
			if err != nil {
				return err
			}
			if _, err := tx.SQL().ExecContext(ctx, `INSERT INTO turns (id, session_id, reply, attachment) VALUES (?, ?, ?, ?)`,
				turn, "chat-42", reply, ref.ID.String()); err != nil {
				return err
			}
			if fail {
				return errors.New("the model call failed")
			}
			_, err = chat.CommitOwned(ctx, turn)
			return err
		})
	}
	if err := saveTurn("turn-1", "Here is the chart.", []byte("<svg>1</svg>"), false); err != nil {
		log.Fatal(err)
	}
	// A turn that fails leaves no row, no ref and no blob behind.
	err = saveTurn("turn-2", "never saved", []byte("<svg>2</svg>"), true)
	fmt.Println("turn-2:", err)

	var turns int
	err = s.View(ctx, func(tx *attachstore.Tx) error {
		return tx.SQL().GetContext(ctx, &turns, `SELECT count(*) FROM turns`)
	})
	if err != nil {
		log.Fatal(err)
	}
	refs, err := s.Session("chat-42").Refs(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("turns:", turns, "refs:", len(refs))
	for _, e := range refs {
		fmt.Println(e.Owner, e.Label, e.Committed())
	}
	_, err = s.Stat(ctx, attachstore.ContentID([]byte("<svg>2</svg>")))
	fmt.Println("turn-2's chart stored:", !errors.Is(err, attachstore.ErrNotFound))
	// Output:
	// turn-2: the model call failed
	// turns: 1 refs: 1
	// turn-1 chart.svg true
	// turn-2's chart stored: false
}

func ExampleStore_Reclaim() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "attachstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := attachstore.Open(ctx, filepath.Join(dir, "attachments.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// A turn that crashed before it committed leaves an intent behind; a
	// committed turn keeps its content.
	turn := s.Session("chat-1")
	kept, err := turn.Put(ctx, []byte("a committed screenshot"), attachstore.Meta{MediaType: "image/png"})
	if err != nil {
		log.Fatal(err)
	}
	if err := turn.Commit(ctx, kept.ID); err != nil {
		log.Fatal(err)
	}
	if _, err := turn.Put(ctx, []byte("a half-finished tool output"), attachstore.Meta{}); err != nil {
		log.Fatal(err)
	}

	// A service would run this periodically with a Grace of hours, so
	// turns in progress are never touched; zero collects everything
	// unreferenced now. VacuumAt 0 gives every freed page back to the
	// filesystem at once; VacuumAt 0.25 would leave them for new content
	// to reuse until they are a quarter of the file.
	rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: 0})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expired intents:", rep.ExpiredIntents)
	fmt.Println("reclaimed blobs:", rep.ReclaimedBlobs)
	fmt.Println("pages left free:", rep.FreeBytes)

	a, err := turn.Get(ctx, kept.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", a.Data)
	// Output:
	// expired intents: 1
	// reclaimed blobs: 1
	// pages left free: 0
	// a committed screenshot
}

// A turn that waits for a person: its attachments are staged as the
// turn's own intents, held past Reclaim's Grace for as long as the
// approval may take, and committed with the host's row once approved.
func ExampleSession_Hold() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		_, err := tx.SQL().ExecContext(ctx, `CREATE TABLE turns (id TEXT PRIMARY KEY, approved_by TEXT NOT NULL)`)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	chat := s.Session("chat-7")
	plan, err := chat.WithOwner("turn-3").Put(ctx, []byte("# Migration plan\n..."), attachstore.Meta{MediaType: "text/markdown", Label: "plan.md"})
	if err != nil {
		log.Fatal(err)
	}
	// The user may take a day to answer; a Reclaim meanwhile, in this
	// process or any other, keeps the turn's intents.
	if err := chat.Hold(ctx, "turn-3", time.Now().Add(48*time.Hour)); err != nil {
		log.Fatal(err)
	}
	rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: 0})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expired while held:", rep.ExpiredIntents)

	// Approved: the host's row and the commit stamps commit together.
	// CommitOwned says which attachments the turn staged, and ends the hold.
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		if _, err := tx.SQL().ExecContext(ctx, `INSERT INTO turns (id, approved_by) VALUES (?, ?)`, "turn-3", "alice"); err != nil {
			return err
		}
		ids, err := tx.Session("chat-7").CommitOwned(ctx, "turn-3")
		fmt.Println("committed:", len(ids), ids[0] == plan.ID)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// expired while held: 0
	// committed: 1 true
}

// An abandoned turn's intents are forgotten at once; what another turn
// committed stays.
func ExampleSession_Discard() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	chat := s.Session("chat-1")
	logo := []byte("<svg>logo</svg>")
	if _, err := chat.WithOwner("turn-1").Put(ctx, logo, attachstore.Meta{Label: "logo.svg"}); err != nil {
		log.Fatal(err)
	}
	if _, err := chat.CommitOwned(ctx, "turn-1"); err != nil {
		log.Fatal(err)
	}
	// A retried tool call in turn 2 stages the same bytes, then the user
	// cancels the turn.
	if _, err := chat.WithOwner("turn-2").Put(ctx, logo, attachstore.Meta{Label: "logo-again.svg"}); err != nil {
		log.Fatal(err)
	}
	dropped, err := chat.Discard(ctx, "turn-2")
	if err != nil {
		log.Fatal(err)
	}
	a, err := chat.Get(ctx, attachstore.ContentID(logo))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("discarded:", len(dropped), "still readable as:", a.Label)
	// Output:
	// discarded: 1 still readable as: logo.svg
}

// Deleting a chat: the host's rows and the session's refs go in one
// transaction, and the tombstone keeps a turn still in flight from
// bringing the chat back.
func ExampleTx_DropSession() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Session("chat-9").Put(ctx, []byte("draft"), attachstore.Meta{}); err != nil {
		log.Fatal(err)
	}
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		// ... delete the host's own rows of chat-9 through tx.SQL() here.
		return tx.DropSession(ctx, "chat-9")
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = s.Session("chat-9").Put(ctx, []byte("a late tool result"), attachstore.Meta{})
	fmt.Println(errors.Is(err, attachstore.ErrSessionDropped))
	// Output:
	// true
}

func ExampleStore_Sessions() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	for _, put := range []struct{ session, data string }{{"chat-a", "one"}, {"chat-a", "three"}, {"chat-b", "one"}} {
		if _, err := s.Session(put.session).Put(ctx, []byte(put.data), attachstore.Meta{}); err != nil {
			log.Fatal(err)
		}
	}
	if err := s.Session("chat-a").Commit(ctx); err != nil {
		log.Fatal(err)
	}
	for si, err := range s.Sessions(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d refs, %d pending, %d bytes\n", si.ID, si.Refs, si.Pending, si.Bytes)
	}
	// Output:
	// chat-a: 2 refs, 0 pending, 8 bytes
	// chat-b: 1 refs, 1 pending, 3 bytes
}

func ExampleStore_RefsTo() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ref, err := s.Session("chat-a").WithOwner("turn-1").Put(ctx, []byte("shared"), attachstore.Meta{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Session("chat-b").Put(ctx, []byte("shared"), attachstore.Meta{}); err != nil {
		log.Fatal(err)
	}
	// Who holds it, before deleting it.
	es, err := s.RefsTo(ctx, ref.ID)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range es {
		fmt.Printf("%s owner=%q committed=%v\n", e.SessionID, e.Owner, e.Committed())
	}
	fmt.Println(errors.Is(s.Delete(ctx, ref.ID), attachstore.ErrReferenced))
	// Output:
	// chat-a owner="turn-1" committed=false
	// chat-b owner="" committed=false
	// true
}

func ExampleStore_Backup() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "attachstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := attachstore.Open(ctx, filepath.Join(dir, "attachments.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ref, err := s.Session("chat").Put(ctx, []byte("worth keeping"), attachstore.Meta{})
	if err != nil {
		log.Fatal(err)
	}
	// A consistent copy while writers go on, verified before it returns.
	if err := s.Backup(ctx, filepath.Join(dir, "backup.db")); err != nil {
		log.Fatal(err)
	}
	b, err := attachstore.Open(ctx, filepath.Join(dir, "backup.db"), attachstore.WithReadOnly())
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	a, err := b.Session("chat").Get(ctx, ref.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", a.Data)
	// Output:
	// worth keeping
}

// Two turns of one chat stage attachments; each commits or is discarded on
// its own, and CommitOwned returns what its turn staged.
func ExampleSession_CommitOwned() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	chat := s.Session("chat-7")
	logo, err := chat.WithOwner("turn-1").Put(ctx, []byte("<svg>logo</svg>"), attachstore.Meta{Label: "logo.svg"})
	if err != nil {
		log.Fatal(err)
	}
	// turn-2 stages the same bytes and a draft of its own.
	if _, err := chat.WithOwner("turn-2").Put(ctx, []byte("<svg>logo</svg>"), attachstore.Meta{Label: "logo-again.svg"}); err != nil {
		log.Fatal(err)
	}
	if _, err := chat.WithOwner("turn-2").Put(ctx, []byte("draft"), attachstore.Meta{Label: "draft.txt"}); err != nil {
		log.Fatal(err)
	}

	ids, err := chat.CommitOwned(ctx, "turn-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("turn-1 committed:", len(ids), ids[0] == logo.ID)

	// turn-2 is abandoned: its intents go, turn-1's commit stays.
	if _, err := chat.Discard(ctx, "turn-2"); err != nil {
		log.Fatal(err)
	}
	pending, err := chat.Pending(ctx)
	if err != nil {
		log.Fatal(err)
	}
	a, err := chat.Get(ctx, logo.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pending:", len(pending), "label:", a.Label)
	// Output:
	// turn-1 committed: 1 true
	// pending: 0 label: logo.svg
}

// Content a session refers to cannot be deleted; once no session does, it
// can.
func ExampleStore_Delete() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ref, err := s.Session("chat-1").Put(ctx, []byte("report"), attachstore.Meta{Label: "report.txt"})
	if err != nil {
		log.Fatal(err)
	}
	err = s.Delete(ctx, ref.ID)
	fmt.Println(errors.Is(err, attachstore.ErrReferenced))

	if err := s.Session("chat-1").Delete(ctx, ref.ID); err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Delete(ctx, ref.ID))
	_, err = s.Stat(ctx, ref.ID)
	fmt.Println(errors.Is(err, attachstore.ErrNotFound))
	// Output:
	// true
	// <nil>
	// true
}

func ExampleStore_List() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	for _, name := range []string{"a.txt", "b.txt"} {
		if _, err := s.Put(ctx, []byte("content of "+name), attachstore.Meta{Label: name}); err != nil {
			log.Fatal(err)
		}
	}
	for ref, err := range s.List(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ref.Label, ref.Size)
	}
	// Output:
	// a.txt 16
	// b.txt 16
}

// A read transaction sees one snapshot: the host's rows and the
// attachments they name agree.
func ExampleStore_View() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		ref, err := tx.Session("chat-1").Put(ctx, []byte("a photo"), attachstore.Meta{MediaType: "image/jpeg", Label: "photo.jpg"})
		if err != nil {
			return err
		}
		if _, err := tx.SQL().ExecContext(ctx, `CREATE TABLE messages (id INTEGER PRIMARY KEY, attachment TEXT)`); err != nil {
			return err
		}
		_, err = tx.SQL().ExecContext(ctx, `INSERT INTO messages (attachment) VALUES (?)`, ref.ID.String())
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	err = s.View(ctx, func(tx *attachstore.Tx) error {
		var hex string
		if err := tx.SQL().GetContext(ctx, &hex, `SELECT attachment FROM messages WHERE id = 1`); err != nil {
			return err
		}
		id, err := attachstore.ParseID(hex)
		if err != nil {
			return err
		}
		a, err := tx.Session("chat-1").Get(ctx, id)
		if err != nil {
			return err
		}
		fmt.Println(a.Label, a.MediaType, string(a.Data))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// photo.jpg image/jpeg a photo
}

func ExampleStore_Verify() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if _, err := s.Put(ctx, []byte("checked"), attachstore.Meta{}); err != nil {
		log.Fatal(err)
	}
	rep, err := s.Verify(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.CheckedBlobs, rep.OK())
	// Output:
	// 1 true
}

func ExampleStore_Repair() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	original := "the quarterly report, as the user uploaded it"
	chat := s.Session("chat-1")
	ref, err := chat.Put(ctx, []byte(original), attachstore.Meta{Label: "report.txt"})
	if err != nil {
		log.Fatal(err)
	}
	if err := chat.Commit(ctx, ref.ID); err != nil {
		log.Fatal(err)
	}
	// Damage of the kind a failing disk does, simulated here: a host
	// never writes attachstore's tables.
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		_, err := tx.SQL().ExecContext(ctx, `UPDATE attachstore_chunks SET data = ?`, []byte("garbage"))
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	rep, err := s.Verify(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("corrupt:", len(rep.Corrupt), rep.Corrupt[0] == ref.ID)

	// The same bytes, from wherever they are still whole (the user's own
	// file, a backup), give the blob its bytes back; the session keeps its
	// committed ref.
	id, err := s.Repair(ctx, strings.NewReader(original))
	if err != nil {
		log.Fatal(err)
	}
	rep, err = s.Verify(ctx)
	if err != nil {
		log.Fatal(err)
	}
	a, err := chat.Get(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("repaired:", id == ref.ID, rep.OK(), string(a.Data) == original, a.Label)

	// Bytes that no stored blob has are not stored.
	_, err = s.Repair(ctx, strings.NewReader("something else"))
	fmt.Println(errors.Is(err, attachstore.ErrNotFound))
	// Output:
	// corrupt: 1 true
	// repaired: true true true report.txt
	// true
}

func ExampleStore_Stats() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	chat := s.Session("chat-1")
	ref, err := chat.Put(ctx, []byte("twelve bytes"), attachstore.Meta{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Session("chat-2").Put(ctx, []byte("twelve bytes"), attachstore.Meta{}); err != nil {
		log.Fatal(err)
	}
	if err := chat.Commit(ctx, ref.ID); err != nil {
		log.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("blobs %d, bytes %d, refs %d, sessions %d, uncommitted %d\n",
		st.Blobs, st.BlobBytes, st.Refs, st.Sessions, st.UncommittedRefs)
	// Output:
	// blobs 1, bytes 12, refs 2, sessions 2, uncommitted 1
}

func ExampleSession_Committed() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// Two turns stage the same bytes; the first commits, the second is
	// still in flight. Refs shows both rows, one of them uncommitted;
	// Committed answers for the session.
	chat := s.Session("chat")
	ref, err := chat.WithOwner("turn-1").Put(ctx, []byte("a chart"), attachstore.Meta{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := chat.WithOwner("turn-2").Put(ctx, []byte("a chart"), attachstore.Meta{}); err != nil {
		log.Fatal(err)
	}
	if _, err := chat.CommitOwned(ctx, "turn-1"); err != nil {
		log.Fatal(err)
	}
	entries, err := chat.Refs(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		fmt.Println(e.Owner, e.Committed())
	}
	ok, err := chat.Committed(ctx, ref.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed:", ok)
	// Output:
	// turn-1 true
	// turn-2 false
	// committed: true
}

func ExampleSession_Holds() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// A turn waits for a person's approval; its intents survive Reclaim
	// until the hold lapses.
	chat := s.Session("chat")
	if _, err := chat.WithOwner("turn-3").Put(ctx, []byte("a draft"), attachstore.Meta{}); err != nil {
		log.Fatal(err)
	}
	until := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	if err := chat.Hold(ctx, "turn-3", until); err != nil {
		log.Fatal(err)
	}
	holds, err := chat.Holds(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range holds {
		fmt.Println(h.Owner, h.Until.UTC().Format(time.RFC3339))
	}
	// Output:
	// turn-3 2030-01-02T15:04:05Z
}

// Following a long Verify, as a progress bar or the inspector page does.
func ExampleWithVerifyProgress() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	for _, text := range []string{"one", "two", "three"} {
		if _, err := s.Put(ctx, []byte(text), attachstore.Meta{}); err != nil {
			log.Fatal(err)
		}
	}
	rep, err := s.Verify(ctx, attachstore.WithVerifyProgress(func(p attachstore.VerifyProgress) {
		fmt.Printf("%d/%d blobs, %d/%d bytes\n", p.CheckedBlobs, p.TotalBlobs, p.CheckedBytes, p.TotalBytes)
	}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.OK())
	// Output:
	// 1/3 blobs, 3/11 bytes
	// 2/3 blobs, 6/11 bytes
	// 3/3 blobs, 11/11 bytes
	// true
}

// A tool that changes a store, but must never create one where a path has
// a typo, nor add attachstore's tables to another program's database.
func ExampleWithExisting() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "attachstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "attachments.db")

	_, err = attachstore.Open(ctx, path, attachstore.WithExisting())
	fmt.Println(errors.Is(err, fs.ErrNotExist))

	s, err := attachstore.Open(ctx, path) // creates it
	if err != nil {
		log.Fatal(err)
	}
	s.Close()
	s, err = attachstore.Open(ctx, path, attachstore.WithExisting())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	fmt.Println(s.Origin())
	// Output:
	// true
	// opened
}

// Commit with no ids stamps everything the session has pending, whoever
// staged it; an id the session holds no ref to stamps nothing.
func ExampleSession_Commit() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	chat := s.Session("chat-42")
	for _, owner := range []string{"turn-1", "turn-2"} {
		if _, err := chat.WithOwner(owner).Put(ctx, []byte("output of "+owner), attachstore.Meta{}); err != nil {
			log.Fatal(err)
		}
	}
	err = chat.Commit(ctx, attachstore.ContentID([]byte("never put")))
	fmt.Println(errors.Is(err, attachstore.ErrNotFound))
	if err := chat.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	pending, err := chat.Pending(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pending:", len(pending))
	// Output:
	// true
	// pending: 0
}

// Refs lists refs, one per manifest row, not one per blob: a session may
// hold a committed ref and another owner's intent to the same bytes.
func ExampleSession_Refs() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	chat := s.Session("chat-42")
	logo := []byte("<svg>logo</svg>")
	if _, err := chat.WithOwner("turn-1").Put(ctx, logo, attachstore.Meta{Label: "logo.svg"}); err != nil {
		log.Fatal(err)
	}
	if _, err := chat.CommitOwned(ctx, "turn-1"); err != nil {
		log.Fatal(err)
	}
	if _, err := chat.WithOwner("turn-2").Put(ctx, logo, attachstore.Meta{Label: "again.svg"}); err != nil {
		log.Fatal(err)
	}
	refs, err := chat.Refs(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range refs {
		fmt.Println(e.Owner, e.Label, e.Committed())
	}
	// The question a client asks has its own answer.
	kept, err := chat.Committed(ctx, attachstore.ContentID(logo))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed:", kept)
	// Output:
	// turn-1 logo.svg true
	// turn-2 again.svg false
	// committed: true
}

// Content that needs no staging, such as a file the user dropped into the
// chat, is put committed in one call.
func ExampleSession_PutCommitted() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	chat := s.Session("chat-42")
	ref, err := chat.PutCommitted(ctx, []byte("%PDF-1.7 ..."), attachstore.Meta{MediaType: "application/pdf", Label: "brief.pdf"})
	if err != nil {
		log.Fatal(err)
	}
	pending, err := chat.Pending(ctx)
	if err != nil {
		log.Fatal(err)
	}
	kept, err := chat.Committed(ctx, ref.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(pending), kept)
	// Output:
	// 0 true
}

// Deleting a chat outside a transaction of the host's; see
// ExampleTx_DropSession for one inside.
func ExampleStore_DropSession() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ref, err := s.Session("chat-9").PutCommitted(ctx, []byte("a photo"), attachstore.Meta{})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.DropSession(ctx, "chat-9"); err != nil {
		log.Fatal(err)
	}
	held, err := s.HoldsRef(ctx, "chat-9", ref.ID)
	if err != nil {
		log.Fatal(err)
	}
	// The bytes stay until Reclaim finds them held by no ref.
	rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: 0})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(held, rep.ReclaimedBlobs)
	// Output:
	// false 1
}

// What crashed turns left behind, before Reclaim forgets it.
func ExampleStore_ListUncommitted() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Session("chat-1").WithOwner("turn-3").Put(ctx, []byte("half a report"), attachstore.Meta{Label: "report.md"}); err != nil {
		log.Fatal(err)
	}
	if _, err := s.Session("chat-2").PutCommitted(ctx, []byte("kept"), attachstore.Meta{}); err != nil {
		log.Fatal(err)
	}
	es, err := s.ListUncommitted(ctx, time.Now().Add(time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range es {
		fmt.Println(e.SessionID, e.Owner, e.Label)
	}
	// Output:
	// chat-1 turn-3 report.md
}

func ExampleStore_Stat() {
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ref, err := s.Put(ctx, []byte("a large file, say"), attachstore.Meta{MediaType: "text/plain"})
	if err != nil {
		log.Fatal(err)
	}
	// Stat reads the size and metadata without the bytes.
	st, err := s.Stat(ctx, ref.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Size, st.MediaType)
	// Output:
	// 17 text/plain
}
