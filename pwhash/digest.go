package pwhash

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"

	"golang.org/x/crypto/md4"
	"golang.org/x/crypto/ripemd160" // deprecated for new designs; legacy hashes still use it
)

// digestAlgs are the plain digests salted and HMAC hashes use.
var digestAlgs = map[string]func() hash.Hash{
	"md4":    md4.New,
	"md5":    md5.New,
	"sha1":   sha1.New,
	"sha224": sha256.New224,
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
	// RIPEMD-160: Auth0 accepts it for HMAC and PBKDF2 imports.
	"ripemd160": ripemd160.New,
}

var digestAlgNames = []string{"md4", "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "ripemd160"}

var algSpelling = strings.NewReplacer("-", "", "_", "")

// digestSize returns the output size of a digestAlgs name, 0 for other names (a switch: cheaper than the map).
func digestSize(a string) int {
	switch a {
	case "md4", "md5":
		return 16
	case "sha1", "ripemd160":
		return 20
	case "sha224":
		return 28
	case "sha256":
		return 32
	case "sha384":
		return 48
	case "sha512":
		return 64
	}
	return 0
}

// normAlg maps spellings such as "SHA-256", "sha_256" or "SHA256" to "sha256".
func normAlg(a string) string {
	if digestSize(a) != 0 {
		return a
	}
	a = strings.ToLower(algSpelling.Replace(a))
	if digestSize(a) != 0 {
		return a
	}
	return ""
}

// Salt patterns: where the salt and the password go in the digested message.
const (
	patBefore = "{SALT}{PASSWORD}"
	patAfter  = "{PASSWORD}{SALT}"
)

func position(after bool) string {
	if after {
		return patAfter
	}
	return patBefore
}

// digestHash is a plain digest, or an HMAC, of a message built from a pattern in which {SALT} and {PASSWORD}
// stand for the salt and the password (salt+password by default; the salt may be empty).
type digestHash struct {
	alg  string
	pat  string
	enc  string // password encoding carried by the hash ("" = from Options)
	hmac bool
	key  []byte // HMAC key
	kid  string // the key's KeyID when the Options hold it: written instead of the key
	salt []byte
	sum  []byte
}

func newDigest(c *cfg, alg, pat, enc string, salt, sum []byte) (*digestHash, error) {
	a := normAlg(alg)
	if a == "" {
		return nil, fmt.Errorf("%w: digest %q", ErrUnsupported, truncate(alg))
	}
	if len(sum) != digestSize(a) {
		return nil, malformed("%s: digest length %d", a, len(sum))
	}
	if err := checkSalt(c, salt); err != nil {
		return nil, err
	}
	if len(pat) > c.lim.SaltLen {
		return nil, overLimit("pattern length", len(pat), c.lim.SaltLen)
	}
	if !strings.Contains(pat, "{PASSWORD}") {
		return nil, malformed("pattern without {PASSWORD}")
	}
	if enc != "" {
		if enc = normEncoding(enc); enc == "" {
			return nil, malformed("unknown password encoding")
		}
		if enc == "utf-8" {
			enc = ""
		}
	}
	if len(salt) == 0 && pat == patAfter {
		pat = patBefore
	}
	return &digestHash{alg: a, pat: pat, enc: enc, salt: salt, sum: sum}, nil
}

func newHMAC(c *cfg, alg, pat, enc string, key, salt, sum []byte) (*digestHash, error) {
	h, err := newDigest(c, alg, pat, enc, salt, sum)
	if err != nil {
		return nil, err
	}
	if len(key) == 0 {
		return nil, malformed("hmac: empty key")
	}
	if err := checkSalt(c, key); err != nil {
		return nil, err
	}
	h.hmac, h.key, h.kid = true, key, c.keyRef(key)
	return h, nil
}

func (h *digestHash) passwordEncoding() string { return h.enc }

func (h *digestHash) paramString() string {
	s := "a=" + h.alg
	switch h.pat {
	case patBefore:
		s += ",s=before"
	case patAfter:
		s += ",s=after"
	default:
		s += ",pf=" + b64.EncodeToString([]byte(h.pat))
	}
	if h.enc != "" {
		s += ",e=" + h.enc
	}
	return s
}

func (h *digestHash) String() string {
	if h.hmac && h.kid != "" {
		return "$idshift-hmac$" + h.paramString() + ",k=" + h.kid + "$" + b64.EncodeToString(h.salt) + "$" + b64.EncodeToString(h.sum)
	}
	if h.hmac {
		return "$idshift-hmac$" + h.paramString() + "$" + b64.EncodeToString(h.key) + "$" + b64.EncodeToString(h.salt) + "$" + b64.EncodeToString(h.sum)
	}
	return "$idshift-digest$" + h.paramString() + "$" + b64.EncodeToString(h.salt) + "$" + b64.EncodeToString(h.sum)
}

func (h *digestHash) verify(ctx context.Context, pw []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	// The message is built on the stack when it fits (passwords and salts are short), and digested in one call.
	var buf [256]byte
	var msg []byte
	switch h.pat {
	case patBefore:
		msg = append(append(buf[:0], h.salt...), pw...)
	case patAfter:
		msg = append(append(buf[:0], pw...), h.salt...)
	default:
		msg = append(buf[:0], strings.NewReplacer("{SALT}", string(h.salt), "{PASSWORD}", string(pw)).Replace(h.pat)...)
	}
	var out [64]byte
	var sum []byte
	if h.hmac {
		sum = hmacSum(h.alg, &out, h.key, msg)
	} else {
		sum = digestSum(h.alg, &out, msg)
	}
	return equal(sum, h.sum), nil
}

// digestSum returns the digest alg (a digestAlgs name) of msg, in out.
func digestSum(alg string, out *[64]byte, msg []byte) []byte {
	switch alg {
	case "md5":
		s := md5.Sum(msg)
		return out[:copy(out[:], s[:])]
	case "sha1":
		s := sha1.Sum(msg)
		return out[:copy(out[:], s[:])]
	case "sha224":
		s := sha256.Sum224(msg)
		return out[:copy(out[:], s[:])]
	case "sha256":
		s := sha256.Sum256(msg)
		return out[:copy(out[:], s[:])]
	case "sha384":
		s := sha512.Sum384(msg)
		return out[:copy(out[:], s[:])]
	case "sha512":
		s := sha512.Sum512(msg)
		return out[:copy(out[:], s[:])]
	}
	// md4, ripemd160: through hash.Hash, which would move msg (often on the caller's stack) to the heap; write a
	// copy.
	d := digestAlgs[alg]()
	d.Write(bytes.Clone(msg))
	return out[:copy(out[:], d.Sum(nil))]
}

// hmacSum returns HMAC(key, msg) (RFC 2104) with the digest alg, in out, built on digestSum so that short
// messages need no allocation.
func hmacSum(alg string, out *[64]byte, key, msg []byte) []byte {
	block := 64
	if alg == "sha384" || alg == "sha512" {
		block = 128
	}
	var k [128]byte
	if len(key) > block {
		copy(k[:], digestSum(alg, out, key))
	} else {
		copy(k[:], key)
	}
	var buf [384]byte
	inner := buf[:0]
	for _, b := range k[:block] {
		inner = append(inner, b^0x36)
	}
	innerSum := digestSum(alg, out, append(inner, msg...))
	outer := buf[:0]
	for _, b := range k[:block] {
		outer = append(outer, b^0x5c)
	}
	return digestSum(alg, out, append(outer, innerSum...))
}

// parseCanonicalDigestParams reads "a=…,s=before|after|pf=<base64 pattern>[,e=…]", and the key's KeyID "k=…" at
// the end when withKey is set (the HMAC form whose key is in the keyring).
func parseCanonicalDigestParams(s string, withKey bool) (alg, pat, enc, kid string, err error) {
	pm, err := params(s)
	if err != nil {
		return "", "", "", "", err
	}
	alg = pm.val("a")
	n := 2
	if withKey {
		var ok bool
		if kid, ok = pm.get("k"); !ok || kid == "" || pm.kv[pm.len()-1][0] != "k" {
			return "", "", "", "", malformed("want k=<key id> last")
		}
		n++
	}
	if e, ok := pm.get("e"); ok {
		n++
		if e == "" {
			return "", "", "", "", malformed("empty e")
		}
		enc = e
	}
	if pos, ok := pm.get("s"); ok {
		switch pos {
		case "before":
			pat = patBefore
		case "after":
			pat = patAfter
		default:
			return "", "", "", "", malformed("s")
		}
	} else if pf, ok := pm.get("pf"); ok {
		b, err := b64Strict.DecodeString(pf)
		if err != nil || len(b) == 0 {
			return "", "", "", "", malformed("pf")
		}
		pat = string(b)
		if pat == patBefore || pat == patAfter {
			return "", "", "", "", malformed("pf for a plain position")
		}
	}
	if pm.len() != n || alg == "" || pat == "" {
		return "", "", "", "", malformed("want a=…,s=before|after|pf=…[,e=…]")
	}
	return alg, pat, enc, kid, nil
}

// parseDigestCanonical reads "$idshift-digest$a=sha256,s=before[,e=…]$salt$digest".
func parseDigestCanonical(s string, c *cfg) (hasher, error) {
	var f [5]string
	if splitInto(f[:], s, '$') != len(f) || f[0] != "" {
		return nil, malformed("digest: want $idshift-digest$a=…,s=…$salt$digest")
	}
	alg, pat, enc, _, err := parseCanonicalDigestParams(f[2], false)
	if err != nil {
		return nil, err
	}
	var bs [2][]byte
	switch decodeB64Fields(bs[:], f[3:]) {
	case 0:
		return nil, malformed("digest: salt encoding")
	case 1:
		return nil, malformed("digest: digest encoding")
	}
	return newDigest(c, alg, pat, enc, bs[0], bs[1])
}

// parseHMACCanonical reads "$idshift-hmac$a=sha256,s=before[,e=…],k=<key id>$salt$mac", whose key is resolved
// through the Options (see Keyring), and the inline form "$idshift-hmac$a=sha256,s=before[,e=…]$key$salt$mac".
func parseHMACCanonical(s string, c *cfg) (hasher, error) {
	var f [6]string
	switch splitInto(f[:], s, '$') {
	case 5:
		if f[0] != "" {
			break
		}
		alg, pat, enc, kid, err := parseCanonicalDigestParams(f[2], true)
		if err != nil {
			return nil, err
		}
		var bs [2][]byte
		if i := decodeB64Fields(bs[:], f[3:5]); i >= 0 {
			return nil, malformed("hmac: field %d encoding", i+2)
		}
		key, err := c.resolveKey(RefHMAC, kid)
		if err != nil {
			return nil, err
		}
		return newHMAC(c, alg, pat, enc, key, bs[0], bs[1])
	case 6:
		if f[0] != "" {
			break
		}
		alg, pat, enc, _, err := parseCanonicalDigestParams(f[2], false)
		if err != nil {
			return nil, err
		}
		var bs [3][]byte
		if i := decodeB64Fields(bs[:], f[3:]); i >= 0 {
			return nil, malformed("hmac: field %d encoding", i+1)
		}
		return newHMAC(c, alg, pat, enc, bs[0], bs[1], bs[2])
	}
	return nil, malformed("hmac: want $idshift-hmac$a=…,s=…,k=…$salt$mac or $idshift-hmac$a=…,s=…$key$salt$mac")
}

// ---- LDAP RFC 2307 ----

var ldapDigests = map[string]struct {
	alg    string
	salted bool
}{
	"MD5": {"md5", false}, "SMD5": {"md5", true},
	"SHA": {"sha1", false}, "SSHA": {"sha1", true},
	"SHA256": {"sha256", false}, "SSHA256": {"sha256", true},
	"SHA384": {"sha384", false}, "SSHA384": {"sha384", true},
	"SHA512": {"sha512", false}, "SSHA512": {"sha512", true},
}

// parseLDAP reads "{SCHEME}value" (RFC 2307 and OpenLDAP's contrib schemes).
func parseLDAP(s string, c *cfg) (hasher, error) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return nil, malformed("ldap: want {SCHEME}value")
	}
	scheme, rest := strings.ToUpper(s[1:end]), s[end+1:]
	if d, ok := ldapDigests[scheme]; ok {
		size := digestSize(d.alg)
		if !d.salted && isHexDigest(rest, size) {
			// Hex instead of base64 (passlib's ldap_hex_md5 and ldap_hex_sha1, some directory tools): a digest in
			// hex is twice its size, which base64 of the digest never is.
			b, _ := hex.DecodeString(rest)
			return newDigest(c, d.alg, patAfter, "", nil, b)
		}
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, malformed("ldap: base64")
		}
		if len(b) < size || (!d.salted && len(b) != size) {
			return nil, malformed("ldap: digest length")
		}
		return newDigest(c, d.alg, patAfter, "", b[size:], b[:size])
	}
	switch {
	case scheme == "CRYPT":
		switch {
		case strings.HasPrefix(rest, "$1$"), strings.HasPrefix(rest, "$apr1$"):
			return parseMD5Crypt(rest, c)
		case strings.HasPrefix(rest, "$5$"), strings.HasPrefix(rest, "$6$"):
			return parseShaCrypt(rest, c)
		case strings.HasPrefix(rest, "$y$"):
			return parseYescrypt(rest, c)
		case isBcrypt(rest):
			return parseBcrypt(rest, c)
		case len(rest) == 13 || strings.HasPrefix(rest, "_"):
			return parseDESCrypt(rest, c)
		}
		return nil, fmt.Errorf("%w: {CRYPT} scheme", ErrUnsupported)
	case strings.HasPrefix(scheme, "PBKDF2"):
		return parseLDAPPBKDF2(scheme, rest, c)
	case scheme == "ARGON2":
		// OpenLDAP's argon2 module (contrib/slapd-modules/passwd/argon2): the PHC string behind the scheme.
		if !strings.HasPrefix(rest, "$argon2") {
			return nil, malformed("ldap: {ARGON2} without an argon2 PHC string")
		}
		return parseArgon2(rest, c)
	}
	return nil, fmt.Errorf("%w: LDAP scheme", ErrUnsupported)
}

