package cognito_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/verify"
	"github.com/idshift/idshift/verify/cognito"
	"github.com/idshift/idshift/verify/internal/verifytest"
)

const (
	gracePassword = "Cognito-Passw0rd-Grace!"
	clientSecret  = "cognito-app-client-secret-0123456789"
)

func pool(t *testing.T, secret string) (*sandbox.LegacyCognito, string, []byte, *atomic.Int64) {
	t.Helper()
	lc := sandbox.NewLegacyCognito(sandbox.LegacyCognitoConfig{ClientSecret: secret, Lockout: 3, Users: []sandbox.LegacyUser{
		{SignInName: "grace@example.com", Password: gracePassword},
		{SignInName: "temp@example.com", Password: gracePassword, MustChange: true},
		{SignInName: "reset@example.com", Password: gracePassword, ResetRequired: true},
		{SignInName: "off@example.com", Password: gracePassword, Disabled: true},
		{SignInName: "brute@example.com", Password: gracePassword},
		{SignInName: "sms@example.com", Password: gracePassword, Challenge: "SMS_MFA"},
		{SignInName: "totp@example.com", Password: gracePassword, Challenge: "SOFTWARE_TOKEN_MFA"},
		{SignInName: "email@example.com", Password: gracePassword, Challenge: "EMAIL_OTP"},
		{SignInName: "select@example.com", Password: gracePassword, Challenge: "SELECT_MFA_TYPE"},
		{SignInName: "setup@example.com", Password: gracePassword, Challenge: "MFA_SETUP"},
		{SignInName: "custom@example.com", Password: gracePassword, Challenge: "CUSTOM_CHALLENGE"},
	}})
	srv, ca, conns := verifytest.TLSServer(t, lc)
	return lc, srv.URL + "/", ca, conns
}

func rec(name string) *idshift.Record {
	return &idshift.Record{Key: idshift.Key{Source: "cognito", LegacyID: "1"}, SignInNames: []string{name}}
}

// TestCognitoOutcomes: every outcome of InitiateAuth (USER_PASSWORD_AUTH), with and without a client secret. The
// challenges that USER_PASSWORD_AUTH returns after the right password (NEW_PASSWORD_REQUIRED, the MFA ones) are
// answered by the pool only then: a wrong password for the same user is a wrong password.
func TestCognitoOutcomes(t *testing.T) {
	type want int
	const (
		match want = iota
		mismatch
		locked
		mustChange
		unavailable
	)
	for _, secret := range []string{"", clientSecret} {
		lc, endpoint, ca, conns := pool(t, secret)
		v, err := cognito.Config{Endpoint: endpoint, ClientID: lc.ClientID(), ClientSecret: secret, RootCAData: ca}.Open(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		tests := []struct {
			name, user, password string
			fault                sandbox.LegacyFault
			want                 want
		}{
			{"right password", "grace@example.com", gracePassword, sandbox.FaultNone, match},
			{"wrong password", "grace@example.com", gracePassword + "?", sandbox.FaultNone, mismatch},
			{"unknown user", "nobody@example.com", gracePassword, sandbox.FaultNone, mismatch},
			{"empty password", "grace@example.com", "", sandbox.FaultNone, mismatch},
			{"temporary password", "temp@example.com", gracePassword, sandbox.FaultNone, mustChange},
			{"temporary account, wrong password", "temp@example.com", "nope", sandbox.FaultNone, mismatch},
			{"reset required", "reset@example.com", "anything", sandbox.FaultNone, mustChange},
			{"SMS MFA", "sms@example.com", gracePassword, sandbox.FaultNone, match},
			{"SMS MFA, wrong password", "sms@example.com", "nope", sandbox.FaultNone, mismatch},
			{"TOTP MFA", "totp@example.com", gracePassword, sandbox.FaultNone, match},
			{"TOTP MFA, wrong password", "totp@example.com", "nope", sandbox.FaultNone, mismatch},
			{"email MFA", "email@example.com", gracePassword, sandbox.FaultNone, match},
			{"MFA type to select", "select@example.com", gracePassword, sandbox.FaultNone, match},
			{"MFA to set up", "setup@example.com", gracePassword, sandbox.FaultNone, match},
			{"custom challenge", "custom@example.com", gracePassword, sandbox.FaultNone, unavailable},
			{"disabled", "off@example.com", gracePassword, sandbox.FaultNone, locked},
			{"brute 1", "brute@example.com", "a", sandbox.FaultNone, mismatch},
			{"brute 2", "brute@example.com", "b", sandbox.FaultNone, mismatch},
			{"brute 3", "brute@example.com", "c", sandbox.FaultNone, mismatch},
			{"attempts exceeded", "brute@example.com", gracePassword, sandbox.FaultNone, locked},
			{"server error", "grace@example.com", gracePassword, sandbox.FaultServerError, unavailable},
			{"server error, wrong password", "grace@example.com", "nope", sandbox.FaultServerError, unavailable},
			{"html answer", "grace@example.com", gracePassword, sandbox.FaultNotJSON, unavailable},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				lc.SetFault(tt.fault)
				defer lc.SetFault(sandbox.FaultNone)
				ok, err := v.Verify(context.Background(), rec(tt.user), tt.password)
				var good bool
				switch tt.want {
				case match:
					good = ok && err == nil
				case mismatch:
					good = !ok && err == nil
				case locked:
					good = !ok && errors.Is(err, verify.ErrLocked)
				case mustChange:
					good = !ok && errors.Is(err, verify.ErrMustChange)
				case unavailable:
					good = !ok && errors.Is(err, verify.ErrUnavailable) && !verify.Decided(err)
				}
				if !good {
					t.Fatalf("secret %v: got %v, %v; want outcome %d", secret != "", ok, err, tt.want)
				}
				verifytest.NoSecret(t, err, gracePassword, clientSecret)
			})
		}
		if n := conns.Load(); n > 2 {
			t.Errorf("%d connections for %d checks: want the connection reused", n, len(tests))
		}
	}
}

