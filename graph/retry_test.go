package graph_test

import (
	"testing"
	"time"

	"github.com/idshift/idshift/graph"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2.128", 2128 * time.Millisecond, true},
		{"3", 3 * time.Second, true},
		{" 10 ", 10 * time.Second, true},
		{"0", 0, true},
		{"0.001", time.Millisecond, true},
		{"-1", 0, true},
		{"1e1", 10 * time.Second, true},
		{"86400", graph.MaxRetryAfter, true},
		{"Wed, 25 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Wed, 25 Nov 2026 11:59:00 GMT", 0, true},
		{"", 0, false},
		{"soon", 0, false},
		{"NaN", 0, false},
		{"1.2.3", 0, false},
		{"Inf", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := graph.ParseRetryAfter(tt.in, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestBackoffFullJitter(t *testing.T) {
	b := graph.Backoff{Base: 100 * time.Millisecond, Max: 2 * time.Second}
	wantCeil := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 2 * time.Second, 2 * time.Second}
	for i, w := range wantCeil {
		if got := b.Ceiling(i); got != w {
			t.Errorf("Ceiling(%d) = %v, want %v", i, got, w)
		}
	}
	if got := b.Ceiling(1000); got != 2*time.Second {
		t.Errorf("Ceiling(1000) = %v, want the max", got)
	}
	// Full jitter: the delay spans [0, ceiling).
	for _, r := range []float64{0, 0.5, 0.999} {
		b.Rand = func() float64 { return r }
		if got, want := b.Delay(3), time.Duration(r*float64(800*time.Millisecond)); got != want {
			t.Errorf("Delay(3) with rand %v = %v, want %v", r, got, want)
		}
	}
	// With the real generator every delay stays under the ceiling and they are not all equal.
	b.Rand = nil
	seen := map[time.Duration]bool{}
	for range 50 {
		d := b.Delay(4)
		if d < 0 || d >= 1600*time.Millisecond {
			t.Fatalf("Delay(4) = %v out of [0,1.6s)", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct delays in 50: no jitter", len(seen))
	}
	// Zero value: 500ms base, 30s max.
	if got := (graph.Backoff{}).Ceiling(0); got != 500*time.Millisecond {
		t.Errorf("zero Backoff Ceiling(0) = %v", got)
	}
	if got := (graph.Backoff{}).Ceiling(10); got != 30*time.Second {
		t.Errorf("zero Backoff Ceiling(10) = %v", got)
	}
}
