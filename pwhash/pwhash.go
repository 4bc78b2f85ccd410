// Package pwhash reads the password hashes of legacy identity systems: it detects a hash's format, normalises it
// into one self-describing string, caps its cost parameters and verifies a password against it.
//
// Every hash imported from a legacy system is untrusted input: Normalize rejects a hash whose cost parameters pass
// the Limits before it reaches the store, and Verify applies the same Limits again before any key derivation, so one
// hostile hash cannot stall the service.
//
// The normalised forms are standard strings where one exists ("$2b$…", PHC strings "$argon2id$…" and
// "$pbkdf2-sha256$i=…,l=…$…", crypt(3) "$6$…" and DES "ab…", phpass "$P$…") and "$idshift-…$" strings for formats
// with no standard string of their own (salted and HMAC digests, scrypt, Firebase's scrypt). docs/hashes.md lists
// them.
package pwhash

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Errors returned (wrapped) by Normalize and Verify. Their messages name the parameter at fault and never contain
// the hash or the password.
var (
	// ErrUnknownFormat: the string is not a hash format this package knows (or it needs Options.Format).
	ErrUnknownFormat = errors.New("pwhash: unknown hash format")
	// ErrMalformed: the format is known but the string does not parse.
	ErrMalformed = errors.New("pwhash: malformed hash")
	// ErrOverLimit: a cost parameter is past Options.Limits.
	ErrOverLimit = errors.New("pwhash: cost over limit")
	// ErrUnsupported: a known variant this package cannot verify (e.g. argon2 version 0x10).
	ErrUnsupported = errors.New("pwhash: unsupported hash variant")
)

// Limits caps the cost parameters of untrusted hashes. A zero field takes its default (shown in brackets).
type Limits struct {
	BcryptCost       int    // bcrypt cost, log2 rounds [14]
	ScryptN          int    // scrypt N [1<<20]
	ScryptR          int    // scrypt r [32]
	ScryptP          int    // scrypt p [16]
	ScryptNR         int    // scrypt N*r, i.e. memory/128 bytes [1<<21 = 256 MiB]
	ArgonMemoryKiB   uint32 // argon2 m [262144 = 256 MiB]
	ArgonTime        uint32 // argon2 t [10]
	ArgonThreads     uint8  // argon2 p [16]
	PBKDF2Iterations int    // PBKDF2 iterations times output blocks [2,000,000]
	ShaCryptRounds   int    // sha-crypt rounds= [1,000,000]
	DESCryptRounds   int    // BSDi extended DES crypt count (DES encryptions) [1<<20]
	PhpassLog2       int    // phpass/Drupal log2 iterations [20]
	KeyLen           int    // derived key / digest length in bytes [256]
	SaltLen          int    // salt length in bytes [1024]
	InputLen         int    // raw hash string length in bytes, JSON objects included [16384]
}

// DefaultLimits are the limits used for every zero field of Limits.
var DefaultLimits = Limits{
	BcryptCost:       14,
	ScryptN:          1 << 20,
	ScryptR:          32,
	ScryptP:          16,
	ScryptNR:         1 << 21,
	ArgonMemoryKiB:   256 * 1024,
	ArgonTime:        10,
	ArgonThreads:     16,
	PBKDF2Iterations: 2_000_000,
	ShaCryptRounds:   1_000_000,
	DESCryptRounds:   1 << 20,
	PhpassLog2:       20,
	KeyLen:           256,
	SaltLen:          1024,
	InputLen:         16384,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	setInt := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	setInt(&l.BcryptCost, d.BcryptCost)
	setInt(&l.ScryptN, d.ScryptN)
	setInt(&l.ScryptR, d.ScryptR)
	setInt(&l.ScryptP, d.ScryptP)
	setInt(&l.ScryptNR, d.ScryptNR)
	setInt(&l.PBKDF2Iterations, d.PBKDF2Iterations)
	setInt(&l.ShaCryptRounds, d.ShaCryptRounds)
	setInt(&l.DESCryptRounds, d.DESCryptRounds)
	setInt(&l.PhpassLog2, d.PhpassLog2)
	setInt(&l.KeyLen, d.KeyLen)
	setInt(&l.SaltLen, d.SaltLen)
	setInt(&l.InputLen, d.InputLen)
	if l.ArgonMemoryKiB == 0 {
		l.ArgonMemoryKiB = d.ArgonMemoryKiB
	}
	if l.ArgonTime == 0 {
		l.ArgonTime = d.ArgonTime
	}
	if l.ArgonThreads == 0 {
		l.ArgonThreads = d.ArgonThreads
	}
	return l
}

