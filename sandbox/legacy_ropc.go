package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/idshift/idshift/internal/uuid"
)

// DefaultLegacyClientID is the application id of a LegacyB2C's ROPC application when its config names none.
const DefaultLegacyClientID = "bef22d56-552f-4a5b-b90a-1988a7d634ce"

// LegacyB2CConfig configures a LegacyB2C. Its zero value is usable.
type LegacyB2CConfig struct {
	// Tenant is the B2C tenant's name ("contoso" for contoso.onmicrosoft.com). Default "legacy".
	Tenant string
	// Policy is the ROPC user flow's name. Default "B2C_1_ROPC".
	Policy string
	// ClientID is the ROPC application's id, the only client_id accepted. Default DefaultLegacyClientID.
	ClientID string
	// Users are the tenant's local accounts.
	Users []LegacyUser
	// Lockout, when positive, is the number of wrong passwords in a row after which an account is locked (B2C's
	// smart lockout): AADB2C90114 whatever the password, until the emulation is made anew. 0: no lockout.
	Lockout int
	// Now is the clock that stamps tokens; time.Now when nil.
	Now func() time.Time
	// Logger receives one line per token request (never a password); discarded when nil.
	Logger *slog.Logger
}

// LegacyUser is one local account of a legacy identity provider emulation (LegacyB2C, LegacyCognito).
type LegacyUser struct {
	// SignInName is what the user types (matched case-insensitively).
	SignInName string
	Password   string
	// ObjectID is the account's id (B2C's oid, Cognito's sub); generated when empty.
	ObjectID string
	// Disabled: LegacyCognito answers "User is disabled."; LegacyB2C answers AADB2C90111 ("Your account has been
	// locked. Contact your support person…", B2C's message for a disabled account). Whatever the password.
	Disabled bool
	// Locked: LegacyB2C answers AADB2C90114 ("Your account is temporarily locked…", smart lockout) whatever the
	// password. (LegacyCognito locks by itself after LegacyCognitoConfig's wrong passwords.)
	Locked bool
	// MustChange: after the right password, LegacyCognito answers a NEW_PASSWORD_REQUIRED challenge and
	// LegacyB2C answers AADSTS50055 (password expired) as Microsoft Entra ID does: B2C documents no code of its
	// own for an expired or reset password in the ROPC flow. A wrong password is refused as usual.
	MustChange bool
	// ResetRequired: LegacyCognito answers PasswordResetRequiredException whatever the password.
	ResetRequired bool
	// Challenge: after the right password, LegacyCognito answers this challenge (SMS_MFA, SOFTWARE_TOKEN_MFA,
	// EMAIL_OTP, SELECT_MFA_TYPE, MFA_SETUP, …) instead of tokens, as a pool with MFA does.
	Challenge string
}

// LegacyFault is a misbehaviour a legacy emulation can be told to show, for the tests of the live checks.
type LegacyFault int

const (
	// FaultNone: the emulation behaves.
	FaultNone LegacyFault = iota
	// FaultServerError: every token request is answered 500 (B2C: server_error; Cognito: InternalErrorException).
	FaultServerError
	// FaultForgedToken: a right password gets an id_token signed by a key the JWKS does not publish.
	FaultForgedToken
	// FaultWrongAudience: a right password gets an id_token issued to another client.
	FaultWrongAudience
	// FaultWrongIssuer: a right password gets an id_token from another issuer.
	FaultWrongIssuer
	// FaultExpiredToken: a right password gets an id_token that expired an hour ago.
	FaultExpiredToken
	// FaultNotJSON: every token request is answered 200 with an HTML page (a captive portal, a proxy's error).
	FaultNotJSON
)

