package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The external-tenant issuer. In production, the bearer tokens Entra External ID sends to custom authentication
// extensions come from the tenant's ciamlogin.com authority (issuer https://{tenantId}.ciamlogin.com/{tenantId}/v2.0),
// signed with keys published only in that authority's metadata, not with the keys of login.microsoftonline.com
// that sign Graph tokens (docs/contracts.md §1.4). The sandbox serves both from one host, so the external
// authority lives under a path that spells its production host:
//
//	{base}/{tenantId}.ciamlogin.com/{tenantId}/v2.0                          issuer
//	{base}/{tenantId}.ciamlogin.com/{tenantId}/v2.0/.well-known/openid-configuration
//	{base}/{subdomain}.ciamlogin.com/{tenantId}/v2.0/.well-known/openid-configuration (same document)
//	{base}/{tenantId}.ciamlogin.com/{tenantId}/discovery/v2.0/keys            JWKS
//
// {subdomain} is the first label of the tenant's domain. As in production, the document fetched through the
// subdomain form names the tenant-id form as its issuer. The keys are the issuer's own: a token from it does not
// verify against the Graph token endpoint's JWKS, and the other way round.

// eventsServiceAppID is the app id of "Azure AD authentication events service", the azp of the tokens Entra sends
// to custom authentication extensions.
const eventsServiceAppID = "99045fe1-7639-4a75-9d4a-577b6ca3810f"

// ciamSuffix is the suffix of the path segment that stands for the ciamlogin.com host.
const ciamSuffix = ".ciamlogin.com"

// issuerKey is one signing key of the external issuer, with the self-signed certificate its JWKS entry carries.
type issuerKey struct {
	key  *rsa.PrivateKey
	cert []byte // DER
	kid  string // base64url SHA-1 of cert, also the x5t
}

// externalIssuer holds the external issuer's keys; the last one signs.
type externalIssuer struct {
	mu   sync.Mutex
	keys []*issuerKey
}

// issuerSigningKey is the first key of every tenant's external issuer. Like the Graph signing key it is generated
// once per process (an RSA-2048 key costs about a second under the race detector); it is never the Graph key.
var issuerSigningKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func newIssuerKey(key *rsa.PrivateKey, subject string) (*issuerKey, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: subject},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(der)
	return &issuerKey{key: key, cert: der, kid: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

// issuerKeys returns the external issuer's keys (the signing key last), creating the first on first use.
func (t *Tenant) issuerKeys() ([]*issuerKey, error) {
	t.issuer.mu.Lock()
	defer t.issuer.mu.Unlock()
	if len(t.issuer.keys) == 0 {
		key, err := issuerSigningKey()
		if err != nil {
			return nil, fmt.Errorf("sandbox: external issuer key: %w", err)
		}
		k, err := newIssuerKey(key, t.cfg.TenantID+ciamSuffix)
		if err != nil {
			return nil, fmt.Errorf("sandbox: external issuer certificate: %w", err)
		}
		t.issuer.keys = []*issuerKey{k}
	}
	return append([]*issuerKey(nil), t.issuer.keys...), nil
}

// RotateExternalKey makes a new signing key for the external issuer. The JWKS publishes it at once, and the
// tokens sent to extensions are signed with it from then on; the previous keys stay published. It lets a service
// be tested for refreshing its JWKS on an unknown kid.
func (t *Tenant) RotateExternalKey() error {
	if _, err := t.issuerKeys(); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("sandbox: rotate external issuer key: %w", err)
	}
	k, err := newIssuerKey(key, t.cfg.TenantID+ciamSuffix)
	if err != nil {
		return fmt.Errorf("sandbox: rotate external issuer key: %w", err)
	}
	t.issuer.mu.Lock()
	t.issuer.keys = append(t.issuer.keys, k)
	t.issuer.mu.Unlock()
	return nil
}

// ExternalIssuer returns the issuer of the tokens the tenant sends to custom authentication extensions, for a
// sandbox served at baseURL (https://HOST:PORT): baseURL/{tenantId}.ciamlogin.com/{tenantId}/v2.0. Its OpenID
// discovery document is at ExternalIssuer(baseURL) + "/.well-known/openid-configuration".
func (t *Tenant) ExternalIssuer(baseURL string) string {
	return strings.TrimSuffix(baseURL, "/") + "/" + t.cfg.TenantID + ciamSuffix + "/" + t.cfg.TenantID + "/v2.0"
}

