package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/idshift/idshift"
)

// ErrOpen is the error of a call a Breaker refused without asking the legacy system. It matches ErrUnavailable
// (errors.Is(err, ErrUnavailable) holds), so the service answers "try later"; metrics may tell it apart.
var ErrOpen = errors.New("verify: circuit open, legacy system not asked")

// Breaker defaults.
const (
	DefaultTimeout      = 3 * time.Second
	DefaultFailures     = 5
	DefaultFailureRatio = 0.5
	DefaultMinCalls     = 20
	DefaultWindow       = time.Minute
	DefaultCoolDown     = 30 * time.Second
)

// BreakerConfig configures a Breaker. Its zero value is usable: every field has a default.
//
// Example (YAML, beside a live check's own configuration):
//
//	breaker:
//	  timeout: 3s        # per call, inside the sign-in's own deadline
//	  failures: 5        # consecutive undecided calls that open the circuit
//	  failureRatio: 0.5  # or this share of undecided calls in a window...
//	  minCalls: 20       # ...once the window holds this many calls
//	  window: 1m
//	  coolDown: 30s      # open this long, then one probe call
type BreakerConfig struct {
	// Name names the wrapped verifier in logs and errors ("ldap", "webhook"). Default "legacy".
	Name string `yaml:"name" json:"name,omitempty"`
	// Timeout bounds each call. The caller's context deadline, when earlier, wins. Default 3s.
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Failures is the number of consecutive undecided calls (errors other than the legacy system's own answers,
	// timeouts included) that open the circuit. Default 5; negative turns this rule off.
	Failures int `yaml:"failures" json:"failures,omitempty"`
	// FailureRatio opens the circuit when at least this share of the calls of the current window were undecided,
	// once the window holds MinCalls calls. Default 0.5; negative turns this rule off.
	FailureRatio float64 `yaml:"failureRatio" json:"failureRatio,omitempty"`
	// MinCalls is the number of calls a window needs before FailureRatio applies. Default 20.
	MinCalls int `yaml:"minCalls" json:"minCalls,omitempty"`
	// Window is the length of the fixed windows FailureRatio counts over. Default 1 minute.
	Window time.Duration `yaml:"window" json:"window,omitempty"`
	// CoolDown is how long the circuit stays open before one probe call is let through. Default 30s.
	CoolDown time.Duration `yaml:"coolDown" json:"coolDown,omitempty"`
	// Now is the clock; time.Now when nil.
	Now func() time.Time `yaml:"-" json:"-"`
	// Logger receives the circuit's state changes (never a password); discarded when nil.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// BreakerState is the state of a Breaker's circuit.
type BreakerState int

const (
	// Closed: calls go through; failures are counted.
	Closed BreakerState = iota
	// Open: calls are answered at once with ErrOpen until the cool-down ends.
	Open
	// HalfOpen: the cool-down ended; one probe call goes through, the others are refused as in Open. The probe's
	// success closes the circuit, its failure opens it again.
	HalfOpen
)

func (s BreakerState) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}

// Breaker wraps a Verifier with a per-call timeout and a circuit breaker, so that a dead or slow legacy system is
// answered fast with ErrUnavailable, never with "wrong password" and never with a hang.
//
// Verify returns, besides the wrapped verifier's decided outcomes (match, mismatch, ErrLocked, ErrMustChange,
// ErrNoCredential) unchanged:
//   - an error matching ErrUnavailable and ErrOpen, at once, while the circuit is open;
//   - an error matching ErrUnavailable and context.DeadlineExceeded (or context.Canceled) when no answer came in
//     time: Verify returns then even when the wrapped verifier ignores its context (its goroutine finishes in
//     the background);
//   - an error matching ErrUnavailable and the cause for any other failure of the wrapped verifier.
//
// Only undecided calls count as failures; a call whose caller cancelled its context counts neither way. A Breaker
// is safe for concurrent use.
type Breaker struct {
	v        idshift.Verifier
	name     string
	timeout  time.Duration
	failures int
	ratio    float64
	minCalls int
	window   time.Duration
	coolDown time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu          sync.Mutex
	state       BreakerState
	consecutive int
	winStart    time.Time
	winCalls    int
	winFailed   int
	openUntil   time.Time
	probing     bool
}

// NewBreaker wraps v.
func NewBreaker(v idshift.Verifier, c BreakerConfig) *Breaker {
	b := &Breaker{v: v, name: c.Name, timeout: c.Timeout, failures: c.Failures, ratio: c.FailureRatio,
		minCalls: c.MinCalls, window: c.Window, coolDown: c.CoolDown, now: c.Now, log: c.Logger}
	if b.name == "" {
		b.name = "legacy"
	}
	if b.timeout <= 0 {
		b.timeout = DefaultTimeout
	}
	if b.failures == 0 {
		b.failures = DefaultFailures
	}
	if b.ratio == 0 {
		b.ratio = DefaultFailureRatio
	}
	if b.minCalls <= 0 {
		b.minCalls = DefaultMinCalls
	}
	if b.window <= 0 {
		b.window = DefaultWindow
	}
	if b.coolDown <= 0 {
		b.coolDown = DefaultCoolDown
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	return b
}

// State returns the circuit's state now (an open circuit whose cool-down ended reads HalfOpen).
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open && !b.now().Before(b.openUntil) {
		return HalfOpen
	}
	return b.state
}

// Verify implements idshift.Verifier; see Breaker for the errors.
func (b *Breaker) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, Unavailable(fmt.Errorf("verify: %s: %w", b.name, err))
	}
	probe, ok := b.admit()
	if !ok {
		return false, Unavailable(fmt.Errorf("verify: %s: %w", b.name, ErrOpen))
	}
	ok, err := b.call(ctx, rec, password)
	switch {
	case Decided(err):
		b.record(probe, outcomeSuccess)
	case errors.Is(ctx.Err(), context.Canceled):
		b.record(probe, outcomeNeutral)
	default:
		b.record(probe, outcomeFailure)
	}
	return ok, err
}