// Options tune how raw hashes are read. The zero value reads every self-describing format with DefaultLimits and
// UTF-8 passwords.
type Options struct {
	Limits Limits
	// ScryptLnIsN reads "$scrypt$ln=…" as Ory Kratos writes it (ln is N itself) instead of passlib's log2 N. It
	// applies to raw "$scrypt$" strings only: the normalised form "$idshift-scrypt$" always carries log2 N.
	ScryptLnIsN bool
	// Encoding of the password bytes the legacy system hashed: "utf-8" (default), "latin1" or "utf-16le". An
	// encoding carried by the normalised hash itself (e=… in "$idshift-digest$") wins.
	Encoding string
	// Firebase holds the project's hash parameters, needed to read a Firebase user ({"passwordHash","salt"}).
	Firebase *FirebaseParams
	// Format forces a format when detection cannot tell, for bare digests: "md5", "sha1", "sha256", "sha384",
	// "sha512", "md4" (digest alone, or digest, Digest.Separator, salt), "<alg>-salted" (same, salt required) and
	// "hmac-<alg>" (key in Digest.Key). Self-describing strings ignore it.
	Format string
	// Digest describes bare digests read with Format.
	Digest DigestParams
	// Keyring holds project-wide keys (site-wide HMAC keys, Firebase signer keys) besides Digest.Key and
	// Firebase.SignerKey: a normalised hash names such a key by its KeyID instead of carrying it (see Keyring).
	Keyring Keyring
}

// DigestParams describe a bare digest string read with Options.Format.
type DigestParams struct {
	// SaltPosition is where the salt was joined to the password: "before" (salt+password, default) or "after".
	SaltPosition string
	// SaltEncoding of the salt text: "utf8" (its bytes as they are, default), "hex" or "base64".
	SaltEncoding string
	// HashEncoding of the digest: "hex" (default) or "base64".
	HashEncoding string
	// Separator between digest and salt in the raw string [":"].
	Separator string
	// Key and KeyEncoding ("utf8" default, "hex", "base64") of an HMAC.
	Key, KeyEncoding string
}

// FirebaseParams are a Firebase project's password hash parameters, as the console shows them.
type FirebaseParams struct {
	SignerKey     string `json:"signerKey"`     // base64
	SaltSeparator string `json:"saltSeparator"` // base64
	Rounds        int    `json:"rounds"`
	MemCost       int    `json:"memCost"`
}

// hasher is one parsed hash.
type hasher interface {
	// String returns the normalised form.
	String() string
	// verify compares pw (already in the hash's password encoding) in constant time.
	verify(ctx context.Context, pw []byte) (bool, error)
}

// encodingCarrier is a hasher whose normalised form names its password encoding.
type encodingCarrier interface{ passwordEncoding() string }

// format is one entry of the ordered format table.
type format struct {
	name  string
	is    func(s string) bool
	parse func(s string, c *cfg) (hasher, error)
}

// cfg is Options with defaults filled in.
type cfg struct {
	Options
	lim Limits
}

// cfgs recycles cfgs: verifying a single salted digest takes a few hundred nanoseconds, and allocating the cfg was
// a fair share of it. A cfg is used only during the Normalize or Verify call that took it (no hasher outlives the
// call), then cleared and put back.
var cfgs = sync.Pool{New: func() any { return new(cfg) }}

func getCfg(opt Options) *cfg {
	c := cfgs.Get().(*cfg)
	c.Options, c.lim = opt, opt.Limits.withDefaults()
	return c
}

func putCfg(c *cfg) {
	*c = cfg{}
	cfgs.Put(c)
}

// isJSONObject tells a JSON object ("{" then a key or "}") from an LDAP "{SCHEME}" string.
func isJSONObject(s string) bool {
	if !strings.HasPrefix(s, "{") {
		return false
	}
	t := strings.TrimLeft(s[1:], " \t\r\n")
	return strings.HasPrefix(t, "\"") || strings.HasPrefix(t, "}")
}

func prefix(p string) func(string) bool {
	return func(s string) bool { return strings.HasPrefix(s, p) }
}

// renamed parses a string written under another prefix (from) as the standard format whose prefix is to; the
// normalised form is the standard one.
func renamed(from, to string, parse func(string, *cfg) (hasher, error)) func(string, *cfg) (hasher, error) {
	return func(s string, c *cfg) (hasher, error) { return parse(to+strings.TrimPrefix(s, from), c) }
}

