package sandbox_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/idshift/idshift/sandbox"
)

// encryptionKey is the extension's encryption key and its certificate (DER), generated once per test binary.
var encryptionKey = sync.OnceValues(func() (*rsa.PrivateKey, []byte) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "JitMigration"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return key, der
})

// reply is what the test extension answers to one attempt.
type reply struct {
	status int
	ctype  string
	body   string
	delay  time.Duration
}

// answerWith is a 200 application/json answer with the given actions and nonce.
func answerWith(nonce string, actions ...map[string]any) reply {
	data := map[string]any{"@odata.type": "microsoft.graph.onPasswordSubmitResponseData", "actions": actions}
	if nonce != "" {
		data["nonce"] = nonce
	}
	b, _ := json.Marshal(map[string]any{"data": data})
	return reply{status: 200, ctype: "application/json", body: string(b)}
}

func action(typ string) map[string]any {
	return map[string]any{"@odata.type": "microsoft.graph.passwordSubmit." + typ}
}

// extCall is one request the test extension received, as it decoded and checked it.
type extCall struct {
	attempt  int
	nonce    string
	password string
	username string
	aud      string
	kid      string
	body     map[string]any
	raw      []byte
}

// testExtension is an OnPasswordSubmit custom authentication extension written from Microsoft's contract
// (docs/contracts.md §1): it validates everything the sandbox sends and answers what the test tells it.
type testExtension struct {
	t   *testing.T
	srv *httptest.Server
	sbx *sandbox.Server // set once the sandbox runs
	hc  *http.Client    // trusts the sandbox

	mu      sync.Mutex
	answer  func(c extCall) reply
	calls   []extCall
	errs    []string
	resID   map[string]string // extension app id -> resource id (api://…)
	appIDs  map[string]bool
	jwks    *jose.JSONWebKeySet
	graphKS *jose.JSONWebKeySet
	issuer  string
}

func newTestExtension(t *testing.T) *testExtension {
	x := &testExtension{t: t, resID: map[string]string{}, appIDs: map[string]bool{}}
	x.srv = httptest.NewUnstartedServer(x)
	x.srv.EnableHTTP2 = true
	x.srv.StartTLS()
	t.Cleanup(x.srv.Close)
	return x
}

func (x *testExtension) fail(format string, args ...any) {
	x.mu.Lock()
	x.errs = append(x.errs, fmt.Sprintf(format, args...))
	x.mu.Unlock()
}

