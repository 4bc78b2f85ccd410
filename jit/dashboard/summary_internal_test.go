package dashboard

import (
	"testing"

	"github.com/idshift/idshift/jit"
)

func TestQuantile(t *testing.T) {
	bounds := []float64{0.005, 0.01, 0.5, 2}
	h := jit.LatencyHistogram{Counts: []uint64{50, 44, 5, 0, 1}, N: 100, Sum: 3}
	for _, c := range []struct {
		q    float64
		want string
	}{{0.5, "≤ 5 ms"}, {0.51, "≤ 10 ms"}, {0.95, "≤ 500 ms"}, {0.99, "≤ 500 ms"}, {1, "> 2 s"}} {
		if got := quantile(h, bounds, c.q); got != c.want {
			t.Errorf("quantile %v = %q, want %q", c.q, got, c.want)
		}
	}
	if got := quantile(jit.LatencyHistogram{Counts: make([]uint64, 5)}, bounds, 0.5); got != "–" {
		t.Errorf("no answers: %q", got)
	}
	if s := summarize(h, bounds); s.MeanMS != 30 || s.N != 100 {
		t.Errorf("summary %+v, want a 30 ms mean over 100", s)
	}
}

func TestFormatCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345: "-12,345"} {
		if got := formatCount(n); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", n, got, want)
		}
	}
}
