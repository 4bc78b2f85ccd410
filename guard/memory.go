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
// the price of a bound). Each counter keeps at most its scope's Failures timestamps (failures and reservations).
// Reserve and the settlement of a reservation are one step each under the guard's mutex; they never wait, and a
// Reservation's methods ignore their context.
//
// Safe for concurrent use.
type Memory struct {
	cfg  Config
	idle int64 // ms after its last write that a counter is surely expired
	hold int64 // Config.Hold in ms

	mu      sync.Mutex
	entries map[keyID]*entry
	order   list.List // of *entry, least recently written first
	lastID  uint64    // of reservations
}

type entry struct {
	id      keyID
	fails   []int64 // failure times (ms), ascending
	holds   []hold  // reservations not settled yet
	until   int64   // end of the lock (ms); not locked when <= now
	written int64   // last write (ms)
	elem    *list.Element
}

// hold is a reservation's place in a counter.
type hold struct {
	id uint64
	at int64 // ms
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
	return &Memory{cfg: cfg, idle: idle.Milliseconds(), hold: cfg.Hold.Milliseconds(), entries: make(map[keyID]*entry)}, nil
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

// Reserve takes a place in each of the attempt's windows, atomically with the lock check, and returns it: it
// counts as a failure until settled. A lock in force, or a scope whose failures and reservations already reach its
// Failures, returns that Lock and no reservation (for a full scope, Until is when its oldest entry leaves the
// window; the broadest scope on a tie).
func (m *Memory) Reserve(ctx context.Context, account, ip string) (idshift.Reservation, idshift.Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, idshift.Lock{}, err
	}
	ts := m.cfg.targets(account, ip)
	now := millis(m.cfg.Now())
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	if l := m.locked(ts, now); l.Locked {
		return nil, l, nil
	}
	var full idshift.Lock
	var fullUntil int64
	for _, t := range ts {
		e := m.entries[t.id]
		if e == nil {
			continue
		}
		trim(e, t.limit, now)
		if len(e.fails)+len(e.holds) < t.limit.Failures {
			continue
		}
		oldest := now
		if len(e.fails) > 0 {
			oldest = e.fails[0]
		}
		for _, h := range e.holds {
			oldest = min(oldest, h.at)
		}
		if until := oldest + t.limit.Window.Milliseconds(); until > fullUntil {
			full, fullUntil = lockOf(t.scope, until), until
		}
	}
	if full.Locked {
		return nil, full, nil
	}
	m.lastID++
	r := &memoryReservation{m: m, ts: ts, id: m.lastID}
	for _, t := range ts {
		e := m.write(t.id, now)
		e.holds = append(e.holds, hold{r.id, now})
	}
	return r, idshift.Lock{}, nil
}

// Fail counts one failure in each of the attempt's scopes and returns the lock it caused (the one ending last, the
// broadest on a tie). While a scope is already locked it counts nothing and returns that lock. It takes no
// reservation: Reserve is what keeps a limit strict.
func (m *Memory) Fail(ctx context.Context, account, ip string) (idshift.Lock, error) {
	if err := ctx.Err(); err != nil {
		return idshift.Lock{}, err
	}
	ts := m.cfg.targets(account, ip)
	now := millis(m.cfg.Now())
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fail(ts, 0, now), nil
}

// Succeed clears the (account, ip) counter: its failures and stale reservations (the ones in flight stay). A lock
// in force stays.
func (m *Memory) Succeed(ctx context.Context, account, ip string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if account == "" || ip == "" {
		return nil
	}
	t := target{scope: scopePair, id: digest(scopePair, account, ip)}
	now := millis(m.cfg.Now())
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settle([]target{t}, 0, true, now)
	return nil
}

// fail settles reservation id (0: none) as a failure, or counts one failure without a reservation. Called with mu
// held.
func (m *Memory) fail(ts []target, id uint64, now int64) idshift.Lock {
	m.sweep(now)
	if id != 0 {
		for _, t := range ts {
			if e := m.entries[t.id]; e != nil {
				e.holds = withoutHold(e.holds, id)
			}
		}
	}
	if l := m.locked(ts, now); l.Locked {
		return l
	}
	var caused idshift.Lock
	var causedUntil int64
	for _, t := range ts {
		e := m.write(t.id, now)
		trim(e, t.limit, now)
		stale := 0
		for _, h := range e.holds {
			if h.at <= now-m.hold {
				stale++
			}
		}
		if len(e.fails)+stale+1 >= t.limit.Failures {
			e.fails, e.holds = e.fails[:0], nil
			e.until = now + t.limit.LockFor.Milliseconds()
			if e.until > causedUntil {
				caused, causedUntil = lockOf(t.scope, e.until), e.until
			}
			continue
		}
		e.fails = append(e.fails, now)
	}
	return caused
}

// settle removes reservation id (0: none) from ts' counters; with succeed, it also clears the failures and stale
// reservations of the pair counter. A counter left empty and unlocked is dropped. Called with mu held.
func (m *Memory) settle(ts []target, id uint64, succeed bool, now int64) {
	for _, t := range ts {
		e := m.entries[t.id]
		if e == nil {
			continue
		}
		if id != 0 {
			e.holds = withoutHold(e.holds, id)
		}
		if succeed && t.scope == scopePair {
			e.fails = nil
			live := e.holds[:0]
			for _, h := range e.holds {
				if h.at > now-m.hold {
					live = append(live, h)
				}
			}
			e.holds = live
		}
		if e.until <= now && len(e.fails) == 0 && len(e.holds) == 0 {
			m.remove(e)
		}
	}
}

// trim drops the failures and reservations that have left the window.
func trim(e *entry, l Limit, now int64) {
	cut := now - l.Window.Milliseconds()
	i := 0
	for i < len(e.fails) && e.fails[i] <= cut {
		i++
	}
	e.fails = e.fails[i:]
	in := e.holds[:0]
	for _, h := range e.holds {
		if h.at > cut {
			in = append(in, h)
		}
	}
	e.holds = in
}

func withoutHold(hs []hold, id uint64) []hold {
	for i, h := range hs {
		if h.id == id {
			return append(hs[:i], hs[i+1:]...)
		}
	}
	return hs
}

// memoryReservation is a Memory guard's reservation; settled is guarded by the guard's mutex.
type memoryReservation struct {
	m       *Memory
	ts      []target
	id      uint64
	settled bool
}

// Fail settles the reservation as a failure: the failure counts in each scope, or nothing while a scope is locked
// (that lock is returned). It returns the lock it caused, if any.
func (r *memoryReservation) Fail(context.Context) (idshift.Lock, error) {
	now := millis(r.m.cfg.Now())
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.settled {
		return idshift.Lock{}, nil
	}
	r.settled = true
	return r.m.fail(r.ts, r.id, now), nil
}

// Succeed gives the place back and clears the pair counter as Memory.Succeed does.
func (r *memoryReservation) Succeed(context.Context) error {
	r.settle(true)
	return nil
}

// Release gives the place back, counting nothing.
func (r *memoryReservation) Release() error {
	r.settle(false)
	return nil
}

func (r *memoryReservation) settle(succeed bool) {
	now := millis(r.m.cfg.Now())
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.settled {
		return
	}
	r.settled = true
	r.m.settle(r.ts, r.id, succeed, now)
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

var (
	_ idshift.Guard       = (*Memory)(nil)
	_ idshift.Reservation = (*memoryReservation)(nil)
)
