package attachstore

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// TestQueryParametersKeepPlans holds every statement to the rules of
// queries.go: a parameter that WHERE, ON or LIMIT compares is written +?N,
// so that SQLite does not prepare the statement again for each value bound
// to it; and parameters are numbered 1 to N with none left out, as
// PostgreSQL needs to know each one's type.
func TestQueryParametersKeepPlans(t *testing.T) {
	assigned := regexp.MustCompile(`SET \w+ = \?\d+`)
	bare := regexp.MustCompile(`(=|<>|<=|>=|<|>|\bIN \(|\bLIMIT)\s*\?`)
	param := regexp.MustCompile(`[?$](\d*)`)
	for _, s := range stmts {
		for _, m := range bare.FindAllString(assigned.ReplaceAllString(s.sqlite, ""), -1) {
			t.Errorf("%q: a compared parameter must be written +?N, in\n%s", m, s.sqlite)
		}
		for _, text := range []string{s.sqlite, s.pg} {
			var nums []int
			for _, m := range param.FindAllStringSubmatch(text, -1) {
				n, err := strconv.Atoi(m[1])
				if err != nil {
					t.Errorf("an unnumbered parameter in\n%s", text)
					continue
				}
				nums = append(nums, n)
			}
			slices.Sort(nums)
			nums = slices.Compact(nums)
			if len(nums) > 0 && nums[len(nums)-1] != len(nums) {
				t.Errorf("parameters %v: want 1 to %d, none left out, in\n%s", nums, len(nums), text)
			}
		}
	}
}
