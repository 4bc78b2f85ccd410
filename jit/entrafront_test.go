package jit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/jit"
	"github.com/idshift/idshift/jit/entra"
)

const (
	tenantID    = "5e3a1b7c-2f4d-4e6a-9b8c-0d1e2f3a4b5c"
	extAppID    = "00000000-0000-0000-0000-00000000e001"
	extURI      = "api://auth.example.test/" + extAppID
	tokenIssuer = "https://" + tenantID + ".ciamlogin.com/" + tenantID + "/v2.0"
)

// keys are made once per test binary: RSA-2048 generation is slow under the race detector.
var (
	keysOnce           sync.Once
	signKey, forgeKey  *rsa.PrivateKey
	decPair, otherPair *entra.KeyPair
)

func testKeys(t testing.TB) {
	keysOnce.Do(func() {
		signKey, forgeKey = rsaKey(t), rsaKey(t)
		decPair, otherPair = keyPair(t), keyPair(t)
	})
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyPair(t testing.TB) *entra.KeyPair {
	k := rsaKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "JitMigration"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := entra.NewKeyPair(k, cert)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// authority serves a discovery document and a JWKS over TLS, as an external tenant's ciamlogin.com authority does.
func authority(t testing.TB, pub *rsa.PublicKey) *httptest.Server {
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tenant/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": tokenIssuer, "jwks_uri": srv.URL + "/tenant/keys"})
	})
	mux.HandleFunc("GET /tenant/keys", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "a", Use: "sig", Algorithm: "RS256"}}})
	})
	srv = httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// entraEnv is the service behind an Entra front over real TLS, and what Entra needs to call it.
type entraEnv struct {
	f   *fixture
	svc *jit.Service
	srv *httptest.Server
}

