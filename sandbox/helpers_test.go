package sandbox_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift/internal/testclock"
	"github.com/idshift/idshift/sandbox"
)

// newClock returns a settable time source for Config.Now.
func newClock() *testclock.Clock { return testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) }

// start runs a sandbox server for the test.
func start(t testing.TB, cfg sandbox.Config) *sandbox.Server {
	t.Helper()
	s, err := sandbox.Start(cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// rawClient is an independent Graph client written from Microsoft's documented contract only: OpenID
// discovery, client-credentials token request, bearer calls.
type rawClient struct {
	t     testing.TB
	base  string
	hc    *http.Client
	token string
}

func newRawClient(t testing.TB, s *sandbox.Server, tenant, clientID, secret string) *rawClient {
	t.Helper()
	c := &rawClient{t: t, base: s.URL, hc: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool}, ForceAttemptHTTP2: true},
	}}
	t.Cleanup(c.hc.CloseIdleConnections)
	tok, status, body := c.fetchToken(tenant, clientID, secret, "https://graph.microsoft.com/.default")
	if status != http.StatusOK {
		t.Fatalf("token: status %d: %s", status, body)
	}
	c.token = tok
	return c
}

func (c *rawClient) fetchToken(tenant, clientID, secret, scope string) (string, int, []byte) {
	c.t.Helper()
	resp, err := c.hc.Get(c.base + "/" + tenant + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		c.t.Fatalf("discovery: %v", err)
	}
	var doc struct {
		TokenEndpoint string `json:"token_endpoint"`
		Issuer        string `json:"issuer"`
		JWKS          string `json:"jwks_uri"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || doc.TokenEndpoint == "" {
		c.t.Fatalf("discovery document: %v %+v", err, doc)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}
	resp, err = c.hc.PostForm(doc.TokenEndpoint, form)
	if err != nil {
		c.t.Fatalf("token: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	_ = json.Unmarshal(b, &tok)
	if resp.StatusCode == http.StatusOK && (tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 || tok.AccessToken == "") {
		c.t.Fatalf("token response incomplete: %s", b)
	}
	return tok.AccessToken, resp.StatusCode, b
}

// response is a decoded Graph answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r response) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r response) errMessage() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func (c *rawClient) do(method, path string, body any, hdr ...string) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	u := path
	if !strings.HasPrefix(u, "https://") {
		u = c.base + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&r.body); err != nil {
			c.t.Fatalf("%s %s: body is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return r
}

// localUser is a valid local-account create body.
func localUser(email string) map[string]any {
	return map[string]any{
		"displayName":    "Test " + email,
		"accountEnabled": true,
		"mail":           email,
		"identities": []any{map[string]any{
			"signInType": "emailAddress", "issuer": sandbox.DefaultDomain, "issuerAssignedId": email,
		}},
		"passwordProfile":  map[string]any{"password": "Str0ng!Passw0rd", "forceChangePasswordNextSignIn": false},
		"passwordPolicies": "DisablePasswordExpiration",
	}
}
