// Package testclock is the clock tests give to the Now (and Sleep) hooks of idshift's configuration structs: it
// moves only when told to, and a Sleep advances it at once, so tests of timing run instantly and deterministically.
package testclock

import (
	"context"
	"sync"
	"time"
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	t       time.Time
	slept   []time.Duration
	onSleep func(d time.Duration)
}

// New returns a clock showing t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Sleep records d and advances the clock by it at once (a non-positive d is recorded only). It returns ctx's error
// when ctx is done before or after the OnSleep hook runs. It suits sequential callers.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	f := c.onSleep
	c.mu.Unlock()
	if f != nil {
		f(d)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	if d > 0 {
		c.t = c.t.Add(d)
	}
	return nil
}

// OnSleep sets a hook that runs before each Sleep advances the clock (to inject events mid-wait); nil removes it.
func (c *Clock) OnSleep(f func(d time.Duration)) {
	c.mu.Lock()
	c.onSleep = f
	c.mu.Unlock()
}

// Sleeps returns the durations Sleep was called with, in order.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}
