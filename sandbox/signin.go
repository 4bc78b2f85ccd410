package sandbox

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// SignInRequest is one sign-in through the simulator, as a user types it on Entra's sign-in page.
type SignInRequest struct {
	// User is the sign-in name: the issuerAssignedId of one of the account's local identities (emailAddress or
	// userName), case-insensitive.
	User string `json:"user"`
	// Password is the password typed. It is never logged, stored (except as the account's new password after a
	// MigratePassword) or returned.
	Password string `json:"password"`
	// ClientIP is the user's address sent to the extension (authenticationContext.client.ip); default 127.0.0.1.
	ClientIP string `json:"clientIp,omitempty"`
	// AppID is the client application the user signs in to: only listeners whose conditions include it apply.
	// Empty means any listener (the first by priority) and the first app the listener names.
	AppID string `json:"appId,omitempty"`
}

// SignInOutcome is how a simulated sign-in ended.
type SignInOutcome string

// The outcomes of a simulated sign-in.
const (
	// SignInSuccess: the password matched the account's and nothing changed.
	SignInSuccess SignInOutcome = "success"
	// SignInMigrated: the account's migration flag was cleared: either the password matched the stored one
	// (Entra marks the account migrated silently) or the extension answered MigratePassword and the typed
	// password became the account's.
	SignInMigrated SignInOutcome = "migrated"
	// SignInWrongPassword: the password did not match and no extension applied, or the extension answered Retry.
	SignInWrongPassword SignInOutcome = "wrong_password"
	// SignInBlocked: the extension answered Block (Title and Message carry its texts).
	SignInBlocked SignInOutcome = "blocked"
	// SignInMustReset: the extension answered UpdatePassword, or MigratePassword with a password the tenant's
	// complexity rules refuse; the user goes through password reset and the account is left as it was.
	SignInMustReset SignInOutcome = "must_reset"
	// SignInError: the extension could not be called or answered off the contract; Code is the error code of
	// docs/contracts.md §1.8 (the user sees AADSTS1100001).
	SignInError SignInOutcome = "error"
	// SignInUnknownUser: no account has this sign-in name.
	SignInUnknownUser SignInOutcome = "unknown_user"
	// SignInDisabled: the account is disabled (accountEnabled false).
	SignInDisabled SignInOutcome = "disabled"
)

// Succeeded reports whether the user is signed in (success or migrated).
func (o SignInOutcome) Succeeded() bool { return o == SignInSuccess || o == SignInMigrated }

// SignInResult is what a simulated sign-in did.
type SignInResult struct {
	Outcome SignInOutcome `json:"outcome"`
	// Code is Entra's error code: AADSTS50126 (wrong password), AADSTS50034 (unknown user), AADSTS50057
	// (disabled), or the custom-extension code (1003002 … 1003027) of an extension failure; empty on success.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Title is the title of a Block action.
	Title string `json:"title,omitempty"`
	// UserID is the account's object id, when one was found.
	UserID string `json:"userId,omitempty"`
	// ExtensionCalled reports whether the custom authentication extension was called; Attempts counts the HTTP
	// requests sent to it (2 when Entra retried).
	ExtensionCalled bool `json:"extensionCalled"`
	Attempts        int  `json:"attempts"`
	// Action is the @odata.type of the action the extension answered, as sent.
	Action        string `json:"action,omitempty"`
	CorrelationID string `json:"correlationId"`
}

// Custom-extension error codes (docs/contracts.md §1.8; Microsoft's "Troubleshoot your custom authentication
// extension", error codes reference).
const (
	codeEventHandlerError   = "1003000"
	codeInvalidHTTPStatus   = "1003002"
	codeInvalidResponseBody = "1003003"
	codeTimedOut            = "1003005"
	codeInvalidContentType  = "1003006"
	codeEmptyResponse       = "1003009"
	codeInvalidActionCount  = "1003010"
	codeExtensionNotFound   = "1003011"
	codeInvalidActionType   = "1003012"
	codeResourceIDFormat    = "1003014"
	codeDomainMismatch      = "1003015"
	codeResourceSPNotFound  = "1003016"
	codeTargetURLFormat     = "1003020"
	codeResponseTooLarge    = "1003024"
	codeConnectionError     = "1003027"
)

