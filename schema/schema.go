// Package schema holds attachstore's SQL migrations, one directory per
// engine, embedded so that the library and the CLI carry their schema with
// them. Files follow golang-migrate's naming (NNNN_name.up.sql /
// NNNN_name.down.sql). The initial migrations, 0001_init, are frozen as
// released in 0.1.0: every later schema change is a new migration, with a
// test that upgrades a store the release before it wrote.
package schema

import "embed"

// FS holds the migrations: sqlite/ and postgres/.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS

// Version is the newest migration version. A database whose recorded
// version is higher was written by a newer attachstore.
const Version = 1
