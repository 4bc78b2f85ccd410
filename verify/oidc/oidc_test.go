package oidc_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/verify"
	"github.com/idshift/idshift/verify/internal/verifytest"
	"github.com/idshift/idshift/verify/oidc"
)

const (
	adaPassword = "Legacy-B2C-Passw0rd-Ada!"
	offPassword = "Legacy-B2C-Passw0rd-Off!"
)

// legacyTenant starts a legacy B2C tenant's ROPC endpoint over HTTPS and returns it, its base URL, its CA (PEM)
// and a counter of the TCP connections it accepted.
func legacyTenant(t *testing.T) (*sandbox.LegacyB2C, string, []byte, *atomic.Int64) {
	t.Helper()
	b2c, err := sandbox.NewLegacyB2C(sandbox.LegacyB2CConfig{Tenant: "contoso", Lockout: 3, Users: []sandbox.LegacyUser{
		{SignInName: "ada@example.com", Password: adaPassword},
		{SignInName: "off@example.com", Password: offPassword, Disabled: true},
		{SignInName: "locked@example.com", Password: offPassword, Locked: true},
		{SignInName: "expired@example.com", Password: offPassword, MustChange: true},
		{SignInName: "brute@example.com", Password: offPassword},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv, ca, conns := verifytest.TLSServer(t, b2c)
	return b2c, srv.URL, ca, conns
}

func record(name string) *idshift.Record {
	return &idshift.Record{Key: idshift.Key{Source: "b2c", LegacyID: "1"}, SignInNames: []string{name}}
}

func open(t *testing.T, c oidc.Config) *oidc.Verifier {
	return verifytest.Open(t, c.Open)
}

// TestROPCOutcomes: every outcome of the check against a legacy B2C tenant: a right password is believed only with
// a valid id_token; invalid_grant is a wrong password, unless its code says the account is locked or disabled
// (AADB2C90111, AADB2C90114: whatever the password) or the right password expired (AADSTS50055); anything else is
// "could not decide".
func TestROPCOutcomes(t *testing.T) {
	b2c, base, ca, conns := legacyTenant(t)
	v := open(t, oidc.Config{Authority: b2c.Authority(base), ClientID: b2c.ClientID(), RootCAData: ca,
		Scope: "openid " + b2c.ClientID(), ResponseType: "token id_token"})
	ctx := context.Background()
	type want int
	const (
		match want = iota
		mismatch
		unavailable
		locked
		mustChange
	)
	tests := []struct {
		name, user, password string
		fault                sandbox.LegacyFault
		want                 want
	}{
		{"right password", "ada@example.com", adaPassword, sandbox.FaultNone, match},
		{"name in another case", "Ada@Example.com", adaPassword, sandbox.FaultNone, match},
		{"wrong password", "ada@example.com", adaPassword + "x", sandbox.FaultNone, mismatch},
		{"unknown user", "nobody@example.com", adaPassword, sandbox.FaultNone, mismatch},
		{"disabled account", "off@example.com", offPassword, sandbox.FaultNone, locked},
		{"disabled account, wrong password", "off@example.com", "nope", sandbox.FaultNone, locked},
		{"locked account", "locked@example.com", offPassword, sandbox.FaultNone, locked},
		{"locked account, wrong password", "locked@example.com", "nope", sandbox.FaultNone, locked},
		{"expired password, right", "expired@example.com", offPassword, sandbox.FaultNone, mustChange},
		{"expired password, wrong", "expired@example.com", "nope", sandbox.FaultNone, mismatch},
		{"brute 1", "brute@example.com", "a", sandbox.FaultNone, mismatch},
		{"brute 2", "brute@example.com", "b", sandbox.FaultNone, mismatch},
		{"brute 3", "brute@example.com", "c", sandbox.FaultNone, mismatch},
		{"smart lockout", "brute@example.com", offPassword, sandbox.FaultNone, locked},
		{"empty password", "ada@example.com", "", sandbox.FaultNone, mismatch},
		{"server error", "ada@example.com", adaPassword, sandbox.FaultServerError, unavailable},
		{"server error, wrong password", "ada@example.com", "nope", sandbox.FaultServerError, unavailable},
		{"html answer", "ada@example.com", adaPassword, sandbox.FaultNotJSON, unavailable},
		{"forged token", "ada@example.com", adaPassword, sandbox.FaultForgedToken, unavailable},
		{"token for another client", "ada@example.com", adaPassword, sandbox.FaultWrongAudience, unavailable},
		{"token from another issuer", "ada@example.com", adaPassword, sandbox.FaultWrongIssuer, unavailable},
		{"expired token", "ada@example.com", adaPassword, sandbox.FaultExpiredToken, unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b2c.SetFault(tt.fault)
			defer b2c.SetFault(sandbox.FaultNone)
			ok, err := v.Verify(ctx, record(tt.user), tt.password)
			switch tt.want {
			case match:
				if !ok || err != nil {
					t.Fatalf("got %v, %v; want a match", ok, err)
				}
			case mismatch:
				if ok || err != nil {
					t.Fatalf("got %v, %v; want a mismatch", ok, err)
				}
			case locked, mustChange:
				target := verify.ErrLocked
				if tt.want == mustChange {
					target = verify.ErrMustChange
				}
				if ok || !errors.Is(err, target) || errors.Is(err, verify.ErrUnavailable) || !verify.Decided(err) {
					t.Fatalf("got %v, %v; want %v", ok, err, target)
				}
				verifytest.NoSecret(t, err, offPassword, tt.user)
			case unavailable:
				if ok || !errors.Is(err, verify.ErrUnavailable) || !errors.Is(err, idshift.ErrUnavailable) {
					t.Fatalf("got %v, %v; want could not decide", ok, err)
				}
				if verify.Decided(err) {
					t.Fatalf("%v counts as decided", err)
				}
				verifytest.NoSecret(t, err, adaPassword, "eyJ")
			}
		})
	}
	if n := conns.Load(); n > 2 {
		t.Errorf("%d connections for %d checks: want the connection reused", n, len(tests))
	}
}

// TestROPCConfigurationMistakes: a wrong client id or scope at the provider is "could not decide", never a wrong
// password (every user would otherwise be told their password is wrong).
func TestROPCConfigurationMistakes(t *testing.T) {
	b2c, base, ca, _ := legacyTenant(t)
	ctx := context.Background()
	for _, c := range []oidc.Config{
		{Authority: b2c.Authority(base), ClientID: "00000000-0000-0000-0000-000000000001", RootCAData: ca},
		{Authority: b2c.Authority(base), ClientID: b2c.ClientID(), RootCAData: ca, TokenURL: base + "/elsewhere/token"},
		{Authority: base + "/no-such-tenant/v2.0", ClientID: b2c.ClientID(), RootCAData: ca},
		{Authority: b2c.Authority(base), ClientID: b2c.ClientID()}, // the provider's CA not trusted
	} {
		v := open(t, c)
		for _, pw := range []string{adaPassword, "wrong"} {
			ok, err := v.Verify(ctx, record("ada@example.com"), pw)
			if ok || !errors.Is(err, verify.ErrUnavailable) {
				t.Errorf("%+v: got %v, %v; want could not decide", c.ClientID, ok, err)
			}
		}
	}
}

// TestROPCDeadProvider: nothing listens at the authority: could not decide, within the timeout.
func TestROPCDeadProvider(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	v := open(t, oidc.Config{Authority: "https://" + addr + "/contoso.onmicrosoft.com/B2C_1_ROPC/v2.0", ClientID: "x", Timeout: time.Second})
	start := time.Now()
	ok, err := v.Verify(context.Background(), record("ada@example.com"), adaPassword)
	if ok || !errors.Is(err, verify.ErrUnavailable) || time.Since(start) > 2*time.Second {
		t.Fatalf("got %v, %v after %v", ok, err, time.Since(start))
	}
}

// TestROPCThroughBreaker: the check inside verify.Breaker: a forged token neither migrates nor counts as a wrong
// password, and opens the circuit like any other undecided answer.
func TestROPCThroughBreaker(t *testing.T) {
	b2c, base, ca, _ := legacyTenant(t)
	v := open(t, oidc.Config{Authority: b2c.Authority(base), ClientID: b2c.ClientID(), RootCAData: ca})
	br := verify.NewBreaker(v, verify.BreakerConfig{Failures: 2, CoolDown: time.Minute})
	b2c.SetFault(sandbox.FaultForgedToken)
	for range 2 {
		if ok, err := br.Verify(context.Background(), record("ada@example.com"), adaPassword); ok || !errors.Is(err, verify.ErrUnavailable) {
			t.Fatalf("got %v, %v", ok, err)
		}
	}
	if br.State() != verify.Open {
		t.Fatalf("circuit %v, want open", br.State())
	}
	n := b2c.Requests()
	if _, err := br.Verify(context.Background(), record("ada@example.com"), adaPassword); !errors.Is(err, verify.ErrOpen) || b2c.Requests() != n {
		t.Fatalf("open circuit asked the provider: %v", err)
	}
}

func TestROPCOpen(t *testing.T) {
	tests := []struct {
		c    oidc.Config
		want string
	}{
		{oidc.Config{ClientID: "x"}, `"authority"`},
		{oidc.Config{Authority: "https://b2c.example/p/v2.0"}, `"clientId"`},
		{oidc.Config{Authority: "http://b2c.example/p/v2.0", ClientID: "x"}, "insecureHTTP"},
		{oidc.Config{Authority: "ftp://b2c.example/p", ClientID: "x"}, "scheme"},
		{oidc.Config{Authority: "https:///p", ClientID: "x"}, "no host"},
		{oidc.Config{Authority: "https://b2c.example/p/v2.0", ClientID: "x", Scope: "profile"}, "openid"},
		{oidc.Config{Authority: "https://b2c.example/p/v2.0", ClientID: "x", RootCAData: []byte("junk")}, "rootCAData"},
		{oidc.Config{Authority: "https://b2c.example/p/v2.0", ClientID: "x", ClientSecret: "s3cret-value", TokenURL: "http://t"}, "tokenURL"},
	}
	for _, tt := range tests {
		_, err := tt.c.Open(nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: got %v, want an error naming %s", tt.c.Authority, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret-value") {
			t.Errorf("error reveals the client secret: %v", err)
		}
	}
	if _, err := (oidc.Config{Authority: "http://127.0.0.1:1/p/v2.0", ClientID: "x", InsecureHTTP: true}).Open(nil); err != nil {
		t.Errorf("insecureHTTP: %v", err)
	}
}

// BenchmarkVerify measures one whole check (form POST over a kept-alive HTTPS connection, an RS256 id_token
// signed by the provider and verified here, metadata cached) against a local legacy B2C tenant.
func BenchmarkVerify(b *testing.B) {
	b2c, err := sandbox.NewLegacyB2C(sandbox.LegacyB2CConfig{Users: []sandbox.LegacyUser{{SignInName: "ada@example.com", Password: adaPassword}}})
	if err != nil {
		b.Fatal(err)
	}
	srv, ca, _ := verifytest.TLSServer(b, b2c)
	v, err := oidc.Config{Authority: b2c.Authority(srv.URL), ClientID: b2c.ClientID(), RootCAData: ca}.Open(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	verifytest.BenchVerify(b, v, record("ada@example.com"), adaPassword)
}

// BenchmarkTCPRoundTrip is the baseline: one small request and its answer over an established loopback TCP
// connection to an echo server.
func BenchmarkTCPRoundTrip(b *testing.B) {
	verifytest.TCPRoundTrip(b)
}

// TestROPCMetadataCached: the discovery document and the JWKS are fetched once for many checks, concurrent first
// checks included, and again only after MaxKeyAge.
func TestROPCMetadataCached(t *testing.T) {
	b2c, err := sandbox.NewLegacyB2C(sandbox.LegacyB2CConfig{Users: []sandbox.LegacyUser{{SignInName: "ada@example.com", Password: adaPassword}}})
	if err != nil {
		t.Fatal(err)
	}
	var discovery, jwks atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/openid-configuration"):
			discovery.Add(1)
		case strings.HasSuffix(r.URL.Path, "/keys"):
			jwks.Add(1)
		}
		b2c.ServeHTTP(w, r)
	}))
	defer srv.Close()
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	v := open(t, oidc.Config{Authority: b2c.Authority(srv.URL), ClientID: b2c.ClientID(), InsecureHTTP: true,
		MaxKeyAge: time.Hour, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	check := func() {
		if ok, err := v.Verify(context.Background(), record("ada@example.com"), adaPassword); !ok || err != nil {
			t.Errorf("got %v, %v", ok, err)
		}
	}
	done := make(chan struct{})
	for range 8 {
		go func() { check(); done <- struct{}{} }()
	}
	for range 8 {
		<-done
	}
	check()
	if discovery.Load() != 1 || jwks.Load() != 1 {
		t.Fatalf("fetched discovery %d and JWKS %d times for 9 checks, want once", discovery.Load(), jwks.Load())
	}
	// Past MaxKeyAge (the token, stamped by the emulation's real clock, is still within exp + skew).
	now.Add(int64(61 * time.Minute))
	check()
	if discovery.Load() != 2 || jwks.Load() != 2 {
		t.Fatalf("after MaxKeyAge: discovery %d, JWKS %d fetches, want 2", discovery.Load(), jwks.Load())
	}
	// Refresh fetches at once, except within MinRefreshInterval of the last fetch.
	v.Refresh(context.Background())
	now.Add(int64(31 * time.Second))
	v.Refresh(context.Background())
	if discovery.Load() != 3 {
		t.Fatalf("Refresh: discovery fetched %d times, want 3", discovery.Load())
	}
}

// TestROPCRefusals: how the error answers of the token endpoint are read, by their code or, for Keycloak (which
// does not run here), by its fixed texts. The bodies are the providers' documented or reported ones
// (docs/verify.md cites them); the discovery document and the JWKS come from the legacy B2C emulation.
func TestROPCRefusals(t *testing.T) {
	b2c, base, ca, _ := legacyTenant(t)
	tests := []struct {
		status int
		body   string
		want   error // nil: a wrong password
	}{
		{400, `{"error":"invalid_grant","error_description":"Invalid user credentials"}`, nil},
		{400, `{"error":"invalid_grant"}`, nil}, // LemonLDAP::NG, whatever the reason
		{401, `{"error":"invalid_grant","error_description":"AADSTS50126: Error validating credentials due to invalid username or password.\r\nTrace ID: x"}`, nil},
		{400, `{"error":"access_denied","error_description":"AADB2C90225: The username or password provided in the request are invalid.\r\nCorrelation ID: x"}`, nil},
		{400, `{"error":"invalid_grant","error_description":"Account disabled"}`, verify.ErrLocked},
		{400, `{"error":"invalid_grant","error_description":"Account temporarily disabled"}`, verify.ErrLocked},
		{400, `{"error":"invalid_grant","error_description":"AADSTS50053: The account is locked.\r\nTrace ID: x"}`, verify.ErrLocked},
		{400, `{"error":"invalid_grant","error_description":"AADSTS50057: The user account is disabled.\r\nTrace ID: x"}`, verify.ErrLocked},
		{400, `{"error":"access_denied","error_description":"AADB2C90114: Your account is temporarily locked to prevent unauthorized use. Try again later."}`, verify.ErrLocked},
		{400, `{"error":"invalid_grant","error_description":"Account is not fully set up"}`, verify.ErrMustChange},
		{400, `{"error":"invalid_grant","error_description":"AADSTS50055: The password is expired.\r\nTrace ID: x"}`, verify.ErrMustChange},
		// Keycloak's texts count only as invalid_grant's; elsewhere they are not a decision.
		{400, `{"error":"invalid_request","error_description":"Account disabled"}`, verify.ErrUnavailable},
		{401, `{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}`, verify.ErrUnavailable},
		{400, `{"error":"unauthorized_client","error_description":"AADB2C90224: Resource owner flow has not been enabled for the application."}`, verify.ErrUnavailable},
		{403, `{"error":"invalid_grant","error_description":"Account disabled"}`, verify.ErrUnavailable},
		{500, `{"error":"invalid_grant"}`, verify.ErrUnavailable},
	}
	for _, tt := range tests {
		token := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tt.status)
			w.Write([]byte(tt.body))
		}))
		v := open(t, oidc.Config{Authority: b2c.Authority(base), ClientID: b2c.ClientID(), RootCAData: ca,
			TokenURL: token.URL, InsecureHTTP: true})
		ok, err := v.Verify(context.Background(), record("ada@example.com"), adaPassword)
		token.Close()
		switch {
		case tt.want == nil && (ok || err != nil):
			t.Errorf("%d %s: got %v, %v; want a wrong password", tt.status, tt.body, ok, err)
		case tt.want != nil && (ok || !errors.Is(err, tt.want)):
			t.Errorf("%d %s: got %v, %v; want %v", tt.status, tt.body, ok, err, tt.want)
		case tt.want != verify.ErrUnavailable && errors.Is(err, verify.ErrUnavailable):
			t.Errorf("%d %s: %v is also could-not-decide", tt.status, tt.body, err)
		}
		verifytest.NoSecret(t, err, adaPassword, "ada@example.com", "Trace ID")
	}
}
