package pwhash_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/idshift/idshift/pwhash"
)

var rawB64 = base64.RawStdEncoding

func hmacHex(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func wantVerify(t *testing.T, hash string, opt pwhash.Options, password string, want bool) {
	t.Helper()
	ok, err := pwhash.Verify(context.Background(), password, hash, opt)
	if err != nil || ok != want {
		t.Fatalf("Verify(%q) = %v, %v; want %v, nil", password, ok, err, want)
	}
}

func TestKeyID(t *testing.T) {
	a, b := pwhash.KeyID([]byte("key one")), pwhash.KeyID([]byte("key two"))
	if len(a) != 11 || a == b || a != pwhash.KeyID([]byte("key one")) {
		t.Fatalf("KeyID: %q, %q", a, b)
	}
	if strings.ContainsAny(a, "$,=+/") {
		t.Errorf("KeyID %q has characters the normalised forms use", a)
	}
	k := pwhash.NewKeys([]byte("key one"), nil, []byte{})
	if got, ok := k.Key(a); !ok || string(got) != "key one" || len(k) != 1 {
		t.Errorf("NewKeys: %v, %v, %d keys", got, ok, len(k))
	}
	if _, ok := k.Key(b); ok {
		t.Error("Keys resolves a key it does not hold")
	}
}

// A site-wide HMAC key given in the Options is written as its fingerprint and resolved again at verification.
func TestHMACKeyByReference(t *testing.T) {
	const key, salt, password = "site-wide pepper 7f3a", "s4lt", "correct horse"
	raw := hmacHex(key, salt+password) + ":" + salt
	opt := pwhash.Options{Format: "hmac-sha256", Digest: pwhash.DigestParams{Key: key}}
	norm, err := pwhash.Normalize(raw, opt)
	if err != nil {
		t.Fatal(err)
	}
	id := pwhash.KeyID([]byte(key))
	if want := "$idshift-hmac$a=sha256,s=before,k=" + id + "$"; !strings.HasPrefix(norm, want) {
		t.Fatalf("Normalize = %q, want prefix %q", norm, want)
	}
	for _, leak := range []string{key, rawB64.EncodeToString([]byte(key)), base64.StdEncoding.EncodeToString([]byte(key)), hex.EncodeToString([]byte(key))} {
		if strings.Contains(norm, leak) {
			t.Fatalf("normalised form carries the key (%q)", leak)
		}
	}
	if got := pwhash.KeyRefs(norm); !slices.Equal(got, []string{"hmac:" + id}) {
		t.Errorf("KeyRefs = %q", got)
	}
	if again, err := pwhash.Normalize(norm, opt); err != nil || again != norm {
		t.Errorf("Normalize(normalised) = %q, %v; want it unchanged", again, err)
	}
	wantVerify(t, norm, opt, password, true)
	wantVerify(t, norm, opt, password+"x", false)

	// The key from a Keyring alone (as a service holds it), not from the import's options.
	ring := pwhash.Options{Keyring: pwhash.NewKeys([]byte(key))}
	wantVerify(t, norm, ring, password, true)
	wantVerify(t, norm, ring, "wrong", false)
	if h, err := pwhash.Parse(norm, ring); err != nil || h.String() != norm {
		t.Errorf("Parse with the keyring: %v", err)
	}
	if m := ring.MissingKeys(pwhash.KeyRefs(norm)); m != nil {
		t.Errorf("MissingKeys with the key = %q", m)
	}

	// Without the key: a clear error naming the fingerprint, never a silent mismatch.
	for name, o := range map[string]pwhash.Options{
		"no key":         {},
		"another key":    {Keyring: pwhash.NewKeys([]byte("another key"))},
		"another pepper": {Digest: pwhash.DigestParams{Key: "other"}},
	} {
		t.Run(name, func(t *testing.T) {
			ok, err := pwhash.Verify(context.Background(), password, norm, o)
			if ok || !errors.Is(err, pwhash.ErrMissingKey) {
				t.Fatalf("Verify = %v, %v; want ErrMissingKey", ok, err)
			}
			if !strings.Contains(err.Error(), id) || strings.Contains(err.Error(), key) {
				t.Errorf("error %q should name the key id and not the key", err)
			}
			if _, err := pwhash.Parse(norm, o); !errors.Is(err, pwhash.ErrMissingKey) {
				t.Errorf("Parse: err = %v, want ErrMissingKey", err)
			}
			if m := o.MissingKeys(pwhash.KeyRefs(norm)); !slices.Equal(m, []string{"hmac:" + id}) {
				t.Errorf("MissingKeys = %q", m)
			}
		})
	}

	// A fingerprint of another key, swapped in, is missing too; one of the wrong shape is malformed.
	other := strings.Replace(norm, id, pwhash.KeyID([]byte("other")), 1)
	if _, err := pwhash.Verify(context.Background(), password, other, opt); !errors.Is(err, pwhash.ErrMissingKey) {
		t.Errorf("swapped key id: err = %v, want ErrMissingKey", err)
	}
	for _, bad := range []string{
		strings.Replace(norm, id, id[:10], 1),
		strings.Replace(norm, id, id+"A", 1),
		strings.Replace(norm, "a=sha256,s=before,k="+id, "k="+id+",a=sha256,s=before", 1),
		strings.Replace(norm, ",k="+id, ",k=", 1),
	} {
		if _, err := pwhash.Verify(context.Background(), password, bad, opt); !errors.Is(err, pwhash.ErrMalformed) {
			t.Errorf("Verify(%q): err = %v, want ErrMalformed", bad, err)
		}
		if refs := pwhash.KeyRefs(bad); refs != nil {
			t.Errorf("KeyRefs(%q) = %q, want nil", bad, refs)
		}
	}
}

// Stores written before keys were referenced hold the key inline: still read, and rewritten by reference when the
// Options hold the key.
func TestHMACInlineFormStillRead(t *testing.T) {
	const key, salt, password = "old pepper", "NaCl", "hunter2"
	mac, _ := hex.DecodeString(hmacHex(key, salt+password))
	inline := "$idshift-hmac$a=sha256,s=before$" + rawB64.EncodeToString([]byte(key)) + "$" + rawB64.EncodeToString([]byte(salt)) + "$" + rawB64.EncodeToString(mac)
	wantVerify(t, inline, pwhash.Options{}, password, true)
	wantVerify(t, inline, pwhash.Options{}, password+"!", false)
	if pwhash.KeyRefs(inline) != nil {
		t.Error("KeyRefs of an inline key is not nil")
	}
	if n, err := pwhash.Normalize(inline, pwhash.Options{}); err != nil || n != inline {
		t.Errorf("Normalize without the key = %q, %v; want it unchanged", n, err)
	}
	opt := pwhash.Options{Keyring: pwhash.NewKeys([]byte(key))}
	n, err := pwhash.Normalize(inline, opt)
	if err != nil || !strings.Contains(n, ",k="+pwhash.KeyID([]byte(key))+"$") {
		t.Fatalf("Normalize with the key = %q, %v; want the reference form", n, err)
	}
	wantVerify(t, n, opt, password, true)
}

// Keys the source carries in each record stay inline (sealed with the row by the store), unless configured.
func TestPerRecordKeysStayInline(t *testing.T) {
	const key, password = "per-user key", "s3cret"
	kratos := "$hmac-sha256$" + base64.StdEncoding.EncodeToString([]byte(hmacHex(key, password))) + "$" + base64.StdEncoding.EncodeToString([]byte(key))
	auth0 := `{"algorithm":"hmac","hash":{"value":"` + hmacHex(key, password) + `","encoding":"hex","digest":"sha256","key":{"value":"` + key + `","encoding":"utf8"}}}`
	for name, raw := range map[string]string{"kratos": kratos, "auth0": auth0} {
		t.Run(name, func(t *testing.T) {
			norm, err := pwhash.Normalize(raw, pwhash.Options{Digest: pwhash.DigestParams{Key: "the site's other key"}})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(norm, "$"+rawB64.EncodeToString([]byte(key))+"$") || pwhash.KeyRefs(norm) != nil {
				t.Fatalf("Normalize = %q: want the record's key inline", norm)
			}
			wantVerify(t, norm, pwhash.Options{}, password, true)
			wantVerify(t, norm, pwhash.Options{}, "nope", false)
		})
	}
}

// The Firebase project's signer key is written as its fingerprint; the Kratos string carrying it inline is
// rewritten by reference when the project's parameters are configured.
func TestFirebaseSignerByReference(t *testing.T) {
	if testing.Short() {
		t.Skip("scrypt N=2^14")
	}
	const signer = "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="
	fb := &pwhash.FirebaseParams{SignerKey: signer, SaltSeparator: "Bw==", Rounds: 8, MemCost: 14}
	opt := pwhash.Options{Firebase: fb}
	user := `{"passwordHash":"lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==","salt":"42xEC+ixf3L2lw=="}`
	norm, err := pwhash.Normalize(user, opt)
	if err != nil {
		t.Fatal(err)
	}
	signerBytes, _ := base64.StdEncoding.DecodeString(signer)
	id := pwhash.KeyID(signerBytes)
	if !strings.HasPrefix(norm, "$idshift-firebase-scrypt$r=8,m=14,k="+id+"$") || strings.Contains(norm, rawB64.EncodeToString(signerBytes)) {
		t.Fatalf("Normalize = %q: want the signer key by reference", norm)
	}
	if got := pwhash.KeyRefs(norm); !slices.Equal(got, []string{"firebase:" + id}) {
		t.Errorf("KeyRefs = %q", got)
	}
	if again, err := pwhash.Normalize(norm, opt); err != nil || again != norm {
		t.Errorf("Normalize(normalised) = %q, %v", again, err)
	}
	ring := pwhash.Options{Keyring: pwhash.NewKeys(signerBytes)}
	wantVerify(t, norm, ring, "user1password", true)
	wantVerify(t, norm, opt, "user1password!", false)
	if _, err := pwhash.Verify(context.Background(), "user1password", norm, pwhash.Options{}); !errors.Is(err, pwhash.ErrMissingKey) || !strings.Contains(err.Error(), "firebase") {
		t.Errorf("Verify without the signer key: err = %v, want ErrMissingKey naming firebase", err)
	}

	// Kratos's $firebasescrypt$ carries the signer key: inline without the project's parameters, by reference with.
	kratos := "$firebasescrypt$ln=14,r=8$42xEC+ixf3L2lw==$NohHtJ2FmkEqzefZ0IHnOlqTzFN8n6vXXd0EW2OIGuUh4rcwvVh7XVRDVs5yOrueoudRPIoimS6jIwf4pMW3rg==$$" + signer
	inline, err := pwhash.Normalize(kratos, pwhash.Options{})
	if err != nil || pwhash.KeyRefs(inline) != nil || !strings.Contains(inline, rawB64.EncodeToString(signerBytes)) {
		t.Fatalf("Normalize without parameters = %q, %v: want the signer inline", inline, err)
	}
	wantVerify(t, inline, pwhash.Options{}, "user1password", true)
	byRef, err := pwhash.Normalize(kratos, ring)
	if err != nil || !slices.Equal(pwhash.KeyRefs(byRef), []string{"firebase:" + id}) {
		t.Fatalf("Normalize with the key = %q, %v", byRef, err)
	}
	wantVerify(t, byRef, ring, "user1password", true)
}