var codeNames = map[string]string{
	codeEventHandlerError:   "EventHandlerUnexpectedError",
	codeInvalidHTTPStatus:   "CustomExtensionInvalidHTTPStatus",
	codeInvalidResponseBody: "CustomExtensionInvalidResponseBody",
	codeTimedOut:            "CustomExtensionTimedOut",
	codeInvalidContentType:  "CustomExtensionInvalidResponseContentType",
	codeEmptyResponse:       "CustomExtensionEmptyResponse",
	codeInvalidActionCount:  "CustomExtensionInvalidNumberOfActions",
	codeExtensionNotFound:   "CustomExtensionNotFound",
	codeInvalidActionType:   "CustomExtensionInvalidActionType",
	codeResourceIDFormat:    "CustomExtensionIncorrectResourceIdFormat",
	codeDomainMismatch:      "CustomExtensionDomainNameDoesNotMatch",
	codeResourceSPNotFound:  "CustomExtensionResourceServicePrincipalNotFound",
	codeTargetURLFormat:     "CustomExtensionIncorrectTargetUrlFormat",
	codeResponseTooLarge:    "CustomExtensionResponseSizeExceeded",
	codeConnectionError:     "CustomExtensionConnectionError",
}

// Limits of a callout.
const (
	defaultCalloutTimeout = 1000 * time.Millisecond // customExtensionClientConfiguration's documented default
	minCalloutTimeout     = 200 * time.Millisecond
	maxCalloutTimeout     = 2000 * time.Millisecond
	maxCalloutResponse    = 64 << 10
	innerTokenLifetime    = 10 * time.Minute
	calloutTokenLifetime  = time.Hour
)

// errNoURL is returned by SignIn when the tenant does not know the URL it is served at.
var errNoURL = errors.New("sandbox: sign-in: the tenant's URL is unknown (serve it with Start, or use POST /_sandbox/signin)")

// SignIn signs a user in the way Entra External ID does, calling the OnPasswordSubmit custom authentication
// extension when the account is flagged for migration, and applies the outcome to the account. It needs the
// tenant to be served by Start (the tokens it sends name the server's URL). Every outcome, extension failures
// included, is in the result; the error is for a request that cannot be simulated (no user name or password) or
// a ctx that ended. Sign-ins of one account may run concurrently; each applies its outcome atomically.
func (t *Tenant) SignIn(ctx context.Context, req SignInRequest) (SignInResult, error) {
	b := t.base.Load()
	if b == nil {
		return SignInResult{}, errNoURL
	}
	return t.signIn(ctx, *b, req)
}

// SignIn signs a user in through the server's tenant (see Tenant.SignIn).
func (s *Server) SignIn(ctx context.Context, req SignInRequest) (SignInResult, error) {
	return s.Tenant.signIn(ctx, s.URL, req)
}

// ExternalIssuer returns the issuer of the tokens sent to custom authentication extensions (see
// Tenant.ExternalIssuer); its discovery document is at ExternalIssuer() + "/.well-known/openid-configuration".
func (s *Server) ExternalIssuer() string { return s.Tenant.ExternalIssuer(s.URL) }

// ExternalAuthority returns the tenant's external authority in its domain-name form (see
// Tenant.ExternalAuthority).
func (s *Server) ExternalAuthority() string { return s.Tenant.ExternalAuthority(s.URL) }

// callout is everything needed to call an extension, gathered under the tenant's lock.
type callout struct {
	listenerID, extensionID string
	targetURL, resourceID   string
	extAppID                string
	timeout                 time.Duration
	retries                 int
	pub                     *rsa.PublicKey
	x5t                     string
	clientAppID, clientName string
	user                    map[string]any
}

