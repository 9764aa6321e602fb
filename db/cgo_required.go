//go:build !cgo

package db

// attachstore compiles SQLite (mattn/go-sqlite3) with cgo, so it needs a C
// compiler (gcc or clang) and CGO_ENABLED=1. Without a C compiler the go
// command turns cgo off, and the build stops at this line, whose name says
// what to do.
const _ = attachstore_needs_cgo__install_a_C_compiler_and_set_CGO_ENABLED_1
