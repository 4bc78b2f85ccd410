// Package guard is the brute-force guard of the password-migration service: failure counters over sliding
// windows per (account, client IP), per account and per client IP, and the locks they cause (idshift.Guard), plus
// Slots, the global cap on concurrent hash verifications with load shedding.
//
// Two implementations of idshift.Guard share one Config and one policy:
//
//   - Memory keeps the counters in the process: for a single `idshift serve`.
//   - Redis keeps them in one Redis server shared by several replicas; every update is one Lua script, so the
//     limits hold in total across replicas, not per replica.
//
// The policy (docs/guard.md says why): the Failures-th failure of a scope within its Window locks that scope for
// LockFor. Scopes are "account+ip" (a low threshold: one client guessing one account), "account" (a higher
// ceiling over all IPs: distributed guessing) and "ip" (one client spraying many accounts). While any scope of an
// attempt is locked, Fail counts nothing and returns that lock. A lock resets its scope's counter, so when it
// ends the scope starts again from zero. Succeed clears the (account, ip) counter only.
//
// Reserve keeps the limits strict under concurrency: an attempt about to be checked takes a place in each window,
// atomically with the lock check, and is refused (a Lock of the full scope) when failures and attempts in flight
// already fill it; the place counts as a failure until the Reservation is settled (Fail, Succeed, Release), and
// one never settled (a crashed process) counts as a failure once older than Config.Hold.
//
// Accounts and IPs are never stored in clear: each counter is keyed by a SHA-256 digest of its scope and fields.
package guard

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/idshift/idshift"
)

// Scope names, as idshift.Lock.Scope reports them.
const (
	ScopePair    = "account+ip"
	ScopeAccount = "account"
	ScopeIP      = "ip"
)

// Defaults of Config.
const (
	DefaultPairFailures    = 5
	DefaultAccountFailures = 50
	DefaultIPFailures      = 100
	DefaultWindow          = 15 * time.Minute
	DefaultLockFor         = 15 * time.Minute
	DefaultMaxKeys         = 100_000
	DefaultHold            = 5 * time.Second
	DefaultPrefix          = "idshift:guard:"
)

// Limit is one scope's threshold. The zero value takes the scope's defaults.
type Limit struct {
	// Failures within Window that lock the scope: the Failures-th failure causes the lock. Zero means the
	// default; a negative value turns the scope off (nothing counted, never locked).
	Failures int `yaml:"failures" json:"failures"`
	// Window is how far back failures count (a sliding window). Default 15 minutes.
	Window time.Duration `yaml:"window" json:"window"`
	// LockFor is how long the lock lasts. Default 15 minutes.
	LockFor time.Duration `yaml:"lockFor" json:"lockFor"`
}

// Config configures the guard. Its zero value is usable: every field has a default.
//
// Example (YAML):
//
//	guard:
//	  pair:    {failures: 5,   window: 15m, lockFor: 15m}
//	  account: {failures: 50,  window: 15m, lockFor: 15m}
//	  ip:      {failures: 100, window: 15m, lockFor: 15m}
//	  maxKeys: 100000
//	  prefix: "idshift:guard:"
type Config struct {
	// Pair limits failures per (account, client IP). Default 5 failures per 15 minutes.
	Pair Limit `yaml:"pair" json:"pair"`
	// Account limits failures per account over all IPs. Default 50 failures per 15 minutes.
	Account Limit `yaml:"account" json:"account"`
	// IP limits failures per client IP over all accounts. Default 100 failures per 15 minutes.
	IP Limit `yaml:"ip" json:"ip"`
	// MaxKeys caps the counters Memory tracks (one per scope and key); past it the counter written least recently
	// is evicted, with its lock. Default 100,000. Redis ignores it (its keys expire by TTL).
	MaxKeys int `yaml:"maxKeys" json:"maxKeys"`
	// Hold is how long a reservation stays "in flight": one not settled by then (its process crashed, or the
	// settlement could not reach Redis) counts as a failure from then on (it may lock its scope and Succeed clears
	// it), until it leaves the window like one. It should exceed the longest decision: serve's is under Entra's
	// 2-second timeout. Default 5 seconds. A shorter Hold never loosens a limit: a reservation takes its place in
	// the window for as long as it lives, in flight or stale.
	Hold time.Duration `yaml:"hold" json:"hold"`
	// Prefix starts every Redis key. Default "idshift:guard:". Give each deployment sharing a Redis its own; for
	// Redis Cluster put a hash tag in it ("{idshift}:guard:") so that one attempt's keys share a slot.
	Prefix string `yaml:"prefix" json:"prefix"`
	// Now is the clock (default time.Now). Redis passes its value to the server, so tests can move time there too.
	// Times are kept to the millisecond.
	Now func() time.Time `yaml:"-" json:"-"`
}

