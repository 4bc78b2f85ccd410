package guard_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
)

// clock is a controllable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openGroup returns n guards with cfg sharing one set of counters, as n replicas would (for Memory, one process,
// the same guard n times).
type openGroup func(t testing.TB, cfg guard.Config, n int) []idshift.Guard

// testConfig is the small policy most conformance tests use.
func testConfig(c *clock) guard.Config {
	return guard.Config{
		Pair:    guard.Limit{Failures: 3, Window: time.Minute, LockFor: 2 * time.Minute},
		Account: guard.Limit{Failures: 6, Window: time.Minute, LockFor: 3 * time.Minute},
		IP:      guard.Limit{Failures: 10, Window: time.Minute, LockFor: 4 * time.Minute},
		Now:     c.Now,
	}
}

// runConformance is the suite every idshift.Guard implementation passes.
func runConformance(t *testing.T, open openGroup) {
	ctx := context.Background()
	one := func(t *testing.T, cfg guard.Config) idshift.Guard { return open(t, cfg, 1)[0] }

	// fail calls Fail and checks whether it returned a lock of the given scope ("" for none).
	fail := func(t *testing.T, g idshift.Guard, account, ip, scope string) idshift.Lock {
		t.Helper()
		l, err := g.Fail(ctx, account, ip)
		if err != nil {
			t.Fatalf("Fail(%q, %q): %v", account, ip, err)
		}
		checkLock(t, "Fail", account, ip, l, scope)
		return l
	}
	check := func(t *testing.T, g idshift.Guard, account, ip, scope string) idshift.Lock {
		t.Helper()
		l, err := g.Check(ctx, account, ip)
		if err != nil {
			t.Fatalf("Check(%q, %q): %v", account, ip, err)
		}
		checkLock(t, "Check", account, ip, l, scope)
		return l
	}

	t.Run("PairThreshold", func(t *testing.T) {
		c := newClock()
		g := one(t, testConfig(c))
		fail(t, g, "alice", "192.0.2.1", "")
		c.Add(time.Second)
		fail(t, g, "alice", "192.0.2.1", "")
		check(t, g, "alice", "192.0.2.1", "")
		c.Add(time.Second)
		l := fail(t, g, "alice", "192.0.2.1", guard.ScopePair)
		if want := c.Now().Add(2 * time.Minute); !l.Until.Equal(want) {
			t.Errorf("Until = %v, want %v", l.Until, want)
		}
		if got := check(t, g, "alice", "192.0.2.1", guard.ScopePair); !got.Until.Equal(l.Until) {
			t.Errorf("Check Until = %v, Fail's %v", got.Until, l.Until)
		}
		check(t, g, "alice", "192.0.2.2", "")
		check(t, g, "alice", "", "")
		check(t, g, "bob", "192.0.2.1", "")
	})

	t.Run("CheckNeverCounts", func(t *testing.T) {
		c := newClock()
		g := one(t, testConfig(c))
		for range 20 {
			check(t, g, "alice", "192.0.2.1", "")
		}
		fail(t, g, "alice", "192.0.2.1", "")
		fail(t, g, "alice", "192.0.2.1", "")
		fail(t, g, "alice", "192.0.2.1", guard.ScopePair)
	})

	t.Run("LockExpiresAndCounterRestarts", func(t *testing.T) {
		c := newClock()
		g := one(t, testConfig(c))
		for range 2 {
			fail(t, g, "alice", "192.0.2.1", "")
		}
		l := fail(t, g, "alice", "192.0.2.1", guard.ScopePair)
		c.Add(2*time.Minute - time.Millisecond)
		check(t, g, "alice", "192.0.2.1", guard.ScopePair)
		c.Add(time.Millisecond)
		if !c.Now().Equal(l.Until) {
			t.Fatalf("clock %v, lock until %v", c.Now(), l.Until)
		}
		check(t, g, "alice", "192.0.2.1", "")
		// The lock reset the counter: a full threshold again.
		fail(t, g, "alice", "192.0.2.1", "")
		fail(t, g, "alice", "192.0.2.1", "")
		fail(t, g, "alice", "192.0.2.1", guard.ScopePair)
	})

	t.Run("WindowSlides", func(t *testing.T) {
		c := newClock()
		g := one(t, testConfig(c))
		fail(t, g, "alice", "192.0.2.1", "") // t0
		c.Add(30 * time.Second)
		fail(t, g, "alice", "192.0.2.1", "") // t0+30s
		c.Add(30 * time.Second)
		fail(t, g, "alice", "192.0.2.1", "") // t0+60s: t0 has left the window
		c.Add(29 * time.Second)
		fail(t, g, "alice", "192.0.2.1", guard.ScopePair) // t0+89s: three within a minute
	})

	t.Run("WindowEdge", func(t *testing.T) {
		c := newClock()
		g := one(t, testConfig(c))
		fail(t, g, "alice", "192.0.2.1", "")
		c.Add(30 * time.Second)
		fail(t, g, "alice", "192.0.2.1", "")
		c.Add(30*time.Second - time.Millisecond)
		fail(t, g, "alice", "192.0.2.1", guard.ScopePair) // the first is 59.999s old: still in
	})

	t.Run("FailWhileLockedCountsNothing", func(t *testing.T) {
		c := newClock()
		g := one(t, testConfig(c))
		for range 2 {
			fail(t, g, "alice", "192.0.2.1", "")
		}
		l := fail(t, g, "alice", "192.0.2.1", guard.ScopePair)
		for range 10 {
			c.Add(time.Second)
			if got := fail(t, g, "alice", "192.0.2.1", guard.ScopePair); !got.Until.Equal(l.Until) {
				t.Fatalf("a failure while locked moved the lock to %v (was %v)", got.Until, l.Until)
			}
		}
		// The account has 3 failures, not 13: two more on another IP stay under its ceiling of 6...
		fail(t, g, "alice", "192.0.2.2", "")
		fail(t, g, "alice", "192.0.2.2", "")
		// ...and the sixth locks the pair and the account at once: the account wins the tie.
		l = fail(t, g, "alice", "192.0.2.2", guard.ScopeAccount)
		if want := c.Now().Add(3 * time.Minute); !l.Until.Equal(want) {
			t.Errorf("Until = %v, want %v", l.Until, want)
		}
		check(t, g, "alice", "192.0.2.3", guard.ScopeAccount)
	})

	t.Run("AccountCeiling", func(t *testing.T) {
		c := newClock()
		g := one(t, testConfig(c))
		for i := range 5 {
			fail(t, g, "alice", fmt.Sprintf("192.0.2.%d", i/2), "")
		}
		l := fail(t, g, "alice", "198.51.100.7", guard.ScopeAccount)
		if want := c.Now().Add(3 * time.Minute); !l.Until.Equal(want) {
			t.Errorf("Until = %v, want %v", l.Until, want)
		}
		check(t, g, "alice", "203.0.113.9", guard.ScopeAccount)
		check(t, g, "alice", "", guard.ScopeAccount)
		check(t, g, "bob", "192.0.2.0", "")
		check(t, g, "", "192.0.2.0", "")
		c.Add(3 * time.Minute)
		check(t, g, "alice", "203.0.113.9", "")
	})

	t.Run("IPThreshold", func(t *testing.T) {
		c := newClock()
		g := one(t, testConfig(c))
		for i := range 9 {
			fail(t, g, fmt.Sprintf("user%d", i), "192.0.2.1", "")
		}
		l := fail(t, g, "user9", "192.0.2.1", guard.ScopeIP)
		if want := c.Now().Add(4 * time.Minute); !l.Until.Equal(want) {
			t.Errorf("Until = %v, want %v", l.Until, want)
		}
		check(t, g, "someone-new", "192.0.2.1", guard.ScopeIP)
		check(t, g, "", "192.0.2.1", guard.ScopeIP)
		check(t, g, "user1", "192.0.2.2", "")
	})

	t.Run("SucceedClearsPairOnly", func(t *testing.T) {
		c := newClock()
		cfg := testConfig(c)
		cfg.Account.Failures = 4
		g := one(t, cfg)
		fail(t, g, "alice", "192.0.2.1", "")
		fail(t, g, "alice", "192.0.2.1", "")
		if err := g.Succeed(ctx, "alice", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		fail(t, g, "alice", "192.0.2.1", "") // pair: 1 (would lock without Succeed); account: 3
		fail(t, g, "alice", "192.0.2.9", guard.ScopeAccount)
	})

	t.Run("SucceedKeepsLock", func(t *testing.T) {
		c := newClock()
		g := one(t, testConfig(c))
		for range 2 {
			fail(t, g, "alice", "192.0.2.1", "")
		}
		fail(t, g, "alice", "192.0.2.1", guard.ScopePair)
		if err := g.Succeed(ctx, "alice", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		check(t, g, "alice", "192.0.2.1", guard.ScopePair)
		if err := g.Succeed(ctx, "nobody", "192.0.2.1"); err != nil {
			t.Fatalf("Succeed of an unknown pair: %v", err)
		}
		if err := g.Succeed(ctx, "alice", ""); err != nil {
			t.Fatalf("Succeed without an ip: %v", err)
		}
	})

	t.Run("EmptyIP", func(t *testing.T) {
		c := newClock()
		g := one(t, testConfig(c))
		for range 5 { // past the pair threshold: an empty ip has no pair counter
			fail(t, g, "alice", "", "")
		}
		fail(t, g, "alice", "", guard.ScopeAccount)
		check(t, g, "alice", "", guard.ScopeAccount)
		check(t, g, "alice", "192.0.2.1", guard.ScopeAccount)
		// An empty ip is no IP: failures of many accounts without one never lock an "ip" scope.
		for i := range 12 {
			fail(t, g, fmt.Sprintf("user%d", i), "", "")
		}
		check(t, g, "someone-new", "", "")
	})

	t.Run("UnusualKeys", func(t *testing.T) {
		c := newClock()
		g := one(t, testConfig(c))
		// Fields that would collide if joined with a separator stay apart.
		for range 2 {
			fail(t, g, "a:b", "c", "")
			fail(t, g, "a", "b:c", "")
		}
		check(t, g, "a:b", "c", "")
		check(t, g, "a", "b:c", "")
		long := string(make([]byte, 10_000))
		for _, ip := range []string{"::1", "2001:db8::1%eth0", "not an address", long, "ünïcødé"} {
			fail(t, g, "carol", ip, "")
			fail(t, g, "carol", ip, "")
			fail(t, g, "carol", ip, guard.ScopePair)
			c.Add(61 * time.Second) // carol's failures leave the account window
		}
	})

	t.Run("DisabledScope", func(t *testing.T) {
		c := newClock()
		cfg := testConfig(c)
		cfg.Pair.Failures = -1
		g := one(t, cfg)
		for range 5 {
			fail(t, g, "alice", "192.0.2.1", "")
		}
		fail(t, g, "alice", "192.0.2.1", guard.ScopeAccount)
	})

	t.Run("DefaultsFromZeroConfig", func(t *testing.T) {
		c := newClock()
		g := one(t, guard.Config{Now: c.Now})
		for range guard.DefaultPairFailures - 1 {
			fail(t, g, "alice", "192.0.2.1", "")
		}
		l := fail(t, g, "alice", "192.0.2.1", guard.ScopePair)
		if want := c.Now().Add(guard.DefaultLockFor); !l.Until.Equal(want) {
			t.Errorf("Until = %v, want %v", l.Until, want)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		c := newClock()
		g := one(t, testConfig(c))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := g.Check(cctx, "alice", "192.0.2.1"); err == nil {
			t.Error("Check with a canceled context: no error")
		}
		if _, err := g.Fail(cctx, "alice", "192.0.2.1"); err == nil {
			t.Error("Fail with a canceled context: no error")
		}
		// Nothing was counted.
		fail(t, g, "alice", "192.0.2.1", "")
		fail(t, g, "alice", "192.0.2.1", "")
		fail(t, g, "alice", "192.0.2.1", guard.ScopePair)
	})

	// Two guards sharing the counters (two replicas), hammered concurrently: exactly Failures-1 failures pass
	// unlocked in total, then every one reports the lock.
	t.Run("ConcurrentLimitHoldsInTotal", func(t *testing.T) {
		cfg := guard.Config{
			Pair:    guard.Limit{Failures: 5, Window: time.Hour, LockFor: time.Hour},
			Account: guard.Limit{Failures: 20, Window: time.Hour, LockFor: time.Hour},
			IP:      guard.Limit{Failures: 30, Window: time.Hour, LockFor: time.Hour},
		}
		cases := []struct {
			name      string
			scope     string
			threshold int
			attempt   func(w, i int) (account, ip string)
		}{
			{"pair", guard.ScopePair, 5, func(w, i int) (string, string) { return "alice", "192.0.2.1" }},
			{"account", guard.ScopeAccount, 20, func(w, i int) (string, string) {
				return "alice", fmt.Sprintf("10.%d.%d.1", w, i)
			}},
			{"ip", guard.ScopeIP, 30, func(w, i int) (string, string) {
				return fmt.Sprintf("user-%d-%d", w, i), "192.0.2.1"
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := newClock()
				cfg := cfg
				cfg.Now = c.Now
				gs := open(t, cfg, 2)
				const workers, each = 8, 12
				var mu sync.Mutex
				unlocked, locked := 0, 0
				var until time.Time
				var wg sync.WaitGroup
				errs := make(chan error, workers)
				for w := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						g := gs[w%len(gs)]
						for i := range each {
							account, ip := tc.attempt(w, i)
							l, err := g.Fail(ctx, account, ip)
							if err != nil {
								errs <- err
								return
							}
							mu.Lock()
							if !l.Locked {
								unlocked++
							} else {
								locked++
								if l.Scope != tc.scope {
									errs <- fmt.Errorf("lock scope %q, want %q", l.Scope, tc.scope)
								}
								if !until.IsZero() && !until.Equal(l.Until) {
									errs <- fmt.Errorf("locks end at %v and %v", until, l.Until)
								}
								until = l.Until
							}
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				if unlocked != tc.threshold-1 || locked != workers*each-(tc.threshold-1) {
					t.Fatalf("%d failures passed unlocked and %d were locked, want %d and %d",
						unlocked, locked, tc.threshold-1, workers*each-(tc.threshold-1))
				}
				for _, g := range gs {
					account, ip := tc.attempt(0, 0)
					check(t, g, account, ip, tc.scope)
				}
			})
		}
	})
}

func checkLock(t *testing.T, op, account, ip string, l idshift.Lock, scope string) {
	t.Helper()
	if len(account) > 40 {
		account = account[:40] + "…"
	}
	if len(ip) > 40 {
		ip = ip[:40] + "…"
	}
	switch {
	case scope == "" && l.Locked:
		t.Fatalf("%s(%q, %q) = locked (%s until %v), want unlocked", op, account, ip, l.Scope, l.Until)
	case scope == "" && l != (idshift.Lock{}):
		t.Fatalf("%s(%q, %q) = %+v, want the zero Lock", op, account, ip, l)
	case scope != "" && !l.Locked:
		t.Fatalf("%s(%q, %q) = unlocked, want locked (%s)", op, account, ip, scope)
	case scope != "" && l.Scope != scope:
		t.Fatalf("%s(%q, %q) = locked by %q, want %q", op, account, ip, l.Scope, scope)
	}
}