// LegacyB2C emulates the resource owner password credentials (ROPC) user flow of a legacy Azure AD B2C tenant, the
// other side of the verify/oidc live check: at b2clogin.com-style paths under any base URL,
//
//	GET  /{tenant}.onmicrosoft.com/{policy}/v2.0/.well-known/openid-configuration
//	GET  /{tenant}.onmicrosoft.com/{policy}/discovery/v2.0/keys
//	POST /{tenant}.onmicrosoft.com/{policy}/oauth2/v2.0/token
//
// The token endpoint takes B2C's documented form (grant_type=password, client_id, scope with openid, username,
// password, response_type) and answers a right password with an RS256 id_token (iss
// {base}/{tenantId}/v2.0/, aud the client id, oid, tfp the policy) and, when the scope holds the client id, an
// access token; a wrong password or an unknown account with 400 invalid_grant
// "AADB2C90225: The username or password provided in the request are invalid."; a disabled account with
// AADB2C90111 and a locked one (LegacyUser.Locked, or after LegacyB2CConfig.Lockout wrong passwords in a row)
// with AADB2C90114, whatever the password; a right but expired password
// (LegacyUser.MustChange) with AADSTS50055; another client_id with 400
// unauthorized_client (AADB2C90224, the ROPC flow not enabled for the application). It is an http.Handler, safe
// for concurrent use; the base URL is read from each request (scheme and Host).
type LegacyB2C struct {
	tenant, tenantID, policy, clientID string
	users                              map[string]LegacyUser
	now                                func() time.Time
	log                                *slog.Logger
	key                                *rsa.PrivateKey
	kid                                string
	forger                             *ecdsa.PrivateKey
	fault                              atomic.Int32
	requests                           atomic.Int64
	lockout                            int
	mu                                 sync.Mutex
	failed                             map[string]int // wrong passwords in a row, by lower-cased sign-in name
}

// legacySigningKey signs every LegacyB2C's tokens; generated once per process (an RSA key costs about a second
// under the race detector).
var legacySigningKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// NewLegacyB2C returns the emulation.
func NewLegacyB2C(c LegacyB2CConfig) (*LegacyB2C, error) {
	key, err := legacySigningKey()
	if err != nil {
		return nil, fmt.Errorf("sandbox: legacy B2C signing key: %w", err)
	}
	forger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sandbox: legacy B2C forger key: %w", err)
	}
	l := &LegacyB2C{tenant: c.Tenant, policy: c.Policy, clientID: c.ClientID, now: c.Now, log: c.Logger,
		key: key, forger: forger, users: make(map[string]LegacyUser, len(c.Users)), lockout: c.Lockout,
		failed: make(map[string]int)}
	if l.tenant == "" {
		l.tenant = "legacy"
	}
	if l.policy == "" {
		l.policy = "B2C_1_ROPC"
	}
	if l.clientID == "" {
		l.clientID = DefaultLegacyClientID
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	sum := sha256.Sum256([]byte(l.tenant))
	l.tenantID = fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	der := key.PublicKey.N.Bytes()
	ks := sha256.Sum256(der)
	l.kid = base64.RawURLEncoding.EncodeToString(ks[:12])
	for _, u := range c.Users {
		if u.ObjectID == "" {
			u.ObjectID = uuid.New()
		}
		l.users[strings.ToLower(u.SignInName)] = u
	}
	return l, nil
}

// SetFault makes the emulation misbehave (FaultNone to stop).
func (l *LegacyB2C) SetFault(f LegacyFault) { l.fault.Store(int32(f)) }

// Requests returns the number of token requests served.
func (l *LegacyB2C) Requests() int64 { return l.requests.Load() }

// ClientID returns the ROPC application's id.
func (l *LegacyB2C) ClientID() string { return l.clientID }

// Authority returns the policy's authority under baseURL (the verify/oidc "authority"), e.g.
// https://127.0.0.1:port/legacy.onmicrosoft.com/B2C_1_ROPC/v2.0.
func (l *LegacyB2C) Authority(baseURL string) string {
	return strings.TrimSuffix(baseURL, "/") + l.prefix() + "/v2.0"
}

