package attachstore

import (
	"testing"
	"time"
)

func TestNextPer(t *testing.T) {
	for _, tc := range []struct {
		n    int
		took time.Duration
		want int
	}{
		{1, 0, orphanSlots},                            // too fast to measure
		{1, reclaimTxBudget / 10, 10},                  // room for ten
		{10, reclaimTxBudget / 2, 20},                  // twice as many fit
		{20, reclaimTxBudget * 2, 10},                  // took twice the budget: half
		{32, reclaimTxBudget / 100, orphanSlots},       // never more than the slots
		{1, reclaimTxBudget * 5, 1},                    // at least one
		{orphanSlots, reclaimTxBudget, orphanSlots},    // just fits
		{3, reclaimTxBudget + reclaimTxBudget/1000, 2}, // a little over: fewer
	} {
		if got := nextPer(tc.n, tc.took); got != tc.want {
			t.Errorf("nextPer(%d, %v) = %d, want %d", tc.n, tc.took, got, tc.want)
		}
	}
}
