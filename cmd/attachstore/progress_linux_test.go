package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair, or skips the test where the
// system has none to give.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("naming the pseudo-terminal: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	return m, s
}

// runOnTerminal runs the binary with stderr on a terminal (stdout stays a
// pipe) and returns what each received.
func (e *cliEnv) runOnTerminal(args ...string) (stdout, terminal string, code int) {
	e.t.Helper()
	master, slave := openPTY(e.t)
	defer master.Close()
	cmd := exec.Command(binary, append([]string{"--db", e.db}, args...)...)
	cmd.Dir = e.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, slave
	if err := cmd.Start(); err != nil {
		slave.Close()
		e.t.Fatal(err)
	}
	slave.Close()
	read := make(chan string)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, master) // ends with EIO once the child closes the terminal
		read <- b.String()
	}()
	err := cmd.Wait()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		e.t.Fatal(err)
	}
	return out.String(), <-read, cmd.ProcessState.ExitCode()
}

// TestProgressOnTerminal: on a terminal, large transfers, verify and
// reclaim draw a bar on stderr and erase it when done; stdout gets only
// the results.
func TestProgressOnTerminal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := e.file("big.bin", pseudoRandom(3<<20, 26))
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"put", "--session", "s", big}, "put " + big},
		{[]string{"get", sha(pseudoRandom(3<<20, 26)), "-o", "copy.bin"}, "get "},
		{[]string{"verify"}, "verify"},
		{[]string{"reclaim", "--dry-run"}, "reclaim"},
		{[]string{"export", "--session", "s", "exported"}, "export big.bin"},
	} {
		stdout, term, code := e.runOnTerminal(tt.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d; terminal %q", tt.args, code, term)
		}
		if !strings.Contains(term, tt.want) || !strings.Contains(term, "\r") {
			t.Errorf("%v: no progress bar %q on the terminal: %q", tt.args, tt.want, term)
		}
		if strings.Contains(stdout, "\r") || strings.Contains(stdout, "%") && tt.args[0] != "verify" {
			t.Errorf("%v: the bar reached stdout: %q", tt.args, stdout)
		}
	}
	// A small put draws nothing: it is over before a bar could say anything.
	if _, term, _ := e.runOnTerminal("put", e.file("small.txt", []byte("small"))); term != "" {
		t.Errorf("a small put drew %q", term)
	}
}