// Issuer returns the iss of the tokens served under baseURL.
func (l *LegacyB2C) Issuer(baseURL string) string {
	return strings.TrimSuffix(baseURL, "/") + "/" + l.tenantID + "/v2.0/"
}

func (l *LegacyB2C) prefix() string { return "/" + l.tenant + ".onmicrosoft.com/" + l.policy }

func baseOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// ServeHTTP implements http.Handler.
func (l *LegacyB2C) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, l.prefix())
	if !ok {
		http.NotFound(w, r)
		return
	}
	base := baseOf(r)
	switch rest {
	case "/v2.0/.well-known/openid-configuration":
		writeLegacyJSON(w, http.StatusOK, map[string]any{
			"issuer":                                base + "/" + l.tenantID + "/v2.0/",
			"authorization_endpoint":                base + l.prefix() + "/oauth2/v2.0/authorize",
			"token_endpoint":                        base + l.prefix() + "/oauth2/v2.0/token",
			"end_session_endpoint":                  base + l.prefix() + "/oauth2/v2.0/logout",
			"jwks_uri":                              base + l.prefix() + "/discovery/v2.0/keys",
			"response_modes_supported":              []string{"query", "fragment", "form_post"},
			"response_types_supported":              []string{"code", "code id_token", "code token", "code id_token token", "id_token", "id_token token", "token", "token id_token"},
			"scopes_supported":                      []string{"openid"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
			"claims_supported":                      []string{"oid", "sub", "tfp", "iss", "iat", "exp", "aud", "acr", "nonce", "auth_time"},
		})
	case "/discovery/v2.0/keys":
		jwk := jose.JSONWebKey{Key: &l.key.PublicKey, KeyID: l.kid, Algorithm: string(jose.RS256), Use: "sig"}
		writeLegacyJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	case "/oauth2/v2.0/token":
		l.token(w, r, base)
	default:
		http.NotFound(w, r)
	}
}

