package verify_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/verify"
)

// fake is a Verifier answering what its function says, counting its calls.
type fake struct {
	calls atomic.Int64
	fn    func(ctx context.Context, password string) (bool, error)
}

func (f *fake) Verify(ctx context.Context, _ *idshift.Record, password string) (bool, error) {
	f.calls.Add(1)
	return f.fn(ctx, password)
}

func answer(ok bool, err error) *fake {
	return &fake{fn: func(context.Context, string) (bool, error) { return ok, err }}
}

// clock is a manual clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var rec = &idshift.Record{Key: idshift.Key{Source: "ldap", LegacyID: "u1"}, SignInNames: []string{"ada@example.com"}}

func TestBreakerOpensOnConsecutiveFailures(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	down := errors.New("connection refused")
	inner := answer(false, down)
	b := verify.NewBreaker(inner, verify.BreakerConfig{Name: "test", Failures: 3, FailureRatio: -1, CoolDown: 10 * time.Second, Now: clk.Now})
	for i := range 3 {
		ok, err := b.Verify(context.Background(), rec, "pw")
		if ok || !errors.Is(err, verify.ErrUnavailable) || !errors.Is(err, down) || errors.Is(err, verify.ErrOpen) {
			t.Fatalf("call %d: got (%v, %v), want unavailable wrapping the cause", i, ok, err)
		}
		if !errors.Is(err, idshift.ErrUnavailable) {
			t.Fatalf("call %d: %v does not match idshift.ErrUnavailable", i, err)
		}
	}
	if s := b.State(); s != verify.Open {
		t.Fatalf("state after 3 failures = %v, want open", s)
	}
	ok, err := b.Verify(context.Background(), rec, "pw")
	if ok || !errors.Is(err, verify.ErrOpen) || !errors.Is(err, verify.ErrUnavailable) {
		t.Fatalf("open circuit: got (%v, %v), want ErrOpen", ok, err)
	}
	if n := inner.calls.Load(); n != 3 {
		t.Fatalf("inner called %d times, want 3 (the open circuit must not ask)", n)
	}

	// Cool-down over: one probe; it fails, the circuit opens again.
	clk.Advance(10 * time.Second)
	if s := b.State(); s != verify.HalfOpen {
		t.Fatalf("state after cool-down = %v, want half-open", s)
	}
	if _, err := b.Verify(context.Background(), rec, "pw"); !errors.Is(err, down) {
		t.Fatalf("probe: got %v, want the cause", err)
	}
	if _, err := b.Verify(context.Background(), rec, "pw"); !errors.Is(err, verify.ErrOpen) {
		t.Fatalf("after failed probe: got %v, want ErrOpen", err)
	}

	// Next cool-down: the probe succeeds, the circuit closes.
	inner.fn = func(context.Context, string) (bool, error) { return true, nil }
	clk.Advance(10 * time.Second)
	if ok, err := b.Verify(context.Background(), rec, "pw"); !ok || err != nil {
		t.Fatalf("probe: got (%v, %v), want match", ok, err)
	}
	if s := b.State(); s != verify.Closed {
		t.Fatalf("state after good probe = %v, want closed", s)
	}
}

