package sandbox_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/idshift/idshift/sandbox"
)

func azCredential(t *testing.T, s *sandbox.Server, tenant, clientID, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool}}
	t.Cleanup(tr.CloseIdleConnections)
	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.AuthorityHost},
			Transport: &http.Client{Transport: tr},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatalf("NewClientSecretCredential: %v", err)
	}
	return cred
}

// TestAzidentity checks that azidentity (MSAL underneath), unchanged, obtains tokens from the sandbox and that
// Graph accepts them.
func TestAzidentity(t *testing.T) {
	s := start(t, sandbox.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, scope := range []string{"https://graph.microsoft.com/.default", s.URL + "/.default"} {
		t.Run(scope, func(t *testing.T) {
			cred := azCredential(t, s, sandbox.DefaultTenantID, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
			tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			if tok.ExpiresOn.Before(time.Now().Add(30 * time.Minute)) {
				t.Errorf("ExpiresOn = %v, want about an hour ahead", tok.ExpiresOn)
			}
			c := &rawClient{t: t, base: s.URL, token: tok.Token, hc: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool}}}}
			r := c.do("GET", "/v1.0/users", nil)
			if r.status != http.StatusOK {
				t.Fatalf("GET /v1.0/users with azidentity token: %d %s", r.status, r.raw)
			}
		})
	}
	t.Run("domain as tenant", func(t *testing.T) {
		cred := azCredential(t, s, sandbox.DefaultDomain, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
		if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}); err != nil {
			t.Fatalf("GetToken: %v", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		cred := azCredential(t, s, sandbox.DefaultTenantID, sandbox.DefaultClientID, "not-the-secret")
		_, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
		var authErr *azidentity.AuthenticationFailedError
		if !errors.As(err, &authErr) {
			t.Fatalf("GetToken error = %v, want AuthenticationFailedError", err)
		}
		if authErr.RawResponse == nil || authErr.RawResponse.StatusCode != http.StatusUnauthorized {
			t.Fatalf("raw response = %+v, want 401", authErr.RawResponse)
		}
		if strings.Contains(err.Error(), "not-the-secret") {
			t.Fatal("the error reveals the secret")
		}
	})
	t.Run("unknown client", func(t *testing.T) {
		cred := azCredential(t, s, sandbox.DefaultTenantID, "11111111-2222-3333-4444-555555555555", "x")
		if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}); err == nil {
			t.Fatal("GetToken for an unknown client succeeded")
		}
	})
}