// ---- Django digests ----

// parseDjangoDigest reads "sha1$salt$hex", "md5$salt$hex", "unsalted_md5$$hex" and "unsalted_sha1$$hex".
func parseDjangoDigest(s string, c *cfg) (hasher, error) {
	f := strings.Split(s, "$")
	if len(f) != 3 {
		return nil, malformed("django digest: want algorithm$salt$hex")
	}
	alg := strings.TrimPrefix(f[0], "unsalted_")
	if alg != f[0] && f[1] != "" {
		return nil, malformed("django digest: unsalted with a salt")
	}
	sum, err := hex.DecodeString(f[2])
	if err != nil {
		return nil, malformed("django digest: hex")
	}
	return newDigest(c, alg, patBefore, "", []byte(f[1]), sum)
}

// ---- bare digests, named by Options.Format ----

func forcedFormats() []string {
	var out []string
	for _, a := range digestAlgNames {
		out = append(out, a, a+"-salted", "hmac-"+a)
	}
	return out
}

// parseForced reads a bare digest ("digest" or "digest<sep>salt") as Options.Format and Options.Digest say.
func parseForced(raw string, c *cfg) (hasher, error) {
	f := strings.ToLower(c.Format)
	isHMAC := strings.HasPrefix(f, "hmac-")
	salted := strings.HasSuffix(f, "-salted")
	alg := normAlg(strings.TrimSuffix(strings.TrimPrefix(f, "hmac-"), "-salted"))
	if alg == "" {
		return nil, fmt.Errorf("%w: Options.Format %q", ErrUnknownFormat, truncate(c.Format))
	}
	p := c.Digest
	sep := p.Separator
	if sep == "" {
		sep = ":"
	}
	sumText, saltText, hasSalt := strings.Cut(raw, sep)
	if salted && (!hasSalt || saltText == "") {
		return nil, malformed("%s: no salt after %q", f, sep)
	}
	var sum []byte
	var err error
	switch strings.ToLower(p.HashEncoding) {
	case "", "hex":
		sum, err = hex.DecodeString(sumText)
	case "base64", "b64":
		sum, err = decodeB64(sumText)
	default:
		return nil, malformed("unknown hash encoding")
	}
	if err != nil {
		return nil, malformed("%s: digest encoding", f)
	}
	salt, err := decodeText(saltText, p.SaltEncoding)
	if err != nil {
		return nil, malformed("%s: salt encoding", f)
	}
	var after bool
	switch strings.ToLower(p.SaltPosition) {
	case "", "before", "prefix":
	case "after", "suffix", "postfix":
		after = true
	default:
		return nil, malformed("salt position")
	}
	if isHMAC {
		key, err := decodeText(p.Key, p.KeyEncoding)
		if err != nil {
			return nil, malformed("hmac: key encoding")
		}
		return newHMAC(c, alg, position(after), "", key, salt, sum)
	}
	return newDigest(c, alg, position(after), "", salt, sum)
}

