//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
)

// unprivileged makes e run the binary as a user for whom a file of mode
// 0444 is read-only. Root writes any file whatever its mode, so a test
// running as root runs the binary as nobody, who may read the test's
// directory but not write it.
func (e *cliEnv) unprivileged() {
	e.t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	for _, d := range []string{e.dir, filepath.Dir(e.dir), filepath.Dir(binary)} {
		if err := os.Chmod(d, 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	e.attr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
}

// sharedDir makes a directory in e's that whoever runs the binary may
// write, and returns its path.
func (e *cliEnv) sharedDir(name string) string {
	e.t.Helper()
	d := filepath.Join(e.dir, name)
	if err := os.Mkdir(d, 0o777); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Chmod(d, 0o777); err != nil { // past the umask
		e.t.Fatal(err)
	}
	return d
}
