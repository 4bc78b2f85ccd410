package entra

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AuthenticationEventsAppID is the application id of Microsoft's "Azure AD authentication events service", the
// client to which Entra issues the bearer tokens it sends to custom authentication extensions (the token's azp,
// or appid in v1 tokens).
const AuthenticationEventsAppID = "99045fe1-7639-4a75-9d4a-577b6ca3810f"

// Defaults of TokenConfig.
const (
	DefaultSkew               = 2 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultMaxKeyAge          = 24 * time.Hour
	DefaultFetchTimeout       = 10 * time.Second
)

const (
	maxTokenBytes    = 16 << 10 // Entra's tokens are about 1.5 KiB
	maxMetadataBytes = 1 << 20  // discovery document and JWKS
)

// TokenConfig configures the check of the bearer token Entra sends with every callout (docs/contracts.md §1.4).
// Authority and Audiences are required; every other zero value is usable.
//
//	authority: https://contoso.ciamlogin.com/5e3a1b7c-2f4d-4e6a-9b8c-0d1e2f3a4b5c/v2.0
//	audiences: [00000000-0000-0000-0000-00000000e001, "api://auth.contoso.com/00000000-0000-0000-0000-00000000e001"]
//	issuers: ["https://contoso.ciamlogin.com/5e3a1b7c-2f4d-4e6a-9b8c-0d1e2f3a4b5c/v2.0"]   # optional, extra
type TokenConfig struct {
	// Authority is the tenant's external authority, https://{subdomain}.ciamlogin.com/{tenantId}/v2.0 (not Graph's
	// token authority, which signs with other keys). The discovery document is read from
	// {Authority}/.well-known/openid-configuration; its issuer is accepted as iss and its jwks_uri gives the
	// signing keys. HTTPS only.
	Authority string `yaml:"authority" json:"authority"`
	// Issuers are accepted as iss in addition to the discovery document's issuer (both host forms of an external
	// tenant, or the v1 issuer https://sts.windows.net/{tenantId}/ with AllowV1). The issuer is never derived
	// from Authority.
	Issuers []string `yaml:"issuers" json:"issuers,omitempty"`
	// Audiences lists the accepted aud values: the extension app's id and/or its api://{host}/{appId} URI.
	Audiences []string `yaml:"audiences" json:"audiences"`
	// AuthorizedParty is the required azp; default AuthenticationEventsAppID.
	AuthorizedParty string `yaml:"authorized_party" json:"authorizedParty,omitempty"`
	// AllowV1 accepts a token without azp whose appid equals AuthorizedParty (apps whose
	// accessTokenAcceptedVersion is 1 or null). Off by default.
	AllowV1 bool `yaml:"allow_v1" json:"allowV1,omitempty"`
	// Skew is the clock skew allowed on exp and nbf; default DefaultSkew (2 minutes).
	Skew time.Duration `yaml:"skew" json:"skew,omitempty"`
	// MinRefreshInterval is the least time between two fetches of the keys caused by callouts (a token with an
	// unknown kid, keys never fetched, keys older than MaxKeyAge); default 30 s. A storm of unknown kids causes one
	// fetch, shared by every caller waiting on it. Refresh ignores it.
	MinRefreshInterval time.Duration `yaml:"min_refresh_interval" json:"minRefreshInterval,omitempty"`
	// MaxKeyAge is the age after which the keys are fetched again on the next callout (which goes on with the
	// cached keys meanwhile); default 24 h.
	MaxKeyAge time.Duration `yaml:"max_key_age" json:"maxKeyAge,omitempty"`
	// FetchTimeout bounds one fetch of discovery document and JWKS; default 10 s. A callout waits for a fetch at
	// most as long as its own context allows.
	FetchTimeout time.Duration `yaml:"fetch_timeout" json:"fetchTimeout,omitempty"`
	// HTTPClient fetches the discovery document and the JWKS (set its transport's RootCAs for a private CA, as
	// the sandbox's); default http.DefaultClient.
	HTTPClient *http.Client `yaml:"-" json:"-"`
	// Now is the clock; default time.Now.
	Now func() time.Time `yaml:"-" json:"-"`
}