// ---- Ory Kratos's digest strings ----

// isKratosDigest recognises "$md5$…", "$sha1$…", "$sha256$…", "$sha512$…" (and sha224, sha384).
func isKratosDigest(s string) bool {
	if len(s) < 2 || s[0] != '$' {
		return false
	}
	alg, _, ok := strings.Cut(s[1:], "$")
	return ok && alg != "md4" && digestAlgs[alg] != nil
}

// parseKratosDigest reads Kratos's "$<alg>$<base64 digest>" and "$<alg>$pf=<base64 pattern>$<base64 salt>$<base64
// digest>", where the pattern holds {SALT} and {PASSWORD}.
func parseKratosDigest(s string, c *cfg) (hasher, error) {
	f := strings.Split(s, "$")
	switch {
	case len(f) == 3:
		sum, err := decodeB64(f[2])
		if err != nil {
			return nil, malformed("digest encoding")
		}
		return newDigest(c, f[1], patBefore, "", nil, sum)
	case len(f) == 5 && strings.HasPrefix(f[2], "pf="):
		pat, err := decodeB64(strings.TrimPrefix(f[2], "pf="))
		if err != nil {
			return nil, malformed("pattern encoding")
		}
		salt, err := decodeB64(f[3])
		if err != nil {
			return nil, malformed("salt encoding")
		}
		sum, err := decodeB64(f[4])
		if err != nil {
			return nil, malformed("digest encoding")
		}
		return newDigest(c, f[1], string(pat), "", salt, sum)
	}
	return nil, malformed("want $<alg>$<digest> or $<alg>$pf=<pattern>$<salt>$<digest>")
}

// parseKratosHMAC reads Kratos's "$hmac-<alg>$<base64 of the hex HMAC>$<base64 key>": HMAC(key, password).
func parseKratosHMAC(s string, c *cfg) (hasher, error) {
	f := strings.Split(s, "$")
	if len(f) != 4 || f[0] != "" {
		return nil, malformed("want $hmac-<alg>$<mac>$<key>")
	}
	hexSum, err := decodeB64(f[2])
	if err != nil {
		return nil, malformed("mac encoding")
	}
	sum, err := hex.DecodeString(string(hexSum))
	if err != nil {
		return nil, malformed("mac is not hex")
	}
	key, err := decodeB64(f[3])
	if err != nil {
		return nil, malformed("key encoding")
	}
	return newHMAC(c, strings.TrimPrefix(f[1], "hmac-"), patBefore, "", key, nil, sum)
}
