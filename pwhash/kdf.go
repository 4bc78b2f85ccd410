package pwhash

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"math/bits"
	"strconv"
	"strings"

	xargon2 "github.com/go-crypt/x/argon2"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/scrypt"
)

// minKeyLen is the shortest derived key accepted from formats whose key length varies: shorter ones are
// truncated hashes more likely than real ones.
const minKeyLen = 16

// ---- argon2 ----

type argon2Hash struct {
	variant    string // argon2id, argon2i, argon2d
	version    uint32 // 0x13 or 0x10
	m, t       uint32
	p          uint8
	salt, hash []byte
}

// parseArgon2 reads the PHC string "$argon2id$v=19$m=…,t=…,p=…$salt$hash"; without v= the version is 0x10.
func parseArgon2(s string, c *cfg) (hasher, error) {
	f := strings.Split(s, "$")
	version := 0x13
	if len(f) == 5 && f[0] == "" && strings.HasPrefix(f[2], "m=") {
		f = append(f[:2], append([]string{"v=16"}, f[2:]...)...)
	}
	if len(f) != 6 || f[0] != "" {
		return nil, malformed("argon2: want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	variant := f[1]
	switch variant {
	case "argon2id", "argon2i", "argon2d":
	default:
		return nil, malformed("argon2: variant")
	}
	switch f[2] {
	case "v=19":
	case "v=16":
		version = 0x10
	default:
		if strings.HasPrefix(f[2], "v=") {
			return nil, fmt.Errorf("%w: argon2 version %s (16 or 19)", ErrUnsupported, truncate(strings.TrimPrefix(f[2], "v=")))
		}
		return nil, malformed("argon2: version")
	}
	pm, err := params(f[3])
	if err != nil {
		return nil, err
	}
	if pm.len() != 3 {
		return nil, malformed("argon2: want exactly m, t, p")
	}
	m, err := atoi("argon2 m", pm.val("m"))
	if err != nil {
		return nil, err
	}
	t, err := atoi("argon2 t", pm.val("t"))
	if err != nil {
		return nil, err
	}
	p, err := atoi("argon2 p", pm.val("p"))
	if err != nil {
		return nil, err
	}
	salt, err := decodeB64(f[4])
	if err != nil {
		return nil, malformed("argon2: salt encoding")
	}
	key, err := decodeB64(f[5])
	if err != nil {
		return nil, malformed("argon2: hash encoding")
	}
	return newArgon2(c, variant, uint32(version), m, t, p, salt, key)
}

func newArgon2(c *cfg, variant string, version uint32, m, t, p int, salt, key []byte) (hasher, error) {
	switch {
	case t < 1:
		return nil, malformed("argon2: t < 1")
	case p < 1 || p > 255:
		return nil, malformed("argon2: p out of range")
	case m < 8*p:
		return nil, malformed("argon2: m < 8*p")
	case uint64(m) > uint64(c.lim.ArgonMemoryKiB):
		return nil, overLimit("argon2 m (KiB)", m, int(c.lim.ArgonMemoryKiB))
	case uint64(t) > uint64(c.lim.ArgonTime):
		return nil, overLimit("argon2 t", t, int(c.lim.ArgonTime))
	case p > int(c.lim.ArgonThreads):
		return nil, overLimit("argon2 p", p, int(c.lim.ArgonThreads))
	case len(salt) < 8:
		return nil, malformed("argon2: salt shorter than 8 bytes")
	case len(key) < 4:
		return nil, malformed("argon2: hash shorter than 4 bytes")
	}
	if err := checkSalt(c, salt); err != nil {
		return nil, err
	}
	if err := checkKey(c, key); err != nil {
		return nil, err
	}
	return &argon2Hash{variant: variant, version: version, m: uint32(m), t: uint32(t), p: uint8(p), salt: salt, hash: key}, nil
}

func (h *argon2Hash) String() string {
	return fmt.Sprintf("$%s$v=%d$m=%d,t=%d,p=%d$%s$%s", h.variant, h.version, h.m, h.t, h.p, b64.EncodeToString(h.salt), b64.EncodeToString(h.hash))
}

func (h *argon2Hash) verify(ctx context.Context, pw []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var k []byte
	switch {
	case h.version == 0x13 && h.variant == "argon2i":
		k = argon2.Key(pw, h.salt, h.t, h.m, h.p, uint32(len(h.hash)))
	case h.version == 0x13 && h.variant == "argon2id":
		k = argon2.IDKey(pw, h.salt, h.t, h.m, h.p, uint32(len(h.hash)))
	case h.version == 0x13 && h.variant == "argon2d":
		k = xargon2.DKey(pw, h.salt, h.t, h.m, uint32(h.p), uint32(len(h.hash)))
	default:
		mode := map[string]int{"argon2d": argonD, "argon2i": argonI, "argon2id": argonID}[h.variant]
		k = argon2Key(mode, h.version, pw, h.salt, h.t, h.m, h.p, uint32(len(h.hash)))
	}
	return equal(k, h.hash), nil
}

// parseDjangoArgon2 reads Django's "argon2$argon2id$v=19$…".
func parseDjangoArgon2(s string, c *cfg) (hasher, error) {
	return parseArgon2(strings.TrimPrefix(s, "argon2"), c)
}

// ---- scrypt ----

type scryptHash struct {
	ln, r, p   int
	salt, hash []byte
}

// parseScrypt reads passlib's "$scrypt$ln=…,r=…,p=…$salt$hash" (ln = log2 N; Kratos's N with ScryptLnIsN) and the
// normalised "$idshift-scrypt$ln=…,r=…,p=…$salt$hash" (always log2 N).
func parseScrypt(s string, c *cfg) (hasher, error) {
	f := strings.Split(s, "$")
	if len(f) != 5 || f[0] != "" {
		return nil, malformed("scrypt: want $scrypt$ln=…,r=…,p=…$salt$hash")
	}
	pm, err := params(f[2])
	if err != nil {
		return nil, err
	}
	canonical := f[1] == "idshift-scrypt"
	want := 3
	if canonical {
		want = 4
	}
	if pm.len() != want {
		return nil, malformed("scrypt: want exactly ln, r, p (and l in the normalised form)")
	}
	ln, err := atoi("scrypt ln", pm.val("ln"))
	if err != nil {
		return nil, err
	}
	switch {
	case f[1] == "scrypt" && c.ScryptLnIsN:
		if ln < 2 || ln&(ln-1) != 0 {
			return nil, malformed("scrypt: N must be a power of two > 1")
		}
		ln = bits.TrailingZeros(uint(ln))
	case f[1] == "scrypt" && ln > 62 && ln&(ln-1) == 0:
		// Too large to be log2 N, and a power of two: only Ory Kratos's spelling (ln is N) can mean this.
		ln = bits.TrailingZeros(uint(ln))
	case f[1] == "scrypt" && ln > 62:
		return nil, malformed("scrypt: ln=%d is neither log2 N nor a power of two; if the hashes come from Ory Kratos (ln is N), set Options.ScryptLnIsN (--scrypt-ln-is-n)", ln)
	}
	r, err := atoi("scrypt r", pm.val("r"))
	if err != nil {
		return nil, err
	}
	p, err := atoi("scrypt p", pm.val("p"))
	if err != nil {
		return nil, err
	}
	salt, err := decodeB64(f[3])
	if err != nil {
		return nil, malformed("scrypt: salt encoding")
	}
	key, err := decodeB64(f[4])
	if err != nil {
		return nil, malformed("scrypt: hash encoding")
	}
	if canonical {
		l, err := atoi("scrypt l", pm.val("l"))
		if err != nil {
			return nil, err
		}
		if l != len(key) {
			return nil, malformed("scrypt: l differs from the hash length")
		}
	}
	return newScrypt(c, ln, r, p, salt, key)
}

func checkScrypt(c *cfg, ln, r, p int) error {
	switch {
	case ln < 1 || ln > 62:
		return malformed("scrypt: log2 N out of range")
	case r < 1 || p < 1:
		return malformed("scrypt: r and p must be positive")
	case ln >= 31 || 1<<ln > c.lim.ScryptN:
		return fmt.Errorf("%w: scrypt N 2^%d > %d", ErrOverLimit, ln, c.lim.ScryptN)
	case r > c.lim.ScryptR:
		return overLimit("scrypt r", r, c.lim.ScryptR)
	case p > c.lim.ScryptP:
		return overLimit("scrypt p", p, c.lim.ScryptP)
	case (1<<ln)*r > c.lim.ScryptNR:
		return overLimit("scrypt N*r", (1<<ln)*r, c.lim.ScryptNR)
	}
	return nil
}

func newScrypt(c *cfg, ln, r, p int, salt, key []byte) (hasher, error) {
	if err := checkScrypt(c, ln, r, p); err != nil {
		return nil, err
	}
	if err := checkSalt(c, salt); err != nil {
		return nil, err
	}
	if err := checkKey(c, key); err != nil {
		return nil, err
	}
	if len(key) < minKeyLen {
		return nil, malformed("scrypt: hash shorter than %d bytes", minKeyLen)
	}
	return &scryptHash{ln: ln, r: r, p: p, salt: salt, hash: key}, nil
}

func (h *scryptHash) String() string {
	return fmt.Sprintf("$idshift-scrypt$ln=%d,r=%d,p=%d,l=%d$%s$%s", h.ln, h.r, h.p, len(h.hash), b64.EncodeToString(h.salt), b64.EncodeToString(h.hash))
}

func (h *scryptHash) verify(ctx context.Context, pw []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	k, err := scrypt.Key(pw, h.salt, 1<<h.ln, h.r, h.p, len(h.hash))
	if err != nil {
		return false, malformed("scrypt: %v", err)
	}
	return equal(k, h.hash), nil
}

// parseDjangoScrypt reads Django's "scrypt$N$salt$r$p$hash" (salt is text, hash standard base64).
func parseDjangoScrypt(s string, c *cfg) (hasher, error) {
	f := strings.Split(s, "$")
	if len(f) != 6 {
		return nil, malformed("django scrypt: want scrypt$N$salt$r$p$hash")
	}
	n, err := atoi("scrypt N", f[1])
	if err != nil {
		return nil, err
	}
	if n < 2 || n&(n-1) != 0 {
		return nil, malformed("scrypt: N must be a power of two > 1")
	}
	r, err := atoi("scrypt r", f[3])
	if err != nil {
		return nil, err
	}
	p, err := atoi("scrypt p", f[4])
	if err != nil {
		return nil, err
	}
	key, err := decodeB64(f[5])
	if err != nil {
		return nil, malformed("django scrypt: hash encoding")
	}
	if len(key) != 64 {
		return nil, malformed("django scrypt: hash length")
	}
	return newScrypt(c, bits.TrailingZeros(uint(n)), r, p, []byte(f[2]), key)
}

// ---- Firebase scrypt ----

// firebaseHash is Firebase's modified scrypt: key = scrypt(password, salt+separator, N=2^memCost, r=rounds, p=1),
// hash = AES-256-CTR(key[:32], iv 0) applied to the project's signer key.
type firebaseHash struct {
	rounds, memCost         int
	signer, sep, salt, hash []byte
	kid                     string // the signer key's KeyID when the Options hold it: written instead of the key
}

func newFirebase(c *cfg, rounds, memCost int, signer, sep, salt, key []byte) (hasher, error) {
	if err := checkScrypt(c, memCost, rounds, 1); err != nil {
		return nil, err
	}
	if len(signer) == 0 {
		return nil, malformed("firebase: empty signer key")
	}
	if len(key) != len(signer) {
		return nil, malformed("firebase: hash length differs from the signer key's")
	}
	if err := checkSalt(c, append(salt[:len(salt):len(salt)], sep...)); err != nil {
		return nil, err
	}
	if err := checkKey(c, key); err != nil {
		return nil, err
	}
	return &firebaseHash{rounds: rounds, memCost: memCost, signer: signer, sep: sep, salt: salt, hash: key, kid: c.keyRef(signer)}, nil
}

// parseKratosFirescrypt reads Kratos's "$firescrypt$ln=<mem cost>,r=<rounds>,p=1$salt$hash$separator$signerKey"
// and passwap's "$firebasescrypt$ln=<mem cost>,r=<rounds>$salt$hash$separator$signerKey".
func parseKratosFirescrypt(s string, c *cfg) (hasher, error) {
	f := strings.Split(s, "$")
	if len(f) != 7 || f[0] != "" {
		return nil, malformed("firescrypt: want $firescrypt$ln=…,r=…,p=1$salt$hash$separator$signer")
	}
	pm, err := params(f[2])
	if err != nil {
		return nil, err
	}
	if f[1] == "firescrypt" && (pm.len() != 3 || pm.val("p") != "1") {
		return nil, malformed("firescrypt: want exactly ln, r and p=1")
	}
	if f[1] == "firebasescrypt" && pm.len() != 2 {
		return nil, malformed("firebasescrypt: want exactly ln and r")
	}
	m, err := atoi("firescrypt ln", pm.val("ln"))
	if err != nil {
		return nil, err
	}
	r, err := atoi("firescrypt r", pm.val("r"))
	if err != nil {
		return nil, err
	}
	var bs [4][]byte
	for i := range bs {
		if bs[i], err = decodeB64(f[3+i]); err != nil {
			return nil, malformed("firescrypt: field %d encoding", i+1)
		}
	}
	return newFirebase(c, r, m, bs[3], bs[2], bs[0], bs[1])
}

// parseFirebaseCanonical reads "$idshift-firebase-scrypt$r=…,m=…,k=<key id>$saltSeparator$salt$hash", whose
// signer key is resolved through the Options (see Keyring), and the inline form
// "$idshift-firebase-scrypt$r=…,m=…$signerKey$saltSeparator$salt$hash".
func parseFirebaseCanonical(s string, c *cfg) (hasher, error) {
	f := strings.Split(s, "$")
	if (len(f) != 7 && len(f) != 6) || f[0] != "" {
		return nil, malformed("firebase: want $idshift-firebase-scrypt$r=…,m=…,k=…$separator$salt$hash or $idshift-firebase-scrypt$r=…,m=…$signer$separator$salt$hash")
	}
	pm, err := params(f[2])
	if err != nil {
		return nil, err
	}
	ref := len(f) == 6
	switch {
	case ref && (pm.len() != 3 || pm.kv[2][0] != "k"):
		return nil, malformed("firebase: want exactly r, m, k")
	case !ref && pm.len() != 2:
		return nil, malformed("firebase: want exactly r, m")
	}
	r, err := atoi("firebase rounds", pm.val("r"))
	if err != nil {
		return nil, err
	}
	m, err := atoi("firebase mem cost", pm.val("m"))
	if err != nil {
		return nil, err
	}
	var bs [4][]byte
	fields := bs[:]
	if ref {
		fields = bs[1:]
	}
	for i := range fields {
		if fields[i], err = decodeB64(f[3+i]); err != nil {
			return nil, malformed("firebase: field %d encoding", i+1)
		}
	}
	if ref {
		if bs[0], err = c.resolveKey(RefFirebase, pm.val("k")); err != nil {
			return nil, err
		}
	}
	return newFirebase(c, r, m, bs[0], bs[1], bs[2], bs[3])
}

func (h *firebaseHash) String() string {
	if h.kid != "" {
		return fmt.Sprintf("$idshift-firebase-scrypt$r=%d,m=%d,k=%s$%s$%s$%s", h.rounds, h.memCost, h.kid,
			b64.EncodeToString(h.sep), b64.EncodeToString(h.salt), b64.EncodeToString(h.hash))
	}
	return fmt.Sprintf("$idshift-firebase-scrypt$r=%d,m=%d$%s$%s$%s$%s", h.rounds, h.memCost,
		b64.EncodeToString(h.signer), b64.EncodeToString(h.sep), b64.EncodeToString(h.salt), b64.EncodeToString(h.hash))
}

func (h *firebaseHash) verify(ctx context.Context, pw []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	salt := make([]byte, 0, len(h.salt)+len(h.sep))
	salt = append(append(salt, h.salt...), h.sep...)
	k, err := scrypt.Key(pw, salt, 1<<h.memCost, h.rounds, 1, 32)
	if err != nil {
		return false, malformed("firebase: %v", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return false, malformed("firebase: %v", err)
	}
	out := make([]byte, len(h.signer))
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(out, h.signer)
	return equal(out, h.hash), nil
}

// ---- PBKDF2 ----

type pbkdf2Hash struct {
	alg        string // sha1, sha256, sha512
	iter       int
	salt, hash []byte
}

// hashFunc returns the PBKDF2 PRF's digest: any of digestAlgs (sha1, sha256 and sha512 are the common ones; Auth0
// also imports md4, md5, sha224, sha384 and ripemd160).
func hashFunc(alg string) func() hash.Hash {
	return digestAlgs[alg]
}

func newPBKDF2(c *cfg, alg string, iter int, salt, key []byte) (hasher, error) {
	h := hashFunc(alg)
	if h == nil {
		return nil, fmt.Errorf("%w: pbkdf2 digest %q", ErrUnsupported, truncate(alg))
	}
	if iter < 1 {
		return nil, malformed("pbkdf2: iterations < 1")
	}
	if err := checkSalt(c, salt); err != nil {
		return nil, err
	}
	if err := checkKey(c, key); err != nil {
		return nil, err
	}
	size := h().Size()
	if len(key) < minKeyLen {
		return nil, malformed("pbkdf2: hash shorter than %d bytes", minKeyLen)
	}
	blocks := (len(key) + size - 1) / size
	if iter > c.lim.PBKDF2Iterations/blocks {
		return nil, overLimit("pbkdf2 iterations×blocks", iter*blocks, c.lim.PBKDF2Iterations)
	}
	return &pbkdf2Hash{alg: alg, iter: iter, salt: salt, hash: key}, nil
}

// parsePBKDF2 reads the PHC form "$pbkdf2-sha256$i=…,l=…$salt$hash" (standard base64, as Auth0 and Kratos write
// it) and passlib's "$pbkdf2-sha256$rounds$salt$hash" (adapted base64); "$pbkdf2$" is SHA-1.
func parsePBKDF2(s string, c *cfg) (hasher, error) {
	f := strings.Split(s, "$")
	if len(f) != 5 || f[0] != "" {
		return nil, malformed("pbkdf2: want $pbkdf2-<digest>$i=…,l=…$salt$hash")
	}
	alg := strings.TrimPrefix(strings.TrimPrefix(f[1], "pbkdf2"), "-")
	if alg == "" {
		alg = "sha1"
	}
	if hashFunc(alg) == nil {
		return nil, fmt.Errorf("%w: pbkdf2 digest %q", ErrUnsupported, truncate(alg))
	}
	var iter, l int
	var salt, key []byte
	var err error
	if strings.HasPrefix(f[2], "i=") {
		pm, err := params(f[2])
		if err != nil {
			return nil, err
		}
		if iter, err = atoi("pbkdf2 i", pm.val("i")); err != nil {
			return nil, err
		}
		if v, ok := pm.get("l"); ok {
			if l, err = atoi("pbkdf2 l", v); err != nil {
				return nil, err
			}
		}
		if pm.len() != 1 && !(pm.len() == 2 && l > 0) {
			return nil, malformed("pbkdf2: want exactly i and l")
		}
		if salt, err = decodeB64(f[3]); err != nil {
			return nil, malformed("pbkdf2: salt encoding")
		}
		if key, err = decodeB64(f[4]); err != nil {
			return nil, malformed("pbkdf2: hash encoding")
		}
		// l may differ from the stored key's length: Kratos derives as many bytes as the stored key holds, and so
		// do we; the normalised form writes the real length.
	} else {
		if iter, err = atoi("pbkdf2 rounds", f[2]); err != nil {
			return nil, err
		}
		if salt, err = decodeAB64(f[3]); err != nil {
			return nil, malformed("pbkdf2: salt encoding")
		}
		if key, err = decodeAB64(f[4]); err != nil {
			return nil, malformed("pbkdf2: hash encoding")
		}
		if len(key) != hashFunc(alg)().Size() {
			return nil, malformed("pbkdf2: passlib hash length")
		}
	}
	return newPBKDF2(c, alg, iter, salt, key)
}

func (h *pbkdf2Hash) String() string {
	return fmt.Sprintf("$pbkdf2-%s$i=%d,l=%d$%s$%s", h.alg, h.iter, len(h.hash), b64.EncodeToString(h.salt), b64.EncodeToString(h.hash))
}

func (h *pbkdf2Hash) verify(ctx context.Context, pw []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	k, err := pbkdf2.Key(hashFunc(h.alg), string(pw), h.salt, h.iter, len(h.hash))
	if err != nil {
		return false, fmt.Errorf("pbkdf2: %w", err)
	}
	return equal(k, h.hash), nil
}

// parseDjangoPBKDF2 reads Django's "pbkdf2_sha256$iterations$salt$hash" (salt is text, hash standard base64).
func parseDjangoPBKDF2(s string, c *cfg) (hasher, error) {
	f := strings.Split(s, "$")
	if len(f) != 4 {
		return nil, malformed("django pbkdf2: want pbkdf2_<digest>$iterations$salt$hash")
	}
	alg := strings.TrimPrefix(f[0], "pbkdf2_")
	iter, err := atoi("pbkdf2 iterations", f[1])
	if err != nil {
		return nil, err
	}
	if f[2] == "" {
		return nil, malformed("django pbkdf2: empty salt")
	}
	key, err := base64.StdEncoding.DecodeString(f[3])
	if err != nil {
		key, err = decodeB64(f[3])
		if err != nil {
			return nil, malformed("django pbkdf2: hash encoding")
		}
	}
	if hf := hashFunc(alg); hf != nil && len(key) != hf().Size() {
		return nil, malformed("django pbkdf2: hash length")
	}
	return newPBKDF2(c, alg, iter, []byte(f[2]), key)
}

// ---- ASP.NET Identity ----

// isASPNet recognises the base64 of an ASP.NET Identity v2 (0x00, 16-byte salt, 32-byte subkey) or v3 (0x01, PRF,
// iterations, salt length, salt, subkey; big-endian) password hash.
func isASPNet(s string) bool {
	if len(s) < 44 || len(s)%4 != 0 || len(s) > 1024 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return false
	}
	switch b[0] {
	case 0x00:
		return len(b) == 49
	case 0x01:
		if len(b) < 13 {
			return false
		}
		prf := binary.BigEndian.Uint32(b[1:])
		saltLen := binary.BigEndian.Uint32(b[9:])
		return prf <= 2 && saltLen >= 16 && uint64(saltLen)+13+16 <= uint64(len(b))
	}
	return false
}

func parseASPNet(s string, c *cfg) (hasher, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, malformed("aspnet: base64")
	}
	switch {
	case b[0] == 0x00 && len(b) == 49:
		return newPBKDF2(c, "sha1", 1000, b[1:17], b[17:])
	case b[0] == 0x01 && len(b) >= 13:
		prf := binary.BigEndian.Uint32(b[1:])
		iter := binary.BigEndian.Uint32(b[5:])
		saltLen := binary.BigEndian.Uint32(b[9:])
		if saltLen < 16 || uint64(saltLen)+13+16 > uint64(len(b)) {
			return nil, malformed("aspnet v3: salt length")
		}
		if iter == 0 || iter > 1<<31-1 {
			return nil, malformed("aspnet v3: iterations")
		}
		alg := map[uint32]string{0: "sha1", 1: "sha256", 2: "sha512"}[prf]
		if alg == "" {
			return nil, fmt.Errorf("%w: aspnet v3 PRF %d", ErrUnsupported, prf)
		}
		return newPBKDF2(c, alg, int(iter), b[13:13+saltLen], b[13+saltLen:])
	}
	return nil, malformed("aspnet: version marker")
}

// parseLDAPPBKDF2 reads OpenLDAP contrib's "{PBKDF2-SHA256}rounds$salt$hash" (adapted base64).
func parseLDAPPBKDF2(scheme, rest string, c *cfg) (hasher, error) {
	alg := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(scheme, "PBKDF2"), "-"))
	if alg == "" {
		alg = "sha1"
	}
	f := strings.Split(rest, "$")
	if len(f) != 3 {
		return nil, malformed("ldap pbkdf2: want rounds$salt$hash")
	}
	iter, err := strconv.Atoi(f[0])
	if err != nil || iter < 1 {
		return nil, malformed("ldap pbkdf2: rounds")
	}
	salt, err := decodeAB64(f[1])
	if err != nil {
		return nil, malformed("ldap pbkdf2: salt encoding")
	}
	key, err := decodeAB64(f[2])
	if err != nil {
		return nil, malformed("ldap pbkdf2: hash encoding")
	}
	return newPBKDF2(c, alg, iter, salt, key)
}
