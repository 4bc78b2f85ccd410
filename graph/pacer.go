package graph

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Limits are Graph's write limits for identity objects, which Graph enforces with token buckets: AppWrites per
// AppWindow for one app registration in one tenant, and TenantWrites per TenantWindow for the tenant across all
// its apps. Zero fields take the documented defaults (3,000 per 150 s and 18,000 per 300 s).
type Limits struct {
	AppWrites    int
	AppWindow    time.Duration
	TenantWrites int
	TenantWindow time.Duration
	// Burst is how much unused rate a bucket saves while idle, as a duration of its rate: after a pause a bucket
	// may send Burst worth of writes at once. Default 1s, and at most half the window, so that Graph's bucket
	// (which holds a whole window) keeps room for the writes still in flight when ours refills; at most the window.
	Burst time.Duration
	// Utilization is the fraction of the limits to aim at, in (0,1] (default 1).
	Utilization float64
}

// DefaultLimits are Graph's documented identity write limits.
var DefaultLimits = Limits{AppWrites: 3000, AppWindow: 150 * time.Second, TenantWrites: 18000, TenantWindow: 300 * time.Second,
	Utilization: 1}

func (l Limits) withDefaults() (Limits, error) {
	d := DefaultLimits
	if l.AppWrites == 0 {
		l.AppWrites = d.AppWrites
	}
	if l.AppWindow == 0 {
		l.AppWindow = d.AppWindow
	}
	if l.TenantWrites == 0 {
		l.TenantWrites = d.TenantWrites
	}
	if l.TenantWindow == 0 {
		l.TenantWindow = d.TenantWindow
	}
	if l.Utilization == 0 {
		l.Utilization = 1
	}
	switch {
	case l.AppWrites < 0:
		return l, fmt.Errorf("graph: Limits.AppWrites: must be positive")
	case l.AppWindow < 0:
		return l, fmt.Errorf("graph: Limits.AppWindow: must be positive")
	case l.TenantWrites < 0:
		return l, fmt.Errorf("graph: Limits.TenantWrites: must be positive")
	case l.TenantWindow < 0:
		return l, fmt.Errorf("graph: Limits.TenantWindow: must be positive")
	case l.Burst < 0:
		return l, fmt.Errorf("graph: Limits.Burst: must be positive")
	case l.Utilization < 0 || l.Utilization > 1:
		return l, fmt.Errorf("graph: Limits.Utilization: must be in (0,1]")
	}
	return l, nil
}

// Pacer paces writes to one tenant so that they stay under Graph's limits instead of running into 429s: one token
// bucket per app registration and one shared by the tenant. Every write (each inner request of a $batch) takes a
// token from its app's bucket and from the tenant's; a caller that finds a bucket empty waits its turn (callers are
// served in order). When a 429 arrives all the same, the bucket it names (x-ms-throttle-scope) is drained, its
// whole schedule is pushed back by Retry-After for everyone sharing it, and its rate is lowered for a while and then
// recovers.
//
// The zero value paces at DefaultLimits with the real clock. Share one Pacer between the Clients of a Pool (each
// with its own AppID) so that they share the tenant bucket. A Pacer is safe for concurrent use.
type Pacer struct {
	Limits Limits
	// Now and Sleep are the clock (default time.Now and a timer honouring ctx).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives throttling notices (default: discarded).
	Logger *slog.Logger

	once   sync.Once
	err    error
	mu     sync.Mutex
	lim    Limits
	tenant *bucket
	apps   map[string]*bucket
}

// NewPacer returns a Pacer with the given limits and the real clock.
func NewPacer(l Limits) *Pacer { return &Pacer{Limits: l} }

func (p *Pacer) init() error {
	p.once.Do(func() {
		p.lim, p.err = p.Limits.withDefaults()
		if p.Now == nil {
			p.Now = time.Now
		}
		if p.Sleep == nil {
			p.Sleep = sleepCtx
		}
		if p.Logger == nil {
			p.Logger = slog.New(slog.DiscardHandler)
		}
		p.tenant = newBucket("tenant", p.lim.TenantWrites, p.lim.TenantWindow, p.lim, p.Now())
		p.apps = make(map[string]*bucket)
	})
	return p.err
}

func (p *Pacer) app(id string) *bucket {
	b := p.apps[id]
	if b == nil {
		b = newBucket("app "+id, p.lim.AppWrites, p.lim.AppWindow, p.lim, p.Now())
		p.apps[id] = b
	}
	return b
}

