package guard_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
)

func openMemory(t testing.TB, cfg guard.Config, n int) []idshift.Guard {
	t.Helper()
	m, err := cfg.OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	gs := make([]idshift.Guard, n)
	for i := range gs {
		gs[i] = m // one process: one guard
	}
	return gs
}

func TestMemoryConformance(t *testing.T) { runConformance(t, openMemory) }

func TestMemoryEvictsOldestPastMaxKeys(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m, err := guard.Config{
		Account: guard.Limit{Failures: 2},
		IP:      guard.Limit{Failures: -1},
		Pair:    guard.Limit{Failures: -1},
		MaxKeys: 10,
		Now:     c.Now,
	}.OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Fail(ctx, "first", ""); err != nil {
		t.Fatal(err)
	}
	// Nine more keys fill the map; "first" is still counted.
	for i := range 9 {
		if _, err := m.Fail(ctx, fmt.Sprintf("user%d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() != 10 {
		t.Fatalf("Len = %d, want 10", m.Len())
	}
	// The eleventh evicts the oldest: "first".
	if _, err := m.Fail(ctx, "eleventh", ""); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 10 {
		t.Fatalf("Len = %d after eviction, want 10", m.Len())
	}
	l, err := m.Fail(ctx, "first", "")
	if err != nil {
		t.Fatal(err)
	}
	if l.Locked {
		t.Fatal(`"first" was locked: its counter was not evicted`)
	}
	// user8 was written recently and kept: its second failure locks.
	if l, _ = m.Fail(ctx, "user8", ""); !l.Locked {
		t.Fatal(`"user8" was not locked: a recent counter was evicted`)
	}
}

func TestMemoryExpiresIdleCounters(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	cfg := testConfig(c) // longest window or lock: 4 minutes
	m, err := cfg.OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := m.Fail(ctx, fmt.Sprintf("user%d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() == 0 {
		t.Fatal("no counters held")
	}
	c.Add(4*time.Minute - time.Millisecond)
	if _, err := m.Fail(ctx, "late", ""); err != nil {
		t.Fatal(err)
	}
	if m.Len() < 50 {
		t.Fatalf("Len = %d: counters dropped before they were idle long enough", m.Len())
	}
	c.Add(time.Millisecond)
	if _, err := m.Fail(ctx, "later", ""); err != nil {
		t.Fatal(err)
	}
	// Left: "late" and "later" (account counters only).
	if m.Len() != 2 {
		t.Fatalf("Len = %d after the idle time, want 2", m.Len())
	}
}

func TestConfigRejectsBadLimits(t *testing.T) {
	for _, cfg := range []guard.Config{
		{Pair: guard.Limit{Window: -time.Second}},
		{Account: guard.Limit{LockFor: time.Microsecond}},
		{MaxKeys: -1},
	} {
		if _, err := cfg.OpenMemory(); err == nil {
			t.Errorf("OpenMemory(%+v): no error", cfg)
		}
	}
}

func BenchmarkMemory(b *testing.B) {
	m, err := guard.Config{}.OpenMemory()
	if err != nil {
		b.Fatal(err)
	}
	benchGuard(b, m)
}

// benchGuard measures Fail (on ever new accounts and IPs, so that nothing locks) and Check.
func benchGuard(b *testing.B, g idshift.Guard) {
	ctx := context.Background()
	b.Run("Fail", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, err := g.Fail(ctx, fmt.Sprintf("user%d", i), fmt.Sprintf("10.0.%d.%d", i/256%256, i%256)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Check", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, err := g.Check(ctx, fmt.Sprintf("user%d", i%1000), "10.0.0.1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
