package guard

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/idshift/idshift"
)

// Memory is the guard of one process. Its memory is bounded: a counter is dropped once it has been idle longer
// than the longest window or lock, and at most Config.MaxKeys counters are kept (past that the one written least
// recently is evicted, with any lock it holds: flooding the guard with that many fresh keys can end a lock early,
// the price of a bound). Each counter keeps at most its scope's Failures-1 timestamps.
//
// Safe for concurrent use.
type Memory struct {
	cfg  Config
	idle int64 // ms after its last write that a counter is surely expired

	mu      sync.Mutex
	entries map[keyID]*entry
	order   list.List // of *entry, least recently written first
}

type entry struct {
	id      keyID
	fails   []int64 // failure times (ms), ascending
	until   int64   // end of the lock (ms); not locked when <= now
	written int64   // last write (ms)
	elem    *list.Element
}

// OpenMemory returns a Memory guard with c's settings, defaults filled.
func (c Config) OpenMemory() (*Memory, error) {
	cfg, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	var idle time.Duration
	for _, l := range []Limit{cfg.Pair, cfg.Account, cfg.IP} {
		idle = max(idle, l.Window, l.LockFor)
	}
	return &Memory{cfg: cfg, idle: idle.Milliseconds(), entries: make(map[keyID]*entry)}, nil
}

// Check reports the lock in force for the attempt, if any, without counting anything.
func (m *Memory) Check(ctx context.Context, account, ip string) (idshift.Lock, error) {
	if err := ctx.Err(); err != nil {
		return idshift.Lock{}, err
	}
	ts := m.cfg.targets(account, ip)
	now := millis(m.cfg.Now())
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.locked(ts, now), nil
}

// Fail counts one failure in each of the attempt's scopes and returns the lock it caused (the one ending last, the
// broadest on a tie). While a scope is already locked it counts nothing and returns that lock.
func (m *Memory) Fail(ctx context.Context, account, ip string) (idshift.Lock, error) {
	if err := ctx.Err(); err != nil {
		return idshift.Lock{}, err
	}
	ts := m.cfg.targets(account, ip)
	now := millis(m.cfg.Now())
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	if l := m.locked(ts, now); l.Locked {
		return l, nil
	}
	var caused idshift.Lock
	var causedUntil int64
	for _, t := range ts {
		e := m.write(t.id, now)
		cut := now - t.limit.Window.Milliseconds()
		i := 0
		for i < len(e.fails) && e.fails[i] <= cut {
			i++
		}
		e.fails = e.fails[i:]
		if len(e.fails)+1 >= t.limit.Failures {
			e.fails = e.fails[:0]
			e.until = now + t.limit.LockFor.Milliseconds()
			if e.until > causedUntil {
				caused, causedUntil = lockOf(t.scope, e.until), e.until
			}
			continue
		}
		e.fails = append(e.fails, now)
	}
	return caused, nil
}

// Succeed clears the (account, ip) counter. A lock in force stays.
func (m *Memory) Succeed(ctx context.Context, account, ip string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if account == "" || ip == "" {
		return nil
	}
	id := digest(scopePair, account, ip)
	now := millis(m.cfg.Now())
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[id]
	if e == nil {
		return nil
	}
	if e.until > now {
		e.fails = nil
		return nil
	}
	m.remove(e)
	return nil
}

// Len returns the number of counters held (for metrics and tests).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// locked returns the lock in force among ts: the one ending last, the first of ts on a tie.
func (m *Memory) locked(ts []target, now int64) idshift.Lock {
	var l idshift.Lock
	var until int64
	for _, t := range ts {
		if e := m.entries[t.id]; e != nil && e.until > now && e.until > until {
			l, until = lockOf(t.scope, e.until), e.until
		}
	}
	return l
}

// write returns id's entry, created if need be, marked as written now.
func (m *Memory) write(id keyID, now int64) *entry {
	e := m.entries[id]
	if e != nil {
		e.written = now
		m.order.MoveToBack(e.elem)
		return e
	}
	for len(m.entries) >= m.cfg.MaxKeys {
		m.remove(m.order.Front().Value.(*entry))
	}
	e = &entry{id: id, written: now}
	e.elem = m.order.PushBack(e)
	m.entries[id] = e
	return e
}

// sweep drops the counters idle for longer than any window or lock.
func (m *Memory) sweep(now int64) {
	for f := m.order.Front(); f != nil; f = m.order.Front() {
		e := f.Value.(*entry)
		if now-e.written < m.idle {
			return
		}
		m.remove(e)
	}
}

func (m *Memory) remove(e *entry) {
	m.order.Remove(e.elem)
	delete(m.entries, e.id)
}

var _ idshift.Guard = (*Memory)(nil)