// keys fetches the external issuer's discovery document (through the domain-name authority, as an operator
// configures it) and JWKS, and the Graph token authority's JWKS, once.
func (x *testExtension) keys() (*jose.JSONWebKeySet, *jose.JSONWebKeySet, string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.jwks != nil {
		return x.jwks, x.graphKS, x.issuer, nil
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := x.getJSON(x.sbx.ExternalAuthority()+"/.well-known/openid-configuration", &doc); err != nil {
		return nil, nil, "", err
	}
	if doc.Issuer != x.sbx.ExternalIssuer() {
		return nil, nil, "", fmt.Errorf("discovery issuer %q, want %q", doc.Issuer, x.sbx.ExternalIssuer())
	}
	var ks, gks jose.JSONWebKeySet
	if err := x.getJSON(doc.JWKSURI, &ks); err != nil {
		return nil, nil, "", err
	}
	if err := x.getJSON(x.sbx.URL+"/"+sandbox.DefaultTenantID+"/discovery/v2.0/keys", &gks); err != nil {
		return nil, nil, "", err
	}
	x.jwks, x.graphKS, x.issuer = &ks, &gks, doc.Issuer
	return x.jwks, x.graphKS, x.issuer, nil
}

func (x *testExtension) getJSON(u string, v any) error {
	resp, err := x.hc.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func verifies(ks *jose.JSONWebKeySet, jws *jose.JSONWebSignature, kid string) bool {
	for _, k := range ks.Key(kid) {
		if _, err := jws.Verify(k); err == nil {
			return true
		}
	}
	for _, k := range ks.Keys { // a Graph key under another kid must not verify either
		if _, err := jws.Verify(k); err == nil {
			return true
		}
	}
	return false
}

func (x *testExtension) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, ok := x.check(r)
	if !ok {
		http.Error(w, "refused", http.StatusUnauthorized)
		return
	}
	x.mu.Lock()
	for _, p := range x.calls {
		if p.nonce == c.nonce {
			c.attempt++
		}
	}
	c.attempt++
	x.calls = append(x.calls, c)
	answer := x.answer
	x.mu.Unlock()
	rep := answer(c)
	if rep.delay > 0 {
		select {
		case <-time.After(rep.delay):
		case <-r.Context().Done():
			return
		}
	}
	if rep.ctype != "" {
		w.Header().Set("Content-Type", rep.ctype)
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

// check validates one callout the way a careful service does; problems are recorded, never silently ignored.
func (x *testExtension) check(r *http.Request) (extCall, bool) {
	var c extCall
	ks, gks, issuer, err := x.keys()
	if err != nil {
		x.fail("keys: %v", err)
		return c, false
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		x.fail("method %s content type %q", r.Method, r.Header.Get("Content-Type"))
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		x.fail("no bearer token")
		return c, false
	}
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		x.fail("token: %v", err)
		return c, false
	}
	c.kid = jws.Signatures[0].Header.KeyID
	if !verifies(ks, jws, c.kid) {
		x.fail("token does not verify against the external issuer's JWKS")
		return c, false
	}
	if verifies(gks, jws, c.kid) {
		x.fail("token verifies against the Graph token authority's JWKS")
	}
	var cl struct {
		Aud, Iss, Azp, Tid, Ver string
		Exp, Nbf, Iat           int64
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &cl); err != nil {
		x.fail("claims: %v", err)
		return c, false
	}
	now := time.Now().Unix()
	if cl.Iss != issuer || strings.Contains(cl.Iss, "/"+sandbox.DefaultTenantID+"/v2.0") && !strings.Contains(cl.Iss, ".ciamlogin.com/") {
		x.fail("iss %q, want %q", cl.Iss, issuer)
	}
	if cl.Azp != "99045fe1-7639-4a75-9d4a-577b6ca3810f" || cl.Tid != sandbox.DefaultTenantID || cl.Ver != "2.0" {
		x.fail("azp %q tid %q ver %q", cl.Azp, cl.Tid, cl.Ver)
	}
	if cl.Exp <= now || cl.Nbf > now+60 || cl.Iat > now+60 {
		x.fail("lifetime iat %d nbf %d exp %d, now %d", cl.Iat, cl.Nbf, cl.Exp, now)
	}
	c.aud = cl.Aud
	c.raw, _ = io.ReadAll(r.Body)
	dec := json.NewDecoder(bytes.NewReader(c.raw))
	dec.UseNumber()
	if err := dec.Decode(&c.body); err != nil {
		x.fail("body: %v", err)
		return c, false
	}
	data, _ := c.body["data"].(map[string]any)
	actx, _ := data["authenticationContext"].(map[string]any)
	user, _ := actx["user"].(map[string]any)
	if c.body["type"] != "microsoft.graph.authenticationEvent.passwordSubmit" ||
		data["@odata.type"] != "microsoft.graph.onPasswordSubmitCalloutData" || data["tenantId"] != sandbox.DefaultTenantID ||
		user["id"] == nil || actx["correlationId"] == nil || data["customAuthenticationExtensionId"] == nil ||
		data["authenticationEventListenerId"] == nil {
		x.fail("body off the contract: %s", c.raw)
	}
	epc, _ := data["encryptedPasswordContext"].(string)
	parts := strings.Split(epc, ".")
	if len(parts) != 5 {
		x.fail("encryptedPasswordContext has %d parts", len(parts))
		return c, false
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var hdr map[string]any
	_ = json.Unmarshal(hb, &hdr)
	key, der := encryptionKey()
	sum := sha1.Sum(der)
	if len(hdr) != 4 || hdr["alg"] != "RSA-OAEP" || hdr["enc"] != "A128CBC-HS256" || hdr["zip"] != "DEF" ||
		hdr["x5t"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
		x.fail("JWE header %s", hb)
	}
	jwe, err := jose.ParseEncrypted(epc, []jose.KeyAlgorithm{jose.RSA_OAEP}, []jose.ContentEncryption{jose.A128CBC_HS256})
	if err != nil {
		x.fail("JWE: %v", err)
		return c, false
	}
	plain, err := jwe.Decrypt(key)
	if err != nil {
		x.fail("decrypt: %v", err)
		return c, false
	}
	in := strings.Split(string(plain), ".")
	if len(in) != 3 || in[2] != "" {
		x.fail("inner token is not an unsigned JWT")
		return c, false
	}
	ih, _ := base64.RawURLEncoding.DecodeString(in[0])
	var ihdr map[string]any
	if json.Unmarshal(ih, &ihdr) != nil || ihdr["alg"] != "none" {
		x.fail("inner header %s", ih)
	}
	ib, _ := base64.RawURLEncoding.DecodeString(in[1])
	var inner struct {
		Aud      string `json:"aud"`
		Iss      string `json:"iss"`
		Exp      int64  `json:"exp"`
		Nbf      int64  `json:"nbf"`
		Iat      int64  `json:"iat"`
		Password string `json:"user-password"`
		Username string `json:"username"`
		Nonce    string `json:"nonce"`
	}
	if err := json.Unmarshal(ib, &inner); err != nil {
		x.fail("inner claims: %v", err)
		return c, false
	}
	x.mu.Lock()
	wantIss, known := x.resID[inner.Aud]
	x.mu.Unlock()
	if !known || inner.Iss != wantIss || inner.Exp-inner.Iat != 600 || inner.Nbf != inner.Iat || inner.Exp <= now ||
		len(inner.Nonce) != 36 || inner.Username == "" {
		x.fail("inner claims aud %q iss %q iat %d nbf %d exp %d nonce %q", inner.Aud, inner.Iss, inner.Iat, inner.Nbf, inner.Exp, inner.Nonce)
	}
	if cl.Aud != wantIss && cl.Aud != inner.Aud {
		x.fail("token aud %q is neither the resource id nor the app id", cl.Aud)
	}
	c.nonce, c.password, c.username = inner.Nonce, inner.Password, inner.Username
	return c, true
}

func (x *testExtension) setAnswer(f func(c extCall) reply) {
	x.mu.Lock()
	x.answer = f
	x.mu.Unlock()
}

func (x *testExtension) takeCalls() []extCall {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := x.calls
	x.calls = nil
	return out
}

func (x *testExtension) checkErrs(t *testing.T) {
	t.Helper()
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range x.errs {
		t.Errorf("extension: %s", e)
	}
	x.errs = nil
}

// jitEnv is a sandbox configured for just-in-time migration as `tenant setup` configures a real tenant.
type jitEnv struct {
	s      *sandbox.Server
	c      *rawClient
	x      *testExtension
	flag   string
	extApp string // the extension's app id
	appObj string // its object id
}

// Client app ids, one per listener: each listener runs an extension with its own client configuration.
const (
	appFast      = "11111111-1111-4111-8111-111111111111" // timeout 2000 ms, 1 retry
	appNoRetry   = "22222222-2222-4222-8222-222222222222" // timeout 400 ms, no retry
	appRetry     = "33333333-3333-4333-8333-333333333333" // timeout 400 ms, 1 retry
	appUnlistned = "44444444-4444-4444-8444-444444444444"
)

func newJITEnv(t *testing.T) *jitEnv {
	t.Helper()
	x := newTestExtension(t)
	pool := x509.NewCertPool()
	pool.AddCert(x.srv.Certificate())
	s := start(t, sandbox.Config{DisableThrottling: true, CalloutRootCAs: pool})
	x.sbx = s
	x.hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool}}}
	t.Cleanup(x.hc.CloseIdleConnections)
	c := newRawClient(t, s, sandbox.DefaultTenantID, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
	e := &jitEnv{s: s, c: c, x: x}
	e.flag = registerExt(t, c, s, "toBeMigrated", "Boolean")

	r := c.do("POST", "/v1.0/applications", map[string]any{"displayName": "idshift password migration"})
	if r.status != http.StatusCreated {
		t.Fatalf("create app: %d %s", r.status, r.raw)
	}
	e.appObj, e.extApp = r.body["id"].(string), r.body["appId"].(string)
	resID := "api://127.0.0.1/" + e.extApp
	_, der := encryptionKey()
	keyID := "6f0a7d9e-1c2b-4a3d-8e5f-1234567890ab"
	r = c.do("PATCH", "/v1.0/applications/"+e.appObj, map[string]any{
		"identifierUris": []string{resID},
		"keyCredentials": []any{map[string]any{"keyId": keyID, "type": "AsymmetricX509Cert", "usage": "Encrypt",
			"key": base64.StdEncoding.EncodeToString(der), "displayName": "CN=JitMigration"}},
		"tokenEncryptionKeyId": keyID,
	})
	if r.status != http.StatusNoContent {
		t.Fatalf("patch app: %d %s", r.status, r.raw)
	}
	x.resID[e.extApp] = resID
	for _, l := range []struct {
		app       string
		timeoutMs int
		retries   int
	}{{appFast, 2000, 1}, {appNoRetry, 400, 0}, {appRetry, 400, 1}} {
		r = c.do("POST", "/beta/identity/customAuthenticationExtensions", map[string]any{
			"@odata.type": "#microsoft.graph.onPasswordSubmitCustomExtension",
			"displayName": "password migration " + l.app[:4],
			"endpointConfiguration": map[string]any{"@odata.type": "#microsoft.graph.httpRequestEndpoint",
				"targetUrl": x.srv.URL + "/api/jit"},
			"authenticationConfiguration": map[string]any{"@odata.type": "#microsoft.graph.azureAdTokenAuthentication",
				"resourceId": resID},
			"clientConfiguration": map[string]any{"timeoutInMilliseconds": l.timeoutMs, "maximumRetries": l.retries},
		})
		if r.status != http.StatusCreated {
			t.Fatalf("create extension: %d %s", r.status, r.raw)
		}
		r = c.do("POST", "/beta/identity/authenticationEventListeners", map[string]any{
			"@odata.type": "#microsoft.graph.onPasswordSubmitListener",
			"conditions": map[string]any{"applications": map[string]any{"includeAllApplications": false,
				"includeApplications": []any{map[string]any{"appId": l.app}}}},
			"priority": 500,
			"handler": map[string]any{"@odata.type": "#microsoft.graph.onPasswordMigrationCustomExtensionHandler",
				"migrationPropertyId": e.flag, "customExtension": map[string]any{"id": r.body["id"]}},
		})
		if r.status != http.StatusCreated {
			t.Fatalf("create listener: %d %s", r.status, r.raw)
		}
	}
	t.Cleanup(func() { x.checkErrs(t) })
	return e
}

// importPassword is the random password the import gave every account.
const importPassword = "Rand0m!Imp0rt-Passw0rd-xyz"

// newUser creates a local account with the import's password, flagged for migration when flagged is set.
func (e *jitEnv) newUser(t *testing.T, email string, flagged bool, extra map[string]any) string {
	t.Helper()
	body := localUser(email)
	body["passwordProfile"] = map[string]any{"password": importPassword, "forceChangePasswordNextSignIn": false}
	body[e.flag] = flagged
	for k, v := range extra {
		body[k] = v
	}
	r := e.c.do("POST", "/v1.0/users", body)
	if r.status != http.StatusCreated {
		t.Fatalf("create user: %d %s", r.status, r.raw)
	}
	return r.body["id"].(string)
}

// flagOf reads the account's migration flag through Graph.
func (e *jitEnv) flagOf(t *testing.T, id string) any {
	t.Helper()
	r := e.c.do("GET", "/v1.0/users/"+id+"?$select=id,"+e.flag, nil)
	if r.status != 200 {
		t.Fatalf("get user: %d %s", r.status, r.raw)
	}
	return r.body[e.flag]
}

func (e *jitEnv) signIn(t *testing.T, user, password, appID string) sandbox.SignInResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := e.s.SignIn(ctx, sandbox.SignInRequest{User: user, Password: password, AppID: appID, ClientIP: "203.0.113.7"})
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	return res
}

