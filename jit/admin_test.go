package jit_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/jit"
)

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdmin(t *testing.T) {
	f := newFixture(t, guard.Config{Pair: guard.Limit{Failures: 1, Window: 60e9, LockFor: 60e9}})
	m := &jit.Metrics{JWKS: func() (uint64, uint64) { return 3, 1 }}
	s := f.service(t, jit.Config{Metrics: m})
	ctx := context.Background()
	s.Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-alice", Password: "Alice-pass-1", ClientIP: "192.0.2.1"})
	s.Decide(ctx, idshift.Attempt{Front: idshift.FrontHarvest, SignInName: "bob", Password: "wrong", ClientIP: "192.0.2.1"})
	s.Decide(ctx, idshift.Attempt{Front: idshift.FrontHarvest, SignInName: "bob", Password: "wrong", ClientIP: "192.0.2.1"})

	storeDown := errors.New("store down")
	var fail bool
	admin := &jit.Admin{Metrics: m, Checks: []jit.ReadyCheck{
		{Name: "store", Check: s.Ping},
		{Name: "keys", Check: func(context.Context) error {
			if fail {
				return storeDown
			}
			return nil
		}},
	}}
	srv := httptest.NewServer(admin.Handler())
	defer srv.Close()

	if code, body := get(t, srv, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, _ := get(t, srv, "/readyz"); code != 200 {
		t.Errorf("/readyz = %d, want 200", code)
	}
	fail = true
	if code, body := get(t, srv, "/readyz"); code != 503 || !strings.Contains(body, "keys") || strings.Contains(body, "store down") {
		t.Errorf("/readyz with a failing check = %d %q, want 503 naming the check only", code, body)
	}
	code, body := get(t, srv, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`idshift_attempts_total{front="entra",action="MigratePassword",reason="match"} 1`,
		`idshift_attempts_total{front="harvest",action="Retry",reason="mismatch"} 1`,
		`idshift_attempts_total{front="harvest",action="Block",reason="locked"} 1`,
		`idshift_decision_seconds_count{front="harvest"} 2`,
		`idshift_decision_seconds_bucket{front="entra",le="+Inf"} 1`,
		`idshift_guard_blocks_total{scope="account+ip"} 1`,
		`idshift_jwks_refreshes_total{result="error"} 1`,
		`idshift_jwks_refreshes_total{result="ok"} 2`,
		"idshift_shed_total 0",
		"idshift_deadline_answers_total 0",
		"idshift_verifications_in_flight 0",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "Alice-pass-1") || strings.Contains(body, "obj-alice") || strings.Contains(body, "192.0.2.1") {
		t.Error("/metrics names a user, an address or a password")
	}

	snap := m.Snapshot()
	if len(snap.Latency) != 2 || snap.Latency[0].Front != "entra" || snap.Latency[0].N != 1 || snap.Latency[1].N != 2 ||
		len(snap.Latency[1].Counts) != len(snap.Bounds)+1 || snap.GuardBlocks["account+ip"] != 1 {
		t.Errorf("Snapshot %+v disagrees with /metrics", snap)
	}
	var inBuckets uint64
	for _, n := range snap.Latency[1].Counts {
		inBuckets += n
	}
	if inBuckets != snap.Latency[1].N {
		t.Errorf("harvest: %d answers in the buckets, %d counted", inBuckets, snap.Latency[1].N)
	}
	if code, _ := get(t, srv, "/dashboard"); code != 404 {
		t.Errorf("/dashboard without a dashboard = %d, want 404", code)
	}
}