// TestCognitoConfigurationMistakes: a wrong client id, a missing or wrong client secret: could not decide, never a
// wrong password, whatever the password.
func TestCognitoConfigurationMistakes(t *testing.T) {
	lc, endpoint, ca, _ := pool(t, clientSecret)
	for _, c := range []cognito.Config{
		{Endpoint: endpoint, ClientID: lc.ClientID(), RootCAData: ca},                                 // no secret
		{Endpoint: endpoint, ClientID: lc.ClientID(), ClientSecret: "another-secret", RootCAData: ca}, // wrong secret
		{Endpoint: endpoint, ClientID: "other-client", ClientSecret: clientSecret, RootCAData: ca},
		{Endpoint: endpoint, ClientID: lc.ClientID(), ClientSecret: clientSecret}, // CA not trusted
	} {
		v, err := c.Open(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{gracePassword, "wrong"} {
			if ok, err := v.Verify(context.Background(), rec("grace@example.com"), pw); ok || !errors.Is(err, verify.ErrUnavailable) {
				t.Errorf("client %s: got %v, %v; want could not decide", c.ClientID, ok, err)
			}
		}
		v.Close()
	}
}

func TestCognitoSecretHash(t *testing.T) {
	// Base64(HMAC-SHA256("secret", "user" + "client")), computed independently:
	//	echo -n userclient | openssl dgst -sha256 -hmac secret -binary | base64
	if got, want := cognito.SecretHash("secret", "user", "client"), "wvW87lzZoI+qQCVGmWVBJLlucdJ65huAVP1z+0MgA6E="; got != want {
		t.Fatalf("SecretHash = %q, want %q", got, want)
	}
}

func TestCognitoErrorType(t *testing.T) {
	for in, want := range map[string]string{
		"NotAuthorizedException":                                   "NotAuthorizedException",
		"com.amazonaws.cognito.identity.idp#UserNotFoundException": "UserNotFoundException",
		"NotAuthorizedException:http://internal.amazon.com/coral/": "NotAuthorizedException",
		"": "",
	} {
		if got := cognito.ErrorType(in); got != want {
			t.Errorf("ErrorType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCognitoOpen(t *testing.T) {
	tests := []struct {
		c    cognito.Config
		want string
	}{
		{cognito.Config{Region: "eu-west-1"}, `"clientId"`},
		{cognito.Config{ClientID: "x"}, `"region"`},
		{cognito.Config{ClientID: "x", Region: "eu-west-1/evil"}, `"region"`},
		{cognito.Config{ClientID: "x", Endpoint: "http://127.0.0.1:1/"}, "insecureHTTP"},
		{cognito.Config{ClientID: "x", Endpoint: "ftp://h/"}, "scheme"},
		{cognito.Config{ClientID: "x", Region: "eu-west-1", RootCAData: []byte("junk")}, "rootCAData"},
	}
	for _, tt := range tests {
		if _, err := tt.c.Open(nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: got %v, want an error naming %s", tt.c, err, tt.want)
		}
	}
	if _, err := (cognito.Config{ClientID: "x", Region: "eu-west-1"}).Open(nil); err != nil {
		t.Errorf("region only: %v", err)
	}
}

// BenchmarkVerify measures one whole check (InitiateAuth JSON with SECRET_HASH over a kept-alive HTTPS connection)
// against a local emulation of a user pool.
func BenchmarkVerify(b *testing.B) {
	lc := sandbox.NewLegacyCognito(sandbox.LegacyCognitoConfig{ClientSecret: clientSecret,
		Users: []sandbox.LegacyUser{{SignInName: "grace@example.com", Password: gracePassword}}})
	srv, ca, _ := verifytest.TLSServer(b, lc)
	v, err := cognito.Config{Endpoint: srv.URL + "/", ClientID: lc.ClientID(), ClientSecret: clientSecret, RootCAData: ca}.Open(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	verifytest.BenchVerify(b, v, rec("grace@example.com"), gracePassword)
}

// BenchmarkTCPRoundTrip is the baseline: one small request and its answer over an established loopback TCP
// connection to an echo server.
func BenchmarkTCPRoundTrip(b *testing.B) {
	verifytest.TCPRoundTrip(b)
}