func TestBreakerHalfOpenLetsOneProbe(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	release := make(chan struct{})
	var fail atomic.Bool
	fail.Store(true)
	inner := &fake{fn: func(ctx context.Context, _ string) (bool, error) {
		if fail.Load() {
			return false, errors.New("down")
		}
		<-release
		return false, nil
	}}
	b := verify.NewBreaker(inner, verify.BreakerConfig{Failures: 1, CoolDown: time.Second, Now: clk.Now})
	b.Verify(context.Background(), rec, "pw")
	fail.Store(false)
	clk.Advance(time.Second)
	done := make(chan error, 1)
	go func() { _, err := b.Verify(context.Background(), rec, "pw"); done <- err }()
	for inner.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if _, err := b.Verify(context.Background(), rec, "pw"); !errors.Is(err, verify.ErrOpen) {
		t.Fatalf("second call while probing: got %v, want ErrOpen", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if s := b.State(); s != verify.Closed {
		t.Fatalf("state = %v, want closed", s)
	}
}

func TestBreakerFailureRatio(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	var n atomic.Int64
	inner := &fake{fn: func(context.Context, string) (bool, error) {
		if n.Add(1)%2 == 0 {
			return false, errors.New("flaky")
		}
		return false, nil
	}}
	b := verify.NewBreaker(inner, verify.BreakerConfig{Failures: -1, FailureRatio: 0.5, MinCalls: 10, Window: time.Minute, Now: clk.Now})
	for i := range 9 {
		b.Verify(context.Background(), rec, "pw")
		if s := b.State(); s != verify.Closed {
			t.Fatalf("call %d: state %v before MinCalls", i, s)
		}
	}
	b.Verify(context.Background(), rec, "pw") // 10th call, 5 failures of 10
	if s := b.State(); s != verify.Open {
		t.Fatalf("state after 5/10 failures = %v, want open", s)
	}
}

func TestBreakerWindowResets(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	var n atomic.Int64
	inner := &fake{fn: func(context.Context, string) (bool, error) {
		if n.Add(1)%2 == 0 {
			return false, errors.New("flaky")
		}
		return true, nil
	}}
	b := verify.NewBreaker(inner, verify.BreakerConfig{Failures: -1, MinCalls: 10, Window: time.Minute, Now: clk.Now})
	for range 20 {
		b.Verify(context.Background(), rec, "pw")
		clk.Advance(10 * time.Second) // each window holds 6 calls, never MinCalls
	}
	if s := b.State(); s != verify.Closed {
		t.Fatalf("state = %v, want closed (no window reached MinCalls)", s)
	}
}

func TestBreakerDecidedAnswersDoNotTrip(t *testing.T) {
	for _, err := range []error{nil, verify.ErrLocked, verify.ErrMustChange, fmt.Errorf("hash: %w", verify.ErrNoCredential)} {
		inner := answer(false, err)
		b := verify.NewBreaker(inner, verify.BreakerConfig{Failures: 1})
		for range 3 {
			_, got := b.Verify(context.Background(), rec, "pw")
			if !errors.Is(got, err) || errors.Is(got, verify.ErrUnavailable) {
				t.Fatalf("answer %v came back as %v", err, got)
			}
		}
		if s := b.State(); s != verify.Closed {
			t.Fatalf("answer %v opened the circuit", err)
		}
	}
}

func TestBreakerTimeoutNeverHangs(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	inner := &fake{fn: func(context.Context, string) (bool, error) {
		<-block // ignores its context on purpose
		return true, nil
	}}
	b := verify.NewBreaker(inner, verify.BreakerConfig{Timeout: 50 * time.Millisecond, Failures: 2})
	start := time.Now()
	ok, err := b.Verify(context.Background(), rec, "pw")
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("Verify took %v with a 50ms timeout", el)
	}
	if ok || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, verify.ErrUnavailable) {
		t.Fatalf("got (%v, %v), want unavailable + deadline exceeded", ok, err)
	}
	// The caller's earlier deadline wins over the breaker's timeout.
	b2 := verify.NewBreaker(inner, verify.BreakerConfig{Timeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := b2.Verify(ctx, rec, "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("caller deadline ignored: %v", el)
	}
	// Timeouts count as failures: the second opens the circuit.
	b.Verify(context.Background(), rec, "pw")
	if s := b.State(); s != verify.Open {
		t.Fatalf("state after 2 timeouts = %v, want open", s)
	}
}

func TestBreakerCallerCancelIsNeutral(t *testing.T) {
	inner := &fake{fn: func(ctx context.Context, _ string) (bool, error) {
		<-ctx.Done()
		return false, ctx.Err()
	}}
	b := verify.NewBreaker(inner, verify.BreakerConfig{Failures: 1})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	if _, err := b.Verify(ctx, rec, "pw"); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want canceled", err)
	}
	if s := b.State(); s != verify.Closed {
		t.Fatalf("a caller's cancel opened the circuit")
	}
	// An already cancelled context is refused without a call.
	if _, err := b.Verify(ctx, rec, "pw"); !errors.Is(err, context.Canceled) || inner.calls.Load() != 1 {
		t.Fatalf("got %v after %d calls", err, inner.calls.Load())
	}
}

func TestBreakerConcurrent(t *testing.T) {
	var n atomic.Int64
	inner := &fake{fn: func(context.Context, string) (bool, error) {
		if n.Add(1)%3 == 0 {
			return false, errors.New("flaky")
		}
		return true, nil
	}}
	b := verify.NewBreaker(inner, verify.BreakerConfig{CoolDown: time.Millisecond})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				ok, err := b.Verify(context.Background(), rec, "pw")
				if !ok && err == nil {
					t.Error("a failure came back as a mismatch")
				}
			}
		})
	}
	wg.Wait()
}

