package graph_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/internal/testclock"
)

func newPacer(clk *testclock.Clock, l graph.Limits) *graph.Pacer {
	return &graph.Pacer{Limits: l, Now: clk.Now, Sleep: clk.Sleep}
}

// TestPacerRate: a saturated caller gets the bucket's burst at once and then exactly the rate.
func TestPacerRate(t *testing.T) {
	tests := []struct {
		name   string
		limits graph.Limits
		n      int // writes per Wait
		dur    time.Duration
		want   float64 // writes admitted in dur
	}{
		// 20/s with a 1 s burst: 20 + 20·30.
		{"graph defaults", graph.Limits{}, 1, 30 * time.Second, 20 + 20*30},
		{"batches of 20", graph.Limits{}, 20, 30 * time.Second, 20 + 20*30},
		// The tenant bucket (60/s) is not the bottleneck for one app at 60/s... the app is.
		// A 1 s window: the burst is half of it.
		{"scaled", graph.Limits{AppWrites: 60, AppWindow: time.Second, TenantWrites: 180, TenantWindow: time.Second}, 1, 5 * time.Second, 30 + 60*5},
		// Tenant below the app: the tenant bucket paces.
		{"tenant bound", graph.Limits{AppWrites: 100, AppWindow: time.Second, TenantWrites: 50, TenantWindow: time.Second}, 1, 4 * time.Second, 25 + 50*4},
		{"utilization", graph.Limits{AppWrites: 100, AppWindow: time.Second, TenantWrites: 1000, TenantWindow: time.Second, Utilization: 0.5}, 1, 4 * time.Second, 25 + 50*4},
		{"burst a whole window", graph.Limits{AppWrites: 100, AppWindow: time.Second, TenantWrites: 1000, TenantWindow: time.Second, Burst: time.Second}, 1, 4 * time.Second, 100 + 100*4},
		{"burst 0.1s", graph.Limits{AppWrites: 100, AppWindow: time.Second, TenantWrites: 1000, TenantWindow: time.Second, Burst: 100 * time.Millisecond}, 1, 4 * time.Second, 10 + 100*4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			p := newPacer(clk, tt.limits)
			start := clk.Now()
			admitted := 0
			for {
				if err := p.Wait(context.Background(), "app", tt.n); err != nil {
					t.Fatal(err)
				}
				if clk.Now().Sub(start) > tt.dur {
					break
				}
				admitted += tt.n
			}
			// Allow one Wait's worth of rounding at the edge.
			if math.Abs(float64(admitted)-tt.want) > float64(tt.n) {
				t.Errorf("admitted %d writes in %v, want %v", admitted, tt.dur, tt.want)
			}
		})
	}
}

// TestPacerAppsShareTenant: three apps at 60/s each under a 120/s tenant get 120/s together, and each app alone
// is held to 60/s.
func TestPacerAppsShareTenant(t *testing.T) {
	clk := newFakeClock()
	p := newPacer(clk, graph.Limits{AppWrites: 60, AppWindow: time.Second, TenantWrites: 120, TenantWindow: time.Second})
	start := clk.Now()
	counts := map[string]int{}
	apps := []string{"a", "b", "c"}
	for i := 0; ; i++ {
		app := apps[i%3]
		if err := p.Wait(context.Background(), app, 1); err != nil {
			t.Fatal(err)
		}
		if clk.Now().Sub(start) > 10*time.Second {
			break
		}
		counts[app]++
	}
	total := counts["a"] + counts["b"] + counts["c"]
	if want := 60 + 120*10; math.Abs(float64(total-want)) > 3 { // burst: half the tenant's 1 s window
		t.Errorf("total %d in 10s, want %d (%v)", total, want, counts)
	}
	for _, a := range apps {
		if counts[a] > 60+60*10+1 {
			t.Errorf("app %s got %d, above its own limit", a, counts[a])
		}
	}
}

