package db

/*
#include <stdlib.h>
#include <string.h>

// The few SQLite functions this file calls, declared here because
// mattn/go-sqlite3 does not export them; they link against the SQLite the
// driver compiles in (or the system library it links with the libsqlite3
// tag). db is the driver's own sqlite3* handle.
typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_prepare_v2(void *db, const char *zSql, int nByte, sqlite3_stmt **ppStmt, const char **pzTail);
int sqlite3_bind_int64(sqlite3_stmt *s, int i, long long v);
int sqlite3_bind_blob(sqlite3_stmt *s, int i, const void *p, int n, void (*destructor)(void *));
int sqlite3_bind_parameter_count(sqlite3_stmt *s);
int sqlite3_clear_bindings(sqlite3_stmt *s);
int sqlite3_column_count(sqlite3_stmt *s);
int sqlite3_column_type(sqlite3_stmt *s, int i);
const void *sqlite3_column_blob(sqlite3_stmt *s, int i);
int sqlite3_column_bytes(sqlite3_stmt *s, int i);
int sqlite3_step(sqlite3_stmt *s);
int sqlite3_reset(sqlite3_stmt *s);
int sqlite3_finalize(sqlite3_stmt *s);
int sqlite3_extended_errcode(void *db);
const char *sqlite3_errmsg(void *db);
const char *sqlite3_db_filename(void *db, const char *zDbName);

// bind_blob binds a copy of p: SQLITE_TRANSIENT, so SQLite keeps no
// pointer into Go memory after the call. An empty value binds as an empty
// blob, not NULL.
static int bind_blob(sqlite3_stmt *s, int i, const void *p, int n) {
	if (p == 0) p = "";
	return sqlite3_bind_blob(s, i, p, n, (void (*)(void *))-1);
}

// step_copy steps s to its first row and copies up to n bytes of its first
// column, from byte off on, into p; then resets s, which ends the read
// transaction the step began. *size is the value's length, *got the bytes
// copied, *type its SQLite type. The result is SQLITE_ROW (100) when a row
// was read, SQLITE_DONE (101) when there was none, else an error code.
static int step_copy(sqlite3_stmt *s, void *p, int n, int off, int *size, int *got, int *type) {
	*size = 0;
	*got = 0;
	*type = 0;
	int rc = sqlite3_step(s);
	if (rc == 100) {
		*type = sqlite3_column_type(s, 0);
		if (*type == 4 || *type == 3) { // SQLITE_BLOB, SQLITE_TEXT
			const void *v = sqlite3_column_blob(s, 0);
			*size = sqlite3_column_bytes(s, 0);
			if (v == 0 && *size > 0) {
				rc = 7; // SQLITE_NOMEM: the value could not be read
			} else if (off < *size && n > 0) {
				if (n > *size - off) n = *size - off;
				memcpy(p, (const char *)v + off, n);
				*got = n;
			}
		}
	}
	int rc2 = sqlite3_reset(s);
	if (rc == 100 || rc == 101) return rc2 != 0 ? rc2 : rc;
	return rc;
}
*/
import "C"

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"unsafe"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// ErrNoRow reports that a ReadInto query returned no row.
var ErrNoRow = errors.New("attachstore: no row")

// ErrNotBlob reports a value that is neither a blob, nor text, nor NULL.
var ErrNotBlob = errors.New("attachstore: value is not a blob")

// ErrNoHandle reports that the driver's connection handle could not be
// reached, so ReadInto cannot run and the caller should read the value
// with an ordinary query. With the mattn/go-sqlite3 version in go.mod it
// does not happen (TestReadIntoReachesHandle).
var ErrNoHandle = errors.New("attachstore: the driver's connection handle is not reachable")

// handleField is the index of SQLiteConn's sqlite3* field, found once.
// mattn/go-sqlite3 keeps the handle in an unexported field and has no API
// that reads a value into a caller's buffer; reading the field through
// reflect is the one way to reach it. The field must be a pointer to cgo's
// struct sqlite3. If a driver version renames or retypes the field, the
// lookup fails, ReadInto returns ErrNoHandle and callers fall back to
// queries: slower, never wrong.
var handleField = sync.OnceValue(func() int {
	f, ok := reflect.TypeFor[sqlite3.SQLiteConn]().FieldByName("db")
	if !ok || len(f.Index) != 1 || f.Type.Kind() != reflect.Pointer ||
		f.Type.Elem().Name() != "_Ctype_struct_sqlite3" {
		return -1
	}
	return f.Index[0]
})

// handleOK records whether a handle read through handleField named the
// same database file as the driver's own GetFilename: proof, once per
// process, that the field is the sqlite3* it is taken to be. handleDone
// says the proof was made; a connection without a file name (an
// in-memory database) cannot make it.
var (
	handleMu   sync.Mutex
	handleDone bool
	handleOK   bool
)