func TestChain(t *testing.T) {
	noCred := fmt.Errorf("pwhash: %w", verify.ErrNoCredential)
	down := errors.New("down")
	tests := []struct {
		name       string
		chain      verify.Chain
		wantOK     bool
		wantErr    error
		wantCalled []int64 // calls per verifier
	}{
		{"hash matches", verify.Chain{answer(true, nil), answer(false, down)}, true, nil, []int64{1, 0}},
		{"hash mismatch is final", verify.Chain{answer(false, nil), answer(true, nil)}, false, nil, []int64{1, 0}},
		{"hash error is final", verify.Chain{answer(false, down), answer(true, nil)}, false, down, []int64{1, 0}},
		{"no hash: live check", verify.Chain{answer(false, noCred), answer(true, nil)}, true, nil, []int64{1, 1}},
		{"no hash: live mismatch", verify.Chain{answer(false, noCred), answer(false, nil)}, false, nil, []int64{1, 1}},
		{"no hash: live locked", verify.Chain{answer(false, noCred), answer(false, verify.ErrLocked)}, false, verify.ErrLocked, []int64{1, 1}},
		{"nobody has one", verify.Chain{answer(false, noCred), answer(false, verify.ErrNoCredential)}, false, verify.ErrNoCredential, []int64{1, 1}},
		{"empty", verify.Chain{}, false, verify.ErrNoCredential, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := tt.chain.Verify(context.Background(), rec, "pw")
			if ok != tt.wantOK || (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("got (%v, %v), want (%v, %v)", ok, err, tt.wantOK, tt.wantErr)
			}
			for i, want := range tt.wantCalled {
				if got := tt.chain[i].(*fake).calls.Load(); got != want {
					t.Errorf("verifier %d called %d times, want %d", i, got, want)
				}
			}
		})
	}
}

func TestBySource(t *testing.T) {
	m := verify.BySource{"ldap": answer(true, nil)}
	if ok, err := m.Verify(context.Background(), rec, "pw"); !ok || err != nil {
		t.Fatalf("ldap source: (%v, %v)", ok, err)
	}
	other := &idshift.Record{Key: idshift.Key{Source: "csv", LegacyID: "u1"}}
	if _, err := m.Verify(context.Background(), other, "pw"); !errors.Is(err, verify.ErrNoCredential) {
		t.Fatalf("unknown source: %v", err)
	}
}

func TestCounter(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	answers := []struct {
		ok  bool
		err error
	}{
		{true, nil}, {true, nil}, {false, nil},
		{false, verify.ErrLocked}, {false, verify.ErrMustChange}, {false, verify.ErrNoCredential},
		{false, verify.Unavailable(verify.ErrOpen)}, {false, verify.Unavailable(context.DeadlineExceeded)},
		{false, errors.New("boom")},
	}
	i := 0
	inner := &fake{fn: func(context.Context, string) (bool, error) {
		a := answers[i]
		i++
		clk.Advance(5 * time.Millisecond)
		return a.ok, a.err
	}}
	c := verify.NewCounter("ldap", inner, clk.Now)
	for range answers {
		c.Verify(context.Background(), rec, "pw")
	}
	s := c.Stats()
	want := map[string]uint64{"match": 2, "mismatch": 1, "locked": 1, "must_change": 1, "no_credential": 1, "open": 1, "timeout": 1, "error": 1}
	for k, v := range want {
		if s.Calls[k] != v {
			t.Errorf("%s = %d, want %d", k, s.Calls[k], v)
		}
	}
	if len(s.Calls) != len(verify.Outcomes) {
		t.Errorf("Calls has %d labels, want %d", len(s.Calls), len(verify.Outcomes))
	}
	if s.LatencyCount != 9 || s.LatencySum != 45*time.Millisecond {
		t.Errorf("latency = %v over %d, want 45ms over 9", s.LatencySum, s.LatencyCount)
	}
	if c.Name() != "ldap" {
		t.Errorf("name %q", c.Name())
	}
}

func TestUnavailable(t *testing.T) {
	if verify.Unavailable(nil) != nil {
		t.Fatal("Unavailable(nil) != nil")
	}
	cause := errors.New("x")
	err := verify.Unavailable(cause)
	if !errors.Is(err, cause) || !errors.Is(err, verify.ErrUnavailable) || !errors.Is(err, idshift.ErrUnavailable) {
		t.Fatalf("%v matches neither", err)
	}
	if verify.Unavailable(err) != err {
		t.Fatal("double wrapping")
	}
}

// BenchmarkBreaker measures what a Counter and a Breaker add around a verifier that answers at once.
func BenchmarkBreaker(b *testing.B) {
	inner := answer(true, nil)
	v := verify.NewCounter("bench", verify.NewBreaker(inner, verify.BreakerConfig{}), nil)
	for b.Loop() {
		if ok, err := v.Verify(context.Background(), rec, "pw"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