// signInState is what SignIn reads of the account and the tenant's configuration in one snapshot.
type signInState struct {
	userID   string
	enabled  bool
	matches  bool
	listener map[string]any
	flagProp string // registered name of the migration attribute; empty when the listener names none
	flagged  bool
	props    map[string]any
}

func (t *Tenant) signIn(ctx context.Context, base string, req SignInRequest) (res SignInResult, err error) {
	if strings.TrimSpace(req.User) == "" {
		return SignInResult{}, errors.New("sandbox: sign-in: no user name")
	}
	if req.Password == "" {
		return SignInResult{}, errors.New("sandbox: sign-in: no password (the sign-in page requires one)")
	}
	res.CorrelationID = newGUID()
	defer func() {
		if err == nil {
			t.countSignIn(res)
			t.log.LogAttrs(ctx, slog.LevelDebug, "sign-in", slog.String("outcome", string(res.Outcome)),
				slog.String("code", res.Code), slog.String("user", res.UserID), slog.Int("attempts", res.Attempts))
		}
	}()
	st := t.signInSnapshot(req)
	res.UserID = st.userID
	switch {
	case st.userID == "":
		res.Outcome, res.Code = SignInUnknownUser, "AADSTS50034"
		res.Message = "The user account does not exist in the tenant."
		return res, nil
	case !st.enabled:
		res.Outcome, res.Code = SignInDisabled, "AADSTS50057"
		res.Message = "The user account is disabled."
		return res, nil
	case st.matches && st.flagged:
		if !t.applyMigrated(st, "") {
			return t.vanished(res), nil
		}
		res.Outcome = SignInMigrated
		res.Message = "The password matched the account's; the account was marked migrated without a callout."
		return res, nil
	case st.matches:
		res.Outcome = SignInSuccess
		return res, nil
	case !st.flagged:
		res.Outcome, res.Code = SignInWrongPassword, "AADSTS50126"
		res.Message = "Error validating credentials due to invalid username or password."
		return res, nil
	}
	co, code, msg := t.calloutConfig(st, req)
	if code != "" {
		return t.calloutFailed(res, code, msg), nil
	}
	return t.callExtension(ctx, base, req, st, co, res)
}

// signInSnapshot finds the account by local identity and the listener that applies to it.
func (t *Tenant) signInSnapshot(req SignInRequest) signInState {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var st signInState
	u := t.dir.byIdentity[identityKey(t.cfg.Domain, strings.TrimSpace(req.User))]
	if u == nil {
		return st
	}
	local := false
	for _, id := range identitiesOf(u.props) {
		iss, _ := id["issuer"].(string)
		ass, _ := id["issuerAssignedId"].(string)
		typ, _ := id["signInType"].(string)
		if identityKey(iss, ass) == identityKey(t.cfg.Domain, strings.TrimSpace(req.User)) &&
			(typ == "emailAddress" || typ == "userName") {
			local = true
		}
	}
	if !local {
		return st
	}
	st.userID = u.id
	st.props = u.full()
	st.enabled = u.props["accountEnabled"] != false
	if u.hasPw {
		st.matches = u.checkPassword(req.Password)
	}
	st.listener = t.dir.passwordSubmitListener(req.AppID)
	if st.listener != nil {
		handler, _ := st.listener["handler"].(map[string]any)
		prop, _ := handler["migrationPropertyId"].(string)
		if e := t.dir.extByLower[strings.ToLower(prop)]; e != nil {
			st.flagProp = e.Name
			st.flagged = u.props[e.Name] == true
		}
	}
	return st
}

// checkPassword reports whether pw is the user's password (constant time).
func (u *user) checkPassword(pw string) bool {
	sum := sha256.Sum256(append(u.pwSalt[:], pw...))
	return subtle.ConstantTimeCompare(sum[:], u.pwSum[:]) == 1
}

