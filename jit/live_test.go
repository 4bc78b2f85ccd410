package jit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/jit"
	"github.com/idshift/idshift/store/sqlite"
	"github.com/idshift/idshift/verify"
)

// scripted is a legacy system whose answer each password chooses; it counts the calls it gets.
type scripted struct {
	calls   atomic.Int64
	answers map[string]error // password → answer; "ok" passwords map to nil
	right   string
}

func (s *scripted) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	s.calls.Add(1)
	if err, ok := s.answers[password]; ok {
		return false, err
	}
	return password == s.right, nil
}

// liveFixture: a real SQLite store with one user holding an imported hash (must-change and disabled variants) and
// users without any credential, all of source "corp", plus a user of source "other" without a credential.
func liveFixture(t *testing.T) (*sqlite.DB, *jit.HashVerifier) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Config{Path: filepath.Join(t.TempDir(), "idshift.db")}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := func(pw string) string {
		b, err := bcrypt.GenerateFromPassword([]byte(pw), 4)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	creds := map[idshift.Key]idshift.Credential{
		{Source: "corp", LegacyID: "hashed"}:   {Kind: idshift.CredentialHash, Hash: h("Hashed-pass-1")},
		{Source: "corp", LegacyID: "mustchg"}:  {Kind: idshift.CredentialHash, Hash: h("Hashed-pass-1"), MustChange: true},
		{Source: "corp", LegacyID: "disabled"}: {Kind: idshift.CredentialHash, Hash: h("Hashed-pass-1"), Disabled: true},
	}
	var recs []*idshift.Record
	for _, k := range []idshift.Key{{Source: "corp", LegacyID: "hashed"}, {Source: "corp", LegacyID: "mustchg"},
		{Source: "corp", LegacyID: "disabled"}, {Source: "corp", LegacyID: "live"}, {Source: "corp", LegacyID: "live2"},
		{Source: "other", LegacyID: "plain"}} {
		recs = append(recs, &idshift.Record{Key: k, ObjectID: "obj-" + k.Source + "-" + k.LegacyID,
			SignInNames: []string{k.LegacyID + "@" + k.Source + ".example"}, State: idshift.StateCreated})
	}
	if err := st.PutRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCredentials(ctx, creds); err != nil {
		t.Fatal(err)
	}
	return st, &jit.HashVerifier{Store: st, DummyHash: h("dummy")}
}

