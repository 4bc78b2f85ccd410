package entra_test

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/jit/entra"
)

// assertNoSecret fails when s shows the password.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, password) {
		t.Errorf("%s shows the password", what)
	}
}

func TestAuthenticateLiveCaptureShape(t *testing.T) {
	f := newFixture(t)
	jwe := f.context(t, nil)

	// The header is exactly the live capture's.
	h, _, _ := strings.Cut(jwe, ".")
	hb, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"alg":"RSA-OAEP","enc":"A128CBC-HS256","x5t":"` + f.dec1.X5T + `","zip":"DEF"}`
	if string(hb) != want {
		t.Errorf("JWE header = %s, want %s", hb, want)
	}

	r, _ := request(f.token(t, nil), body(t, jwe))
	c, err := f.auth.Authenticate(context.Background(), r)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if c.Password.Reveal() != password {
		t.Error("password not recovered")
	}
	checks := []struct{ name, got, want string }{
		{"TenantID", c.TenantID, tenantID},
		{"ListenerID", c.ListenerID, "0a1b2c3d-0000-0000-0000-00000000l001"},
		{"ExtensionID", c.ExtensionID, "0a1b2c3d-0000-0000-0000-00000000x001"},
		{"CorrelationID", c.CorrelationID, "f1e2d3c4-0000-0000-0000-00000000c001"},
		{"ClientIP", c.ClientIP, "203.0.113.7"},
		{"ClientAppID", c.ClientAppID, "00000000-0000-0000-0000-00000000c11e"},
		{"UserID", c.UserID, "11111111-2222-3333-4444-555555555555"},
		{"Mail", c.Mail, "johndoe@live.com"},
		{"UserPrincipalName", c.UserPrincipalName, "u1@example.onmicrosoft.com"},
		{"Username", c.Username, "JohnDoe@Live.com"},
		{"Nonce", c.Nonce, nonce},
		{"Token.Issuer", c.Token.Issuer, tokenIssuer},
		{"Token.Audience", c.Token.Audience, extAppID},
		{"Token.AuthorizedParty", c.Token.AuthorizedParty, entra.AuthenticationEventsAppID},
		{"Token.KeyID", c.Token.KeyID, "a"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	a := c.Attempt()
	if a.Front != idshift.FrontEntra || a.ObjectID != c.UserID || a.SignInName != "johndoe@live.com" ||
		a.ClientIP != "203.0.113.7" || a.Nonce != nonce || a.Password != password {
		t.Errorf("Attempt() = %v", a)
	}

	// The callout never prints its password.
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		assertNoSecret(t, "Sprintf("+verb+", callout)", fmt.Sprintf(verb, c))
		assertNoSecret(t, "Sprintf("+verb+", *callout)", fmt.Sprintf(verb, *c))
		assertNoSecret(t, "Sprintf("+verb+", password)", fmt.Sprintf(verb, c.Password))
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("callout", "callout", c, "password", c.Password, "value", *c)
	assertNoSecret(t, "slog", logs.String())
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "json", string(j))
	j, _ = json.Marshal(struct{ P entra.Secret }{c.Password})
	assertNoSecret(t, "json of a Secret", string(j))
}

func TestAuthenticateAlgorithmsAndPlaintexts(t *testing.T) {
	f := newFixture(t)
	claims, _ := json.Marshal(f.contextClaims())
	unsigned, err := entra.UnsignedJWT(f.contextClaims())
	if err != nil {
		t.Fatal(err)
	}
	pub := &f.dec1.Key.PublicKey
	cases := []struct {
		name string
		jwe  string
	}{
		{"plain JSON, RSA-OAEP, A128CBC-HS256, DEF", goJoseJWE(t, pub, f.dec1.X5T, jose.RSA_OAEP, jose.A128CBC_HS256, true, claims)},
		{"plain JSON, RSA-OAEP-256, A256GCM", goJoseJWE(t, pub, f.dec1.X5T, jose.RSA_OAEP_256, jose.A256GCM, false, claims)},
		{"JWT, RSA-OAEP-256, A256GCM, DEF", goJoseJWE(t, pub, f.dec1.X5T, jose.RSA_OAEP_256, jose.A256GCM, true, []byte(unsigned))},
		{"JWT, RSA-OAEP, A192CBC-HS384", goJoseJWE(t, pub, f.dec1.X5T, jose.RSA_OAEP, jose.A192CBC_HS384, false, []byte(unsigned))},
		{"JWT, RSA-OAEP, A256CBC-HS512", goJoseJWE(t, pub, f.dec1.X5T, jose.RSA_OAEP, jose.A256CBC_HS512, true, []byte(unsigned))},
		{"JWT, RSA-OAEP, A128GCM", goJoseJWE(t, pub, f.dec1.X5T, jose.RSA_OAEP, jose.A128GCM, false, []byte(unsigned))},
		{"JWT, RSA-OAEP, A192GCM", goJoseJWE(t, pub, f.dec1.X5T, jose.RSA_OAEP, jose.A192GCM, false, []byte(unsigned))},
		{"no x5t: each key tried", goJoseJWE(t, pub, "", jose.RSA_OAEP, jose.A128CBC_HS256, true, []byte(unsigned))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := request(f.token(t, nil), body(t, tc.jwe))
			c, err := f.auth.Authenticate(context.Background(), r)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if c.Password.Reveal() != password || c.Nonce != nonce {
				t.Error("password or nonce not recovered")
			}
		})
	}
}

func TestDecryptKeyRotation(t *testing.T) {
	f := newFixture(t)
	d, err := entra.NewDecrypter(entra.ContextConfig{Keys: []*entra.KeyPair{f.dec1, f.dec2}, Now: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	for _, kp := range []*entra.KeyPair{f.dec1, f.dec2} {
		for _, x5t := range []string{kp.X5T, ""} {
			jwe, err := entra.EncryptContext(&kp.Key.PublicKey, x5t, f.contextClaims())
			if err != nil {
				t.Fatal(err)
			}
			pc, err := d.Decrypt(jwe)
			if err != nil {
				t.Fatalf("Decrypt (x5t %q): %v", x5t, err)
			}
			if pc.X5T != kp.X5T {
				t.Errorf("decrypted with %s, want %s", pc.X5T, kp.X5T)
			}
		}
	}
	// x5t chooses: a context for dec2 labelled dec1 is not tried with dec2.
	jwe, _ := entra.EncryptContext(&f.dec2.Key.PublicKey, f.dec1.X5T, f.contextClaims())
	if _, err := d.Decrypt(jwe); !errors.Is(err, entra.ErrUndecryptable) {
		t.Errorf("mislabelled x5t: %v, want ErrUndecryptable", err)
	}
	// Only the old key configured: a context for the new one is refused by its x5t.
	old, _ := entra.NewDecrypter(entra.ContextConfig{Keys: []*entra.KeyPair{f.dec1}, Now: f.clock})
	jwe, _ = entra.EncryptContext(&f.dec2.Key.PublicKey, f.dec2.X5T, f.contextClaims())
	if _, err := old.Decrypt(jwe); !errors.Is(err, entra.ErrNoDecryptionKey) {
		t.Errorf("unknown x5t: %v, want ErrNoDecryptionKey", err)
	}
}

// forgedToken builds a token the service must refuse.
func hs256WithPublicKey(t *testing.T, f *fixture) string {
	der, err := x509.MarshalPKIXPublicKey(&f.signA.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "a"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(f.tokenClaims()).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func es256(t *testing.T, f *fixture) string {
	b, _ := pem.Decode(readFile(t, "ec.key"))
	k, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var key *ecdsa.PrivateKey = k
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "a"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(f.tokenClaims()).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func algNone(f *fixture) string {
	e := base64.RawURLEncoding.EncodeToString
	c, _ := json.Marshal(f.tokenClaims())
	return e([]byte(`{"alg":"none","kid":"a","typ":"JWT"}`)) + "." + e(c) + "."
}

func flipBit(t *testing.T, jwe string, part int) string {
	parts := strings.Split(jwe, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[part])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	parts[part] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// deflateBomb returns n zero bytes compressed at the best ratio.
func deflateBomb(t *testing.T, n int) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	for i := 0; i < n; i += len(zeros) {
		_, _ = w.Write(zeros[:min(len(zeros), n-i)])
	}
	_ = w.Close()
	return buf.Bytes()
}

func TestForgedMatrix(t *testing.T) {
	f := newFixture(t)
	good := f.context(t, nil)
	pub := &f.dec1.Key.PublicKey
	unsignedWith := func(header string, edit func(map[string]any)) []byte {
		c := f.contextClaims()
		if edit != nil {
			edit(c)
		}
		p, _ := json.Marshal(c)
		e := base64.RawURLEncoding.EncodeToString
		return []byte(e([]byte(header)) + "." + e(p) + ".")
	}
	bomb20 := deflateBomb(t, 20<<20)
	bomb50 := deflateBomb(t, 50<<20)
	t.Logf("DEFLATE bombs: 20 MiB -> %d bytes, 50 MiB -> %d bytes", len(bomb20), len(bomb50))
	zipHeader := map[string]any{"alg": "RSA-OAEP", "enc": "A128GCM", "zip": "DEF", "x5t": f.dec1.X5T}

	type tc struct {
		name      string
		token     string // "" means no Authorization header
		header    string // raw Authorization header, overrides token
		body      []byte
		kind      entra.Kind
		reason    error
		wantNonce bool
	}
	cases := []tc{
		{name: "no token", body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrNoToken},
		{name: "basic scheme", header: "Basic YTpi", body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrNoToken},
		{name: "wrong signature", token: signRS256(t, f.signB, "a", f.tokenClaims()), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrSignature},
		{name: "unknown kid", token: signRS256(t, f.signB, "b", f.tokenClaims()), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrUnknownKey},
		{name: "no kid", token: signRS256(t, f.signA, "", f.tokenClaims()), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrMalformedToken},
		{name: "wrong iss", token: f.token(t, func(c map[string]any) { c["iss"] = "https://login.microsoftonline.com/" + tenantID + "/v2.0" }), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrIssuer},
		{name: "wrong aud", token: f.token(t, func(c map[string]any) { c["aud"] = "00000003-0000-0000-c000-000000000000" }), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrAudience},
		{name: "wrong azp", token: f.token(t, func(c map[string]any) { c["azp"] = extAppID }), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrAuthorizedParty},
		{name: "appid without the v1 option", token: f.token(t, func(c map[string]any) {
			delete(c, "azp")
			c["appid"] = entra.AuthenticationEventsAppID
		}), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrAuthorizedParty},
		{name: "no azp nor appid", token: f.token(t, func(c map[string]any) { delete(c, "azp") }), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrAuthorizedParty},
		{name: "expired", token: f.token(t, func(c map[string]any) { c["exp"] = t0.Add(-3 * time.Minute).Unix() }), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrExpired},
		{name: "nbf in the future", token: f.token(t, func(c map[string]any) { c["nbf"] = t0.Add(3 * time.Minute).Unix() }), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrNotYetValid},
		{name: "no exp", token: f.token(t, func(c map[string]any) { delete(c, "exp") }), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrMalformedToken},
		{name: "alg none", token: algNone(f), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrTokenAlgorithm},
		{name: "HS256 with the RSA public key as secret", token: hs256WithPublicKey(t, f), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrTokenAlgorithm},
		{name: "ES256", token: es256(t, f), body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrTokenAlgorithm},
		{name: "garbage token", token: "not.a.jwt", body: body(t, good), kind: entra.Unauthenticated, reason: entra.ErrMalformedToken},

		{name: "JWE encrypted to another key (its own x5t)", token: f.token(t, nil), body: body(t, mustEncrypt(t, f.other, f.other.X5T, f.contextClaims())), kind: entra.BadContext, reason: entra.ErrNoDecryptionKey},
		{name: "JWE encrypted to another key (our x5t)", token: f.token(t, nil), body: body(t, mustEncrypt(t, f.other, f.dec1.X5T, f.contextClaims())), kind: entra.BadContext, reason: entra.ErrUndecryptable},
		{name: "JWE encrypted to another key (no x5t)", token: f.token(t, nil), body: body(t, mustEncrypt(t, f.other, "", f.contextClaims())), kind: entra.BadContext, reason: entra.ErrUndecryptable},
		{name: "tampered ciphertext", token: f.token(t, nil), body: body(t, flipBit(t, good, 3)), kind: entra.BadContext, reason: entra.ErrUndecryptable},
		{name: "tampered tag", token: f.token(t, nil), body: body(t, flipBit(t, good, 4)), kind: entra.BadContext, reason: entra.ErrUndecryptable},
		{name: "tampered encrypted key", token: f.token(t, nil), body: body(t, flipBit(t, good, 1)), kind: entra.BadContext, reason: entra.ErrUndecryptable},
		{name: "RSA1_5", token: f.token(t, nil), body: body(t, goJoseJWE(t, pub, f.dec1.X5T, jose.RSA1_5, jose.A128CBC_HS256, false, unsignedWith(`{"alg":"none"}`, nil))), kind: entra.BadContext, reason: entra.ErrUndecryptable},
		{name: "expired inner JWT", token: f.token(t, nil), body: body(t, f.context(t, func(c map[string]any) { c["exp"] = t0.Add(-3 * time.Minute).Unix() })), kind: entra.BadContext, reason: entra.ErrContextExpired, wantNonce: true},
		{name: "inner nbf in the future", token: f.token(t, nil), body: body(t, f.context(t, func(c map[string]any) { c["nbf"] = t0.Add(3 * time.Minute).Unix() })), kind: entra.BadContext, reason: entra.ErrContextNotYet, wantNonce: true},
		{name: "inner aud of another app", token: f.token(t, nil), body: body(t, f.context(t, func(c map[string]any) { c["aud"] = "someone-else" })), kind: entra.BadContext, reason: entra.ErrContextAudience, wantNonce: true},
		{name: "inner iss of another app", token: f.token(t, nil), body: body(t, f.context(t, func(c map[string]any) { c["iss"] = "api://evil.example/x" })), kind: entra.BadContext, reason: entra.ErrContextIssuer, wantNonce: true},
		{name: "inner JWT signed HS256", token: f.token(t, nil), body: body(t, goJoseJWE(t, pub, f.dec1.X5T, jose.RSA_OAEP, jose.A128CBC_HS256, true, unsignedWith(`{"alg":"HS256","typ":"JWT"}`, nil))), kind: entra.BadContext, reason: entra.ErrContextAlgorithm},
		{name: "inner alg none with a signature", token: f.token(t, nil), body: body(t, goJoseJWE(t, pub, f.dec1.X5T, jose.RSA_OAEP, jose.A128CBC_HS256, true, append(unsignedWith(`{"alg":"none"}`, nil), "c2ln"...))), kind: entra.BadContext, reason: entra.ErrContextAlgorithm},
		{name: "missing nonce", token: f.token(t, nil), body: body(t, f.context(t, func(c map[string]any) { delete(c, "nonce") })), kind: entra.BadContext, reason: entra.ErrNoNonce},
		{name: "nonce not a string", token: f.token(t, nil), body: body(t, f.context(t, func(c map[string]any) { c["nonce"] = 42 })), kind: entra.BadContext, reason: entra.ErrNoNonce},
		{name: "missing password", token: f.token(t, nil), body: body(t, f.context(t, func(c map[string]any) { delete(c, "user-password") })), kind: entra.BadContext, reason: entra.ErrNoPassword, wantNonce: true},
		{name: "empty password", token: f.token(t, nil), body: body(t, f.context(t, func(c map[string]any) { c["user-password"] = "" })), kind: entra.BadContext, reason: entra.ErrNoPassword, wantNonce: true},
		{name: "password a number", token: f.token(t, nil), body: body(t, f.context(t, func(c map[string]any) { c["user-password"] = 12345678 })), kind: entra.BadContext, reason: entra.ErrNoPassword, wantNonce: true},
		{name: "plaintext neither JWT nor JSON", token: f.token(t, nil), body: body(t, goJoseJWE(t, pub, f.dec1.X5T, jose.RSA_OAEP, jose.A128GCM, false, []byte("hello"))), kind: entra.BadContext, reason: entra.ErrMalformedContext},
		{name: "oversized body", token: f.token(t, nil), body: append(body(t, good), bytes.Repeat([]byte(" "), entra.DefaultMaxBodyBytes)...), kind: entra.BadContext, reason: entra.ErrBodyTooLarge},
		{name: "not JSON", token: f.token(t, nil), body: []byte("<xml/>"), kind: entra.BadContext, reason: entra.ErrMalformedBody},
		{name: "wrong event type", token: f.token(t, nil), body: bytes.Replace(body(t, good), []byte(entra.EventType), []byte("microsoft.graph.onTokenIssuanceStart"), 1), kind: entra.BadContext, reason: entra.ErrMalformedBody},
		{name: "no context", token: f.token(t, nil), body: body(t, ""), kind: entra.BadContext, reason: entra.ErrMalformedBody},
		{name: "DEFLATE bomb, 20 MiB of zeros", token: f.token(t, nil), body: body(t, rawJWE(t, pub, zipHeader, bomb20)), kind: entra.BadContext, reason: entra.ErrUndecryptable},
		{name: "DEFLATE bomb, 50 MiB of zeros", token: f.token(t, nil), body: body(t, rawJWE(t, pub, zipHeader, bomb50)), kind: entra.BadContext, reason: entra.ErrBodyTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, rt := request(tc.token, tc.body)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			c, err := f.auth.Authenticate(context.Background(), r)
			var e *entra.Error
			if !errors.As(err, &e) {
				t.Fatalf("Authenticate = %v, want an *entra.Error", err)
			}
			if e.Kind != tc.kind {
				t.Errorf("kind = %v, want %v (%v)", e.Kind, tc.kind, err)
			}
			if !errors.Is(err, tc.reason) {
				t.Errorf("err = %v, want %v", err, tc.reason)
			}
			if entra.Reason(err) == "other" || entra.Reason(err) == "" {
				t.Errorf("Reason(%v) = %q", err, entra.Reason(err))
			}
			assertNoSecret(t, "error", err.Error())
			switch tc.kind {
			case entra.Unauthenticated:
				if !errors.Is(err, entra.ErrUnauthenticated) || errors.Is(err, entra.ErrBadContext) {
					t.Errorf("errors.Is on the kinds disagrees with %v", e.Kind)
				}
				if rt.read.Load() {
					t.Error("the body was read before the token was accepted")
				}
				if c != nil {
					t.Error("a callout was returned for an unauthenticated call")
				}
			case entra.BadContext:
				if !errors.Is(err, entra.ErrBadContext) {
					t.Error("errors.Is(err, ErrBadContext) = false")
				}
				if c != nil && !c.Password.Empty() {
					t.Error("a refused callout carries a password")
				}
			}
			if got := e.Nonce != ""; got != tc.wantNonce {
				t.Errorf("nonce recovered = %v, want %v", got, tc.wantNonce)
			}
			if tc.wantNonce && (e.Nonce != nonce || c == nil || c.Nonce != nonce) {
				t.Errorf("nonce = %q (callout %v), want %q", e.Nonce, c, nonce)
			}
		})
	}
}

func mustEncrypt(t *testing.T, kp *entra.KeyPair, x5t string, claims map[string]any) string {
	t.Helper()
	s, err := entra.EncryptContext(&kp.Key.PublicKey, x5t, claims)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDeflateBombAllocation: inflating a bomb allocates a bounded amount, far below what it expands to.
func TestDeflateBombAllocation(t *testing.T) {
	f := newFixture(t)
	pub := &f.dec1.Key.PublicKey
	jwe := rawJWE(t, pub, map[string]any{"alg": "RSA-OAEP", "enc": "A128GCM", "zip": "DEF", "x5t": f.dec1.X5T}, deflateBomb(t, 20<<20))
	d, err := entra.NewDecrypter(entra.ContextConfig{Keys: []*entra.KeyPair{f.dec1}, Now: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = d.Decrypt(jwe)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, entra.ErrUndecryptable) {
		t.Fatalf("Decrypt(bomb) = %v, want ErrUndecryptable", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("decrypting the bomb allocated %d bytes, want < 8 MiB", alloc)
	}
	// A context that inflates within the cap is fine (the same path, a legitimate zip).
	claims, _ := json.Marshal(f.contextClaims())
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(claims)
	_ = w.Close()
	if _, err := d.Decrypt(rawJWE(t, pub, map[string]any{"alg": "RSA-OAEP", "enc": "A128GCM", "zip": "DEF"}, buf.Bytes())); err != nil {
		t.Errorf("Decrypt(small zip) = %v", err)
	}
}

func TestAuthenticateV1Tokens(t *testing.T) {
	const v1Issuer = "https://sts.windows.net/" + tenantID + "/"
	f := newFixture(t, func(c *entra.Config) {
		c.Token.AllowV1 = true
		c.Token.Issuers = []string{v1Issuer}
	})
	tok := f.token(t, func(c map[string]any) {
		delete(c, "azp")
		c["appid"] = entra.AuthenticationEventsAppID
		c["iss"] = v1Issuer
		c["aud"] = extURI
	})
	r, _ := request(tok, body(t, f.context(t, nil)))
	c, err := f.auth.Authenticate(context.Background(), r)
	if err != nil {
		t.Fatalf("v1 token with AllowV1: %v", err)
	}
	if c.Token.AuthorizedParty != entra.AuthenticationEventsAppID || c.Token.Audience != extURI {
		t.Errorf("token = %+v", c.Token)
	}
	// Even with AllowV1, a wrong appid is refused, and so is a wrong azp next to a right appid.
	for _, edit := range []func(map[string]any){
		func(c map[string]any) { delete(c, "azp"); c["appid"] = extAppID },
		func(c map[string]any) { c["azp"] = extAppID; c["appid"] = entra.AuthenticationEventsAppID },
	} {
		r, _ := request(f.token(t, edit), body(t, f.context(t, nil)))
		if _, err := f.auth.Authenticate(context.Background(), r); !errors.Is(err, entra.ErrAuthorizedParty) {
			t.Errorf("Authenticate = %v, want ErrAuthorizedParty", err)
		}
	}
}

func TestAuthenticateSkew(t *testing.T) {
	f := newFixture(t)
	// Expired 90 s ago: inside the default 2-minute skew.
	tok := f.token(t, func(c map[string]any) { c["exp"] = t0.Add(-90 * time.Second).Unix() })
	jwe := f.context(t, func(c map[string]any) { c["exp"] = t0.Add(-90 * time.Second).Unix() })
	r, _ := request(tok, body(t, jwe))
	if _, err := f.auth.Authenticate(context.Background(), r); err != nil {
		t.Fatalf("inside the skew: %v", err)
	}
	f.advance(time.Minute)
	r, _ = request(tok, body(t, jwe))
	if _, err := f.auth.Authenticate(context.Background(), r); !errors.Is(err, entra.ErrExpired) {
		t.Fatalf("past the skew: %v, want ErrExpired", err)
	}
}
