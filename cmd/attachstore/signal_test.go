//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestInterruptClosesStoreCleanly: a signal in the middle of a large put
// stores nothing, closes the store (its -wal and -shm files are gone, as
// a clean close leaves them) and exits 128+signal with one message.
func TestInterruptClosesStoreCleanly(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		sig  syscall.Signal
		code int
		msg  string
	}{
		{syscall.SIGINT, 130, "attachstore: interrupted\n"},
		{syscall.SIGTERM, 143, "attachstore: terminated\n"},
	} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			// A sparse file: a gigabyte of zeros that takes no disk, of
			// which the put writes only what it reaches before the signal.
			big := filepath.Join(e.dir, "big.bin")
			if err := os.WriteFile(big, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(big, 1<<30); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binary, "--db", e.db, "put", big)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()

			// Signal once the put has written a few MiB into the WAL.
			deadline := time.Now().Add(60 * time.Second)
			for {
				if fi, err := os.Stat(e.db + "-wal"); err == nil && fi.Size() > 8<<20 {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("the put ended before it could be interrupted: %v\n%s", err, stderr.String())
				default:
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatal("the put wrote nothing for a minute")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			<-done
			if code := cmd.ProcessState.ExitCode(); code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr.String())
			}
			if stderr.String() != tt.msg {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.msg)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q: nothing was stored, nothing should be printed", stdout.String())
			}
			for _, f := range []string{e.db + "-wal", e.db + "-shm"} {
				if fi, err := os.Stat(f); err == nil {
					t.Errorf("%s is left behind (%d bytes): the store was not closed cleanly", filepath.Base(f), fi.Size())
				}
			}
			if r := e.ok(nil, "ls"); r.stdout != "" {
				t.Errorf("an interrupted put stored something: %q", r.stdout)
			}
			e.ok(nil, "verify")
		})
	}
}