// withDefaults fills the zero fields and checks the others.
func (c Config) withDefaults() (Config, error) {
	fill := func(name string, l *Limit, failures int) error {
		if l.Failures == 0 {
			l.Failures = failures
		}
		if l.Window == 0 {
			l.Window = DefaultWindow
		}
		if l.LockFor == 0 {
			l.LockFor = DefaultLockFor
		}
		if l.Window < time.Millisecond || l.LockFor < time.Millisecond {
			return fmt.Errorf("guard: %s: window and lockFor must be at least 1ms", name)
		}
		return nil
	}
	if err := fill("pair", &c.Pair, DefaultPairFailures); err != nil {
		return c, err
	}
	if err := fill("account", &c.Account, DefaultAccountFailures); err != nil {
		return c, err
	}
	if err := fill("ip", &c.IP, DefaultIPFailures); err != nil {
		return c, err
	}
	if c.Hold == 0 {
		c.Hold = DefaultHold
	}
	if c.Hold < time.Millisecond {
		return c, fmt.Errorf("guard: hold must be at least 1ms")
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.MaxKeys < 0 {
		return c, fmt.Errorf("guard: maxKeys must not be negative")
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// scope indexes the three scopes.
type scope uint8

const (
	scopeAccount scope = iota
	scopeIP
	scopePair
)

var scopeNames = [...]string{scopeAccount: ScopeAccount, scopeIP: ScopeIP, scopePair: ScopePair}

// keyID identifies one counter: a digest of its scope and fields, so that counters hold no account names or
// addresses and their size does not depend on the caller's input.
type keyID [16]byte

// target is one counter an attempt touches.
type target struct {
	scope scope
	id    keyID
	limit Limit
}

// targets lists the counters of an attempt, in the order that breaks ties between locks ending at the same time
// (account, then ip, then pair: the broadest wins). An empty ip counts per account only; an empty account per ip
// only.
func (c *Config) targets(account, ip string) []target {
	ts := make([]target, 0, 3)
	if account != "" && c.Account.Failures > 0 {
		ts = append(ts, target{scopeAccount, digest(scopeAccount, account, ""), c.Account})
	}
	if ip != "" && c.IP.Failures > 0 {
		ts = append(ts, target{scopeIP, digest(scopeIP, "", ip), c.IP})
	}
	if account != "" && ip != "" && c.Pair.Failures > 0 {
		ts = append(ts, target{scopePair, digest(scopePair, account, ip), c.Pair})
	}
	return ts
}

func digest(s scope, account, ip string) keyID {
	h := sha256.New()
	var b [9]byte
	b[0] = byte(s)
	binary.BigEndian.PutUint64(b[1:], uint64(len(account)))
	h.Write(b[:])
	h.Write([]byte(account))
	h.Write([]byte(ip))
	var id keyID
	copy(id[:], h.Sum(nil))
	return id
}

func lockOf(s scope, untilMS int64) idshift.Lock {
	return idshift.Lock{Locked: true, Until: time.UnixMilli(untilMS).UTC(), Scope: scopeNames[s]}
}

func millis(t time.Time) int64 { return t.UnixMilli() }