// passwordSubmitListener returns the onPasswordSubmit listener that applies to a sign-in to appID (any listener
// when appID is empty), the one with the lowest priority value first.
func (d *directory) passwordSubmitListener(appID string) map[string]any {
	var found []map[string]any
	for _, l := range d.listeners {
		if typ, _ := l["@odata.type"].(string); !strings.EqualFold(strings.TrimPrefix(typ, "#"), "microsoft.graph.onPasswordSubmitListener") {
			continue
		}
		if appID == "" || listenerIncludes(l, appID) {
			found = append(found, l)
		}
	}
	if len(found) == 0 {
		return nil
	}
	sort.SliceStable(found, func(i, j int) bool { return priority(found[i]) < priority(found[j]) })
	return found[0]
}

func priority(l map[string]any) float64 {
	switch v := l["priority"].(type) {
	case json.Number:
		f, _ := v.Float64()
		return f
	case float64:
		return v
	}
	return 0
}

func listenerIncludes(l map[string]any, appID string) bool {
	cond, _ := l["conditions"].(map[string]any)
	apps, _ := cond["applications"].(map[string]any)
	if apps["includeAllApplications"] == true {
		return true
	}
	list, _ := apps["includeApplications"].([]any)
	for _, a := range list {
		m, _ := a.(map[string]any)
		if id, _ := m["appId"].(string); strings.EqualFold(id, appID) {
			return true
		}
	}
	return false
}

// calloutConfig resolves the listener's extension, its app and encryption certificate, and the client app. It
// returns an error code and message when the configuration is one Entra would fail on.
func (t *Tenant) calloutConfig(st signInState, req SignInRequest) (*callout, string, string) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	co := &callout{timeout: defaultCalloutTimeout, retries: 1, user: st.props}
	co.listenerID, _ = st.listener["id"].(string)
	handler, _ := st.listener["handler"].(map[string]any)
	ref, _ := handler["customExtension"].(map[string]any)
	co.extensionID, _ = ref["id"].(string)
	var ext map[string]any
	for _, e := range t.dir.customExts {
		if id, _ := e["id"].(string); id != "" && strings.EqualFold(id, co.extensionID) {
			ext = e
		}
	}
	if ext == nil {
		return nil, codeExtensionNotFound, "The custom extension " + co.extensionID + " of listener " + co.listenerID + " does not exist."
	}
	ep, _ := ext["endpointConfiguration"].(map[string]any)
	co.targetURL, _ = ep["targetUrl"].(string)
	target, err := url.Parse(co.targetURL)
	if err != nil || target.Scheme != "https" || target.Host == "" {
		return nil, codeTargetURLFormat, "The target URL must be a valid URL that starts with https."
	}
	auth, _ := ext["authenticationConfiguration"].(map[string]any)
	co.resourceID, _ = auth["resourceId"].(string)
	res, err := url.Parse(co.resourceID)
	appID := ""
	if err == nil {
		appID = strings.Trim(res.Path, "/")
	}
	if err != nil || res.Scheme != "api" || res.Hostname() == "" || !isGUID(appID) {
		return nil, codeResourceIDFormat, "The resourceId must be of the form api://{fully qualified domain name}/{appId}."
	}
	if !strings.EqualFold(res.Hostname(), target.Hostname()) {
		return nil, codeDomainMismatch, "The targetUrl and resourceId of the custom extension should have the same fully qualified domain name."
	}
	var app *application
	for _, a := range t.dir.apps {
		if strings.EqualFold(a.appID(), appID) {
			app = a
		}
	}
	if app == nil {
		return nil, codeResourceSPNotFound, "The appId of the custom extension's resourceId is not an application of the tenant."
	}
	co.extAppID = app.appID()
	uris, _ := app.props["identifierUris"].([]any)
	listed := false
	for _, u := range uris {
		if s, _ := u.(string); strings.EqualFold(s, co.resourceID) {
			listed = true
		}
	}
	if !listed {
		return nil, codeResourceIDFormat, "The resourceId is not found in the identifierUris of the application " + co.extAppID + "."
	}
	cert, err := encryptionCert(app)
	if err != nil {
		return nil, codeEventHandlerError, "The extension's application has no usable encryption certificate: " + err.Error()
	}
	co.pub = cert.PublicKey.(*rsa.PublicKey)
	sum := sha1.Sum(cert.Raw)
	co.x5t = base64.RawURLEncoding.EncodeToString(sum[:])
	cc, _ := ext["clientConfiguration"].(map[string]any)
	co.applyClientConfig(cc)
	if over, _ := handler["configuration"].(map[string]any); over != nil {
		cc, _ := over["clientConfiguration"].(map[string]any)
		co.applyClientConfig(cc)
	}
	co.clientAppID = req.AppID
	if co.clientAppID == "" {
		cond, _ := st.listener["conditions"].(map[string]any)
		apps, _ := cond["applications"].(map[string]any)
		list, _ := apps["includeApplications"].([]any)
		if len(list) > 0 {
			m, _ := list[0].(map[string]any)
			co.clientAppID, _ = m["appId"].(string)
		}
	}
	if co.clientAppID == "" {
		co.clientAppID = t.cfg.Apps[0].ClientID
	}
	co.clientName = "Sign-in client"
	for _, a := range t.dir.apps {
		if strings.EqualFold(a.appID(), co.clientAppID) {
			co.clientName, _ = a.props["displayName"].(string)
		}
	}
	return co, "", ""
}