// formats is the ordered table of self-describing formats: the first whose is matches parses the string.
var formats = []format{
	{"json", isJSONObject, parseJSON},
	{"idshift-wrap", prefix("$idshift-wrap$"), parseWrap},
	{"wordpress-bcrypt", prefix("$wp$2"), parseWordPress},
	{"bcrypt", isBcrypt, parseBcrypt},
	{"argon2", prefix("$argon2"), parseArgon2},
	{"scrypt", prefix("$scrypt$"), parseScrypt},
	{"idshift-scrypt", prefix("$idshift-scrypt$"), parseScrypt},
	{"firebase-scrypt", prefix("$idshift-firebase-scrypt$"), parseFirebaseCanonical},
	{"pbkdf2", prefix("$pbkdf2"), parsePBKDF2},
	{"md5-crypt", prefix("$1$"), parseMD5Crypt},
	{"apr1", prefix("$apr1$"), parseMD5Crypt},
	{"sha256-crypt", prefix("$5$"), parseShaCrypt},
	{"sha512-crypt", prefix("$6$"), parseShaCrypt},
	{"yescrypt", prefix("$y$"), parseYescrypt},
	// Ory Kratos writes the same crypt(3) strings under its own names.
	{"kratos-md5-crypt", prefix("$md5-crypt$"), renamed("$md5-crypt$", "$1$", parseMD5Crypt)},
	{"kratos-sha256-crypt", prefix("$sha256-crypt$"), renamed("$sha256-crypt$", "$5$", parseShaCrypt)},
	{"kratos-sha512-crypt", prefix("$sha512-crypt$"), renamed("$sha512-crypt$", "$6$", parseShaCrypt)},
	{"phpass", func(s string) bool { return strings.HasPrefix(s, "$P$") || strings.HasPrefix(s, "$H$") }, parsePhpass},
	{"drupal-sha512", prefix("$S$"), parsePhpass},
	{"drupal-upgraded", prefix("U$"), parsePhpass},
	{"firescrypt", prefix("$firescrypt$"), parseKratosFirescrypt},
	{"firebasescrypt", prefix("$firebasescrypt$"), parseKratosFirescrypt},
	{"digest", prefix("$idshift-digest$"), parseDigestCanonical},
	{"kratos-hmac", prefix("$hmac-"), parseKratosHMAC},
	{"kratos-digest", isKratosDigest, parseKratosDigest},
	{"hmac", prefix("$idshift-hmac$"), parseHMACCanonical},
	{"spring", isSpring, parseSpring},
	{"ldap", prefix("{"), parseLDAP},
	{"werkzeug", isWerkzeug, parseWerkzeug},
	{"django-pbkdf2", func(s string) bool { return strings.HasPrefix(s, "pbkdf2_sha") }, parseDjangoPBKDF2},
	{"django-bcrypt-sha256", prefix("bcrypt_sha256$"), parseDjangoBcryptSHA256},
	{"django-bcrypt", prefix("bcrypt$"), parseDjangoBcrypt},
	{"django-argon2", prefix("argon2$"), parseDjangoArgon2},
	{"django-scrypt", prefix("scrypt$"), parseDjangoScrypt},
	{"django-sha1", prefix("sha1$"), parseDjangoDigest},
	{"django-md5", prefix("md5$"), parseDjangoDigest},
	{"django-unsalted-md5", prefix("unsalted_md5$"), parseDjangoDigest},
	{"django-unsalted-sha1", prefix("unsalted_sha1$"), parseDjangoDigest},
	{"django-crypt", prefix("crypt$"), parseDjangoCrypt},
	{"aspnet-identity", isASPNet, parseASPNet},
	{"des-crypt", func(s string) bool { return len(s) == 13 && isDESCrypt(s) }, parseDESCrypt},
	{"bsdi-crypt", func(s string) bool { return len(s) == 20 && isDESCrypt(s) }, parseDESCrypt},
}

// Formats returns the names Detect can return, and the names Options.Format accepts, sorted.
func Formats() []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, f := range formats {
		if f.name == "json" {
			for _, n := range []string{"keycloak", "auth0", "okta", "firebase"} {
				add(n)
			}
			continue
		}
		add(f.name)
	}
	for _, n := range forcedFormats() {
		add(n)
	}
	sort.Strings(out)
	return out
}

// Detect names the format of raw without checking that it parses. JSON objects are named by their shape
// (keycloak, auth0, okta, firebase); bare digests are never detected (they need Options.Format).
func Detect(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	for _, f := range formats {
		if !f.is(raw) {
			continue
		}
		if f.name == "json" {
			n, ok := detectJSON(raw)
			return n, ok
		}
		if f.name == "idshift-scrypt" {
			return "scrypt", true
		}
		return f.name, true
	}
	return "", false
}