// ExternalAuthority returns the tenant's external authority in its domain-name form, as an operator configures
// it (https://{subdomain}.ciamlogin.com/{tenantId}/v2.0 in production): its discovery document names
// ExternalIssuer(baseURL) as the issuer, so a service must take the issuer from the document, not derive it.
func (t *Tenant) ExternalAuthority(baseURL string) string {
	sub, _, _ := strings.Cut(t.cfg.Domain, ".")
	return strings.TrimSuffix(baseURL, "/") + "/" + sub + ciamSuffix + "/" + t.cfg.TenantID + "/v2.0"
}

// publicBase is the URL the tenant's tokens name: the server's when it runs under Start, else the request's.
func (t *Tenant) publicBase(r *http.Request) string {
	if b := t.base.Load(); b != nil {
		return *b
	}
	return baseURL(r)
}

// serveExternal serves the external issuer's discovery document and JWKS. It reports whether p was one of its
// paths.
func (t *Tenant) serveExternal(w http.ResponseWriter, r *http.Request, p string) bool {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	if len(seg) < 3 || !strings.HasSuffix(strings.ToLower(seg[0]), ciamSuffix) {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(strings.ToLower(seg[0]), ciamSuffix))
	sub, _, _ := strings.Cut(t.cfg.Domain, ".")
	if (host != t.cfg.TenantID && host != sub) || !t.knownTenant(seg[1]) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_tenant", 90002,
			"Tenant '"+seg[1]+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
		return true
	}
	base := t.publicBase(r)
	switch strings.Join(seg[2:], "/") {
	case "v2.0/.well-known/openid-configuration":
		iss := t.ExternalIssuer(base)
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                iss,
			"jwks_uri":                              base + "/" + t.cfg.TenantID + ciamSuffix + "/" + t.cfg.TenantID + "/discovery/v2.0/keys",
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
			"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "azp", "oid", "ver"},
			"tenant_region_scope":                   "EU",
			"cloud_instance_name":                   "ciamlogin.com",
		})
	case "discovery/v2.0/keys":
		keys, err := t.issuerKeys()
		if err != nil {
			writeOAuthError(w, http.StatusInternalServerError, "temporarily_unavailable", 50000, "The signing keys are unavailable.")
			return true
		}
		out := make([]map[string]any, 0, len(keys))
		for _, k := range keys {
			out = append(out, map[string]any{
				"kty": "RSA", "use": "sig", "kid": k.kid, "x5t": k.kid,
				"n":      base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
				"e":      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes()),
				"x5c":    []string{base64.StdEncoding.EncodeToString(k.cert)},
				"issuer": t.ExternalIssuer(base),
			})
		}
		writeJSON(w, http.StatusOK, map[string]any{"keys": out})
	default:
		http.NotFound(w, r)
	}
	return true
}

// calloutClaims are the claims of the bearer token sent to a custom authentication extension (a v2.0 app-only
// token of the authentication events service).
type calloutClaims struct {
	Aud    string `json:"aud"`
	Iss    string `json:"iss"`
	Iat    int64  `json:"iat"`
	Nbf    int64  `json:"nbf"`
	Exp    int64  `json:"exp"`
	Azp    string `json:"azp"`
	Azpacr string `json:"azpacr"`
	IdTyp  string `json:"idtyp"`
	Oid    string `json:"oid"`
	Sub    string `json:"sub"`
	Tid    string `json:"tid"`
	Uti    string `json:"uti"`
	Ver    string `json:"ver"`
}

// signExternal signs claims RS256 with the external issuer's current key (header kid and x5t).
func (t *Tenant) signExternal(c calloutClaims) (string, error) {
	keys, err := t.issuerKeys()
	if err != nil {
		return "", err
	}
	k := keys[len(keys)-1]
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "x5t": k.kid, "kid": k.kid})
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	in := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(nil, k.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
