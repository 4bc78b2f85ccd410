// Package oidc checks a password live against a legacy OpenID Connect provider through the resource owner
// password credentials grant (RFC 6749 §4.3), as Azure AD B2C's ROPC user flow and custom policies offer it and as
// other providers (Keycloak, LemonLDAP::NG, Okta with the grant enabled…) do.
//
// The provider's discovery document ({authority}/.well-known/openid-configuration) gives the token endpoint, the
// issuer and the JWKS; it is fetched at the first check, not by Open, so a legacy provider that is down does not
// stop idshift from starting. For Azure AD B2C the authority is the policy's:
//
//	https://{tenant}.b2clogin.com/{tenant}.onmicrosoft.com/{policy}/v2.0
//
// whose token endpoint is …/{policy}/oauth2/v2.0/token. Request: POST, application/x-www-form-urlencoded,
//
//	grant_type=password&client_id={clientId}&scope={scope}&username={name}&password={password}[&response_type=…][&client_secret=…]
//
// Outcomes (idshift.Verifier):
//   - 200 with an id_token whose signature verifies with a key of the provider's JWKS (RS256/ES256), whose iss is
//     the discovery document's issuer, whose aud holds the client id (and azp, when present, is the client id),
//     and which is neither expired nor not yet valid: (true, nil). A success is believed only then.
//   - 400 (or 401) with error "invalid_grant": (false, nil), a wrong password or an unknown user (B2C:
//     AADB2C90225 "The username or password provided in the request are invalid"), unless the error_description
//     says more: B2C's AADB2C90111 (disabled) and AADB2C90114 (locked), Entra ID's AADSTS50053 (locked) and
//     AADSTS50057 (disabled), Keycloak's "Account disabled": verify.ErrLocked; Entra ID's AADSTS50055 (the right
//     password, expired) and Keycloak's "Account is not fully set up" (the right password, actions pending):
//     verify.ErrMustChange. docs/verify.md cites the sources.
//   - anything else (another OAuth error such as invalid_client or unauthorized_client, a 5xx, a redirect, an
//     answer of the wrong shape, a token that does not verify, a timeout, a TLS failure): an error matching
//     verify.ErrUnavailable, never a wrong password.
//
// Empty passwords and records without a sign-in name are refused (false, nil) before any request. A provider that
// refuses a locked account with a bare invalid_grant (LemonLDAP::NG does, Keycloak's brute-force lock too) is read
// as a wrong password.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/verify"
)

// Defaults of Config.
const (
	DefaultTimeout            = verify.DefaultHTTPTimeout
	DefaultSkew               = 2 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultMaxKeyAge          = 24 * time.Hour
	DefaultScope              = "openid"
)

const (
	maxAnswer   = 64 << 10 // a token answer (B2C's is about 4 KiB)
	maxMetadata = 1 << 20  // discovery document and JWKS
)

