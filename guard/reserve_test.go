package guard_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/internal/testclock"
)

func TestMemoryReserve(t *testing.T) { runReserveConformance(t, openMemory) }

func TestRedisReserve(t *testing.T) { runReserveConformance(t, openRedis) }

// runReserveConformance is the suite of Reserve and its settlements that every idshift.Guard implementation
// passes: at most a scope's Failures attempts, failed or in flight, per window.
func runReserveConformance(t *testing.T, open openGroup) {
	ctx := context.Background()
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	one := func(t *testing.T, cfg guard.Config) idshift.Guard { return open(t, cfg, 1)[0] }

	// reserve calls Reserve and checks that it returned a reservation (scope "") or a lock of the given scope.
	reserve := func(t *testing.T, g idshift.Guard, account, ip, scope string) (idshift.Reservation, idshift.Lock) {
		t.Helper()
		r, l, err := g.Reserve(ctx, account, ip)
		if err != nil {
			t.Fatalf("Reserve(%q, %q): %v", account, ip, err)
		}
		checkLock(t, "Reserve", account, ip, l, scope)
		if (r == nil) != (scope != "") {
			t.Fatalf("Reserve(%q, %q): reservation %v with lock %+v", account, ip, r, l)
		}
		return r, l
	}
	settleFail := func(t *testing.T, r idshift.Reservation, scope string) idshift.Lock {
		t.Helper()
		l, err := r.Fail(ctx)
		if err != nil {
			t.Fatalf("Reservation.Fail: %v", err)
		}
		checkLock(t, "Reservation.Fail", "", "", l, scope)
		return l
	}
	check := func(t *testing.T, g idshift.Guard, account, ip, scope string) {
		t.Helper()
		l, err := g.Check(ctx, account, ip)
		if err != nil {
			t.Fatal(err)
		}
		checkLock(t, "Check", account, ip, l, scope)
	}
	config := func(c *testclock.Clock) guard.Config {
		return guard.Config{
			Pair:    guard.Limit{Failures: 3, Window: time.Minute, LockFor: 2 * time.Minute},
			Account: guard.Limit{Failures: 6, Window: time.Minute, LockFor: 3 * time.Minute},
			IP:      guard.Limit{Failures: 10, Window: time.Minute, LockFor: 4 * time.Minute},
			Hold:    5 * time.Second,
			Now:     c.Now,
		}
	}

	t.Run("FullScopeRefuses", func(t *testing.T) {
		c := testclock.New(start)
		g := one(t, config(c))
		first, _ := reserve(t, g, "alice", "192.0.2.1", "")
		c.Advance(time.Second)
		second, _ := reserve(t, g, "alice", "192.0.2.1", "")
		reserve(t, g, "alice", "192.0.2.1", "")
		// Three in flight fill the pair: the fourth is refused, reported as the pair's until the oldest entry
		// leaves the window; a full scope is no lock, and the account from elsewhere is free.
		_, l := reserve(t, g, "alice", "192.0.2.1", guard.ScopePair)
		if want := start.Add(time.Minute); !l.Until.Equal(want) {
			t.Errorf("full scope Until = %v, want %v (the oldest reservation's time + window)", l.Until, want)
		}
		check(t, g, "alice", "192.0.2.1", "")
		other, _ := reserve(t, g, "alice", "192.0.2.2", "")
		// A place given back is free again; the oldest entry is now the second.
		if err := second.Release(); err != nil {
			t.Fatal(err)
		}
		if err := first.Release(); err != nil {
			t.Fatal(err)
		}
		reserve(t, g, "alice", "192.0.2.1", "")
		reserve(t, g, "alice", "192.0.2.1", "")
		if _, l := reserve(t, g, "alice", "192.0.2.1", guard.ScopePair); !l.Until.After(start.Add(time.Minute)) {
			t.Errorf("full scope Until = %v after the oldest was released", l.Until)
		}
		if err := other.Release(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("FailuresLockAtTheLimit", func(t *testing.T) {
		c := testclock.New(start)
		g := one(t, config(c))
		var rs []idshift.Reservation
		for range 3 {
			r, _ := reserve(t, g, "alice", "192.0.2.1", "")
			rs = append(rs, r)
		}
		// Places in flight are not failures: the first two settled as failures lock nothing, the third does.
		settleFail(t, rs[0], "")
		settleFail(t, rs[1], "")
		c.Advance(time.Second)
		l := settleFail(t, rs[2], guard.ScopePair)
		if want := c.Now().Add(2 * time.Minute); !l.Until.Equal(want) {
			t.Errorf("Until = %v, want %v", l.Until, want)
		}
		_, got := reserve(t, g, "alice", "192.0.2.1", guard.ScopePair)
		if !got.Until.Equal(l.Until) {
			t.Errorf("Reserve reports the lock until %v, Fail's %v", got.Until, l.Until)
		}
		check(t, g, "alice", "192.0.2.1", guard.ScopePair)
		// The account counted three: three more from elsewhere lock it, the last as a tie of pair and account.
		for range 2 {
			r, _ := reserve(t, g, "alice", "192.0.2.2", "")
			settleFail(t, r, "")
		}
		r, _ := reserve(t, g, "alice", "192.0.2.2", "")
		settleFail(t, r, guard.ScopeAccount)
		reserve(t, g, "alice", "198.51.100.7", guard.ScopeAccount)
	})

	t.Run("SettledOnce", func(t *testing.T) {
		c := testclock.New(start)
		g := one(t, config(c))
		r, _ := reserve(t, g, "alice", "192.0.2.1", "")
		if err := r.Release(); err != nil {
			t.Fatal(err)
		}
		// Settled: a later Fail counts nothing, and Succeed clears nothing.
		settleFail(t, r, "")
		for range 2 {
			f, _ := reserve(t, g, "alice", "192.0.2.1", "")
			settleFail(t, f, "")
		}
		if err := r.Succeed(ctx); err != nil {
			t.Fatal(err)
		}
		f, _ := reserve(t, g, "alice", "192.0.2.1", "")
		// A failure settled stays one: Release after Fail gives nothing back.
		settleFail(t, f, guard.ScopePair)
		if err := f.Release(); err != nil {
			t.Fatal(err)
		}
		check(t, g, "alice", "192.0.2.1", guard.ScopePair)
	})

	t.Run("SucceedReleasesAndClearsPair", func(t *testing.T) {
		c := testclock.New(start)
		g := one(t, config(c))
		for range 2 {
			r, _ := reserve(t, g, "alice", "192.0.2.1", "")
			settleFail(t, r, "")
		}
		right, _ := reserve(t, g, "alice", "192.0.2.1", "")
		reserve(t, g, "alice", "192.0.2.1", guard.ScopePair) // 2 failures and 1 in flight
		// A right password gives its place back and clears the pair's failures...
		if err := right.Succeed(ctx); err != nil {
			t.Fatal(err)
		}
		reserve(t, g, "alice", "192.0.2.1", "")
		b, _ := reserve(t, g, "alice", "192.0.2.1", "")
		reserve(t, g, "alice", "192.0.2.1", "")
		reserve(t, g, "alice", "192.0.2.1", guard.ScopePair)
		// ...but not the places of the attempts still in flight there.
		if err := b.Succeed(ctx); err != nil {
			t.Fatal(err)
		}
		reserve(t, g, "alice", "192.0.2.1", "")
		reserve(t, g, "alice", "192.0.2.1", guard.ScopePair)
		// The account kept its 2 failures: with 3 in flight from .1, one more from elsewhere fills it.
		reserve(t, g, "alice", "192.0.2.9", "")
		reserve(t, g, "alice", "192.0.2.8", guard.ScopeAccount)
	})

	t.Run("StaleReservationCountsAsFailure", func(t *testing.T) {
		c := testclock.New(start)
		g := one(t, config(c)) // Hold 5s
		// Two places never settled (as if their process had crashed).
		r1, _ := reserve(t, g, "alice", "192.0.2.1", "")
		reserve(t, g, "alice", "192.0.2.1", "")
		c.Advance(5*time.Second - time.Millisecond)
		// In flight for less than Hold, they are no failures: this failure is the pair's first.
		r3, _ := reserve(t, g, "alice", "192.0.2.1", "")
		settleFail(t, r3, "")
		c.Advance(time.Millisecond)
		// Held for Hold, they count as failures: settling the first now makes three (r3, the other, itself).
		settleFail(t, r1, guard.ScopePair)
	})

	t.Run("CrashedReservationsLeaveWithTheWindow", func(t *testing.T) {
		c := testclock.New(start)
		cfg := config(c)
		cfg.Account.Failures = 20
		g := one(t, cfg)
		for range 3 {
			reserve(t, g, "alice", "192.0.2.1", "")
		}
		c.Advance(time.Minute - time.Millisecond)
		reserve(t, g, "alice", "192.0.2.1", guard.ScopePair)
		c.Advance(time.Millisecond)
		for range 3 {
			reserve(t, g, "alice", "192.0.2.1", "")
		}
		reserve(t, g, "alice", "192.0.2.1", guard.ScopePair)
		// A right password clears the pair's stale places as it clears failures.
		c.Advance(5 * time.Second)
		if err := g.Succeed(ctx, "alice", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			reserve(t, g, "alice", "192.0.2.1", "")
		}
		reserve(t, g, "alice", "192.0.2.1", guard.ScopePair)
	})

	t.Run("LockedRefusesWithoutReserving", func(t *testing.T) {
		c := testclock.New(start)
		g := one(t, config(c))
		for range 3 {
			if _, err := g.Fail(ctx, "alice", "192.0.2.1"); err != nil {
				t.Fatal(err)
			}
		}
		for range 10 {
			reserve(t, g, "alice", "192.0.2.1", guard.ScopePair)
		}
		// Nothing was reserved for the account: three more failures from elsewhere reach its six.
		for range 2 {
			r, _ := reserve(t, g, "alice", "192.0.2.2", "")
			settleFail(t, r, "")
		}
		r, _ := reserve(t, g, "alice", "192.0.2.2", "")
		settleFail(t, r, guard.ScopeAccount)
	})

	t.Run("NoScope", func(t *testing.T) {
		c := testclock.New(start)
		g := one(t, config(c))
		r, _ := reserve(t, g, "", "", "")
		settleFail(t, r, "")
		if err := r.Release(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		c := testclock.New(start)
		g := one(t, config(c))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if r, _, err := g.Reserve(cctx, "alice", "192.0.2.1"); err == nil || r != nil {
			t.Fatalf("Reserve with a canceled context: %v, %v", r, err)
		}
		for range 3 {
			reserve(t, g, "alice", "192.0.2.1", "")
		}
	})

	// Many attempts at once, through two guards sharing the counters (two replicas): exactly Failures are
	// reserved in total, every other is refused by the full scope; settled as failures, the last locks.
	t.Run("ConcurrentReservationsAreStrict", func(t *testing.T) {
		cases := []struct {
			name    string
			scope   string
			limit   int
			attempt func(i int) (account, ip string)
		}{
			{"pair", guard.ScopePair, 5, func(i int) (string, string) { return "alice", "192.0.2.1" }},
			{"account", guard.ScopeAccount, 20, func(i int) (string, string) { return "alice", fmt.Sprintf("10.0.%d.1", i) }},
			{"ip", guard.ScopeIP, 30, func(i int) (string, string) { return fmt.Sprintf("user-%d", i), "192.0.2.1" }},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := testclock.New(start)
				gs := open(t, guard.Config{
					Pair:    guard.Limit{Failures: 5, Window: time.Hour, LockFor: time.Hour},
					Account: guard.Limit{Failures: 20, Window: time.Hour, LockFor: time.Hour},
					IP:      guard.Limit{Failures: 30, Window: time.Hour, LockFor: time.Hour},
					Now:     c.Now,
				}, 2)
				const attempts = 80
				var (
					mu      sync.Mutex
					granted []idshift.Reservation
					refused int
					wg      sync.WaitGroup
					go1     = make(chan struct{})
				)
				errs := make(chan error, attempts)
				for i := range attempts {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-go1
						account, ip := tc.attempt(i)
						r, l, err := gs[i%2].Reserve(ctx, account, ip)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err != nil:
							errs <- err
						case r != nil:
							granted = append(granted, r)
						case l.Scope != tc.scope:
							errs <- fmt.Errorf("refused by %q, want %q", l.Scope, tc.scope)
						default:
							refused++
						}
					}()
				}
				close(go1)
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				if len(granted) != tc.limit || refused != attempts-tc.limit {
					t.Fatalf("%d reserved and %d refused, want %d and %d", len(granted), refused, tc.limit, attempts-tc.limit)
				}
				locks := make(chan idshift.Lock, len(granted))
				for _, r := range granted {
					wg.Add(1)
					go func() {
						defer wg.Done()
						l, err := r.Fail(ctx)
						if err != nil {
							t.Error(err)
						}
						locks <- l
					}()
				}
				wg.Wait()
				close(locks)
				n := 0
				for l := range locks {
					if l.Locked {
						n++
						checkLock(t, "Reservation.Fail", "", "", l, tc.scope)
					}
				}
				if n != 1 {
					t.Errorf("%d settled failures returned a lock, want 1 (the last)", n)
				}
				account, ip := tc.attempt(0)
				check(t, gs[1], account, ip, tc.scope)
			})
		}
	})
}

