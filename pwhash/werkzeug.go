package pwhash

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Werkzeug (Flask's generate_password_hash), the usual hash of home-grown Python user tables:
//
//	pbkdf2:<hashlib name>:<iterations>$<salt text>$<hex key>   key = PBKDF2-HMAC(password, salt bytes, iterations), digest-sized
//	scrypt:<n>:<r>:<p>$<salt text>$<hex key>                  key = scrypt(password, salt bytes, n, r, p), 64 bytes
//
// Werkzeug writes every parameter. A "pbkdf2:<name>" without iterations took the version's default (50,000 to
// 1,000,000 over Werkzeug's history), which the string does not say: ErrUnsupported. ("scrypt$…" with no
// parameters is never written, and would be Django's.) Werkzeug's older plain methods ("sha256$salt$hex", an HMAC keyed
// with the salt) are not read: they collide with Django's "sha1$salt$hex" and "md5$salt$hex".

func isWerkzeug(s string) bool {
	return strings.HasPrefix(s, "pbkdf2:") || strings.HasPrefix(s, "scrypt:")
}

func parseWerkzeug(s string, c *cfg) (hasher, error) {
	method, rest, ok := strings.Cut(s, "$")
	if !ok {
		return nil, malformed("werkzeug: want method$salt$hex")
	}
	salt, sumHex, ok := strings.Cut(rest, "$")
	if !ok || salt == "" {
		return nil, malformed("werkzeug: want method$salt$hex")
	}
	key, err := hex.DecodeString(sumHex)
	if err != nil {
		return nil, malformed("werkzeug: hash is not hex")
	}
	args := strings.Split(method, ":")
	switch args[0] {
	case "pbkdf2":
		if len(args) != 3 {
			return nil, fmt.Errorf("%w: werkzeug pbkdf2 without its iterations (they depend on the Werkzeug version)", ErrUnsupported)
		}
		alg := normAlg(args[1])
		if alg == "" {
			return nil, fmt.Errorf("%w: werkzeug pbkdf2 digest %q", ErrUnsupported, truncate(args[1]))
		}
		iter, err := strconv.Atoi(args[2])
		if err != nil || iter < 1 {
			return nil, malformed("werkzeug: pbkdf2 iterations")
		}
		if len(key) != digestSize(alg) {
			return nil, malformed("werkzeug: pbkdf2 key length %d", len(key))
		}
		return newPBKDF2(c, alg, iter, []byte(salt), key)
	case "scrypt":
		if len(args) != 4 {
			return nil, malformed("werkzeug: want scrypt:n:r:p")
		}
		n, err1 := strconv.Atoi(args[1])
		r, err2 := strconv.Atoi(args[2])
		p, err3 := strconv.Atoi(args[3])
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, malformed("werkzeug: scrypt parameters")
		}
		if n < 2 || n&(n-1) != 0 || r < 1 || p < 1 {
			return nil, malformed("werkzeug: scrypt n must be a power of two > 1, r and p positive")
		}
		ln := 0
		for 1<<ln < n {
			ln++
		}
		return newScrypt(c, ln, r, p, []byte(salt), key)
	}
	return nil, fmt.Errorf("%w: werkzeug method %q", ErrUnsupported, truncate(args[0]))
}