type result struct {
	ok  bool
	err error
}

func (b *Breaker) call(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	ch := make(chan result, 1)
	go func() {
		ok, err := b.v.Verify(cctx, rec, password)
		ch <- result{ok, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-cctx.Done():
		select {
		case r = <-ch: // the answer and the deadline came together: take the answer
		default:
			return false, Unavailable(fmt.Errorf("verify: %s: no answer in time: %w", b.name, cctx.Err()))
		}
	}
	if Decided(r.err) {
		return r.ok, r.err
	}
	return false, Unavailable(fmt.Errorf("verify: %s: %w", b.name, r.err))
}

// admit reports whether a call may proceed and whether it is the half-open probe.
func (b *Breaker) admit() (probe, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Closed:
		return false, true
	case Open:
		if b.now().Before(b.openUntil) {
			return false, false
		}
		b.state = HalfOpen
		b.probing = true
		b.log.Info("legacy verifier circuit half-open: probing", "verifier", b.name)
		return true, true
	default: // HalfOpen
		if b.probing {
			return false, false
		}
		b.probing = true
		return true, true
	}
}

type outcome int

const (
	outcomeSuccess outcome = iota
	outcomeFailure
	outcomeNeutral
)

func (b *Breaker) record(probe bool, o outcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if probe {
		b.probing = false
		switch o {
		case outcomeSuccess:
			b.state = Closed
			b.consecutive, b.winCalls, b.winFailed, b.winStart = 0, 0, 0, now
			b.log.Info("legacy verifier circuit closed", "verifier", b.name)
		case outcomeFailure:
			b.trip(now, "probe failed")
		}
		return
	}
	if b.state != Closed || o == outcomeNeutral {
		return // a call admitted before the circuit opened; it changes nothing now
	}
	if now.Sub(b.winStart) >= b.window || now.Before(b.winStart) {
		b.winStart, b.winCalls, b.winFailed = now, 0, 0
	}
	b.winCalls++
	if o == outcomeSuccess {
		b.consecutive = 0
		return
	}
	b.consecutive++
	b.winFailed++
	switch {
	case b.failures > 0 && b.consecutive >= b.failures:
		b.trip(now, "consecutive failures")
	case b.ratio > 0 && b.winCalls >= b.minCalls && float64(b.winFailed) >= b.ratio*float64(b.winCalls):
		b.trip(now, "failure ratio")
	}
}

func (b *Breaker) trip(now time.Time, why string) {
	b.state = Open
	b.openUntil = now.Add(b.coolDown)
	b.log.Warn("legacy verifier circuit open", "verifier", b.name, "reason", why,
		"consecutive", b.consecutive, "window_calls", b.winCalls, "window_failed", b.winFailed,
		"cool_down", b.coolDown)
	b.consecutive, b.winCalls, b.winFailed, b.winStart = 0, 0, 0, now
}

var _ idshift.Verifier = (*Breaker)(nil)