func (l *LegacyB2C) token(w http.ResponseWriter, r *http.Request, base string) {
	l.requests.Add(1)
	fault := LegacyFault(l.fault.Load())
	switch fault {
	case FaultServerError:
		l.oauthError(w, http.StatusInternalServerError, "server_error", "AADB2C90075: The claims exchange failed.")
		return
	case FaultNotJSON:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "<html><body>Service temporarily unavailable</body></html>")
		return
	}
	if r.Method != http.MethodPost {
		l.oauthError(w, http.StatusBadRequest, "invalid_request", "AADB2C90226: The specified token exchange is only supported over HTTP POST.")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		l.oauthError(w, http.StatusBadRequest, "invalid_request", "AADB2C90083: The request is missing required parameter: grant_type.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		l.oauthError(w, http.StatusBadRequest, "invalid_request", "AADB2C90083: The request is malformed.")
		return
	}
	f := r.PostForm
	scopes := strings.Fields(f.Get("scope"))
	switch {
	case f.Get("grant_type") != "password":
		l.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "AADB2C90086: The supplied grant_type is not supported.")
		return
	case f.Get("client_id") != l.clientID:
		l.oauthError(w, http.StatusBadRequest, "unauthorized_client", "AADB2C90224: Resource owner flow has not been enabled for the application.")
		return
	case !slices.Contains(scopes, "openid"):
		l.oauthError(w, http.StatusBadRequest, "invalid_scope", "AADB2C90055: The scope must include openid.")
		return
	case f.Get("username") == "" || f.Get("password") == "":
		l.oauthError(w, http.StatusBadRequest, "invalid_request", "AADB2C90083: The request is missing required parameter: username or password.")
		return
	}
	name := strings.ToLower(f.Get("username"))
	u, known := l.users[name]
	right := known && u.Password == f.Get("password")
	l.mu.Lock()
	lockedOut := l.lockout > 0 && l.failed[name] >= l.lockout
	switch {
	case !known || lockedOut:
	case right:
		delete(l.failed, name)
	default:
		l.failed[name]++
	}
	l.mu.Unlock()
	switch {
	case known && u.Disabled:
		l.log.Info("legacy B2C: ROPC sign-in refused, account disabled")
		l.oauthError(w, http.StatusBadRequest, "invalid_grant", "AADB2C90111: Your account has been locked. Contact your support person to unlock it, then try again.")
		return
	case known && (u.Locked || lockedOut):
		l.log.Info("legacy B2C: ROPC sign-in refused, account locked")
		l.oauthError(w, http.StatusBadRequest, "invalid_grant", "AADB2C90114: Your account is temporarily locked to prevent unauthorized use. Try again later.")
		return
	case !right:
		l.log.Info("legacy B2C: ROPC sign-in refused", "known", known)
		l.oauthError(w, http.StatusBadRequest, "invalid_grant", "AADB2C90225: The username or password provided in the request are invalid.")
		return
	case u.MustChange:
		l.log.Info("legacy B2C: ROPC sign-in refused, password expired")
		l.oauthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS50055: The password is expired.")
		return
	}
	now := l.now()
	claims := map[string]any{
		"iss": base + "/" + l.tenantID + "/v2.0/", "sub": u.ObjectID, "aud": l.clientID, "oid": u.ObjectID,
		"exp": now.Add(time.Hour).Unix(), "nbf": now.Unix(), "iat": now.Unix(), "auth_time": now.Unix(),
		"ver": "1.0", "tfp": l.policy,
	}
	switch fault {
	case FaultWrongAudience:
		claims["aud"] = "00000000-0000-0000-0000-0000000000aa"
	case FaultWrongIssuer:
		claims["iss"] = base + "/00000000-0000-0000-0000-000000000000/v2.0/"
	case FaultExpiredToken:
		claims["exp"], claims["nbf"], claims["iat"] = now.Add(-time.Hour).Unix(), now.Add(-2*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
	}
	sk := jose.SigningKey{Algorithm: jose.RS256, Key: l.key}
	if fault == FaultForgedToken {
		sk = jose.SigningKey{Algorithm: jose.ES256, Key: l.forger} // same kid, a key the JWKS does not publish
	}
	idToken, err := signLegacy(sk, l.kid, claims)
	if err != nil {
		l.oauthError(w, http.StatusInternalServerError, "server_error", "AADB2C90075: The claims exchange failed.")
		return
	}
	ans := map[string]any{"id_token": idToken, "token_type": "Bearer", "expires_in": "3600", "id_token_expires_in": "3600",
		"profile_info": base64.RawURLEncoding.EncodeToString([]byte(`{"ver":"1.0","tid":"` + l.tenantID + `","idp":"LocalAccount"}`))}
	if slices.Contains(scopes, l.clientID) {
		at := maps.Clone(claims)
		at["scp"] = "user_impersonation"
		if ans["access_token"], err = signLegacy(sk, l.kid, at); err != nil {
			l.oauthError(w, http.StatusInternalServerError, "server_error", "AADB2C90075: The claims exchange failed.")
			return
		}
	}
	l.log.Info("legacy B2C: ROPC sign-in", "oid", u.ObjectID)
	writeLegacyJSON(w, http.StatusOK, ans)
}

func signLegacy(sk jose.SigningKey, kid string, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

// oauthError writes B2C's error body: the code, then the AADB2C code and message, a correlation id and a timestamp.
func (l *LegacyB2C) oauthError(w http.ResponseWriter, status int, code, desc string) {
	desc += "\r\nCorrelation ID: " + uuid.New() + "\r\nTimestamp: " + l.now().UTC().Format("2006-01-02 15:04:05Z") + "\r\n"
	writeLegacyJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeLegacyJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

var _ http.Handler = (*LegacyB2C)(nil)