// benchReserve measures the strict step (Reserve, then the reservation's Fail) against the counting it replaces
// (Check, then Fail), and Reserve then Release (an attempt shed), on ever new accounts and IPs so that nothing
// locks. The three are interleaved in one loop, in turns, so that a shared machine's changing load weighs on each
// alike; each is timed apart and reported per iteration, with the ratios to Check+Fail.
func benchReserve(b *testing.B, g idshift.Guard) {
	ctx := context.Background()
	var took [3]time.Duration
	steps := [3]func(account, ip string){
		func(account, ip string) { // Check + Fail
			if _, err := g.Check(ctx, account, ip); err != nil {
				b.Fatal(err)
			}
			if _, err := g.Fail(ctx, account, ip); err != nil {
				b.Fatal(err)
			}
		},
		func(account, ip string) { // Reserve + Fail
			r, _, err := g.Reserve(ctx, account, ip)
			if err != nil || r == nil {
				b.Fatal(err)
			}
			if _, err := r.Fail(ctx); err != nil {
				b.Fatal(err)
			}
		},
		func(account, ip string) { // Reserve + Release
			r, _, err := g.Reserve(ctx, account, ip)
			if err != nil || r == nil {
				b.Fatal(err)
			}
			if err := r.Release(); err != nil {
				b.Fatal(err)
			}
		},
	}
	n := 0
	for b.Loop() {
		n++
		for k := range 3 {
			s := (n + k) % 3
			account, ip := fmt.Sprintf("user%d.%d", s, n), fmt.Sprintf("10.%d.%d.%d", s, n/256%256, n%256)
			t0 := time.Now()
			steps[s](account, ip)
			took[s] += time.Since(t0)
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(took[0]), "checkfail-ns/op")
	b.ReportMetric(per(took[1]), "reservefail-ns/op")
	b.ReportMetric(per(took[2]), "reserverelease-ns/op")
	b.ReportMetric(float64(took[1])/float64(took[0]), "reservefail/checkfail")
	b.ReportMetric(float64(took[2])/float64(took[0]), "reserverelease/checkfail")
}

func BenchmarkMemoryReserve(b *testing.B) {
	m, err := guard.Config{}.OpenMemory()
	if err != nil {
		b.Fatal(err)
	}
	benchReserve(b, m)
}

func BenchmarkRedisReserve(b *testing.B) {
	requireRedis(b)
	g, err := guard.Config{Prefix: testPrefix(b)}.NewRedis(newClient(b))
	if err != nil {
		b.Fatal(err)
	}
	benchReserve(b, g)
}

// TestRedisCrashedReservationsExpire: reservations never settled (their replica crashed) are removed by the server
// itself once their window has passed, in real time: nothing stays locked or full for ever.
func TestRedisCrashedReservationsExpire(t *testing.T) {
	requireRedis(t)
	ctx := context.Background()
	cfg := guard.Config{
		Pair:    guard.Limit{Failures: 2, Window: 300 * time.Millisecond, LockFor: time.Minute},
		Account: guard.Limit{Failures: -1},
		IP:      guard.Limit{Failures: -1},
		Hold:    50 * time.Millisecond,
		Prefix:  testPrefix(t),
	}
	client := newClient(t)
	g, err := cfg.NewRedis(client)
	if err != nil {
		t.Fatal(err)
	}
	reserve := func(wantPlace bool) {
		t.Helper()
		r, l, err := g.Reserve(ctx, "alice@example.com", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if (r != nil) != wantPlace || l.Locked == wantPlace {
			t.Fatalf("Reserve = %v, %+v; want a place: %v", r, l, wantPlace)
		}
	}
	reserve(true)
	reserve(true)
	reserve(false)
	keys, err := client.Keys(ctx, cfg.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !strings.Contains(keys[0], ":h:p:") {
		t.Fatalf("keys %v, want the pair's reservations only", keys)
	}
	if strings.Contains(keys[0], "alice") || strings.Contains(keys[0], "192.0.2.1") {
		t.Errorf("key %q holds an account or address in clear", keys[0])
	}
	if ttl, err := client.PTTL(ctx, keys[0]).Result(); err != nil || ttl <= 0 || ttl > 300*time.Millisecond {
		t.Fatalf("TTL %v (%v), want in (0, 300ms]", ttl, err)
	}
	time.Sleep(400 * time.Millisecond)
	if n, err := client.Exists(ctx, keys[0]).Result(); err != nil || n != 0 {
		t.Fatalf("the reservations are still stored (%d, %v) after their window", n, err)
	}
	reserve(true)
}

func TestConfigRejectsBadHold(t *testing.T) {
	for _, hold := range []time.Duration{-time.Second, time.Microsecond} {
		if _, err := (guard.Config{Hold: hold}).OpenMemory(); err == nil {
			t.Errorf("OpenMemory with Hold %v: no error", hold)
		}
	}
}
