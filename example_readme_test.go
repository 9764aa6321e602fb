package attachstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/attachstore/attachstore"
)

// Example_chatTurn is the README's library snippet, whole: a host keeps its
// own table in the store's file, a turn stages an attachment, and the
// turn's row and the attachment's commit stamp commit together.
func Example_chatTurn() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "attachstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := attachstore.Open(ctx, filepath.Join(dir, "app.db")) // or attachstore.MemoryPath
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// The host's own tables live beside attachstore's; DDL through Tx.SQL()
	// works on SQLite and PostgreSQL alike.
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		_, err := tx.SQL().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS turns (id TEXT PRIMARY KEY, body TEXT NOT NULL)`)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	// During a turn, tools stage attachments as the turn's uncommitted
	// intents.
	chat := s.Session("chat-42")
	png := []byte("\x89PNG\r\n\x1a\n not really a picture")
	ref, err := chat.WithOwner("turn-7").Put(ctx, png, attachstore.Meta{MediaType: "image/png", Label: "plot.png"})
	if err != nil {
		log.Fatal(err)
	}

	// When the turn commits, the host's row and the attachments' commit
	// stamps commit in one transaction. CommitOwned returns the ids the
	// turn staged, for the host to record.
	var staged []attachstore.ID
	err = s.Update(ctx, func(tx *attachstore.Tx) error {
		q := tx.SQL().Rebind(`INSERT INTO turns (id, body) VALUES (?, ?)`) // $1, $2 on PostgreSQL
		if _, err := tx.SQL().ExecContext(ctx, q, "turn-7", "here is the plot"); err != nil {
			return err
		}
		staged, err = tx.Session("chat-42").CommitOwned(ctx, "turn-7")
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(staged) == 1 && staged[0] == ref.ID)

	// Later, or at startup: forget intents a crash left uncommitted and
	// delete unreferenced blobs. The committed plot stays.
	rep, err := s.Reclaim(ctx, attachstore.ReclaimPolicy{Grace: 24 * time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	a, err := chat.Get(ctx, ref.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.ReclaimedBlobs, a.Label, len(a.Data))
	// Output:
	// true
	// 0 plot.png 29
}
