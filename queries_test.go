package attachstore

import (
	"os"
	"regexp"
	"testing"
)

// TestQueryParametersKeepPlans holds queries.go to its rule: a parameter
// that WHERE, ON or LIMIT compares is written +?, so that SQLite does not
// prepare the statement again for each value bound to it.
func TestQueryParametersKeepPlans(t *testing.T) {
	src, err := os.ReadFile("queries.go")
	if err != nil {
		t.Fatal(err)
	}
	// An assigned value is not compared: SET col = ? stays as it is.
	src = regexp.MustCompile(`SET \w+ = \?`).ReplaceAll(src, nil)
	bare := regexp.MustCompile(`(=|<>|<=|>=|<|>|\bIN \(|\bLIMIT)\s*\?`)
	for _, m := range bare.FindAll(src, -1) {
		t.Errorf("queries.go: %q: a compared parameter must be written +?", m)
	}
	if n := len(regexp.MustCompile(`\+\?`).FindAll(src, -1)); n < 20 {
		t.Errorf("queries.go has %d +? parameters; the rule is not being followed", n)
	}
}
