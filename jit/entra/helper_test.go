package entra_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/idshift/idshift/jit/entra"
)

// The test tenant.
const (
	tenantID    = "5e3a1b7c-2f4d-4e6a-9b8c-0d1e2f3a4b5c"
	extAppID    = "00000000-0000-0000-0000-00000000e001"
	extURI      = "api://auth.example.test/" + extAppID
	tokenIssuer = "https://" + tenantID + ".ciamlogin.com/" + tenantID + "/v2.0"
	password    = "Corr3ct-horse-battery!" // must never appear in any output
	nonce       = "d7c30ed9-5f0e-4f43-9c7d-2a7c1b2f4a11"
)

// t0 is the tests' clock: the live capture's iat.
var t0 = time.Unix(1789477420, 0)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadPair(t testing.TB, name string) *entra.KeyPair {
	t.Helper()
	kp, err := entra.LoadKeyPair(readFile(t, name+".crt"), readFile(t, name+".key"))
	if err != nil {
		t.Fatalf("LoadKeyPair(%s): %v", name, err)
	}
	return kp
}

func loadSigningKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	b, _ := pem.Decode(readFile(t, name+".key"))
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// issuer is a test external authority: discovery document and JWKS over TLS, counting the JWKS fetches.
type issuer struct {
	srv       *httptest.Server
	authority string

	mu        sync.Mutex
	published map[string]*rsa.PublicKey

	jwksHits atomic.Int64
	fail     atomic.Bool   // answer 500 to every request
	gate     chan struct{} // when non-nil, JWKS requests wait for it to close
}

func newIssuer(t testing.TB, keys map[string]*rsa.PrivateKey) *issuer {
	t.Helper()
	is := &issuer{published: map[string]*rsa.PublicKey{}}
	for kid, k := range keys {
		is.published[kid] = &k.PublicKey
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tenant/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if is.fail.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"issuer":   tokenIssuer, // not derived from the authority: the host differs
			"jwks_uri": is.srv.URL + "/tenant/discovery/v2.0/keys",
		})
	})
	mux.HandleFunc("GET /tenant/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) {
		is.jwksHits.Add(1)
		is.mu.Lock()
		gate := is.gate
		var set jose.JSONWebKeySet
		for kid, k := range is.published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: kid, Use: "sig", Algorithm: "RS256"})
		}
		is.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if is.fail.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	})
	is.srv = httptest.NewTLSServer(mux)
	t.Cleanup(is.srv.Close)
	is.authority = is.srv.URL + "/tenant/v2.0"
	return is
}

func (is *issuer) publish(kid string, k *rsa.PublicKey) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.published[kid] = k
}

// fixture is one configured service side and the keys to forge callouts with.
type fixture struct {
	is      *issuer
	signA   *rsa.PrivateKey // published as kid "a"
	signB   *rsa.PrivateKey // never published
	dec1    *entra.KeyPair
	dec2    *entra.KeyPair
	other   *entra.KeyPair // not configured
	now     atomic.Int64   // Unix nanoseconds
	auth    *entra.Authenticator
	maxBody int64
}

func (f *fixture) clock() time.Time { return time.Unix(0, f.now.Load()) }

func (f *fixture) advance(d time.Duration) { f.now.Add(int64(d)) }

type fixtureOpt func(*entra.Config)

