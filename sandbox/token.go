package sandbox

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/idshift/idshift/internal/uuid"
)

// tokenLifetime is the lifetime of issued access tokens (Entra's default is 60–90 minutes).
const tokenLifetime = time.Hour

// claims are the claims of an access token issued by the sandbox.
type claims struct {
	Aud   string   `json:"aud"`
	Iss   string   `json:"iss"`
	Iat   int64    `json:"iat"`
	Nbf   int64    `json:"nbf"`
	Exp   int64    `json:"exp"`
	AppID string   `json:"appid"`
	Azp   string   `json:"azp"`
	IdTyp string   `json:"idtyp"`
	Oid   string   `json:"oid"`
	Sub   string   `json:"sub"`
	Roles []string `json:"roles"`
	Tid   string   `json:"tid"`
	Ver   string   `json:"ver"`
}

func (c *claims) hasRole(any ...string) bool {
	for _, r := range any {
		if slices.Contains(c.Roles, r) {
			return true
		}
	}
	return false
}

// baseURL is the scheme and host the request was addressed to.
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// knownTenant reports whether the path segment names this tenant (its id or its domain).
func (t *Tenant) knownTenant(seg string) bool {
	seg = strings.ToLower(seg)
	return seg == t.cfg.TenantID || seg == t.cfg.Domain
}

func (t *Tenant) serveDiscovery(w http.ResponseWriter, r *http.Request, tenant string) {
	if !t.knownTenant(tenant) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_tenant", 90002,
			"Tenant '"+tenant+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
		return
	}
	base := baseURL(r)
	tid := t.cfg.TenantID
	doc := map[string]any{
		"token_endpoint":                        base + "/" + tid + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/" + tid + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/" + tid + "/v2.0",
		"request_uri_parameter_supported":       false,
		"authorization_endpoint":                base + "/" + tid + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/" + tid + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/" + tid + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "roles", "azp", "appid", "oid"},
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
	}
	writeJSON(w, http.StatusOK, doc)
}

func (t *Tenant) serveJWKS(w http.ResponseWriter, r *http.Request, tenant string) {
	if !t.knownTenant(tenant) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_tenant", 90002, "Tenant '"+tenant+"' not found.")
		return
	}
	pub := t.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "kid": t.kid, "alg": "RS256",
		"n":      base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		"issuer": baseURL(r) + "/" + t.cfg.TenantID + "/v2.0",
	}}})
}

// serveToken is the OAuth 2.0 token endpoint for the client-credentials grant with a client secret (in the body
// or HTTP basic authentication). Errors follow Entra's shape: {"error","error_description","error_codes",...}.
func (t *Tenant) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodPost {
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", 900561,
			"The endpoint only accepts POST requests.")
		return
	}
	if !t.knownTenant(tenant) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_tenant", 90002,
			"Tenant '"+tenant+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		if gt == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
			return
		}
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+gt+"'.")
		return
	}
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	if clientID == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	app, ok := t.apps[strings.ToLower(clientID)]
	if !ok {
		writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			"Application with identifier '"+clientID+"' was not found in the directory '"+t.cfg.Domain+"'.")
		return
	}
	if assertion := f.Get("client_assertion"); assertion != "" {
		if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", 50027,
				"The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.")
			return
		}
		if code, msg := t.checkAssertion(app, assertion, baseURL(r)+r.URL.Path, baseURL(r)+"/"+t.cfg.TenantID+"/oauth2/v2.0/token"); code != 0 {
			writeOAuthError(w, http.StatusUnauthorized, "invalid_client", code, msg)
			return
		}
	} else if secret == "" {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	if f.Get("client_assertion") == "" && (app.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(app.Secret)) != 1) {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", 7000215,
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+app.ClientID+"'.")
		return
	}
	// MSAL adds the OpenID Connect scopes to every request; Entra ignores them in the client-credentials flow.
	scope := strings.TrimSpace(f.Get("scope"))
	var rest []string
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "openid", "profile", "offline_access", "email":
		default:
			rest = append(rest, sc)
		}
	}
	var resource string
	ok = len(rest) == 1
	if ok {
		resource, ok = strings.CutSuffix(rest[0], "/.default")
	}
	if !ok {
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			"The provided value for scope "+scope+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	}
	if !t.graphAudience(resource, r) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_resource", 500011,
			"The resource principal named "+resource+" was not found in the tenant named "+t.cfg.Domain+".")
		return
	}
	now := t.now()
	c := claims{
		Aud: resource, Iss: baseURL(r) + "/" + t.cfg.TenantID + "/v2.0",
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(tokenLifetime).Unix(),
		AppID: app.ClientID, Azp: app.ClientID, IdTyp: "app",
		Oid: servicePrincipalID(app.ClientID), Sub: servicePrincipalID(app.ClientID),
		Roles: app.Roles, Tid: t.cfg.TenantID, Ver: "2.0",
	}
	tok, err := t.sign(c)
	if err != nil {
		writeOAuthError(w, http.StatusInternalServerError, "temporarily_unavailable", 50000, "There was an error issuing a token.")
		return
	}
	t.nTokens.Add(1)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(tokenLifetime / time.Second),
		"ext_expires_in": int(tokenLifetime / time.Second),
		"access_token":   tok,
	})
}

