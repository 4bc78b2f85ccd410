package entra_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/idshift/idshift/jit/entra"
)

// FuzzContextPlaintext: the decrypted plaintext is untrusted (anyone with the public certificate can encrypt to
// it). Parsing never panics; it either yields a nonce and a password, or a BadContext error that does not quote
// the plaintext.
func FuzzContextPlaintext(f *testing.F) {
	jwt, _ := entra.UnsignedJWT(map[string]any{"nonce": "n", "user-password": "p", "username": "u", "exp": 1})
	for _, s := range []string{
		jwt,
		`{"nonce":"n","user-password":"p"}`,
		`{"nonce":"n"}`,
		`{"nonce":1,"user-password":"p"}`,
		`eyJhbGciOiJIUzI1NiJ9.e30.c2ln`,
		`eyJhbGciOiJub25lIn0.e30.`,
		`..`, `{`, `[]`, `null`, ``,
		`{"nonce":"n","user-password":"p","aud":["a",1],"exp":"x"}`,
		`{"nonce":"n","user-password":"p","exp":1e308}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		pc, err := entra.ParseContextPlaintext(plain)
		if err == nil {
			if pc.Nonce == "" || pc.Password.Empty() {
				t.Fatalf("accepted without nonce or password: %q", plain)
			}
			return
		}
		if !errors.Is(err, entra.ErrBadContext) {
			t.Fatalf("error of the wrong kind: %v", err)
		}
		if len(plain) > 16 && strings.Contains(err.Error(), string(plain)) {
			t.Fatalf("error quotes the plaintext: %v", err)
		}
	})
}

// FuzzDecrypt: the compact JWE itself is untrusted. Decrypt never panics and only ever returns BadContext
// errors; a mutated JWE never yields a context (authenticated encryption).
func FuzzDecrypt(f *testing.F) {
	fx := newFixture(f)
	d, err := entra.NewDecrypter(entra.ContextConfig{Keys: []*entra.KeyPair{fx.dec1, fx.dec2}, Now: fx.clock})
	if err != nil {
		f.Fatal(err)
	}
	good := fx.context(f, nil)
	f.Add(good)
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("a.b.c.d.e")
	f.Add("")
	f.Fuzz(func(t *testing.T, jwe string) {
		pc, err := d.Decrypt(jwe)
		if err != nil {
			if !errors.Is(err, entra.ErrBadContext) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		if jwe != good && strings.TrimSpace(jwe) != good {
			// A different string that still decrypts must be a different encoding of the same JWE (go-jose is
			// strict about base64, so this should not happen); the plaintext must in any case be intact.
			if pc.Password.Reveal() != password || pc.Nonce != nonce {
				t.Fatalf("mutated JWE decrypted to a different context")
			}
		}
	})
}

// BenchmarkAuthenticate measures one callout end to end with RSA-2048 keys: bearer-token check (RS256 verify),
// body read and decode, JWE decryption (RSA-OAEP unwrap, A128CBC-HS256, inflate) and the plaintext checks.
func BenchmarkAuthenticate(b *testing.B) {
	f := newFixture(b)
	tok := f.token(b, nil)
	bd := body(b, f.context(b, nil))
	ctx := context.Background()
	if err := f.auth.Tokens().Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, _ := request(tok, bd)
		if _, err := f.auth.Authenticate(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