// Token is what a valid bearer token says, for logs.
type Token struct {
	Issuer          string
	Audience        string // the accepted audience
	AuthorizedParty string // azp, or appid for a v1 token
	TenantID        string
	Subject         string
	KeyID           string
	Expiry          time.Time
}

// TokenStats counts the key fetches, for metrics.
type TokenStats struct {
	Fetches   uint64    // fetches started (success or not)
	Failures  uint64    // fetches that failed
	Keys      int       // signing keys cached
	FetchedAt time.Time // last successful fetch; zero before the first
}

// TokenValidator checks bearer tokens against the keys of the configured authority, cached. Safe for concurrent
// use.
type TokenValidator struct {
	cfg          TokenConfig
	discoveryURL string

	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey
	issuer    string
	fetchedAt time.Time // last success
	attemptAt time.Time // last fetch started
	inflight  *keyFetch

	fetches  atomic.Uint64
	failures atomic.Uint64
}

type keyFetch struct {
	done chan struct{}
	err  error
}

// NewTokenValidator checks the configuration and fills its defaults. It does no I/O: the keys are fetched by the
// first Validate or by Refresh (call it at start-up and until Ready, for /readyz).
func NewTokenValidator(cfg TokenConfig) (*TokenValidator, error) {
	u, err := url.Parse(cfg.Authority)
	if cfg.Authority == "" {
		return nil, errors.New("entra: token: authority is required")
	}
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("entra: token: authority %q: want an https URL", cfg.Authority)
	}
	if len(cfg.Audiences) == 0 {
		return nil, errors.New("entra: token: audiences is required (the extension app's id and/or api:// URI)")
	}
	for _, a := range cfg.Audiences {
		if a == "" {
			return nil, errors.New("entra: token: empty audience")
		}
	}
	if cfg.AuthorizedParty == "" {
		cfg.AuthorizedParty = AuthenticationEventsAppID
	}
	if cfg.Skew <= 0 {
		cfg.Skew = DefaultSkew
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.MaxKeyAge <= 0 {
		cfg.MaxKeyAge = DefaultMaxKeyAge
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Issuers = slices.Clone(cfg.Issuers)
	cfg.Audiences = slices.Clone(cfg.Audiences)
	return &TokenValidator{
		cfg:          cfg,
		discoveryURL: strings.TrimSuffix(cfg.Authority, "/") + "/.well-known/openid-configuration",
	}, nil
}

// Ready reports whether signing keys have been fetched at least once.
func (v *TokenValidator) Ready() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return !v.fetchedAt.IsZero()
}

// Stats returns the fetch counters.
func (v *TokenValidator) Stats() TokenStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	return TokenStats{Fetches: v.fetches.Load(), Failures: v.failures.Load(), Keys: len(v.keys), FetchedAt: v.fetchedAt}
}

// Refresh fetches the discovery document and the keys now (joining a fetch in flight), whatever the rate limit,
// and waits for it. On failure the cached keys stay in use.
func (v *TokenValidator) Refresh(ctx context.Context) error {
	v.mu.Lock()
	f := v.inflight
	if f == nil {
		f = v.startFetchLocked(ctx)
	}
	v.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return fmt.Errorf("entra: refresh keys: %w", ctx.Err())
	}
}

