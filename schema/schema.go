// Package schema holds attachstore's SQL migrations, embedded so that the
// library and the CLI carry their schema with them.
//
// Files follow golang-migrate's naming (NNNN_name.up.sql / NNNN_name.down.sql).
// Each file runs in one transaction and is safe to run twice (IF NOT EXISTS,
// copies that read whichever table exists), so that two processes opening a
// file at the same moment cannot fail each other's migration.
package schema

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS

// Version is the newest migration version in FS. A database whose recorded
// version is higher was written by a newer attachstore.
const Version = 4