// Wait blocks until n writes of app appID may be sent, or ctx is done (then it returns ctx's error and gives the
// tokens back). n ≤ 0 returns at once.
func (p *Pacer) Wait(ctx context.Context, appID string, n int) error {
	if n <= 0 {
		return ctx.Err()
	}
	if err := p.init(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	now := p.Now()
	ab, tb := p.app(appID), p.tenant
	// Each bucket queues the writes on its own; they go when both have served them. Tokens are taken now, so
	// that this pacer never counts on tokens a write already in line will use.
	wake := ab.reserve(now, float64(n))
	if w := tb.reserve(now, float64(n)); w.After(wake) {
		wake = w
	}
	aShift, tShift := ab.shift, tb.shift
	p.mu.Unlock()
	for {
		if d := wake.Sub(p.Now()); d > 0 {
			if err := p.Sleep(ctx, d); err != nil {
				p.mu.Lock()
				ab.cancel(float64(n))
				tb.cancel(float64(n))
				p.mu.Unlock()
				return err
			}
		}
		// A 429 that arrived meanwhile pushed the whole schedule back: follow it.
		p.mu.Lock()
		extra := max(ab.shift-aShift, tb.shift-tShift)
		aShift, tShift = ab.shift, tb.shift
		p.mu.Unlock()
		if extra <= 0 {
			return nil
		}
		wake = wake.Add(extra)
	}
}

// Throttled tells the pacer that a write of appID was answered 429 with the given x-ms-throttle-scope and
// Retry-After (0 when absent: a default pause of one second applies). A scope starting with "Tenant/" slows the
// tenant bucket; any other scope slows the app's bucket. 429s of one episode (arriving within the pause already
// applied) are counted once.
func (p *Pacer) Throttled(appID, scope string, retryAfter time.Duration) {
	if p.init() != nil {
		return
	}
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.app(appID)
	if strings.HasPrefix(scope, "Tenant/") {
		b = p.tenant
	}
	if b.throttle(p.Now(), retryAfter) {
		p.Logger.Info("graph: throttled; pausing writes", "bucket", b.name, "retryAfter", retryAfter, "scope", scope)
	}
}

// Available returns the writes appID could send now without waiting (negative when callers are queued): the
// smaller of its app bucket and the tenant bucket.
func (p *Pacer) Available(appID string) float64 {
	if p.init() != nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.Now()
	a := p.app(appID).level(now)
	return min(a, p.tenant.level(now))
}

// bucket is a token bucket with reservations: tokens may go negative (callers queued), and a reservation is due
// when the bucket has refilled back to zero. The state is (tokens at time last); a throttle pushes last into the
// future, and every sleeper with it (through shift).
type bucket struct {
	name   string
	rate   float64 // nominal tokens per second
	cap    float64
	window time.Duration
	tokens float64
	last   time.Time
	// shift is the total delay applied to the schedule by throttles; sleepers compare it to their snapshot.
	shift       time.Duration
	pausedUntil time.Time
	// factor lowers the rate after a throttle: factor0 at factorAt, recovering linearly to 1 over a window.
	factor0  float64
	factorAt time.Time
}

// minFactor is the lowest the adaptive rate goes, as a fraction of the nominal rate.
const minFactor = 0.25

func newBucket(name string, writes int, window time.Duration, l Limits, now time.Time) *bucket {
	rate := float64(writes) / window.Seconds() * l.Utilization
	burst := min(l.Burst, window)
	if l.Burst == 0 {
		burst = min(time.Second, window/2)
	}
	c := rate * burst.Seconds()
	if c < 1 {
		c = 1
	}
	return &bucket{name: name, rate: rate, cap: c, window: window, tokens: c, last: now, factor0: 1}
}

func (b *bucket) factor(now time.Time) float64 {
	if b.factor0 >= 1 {
		return 1
	}
	if !now.After(b.factorAt) {
		return b.factor0
	}
	rec := b.window
	f := b.factor0 + (1-b.factor0)*float64(now.Sub(b.factorAt))/float64(rec)
	if f >= 1 {
		b.factor0 = 1
		return 1
	}
	return f
}

func (b *bucket) advance(now time.Time) {
	if !now.After(b.last) {
		return
	}
	t := b.tokens + now.Sub(b.last).Seconds()*b.rate*b.factor(now)
	if t > b.cap {
		t = b.cap
	}
	b.tokens, b.last = t, now
}

// level is the tokens the bucket holds at now, counting the queue: negative when callers wait.
func (b *bucket) level(now time.Time) float64 {
	b.advance(now)
	if b.last.After(now) {
		return b.tokens - b.last.Sub(now).Seconds()*b.rate*b.factor(now)
	}
	return b.tokens
}

// reserve takes n tokens at now and returns when they are due: now if the bucket held them, else when it has
// refilled past the callers already queued.
func (b *bucket) reserve(now time.Time, n float64) time.Time {
	b.advance(now)
	b.tokens -= n
	start := b.last
	if start.Before(now) {
		start = now
	}
	if b.tokens >= 0 {
		return start
	}
	r := b.rate * b.factor(now)
	return start.Add(time.Duration(-b.tokens/r*float64(time.Second)) + slack)
}

// slack delays each queued write a little past the instant its tokens are due, so that rounding and the
// server's own clock never make the server see one token short. It shifts sends without lowering the rate.
const slack = 2 * time.Millisecond

// cancel gives back the tokens of a reservation that will not be used.
func (b *bucket) cancel(n float64) {
	b.tokens = min(b.tokens+n, b.cap)
}

// throttle pushes the schedule back so that nothing more is sent before now+ra, drains the bucket and lowers its
// rate. It reports false when the pause already covers now+ra (another 429 of the same episode).
func (b *bucket) throttle(now time.Time, ra time.Duration) bool {
	end := now.Add(ra)
	if !end.After(b.pausedUntil) {
		return false
	}
	d := ra
	if b.pausedUntil.After(now) {
		d = end.Sub(b.pausedUntil)
	}
	f := b.factor(now)
	b.advance(now)
	if b.tokens > 0 {
		b.tokens = 0
	}
	nf := max(minFactor, f*0.8)
	// The callers already queued were timed at the old rate: push the queue back by what it needs at the new
	// one, so that none of them goes before its turn at the lowered rate.
	if q := -b.tokens; q > 0 {
		d += time.Duration(q / b.rate * (1/nf - 1/f) * float64(time.Second))
	}
	if b.last.Before(now) {
		b.last = now
	}
	b.last = b.last.Add(d)
	b.shift += d
	b.pausedUntil = end
	b.factor0 = nf
	b.factorAt = end
	return true
}