// Validate checks a bearer token (the part after "Bearer "): RS256 only, signed by a key of the authority's JWKS
// (chosen by kid; an unknown kid triggers one rate-limited refresh), iss, aud, azp (or appid when AllowV1), exp and
// nbf with Skew. Every error is an *Error of kind Unauthenticated; ErrKeysUnavailable when the keys could not be
// fetched. It may wait for a key fetch, at most as long as ctx allows.
func (v *TokenValidator) Validate(ctx context.Context, raw string) (*Token, error) {
	if raw == "" {
		return nil, unauthenticated(ErrNoToken)
	}
	if len(raw) > maxTokenBytes {
		return nil, unauthenticated(fmt.Errorf("%w: longer than %d bytes", ErrMalformedToken, maxTokenBytes))
	}
	// Look at alg before anything else, to name the refusal (none, HS256, ES256...) precisely.
	alg, err := peekAlg(raw)
	if err != nil {
		return nil, unauthenticated(err)
	}
	if alg != string(jose.RS256) {
		return nil, unauthenticated(fmt.Errorf("%w: %q", ErrTokenAlgorithm, alg))
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, unauthenticated(fmt.Errorf("%w: %w", ErrMalformedToken, err))
	}
	if len(tok.Headers) != 1 {
		return nil, unauthenticated(fmt.Errorf("%w: want one signature", ErrMalformedToken))
	}
	kid := tok.Headers[0].KeyID
	if kid == "" {
		return nil, unauthenticated(fmt.Errorf("%w: no kid", ErrMalformedToken))
	}
	key, issuer, err := v.key(ctx, kid)
	if err != nil {
		return nil, unauthenticated(err)
	}
	var c struct {
		Issuer    string           `json:"iss"`
		Audience  jwt.Audience     `json:"aud"`
		Expiry    *jwt.NumericDate `json:"exp"`
		NotBefore *jwt.NumericDate `json:"nbf"`
		AZP       string           `json:"azp"`
		AppID     string           `json:"appid"`
		TenantID  string           `json:"tid"`
		Subject   string           `json:"sub"`
	}
	if err := tok.Claims(key, &c); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return nil, unauthenticated(ErrSignature)
		}
		return nil, unauthenticated(fmt.Errorf("%w: claims: %w", ErrMalformedToken, err))
	}

	now := v.cfg.Now()
	if c.Expiry == nil {
		return nil, unauthenticated(fmt.Errorf("%w: no exp", ErrMalformedToken))
	}
	if now.After(c.Expiry.Time().Add(v.cfg.Skew)) {
		return nil, unauthenticated(ErrExpired)
	}
	if c.NotBefore != nil && now.Add(v.cfg.Skew).Before(c.NotBefore.Time()) {
		return nil, unauthenticated(ErrNotYetValid)
	}
	if c.Issuer == "" || (c.Issuer != issuer && !slices.Contains(v.cfg.Issuers, c.Issuer)) {
		return nil, unauthenticated(fmt.Errorf("%w: %q", ErrIssuer, c.Issuer))
	}
	aud := ""
	for _, a := range c.Audience {
		if slices.Contains(v.cfg.Audiences, a) {
			aud = a
			break
		}
	}
	if aud == "" {
		return nil, unauthenticated(fmt.Errorf("%w: %q", ErrAudience, []string(c.Audience)))
	}
	party := c.AZP
	switch {
	case c.AZP != "":
		if c.AZP != v.cfg.AuthorizedParty {
			return nil, unauthenticated(fmt.Errorf("%w: azp %q", ErrAuthorizedParty, c.AZP))
		}
	case v.cfg.AllowV1 && c.AppID == v.cfg.AuthorizedParty:
		party = c.AppID
	case c.AppID != "" && !v.cfg.AllowV1:
		return nil, unauthenticated(fmt.Errorf("%w: appid without azp (v1 tokens not allowed)", ErrAuthorizedParty))
	default:
		return nil, unauthenticated(fmt.Errorf("%w: appid %q", ErrAuthorizedParty, c.AppID))
	}
	return &Token{
		Issuer: c.Issuer, Audience: aud, AuthorizedParty: party, TenantID: c.TenantID, Subject: c.Subject,
		KeyID: kid, Expiry: c.Expiry.Time(),
	}, nil
}

// peekAlg returns the alg of a compact JWS's protected header.
func peekAlg(raw string) (string, error) {
	head, _, ok := strings.Cut(raw, ".")
	if !ok {
		return "", fmt.Errorf("%w: not a compact JWS", ErrMalformedToken)
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", fmt.Errorf("%w: header encoding", ErrMalformedToken)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return "", fmt.Errorf("%w: header JSON", ErrMalformedToken)
	}
	return h.Alg, nil
}