func TestUnauthorizedAndForbidden(t *testing.T) {
	clk := newClock()
	readOnly := sandbox.App{ClientID: "00000000-0000-0000-0000-00000000b002", Secret: "ro-secret", Roles: []string{"User.Read.All"}}
	s := start(t, sandbox.Config{Now: clk.Now, Apps: []sandbox.App{
		{ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret}, readOnly,
	}})
	admin := newRawClient(t, s, sandbox.DefaultTenantID, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
	ro := newRawClient(t, s, sandbox.DefaultTenantID, readOnly.ClientID, readOnly.Secret)

	tampered := admin.token[:len(admin.token)-4] + "AAAA"
	if tampered == admin.token {
		tampered = admin.token[:len(admin.token)-4] + "BBBB"
	}
	tests := []struct {
		name       string
		client     *rawClient
		token      string
		method     string
		path       string
		body       any
		wantStatus int
		wantCode   string
	}{
		{"no token", admin, "-", "GET", "/v1.0/users", nil, 401, "InvalidAuthenticationToken"},
		{"garbage token", admin, "abc.def", "GET", "/v1.0/users", nil, 401, "InvalidAuthenticationToken"},
		{"bad signature", admin, tampered, "GET", "/v1.0/users", nil, 401, "InvalidAuthenticationToken"},
		{"read-only app reads", ro, "", "GET", "/v1.0/users", nil, 200, ""},
		{"read-only app creates", ro, "", "POST", "/v1.0/users", localUser("ro@example.com"), 403, "Authorization_RequestDenied"},
		{"read-only app lists applications", ro, "", "GET", "/v1.0/applications", nil, 403, "Authorization_RequestDenied"},
		{"read-only app reads organization", ro, "", "GET", "/v1.0/organization", nil, 403, "Authorization_RequestDenied"},
		{"admin reads organization", admin, "", "GET", "/v1.0/organization", nil, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := *tc.client
			c.t = t
			switch tc.token {
			case "":
			case "-":
				c.token = ""
			default:
				c.token = tc.token
			}
			r := c.do(tc.method, tc.path, tc.body)
			if r.status != tc.wantStatus || r.errCode() != tc.wantCode {
				t.Fatalf("got %d %q, want %d %q: %s", r.status, r.errCode(), tc.wantStatus, tc.wantCode, r.raw)
			}
			if tc.wantCode == "Authorization_RequestDenied" && r.errMessage() != "Insufficient privileges to complete the operation." {
				t.Errorf("message = %q", r.errMessage())
			}
			if r.header.Get("request-id") == "" || r.header.Get("client-request-id") == "" {
				t.Errorf("missing request-id headers: %v", r.header)
			}
		})
	}
	t.Run("expired token", func(t *testing.T) {
		clk.Advance(2 * time.Hour)
		c := *admin
		c.t = t
		r := c.do("GET", "/v1.0/users", nil)
		if r.status != 401 || r.errCode() != "InvalidAuthenticationToken" {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
	t.Run("token errors", func(t *testing.T) {
		c := &rawClient{t: t, base: s.URL, hc: admin.hc}
		for _, tc := range []struct {
			tenant, client, secret, scope string
			status                        int
			code                          string
		}{
			{sandbox.DefaultTenantID, sandbox.DefaultClientID, "wrong", "https://graph.microsoft.com/.default", 401, "invalid_client"},
			{sandbox.DefaultTenantID, sandbox.DefaultClientID, sandbox.DefaultClientSecret, "https://graph.microsoft.com/User.Read", 400, "invalid_scope"},
			{sandbox.DefaultTenantID, sandbox.DefaultClientID, sandbox.DefaultClientSecret, "https://vault.azure.net/.default", 400, "invalid_resource"},
		} {
			_, status, body := c.fetchToken(tc.tenant, tc.client, tc.secret, tc.scope)
			if status != tc.status || !strings.Contains(string(body), `"error":"`+tc.code+`"`) {
				t.Errorf("%+v: got %d %s", tc, status, body)
			}
			if tc.secret != "" && strings.Contains(string(body), tc.secret) && tc.secret != sandbox.DefaultClientSecret {
				t.Errorf("token error reveals the secret")
			}
		}
	})
}

func TestAzidentityCertificate(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idshift importer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &otherKey.PublicKey, otherKey)
	otherCert, _ := x509.ParseCertificate(otherDER)
	const clientID = "00000000-0000-0000-0000-00000000c003"
	s := start(t, sandbox.Config{Apps: []sandbox.App{{ClientID: clientID, Certificates: []*x509.Certificate{cert}}}})
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool}}
	defer tr.CloseIdleConnections()
	opts := &azidentity.ClientCertificateCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.AuthorityHost},
			Transport: &http.Client{Transport: tr},
		},
		DisableInstanceDiscovery: true,
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cert *x509.Certificate
		key  *rsa.PrivateKey
		ok   bool
	}{{"registered certificate", cert, key, true}, {"unregistered certificate", otherCert, otherKey, false}} {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := azidentity.NewClientCertificateCredential(sandbox.DefaultTenantID, clientID, []*x509.Certificate{tc.cert}, tc.key, opts)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
			if (err == nil) != tc.ok {
				t.Fatalf("GetToken: %v, want success %v", err, tc.ok)
			}
			if tc.ok {
				c := &rawClient{t: t, base: s.URL, token: tok.Token, hc: &http.Client{Transport: tr}}
				if r := c.do("GET", "/v1.0/users", nil); r.status != 200 {
					t.Fatalf("%d %s", r.status, r.raw)
				}
			}
		})
	}
}