func (co *callout) applyClientConfig(cc map[string]any) {
	if n, ok := jsonInt(cc["timeoutInMilliseconds"], 32); ok {
		co.timeout = min(max(time.Duration(n)*time.Millisecond, minCalloutTimeout), maxCalloutTimeout)
	}
	if n, ok := jsonInt(cc["maximumRetries"], 32); ok {
		co.retries = int(min(max(n, 0), 1))
	}
}

// encryptionCert returns the certificate of app's keyCredential whose keyId is the app's tokenEncryptionKeyId
// (usage Encrypt, an RSA key).
func encryptionCert(app *application) (*x509.Certificate, error) {
	kid, _ := app.props["tokenEncryptionKeyId"].(string)
	if kid == "" {
		return nil, errors.New("tokenEncryptionKeyId is not set")
	}
	list, _ := app.props["keyCredentials"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		if id, _ := m["keyId"].(string); !strings.EqualFold(id, kid) || m["usage"] != "Encrypt" {
			continue
		}
		key, _ := m["key"].(string)
		der, err := base64.StdEncoding.DecodeString(key)
		if err != nil {
			return nil, fmt.Errorf("keyCredential %s: key is not base64", kid)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("keyCredential %s: %w", kid, err)
		}
		if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("keyCredential %s: not an RSA key", kid)
		}
		return cert, nil
	}
	return nil, fmt.Errorf("no Encrypt keyCredential has the keyId %s", kid)
}

