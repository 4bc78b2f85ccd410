package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRejectFileWriteErrorFailsTheRun: a reject file that cannot be written ends the run with a clear message and a
// non-zero status, instead of announcing rejects that were never written.
func TestRejectFileWriteErrorFailsTheRun(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	dir := t.TempDir()
	vars := sandboxVars(t, dir, "--no-throttle")
	code, stdout, stderr := run(t, vars, "import", "--source", "../../examples/users.csv", "--store", filepath.Join(dir, "s.db"),
		"--setup-extensions", "--rejects", "/dev/full", "--app-writes", "100000", "--app-window", "1s")
	if code != exitFailed || !strings.Contains(stderr, "reject file") || !strings.Contains(stderr, "/dev/full") ||
		!strings.Contains(stderr, "no space left") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "rejected records (line, field, reason): /dev/full") {
		t.Errorf("the summary points at a reject file that holds nothing:\n%s", stdout)
	}
}

// TestDryRunWithoutCredentialsPlansOffline: with no credentials configured, a dry run plans from the source alone
// and creates no store.
func TestDryRunWithoutCredentialsPlansOffline(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "s.db")
	code, stdout, stderr := run(t, map[string]string{"IDSHIFT_TENANT_DOMAIN": "contoso.onmicrosoft.com"},
		"import", "--source", "../../examples/users.csv", "--store", state, "--dry-run",
		"--graph-url", "https://127.0.0.1:1") // nothing listens there: any contact would fail
	if code != exitWithRejections {
		t.Fatalf("exit %d\n%.500s\n%s", code, stdout, stderr)
	}
	if n := strings.Count(stdout, `"action":"create"`); n != 292 {
		t.Errorf("%d creates planned, want 292", n)
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("a dry run created the store")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "idshift-seen-*")); len(left) != 0 {
		t.Errorf("scratch index left behind: %v", left)
	}
}

// TestLocalInputsAreCheckedFirst: a missing source, mapping, unreadable store or unwritable reject path is reported
// before anything contacts the tenant (whose URL here would only time out).
func TestLocalInputsAreCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{
		"IDSHIFT_TENANT_DOMAIN": "contoso.onmicrosoft.com", "AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000001",
		"AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111", "AZURE_CLIENT_SECRET": "not-a-real-one",
		"AZURE_AUTHORITY_HOST": "https://127.0.0.1:1/",
	}
	notDB := filepath.Join(dir, "not-a-db.db")
	os.WriteFile(notDB, []byte("this is not a database, it is a file of forty-odd bytes"), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"source", []string{"--source", filepath.Join(dir, "missing.csv")}, "missing.csv"},
		{"mapping", []string{"--source", "../../examples/users.csv", "--mapping", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{"store", []string{"--source", "../../examples/users.csv", "--store", notDB}, "not-a-db"},
		{"rejects", []string{"--source", "../../examples/users.csv", "--rejects", filepath.Join(dir, "no", "such", "dir", "r.jsonl")}, "rejects"},
		{"store directory", []string{"--source", "../../examples/users.csv", "--store", filepath.Join(dir, "no", "such", "s.db"),
			"--rejects", filepath.Join(dir, "r.jsonl")}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"import", "--store", filepath.Join(dir, "s.db")}, tt.args...)
			t0 := time.Now()
			code, _, stderr := run(t, vars, args...)
			if code != exitFailed || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "127.0.0.1:1") {
				t.Errorf("exit %d, stderr %q: want a local error naming %q", code, stderr, tt.want)
			}
			if d := time.Since(t0); d > 20*time.Second {
				t.Errorf("took %s: the tenant was contacted", d)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "r.jsonl")); err == nil {
		t.Error("a run that stopped before the import left a new reject file")
	}
}

func TestRateEstimator(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tick := func(e *rateEstimator, rates []float64, every time.Duration, start time.Time, n int64) (float64, time.Time, int64) {
		var r float64
		now := start
		for _, per := range rates {
			now = now.Add(every)
			n += int64(per * every.Seconds())
			r = e.observe(now, n)
		}
		return r, now, n
	}
	steady := func(k int, rate float64) []float64 {
		out := make([]float64, k)
		for i := range out {
			out[i] = rate
		}
		return out
	}
	near := func(got, want, tol float64) bool { return got >= want*(1-tol) && got <= want*(1+tol) }

	t.Run("steady rate, whatever the tick", func(t *testing.T) {
		for _, every := range []time.Duration{250 * time.Millisecond, 10 * time.Second} {
			e := &rateEstimator{}
			e.observe(t0, 0)
			r, _, _ := tick(e, steady(int(2*time.Minute/every), 100), every, t0, 0)
			if !near(r, 100, 0.01) {
				t.Errorf("tick %s: rate %.1f, want 100", every, r)
			}
		}
	})
	t.Run("slow start is forgotten", func(t *testing.T) {
		e := &rateEstimator{tau: 20 * time.Second}
		e.observe(t0, 0)
		// 30 s at 10/s (token fetch, extension checks, a throttled start), then 100/s.
		_, now, n := tick(e, steady(30, 10), time.Second, t0, 0)
		r, _, _ := tick(e, steady(60, 100), time.Second, now, n)
		if !near(r, 100, 0.1) {
			t.Errorf("rate %.1f a minute after the change, want about 100 (an average since the start says %.1f)", r, float64(n+6000)/90)
		}
	})
	t.Run("one burst does not swing the estimate", func(t *testing.T) {
		e := &rateEstimator{tau: 20 * time.Second}
		e.observe(t0, 0)
		_, now, n := tick(e, steady(240, 50), 250*time.Millisecond, t0, 0)
		r, _, _ := tick(e, []float64{400}, 250*time.Millisecond, now, n) // a chunk's worth recorded at once
		if !near(r, 50, 0.1) {
			t.Errorf("rate %.1f after a quarter-second burst, want about 50", r)
		}
	})
	t.Run("eta", func(t *testing.T) {
		if got := eta(1000, 400, 20); got != "30s" {
			t.Errorf("eta %q, want 30s", got)
		}
		for _, c := range []struct {
			total, done int64
			rate        float64
		}{{0, 1, 5}, {10, 11, 5}, {10, 1, 0}} {
			if got := eta(c.total, c.done, c.rate); got != "?" {
				t.Errorf("eta(%d, %d, %v) = %q, want ?", c.total, c.done, c.rate, got)
			}
		}
	})
}