// connHandle returns the sqlite3* of c, or nil when it cannot be reached
// or has not been shown to be right.
func connHandle(c *sqlite3.SQLiteConn) unsafe.Pointer {
	i := handleField()
	if i < 0 {
		return nil
	}
	h := reflect.ValueOf(c).Elem().Field(i).UnsafePointer()
	if h == nil {
		return nil
	}
	handleMu.Lock()
	defer handleMu.Unlock()
	if !handleDone {
		want := c.GetFilename("main")
		if want == "" {
			return nil
		}
		main := C.CString("main")
		defer C.free(unsafe.Pointer(main))
		handleOK = C.GoString(C.sqlite3_db_filename(h, main)) == want
		handleDone = true
	}
	if !handleOK {
		return nil
	}
	return h
}

// ReadFunc runs the query ReadInto prepared with args (int64 or []byte,
// one for each parameter) and copies into p the bytes of the first
// column of its first row from byte off on: min(len(p), size-off) of
// them, none when off is at or past the end. It returns how many it
// copied and the value's length. A NULL value has length 0.
type ReadFunc func(args []any, p []byte, off int) (n, size int, err error)

// ReadInto takes a connection of h, prepares query on it, and calls fn
// with a ReadFunc that runs it. Each run is a read transaction of its own
// (a single statement), so nothing stays locked between runs. The value
// goes from SQLite's buffer into p with one copy: the driver's own row
// path copies it into fresh Go memory first, which for a stream of large
// values is most of the cost (bench/RESULTS.md, "W5 warm read").
//
// A run that finds no row returns ErrNoRow, a value that is not a blob,
// text or NULL ErrNotBlob; other failures are sqlite3.Error values, as
// from a query. ctx is checked before each run. fn must not use the
// ReadFunc after it returns.
func ReadInto(ctx context.Context, h *sql.DB, query string, fn func(read ReadFunc) error) error {
	conn, err := h.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return ErrNoHandle
		}
		hdl := connHandle(sc)
		if hdl == nil {
			return ErrNoHandle
		}
		cq := C.CString(query)
		defer C.free(unsafe.Pointer(cq))
		var st *C.sqlite3_stmt
		if rc := C.sqlite3_prepare_v2(hdl, cq, -1, &st, nil); rc != 0 {
			return handleErr(hdl, int(rc))
		}
		defer C.sqlite3_finalize(st)
		if C.sqlite3_column_count(st) < 1 {
			return fmt.Errorf("attachstore: ReadInto: query returns no column")
		}
		nparams := int(C.sqlite3_bind_parameter_count(st))
		done := false
		defer func() { done = true }()
		return fn(func(args []any, p []byte, off int) (int, int, error) {
			if done {
				return 0, 0, errors.New("attachstore: ReadFunc used after ReadInto returned")
			}
			if err := ctx.Err(); err != nil {
				return 0, 0, err
			}
			if len(args) != nparams {
				return 0, 0, fmt.Errorf("attachstore: ReadInto: %d arguments for %d parameters", len(args), nparams)
			}
			if off < 0 || off > math.MaxInt32 || len(p) > math.MaxInt32 {
				return 0, 0, fmt.Errorf("attachstore: ReadInto: %d bytes at %d: out of range", len(p), off)
			}
			if err := bind(hdl, st, args); err != nil {
				return 0, 0, err
			}
			defer C.sqlite3_clear_bindings(st)
			var buf unsafe.Pointer
			if len(p) > 0 {
				buf = unsafe.Pointer(&p[0])
			}
			var size, got, typ C.int
			rc := C.step_copy(st, buf, C.int(len(p)), C.int(off), &size, &got, &typ)
			switch {
			case rc == 101: // SQLITE_DONE
				return 0, 0, ErrNoRow
			case rc != 100: // SQLITE_ROW
				return 0, 0, handleErr(hdl, int(rc))
			case typ != 3 && typ != 4 && typ != 5: // text, blob, NULL
				return 0, 0, fmt.Errorf("%w: SQLite type %d", ErrNotBlob, int(typ))
			}
			return int(got), int(size), nil
		})
	})
}

// bind binds args to st's parameters.
func bind(hdl unsafe.Pointer, st *C.sqlite3_stmt, args []any) error {
	for i, a := range args {
		var rc C.int
		switch v := a.(type) {
		case int64:
			rc = C.sqlite3_bind_int64(st, C.int(i+1), C.longlong(v))
		case []byte:
			if len(v) > math.MaxInt32 {
				return fmt.Errorf("attachstore: ReadInto: argument %d is too long", i+1)
			}
			var p unsafe.Pointer
			if len(v) > 0 {
				p = unsafe.Pointer(&v[0])
			}
			rc = C.bind_blob(st, C.int(i+1), p, C.int(len(v)))
		default:
			return fmt.Errorf("attachstore: ReadInto: argument %d of type %T", i+1, a)
		}
		if rc != 0 {
			return handleErr(hdl, int(rc))
		}
	}
	return nil
}

// handleErr turns a result code into the error the driver would have
// returned: a sqlite3.Error with SQLite's message.
func handleErr(hdl unsafe.Pointer, rc int) error {
	ext := int(C.sqlite3_extended_errcode(hdl))
	if ext&0xff != rc&0xff {
		ext = rc
	}
	msg := C.GoString(C.sqlite3_errmsg(hdl))
	return fmt.Errorf("%w: %s", sqlite3.Error{Code: sqlite3.ErrNo(rc & 0xff), ExtendedCode: sqlite3.ErrNoExtended(ext)}, msg)
}