func newFixture(t testing.TB, opts ...fixtureOpt) *fixture {
	t.Helper()
	f := &fixture{
		signA: loadSigningKey(t, "sign-a"), signB: loadSigningKey(t, "sign-b"),
		dec1: loadPair(t, "dec1"), dec2: loadPair(t, "dec2"), other: loadPair(t, "other"),
	}
	f.now.Store(t0.UnixNano())
	f.is = newIssuer(t, map[string]*rsa.PrivateKey{"a": f.signA})
	cfg := entra.Config{
		Token: entra.TokenConfig{
			Authority:  f.is.authority,
			Audiences:  []string{extAppID, extURI},
			HTTPClient: f.is.srv.Client(),
			Now:        f.clock,
		},
		Context: entra.ContextConfig{
			Keys:      []*entra.KeyPair{f.dec1, f.dec2},
			Audiences: []string{extAppID},
			Issuers:   []string{extURI},
			Now:       f.clock,
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := entra.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.auth = a
	return f
}

// tokenClaims are the claims of a good bearer token, as the live capture shows them.
func (f *fixture) tokenClaims() map[string]any {
	now := f.clock()
	return map[string]any{
		"iss": tokenIssuer, "aud": extAppID, "azp": entra.AuthenticationEventsAppID,
		"tid": tenantID, "sub": "c5a2f0de-0000-0000-0000-000000000001", "ver": "2.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func signRS256(t testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// token is a good bearer token, with the claims changed by edit.
func (f *fixture) token(t testing.TB, edit func(map[string]any)) string {
	c := f.tokenClaims()
	if edit != nil {
		edit(c)
	}
	return signRS256(t, f.signA, "a", c)
}

// contextClaims are the claims of a good encryptedPasswordContext, as the live capture shows them.
func (f *fixture) contextClaims() map[string]any {
	now := f.clock()
	return map[string]any{
		"aud": extAppID, "iss": extURI,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"user-password": password, "username": "JohnDoe@Live.com", "nonce": nonce,
	}
}

// context is a good encryptedPasswordContext for dec1, with the claims changed by edit.
func (f *fixture) context(t testing.TB, edit func(map[string]any)) string {
	t.Helper()
	c := f.contextClaims()
	if edit != nil {
		edit(c)
	}
	s, err := entra.EncryptContext(&f.dec1.Key.PublicKey, f.dec1.X5T, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// body is a callout body with the live capture's shape.
func body(t testing.TB, jwe string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"type":   entra.EventType,
		"source": "/tenants/" + tenantID + "/applications/" + extAppID,
		"data": map[string]any{
			"@odata.type":                     entra.CalloutDataType,
			"tenantId":                        tenantID,
			"authenticationEventListenerId":   "0a1b2c3d-0000-0000-0000-00000000l001",
			"customAuthenticationExtensionId": "0a1b2c3d-0000-0000-0000-00000000x001",
			"encryptedPasswordContext":        jwe,
			"userSignUpInfo":                  nil,
			"otpContext":                      nil,
			"authenticationContext": map[string]any{
				"correlationId": "f1e2d3c4-0000-0000-0000-00000000c001",
				"client":        map[string]any{"ip": "203.0.113.7", "locale": "en-us", "market": "en-us"},
				"protocol":      "OAUTH2.0",
				"clientServicePrincipal": map[string]any{
					"id": "sp-1", "appId": "00000000-0000-0000-0000-00000000c11e", "appDisplayName": "web", "displayName": "web",
				},
				"resourceServicePrincipal": nil,
				"user": map[string]any{
					"id": "11111111-2222-3333-4444-555555555555", "userPrincipalName": "u1@example.onmicrosoft.com",
					"userType": "Member", "createdDateTime": "2026-01-02T03:04:05Z", "displayName": "John Doe",
					"mail": "johndoe@live.com",
				},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readTracker records whether anything read the body.
type readTracker struct {
	r    *bytes.Reader
	read atomic.Bool
}

func (rt *readTracker) Read(p []byte) (int, error) {
	rt.read.Store(true)
	return rt.r.Read(p)
}

func request(token string, b []byte) (*http.Request, *readTracker) {
	rt := &readTracker{r: bytes.NewReader(b)}
	r := httptest.NewRequest(http.MethodPost, "https://auth.example.test/entra", rt)
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r, rt
}

// rawJWE builds a compact JWE by hand (RSA-OAEP key management, AES-GCM content encryption), so that tests can
// put any header and any (already compressed) payload in it.
func rawJWE(t testing.TB, pub *rsa.PublicKey, header map[string]any, payload []byte) string {
	t.Helper()
	enc, _ := header["enc"].(string)
	size := map[string]int{"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}[enc]
	if size == 0 {
		t.Fatalf("rawJWE: enc %q", enc)
	}
	cek := make([]byte, size)
	_, _ = rand.Read(cek)
	ek, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, cek, nil)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := json.Marshal(header)
	h64 := base64.RawURLEncoding.EncodeToString(hb)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	iv := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(iv)
	sealed := gcm.Seal(nil, iv, payload, []byte(h64))
	ct, tag := sealed[:len(sealed)-gcm.Overhead()], sealed[len(sealed)-gcm.Overhead():]
	e := base64.RawURLEncoding.EncodeToString
	return h64 + "." + e(ek) + "." + e(iv) + "." + e(ct) + "." + e(tag)
}

// goJoseJWE encrypts a plaintext with go-jose and the given algorithms.
func goJoseJWE(t testing.TB, pub *rsa.PublicKey, x5t string, alg jose.KeyAlgorithm, enc jose.ContentEncryption, zip bool, plain []byte) string {
	t.Helper()
	opts := &jose.EncrypterOptions{}
	if zip {
		opts.Compression = jose.DEFLATE
	}
	if x5t != "" {
		opts = opts.WithHeader("x5t", x5t)
	}
	e, err := jose.NewEncrypter(enc, jose.Recipient{Algorithm: alg, Key: pub}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := e.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
