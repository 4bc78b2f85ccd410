package testclock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idshift/idshift/internal/testclock"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := testclock.New(t0)
	c.Advance(time.Minute)
	if got := c.Now(); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("after Advance: %v", got)
	}
	hooked := 0
	c.OnSleep(func(time.Duration) { hooked++ })
	if err := c.Sleep(context.Background(), time.Second); err != nil || hooked != 1 || !c.Now().Equal(t0.Add(61*time.Second)) {
		t.Errorf("Sleep: %v, hook %d, now %v", err, hooked, c.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.OnSleep(func(time.Duration) { cancel() })
	if err := c.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || !c.Now().Equal(t0.Add(61*time.Second)) {
		t.Errorf("Sleep cancelled by the hook: %v, now %v", err, c.Now())
	}
	if s := c.Sleeps(); len(s) != 1 || s[0] != time.Second {
		t.Errorf("Sleeps = %v", s)
	}
	c.Set(t0)
	if !c.Now().Equal(t0) {
		t.Errorf("Set: %v", c.Now())
	}
}
