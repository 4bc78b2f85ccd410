package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/idshift/idshift"
)

// KeySize is the size of a store key: AES-256.
const KeySize = 32

// Environment variables read by LoadKey.
const (
	EnvKey     = "IDSHIFT_STORE_KEY"
	EnvKeyFile = "IDSHIFT_STORE_KEY_FILE"
)

// Layout of a sealed blob: version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext and GCM tag.
const (
	sealVersion = 1
	headerSize  = 1 + 4
	nonceSize   = 12
	overhead    = headerSize + nonceSize + 16
)

// ErrSealed is returned (wrapped, with code EINTERNAL) when a sealed credential is read by a store without a key,
// with another key, or when a blob fails authentication; and when an unsealed one is read by a store with a key.
var ErrSealed = errors.New("store: credential sealing mismatch")

// Errors of opening a store with the wrong key, or none (see CheckKey). Both wrap ErrSealed.
var (
	// ErrKeyRequired: the store's credentials are sealed (or the store is bound to a key) and no key is configured.
	ErrKeyRequired = fmt.Errorf("%w: the store is sealed and no store key is configured", ErrSealed)
	// ErrWrongKey: the store is bound to another key than the configured one.
	ErrWrongKey = fmt.Errorf("%w: the store is sealed with another key", ErrSealed)
)

// MetaKeyID is the name, in a store's meta table, of the id of the key the store is bound to: the first key it was
// opened with. A store never holds credentials sealed with two keys.
const MetaKeyID = "key_id"

// KeyIDString is the form of a key id in a store's meta table and in errors: 8 hex digits.
func KeyIDString(id uint32) string { return fmt.Sprintf("%08x", id) }

// CheckKey applies, at Open, the policy of the package documentation to a store opened with c (nil: no key).
// recorded is the key id in the store's meta table ("" when none); sealed reports whether the store holds a sealed
// credential and sealedID is the key id of one of them (stores written before the meta table existed record none).
// It returns the id the store is bound to (bound, "" when none) and bind=true when the store should record c's id
// as its own. Opening with another key than the store's is ErrWrongKey (wrapped, EINVALID, naming key ids only).
// Opening a bound store without a key is allowed, but the store must then refuse to write credentials
// (KeyRequired) and refuses to read them (OpenCredential).
func CheckKey(c *Cipher, recorded string, sealed bool, sealedID uint32) (bound string, bind bool, err error) {
	bound = recorded
	if bound == "" && sealed {
		bound = KeyIDString(sealedID)
	}
	switch {
	case c == nil:
		return bound, false, nil
	case bound != "" && bound != KeyIDString(c.id):
		return bound, false, &idshift.Error{Code: idshift.EINVALID, Field: EnvKey, Err: ErrWrongKey,
			Message: fmt.Sprintf("the store's credentials are sealed with key id %s, the configured key is %s: configure the store's own key (a store never mixes two keys)", bound, KeyIDString(c.id))}
	}
	return KeyIDString(c.id), recorded == "", nil
}

// KeyRequired is the error of writing credentials to a store bound to the key id bound, opened without a key:
// ErrKeyRequired (wrapped, EINVALID, naming the key id).
func KeyRequired(bound string) error {
	return &idshift.Error{Code: idshift.EINVALID, Field: EnvKey, Err: ErrKeyRequired,
		Message: fmt.Sprintf("the store's credentials are sealed with key id %s and no store key is configured (set %s or %s)", bound, EnvKey, EnvKeyFile)}
}

// BlobKeyID returns the key id a sealed blob carries, and whether it has the shape of one.
func BlobKeyID(blob []byte) (uint32, bool) {
	if len(blob) < overhead || blob[0] != sealVersion {
		return 0, false
	}
	return binary.BigEndian.Uint32(blob[1:headerSize]), true
}

// Cipher seals credentials with AES-256-GCM. Each blob carries a fresh random 96-bit nonce, the format version and
// the key id, and is bound to its record key (additional authenticated data), so that a blob copied onto another
// user's row fails to open. A nil *Cipher means "no key": Seal and Open must not be called on it. It is safe for
// concurrent use.
type Cipher struct {
	aead cipher.AEAD
	id   uint32
}

// NewCipher returns a Cipher for a 32-byte key.
func NewCipher(key []byte) (*Cipher, error) {
	if len(key) != KeySize {
		return nil, idshift.Invalid("key", "store key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: key: %w", err)
	}
	return &Cipher{aead: aead, id: KeyID(key)}, nil
}