func TestSignInActions(t *testing.T) {
	e := newJITEnv(t)
	e.x.setAnswer(func(c extCall) reply {
		switch c.password {
		case "Legacy!Pass1", "abc":
			return answerWith(c.nonce, action("MigratePassword"))
		case "Legacy!Lower1":
			return answerWith(c.nonce, map[string]any{"@odata.type": "microsoft.graph.passwordsubmit.MigratePassword"})
		case "must-change":
			return answerWith(c.nonce, action("UpdatePassword"))
		case "blocked":
			return answerWith(c.nonce, map[string]any{"@odata.type": "microsoft.graph.passwordSubmit.Block",
				"title": "Sign-in blocked", "message": "Contact support."})
		}
		return answerWith(c.nonce, action("Retry"))
	})

	t.Run("MigratePassword", func(t *testing.T) {
		id := e.newUser(t, "ada@example.com", true, nil)
		res := e.signIn(t, "ADA@example.com", "Legacy!Pass1", appFast)
		if res.Outcome != sandbox.SignInMigrated || !res.ExtensionCalled || res.Attempts != 1 || res.UserID != id ||
			res.Action != "microsoft.graph.passwordSubmit.MigratePassword" {
			t.Fatalf("result %+v", res)
		}
		calls := e.x.takeCalls()
		if len(calls) != 1 || calls[0].username != "ADA@example.com" || calls[0].password != "Legacy!Pass1" ||
			calls[0].aud != "api://127.0.0.1/"+e.extApp {
			t.Fatalf("calls %+v", calls)
		}
		data := calls[0].body["data"].(map[string]any)
		actx := data["authenticationContext"].(map[string]any)
		if actx["correlationId"] != res.CorrelationID || actx["client"].(map[string]any)["ip"] != "203.0.113.7" ||
			actx["user"].(map[string]any)["id"] != id || calls[0].body["source"] != "/tenants/"+sandbox.DefaultTenantID+"/applications/"+appFast {
			t.Errorf("body %s", calls[0].raw)
		}
		if !e.s.Tenant.CheckPassword(id, "Legacy!Pass1") || e.s.Tenant.CheckPassword(id, importPassword) {
			t.Errorf("password not migrated")
		}
		if f := e.flagOf(t, id); f != false {
			t.Errorf("flag = %v, want false", f)
		}
		// The next sign-in is an ordinary one: no callout.
		if res := e.signIn(t, "ada@example.com", "Legacy!Pass1", appFast); res.Outcome != sandbox.SignInSuccess || res.ExtensionCalled {
			t.Errorf("second sign-in %+v", res)
		}
		if res := e.signIn(t, "ada@example.com", "Wrong!Pass1", appFast); res.Outcome != sandbox.SignInWrongPassword ||
			res.ExtensionCalled || res.Code != "AADSTS50126" {
			t.Errorf("wrong password after migration %+v", res)
		}
		if n := len(e.x.takeCalls()); n != 0 {
			t.Errorf("%d callouts after migration", n)
		}
	})

	t.Run("lower-case namespace", func(t *testing.T) {
		id := e.newUser(t, "lower@example.com", true, nil)
		if res := e.signIn(t, "lower@example.com", "Legacy!Lower1", appFast); res.Outcome != sandbox.SignInMigrated {
			t.Fatalf("result %+v", res)
		}
		if !e.s.Tenant.CheckPassword(id, "Legacy!Lower1") {
			t.Errorf("password not migrated")
		}
		e.x.takeCalls()
	})

	t.Run("MigratePassword with a weak password", func(t *testing.T) {
		id := e.newUser(t, "weak@example.com", true, nil)
		res := e.signIn(t, "weak@example.com", "abc", appFast)
		if res.Outcome != sandbox.SignInMustReset || !res.ExtensionCalled {
			t.Fatalf("result %+v", res)
		}
		if !e.s.Tenant.CheckPassword(id, importPassword) || e.s.Tenant.CheckPassword(id, "abc") {
			t.Errorf("password changed")
		}
		if f := e.flagOf(t, id); f != true {
			t.Errorf("flag = %v, want true", f)
		}
		e.x.takeCalls()
	})

	t.Run("weak password allowed by DisableStrongPassword", func(t *testing.T) {
		id := e.newUser(t, "relaxed@example.com", true, map[string]any{"passwordPolicies": "DisablePasswordExpiration, DisableStrongPassword"})
		if res := e.signIn(t, "relaxed@example.com", "abc", appFast); res.Outcome != sandbox.SignInMigrated {
			t.Fatalf("result %+v", res)
		}
		if !e.s.Tenant.CheckPassword(id, "abc") {
			t.Errorf("password not migrated")
		}
		e.x.takeCalls()
	})

	for _, tc := range []struct {
		name, email, password string
		want                  sandbox.SignInOutcome
		code, title, message  string
	}{
		{"UpdatePassword", "update@example.com", "must-change", sandbox.SignInMustReset, "", "", ""},
		{"Retry", "retry@example.com", "Wrong!Pass1", sandbox.SignInWrongPassword, "AADSTS50126", "", ""},
		{"Block", "block@example.com", "blocked", sandbox.SignInBlocked, "", "Sign-in blocked", "Contact support."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.newUser(t, tc.email, true, nil)
			res := e.signIn(t, tc.email, tc.password, appFast)
			if res.Outcome != tc.want || res.Code != tc.code || !res.ExtensionCalled || res.Attempts != 1 ||
				(tc.title != "" && (res.Title != tc.title || res.Message != tc.message)) {
				t.Fatalf("result %+v", res)
			}
			if f := e.flagOf(t, id); f != true {
				t.Errorf("flag = %v, want true", f)
			}
			if !e.s.Tenant.CheckPassword(id, importPassword) {
				t.Errorf("password changed")
			}
			if n := len(e.x.takeCalls()); n != 1 {
				t.Errorf("%d callouts", n)
			}
		})
	}
}

