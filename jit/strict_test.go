package jit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/internal/servicetest"
	"github.com/idshift/idshift/jit"
)

// recordingVerifier counts the legacy checks it runs and holds each at a gate until the test opens it, so that
// every attempt of a burst is in flight at once.
type recordingVerifier struct {
	*jit.HashVerifier
	calls atomic.Int64
	gate  chan struct{}
}

func (v *recordingVerifier) Check(ctx context.Context, rec *idshift.Record, pw string) (jit.Check, error) {
	v.calls.Add(1)
	select {
	case <-v.gate:
	case <-ctx.Done():
		return jit.Check{}, ctx.Err()
	}
	return v.HashVerifier.Check(ctx, rec, pw)
}

// TestStrictLimitMemory and TestStrictLimitRedis: a burst of wrong passwords at one (account, IP) runs exactly the
// pair's limit of legacy checks, however many arrive at once; the rest are blocked without a check.
func TestStrictLimitMemory(t *testing.T) {
	g, err := guard.Config{}.OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	testStrictLimit(t, g)
}

func TestStrictLimitRedis(t *testing.T) {
	url := servicetest.RedisURL()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "idshift:jit-test:" + hex.EncodeToString(b) + ":"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g, err := guard.Config{Prefix: prefix}.OpenRedis(ctx, url)
	if err != nil {
		unreachable(t, "Redis (IDSHIFT_REDIS_URL)", err)
	}
	t.Cleanup(func() {
		g.Close()
		opt, err := redis.ParseURL(url)
		if err != nil {
			return
		}
		c := redis.NewClient(opt)
		defer c.Close()
		ctx := context.Background()
		if keys, err := c.Keys(ctx, prefix+"*").Result(); err == nil && len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	testStrictLimit(t, g)
}

func testStrictLimit(t *testing.T, g idshift.Guard) {
	ctx := context.Background()
	f := newFixture(t, guard.Config{})
	v := &recordingVerifier{HashVerifier: f.hv, gate: make(chan struct{})}
	s, err := jit.Config{Store: f.store, Guard: g, Verifier: v, Timeout: jit.MaxTimeout,
		Logger: slog.New(slog.DiscardHandler)}.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	const burst, limit = 50, guard.DefaultPairFailures
	attempt := func(i int, pw, ip string) idshift.Attempt {
		return idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-alice", Password: pw, ClientIP: ip,
			Nonce: fmt.Sprintf("nonce-%s-%d", ip, i)}
	}
	answers := make(chan jit.Decision, burst)
	for i := range burst {
		go func() { answers <- s.Decide(ctx, attempt(i, fmt.Sprintf("wrong-%d", i), "192.0.2.7")) }()
	}
	// The refused attempts are answered at once, while the checked ones wait at the gate (for at most a second:
	// a guard letting more through would leave fewer to answer).
	got, n := map[string]int{}, 0
	answered := func(d jit.Decision) {
		got[string(d.Action)+"/"+d.Reason]++
		n++
	}
	wait := time.After(time.Second)
	for n < burst-limit {
		select {
		case d := <-answers:
			answered(d)
			continue
		case <-wait:
		}
		break
	}
	close(v.gate)
	for n < burst {
		answered(<-answers)
	}
	if calls := v.calls.Load(); calls != limit {
		t.Errorf("%d legacy checks ran for %d concurrent attempts, want %d", calls, burst, limit)
	}
	want := map[string]int{"Block/" + jit.ReasonLocked: burst - limit, "Retry/" + jit.ReasonMismatch: limit}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("answers %v, want %v", got, want)
	}
	// The pair is locked now: even the right password is blocked there, unchecked.
	if d := s.Decide(ctx, attempt(burst, "Alice-pass-1", "192.0.2.7")); d.Action != idshift.ActionBlock || d.Reason != jit.ReasonLocked {
		t.Errorf("the right password from the locked pair: %s/%s, want Block/locked", d.Action, d.Reason)
	}
	// From another address the account (5 failures of 50) is open, and each success gives its place back: more
	// successes in a row than the pair's limit all migrate.
	for i := range limit + 1 {
		if d := s.Decide(ctx, attempt(i, "Alice-pass-1", "198.51.100.9")); d.Action != idshift.ActionMigrate {
			t.Fatalf("right password #%d from another address: %s/%s, want MigratePassword", i+1, d.Action, d.Reason)
		}
	}
	if calls := v.calls.Load(); calls != 2*limit+1 {
		t.Errorf("%d legacy checks in all, want %d", calls, 2*limit+1)
	}
}

// TestTryLaterReleases: attempts shed (try later) give their places back: as many as the pair's limit of them, then
// the limit's number of wrong passwords, are all checked.
func TestTryLaterReleases(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, guard.Config{Pair: guard.Limit{Failures: 2, Window: time.Minute, LockFor: time.Minute}})
	v := &recordingVerifier{HashVerifier: f.hv, gate: make(chan struct{})}
	s := f.service(t, jit.Config{Verifier: v, Slots: guard.SlotsConfig{Max: 1, Queue: -1}.Open()})
	held := make(chan jit.Decision, 1)
	go func() {
		held <- s.Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-bob", Password: "Bob-pass-2", ClientIP: "192.0.2.1"})
	}()
	waitForCond(t, "the first check to hold the only slot", func() bool { return v.calls.Load() == 1 })
	for i := range 4 {
		d := s.Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-alice", Password: "wrong", ClientIP: "192.0.2.2"})
		if d.Reason != jit.ReasonShed {
			t.Fatalf("attempt %d while the slot is held: %s/%s, want shed", i+1, d.Action, d.Reason)
		}
	}
	close(v.gate)
	if d := <-held; d.Action != idshift.ActionUpdate {
		t.Fatalf("the held check: %s/%s", d.Action, d.Reason)
	}
	for i, want := range []string{jit.ReasonMismatch, jit.ReasonMismatch, jit.ReasonLocked} {
		d := s.Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-alice", Password: "wrong", ClientIP: "192.0.2.2"})
		if d.Reason != want {
			t.Errorf("wrong password #%d after the shed ones: %s/%s, want %s", i+1, d.Action, d.Reason, want)
		}
	}
}
