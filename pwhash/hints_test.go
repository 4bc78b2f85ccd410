package pwhash_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/scrypt"

	"github.com/idshift/idshift/pwhash"
)

// TestUnknownFormatHints checks that a bare digest's error names --hash-format, without quoting the digest.
func TestUnknownFormatHints(t *testing.T) {
	for _, tt := range []struct {
		raw, want string
	}{
		{"5f4dcc3b5aa765d61d8327deb882cf99", "32-character hex digest (MD5 or NTLM?)"},
		{"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", "40-character hex digest (SHA-1?)"},
		{"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", "64-character hex digest (SHA-256?)"},
		{"XohImNooBHFR0OVvjcYpJ3NgPQ1qq73WKhHvch0VQtg=", "a bare digest cannot be detected"},
	} {
		_, err := pwhash.Normalize(tt.raw, pwhash.Options{})
		if !errors.Is(err, pwhash.ErrUnknownFormat) {
			t.Fatalf("%s: error %v, want ErrUnknownFormat", tt.raw, err)
		}
		if msg := err.Error(); !strings.Contains(msg, tt.want) || !strings.Contains(msg, "--hash-format") || strings.Contains(msg, tt.raw) {
			t.Errorf("%s: %q", tt.raw, msg)
		}
	}
	_, err := pwhash.Normalize("$unknown$abc", pwhash.Options{})
	if err == nil || err.Error() != "pwhash: unknown hash format" {
		t.Errorf("an unknown $-prefixed format: %v", err)
	}
}

// TestScryptLnThatCanOnlyBeN checks that $scrypt$ln=16384 (Ory Kratos writes N, not log2 N) is read as N without
// Options.ScryptLnIsN, and that an ln that is neither names the option.
func TestScryptLnThatCanOnlyBeN(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key, err := scrypt.Key([]byte("correct horse"), salt, 16384, 8, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	kratos := "$scrypt$ln=16384,r=8,p=1$" + b64(salt) + "$" + b64(key)
	passlib := "$scrypt$ln=14,r=8,p=1$" + b64(salt) + "$" + b64(key)
	for _, raw := range []string{kratos, passlib} {
		n, err := pwhash.Normalize(raw, pwhash.Options{})
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		for pw, want := range map[string]bool{"correct horse": true, "correct horsf": false} {
			ok, err := pwhash.Verify(context.Background(), pw, n, pwhash.Options{})
			if err != nil || ok != want {
				t.Errorf("%s: Verify(%q) = %v, %v", raw, pw, ok, err)
			}
		}
	}
	_, err = pwhash.Normalize("$scrypt$ln=10000,r=8,p=1$"+b64(salt)+"$"+b64(key), pwhash.Options{})
	if !errors.Is(err, pwhash.ErrMalformed) || !strings.Contains(err.Error(), "--scrypt-ln-is-n") {
		t.Errorf("ln=10000: %v", err)
	}
}