// callExtension sends the OnPasswordSubmit callout, with the configured timeout and at most one retry (the same
// request, so the same nonce), and applies the answer.
func (t *Tenant) callExtension(ctx context.Context, base string, req SignInRequest, st signInState, co *callout, res SignInResult) (SignInResult, error) {
	now := t.now()
	nonce := newGUID()
	epc, err := encryptContext(co.pub, co.x5t, map[string]any{
		"aud": co.extAppID, "iss": co.resourceID,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(innerTokenLifetime).Unix(),
		"user-password": req.Password, "username": req.User, "nonce": nonce,
	})
	if err != nil {
		return t.calloutFailed(res, codeEventHandlerError, "The password context could not be encrypted."), nil
	}
	aud := co.resourceID
	if t.requestsV2Tokens(co.extAppID) {
		aud = co.extAppID
	}
	sp := servicePrincipalID(eventsServiceAppID + "@" + t.cfg.TenantID)
	tok, err := t.signExternal(calloutClaims{
		Aud: aud, Iss: t.ExternalIssuer(base), Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(calloutTokenLifetime).Unix(),
		Azp: eventsServiceAppID, Azpacr: "2", IdTyp: "app", Oid: sp, Sub: sp, Tid: t.cfg.TenantID,
		Uti: strings.ReplaceAll(newGUID(), "-", "")[:22], Ver: "2.0",
	})
	if err != nil {
		return t.calloutFailed(res, codeEventHandlerError, "The bearer token could not be signed."), nil
	}
	ip := req.ClientIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	user := map[string]any{}
	for _, k := range []string{"id", "userPrincipalName", "createdDateTime", "displayName", "mail", "givenName", "surname"} {
		if v, ok := co.user[k]; ok && v != nil {
			user[k] = v
		}
	}
	user["userType"] = "Member"
	body, err := marshal(map[string]any{
		"type":   "microsoft.graph.authenticationEvent.passwordSubmit",
		"source": "/tenants/" + t.cfg.TenantID + "/applications/" + co.clientAppID,
		"data": map[string]any{
			"@odata.type":                     "microsoft.graph.onPasswordSubmitCalloutData",
			"tenantId":                        t.cfg.TenantID,
			"authenticationEventListenerId":   co.listenerID,
			"customAuthenticationExtensionId": co.extensionID,
			"encryptedPasswordContext":        epc,
			"authenticationContext": map[string]any{
				"correlationId": res.CorrelationID,
				"client":        map[string]any{"ip": ip, "locale": "en-us", "market": "en-us"},
				"protocol":      "OAUTH2.0",
				"clientServicePrincipal": map[string]any{
					"id": servicePrincipalID(co.clientAppID), "appId": co.clientAppID,
					"appDisplayName": co.clientName, "displayName": co.clientName,
				},
				"resourceServicePrincipal": nil,
				"user":                     user,
			},
			"userSignUpInfo": nil,
			"otpContext":     nil,
		},
	})
	if err != nil {
		return t.calloutFailed(res, codeEventHandlerError, "The callout body could not be encoded."), nil
	}
	res.ExtensionCalled = true
	var ans calloutAnswer
	for {
		res.Attempts++
		t.nCallouts.Add(1)
		ans = t.post(ctx, co, tok, body)
		if ctx.Err() != nil {
			return SignInResult{}, fmt.Errorf("sandbox: sign-in: %w", ctx.Err())
		}
		if !ans.retryable || res.Attempts > co.retries {
			break
		}
	}
	if ans.code != "" {
		return t.calloutFailed(res, ans.code, ans.msg), nil
	}
	return t.applyAnswer(res, st, req, ans.body, nonce), nil
}

// requestsV2Tokens reports whether the application asks for v2.0 access tokens (api.requestedAccessTokenVersion
// 2): Entra then sends its app id, not the identifier URI, as the audience.
func (t *Tenant) requestsV2Tokens(appID string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, a := range t.dir.apps {
		if strings.EqualFold(a.appID(), appID) {
			api, _ := a.props["api"].(map[string]any)
			n, ok := jsonInt(api["requestedAccessTokenVersion"], 32)
			return ok && n == 2
		}
	}
	return false
}