// parse detects, parses and cap-checks raw.
func parse(raw string, c *cfg) (hasher, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if len(raw) > c.lim.InputLen {
		return nil, fmt.Errorf("%w: input length %d > %d", ErrOverLimit, len(raw), c.lim.InputLen)
	}
	if c.Format != "" && !isJSONObject(raw) {
		if _, ok := Detect(raw); !ok {
			return parseForced(raw, c)
		}
	}
	for _, f := range formats {
		if f.is(raw) {
			h, err := f.parse(raw, c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.name, err)
			}
			return h, nil
		}
	}
	return nil, unknownFormat(raw)
}

// bareDigests names the plain digests of each hex length, for the hint of unknownFormat.
var bareDigests = map[int]string{32: "MD5 or NTLM", 40: "SHA-1", 56: "SHA-224", 64: "SHA-256", 96: "SHA-384", 128: "SHA-512"}

// unknownFormat returns ErrUnknownFormat, with a hint when raw looks like a bare digest, which cannot be detected
// and needs Options.Format (the --hash-format flag of idshift). The hint gives raw's length, never raw.
func unknownFormat(raw string) error {
	hexOnly, b64 := true, true
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		isHex := c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
		hexOnly = hexOnly && isHex
		b64 = b64 && (isHex || c >= 'g' && c <= 'z' || c >= 'G' && c <= 'Z' || c == '+' || c == '/' || c == '=' || c == ':')
	}
	switch {
	case hexOnly && bareDigests[len(raw)] != "":
		return fmt.Errorf("%w: a bare %d-character hex digest (%s?) cannot be detected: set Options.Format (--hash-format, see docs/hashes.md)",
			ErrUnknownFormat, len(raw), bareDigests[len(raw)])
	case hexOnly || b64 && len(raw) >= 16:
		return fmt.Errorf("%w: a bare digest cannot be detected: set Options.Format (--hash-format, see docs/hashes.md)", ErrUnknownFormat)
	}
	return ErrUnknownFormat
}

// Normalize detects raw's format, parses it, checks its cost against opt.Limits and returns its normalised form.
// Normalize is idempotent: Normalize(Normalize(x)) == Normalize(x) under the same Options. Errors wrap
// ErrUnknownFormat, ErrMalformed, ErrOverLimit or ErrUnsupported; they never contain raw.
func Normalize(raw string, opt Options) (string, error) {
	c := getCfg(opt)
	defer putCfg(c)
	h, err := parse(raw, c)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// Verify checks password against a hash (normally the output of Normalize; raw hashes are read the same way).
// It returns true, nil on a match; false, nil when the password does not match; false and an error when it could
// not decide (unknown or malformed hash, cost over the limits, ctx done). The comparison is constant-time and ctx
// is checked before each key derivation.
func Verify(ctx context.Context, password, normalized string, opt Options) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c := getCfg(opt)
	defer putCfg(c)
	h, err := parse(normalized, c)
	if err != nil {
		return false, err
	}
	return verifyWith(ctx, h, hashEncoding(h, c), password)
}

// Hash is a parsed hash whose cost passed the caps. A service that checks many passwords against the same hashes
// (retries, or a cache of recent users) keeps Hashes and does not read the strings again. A Hash is immutable and
// safe for concurrent use.
type Hash struct {
	h   hasher
	enc string // password encoding
}

// Parse reads a hash as Verify does (detection, parsing, caps) and returns it ready to verify passwords. Errors are
// Normalize's.
func Parse(raw string, opt Options) (*Hash, error) {
	c := getCfg(opt)
	defer putCfg(c)
	h, err := parse(raw, c)
	if err != nil {
		return nil, err
	}
	return &Hash{h: h, enc: hashEncoding(h, c)}, nil
}

// String returns the normalised form (Normalize's result).
func (h *Hash) String() string { return h.h.String() }

// Verify checks password against h, with the outcomes of the package's Verify.
func (h *Hash) Verify(ctx context.Context, password string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return verifyWith(ctx, h.h, h.enc, password)
}

// hashEncoding is the password encoding for h: the one its normalised form carries, else Options.Encoding.
func hashEncoding(h hasher, c *cfg) string {
	if ec, ok := h.(encodingCarrier); ok && ec.passwordEncoding() != "" {
		return ec.passwordEncoding()
	}
	return c.Encoding
}

func verifyWith(ctx context.Context, h hasher, enc, password string) (bool, error) {
	pw, ok, err := encodePassword(password, enc)
	if err != nil {
		return false, err
	}
	if !ok {
		// The password has characters the legacy encoding cannot hold: it cannot be the one that was hashed.
		return false, nil
	}
	return h.verify(ctx, pw)
}

func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

func overLimit(name string, got, max int) error {
	return fmt.Errorf("%w: %s %d > %d", ErrOverLimit, name, got, max)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
