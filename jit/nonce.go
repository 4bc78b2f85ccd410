package jit

import (
	"container/list"
	"sync"
	"time"
)

// flight is one nonce's decision: done is closed once d is set.
type flight struct {
	done chan struct{}
	d    Decision
}

type nonceEntry struct {
	key string
	at  time.Time
	f   *flight
}

// nonceCache remembers the decision given to each nonce for a TTL, bounded in size (the oldest go first).
type nonceCache struct {
	mu      sync.Mutex
	cap     int
	ttl     time.Duration
	now     func() time.Time
	order   *list.List // oldest at the back
	entries map[string]*list.Element
}

func newNonceCache(capacity int, ttl time.Duration, now func() time.Time) *nonceCache {
	return &nonceCache{cap: capacity, ttl: ttl, now: now, order: list.New(), entries: make(map[string]*list.Element)}
}

// begin returns the flight of key and whether the caller is the first (and must decide and close done).
func (c *nonceCache) begin(key string) (*flight, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for e := c.order.Back(); e != nil; e = c.order.Back() {
		ne := e.Value.(*nonceEntry)
		if now.Sub(ne.at) < c.ttl && c.order.Len() <= c.cap {
			break
		}
		c.order.Remove(e)
		delete(c.entries, ne.key)
	}
	if e, ok := c.entries[key]; ok {
		return e.Value.(*nonceEntry).f, false
	}
	f := &flight{done: make(chan struct{})}
	c.entries[key] = c.order.PushFront(&nonceEntry{key: key, at: now, f: f})
	if c.order.Len() > c.cap {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.entries, old.Value.(*nonceEntry).key)
	}
	return f, true
}

// len returns the number of nonces remembered.
func (c *nonceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
