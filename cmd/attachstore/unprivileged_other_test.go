//go:build !unix

package main

func (e *cliEnv) unprivileged() {
	e.t.Helper()
	e.t.Skip("file modes do not make a file read-only here")
}

func (e *cliEnv) sharedDir(name string) string {
	e.t.Helper()
	e.t.Skip("file modes do not make a file read-only here")
	return ""
}