// encryptContext builds encryptedPasswordContext as Entra does (docs/contracts.md §1.3): a compact JWE with
// alg RSA-OAEP, enc A128CBC-HS256, zip DEF and the x5t of the certificate, whose plaintext is an unsigned JWT
// (alg none) carrying claims.
func encryptContext(pub *rsa.PublicKey, x5t string, claims map[string]any) (string, error) {
	hdr, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	inner := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	opts := (&jose.EncrypterOptions{Compression: jose.DEFLATE}).WithHeader("x5t", x5t)
	enc, err := jose.NewEncrypter(jose.A128CBC_HS256, jose.Recipient{Algorithm: jose.RSA_OAEP, Key: pub}, opts)
	if err != nil {
		return "", err
	}
	obj, err := enc.Encrypt([]byte(inner))
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// calloutAnswer is one attempt's result: a 200 JSON body, or an error code and whether Entra would retry.
type calloutAnswer struct {
	body      []byte
	code, msg string
	retryable bool
}

// post sends one callout attempt within co.timeout.
func (t *Tenant) post(ctx context.Context, co *callout, token string, body []byte) calloutAnswer {
	actx, cancel := context.WithTimeout(ctx, co.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(actx, http.MethodPost, co.targetURL, bytes.NewReader(body))
	if err != nil {
		return calloutAnswer{code: codeTargetURLFormat, msg: "The target URL is not valid."}
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+token)
	resp, err := t.callout.Do(hr)
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return calloutAnswer{code: codeTimedOut, retryable: true,
				msg: "The custom extension did not respond within " + co.timeout.String() + "."}
		}
		return calloutAnswer{code: codeConnectionError, retryable: true, msg: "Error connecting to the custom extension API."}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCalloutResponse+1))
	if err != nil {
		if actx.Err() != nil {
			return calloutAnswer{code: codeTimedOut, retryable: true,
				msg: "The custom extension did not respond within " + co.timeout.String() + "."}
		}
		return calloutAnswer{code: codeConnectionError, retryable: true, msg: "Error reading the custom extension's response."}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		// Entra reports a refused token as a timeout ("It can also indicate that the access token is invalid").
		return calloutAnswer{code: codeTimedOut, retryable: true,
			msg: "The custom extension refused the access token (HTTP 401)."}
	}
	if resp.StatusCode != http.StatusOK {
		return calloutAnswer{code: codeInvalidHTTPStatus, retryable: resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests,
			msg: fmt.Sprintf("The custom extension API returned HTTP status %d, not 200.", resp.StatusCode)}
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return calloutAnswer{code: codeInvalidContentType, msg: "The custom extension's response content-type isn't 'application/json'."}
	}
	if len(bytes.TrimSpace(b)) == 0 || string(bytes.TrimSpace(b)) == "null" {
		return calloutAnswer{code: codeEmptyResponse, msg: "The custom extension API response body was empty."}
	}
	if len(b) > maxCalloutResponse {
		return calloutAnswer{code: codeResponseTooLarge, msg: "The custom extension response size exceeded the maximum limit."}
	}
	return calloutAnswer{body: b}
}

// Action types, after the namespace.
var passwordSubmitActions = map[string]bool{"MigratePassword": true, "UpdatePassword": true, "Retry": true, "Block": true}

