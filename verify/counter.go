package verify

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/idshift/idshift"
)

// Outcome labels: how a Counter classes each call, in the order Stats lists them.
const (
	OutcomeMatch        = "match"         // (true, nil)
	OutcomeMismatch     = "mismatch"      // (false, nil)
	OutcomeLocked       = "locked"        // ErrLocked
	OutcomeMustChange   = "must_change"   // ErrMustChange
	OutcomeNoCredential = "no_credential" // ErrNoCredential
	OutcomeOpen         = "open"          // ErrOpen: refused by an open circuit, legacy system not asked
	OutcomeTimeout      = "timeout"       // context.DeadlineExceeded
	OutcomeError        = "error"         // any other failure to decide
)

// Outcomes lists every outcome label, for metrics that export a zero for each.
var Outcomes = []string{OutcomeMatch, OutcomeMismatch, OutcomeLocked, OutcomeMustChange, OutcomeNoCredential,
	OutcomeOpen, OutcomeTimeout, OutcomeError}

// Stats is a snapshot of one verifier's counters since it started. All counts only grow.
type Stats struct {
	// Calls counts calls by outcome label (every label of Outcomes is present).
	Calls map[string]uint64
	// LatencySum and LatencyCount give the mean latency of all calls (a Prometheus summary's _sum and _count).
	LatencySum   time.Duration
	LatencyCount uint64
}

// StatsReader is what the service's metrics read: one per verifier, named for the verifier label.
type StatsReader interface {
	Name() string
	Stats() Stats
}

// Counter wraps a Verifier and counts its calls by outcome, with their latency. It changes no answer. Safe for
// concurrent use; reading Stats is lock-free.
type Counter struct {
	v     idshift.Verifier
	name  string
	now   func() time.Time
	calls [8]atomic.Uint64 // indexed like Outcomes
	sum   atomic.Int64     // nanoseconds
	count atomic.Uint64
}

// NewCounter wraps v under a name (the metrics' verifier label). now is the clock; time.Now when nil.
func NewCounter(name string, v idshift.Verifier, now func() time.Time) *Counter {
	if now == nil {
		now = time.Now
	}
	return &Counter{v: v, name: name, now: now}
}

// Name implements StatsReader.
func (c *Counter) Name() string { return c.name }

// Stats implements StatsReader.
func (c *Counter) Stats() Stats {
	s := Stats{Calls: make(map[string]uint64, len(Outcomes))}
	for i, o := range Outcomes {
		s.Calls[o] = c.calls[i].Load()
	}
	s.LatencySum = time.Duration(c.sum.Load())
	s.LatencyCount = c.count.Load()
	return s
}

// Verify implements idshift.Verifier.
func (c *Counter) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	start := c.now()
	ok, err := c.v.Verify(ctx, rec, password)
	c.sum.Add(int64(c.now().Sub(start)))
	c.count.Add(1)
	c.calls[outcomeIndex(ok, err)].Add(1)
	return ok, err
}

// Classify returns the outcome label of one verifier answer.
func Classify(ok bool, err error) string { return Outcomes[outcomeIndex(ok, err)] }

func outcomeIndex(ok bool, err error) int {
	switch {
	case err == nil && ok:
		return 0
	case err == nil:
		return 1
	case errors.Is(err, ErrLocked):
		return 2
	case errors.Is(err, ErrMustChange):
		return 3
	case errors.Is(err, ErrNoCredential):
		return 4
	case errors.Is(err, ErrOpen):
		return 5
	case errors.Is(err, context.DeadlineExceeded):
		return 6
	default:
		return 7
	}
}

var (
	_ idshift.Verifier = (*Counter)(nil)
	_ StatsReader      = (*Counter)(nil)
)