// signingAlgs are the id_token signature algorithms accepted.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// Config configures the OIDC password-grant live check. Strictly decoded (unknown keys are errors) by the
// configuration loader.
//
// Example (YAML), an Azure AD B2C tenant's ROPC user flow:
//
//	oidc:
//	  authority: https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_ROPC/v2.0
//	  clientId: bef22d56-552f-4a5b-b90a-1988a7d634ce
//	  scope: "openid bef22d56-552f-4a5b-b90a-1988a7d634ce"
//	  responseType: "token id_token"
//	  timeout: 2s
//
// and a generic provider with a confidential client (the secret from secret_env):
//
//	oidc:
//	  authority: https://sso.example.com/realms/shop
//	  clientId: idshift
type Config struct {
	// Authority is the provider's issuer URL; the discovery document is read from
	// {Authority}/.well-known/openid-configuration. https:// unless InsecureHTTP. Required.
	Authority string `yaml:"authority" json:"authority"`
	// ClientID is the application registered at the provider for the password grant; the id_token's audience.
	// Required.
	ClientID string `yaml:"clientId" json:"clientId"`
	// ClientSecret, for a confidential client, is sent as client_secret (client_secret_post). Empty for a public
	// client (B2C's ROPC application is one).
	ClientSecret string `yaml:"clientSecret" json:"clientSecret,omitempty"`
	// Scope is the requested scope; it must contain openid. Default "openid". B2C: "openid {clientId}".
	Scope string `yaml:"scope" json:"scope,omitempty"`
	// ResponseType, when set, is sent as response_type (B2C's documented request sends "token id_token").
	ResponseType string `yaml:"responseType" json:"responseType,omitempty"`
	// TokenURL overrides the discovery document's token_endpoint.
	TokenURL string `yaml:"tokenURL" json:"tokenURL,omitempty"`
	// RootCA is a PEM file of the certificate authorities to trust for the provider; the system pool when empty.
	RootCA string `yaml:"rootCA" json:"rootCA,omitempty"`
	// RootCAData is RootCA's content given inline (PEM); it is added to RootCA's.
	RootCAData []byte `yaml:"rootCAData" json:"rootCAData,omitempty"`
	// InsecureHTTP allows http:// URLs: passwords cross the network in clear. For tests and labs only.
	InsecureHTTP bool `yaml:"insecureHTTP" json:"insecureHTTP,omitempty"`
	// Timeout bounds one request, connection included. Default 5s. The caller's context deadline, when earlier,
	// wins.
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// MaxIdleConns is the number of idle keep-alive connections kept to the provider. Default 16.
	MaxIdleConns int `yaml:"maxIdleConns" json:"maxIdleConns,omitempty"`
	// Skew is the clock skew allowed on exp and nbf. Default 2 minutes.
	Skew time.Duration `yaml:"skew" json:"skew,omitempty"`
	// MinRefreshInterval is the least time between two fetches of the metadata caused by an unknown key id.
	// Default 30s.
	MinRefreshInterval time.Duration `yaml:"minRefreshInterval" json:"minRefreshInterval,omitempty"`
	// MaxKeyAge is the age after which the metadata is fetched again. Default 24h.
	MaxKeyAge time.Duration `yaml:"maxKeyAge" json:"maxKeyAge,omitempty"`
	// Now is the clock; time.Now when nil.
	Now func() time.Time `yaml:"-" json:"-"`
}

// Verifier is the OIDC password-grant live check. It implements idshift.Verifier and is safe for concurrent use.
type Verifier struct {
	authority    string
	clientID     string
	clientSecret string
	scope        string
	responseType string
	tokenURL     string
	insecure     bool
	skew         time.Duration
	minRefresh   time.Duration
	maxAge       time.Duration
	client       *http.Client
	now          func() time.Time
	log          *slog.Logger

	mu      sync.Mutex
	meta    *metadata
	fetched time.Time
	fetch   *fetchCall // the fetch under way, shared by its waiters
}

// metadata is what the discovery document and the JWKS give.
type metadata struct {
	issuer   string
	tokenURL string
	keys     jose.JSONWebKeySet
}

type fetchCall struct {
	done chan struct{}
	meta *metadata
	err  error
}

// Open validates the configuration and returns the verifier. It makes no request. A missing or bad field is
// named by its configuration path; the client secret never appears in an error.
func (c Config) Open(logger *slog.Logger) (*Verifier, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Authority == "":
		return nil, errors.New(`oidc: missing required field "authority"`)
	case c.ClientID == "":
		return nil, errors.New(`oidc: missing required field "clientId"`)
	}
	if err := checkURL("authority", c.Authority, c.InsecureHTTP); err != nil {
		return nil, err
	}
	if c.TokenURL != "" {
		if err := checkURL("tokenURL", c.TokenURL, c.InsecureHTTP); err != nil {
			return nil, err
		}
	}
	if c.InsecureHTTP {
		logger.Warn("oidc: insecureHTTP: passwords may be sent in clear text; for tests and labs only", "authority", c.Authority)
	}
	scope := c.Scope
	if scope == "" {
		scope = DefaultScope
	}
	if !slices.Contains(strings.Fields(scope), "openid") {
		return nil, fmt.Errorf(`oidc: field "scope": %q lacks openid (the id_token is what proves the password)`, scope)
	}
	v := &Verifier{
		authority: strings.TrimSuffix(c.Authority, "/"), clientID: c.ClientID, clientSecret: c.ClientSecret,
		scope: scope, responseType: c.ResponseType, tokenURL: c.TokenURL, insecure: c.InsecureHTTP,
		skew: c.Skew, minRefresh: c.MinRefreshInterval, maxAge: c.MaxKeyAge, now: c.Now, log: logger,
	}
	if v.skew <= 0 {
		v.skew = DefaultSkew
	}
	if v.minRefresh <= 0 {
		v.minRefresh = DefaultMinRefreshInterval
	}
	if v.maxAge <= 0 {
		v.maxAge = DefaultMaxKeyAge
	}
	if v.now == nil {
		v.now = time.Now
	}
	client, err := verify.NewHTTPClient(verify.HTTPConfig{RootCA: c.RootCA, RootCAData: c.RootCAData, Timeout: c.Timeout, MaxIdleConns: c.MaxIdleConns})
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	v.client = client
	return v, nil
}