// applyAnswer checks a 200 JSON answer against the contract (docs/contracts.md §1.5) and applies its action.
func (t *Tenant) applyAnswer(res SignInResult, st signInState, req SignInRequest, body []byte, nonce string) SignInResult {
	var ans struct {
		Data *struct {
			Type    string            `json:"@odata.type"`
			Actions []json.RawMessage `json:"actions"`
			Nonce   *string           `json:"nonce"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.Data == nil {
		return t.calloutFailed(res, codeInvalidResponseBody, "The response body is not an object with data.")
	}
	if !strings.EqualFold(ans.Data.Type, "microsoft.graph.onPasswordSubmitResponseData") {
		return t.calloutFailed(res, codeInvalidResponseBody, "data.@odata.type is not microsoft.graph.onPasswordSubmitResponseData.")
	}
	if ans.Data.Nonce == nil || *ans.Data.Nonce == "" {
		return t.calloutFailed(res, codeInvalidResponseBody, "data.nonce is missing.")
	}
	if *ans.Data.Nonce != nonce {
		return t.calloutFailed(res, codeInvalidResponseBody, "data.nonce is not the nonce of the request.")
	}
	if len(ans.Data.Actions) != 1 {
		return t.calloutFailed(res, codeInvalidActionCount, fmt.Sprintf("The response has %d actions; exactly one is supported.", len(ans.Data.Actions)))
	}
	var action struct {
		Type    string  `json:"@odata.type"`
		Title   *string `json:"title"`
		Message *string `json:"message"`
	}
	if err := json.Unmarshal(ans.Data.Actions[0], &action); err != nil {
		return t.calloutFailed(res, codeInvalidResponseBody, "The action is not an object with string title and message.")
	}
	res.Action = action.Type
	ns, name, _ := cutLast(action.Type, ".")
	if !strings.EqualFold(ns, "microsoft.graph.passwordSubmit") || !passwordSubmitActions[name] {
		return t.calloutFailed(res, codeInvalidActionType, "The action type '"+action.Type+"' is not one of MigratePassword, UpdatePassword, Retry, Block.")
	}
	if action.Title != nil {
		res.Title = *action.Title
	}
	if action.Message != nil {
		res.Message = *action.Message
	}
	switch name {
	case "MigratePassword":
		if !passwordAllowed(req.Password, st.props["passwordPolicies"]) {
			res.Outcome = SignInMustReset
			res.Message = "MigratePassword: the password does not comply with the tenant's complexity requirements; the user must reset it."
			return res
		}
		if !t.applyMigrated(st, req.Password) {
			return t.vanished(res)
		}
		res.Outcome = SignInMigrated
		res.Message = "MigratePassword: the typed password is now the account's; the migration flag is cleared."
	case "UpdatePassword":
		res.Outcome = SignInMustReset
		if res.Message == "" {
			res.Message = "UpdatePassword: the user must reset the password."
		}
	case "Retry":
		res.Outcome, res.Code = SignInWrongPassword, "AADSTS50126"
		if res.Message == "" {
			res.Message = "Retry: error validating credentials due to invalid username or password."
		}
	case "Block":
		res.Outcome = SignInBlocked
	}
	return res
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// applyMigrated clears the account's migration flag and, when password is not empty, makes it the account's
// password. It reports false when the account no longer exists.
func (t *Tenant) applyMigrated(st signInState, password string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.dir.users[strings.ToLower(st.userID)]
	if u == nil {
		return false
	}
	props := u.full()
	props[st.flagProp] = false
	if password != "" {
		u.setPassword(password)
		props["lastPasswordChangeDateTime"] = t.now().UTC().Format(time.RFC3339)
	}
	t.dir.reindex(u, props)
	t.dirty.Store(true)
	return true
}

func (t *Tenant) vanished(res SignInResult) SignInResult {
	res.Outcome, res.Code = SignInUnknownUser, "AADSTS50034"
	res.Message = "The user account was deleted during the sign-in."
	return res
}

// calloutFailed is the result of a sign-in failed by the extension or its configuration.
func (t *Tenant) calloutFailed(res SignInResult, code, msg string) SignInResult {
	res.Outcome, res.Code = SignInError, code
	res.Message = codeNames[code] + ": " + msg
	addCount(&t.calloutErrors, code)
	return res
}

func (t *Tenant) countSignIn(res SignInResult) { addCount(&t.signInCounts, string(res.Outcome)) }

func addCount(m *sync.Map, k string) {
	v, _ := m.LoadOrStore(k, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func counts(m *sync.Map) map[string]int64 {
	out := map[string]int64{}
	m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// calloutClient is the HTTP client of callouts: TLS 1.2 or later to roots (the system's when nil), no redirects
// followed (Entra posts to the target URL only), no proxy.
func calloutClient(roots *x509.CertPool) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// maxSignInBody is the largest /_sandbox/signin request body.
const maxSignInBody = 64 << 10

// serveSignIn is POST /_sandbox/signin: a SignInRequest in, a SignInResult out (200 whatever the outcome).
func (t *Tenant) serveSignIn(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSignInBody))
	dec.DisallowUnknownFields()
	var req SignInRequest
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body must be {\"user\",\"password\",\"clientIp\"?,\"appId\"?}"})
		return
	}
	res, err := t.signIn(r.Context(), t.publicBase(r), req)
	if err != nil {
		status := http.StatusBadRequest
		if r.Context().Err() != nil {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}
