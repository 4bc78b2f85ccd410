package guard_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/idshift/idshift/guard"
)

// settle bounds every wait in these tests: generous, only there so that a bug hangs no test for ever.
const settle = 10 * time.Second

// acquireAsync runs Acquire in a goroutine.
func acquireAsync(s *guard.Slots, ctx context.Context, deadline time.Time) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		r, err := s.Acquire(ctx, deadline)
		ch <- acquired{r, err}
	}()
	return ch
}

type acquired struct {
	release func()
	err     error
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(settle)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func receive(t *testing.T, ch <-chan acquired) acquired {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(settle):
		t.Fatal("Acquire did not return")
		return acquired{}
	}
}

// measure teaches s a mean verification time of d.
func measure(t *testing.T, s *guard.Slots, c *clock, d time.Duration) {
	t.Helper()
	release, err := s.Acquire(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	c.Add(d)
	release()
	if got := s.Stats().Mean; got != d {
		t.Fatalf("mean %v, want %v", got, d)
	}
}

func TestSlotsDefaults(t *testing.T) {
	s := guard.SlotsConfig{}.Open()
	var releases []func()
	for range runtime.NumCPU() {
		r, err := s.Acquire(context.Background(), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	if got := s.Stats().InUse; got != runtime.NumCPU() {
		t.Fatalf("InUse = %d, want %d", got, runtime.NumCPU())
	}
	for _, r := range releases {
		r()
		r() // a second call does nothing
	}
	if got := s.Stats().InUse; got != 0 {
		t.Fatalf("InUse = %d after release, want 0", got)
	}
}

func TestSlotsShedsWhenTheEstimateMissesTheDeadline(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := guard.SlotsConfig{Max: 1, Now: c.Now}.Open()
	measure(t, s, c, time.Hour) // mean: one hour, on the controlled clock

	// A free slot: the estimate is one verification.
	if _, err := s.Acquire(ctx, c.Now().Add(time.Hour)); !errors.Is(err, guard.ErrShed) {
		t.Fatalf("one verification of 1h before a deadline in 1h: err = %v, want ErrShed", err)
	}
	hold, err := s.Acquire(ctx, c.Now().Add(time.Hour+time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// The slot is held: waiting for it (~1h) and verifying (1h) ends past a deadline 90 minutes away, so the
	// answer is immediate (waiting would take 90 real minutes and fail this test).
	a := receive(t, acquireAsync(s, ctx, c.Now().Add(90*time.Minute)))
	if !errors.Is(a.err, guard.ErrShed) {
		t.Fatalf("err = %v, want ErrShed", a.err)
	}
	// A deadline far enough: it waits, and gets the slot once it frees.
	ch := acquireAsync(s, ctx, c.Now().Add(3*time.Hour))
	waitFor(t, "a waiting caller", func() bool { return s.Stats().Waiting == 1 })
	// Behind one waiter, with one slot, the estimate is three verifications.
	if a := receive(t, acquireAsync(s, ctx, c.Now().Add(3*time.Hour))); !errors.Is(a.err, guard.ErrShed) {
		t.Fatalf("behind one waiter: err = %v, want ErrShed", a.err)
	}
	hold()
	a = receive(t, ch)
	if a.err != nil {
		t.Fatalf("waiting caller: %v", a.err)
	}
	a.release()
}

func TestSlotsShedsWhenTheQueueIsFull(t *testing.T) {
	ctx := context.Background()
	s := guard.SlotsConfig{Max: 1, Queue: 1}.Open()
	hold, err := s.Acquire(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ch := acquireAsync(s, ctx, time.Time{})
	waitFor(t, "a waiting caller", func() bool { return s.Stats().Waiting == 1 })
	if a := receive(t, acquireAsync(s, ctx, time.Time{})); !errors.Is(a.err, guard.ErrShed) {
		t.Fatalf("queue full: err = %v, want ErrShed", a.err)
	}
	hold()
	a := receive(t, ch)
	if a.err != nil {
		t.Fatal(a.err)
	}
	a.release()

	// No queue at all: a busy cap sheds at once.
	s = guard.SlotsConfig{Max: 1, Queue: -1}.Open()
	hold, err = s.Acquire(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	if a := receive(t, acquireAsync(s, ctx, time.Time{})); !errors.Is(a.err, guard.ErrShed) {
		t.Fatalf("no queue: err = %v, want ErrShed", a.err)
	}
}

func TestSlotsNeverWaitsPastTheDeadline(t *testing.T) {
	ctx := context.Background()
	s := guard.SlotsConfig{Max: 1}.Open() // real clock, no mean yet: nothing shed by estimate
	hold, err := s.Acquire(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	deadline := time.Now().Add(20 * time.Millisecond)
	a := receive(t, acquireAsync(s, ctx, deadline))
	if !errors.Is(a.err, guard.ErrShed) {
		t.Fatalf("err = %v, want ErrShed", a.err)
	}
	if time.Now().Before(deadline) {
		t.Fatal("shed before the deadline, with no estimate to go by")
	}
	if got := s.Stats().Waiting; got != 0 {
		t.Fatalf("Waiting = %d after the deadline, want 0", got)
	}
	// A deadline already past sheds at once.
	if _, err := s.Acquire(ctx, time.Now().Add(-time.Second)); !errors.Is(err, guard.ErrShed) {
		t.Fatalf("past deadline: err = %v, want ErrShed", err)
	}
}

func TestSlotsContextCanceled(t *testing.T) {
	s := guard.SlotsConfig{Max: 1}.Open()
	hold, err := s.Acquire(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	ctx, cancel := context.WithCancel(context.Background())
	ch := acquireAsync(s, ctx, time.Time{})
	waitFor(t, "a waiting caller", func() bool { return s.Stats().Waiting == 1 })
	cancel()
	if a := receive(t, ch); !errors.Is(a.err, context.Canceled) || errors.Is(a.err, guard.ErrShed) {
		t.Fatalf("err = %v, want context.Canceled", a.err)
	}
}

func TestSlotsCapConcurrency(t *testing.T) {
	const limit = 3
	s := guard.SlotsConfig{Max: limit, Queue: 1000}.Open()
	var mu sync.Mutex
	running, peak := 0, 0
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := s.Acquire(context.Background(), time.Time{})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			running--
			mu.Unlock()
			release()
		}()
	}
	wg.Wait()
	if peak > limit {
		t.Fatalf("%d verifications ran at once, cap %d", peak, limit)
	}
	if st := s.Stats(); st.InUse != 0 || st.Waiting != 0 {
		t.Fatalf("stats after all released: %+v", st)
	}
}

// measureKind teaches s a verification of kind that takes d.
func measureKind(t *testing.T, s *guard.Slots, c *clock, kind string, d time.Duration) {
	t.Helper()
	release, err := s.AcquireKind(context.Background(), kind, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	c.Add(d)
	release()
}

func TestSlotsKeepAMeanPerKind(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := guard.SlotsConfig{Max: 1, Now: c.Now}.Open()
	measureKind(t, s, c, "bcrypt$12", time.Hour)
	measureKind(t, s, c, "sha256", time.Minute)
	if got := s.Stats().Kinds; got["bcrypt$12"] != time.Hour || got["sha256"] != time.Minute {
		t.Fatalf("kinds = %v", got)
	}
	deadline := c.Now().Add(2 * time.Minute)
	release, err := s.AcquireKind(ctx, "sha256", deadline)
	if err != nil {
		t.Fatalf("a 1-minute kind before a deadline in 2 minutes: %v", err)
	}
	release()
	if _, err := s.AcquireKind(ctx, "bcrypt$12", deadline); !errors.Is(err, guard.ErrShed) {
		t.Fatalf("a 1-hour kind before a deadline in 2 minutes: err = %v, want ErrShed", err)
	}
	// A kind never measured is judged by the overall mean (here between the two).
	if m := s.Stats().Mean; m <= time.Minute || m >= time.Hour {
		t.Fatalf("overall mean %v", m)
	}
}

func TestSlotsShedWhenTheSlotComesTooLate(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := guard.SlotsConfig{Max: 1, Now: c.Now}.Open()
	measureKind(t, s, c, "k", 10*time.Minute)
	hold, err := s.Acquire(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// Admitted: the hold frees in about 10 minutes, then 10 of its own, before a deadline in 30.
	ch := acquireAsync2(s, ctx, "k", c.Now().Add(30*time.Minute))
	waitFor(t, "a waiting caller", func() bool { return s.Stats().Waiting == 1 })
	c.Add(25 * time.Minute) // the held verification runs long
	hold()
	a := receive(t, ch)
	if !errors.Is(a.err, guard.ErrShed) {
		t.Fatalf("slot granted 5 minutes before the deadline for a 10-minute verification: err = %v, want ErrShed", a.err)
	}
	if st := s.Stats(); st.InUse != 0 || st.Kinds["k"] != 10*time.Minute {
		t.Fatalf("after a late grant: %+v; want the slot back and nothing measured", st)
	}
	// The slot it gave back is free for the next caller at once.
	release, err := s.AcquireKind(ctx, "k", c.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	release()
}

func acquireAsync2(s *guard.Slots, ctx context.Context, kind string, deadline time.Time) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		r, err := s.AcquireKind(ctx, kind, deadline)
		ch <- acquired{r, err}
	}()
	return ch
}