func checkURL(field, raw string, insecure bool) error {
	if _, err := verify.CheckURL(field, raw, insecure); err != nil {
		return fmt.Errorf("oidc: %w", err)
	}
	return nil
}

// Close closes the idle connections.
func (v *Verifier) Close() error {
	v.client.CloseIdleConnections()
	return nil
}

// Refresh fetches the discovery document and the JWKS now (for a readiness probe or a warm-up); Verify does it
// by itself when needed.
func (v *Verifier) Refresh(ctx context.Context) error {
	_, err := v.metadata(ctx, true)
	return err
}

// Verify implements idshift.Verifier; see the package documentation for the outcomes.
func (v *Verifier) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	if password == "" || rec == nil || len(rec.SignInNames) == 0 || rec.SignInNames[0] == "" {
		return false, nil
	}
	meta, err := v.metadata(ctx, false)
	if err != nil {
		return false, verify.Unavailable(err)
	}
	form := url.Values{
		"grant_type": {"password"},
		"client_id":  {v.clientID},
		"scope":      {v.scope},
		"username":   {rec.SignInNames[0]},
		"password":   {password},
	}
	if v.responseType != "" {
		form.Set("response_type", v.responseType)
	}
	if v.clientSecret != "" {
		form.Set("client_secret", v.clientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, meta.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return false, verify.Unavailable(fmt.Errorf("oidc: token request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return false, verify.Unavailable(fmt.Errorf("oidc: token request: %w", verify.RedactURLError(err)))
	}
	defer verify.CloseBody(resp, maxAnswer)
	ans, err := readAnswer(resp)
	if err != nil {
		return false, verify.Unavailable(fmt.Errorf("oidc: token answer: %w", err))
	}
	refused := resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized
	switch {
	case resp.StatusCode == http.StatusOK:
	case refused && ans.Error != "":
		return refusal(resp.StatusCode, ans)
	case ans.Error != "":
		// The error code is the provider's word from a closed set; the description may echo the user name, so
		// only its leading code (B2C: AADB2Cnnnnn) is kept.
		return false, verify.Unavailable(fmt.Errorf("oidc: token answer: status %d, error %q%s", resp.StatusCode, short(ans.Error), descCode(ans.ErrorDescription)))
	default:
		return false, verify.Unavailable(fmt.Errorf("oidc: token answer: status %d", resp.StatusCode))
	}
	if ans.IDToken == "" {
		return false, verify.Unavailable(errors.New("oidc: token answer: no id_token (does the scope hold openid?)"))
	}
	if err := v.checkToken(ctx, meta, ans.IDToken); err != nil {
		v.log.Warn("oidc: the provider's id_token was not believed", "error", err)
		return false, verify.Unavailable(fmt.Errorf("oidc: id_token: %w", err))
	}
	return true, nil
}

// Refusals that say more than "wrong password", by the leading code of error_description (Azure AD B2C's
// AADB2Cnnnnn, Microsoft Entra ID's AADSTSnnnnn) or, for Keycloak, by its whole fixed English text.
var (
	// lockedCodes: the account is locked or disabled, whatever the password (docs/verify.md cites the sources).
	lockedCodes = map[string]bool{
		"AADB2C90111": true, // B2C: "Your account has been locked. Contact your support person…" (disabled)
		"AADB2C90114": true, // B2C: "Your account is temporarily locked to prevent unauthorized use." (lockout)
		"AADSTS50053": true, // Entra ID: IdsLocked, locked after too many failed sign-ins
		"AADSTS50057": true, // Entra ID: UserDisabled
	}
	// mustChangeCodes: the password was right but has expired or must be changed.
	mustChangeCodes = map[string]bool{
		"AADSTS50055": true, // Entra ID: InvalidPasswordExpiredPassword
	}
	// wrongCodes: a wrong password or an unknown user, whatever the OAuth error code beside it.
	wrongCodes = map[string]bool{
		"AADB2C90225": true, // B2C: "The username or password provided in the request are invalid."
		"AADSTS50126": true, // Entra ID: InvalidUserNameOrPassword
	}
	// keycloakLocked and keycloakMustChange: Keycloak's invalid_grant descriptions. "Account is not fully set up"
	// comes only after the right password, when the user has required actions pending (a temporary password,
	// a profile or an email to confirm).
	keycloakLocked     = map[string]bool{"Account disabled": true, "Account temporarily disabled": true}
	keycloakMustChange = map[string]bool{"Account is not fully set up": true}
)

// refusal reads a 400 or 401 OAuth error answer: a locked or disabled account (verify.ErrLocked), a right
// password that must be changed (verify.ErrMustChange), a wrong password ((false, nil): invalid_grant, or a code
// that says so), or anything else (could not decide).
func refusal(status int, ans answer) (bool, error) {
	code := leadingCode(ans.ErrorDescription)
	desc := strings.TrimSpace(ans.ErrorDescription)
	switch {
	case lockedCodes[code] || (ans.Error == "invalid_grant" && keycloakLocked[desc]):
		return false, fmt.Errorf("oidc: token answer: error %q (%s): %w", short(ans.Error), label(code, desc), verify.ErrLocked)
	case mustChangeCodes[code] || (ans.Error == "invalid_grant" && keycloakMustChange[desc]):
		return false, fmt.Errorf("oidc: token answer: error %q (%s): %w", short(ans.Error), label(code, desc), verify.ErrMustChange)
	case wrongCodes[code] || ans.Error == "invalid_grant":
		return false, nil
	}
	// The error code is the provider's word from a closed set; the description may echo the user name, so only
	// its leading code (B2C: AADB2Cnnnnn) is kept.
	return false, verify.Unavailable(fmt.Errorf("oidc: token answer: status %d, error %q%s", status, short(ans.Error), descCode(ans.ErrorDescription)))
}

// label names a refusal in an error: its code, or the provider's fixed text that was recognised.
func label(code, desc string) string {
	if code != "" {
		return code
	}
	return desc
}

// answer is the token endpoint's JSON answer, success or error.
type answer struct {
	IDToken          string `json:"id_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func readAnswer(resp *http.Response) (answer, error) {
	var a answer
	raw, err := verify.ReadBody(resp, maxAnswer, "application/json")
	if err != nil {
		return a, fmt.Errorf("status %d: %w", resp.StatusCode, err)
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("status %d: not a JSON object", resp.StatusCode)
	}
	return a, nil
}

// checkToken verifies the id_token's signature, issuer, audience and lifetime.
func (v *Verifier) checkToken(ctx context.Context, meta *metadata, raw string) error {
	tok, err := jwt.ParseSigned(raw, signingAlgs)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	if len(tok.Headers) != 1 {
		return errors.New("not one signature")
	}
	kid := tok.Headers[0].KeyID
	keys := meta.keys.Key(kid)
	if kid == "" {
		keys = meta.keys.Keys // no key id: every published key is tried
	}
	if len(keys) == 0 {
		// A rotated key: fetch the JWKS again (at most once per MinRefreshInterval).
		if fresh, err := v.metadata(ctx, true); err == nil {
			meta, keys = fresh, fresh.keys.Key(kid)
		}
		if len(keys) == 0 {
			return fmt.Errorf("no key %q in the provider's JWKS", short(kid))
		}
	}
	var claims struct {
		Issuer    string           `json:"iss"`
		Audience  jwt.Audience     `json:"aud"`
		AZP       string           `json:"azp"`
		Expiry    *jwt.NumericDate `json:"exp"`
		NotBefore *jwt.NumericDate `json:"nbf"`
	}
	verified := false
	for _, k := range keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if err := tok.Claims(k.Key, &claims); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return errors.New("signature does not verify with the provider's key")
	}
	now := v.now()
	switch {
	case claims.Issuer != meta.issuer:
		return fmt.Errorf("issuer %q, want %q", short(claims.Issuer), meta.issuer)
	case !claims.Audience.Contains(v.clientID):
		return errors.New("audience lacks the client id")
	case claims.AZP != "" && claims.AZP != v.clientID:
		return errors.New("azp is another client")
	case claims.Expiry == nil:
		return errors.New("no exp")
	case now.After(claims.Expiry.Time().Add(v.skew)):
		return errors.New("expired")
	case claims.NotBefore != nil && now.Add(v.skew).Before(claims.NotBefore.Time()):
		return errors.New("not yet valid")
	}
	return nil
}

// metadata returns the provider's metadata, fetching it when absent, older than MaxKeyAge, or (force) when an
// unknown key id was seen and the last fetch is older than MinRefreshInterval. Concurrent callers share one fetch.
func (v *Verifier) metadata(ctx context.Context, force bool) (*metadata, error) {
	v.mu.Lock()
	now := v.now()
	if v.meta != nil {
		age := now.Sub(v.fetched)
		if (!force && age < v.maxAge) || (force && age < v.minRefresh) {
			m := v.meta
			v.mu.Unlock()
			return m, nil
		}
	}
	call := v.fetch
	if call == nil {
		call = &fetchCall{done: make(chan struct{})}
		v.fetch = call
		go v.runFetch(call)
	}
	v.mu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("oidc: provider metadata: %w", ctx.Err())
	}
	if call.err != nil {
		v.mu.Lock()
		m := v.meta
		v.mu.Unlock()
		if m != nil && !force {
			return m, nil // an old copy beats none while the provider's metadata is out of reach
		}
		return nil, call.err
	}
	return call.meta, nil
}

// runFetch fetches the metadata on its own deadline (the HTTP client's timeout), so one caller's cancellation
// does not fail the others waiting on it.
func (v *Verifier) runFetch(call *fetchCall) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*v.client.Timeout)
	defer cancel()
	call.meta, call.err = v.fetchMetadata(ctx)
	v.mu.Lock()
	if call.err == nil {
		v.meta, v.fetched = call.meta, v.now()
	}
	v.fetch = nil
	v.mu.Unlock()
	close(call.done)
}

func (v *Verifier) fetchMetadata(ctx context.Context) (*metadata, error) {
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
	}
	if err := v.getJSON(ctx, v.authority+"/.well-known/openid-configuration", &doc); err != nil {
		return nil, fmt.Errorf("oidc: discovery document: %w", err)
	}
	m := &metadata{issuer: doc.Issuer, tokenURL: doc.TokenEndpoint}
	if v.tokenURL != "" {
		m.tokenURL = v.tokenURL
	}
	switch {
	case m.issuer == "":
		return nil, errors.New("oidc: discovery document: no issuer")
	case doc.JWKSURI == "":
		return nil, errors.New("oidc: discovery document: no jwks_uri")
	case m.tokenURL == "":
		return nil, errors.New("oidc: discovery document: no token_endpoint")
	}
	for _, u := range []string{m.tokenURL, doc.JWKSURI} {
		if err := checkURL("discovery", u, v.insecure); err != nil {
			return nil, err
		}
	}
	if err := v.getJSON(ctx, doc.JWKSURI, &m.keys); err != nil {
		return nil, fmt.Errorf("oidc: JWKS: %w", err)
	}
	if len(m.keys.Keys) == 0 {
		return nil, errors.New("oidc: JWKS: no keys")
	}
	return m, nil
}

func (v *Verifier) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return verify.RedactURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	raw, err := verify.ReadBody(resp, maxMetadata)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// descCode returns the leading error code of an error_description (B2C's "AADB2C90225: …") in parentheses, or
// nothing.
func descCode(d string) string {
	if code := leadingCode(d); code != "" {
		return " (" + code + ")"
	}
	return ""
}

// leadingCode returns the code before the first colon of an error_description ("AADB2C90225: …",
// "AADSTS50126: …"), or "".
func leadingCode(d string) string {
	code, _, ok := strings.Cut(d, ":")
	if !ok || code == "" || len(code) > 16 || strings.ContainsAny(code, " \r\n\t") {
		return ""
	}
	return code
}

// short bounds a value from the provider quoted in an error.
func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

var _ idshift.Verifier = (*Verifier)(nil)
