package store_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store"
)

var (
	testKey  = bytes.Repeat([]byte{7}, store.KeySize)
	otherKey = bytes.Repeat([]byte{8}, store.KeySize)
	alice    = idshift.Key{Source: "db", LegacyID: "alice"}
)

func newCipher(t testing.TB, key []byte) *store.Cipher {
	t.Helper()
	c, err := store.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCipherRoundTrip(t *testing.T) {
	c := newCipher(t, testKey)
	pt := []byte(`{"kind":"hash","hash":"$2b$10$secret"}`)
	a, err := c.Seal(alice, pt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Seal(alice, pt)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) || bytes.Equal(a[5:17], b[5:17]) {
		t.Error("two seals of the same value share a nonce")
	}
	if bytes.Contains(a, []byte("secret")) {
		t.Error("sealed blob holds the plaintext")
	}
	if len(a) != len(pt)+1+4+12+16 {
		t.Errorf("blob length %d, want %d", len(a), len(pt)+33)
	}
	got, err := c.Open(alice, a)
	if err != nil || !bytes.Equal(got, pt) {
		t.Errorf("Open = %q, %v", got, err)
	}
}

func TestCipherRefuses(t *testing.T) {
	c := newCipher(t, testKey)
	blob, err := c.Seal(alice, []byte("secret value"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(blob)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name   string
		cipher *store.Cipher
		key    idshift.Key
		blob   []byte
		msg    string
	}{
		{"moved to another user", c, idshift.Key{Source: "db", LegacyID: "bob"}, blob, "failed authentication"},
		{"moved to another source", c, idshift.Key{Source: "ldap", LegacyID: "alice"}, blob, "failed authentication"},
		{"key boundary shifted", c, idshift.Key{Source: "dba", LegacyID: "lice"}, blob, "failed authentication"},
		{"another key", newCipher(t, otherKey), alice, blob, "sealed with key id"},
		{"version", c, alice, flip(0), "not a sealed blob"},
		{"key id", c, alice, flip(2), "sealed with key id"},
		{"nonce", c, alice, flip(6), "failed authentication"},
		{"ciphertext", c, alice, flip(20), "failed authentication"},
		{"tag", c, alice, flip(len(blob) - 1), "failed authentication"},
		{"truncated", c, alice, blob[:20], "not a sealed blob"},
		{"empty", c, alice, nil, "not a sealed blob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cipher.Open(tt.key, tt.blob)
			if !errors.Is(err, store.ErrSealed) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want ErrSealed saying %q", err, tt.msg)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error reveals the plaintext")
			}
		})
	}
}

func TestNewCipherKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := store.NewCipher(make([]byte, n)); idshift.ErrorCode(err) != idshift.EINVALID {
			t.Errorf("NewCipher(%d bytes): err = %v, want EINVALID", n, err)
		}
	}
}