// graphAudience reports whether resource names Microsoft Graph: its URL, its app id, or this server's own URL.
func (t *Tenant) graphAudience(resource string, r *http.Request) bool {
	resource = strings.TrimSuffix(resource, "/")
	return strings.EqualFold(resource, GraphResource) || strings.EqualFold(resource, graphAppID) ||
		strings.EqualFold(resource, baseURL(r)) || strings.EqualFold(resource, "https://"+r.Host)
}

// servicePrincipalID derives a stable object id for an app's service principal.
func servicePrincipalID(appID string) string {
	h := sha256.Sum256([]byte("sp:" + appID))
	return uuid.FromBytes([16]byte(h[:16]))
}

func (t *Tenant) sign(c claims) (string, error) {
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": t.kid})
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	in := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(nil, t.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

var (
	errTokenMissing = errors.New("Access token is empty.")
	errTokenInvalid = errors.New("Invalid JWT token. Token format not valid.")
	errTokenSig     = errors.New("Access token validation failure. Invalid signature.")
	errTokenExpired = errors.New("Lifetime validation failed, the token is expired.")
	errTokenAud     = errors.New("Access token validation failure. Invalid audience.")
	errTokenTenant  = errors.New("Access token validation failure. Invalid tenant.")
)

// authenticate validates the bearer token of r: RS256 signature with the tenant's key, tid, aud, nbf and exp.
func (t *Tenant) authenticate(r *http.Request) (*claims, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errTokenMissing
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, errTokenInvalid
	}
	tok = strings.TrimSpace(tok)
	if c, ok := t.verified.Load(tok); ok {
		return t.checkClaims(c.(*claims), r)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errTokenInvalid
	}
	hdrRaw, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	bodyRaw, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, errTokenInvalid
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(hdrRaw, &hdr) != nil {
		return nil, errTokenInvalid
	}
	if hdr.Alg != "RS256" || hdr.Kid != t.kid {
		return nil, errTokenSig
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&t.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return nil, errTokenSig
	}
	var c claims
	if json.Unmarshal(bodyRaw, &c) != nil {
		return nil, errTokenInvalid
	}
	// Signature checks dominate the cost of a request: remember verified tokens (bounded).
	if t.nVerified.Add(1) > 4096 {
		t.verified.Clear()
		t.nVerified.Store(0)
	}
	t.verified.Store(tok, &c)
	return t.checkClaims(&c, r)
}

// checkClaims validates the lifetime, tenant and audience of verified claims.
func (t *Tenant) checkClaims(c *claims, r *http.Request) (*claims, error) {
	now := t.now().Unix()
	if c.Exp <= now || c.Nbf > now+300 {
		return nil, errTokenExpired
	}
	if c.Tid != t.cfg.TenantID {
		return nil, errTokenTenant
	}
	if !t.graphAudience(c.Aud, r) {
		return nil, errTokenAud
	}
	return c, nil
}

func writeOAuthError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	now := time.Now().UTC()
	trace := newGUID()
	corr := newGUID()
	writeJSON(w, status, map[string]any{
		"error": code,
		"error_description": "AADSTS" + itoa(aadsts) + ": " + desc + " Trace ID: " + trace + " Correlation ID: " + corr +
			" Timestamp: " + now.Format("2006-01-02 15:04:05Z"),
		"error_codes":    []int{aadsts},
		"timestamp":      now.Format("2006-01-02 15:04:05Z"),
		"trace_id":       trace,
		"correlation_id": corr,
	})
}

// checkAssertion verifies a client assertion (certificate credential): a JWT signed with PS256 or RS256 by the
// key of one of app's certificates, with iss = sub = the client id, aud = the token endpoint, and a valid
// lifetime. It returns an AADSTS code and message, or 0.
func (t *Tenant) checkAssertion(app App, assertion string, endpoints ...string) (int, string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return 700024, "Client assertion is not a valid JWT."
	}
	hdrRaw, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	bodyRaw, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	var hdr struct {
		Alg string `json:"alg"`
	}
	var c struct {
		Aud any         `json:"aud"`
		Iss string      `json:"iss"`
		Sub string      `json:"sub"`
		Exp json.Number `json:"exp"`
		Nbf json.Number `json:"nbf"`
	}
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hdrRaw, &hdr) != nil || json.Unmarshal(bodyRaw, &c) != nil {
		return 700024, "Client assertion is not a valid JWT."
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	verified := false
	for _, cert := range app.Certificates {
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			continue
		}
		switch hdr.Alg {
		case "PS256":
			verified = rsa.VerifyPSS(pub, crypto.SHA256, sum[:], sig, nil) == nil
		case "RS256":
			verified = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
		}
		if verified {
			break
		}
	}
	if !verified {
		return 700027, "Client assertion failed signature validation."
	}
	if !strings.EqualFold(c.Iss, app.ClientID) || !strings.EqualFold(c.Sub, app.ClientID) {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter."
	}
	aud, _ := c.Aud.(string)
	if !slices.Contains(endpoints, aud) {
		return 700212, "No matching federated identity record found for presented assertion audience '" + aud + "'."
	}
	now := t.now().Unix()
	exp, errExp := c.Exp.Int64()
	nbf, errNbf := c.Nbf.Int64()
	if errExp != nil || exp <= now || (errNbf == nil && nbf > now+300) {
		return 700024, "Client assertion is not within its valid time range."
	}
	return 0, ""
}