// key returns the signing key kid and the discovery issuer, fetching the keys when needed and allowed.
func (v *TokenValidator) key(ctx context.Context, kid string) (*rsa.PublicKey, string, error) {
	v.mu.Lock()
	now := v.cfg.Now()
	k, issuer := v.keys[kid], v.issuer
	stale := v.fetchedAt.IsZero() || now.Sub(v.fetchedAt) >= v.cfg.MaxKeyAge
	if k != nil && !stale {
		v.mu.Unlock()
		return k, issuer, nil
	}
	f := v.inflight
	if f == nil && (v.attemptAt.IsZero() || now.Sub(v.attemptAt) >= v.cfg.MinRefreshInterval) {
		f = v.startFetchLocked(ctx)
	}
	ready := !v.fetchedAt.IsZero()
	v.mu.Unlock()

	if k != nil {
		// Known but old: go on with it while the refresh (if any) runs.
		return k, issuer, nil
	}
	if f == nil {
		// Rate-limited: no fetch for this token.
		if !ready {
			return nil, "", ErrKeysUnavailable
		}
		return nil, "", fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, "", fmt.Errorf("%w: waiting for keys: %w", ErrKeysUnavailable, ctx.Err())
	}
	v.mu.Lock()
	k, issuer, ready = v.keys[kid], v.issuer, !v.fetchedAt.IsZero()
	v.mu.Unlock()
	switch {
	case k != nil:
		return k, issuer, nil
	case !ready:
		return nil, "", fmt.Errorf("%w: %w", ErrKeysUnavailable, f.err)
	}
	return nil, "", fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
}

// startFetchLocked starts a fetch in the background; v.mu is held. The fetch outlives the caller's cancellation
// (other callers may be waiting on it) but not FetchTimeout.
func (v *TokenValidator) startFetchLocked(ctx context.Context) *keyFetch {
	f := &keyFetch{done: make(chan struct{})}
	v.inflight = f
	v.attemptAt = v.cfg.Now()
	v.fetches.Add(1)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.cfg.FetchTimeout)
	go func() {
		defer cancel()
		issuer, keys, err := v.fetch(fctx)
		v.mu.Lock()
		if err == nil {
			v.keys, v.issuer, v.fetchedAt = keys, issuer, v.cfg.Now()
		} else {
			v.failures.Add(1)
		}
		f.err = err
		v.inflight = nil
		v.mu.Unlock()
		close(f.done)
	}()
	return f
}

// fetch reads the discovery document and its JWKS and keeps the RSA signing keys of at least MinRSABits that have
// a kid. Keys it cannot use (other types, encryption keys) are skipped; a set without any usable key is an error.
func (v *TokenValidator) fetch(ctx context.Context) (string, map[string]*rsa.PublicKey, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := v.getJSON(ctx, v.discoveryURL, &doc); err != nil {
		return "", nil, err
	}
	if doc.Issuer == "" {
		return "", nil, fmt.Errorf("entra: discovery document %s: no issuer", v.discoveryURL)
	}
	u, err := url.Parse(doc.JWKSURI)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", nil, fmt.Errorf("entra: discovery document %s: jwks_uri %q: want an https URL", v.discoveryURL, doc.JWKSURI)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := v.getJSON(ctx, doc.JWKSURI, &set); err != nil {
		return "", nil, err
	}
	keys := make(map[string]*rsa.PublicKey, len(set.Keys))
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		pub, ok := k.Key.(*rsa.PublicKey)
		if !ok || k.KeyID == "" || (k.Use != "" && k.Use != "sig") || pub.N.BitLen() < MinRSABits {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != string(jose.RS256) {
			continue
		}
		keys[k.KeyID] = pub
	}
	if len(keys) == 0 {
		return "", nil, fmt.Errorf("entra: JWKS %s: no usable RSA signing key", doc.JWKSURI)
	}
	return doc.Issuer, keys, nil
}

func (v *TokenValidator) getJSON(ctx context.Context, u string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("entra: fetch %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("entra: fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("entra: fetch %s: status %d", u, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	if err != nil {
		return fmt.Errorf("entra: fetch %s: %w", u, err)
	}
	if len(b) > maxMetadataBytes {
		return fmt.Errorf("entra: fetch %s: larger than %d bytes", u, maxMetadataBytes)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("entra: fetch %s: %w", u, err)
	}
	return nil
}