func TestCredentialPolicy(t *testing.T) {
	c := newCipher(t, testKey)
	cred := idshift.Credential{Kind: idshift.CredentialPlaintext, Password: "hunter2"}
	sealedBlob, sealed, err := store.SealCredential(c, alice, cred)
	if err != nil || !sealed {
		t.Fatalf("SealCredential = %v, %v", sealed, err)
	}
	plainBlob, sealed, err := store.SealCredential(nil, alice, cred)
	if err != nil || sealed {
		t.Fatalf("SealCredential without key = %v, %v", sealed, err)
	}
	tests := []struct {
		name   string
		cipher *store.Cipher
		blob   []byte
		sealed bool
		ok     bool
	}{
		{"sealed with key", c, sealedBlob, true, true},
		{"unsealed without key", nil, plainBlob, false, true},
		{"sealed without key", nil, sealedBlob, true, false},
		{"unsealed with key", c, plainBlob, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := store.OpenCredential(tt.cipher, alice, tt.blob, tt.sealed)
			if tt.ok {
				if err != nil || !reflect.DeepEqual(got, cred) {
					t.Errorf("OpenCredential = %v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, store.ErrSealed) || idshift.ErrorCode(err) != idshift.EINTERNAL {
				t.Errorf("err = %v, want ErrSealed", err)
			}
		})
	}
	if _, _, err := store.SealCredential(c, alice, idshift.Credential{Kind: "weird"}); idshift.ErrorCode(err) != idshift.EINVALID {
		t.Errorf("unknown kind: err = %v, want EINVALID", err)
	}
	_, err = store.UnmarshalCredential([]byte(`{"kind":"hash","hash":"topsecret`))
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("UnmarshalCredential of a broken value: %v", err)
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	std := base64.StdEncoding.EncodeToString(testKey)
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(std+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shortFile := filepath.Join(dir, "short")
	if err := os.WriteFile(shortFile, []byte(base64.StdEncoding.EncodeToString(testKey[:16])), 0o600); err != nil {
		t.Fatal(err)
	}
	urlKey := bytes.Repeat([]byte{0xfb, 0xff}, 16) // encodes with '-' and '_' in the URL alphabet
	tests := []struct {
		name  string
		env   map[string]string
		want  []byte
		field string // of the EINVALID error; "" for success
	}{
		{"none", nil, nil, ""},
		{"env std", map[string]string{store.EnvKey: std}, testKey, ""},
		{"env raw std", map[string]string{store.EnvKey: strings.TrimRight(std, "=")}, testKey, ""},
		{"env url", map[string]string{store.EnvKey: base64.URLEncoding.EncodeToString(urlKey)}, urlKey, ""},
		{"env spaces", map[string]string{store.EnvKey: "  " + std + "\n"}, testKey, ""},
		{"file", map[string]string{store.EnvKeyFile: keyFile}, testKey, ""},
		{"both", map[string]string{store.EnvKey: std, store.EnvKeyFile: keyFile}, nil, store.EnvKey},
		{"env not base64", map[string]string{store.EnvKey: "not*base64!"}, nil, store.EnvKey},
		{"env short", map[string]string{store.EnvKey: base64.StdEncoding.EncodeToString(testKey[:31])}, nil, store.EnvKey},
		{"env long", map[string]string{store.EnvKey: base64.StdEncoding.EncodeToString(append(testKey, 1))}, nil, store.EnvKey},
		{"file short", map[string]string{store.EnvKeyFile: shortFile}, nil, store.EnvKeyFile},
		{"file missing", map[string]string{store.EnvKeyFile: filepath.Join(dir, "absent")}, nil, store.EnvKeyFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := store.LoadKey(func(k string) string { return tt.env[k] })
			if tt.field == "" {
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Errorf("LoadKey = %x, %v; want %x", got, err, tt.want)
				}
				return
			}
			var e *idshift.Error
			if !errors.As(err, &e) || e.Code != idshift.EINVALID || e.Field != tt.field {
				t.Fatalf("err = %v, want EINVALID naming %s", err, tt.field)
			}
			if strings.Contains(err.Error(), std[:10]) {
				t.Errorf("error reveals the key: %v", err)
			}
		})
	}
}

func FuzzCipherOpen(f *testing.F) {
	c := newCipher(f, testKey)
	blob, _ := c.Seal(alice, []byte(`{"kind":"hash","hash":"x"}`))
	f.Add(blob, "db", "alice")
	f.Add([]byte{1, 2, 3}, "", "x")
	f.Fuzz(func(t *testing.T, blob []byte, source, id string) {
		k := idshift.Key{Source: source, LegacyID: id}
		pt, err := c.Open(k, blob)
		if err != nil {
			if !errors.Is(err, store.ErrSealed) {
				t.Fatalf("Open error %v is not ErrSealed", err)
			}
			return
		}
		// Whatever opens must have been sealed by this key for this record: resealing round-trips.
		again, err := c.Seal(k, pt)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.Open(k, again); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("reseal round trip: %v", err)
		}
	})
}
