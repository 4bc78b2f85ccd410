package graph_test

import (
	"time"

	"github.com/idshift/idshift/internal/testclock"
)

// newFakeClock returns a virtual clock whose Sleep advances it at once; it suits sequential callers and records
// each sleep.
func newFakeClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
}
