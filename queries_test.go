package attachstore

import (
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"regexp"
	"strings"
	"testing"
)

// bareParam is a parameter the query planner may look at: an equality or
// IS operand, or a LIMIT or OFFSET. SQLite then marks the statement to be
// prepared again whenever that parameter is rebound, and mattn/go-sqlite3
// clears every statement's bindings before each run (sqlite3_clear_bindings
// expires such a statement), so the statement is parsed and planned anew on
// every call: 8–20 µs, more than the rest of a warm Get. Written +?N the
// parameter is an expression the planner does not inspect, and the plan
// (an index seek on the column) is the same.
var bareParam = regexp.MustCompile(`(?i)(=|\bIS|\bLIMIT|\bOFFSET)\s*\?`)

// TestQueryParametersKeepPlans checks every query constant in queries.go
// writes its WHERE, ON, LIMIT and OFFSET parameters as +?N. Assignments
// (SET col = ?) and VALUES lists come before any WHERE and are not
// planned on.
func TestQueryParametersKeepPlans(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "queries.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Type-check the file alone, so constants built by concatenation
	// (qSessionGet + qLastKey) are checked as the driver sees them.
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}}
	if _, err := (&types.Config{}).Check("attachstore", fset, []*ast.File{f}, info); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for ident, obj := range info.Defs {
		c, ok := obj.(*types.Const)
		if !ok || c.Val().Kind() != constant.String {
			continue
		}
		q := constant.StringVal(c.Val())
		// The planned part starts at the first WHERE, ON or LIMIT.
		start := -1
		for _, kw := range []string{"WHERE", " ON ", "LIMIT"} {
			if i := strings.Index(q, kw); i >= 0 && (start < 0 || i < start) {
				start = i
			}
		}
		if start < 0 {
			continue
		}
		planned := q[start:]
		checked++
		if m := bareParam.FindString(planned); m != "" {
			t.Errorf("%s: %q takes a bare parameter; write +?N:\n%s", ident.Name, m, q)
		}
	}
	if checked < 20 {
		t.Errorf("checked %d queries; the parse of queries.go found too few", checked)
	}
}