// TestPacerThrottlePause: a 429 drains the bucket and holds every write for Retry-After; 429s of the same episode
// count once; the rate is lowered and then recovers.
func TestPacerThrottlePause(t *testing.T) {
	clk := newFakeClock()
	l := graph.Limits{AppWrites: 10, AppWindow: time.Second, TenantWrites: 1000, TenantWindow: time.Second, Burst: time.Second}
	p := newPacer(clk, l)
	ctx := context.Background()
	if got := p.Available("a"); got != 10 {
		t.Fatalf("Available = %v, want a full bucket of 10", got)
	}
	t0 := clk.Now()
	p.Throttled("a", "Tenant_Application/ReadWrite/a/t", 2*time.Second)
	p.Throttled("a", "Tenant_Application/ReadWrite/a/t", 2*time.Second) // same episode
	p.Throttled("a", "", 1500*time.Millisecond)                         // covered by the pause
	if err := p.Wait(ctx, "a", 1); err != nil {
		t.Fatal(err)
	}
	waited := clk.Now().Sub(t0)
	// Drained and paused 2 s, then one token at the lowered rate (10/s × 0.8).
	if waited < 2*time.Second || waited > 2*time.Second+200*time.Millisecond {
		t.Errorf("first write after the 429 waited %v, want just over 2s", waited)
	}
	// Another app is not held (app scope).
	t1 := clk.Now()
	if err := p.Wait(ctx, "b", 1); err != nil {
		t.Fatal(err)
	}
	if clk.Now() != t1 {
		t.Errorf("app b waited %v after app a's 429", clk.Now().Sub(t1))
	}
	// Lowered rate right after the pause: 20 writes take longer than 2 s at 10/s.
	t2 := clk.Now()
	for range 20 {
		if err := p.Wait(ctx, "a", 1); err != nil {
			t.Fatal(err)
		}
	}
	slow := clk.Now().Sub(t2)
	if slow <= 2*time.Second {
		t.Errorf("20 writes right after a 429 took %v; want the rate lowered (> 2s)", slow)
	}
	// After a quiet window the rate is back: 10 writes after a full bucket, then exactly 10/s.
	clk.Advance(5 * time.Second)
	t3 := clk.Now()
	for range 30 {
		if err := p.Wait(ctx, "a", 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := clk.Now().Sub(t3); got < 1900*time.Millisecond || got > 2100*time.Millisecond {
		t.Errorf("30 writes after recovery took %v, want 2s (10 burst + 20 at 10/s)", got)
	}
}

// TestPacerTenantScope: a 429 whose scope is the tenant holds every app.
func TestPacerTenantScope(t *testing.T) {
	clk := newFakeClock()
	p := newPacer(clk, graph.Limits{AppWrites: 100, AppWindow: time.Second, TenantWrites: 100, TenantWindow: time.Second})
	t0 := clk.Now()
	p.Throttled("a", "Tenant/ReadWrite/tenant", time.Second)
	if err := p.Wait(context.Background(), "b", 1); err != nil {
		t.Fatal(err)
	}
	if got := clk.Now().Sub(t0); got < time.Second {
		t.Errorf("app b waited %v after a tenant-scope 429, want ≥ 1s", got)
	}
}

// TestPacerShiftsSleepers: a caller already waiting its turn when a 429 arrives follows the pushed-back schedule.
func TestPacerShiftsSleepers(t *testing.T) {
	clk := newFakeClock()
	p := newPacer(clk, graph.Limits{AppWrites: 1, AppWindow: time.Second, TenantWrites: 100, TenantWindow: time.Second})
	ctx := context.Background()
	if err := p.Wait(ctx, "a", 1); err != nil { // the burst token
		t.Fatal(err)
	}
	fired := false
	clk.OnSleep(func(time.Duration) {
		if !fired {
			fired = true
			p.Throttled("a", "", 3*time.Second)
		}
	})
	t0 := clk.Now()
	if err := p.Wait(ctx, "a", 1); err != nil {
		t.Fatal(err)
	}
	// It was due at +1s; the 429 during its sleep pushed it back by the 3s pause plus the 0.25s its one queued
	// token takes more at the lowered rate (1/s × 0.8).
	if got, want := clk.Now().Sub(t0), 4250*time.Millisecond; got < want || got > want+10*time.Millisecond {
		t.Errorf("waited %v, want %v; sleeps %v", got, want, clk.Sleeps())
	}
}

// TestPacerCancel: a cancelled wait gives its tokens back.
func TestPacerCancel(t *testing.T) {
	clk := newFakeClock()
	p := newPacer(clk, graph.Limits{AppWrites: 10, AppWindow: time.Second, TenantWrites: 100, TenantWindow: time.Second, Burst: time.Second})
	if err := p.Wait(context.Background(), "a", 10); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx, "a", 5); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	clk.OnSleep(func(time.Duration) { cancel() })
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel = cancel2
	if err := p.Wait(ctx2, "a", 5); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	// 0, give or take the refill during the pacer's 2 ms slack.
	if got := p.Available("a"); math.Abs(got) > 0.05 {
		t.Errorf("Available = %v after cancelled waits, want 0 (tokens given back)", got)
	}
}

func TestLimitsValidation(t *testing.T) {
	for _, tt := range []struct {
		l     graph.Limits
		field string
	}{
		{graph.Limits{AppWrites: -1}, "AppWrites"},
		{graph.Limits{TenantWindow: -time.Second}, "TenantWindow"},
		{graph.Limits{Utilization: 1.5}, "Utilization"},
	} {
		t.Run(tt.field, func(t *testing.T) {
			err := graph.NewPacer(tt.l).Wait(context.Background(), "a", 1)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("err %v, want one naming %s", err, tt.field)
			}
		})
	}
}
