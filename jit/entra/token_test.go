package entra_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/idshift/idshift/jit/entra"
)

func newValidator(t *testing.T, f *fixture) *entra.TokenValidator {
	t.Helper()
	v, err := entra.NewTokenValidator(entra.TokenConfig{
		Authority: f.is.authority, Audiences: []string{extAppID}, HTTPClient: f.is.srv.Client(), Now: f.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTokenValidatorConfig(t *testing.T) {
	for _, cfg := range []entra.TokenConfig{
		{Audiences: []string{extAppID}},
		{Authority: "http://example.test/t/v2.0", Audiences: []string{extAppID}},
		{Authority: "https://example.test/t/v2.0"},
		{Authority: "https://example.test/t/v2.0", Audiences: []string{""}},
	} {
		if _, err := entra.NewTokenValidator(cfg); err == nil {
			t.Errorf("NewTokenValidator(%+v) accepted", cfg)
		}
	}
}

func TestTokenKeysUnknownKidRefresh(t *testing.T) {
	f := newFixture(t)
	v := newValidator(t, f)
	ctx := context.Background()
	if v.Ready() {
		t.Fatal("ready before any fetch")
	}
	if _, err := v.Validate(ctx, f.token(t, nil)); err != nil {
		t.Fatalf("first token: %v", err)
	}
	if !v.Ready() || f.is.jwksHits.Load() != 1 {
		t.Fatalf("after the first token: ready %v, fetches %d", v.Ready(), f.is.jwksHits.Load())
	}

	// The tenant rotates to key b. Within the rate limit, a token signed with b is refused without a fetch.
	f.is.publish("b", &f.signB.PublicKey)
	tokB := signRS256(t, f.signB, "b", f.tokenClaims())
	f.advance(10 * time.Second)
	if _, err := v.Validate(ctx, tokB); !errors.Is(err, entra.ErrUnknownKey) {
		t.Fatalf("kid b inside the rate limit: %v, want ErrUnknownKey", err)
	}
	if n := f.is.jwksHits.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1 (rate-limited)", n)
	}
	// Past the interval, the unknown kid triggers one fetch and is then accepted.
	f.advance(entra.DefaultMinRefreshInterval)
	tokB = signRS256(t, f.signB, "b", f.tokenClaims())
	if _, err := v.Validate(ctx, tokB); err != nil {
		t.Fatalf("kid b after the refresh: %v", err)
	}
	if n := f.is.jwksHits.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	if s := v.Stats(); s.Fetches != 2 || s.Failures != 0 || s.Keys != 2 {
		t.Errorf("stats = %+v", s)
	}
}

// TestTokenUnknownKidStorm: many concurrent tokens with unknown kids share one fetch, and are all refused.
func TestTokenUnknownKidStorm(t *testing.T) {
	f := newFixture(t)
	v := newValidator(t, f)
	ctx := context.Background()
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Minute) // past the rate limit: the storm may cause exactly one fetch
	f.is.mu.Lock()
	gate := make(chan struct{})
	f.is.gate = gate
	f.is.mu.Unlock()

	const n = 64
	tok := signRS256(t, f.signB, "rogue", f.tokenClaims())
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := v.Validate(ctx, tok)
			errs <- err
		})
	}
	// Let the storm pile up on the one fetch, then release it.
	deadline := time.Now().Add(5 * time.Second)
	for f.is.jwksHits.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, entra.ErrUnknownKey) || !errors.Is(err, entra.ErrUnauthenticated) {
			t.Errorf("storm token: %v, want ErrUnknownKey", err)
		}
	}
	if got := f.is.jwksHits.Load(); got != 2 {
		t.Errorf("JWKS fetches = %d, want 2 (the first and one for the storm)", got)
	}
	if s := v.Stats(); s.Fetches != 2 {
		t.Errorf("stats.Fetches = %d, want 2", s.Fetches)
	}
	// A good token still passes with the cached keys, without a fetch.
	if _, err := v.Validate(ctx, f.token(t, nil)); err != nil {
		t.Errorf("good token after the storm: %v", err)
	}
	if got := f.is.jwksHits.Load(); got != 2 {
		t.Errorf("JWKS fetches = %d, want still 2", got)
	}
}

func TestTokenKeysUnavailable(t *testing.T) {
	f := newFixture(t)
	v := newValidator(t, f)
	ctx := context.Background()
	f.is.fail.Store(true)
	if err := v.Refresh(ctx); err == nil {
		t.Fatal("Refresh succeeded against a failing authority")
	}
	if v.Ready() {
		t.Fatal("ready after a failed fetch")
	}
	if _, err := v.Validate(ctx, f.token(t, nil)); !errors.Is(err, entra.ErrKeysUnavailable) || !errors.Is(err, entra.ErrUnauthenticated) {
		t.Fatalf("Validate without keys: %v, want ErrKeysUnavailable", err)
	}
	if s := v.Stats(); s.Fetches != 1 || s.Failures != 1 {
		t.Errorf("stats = %+v, want 1 fetch, 1 failure (the Validate was rate-limited)", s)
	}
	// The authority comes back: Refresh ignores the rate limit.
	f.is.fail.Store(false)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !v.Ready() {
		t.Fatal("not ready after a good fetch")
	}
	if _, err := v.Validate(ctx, f.token(t, nil)); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// The authority fails again: the cached keys stay in use, even once they are old.
	f.is.fail.Store(true)
	f.advance(entra.DefaultMaxKeyAge + time.Minute)
	if _, err := v.Validate(ctx, f.token(t, nil)); err != nil {
		t.Fatalf("Validate with old keys while the authority is down: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for v.Stats().Failures < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s := v.Stats(); s.Fetches != 3 || s.Failures != 2 || !v.Ready() {
		t.Errorf("stats = %+v ready %v, want a background refresh that failed and keys kept", s, v.Ready())
	}
}

func TestTokenValidateWaitRespectsContext(t *testing.T) {
	f := newFixture(t)
	v := newValidator(t, f)
	f.is.mu.Lock()
	gate := make(chan struct{})
	f.is.gate = gate
	f.is.mu.Unlock()
	defer close(gate)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := v.Validate(ctx, f.token(t, nil))
	if !errors.Is(err, entra.ErrKeysUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Validate = %v, want ErrKeysUnavailable and the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Validate waited %v past its context", d)
	}
}
