package sandbox

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bucket is a token bucket refilled continuously at rate tokens per second up to capacity.
type bucket struct {
	tokens, capacity, rate float64
	last                   time.Time
}

func (b *bucket) refill(now time.Time) {
	if b.last.IsZero() {
		b.last = now
		return
	}
	if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(b.capacity, b.tokens+d*b.rate)
		b.last = now
	}
}

// wait is the time until one token is back.
func (b *bucket) wait() float64 { return (1 - b.tokens) / b.rate }

// throttle holds the write buckets: one per app per tenant and one per tenant across apps.
type throttle struct {
	mu       sync.Mutex
	limits   Limits
	tenantID string
	tenant   *bucket
	apps     map[string]*bucket
	ru       map[string]*bucket // resource units per app
}

func newThrottle(l Limits, tenantID string) *throttle {
	return &throttle{
		limits: l, tenantID: tenantID,
		tenant: &bucket{tokens: float64(l.TenantWrites), capacity: float64(l.TenantWrites), rate: float64(l.TenantWrites) / l.TenantWindow.Seconds()},
		apps:   map[string]*bucket{},
		ru:     map[string]*bucket{},
	}
}

// takeRU charges cost resource units to appID; capacity is the current bucket size (it follows tenant size).
func (th *throttle) takeRU(appID string, cost, capacity float64, now time.Time) (ok bool, wait float64) {
	th.mu.Lock()
	defer th.mu.Unlock()
	rate := capacity / th.limits.ResourceWindow.Seconds()
	b := th.ru[appID]
	if b == nil {
		b = &bucket{tokens: capacity, capacity: capacity, rate: rate}
		th.ru[appID] = b
	}
	b.refill(now)
	if capacity > b.capacity {
		b.tokens += capacity - b.capacity
	}
	b.capacity, b.rate = capacity, rate
	b.tokens = min(b.tokens, capacity)
	if b.tokens < cost {
		return false, (cost - b.tokens) / rate
	}
	b.tokens -= cost
	return true, 0
}

// take admits one write of appID at now, or says how long to wait and which scope is exhausted.
func (th *throttle) take(appID string, now time.Time) (ok bool, wait float64, scope string) {
	th.mu.Lock()
	defer th.mu.Unlock()
	a := th.apps[appID]
	if a == nil {
		l := th.limits
		a = &bucket{tokens: float64(l.AppWrites), capacity: float64(l.AppWrites), rate: float64(l.AppWrites) / l.AppWindow.Seconds()}
		th.apps[appID] = a
	}
	a.refill(now)
	th.tenant.refill(now)
	if a.tokens < 1 {
		return false, a.wait(), "Tenant_Application/ReadWrite/" + appID + "/" + th.tenantID
	}
	if th.tenant.tokens < 1 {
		return false, th.tenant.wait(), "Tenant/ReadWrite/" + th.tenantID
	}
	a.tokens--
	th.tenant.tokens--
	return true, 0, ""
}

// admitRU charges the resource units of c; it returns a 429 answer when the app's bucket cannot pay.
func (t *Tenant) admitRU(c *call) *result {
	ru := t.limits.ResourceUnits
	if ru == 0 || t.cfg.DisableThrottling {
		return nil
	}
	capacity := float64(ru)
	if ru < 0 {
		n := t.UserCount()
		switch {
		case n < 50:
			capacity = 3500
		case n <= 500:
			capacity = 5000
		default:
			capacity = 8000
		}
	}
	cost := 1.0
	head, _, _ := strings.Cut(strings.TrimPrefix(c.path, "/"), "/")
	if c.method == http.MethodGet && (head == "users" || strings.HasPrefix(head, "applications")) {
		cost = 2
		if c.query.Get("$select") != "" {
			cost--
		}
		if n, err := strconv.Atoi(c.query.Get("$top")); err == nil && n < 20 && cost > 1 {
			cost--
		}
	}
	cost = min(cost, capacity)
	if ok, wait := t.thr.takeRU(c.claims.AppID, cost, capacity, t.now()); !ok {
		t.nThrottled.Add(1)
		return t.throttled(c, wait, "Tenant_Application/ReadWrite/"+c.claims.AppID+"/"+t.cfg.TenantID, "ResourceUnitLimitExceeded")
	}
	return nil
}

// admitWrite charges one write to c's app; it returns a 429 answer when a bucket is empty.
func (t *Tenant) admitWrite(c *call) *result {
	if !t.cfg.DisableThrottling {
		if ok, wait, scope := t.thr.take(c.claims.AppID, t.now()); !ok {
			t.nThrottled.Add(1)
			return t.throttled(c, wait, scope, "WriteLimitExceeded")
		}
	}
	t.nWrites.Add(1)
	return nil
}

// faulter draws the fault decisions from one seeded generator.
type faulter struct {
	mu  sync.Mutex
	rnd *rand.Rand
}

func newFaulter(f Faults) *faulter {
	return &faulter{rnd: rand.New(rand.NewPCG(uint64(f.Seed), 0x5eed1d5f1f7))}
}

// draw reports whether a fault of probability p happens. A zero probability draws nothing, so enabling one
// kind of fault does not change the sequence of another's.
func (f *faulter) draw(_ string, p float64) bool {
	if p <= 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rnd.Float64() < p
}

func (f *faulter) float() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rnd.Float64()
}

func (f *faulter) shuffle(n int, swap func(i, j int)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rnd.Shuffle(n, swap)
}