// KeyID is the public fingerprint of a key that sealed blobs carry: the first 4 bytes of a domain-separated
// SHA-256 of the key. It tells "sealed with another key" apart from "tampered with"; it reveals nothing useful
// about the key.
func KeyID(key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte("idshift store key id\x00"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// ID returns the key id of c.
func (c *Cipher) ID() uint32 { return c.id }

// Seal encrypts plaintext for the record k.
func (c *Cipher) Seal(k idshift.Key, plaintext []byte) ([]byte, error) {
	out := make([]byte, headerSize+nonceSize, overhead+len(plaintext))
	out[0] = sealVersion
	binary.BigEndian.PutUint32(out[1:headerSize], c.id)
	if _, err := rand.Read(out[headerSize:]); err != nil {
		return nil, fmt.Errorf("store: nonce: %w", err)
	}
	return c.aead.Seal(out, out[headerSize:], plaintext, aad(out[:headerSize], k)), nil
}

// Open decrypts a blob sealed for the record k. Errors wrap ErrSealed and never quote the blob.
func (c *Cipher) Open(k idshift.Key, blob []byte) ([]byte, error) {
	if len(blob) < overhead || blob[0] != sealVersion {
		return nil, sealErr("credential of %q/%q is not a sealed blob of version %d", k.Source, k.LegacyID, sealVersion)
	}
	if id := binary.BigEndian.Uint32(blob[1:headerSize]); id != c.id {
		return nil, sealErr("credential of %q/%q was sealed with key id %08x, the configured key is %08x", k.Source, k.LegacyID, id, c.id)
	}
	pt, err := c.aead.Open(nil, blob[headerSize:headerSize+nonceSize], blob[headerSize+nonceSize:], aad(blob[:headerSize], k))
	if err != nil {
		return nil, sealErr("credential of %q/%q failed authentication (tampered with, or moved from another record)", k.Source, k.LegacyID)
	}
	return pt, nil
}

func sealErr(format string, args ...any) error {
	return &idshift.Error{Code: idshift.EINTERNAL, Message: fmt.Sprintf(format, args...), Err: ErrSealed}
}

// aad binds a blob to its header and record key; lengths are prefixed so that no two keys share an encoding.
func aad(header []byte, k idshift.Key) []byte {
	b := make([]byte, 0, len(header)+32+len(k.Source)+len(k.LegacyID))
	b = append(b, "idshift credential\x00"...)
	b = append(b, header...)
	b = binary.AppendUvarint(b, uint64(len(k.Source)))
	b = append(b, k.Source...)
	b = binary.AppendUvarint(b, uint64(len(k.LegacyID)))
	return append(b, k.LegacyID...)
}

// SealCredential encodes cred for the record k and seals it when c is not nil. sealed reports whether it did.
func SealCredential(c *Cipher, k idshift.Key, cred idshift.Credential) (blob []byte, sealed bool, err error) {
	b, err := MarshalCredential(cred)
	if err != nil {
		return nil, false, err
	}
	if c == nil {
		return b, false, nil
	}
	blob, err = c.Seal(k, b)
	clear(b)
	return blob, err == nil, err
}

// OpenCredential reverses SealCredential, applying the policy of the package documentation: a sealed blob needs
// the key; an unsealed one is refused when a key is configured.
func OpenCredential(c *Cipher, k idshift.Key, blob []byte, sealed bool) (idshift.Credential, error) {
	switch {
	case sealed && c == nil:
		return idshift.Credential{}, sealErr("credential of %q/%q is sealed and no store key is configured (set %s or %s)", k.Source, k.LegacyID, EnvKey, EnvKeyFile)
	case !sealed && c != nil:
		return idshift.Credential{}, sealErr("credential of %q/%q is stored unsealed but a store key is configured (reopen the store with the key to migrate it)", k.Source, k.LegacyID)
	case !sealed:
		return UnmarshalCredential(blob)
	}
	pt, err := c.Open(k, blob)
	if err != nil {
		return idshift.Credential{}, err
	}
	defer clear(pt)
	return UnmarshalCredential(pt)
}

// LoadKey reads the store key from the environment through getenv (os.Getenv in production): IDSHIFT_STORE_KEY
// holds the base64 (standard or URL alphabet, padded or not) of 32 random bytes; IDSHIFT_STORE_KEY_FILE names a
// file holding the same. Setting both is an error. It returns nil, nil when neither is set: credentials are then
// stored unsealed (see the package documentation for the risk). Errors name the variable, never the key.
func LoadKey(getenv func(string) string) ([]byte, error) {
	v, file := getenv(EnvKey), getenv(EnvKeyFile)
	switch {
	case v != "" && file != "":
		return nil, idshift.Invalid(EnvKey, "set either %s or %s, not both", EnvKey, EnvKeyFile)
	case v != "":
		return decodeKey(EnvKey, v)
	case file != "":
		return readKeyFile(EnvKeyFile, file)
	}
	return nil, nil
}

// PrivateMode is the mode of the files that hold secrets: state files and key files.
const PrivateMode fs.FileMode = 0o600

// ReadKeyFile reads a key file: the base64 of 32 bytes, as GenerateKeyFile writes it. Errors name the file, never
// the key.
func ReadKeyFile(path string) ([]byte, error) { return readKeyFile("key file "+path, path) }

func readKeyFile(name, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &idshift.Error{Code: idshift.EINVALID, Field: name, Message: "cannot read the key file", Err: err}
	}
	defer clear(b)
	return decodeKey(name, string(b))
}

// GenerateKeyFile writes a new random key to path (which must not exist), mode 0600 whatever the umask, and
// returns it. The file holds the key's base64 and a newline, the form LoadKey and ReadKeyFile read.
func GenerateKeyFile(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, PrivateMode)
	if err != nil {
		return nil, fmt.Errorf("store: create key file: %w", err)
	}
	text := []byte(base64.StdEncoding.EncodeToString(key) + "\n")
	defer clear(text)
	err = f.Chmod(PrivateMode)
	if err == nil {
		_, err = f.Write(text)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("store: write key file %s: %w", path, err)
	}
	return key, nil
}

// Private makes an existing file private to its owner (PrivateMode) when group or others may read or write it.
// It reports whether it changed the mode; a missing file is not an error (false, nil).
func Private(path string) (tightened bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return false, nil
	}
	if err := os.Chmod(path, PrivateMode); err != nil {
		return false, err
	}
	return true, nil
}

func decodeKey(name, s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimRight(s, "=")
	var key []byte
	var err error
	if strings.ContainsAny(s, "-_") {
		key, err = base64.RawURLEncoding.DecodeString(s)
	} else {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, idshift.Invalid(name, "store key is not valid base64")
	}
	if len(key) != KeySize {
		n := len(key)
		clear(key)
		return nil, idshift.Invalid(name, "store key must be the base64 of %d bytes, got %d bytes (generate one with: openssl rand -base64 32)", KeySize, n)
	}
	return key, nil
}