func TestSignInWithoutCallout(t *testing.T) {
	e := newJITEnv(t)
	e.x.setAnswer(func(c extCall) reply { return answerWith(c.nonce, action("MigratePassword")) })

	t.Run("the import's password marks the account migrated", func(t *testing.T) {
		id := e.newUser(t, "random@example.com", true, nil)
		res := e.signIn(t, "random@example.com", importPassword, appFast)
		if res.Outcome != sandbox.SignInMigrated || res.ExtensionCalled || res.Attempts != 0 {
			t.Fatalf("result %+v", res)
		}
		if f := e.flagOf(t, id); f != false {
			t.Errorf("flag = %v, want false", f)
		}
		// Now an ordinary account: a wrong password is refused without a callout.
		if res := e.signIn(t, "random@example.com", "Legacy!Pass1", appFast); res.Outcome != sandbox.SignInWrongPassword || res.ExtensionCalled {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("unflagged account", func(t *testing.T) {
		e.newUser(t, "plain@example.com", false, nil)
		if res := e.signIn(t, "plain@example.com", "Legacy!Pass1", appFast); res.Outcome != sandbox.SignInWrongPassword || res.ExtensionCalled {
			t.Errorf("result %+v", res)
		}
		if res := e.signIn(t, "plain@example.com", importPassword, appFast); res.Outcome != sandbox.SignInSuccess {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("application without a listener", func(t *testing.T) {
		e.newUser(t, "other-app@example.com", true, nil)
		if res := e.signIn(t, "other-app@example.com", "Legacy!Pass1", appUnlistned); res.Outcome != sandbox.SignInWrongPassword || res.ExtensionCalled {
			t.Errorf("result %+v", res)
		}
		// With no app named, any listener applies.
		if res := e.signIn(t, "other-app@example.com", "Legacy!Pass1", ""); res.Outcome != sandbox.SignInMigrated || !res.ExtensionCalled {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("disabled and unknown", func(t *testing.T) {
		e.newUser(t, "disabled@example.com", true, map[string]any{"accountEnabled": false})
		if res := e.signIn(t, "disabled@example.com", importPassword, appFast); res.Outcome != sandbox.SignInDisabled || res.Code != "AADSTS50057" {
			t.Errorf("result %+v", res)
		}
		if res := e.signIn(t, "nobody@example.com", importPassword, appFast); res.Outcome != sandbox.SignInUnknownUser || res.Code != "AADSTS50034" {
			t.Errorf("result %+v", res)
		}
	})
	if n := len(e.x.takeCalls()); n != 1 {
		t.Errorf("%d callouts, want 1", n)
	}
}

func TestSignInOffContract(t *testing.T) {
	e := newJITEnv(t)
	valid := func(nonce string) string { return answerWith(nonce, action("MigratePassword")).body }
	cases := []struct {
		name     string
		app      string
		reply    func(c extCall) reply
		code     string
		attempts int
	}{
		{"500", appFast, func(c extCall) reply { return reply{status: 500, ctype: "application/json", body: valid(c.nonce)} }, "1003002", 2},
		{"201", appFast, func(c extCall) reply { return reply{status: 201, ctype: "application/json", body: valid(c.nonce)} }, "1003002", 1},
		{"204", appFast, func(c extCall) reply { return reply{status: 204} }, "1003002", 1},
		{"401", appFast, func(c extCall) reply { return reply{status: 401} }, "1003005", 2},
		{"text/plain", appFast, func(c extCall) reply { return reply{status: 200, ctype: "text/plain", body: valid(c.nonce)} }, "1003006", 1},
		{"no content type", appFast, func(c extCall) reply { return reply{status: 200, ctype: "", body: ""} }, "1003006", 1},
		{"empty", appFast, func(c extCall) reply { return reply{status: 200, ctype: "application/json"} }, "1003009", 1},
		{"bad JSON", appFast, func(c extCall) reply { return reply{status: 200, ctype: "application/json", body: `{"data":`} }, "1003003", 1},
		{"no data", appFast, func(c extCall) reply { return reply{status: 200, ctype: "application/json", body: `{"actions":[]}`} }, "1003003", 1},
		{"wrong data type", appFast, func(c extCall) reply {
			return reply{status: 200, ctype: "application/json", body: strings.Replace(valid(c.nonce), "onPasswordSubmitResponseData", "onTokenIssuanceStartResponseData", 1)}
		}, "1003003", 1},
		{"no nonce", appFast, func(c extCall) reply { return answerWith("", action("MigratePassword")) }, "1003003", 1},
		{"other nonce", appFast, func(c extCall) reply {
			return answerWith("00000000-0000-4000-8000-000000000000", action("MigratePassword"))
		}, "1003003", 1},
		{"nonce at the top level", appFast, func(c extCall) reply {
			b, _ := json.Marshal(map[string]any{"nonce": c.nonce, "data": map[string]any{
				"@odata.type": "microsoft.graph.onPasswordSubmitResponseData", "actions": []any{action("MigratePassword")}}})
			return reply{status: 200, ctype: "application/json", body: string(b)}
		}, "1003003", 1},
		{"no action", appFast, func(c extCall) reply { return answerWith(c.nonce) }, "1003010", 1},
		{"two actions", appFast, func(c extCall) reply { return answerWith(c.nonce, action("MigratePassword"), action("Retry")) }, "1003010", 1},
		{"unknown action", appFast, func(c extCall) reply { return answerWith(c.nonce, action("Allow")) }, "1003012", 1},
		{"other namespace", appFast, func(c extCall) reply {
			return answerWith(c.nonce, map[string]any{"@odata.type": "microsoft.graph.tokenIssuanceStart.MigratePassword"})
		}, "1003012", 1},
		{"timeout without retry", appNoRetry, func(c extCall) reply {
			r := answerWith(c.nonce, action("MigratePassword"))
			r.delay = 5 * time.Second
			return r
		}, "1003005", 1},
		{"timeout twice", appRetry, func(c extCall) reply {
			r := answerWith(c.nonce, action("MigratePassword"))
			r.delay = 5 * time.Second
			return r
		}, "1003005", 2},
	}
	calloutsWant := 2 // the retry test below
	for i, tc := range cases {
		calloutsWant += tc.attempts
		t.Run(tc.name, func(t *testing.T) {
			email := fmt.Sprintf("off%d@example.com", i)
			id := e.newUser(t, email, true, nil)
			e.x.setAnswer(tc.reply)
			res := e.signIn(t, email, "Legacy!Pass1", tc.app)
			if res.Outcome != sandbox.SignInError || res.Code != tc.code || res.Attempts != tc.attempts || !res.ExtensionCalled {
				t.Fatalf("result %+v, want code %s after %d attempts", res, tc.code, tc.attempts)
			}
			calls := e.x.takeCalls()
			if len(calls) != tc.attempts {
				t.Fatalf("%d calls, want %d", len(calls), tc.attempts)
			}
			for _, c := range calls[1:] {
				if c.nonce != calls[0].nonce || !bytes.Equal(c.raw, calls[0].raw) {
					t.Errorf("a retry is not the same request")
				}
			}
			if f := e.flagOf(t, id); f != true {
				t.Errorf("flag = %v, want true", f)
			}
			if !e.s.Tenant.CheckPassword(id, importPassword) {
				t.Errorf("password changed")
			}
		})
	}

	t.Run("a retry after a timeout carries the same nonce", func(t *testing.T) {
		id := e.newUser(t, "slow-once@example.com", true, nil)
		e.x.setAnswer(func(c extCall) reply {
			r := answerWith(c.nonce, action("MigratePassword"))
			if c.attempt == 1 {
				r.delay = 5 * time.Second
			}
			return r
		})
		res := e.signIn(t, "slow-once@example.com", "Legacy!Pass1", appRetry)
		if res.Outcome != sandbox.SignInMigrated || res.Attempts != 2 {
			t.Fatalf("result %+v", res)
		}
		calls := e.x.takeCalls()
		if len(calls) != 2 || calls[0].nonce != calls[1].nonce || calls[1].attempt != 2 {
			t.Fatalf("calls %+v", calls)
		}
		if !e.s.Tenant.CheckPassword(id, "Legacy!Pass1") {
			t.Errorf("password not migrated")
		}
	})

	st := e.s.Tenant.Stats()
	if st.CalloutErrors["1003005"] != 3 || st.CalloutErrors["1003002"] != 3 || st.SignIns["error"] != int64(len(cases)) ||
		st.SignIns["migrated"] != 1 || st.Callouts != int64(calloutsWant) {
		t.Errorf("stats %+v", st)
	}
}

func TestSignInConfiguration(t *testing.T) {
	e := newJITEnv(t)
	e.x.setAnswer(func(c extCall) reply { return answerWith(c.nonce, action("MigratePassword")) })

	t.Run("v2 tokens name the app id as audience", func(t *testing.T) {
		r := e.c.do("PATCH", "/v1.0/applications/"+e.appObj, map[string]any{"api": map[string]any{"requestedAccessTokenVersion": 2}})
		if r.status != http.StatusNoContent {
			t.Fatalf("patch: %d %s", r.status, r.raw)
		}
		defer e.c.do("PATCH", "/v1.0/applications/"+e.appObj, map[string]any{"api": map[string]any{"requestedAccessTokenVersion": nil}})
		e.newUser(t, "v2@example.com", true, nil)
		if res := e.signIn(t, "v2@example.com", "Legacy!Pass1", appFast); res.Outcome != sandbox.SignInMigrated {
			t.Fatalf("result %+v", res)
		}
		if calls := e.x.takeCalls(); len(calls) != 1 || calls[0].aud != e.extApp {
			t.Fatalf("calls %+v", calls)
		}
	})

	t.Run("rotated issuer key", func(t *testing.T) {
		before := e.signInKid(t, "rot1@example.com")
		if err := e.s.Tenant.RotateExternalKey(); err != nil {
			t.Fatal(err)
		}
		e.x.mu.Lock()
		e.x.jwks = nil // the extension refreshes its keys
		e.x.mu.Unlock()
		after := e.signInKid(t, "rot2@example.com")
		if before == after || before == "" {
			t.Fatalf("kid %q before and %q after rotation", before, after)
		}
		var ks jose.JSONWebKeySet
		if err := e.x.getJSON(e.s.ExternalIssuer()[:strings.LastIndex(e.s.ExternalIssuer(), "/v2.0")]+"/discovery/v2.0/keys", &ks); err != nil || len(ks.Keys) != 2 {
			t.Fatalf("JWKS after rotation: %v, %d keys", err, len(ks.Keys))
		}
	})

	t.Run("the target URL and the resource id on different hosts", func(t *testing.T) {
		r := e.c.do("POST", "/beta/identity/customAuthenticationExtensions", map[string]any{
			"@odata.type": "#microsoft.graph.onPasswordSubmitCustomExtension", "displayName": "elsewhere",
			"endpointConfiguration":       map[string]any{"targetUrl": e.x.srv.URL + "/api/jit"},
			"authenticationConfiguration": map[string]any{"resourceId": "api://localhost/" + e.extApp},
		})
		if r.status != http.StatusCreated {
			t.Skipf("the tenant refuses the mismatch at creation (%d), as Entra does", r.status)
		}
		const app = "55555555-5555-4555-8555-555555555555"
		r = e.c.do("POST", "/beta/identity/authenticationEventListeners", map[string]any{
			"@odata.type": "#microsoft.graph.onPasswordSubmitListener", "priority": 1,
			"conditions": map[string]any{"applications": map[string]any{"includeApplications": []any{map[string]any{"appId": app}}}},
			"handler": map[string]any{"@odata.type": "#microsoft.graph.onPasswordMigrationCustomExtensionHandler",
				"migrationPropertyId": e.flag, "customExtension": map[string]any{"id": r.body["id"]}},
		})
		if r.status != http.StatusCreated {
			t.Fatalf("listener: %d %s", r.status, r.raw)
		}
		e.newUser(t, "mismatch@example.com", true, nil)
		if res := e.signIn(t, "mismatch@example.com", "Legacy!Pass1", app); res.Outcome != sandbox.SignInError ||
			res.Code != "1003015" || res.ExtensionCalled {
			t.Fatalf("result %+v", res)
		}
	})
}

func (e *jitEnv) signInKid(t *testing.T, email string) string {
	t.Helper()
	e.newUser(t, email, true, nil)
	if res := e.signIn(t, email, "Legacy!Pass1", appFast); res.Outcome != sandbox.SignInMigrated {
		t.Fatalf("result %+v", res)
	}
	calls := e.x.takeCalls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	return calls[0].kid
}

func TestSignInHTTP(t *testing.T) {
	e := newJITEnv(t)
	e.x.setAnswer(func(c extCall) reply {
		if c.password == "Legacy!Pass1" {
			return answerWith(c.nonce, action("MigratePassword"))
		}
		return answerWith(c.nonce, action("Retry"))
	})
	e.newUser(t, "http@example.com", true, nil)
	post := func(body string) (int, map[string]any) {
		t.Helper()
		resp, err := e.x.hc.Post(e.s.URL+"/_sandbox/signin", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("decode: %v", err)
		}
		return resp.StatusCode, out
	}
	if st, out := post(`{"user":"http@example.com","password":"nope"}`); st != 200 || out["outcome"] != "wrong_password" ||
		out["extensionCalled"] != true || out["code"] != "AADSTS50126" {
		t.Errorf("wrong password: %d %v", st, out)
	}
	if st, out := post(`{"user":"http@example.com","password":"Legacy!Pass1","clientIp":"198.51.100.1","appId":"` + appFast + `"}`); st != 200 ||
		out["outcome"] != "migrated" || out["attempts"] != float64(1) {
		t.Errorf("migrate: %d %v", st, out)
	}
	if st, out := post(`{"user":"http@example.com","password":"Legacy!Pass1"}`); st != 200 || out["outcome"] != "success" || out["extensionCalled"] != false {
		t.Errorf("after migration: %d %v", st, out)
	}
	for _, bad := range []string{`{"user":"","password":"x"}`, `{"user":"http@example.com","password":""}`, `{"user":"a","pw":"x"}`, `[`} {
		if st, _ := post(bad); st != http.StatusBadRequest {
			t.Errorf("%s: status %d", bad, st)
		}
	}
	resp, err := e.x.hc.Get(e.s.URL + "/_sandbox/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	var st sandbox.Stats
	if err := e.x.getJSON(e.s.URL+"/_sandbox/stats", &st); err != nil {
		t.Fatal(err)
	}
	if st.Callouts != 2 || st.SignIns["migrated"] != 1 || st.SignIns["success"] != 1 || st.SignIns["wrong_password"] != 1 {
		t.Errorf("stats %+v", st)
	}
	e.x.takeCalls()
}

func TestExternalIssuerDiscovery(t *testing.T) {
	s := start(t, sandbox.Config{DisableThrottling: true})
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool}}}
	defer hc.CloseIdleConnections()
	get := func(u string) (int, map[string]any) {
		t.Helper()
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	want := s.URL + "/" + sandbox.DefaultTenantID + ".ciamlogin.com/" + sandbox.DefaultTenantID + "/v2.0"
	if s.ExternalIssuer() != want {
		t.Fatalf("ExternalIssuer = %s, want %s", s.ExternalIssuer(), want)
	}
	for _, auth := range []string{s.ExternalIssuer(), s.ExternalAuthority(),
		s.URL + "/" + sandbox.DefaultTenantID + ".ciamlogin.com/" + sandbox.DefaultDomain + "/v2.0"} {
		st, doc := get(auth + "/.well-known/openid-configuration")
		if st != 200 || doc["issuer"] != want || !strings.HasPrefix(doc["jwks_uri"].(string), s.URL+"/"+sandbox.DefaultTenantID+".ciamlogin.com/") {
			t.Errorf("%s: %d %v", auth, st, doc)
		}
	}
	_, graphDoc := get(s.URL + "/" + sandbox.DefaultTenantID + "/v2.0/.well-known/openid-configuration")
	if graphDoc["issuer"] == want {
		t.Errorf("the Graph authority and the external issuer share the issuer %s", want)
	}
	_, ext := get(want[:len(want)-len("/v2.0")] + "/discovery/v2.0/keys")
	_, gr := get(graphDoc["jwks_uri"].(string))
	ek, gk := ext["keys"].([]any), gr["keys"].([]any)
	if len(ek) != 1 || len(gk) != 1 || ek[0].(map[string]any)["n"] == gk[0].(map[string]any)["n"] ||
		ek[0].(map[string]any)["kid"] == gk[0].(map[string]any)["kid"] {
		t.Errorf("external keys %v, Graph keys %v: they must differ", ek, gk)
	}
	if st, _ := get(s.URL + "/contoso.ciamlogin.com/" + sandbox.DefaultTenantID + "/v2.0/.well-known/openid-configuration"); st != 400 {
		t.Errorf("unknown subdomain: %d", st)
	}
	tn, err := sandbox.New(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.SignIn(context.Background(), sandbox.SignInRequest{User: "a"}); err == nil {
		t.Errorf("SignIn on a tenant without a URL succeeded")
	}
}