func newEntraEnv(t *testing.T, gc guard.Config, front jit.EntraFront) *entraEnv {
	t.Helper()
	testKeys(t)
	auth := authority(t, &signKey.PublicKey)
	a, err := entra.New(entra.Config{
		Token:   entra.TokenConfig{Authority: auth.URL + "/tenant/v2.0", Audiences: []string{extAppID, extURI}, HTTPClient: auth.Client()},
		Context: entra.ContextConfig{Keys: []*entra.KeyPair{decPair}, Audiences: []string{extAppID}, Issuers: []string{extURI}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Tokens().Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, gc)
	svc := f.service(t, jit.Config{Timeout: jit.MaxTimeout})
	front.Auth, front.Service, front.Logger = a, svc, slog.New(slog.DiscardHandler)
	srv := httptest.NewTLSServer(&front)
	t.Cleanup(srv.Close)
	return &entraEnv{f: f, svc: svc, srv: srv}
}

func bearer(t testing.TB, key *rsa.PrivateKey, mutate func(map[string]any)) string {
	now := time.Now()
	claims := map[string]any{"iss": tokenIssuer, "aud": extAppID, "azp": entra.AuthenticationEventsAppID, "tid": tenantID,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if mutate != nil {
		mutate(claims)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "a"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// callout is one OnPasswordSubmit call as Entra makes it.
type callout struct {
	objectID, username, password, nonce string
	to                                  *entra.KeyPair // the key the context is encrypted to
	token                               string         // "" = a good one; "-" = none
}

func (e *entraEnv) call(t *testing.T, c callout) (int, []byte, string) {
	t.Helper()
	if c.to == nil {
		c.to = decPair
	}
	now := time.Now()
	ctxClaims := map[string]any{"aud": extAppID, "iss": extURI, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(), "user-password": c.password, "username": c.username}
	if c.nonce != "" {
		ctxClaims["nonce"] = c.nonce
	}
	jwe, err := entra.EncryptContext(c.to.Cert.PublicKey.(*rsa.PublicKey), entra.Thumbprint(c.to.Cert), ctxClaims)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"type": entra.EventType, "source": "/tenants/" + tenantID + "/applications/" + extAppID,
		"data": map[string]any{
			"@odata.type": entra.CalloutDataType, "tenantId": tenantID, "encryptedPasswordContext": jwe,
			"authenticationContext": map[string]any{"correlationId": "corr-1", "client": map[string]any{"ip": "203.0.113.50"},
				"user": map[string]any{"id": c.objectID}},
		},
	})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/entra", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	switch c.token {
	case "":
		req.Header.Set("Authorization", "Bearer "+bearer(t, signKey, nil))
	case "-":
	default:
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("Content-Type")
}

func TestEntraFront(t *testing.T) {
	env := newEntraEnv(t, guard.Config{Pair: guard.Limit{Failures: 2, Window: time.Minute, LockFor: time.Minute}},
		jit.EntraFront{BlockTitle: "Blocked", BlockMessage: "Call the help desk."})
	testKeys(t)
	tests := []struct {
		name   string
		c      callout
		status int
		action idshift.Action
		nonce  string
		title  string
		work   int64 // verifications run
	}{
		{"no token", callout{objectID: "obj-alice", password: "Alice-pass-1", nonce: "n0", token: "-"}, 401, "", "", "", 0},
		{"forged token", callout{objectID: "obj-alice", password: "Alice-pass-1", nonce: "n0", token: bearer(t, forgeKey, nil)}, 401, "", "", "", 0},
		{"wrong azp", callout{objectID: "obj-alice", password: "Alice-pass-1", nonce: "n0",
			token: bearer(t, signKey, func(m map[string]any) { m["azp"] = "someone-else" })}, 401, "", "", "", 0},
		{"another key's context", callout{objectID: "obj-alice", password: "Alice-pass-1", nonce: "n1", to: otherPair}, 200, idshift.ActionBlock, "", jit.DefaultUnavailableTitle, 0},
		{"no nonce", callout{objectID: "obj-alice", password: "Alice-pass-1"}, 200, idshift.ActionBlock, "", jit.DefaultUnavailableTitle, 0},
		{"wrong", callout{objectID: "obj-bob", password: "nope", nonce: "n2"}, 200, idshift.ActionRetry, "n2", "", 1},
		{"wrong replayed", callout{objectID: "obj-bob", password: "nope", nonce: "n2"}, 200, idshift.ActionRetry, "n2", "", 0},
		{"wrong again", callout{objectID: "obj-bob", password: "nope", nonce: "n3"}, 200, idshift.ActionRetry, "n3", "", 1},
		{"locked", callout{objectID: "obj-bob", password: "Bob-pass-2", nonce: "n4"}, 200, idshift.ActionBlock, "n4", "Blocked", 0},
		{"unknown", callout{objectID: "obj-nobody", password: "x", nonce: "n5"}, 200, idshift.ActionRetry, "n5", "", 1},
		{"right", callout{objectID: "obj-alice", username: "Alice@Example.com", password: "Alice-pass-1", nonce: "n6"}, 200, idshift.ActionMigrate, "n6", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.f.work()
			status, body, ctype := env.call(t, tt.c)
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			if got := env.f.work() - before; got != tt.work {
				t.Errorf("%d verifications, want %d", got, tt.work)
			}
			if status == 401 {
				if len(body) != 0 {
					t.Errorf("401 with a body of %d bytes", len(body))
				}
				return
			}
			v, err := entra.ParseResponse(status, ctype, body)
			if err != nil {
				t.Fatalf("answer off the contract: %v: %s", err, body)
			}
			if v.Action != tt.action || v.Nonce != tt.nonce || v.Title != tt.title || v.Namespace != entra.NamespaceDocumented {
				t.Errorf("answer %+v, want %s nonce %q title %q", v, tt.action, tt.nonce, tt.title)
			}
			if strings.Contains(string(body), tt.c.password) && tt.c.password != "" {
				t.Error("the answer contains the password")
			}
		})
	}
}

func TestEntraFrontNamespace(t *testing.T) {
	env := newEntraEnv(t, guard.Config{}, jit.EntraFront{Namespace: entra.NamespaceSample})
	status, body, ctype := env.call(t, callout{objectID: "obj-alice", password: "Alice-pass-1", nonce: "n"})
	v, err := entra.ParseResponse(status, ctype, body)
	if err != nil || v.Action != idshift.ActionMigrate || v.Namespace != entra.NamespaceSample {
		t.Fatalf("answer %+v, %v; want MigratePassword in the sample's namespace", v, err)
	}
}