func TestLiveDecisions(t *testing.T) {
	st, hv := liveFixture(t)
	legacy := &scripted{right: "Live-pass-1", answers: map[string]error{
		"expired": verify.ErrMustChange, "locked": verify.ErrLocked,
		"down": verify.Unavailable(errors.New("connection refused")),
	}}
	live, err := jit.NewLive(hv, []jit.LiveCheck{{Source: "corp", Kind: "test", Verifier: legacy,
		Breaker: verify.BreakerConfig{Failures: -1, FailureRatio: -1}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := guard.Config{}.OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := jit.Config{Store: st, Guard: g, Verifier: live, Timeout: jit.MaxTimeout, TryLater: idshift.ActionBlock,
		Logger: slog.New(slog.DiscardHandler)}.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())

	tests := []struct {
		name, object, password string
		action                 idshift.Action
		reason                 string
		liveCalls              int64
	}{
		{"imported hash, right", "obj-corp-hashed", "Hashed-pass-1", idshift.ActionMigrate, jit.ReasonMatch, 0},
		{"imported hash, wrong: never retried live", "obj-corp-hashed", "Live-pass-1", idshift.ActionRetry, jit.ReasonMismatch, 0},
		{"imported hash, must change", "obj-corp-mustchg", "Hashed-pass-1", idshift.ActionUpdate, jit.ReasonMatch, 0},
		{"imported hash, disabled", "obj-corp-disabled", "Hashed-pass-1", idshift.ActionBlock, jit.ReasonDisabled, 0},
		{"imported hash, disabled, wrong", "obj-corp-disabled", "nope", idshift.ActionRetry, jit.ReasonMismatch, 0},
		{"live, right", "obj-corp-live", "Live-pass-1", idshift.ActionMigrate, jit.ReasonMatch, 1},
		{"live, wrong", "obj-corp-live", "Live-pass-2", idshift.ActionRetry, jit.ReasonMismatch, 1},
		{"live, must change", "obj-corp-live", "expired", idshift.ActionUpdate, jit.ReasonMatch, 1},
		{"live, locked", "obj-corp-live", "locked", idshift.ActionBlock, jit.ReasonDisabled, 1},
		{"live, unavailable: try later", "obj-corp-live", "down", idshift.ActionBlock, jit.ReasonUnavailable, 1},
		{"source without a live check", "obj-other-plain", "Live-pass-1", idshift.ActionRetry, jit.ReasonNoCredential, 0},
		{"unknown user", "obj-nobody", "Live-pass-1", idshift.ActionRetry, jit.ReasonUnknownUser, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := legacy.calls.Load()
			d := svc.Verify(context.Background(), idshift.Attempt{Front: "test", ObjectID: tt.object, Password: tt.password, ClientIP: "192.0.2.1"})
			if d.Action != tt.action || d.Reason != tt.reason {
				t.Fatalf("got %s/%s, want %s/%s", d.Action, d.Reason, tt.action, tt.reason)
			}
			if got := legacy.calls.Load() - before; got != tt.liveCalls {
				t.Fatalf("legacy system called %d times, want %d", got, tt.liveCalls)
			}
		})
	}

	// "Try later" is never a guard failure: many unavailable answers lock nothing.
	for range guard.DefaultPairFailures * 2 {
		d := svc.Verify(context.Background(), idshift.Attempt{Front: "test", ObjectID: "obj-corp-live2", Password: "down", ClientIP: "192.0.2.2"})
		if d.Reason != jit.ReasonUnavailable {
			t.Fatalf("unavailable legacy system answered %s/%s", d.Action, d.Reason)
		}
	}
	// The guard applies before any legacy call: once the pair is locked, the legacy system is not asked.
	for range guard.DefaultPairFailures {
		svc.Verify(context.Background(), idshift.Attempt{Front: "test", ObjectID: "obj-corp-live2", Password: "wrong", ClientIP: "192.0.2.2"})
	}
	before := legacy.calls.Load()
	d := svc.Verify(context.Background(), idshift.Attempt{Front: "test", ObjectID: "obj-corp-live2", Password: "Live-pass-1", ClientIP: "192.0.2.2"})
	if d.Action != idshift.ActionBlock || d.Reason != jit.ReasonLocked || legacy.calls.Load() != before {
		t.Fatalf("locked pair: %s/%s with %d legacy calls, want Block/locked with none", d.Action, d.Reason, legacy.calls.Load()-before)
	}

	var b strings.Builder
	if err := live.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`idshift_legacy_verify_total{source="corp",verifier="test",outcome="match"} 1`,
		`idshift_legacy_verify_total{source="corp",verifier="test",outcome="must_change"} 1`,
		`idshift_legacy_verify_total{source="corp",verifier="test",outcome="locked"} 1`,
		fmt.Sprintf(`idshift_legacy_verify_total{source="corp",verifier="test",outcome="error"} %d`, 1+guard.DefaultPairFailures*2),
		`idshift_legacy_verify_seconds_count{source="corp",verifier="test"} `,
		`idshift_legacy_circuit_state{source="corp",verifier="test"} 0`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, b.String())
		}
	}
}

func TestLiveBreakerOpensFast(t *testing.T) {
	st, hv := liveFixture(t)
	legacy := &scripted{answers: map[string]error{"pw": verify.Unavailable(errors.New("down"))}}
	live, err := jit.NewLive(hv, []jit.LiveCheck{{Source: "corp", Kind: "test", Verifier: legacy,
		Breaker: verify.BreakerConfig{Failures: 2}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.RecordByObjectID(context.Background(), "obj-corp-live")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		_, err := live.Check(context.Background(), rec, "pw")
		if !errors.Is(err, idshift.ErrUnavailable) {
			t.Fatalf("call %d: %v, want unavailable", i, err)
		}
		if i >= 2 && !errors.Is(err, verify.ErrOpen) {
			t.Fatalf("call %d: %v, want the open circuit's answer", i, err)
		}
	}
	if n := legacy.calls.Load(); n != 2 {
		t.Fatalf("legacy system asked %d times, want 2 (then the circuit is open)", n)
	}
}

func TestNewLiveErrors(t *testing.T) {
	hv := &jit.HashVerifier{}
	v := &scripted{}
	for name, checks := range map[string][]jit.LiveCheck{
		"no source": {{Kind: "x", Verifier: v}},
		"no kind":   {{Source: "a", Verifier: v}},
		"no check":  {{Source: "a", Kind: "x"}},
		"twice":     {{Source: "a", Kind: "x", Verifier: v}, {Source: "a", Kind: "y", Verifier: v}},
	} {
		if _, err := jit.NewLive(hv, checks, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := jit.NewLive(nil, nil, nil); err == nil {
		t.Error("no hash verifier: no error")
	}
}
