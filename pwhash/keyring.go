package pwhash

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Project-wide secrets.
//
// Some formats hash every password of a site with one secret: a bare HMAC digest read with Options.Format
// "hmac-<alg>" (the key in Options.Digest.Key) and Firebase's scrypt (the project's signer key in
// Options.Firebase). Copying that secret into every user's normalised string would put it in every row of the
// store. Instead, a key the Options hold (their Keyring, Digest.Key, Firebase.SignerKey) is written as its
// fingerprint (KeyID) and resolved through the Options again when the string is read:
//
//	$idshift-hmac$a=sha256,s=before,k=<KeyID>$<salt>$<mac>
//	$idshift-firebase-scrypt$r=8,m=14,k=<KeyID>$<separator>$<salt>$<hash>
//
// Keys the Options do not hold (an Auth0 HMAC object's or a Kratos "$hmac-…$" string's own key, a Kratos
// "$firescrypt$" string read without the project's parameters) stay inline, as the source gave them:
//
//	$idshift-hmac$a=sha256,s=before$<key>$<salt>$<mac>
//	$idshift-firebase-scrypt$r=8,m=14$<signer>$<separator>$<salt>$<hash>
//
// Both forms are read; a fingerprint the Options cannot resolve is ErrMissingKey.

// ErrMissingKey: a normalised hash refers to a project-wide key (by its KeyID) that the Options do not hold.
var ErrMissingKey = errors.New("pwhash: key not in the keyring")

// Keyring resolves the fingerprint of a project-wide secret (a site-wide HMAC key, a Firebase project's signer
// key) to the secret. Implementations must be safe for concurrent use.
type Keyring interface {
	// Key returns the key whose KeyID is id, and whether it is known. The caller does not modify the result.
	Key(id string) (key []byte, ok bool)
}

// Keys is a Keyring held in memory, from fingerprint to key.
type Keys map[string][]byte

// NewKeys returns a Keys holding keys (empty keys are skipped).
func NewKeys(keys ...[]byte) Keys {
	k := make(Keys, len(keys))
	for _, key := range keys {
		if len(key) > 0 {
			k[KeyID(key)] = bytes.Clone(key)
		}
	}
	return k
}

// Key implements Keyring.
func (k Keys) Key(id string) ([]byte, bool) {
	key, ok := k[id]
	return key, ok
}

// KeyID is the fingerprint a normalised hash carries in place of a project-wide key: the unpadded base64url of the
// first 8 bytes of SHA-256("idshift key id" 0x00 key). It names a key without revealing it; a guessable key (a
// short word) is as guessable from its fingerprint as from any of its HMACs, so choose real random keys.
func KeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("idshift key id\x00"))
	h.Write(key)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:8])
}

// validKeyID reports whether id has the shape of a KeyID (11 base64url characters).
func validKeyID(id string) bool {
	if len(id) != 11 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	return err == nil && len(b) == 8
}

// Kinds of key reference, the prefix of KeyRefs's results.
const (
	RefHMAC     = "hmac"     // a site-wide HMAC key (Options.Digest.Key)
	RefFirebase = "firebase" // a Firebase project's signer key (Options.Firebase.SignerKey)
)

// KeyRefs returns the project-wide keys a normalised hash refers to, as "<kind>:<KeyID>" (kind RefHMAC or
// RefFirebase); nil when it refers to none. It only reads the string's shape: it needs no key and checks nothing
// else, so a store can record which keys its credentials need without reading them later.
func KeyRefs(normalized string) []string {
	s := strings.TrimSpace(normalized)
	var kind string
	var n int
	switch {
	case strings.HasPrefix(s, "$idshift-hmac$"):
		kind, n = RefHMAC, 5
	case strings.HasPrefix(s, "$idshift-firebase-scrypt$"):
		kind, n = RefFirebase, 6
	default:
		return nil
	}
	f := strings.Split(s, "$")
	if len(f) != n {
		return nil
	}
	pm, err := params(f[2])
	if err != nil {
		return nil
	}
	id, ok := pm.get("k")
	if !ok || !validKeyID(id) || pm.kv[pm.len()-1][0] != "k" {
		return nil
	}
	return []string{kind + ":" + id}
}

// MissingKeys returns the references of refs (KeyRefs's results) whose key opt does not hold, sorted and without
// duplicates; nil when opt holds every one. A reference of another shape counts as missing.
func (opt Options) MissingKeys(refs []string) []string {
	var out []string
	for _, r := range refs {
		_, id, ok := strings.Cut(r, ":")
		if ok {
			if _, found := opt.key(id); found {
				continue
			}
		}
		out = append(out, r)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// key resolves a fingerprint through the Options: Digest.Key, Firebase.SignerKey, then Keyring.
func (opt *Options) key(id string) ([]byte, bool) {
	if opt.Digest.Key != "" {
		if k, err := decodeText(opt.Digest.Key, opt.Digest.KeyEncoding); err == nil && len(k) > 0 && KeyID(k) == id {
			return k, true
		}
	}
	if opt.Firebase != nil && opt.Firebase.SignerKey != "" {
		if k, err := decodeB64(opt.Firebase.SignerKey); err == nil && len(k) > 0 && KeyID(k) == id {
			return k, true
		}
	}
	if opt.Keyring != nil {
		if k, ok := opt.Keyring.Key(id); ok && len(k) > 0 {
			return k, true
		}
	}
	return nil, false
}

// keyRef returns the fingerprint under which key is written: KeyID(key) when the Options hold that key, "" when
// the key stays inline.
func (opt *Options) keyRef(key []byte) string {
	if opt.Digest.Key == "" && opt.Firebase == nil && opt.Keyring == nil {
		return ""
	}
	id := KeyID(key)
	if k, ok := opt.key(id); ok && bytes.Equal(k, key) {
		return id
	}
	return ""
}

// resolveKey returns the key of a reference read from a normalised string of the given kind.
func (opt *Options) resolveKey(kind, id string) ([]byte, error) {
	if !validKeyID(id) {
		return nil, malformed("%s: key id", kind)
	}
	k, ok := opt.key(id)
	if !ok {
		what := "the site-wide HMAC key (Options.Digest.Key or Options.Keyring; idshift: --hmac-key, $IDSHIFT_HMAC_KEY)"
		if kind == RefFirebase {
			what = "the Firebase project's signer key (Options.Firebase or Options.Keyring; idshift: --firebase-signer-key, $IDSHIFT_FIREBASE_SIGNER_KEY)"
		}
		return nil, fmt.Errorf("%w: %s key id %s: configure %s", ErrMissingKey, kind, id, what)
	}
	return k, nil
}
