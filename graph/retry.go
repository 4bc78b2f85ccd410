package graph

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter caps the wait taken from a Retry-After header, so that a wrong header cannot stall a run for
// hours. Graph's identity throttling windows are at most five minutes.
const MaxRetryAfter = 5 * time.Minute

// ParseRetryAfter parses a Retry-After header: delay-seconds, integer or fractional ("2.128", as Graph sends), or an
// HTTP date, relative to now. It reports false for an empty or malformed value. Negative delays and dates in the
// past give 0; delays above MaxRetryAfter are capped.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if c := v[0]; c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		if f <= 0 {
			return 0, true
		}
		if f >= MaxRetryAfter.Seconds() {
			return MaxRetryAfter, true
		}
		return time.Duration(f * float64(time.Second)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return min(d, MaxRetryAfter), true
}

// Backoff is exponential backoff with full jitter: attempt n (0-based) waits a uniformly random duration in
// [0, min(Max, Base·2ⁿ)).
type Backoff struct {
	Base, Max time.Duration
	// Rand returns a float in [0,1); nil means math/rand/v2.
	Rand func() float64
}

// Delay returns the wait before retry number attempt (0 for the first retry).
func (b Backoff) Delay(attempt int) time.Duration {
	ceil := b.Ceiling(attempt)
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return time.Duration(r() * float64(ceil))
}

// Ceiling is the upper bound of Delay(attempt).
func (b Backoff) Ceiling(attempt int) time.Duration {
	base, maxd := b.Base, b.Max
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if maxd <= 0 {
		maxd = 30 * time.Second
	}
	if attempt > 30 {
		attempt = 30
	}
	c := base << attempt
	if c <= 0 || c > maxd {
		c = maxd
	}
	return c
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
