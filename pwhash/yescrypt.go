package pwhash

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-crypt/x/yescrypt"
)

// yescrypt (libxcrypt "$y$"): the default of /etc/shadow on current Debian, Ubuntu and Fedora, and so of LDAP
// directories whose {CRYPT} values were copied from it. The derivation is github.com/go-crypt/x/yescrypt, Openwall's
// Go port. It reads the parameters libxcrypt writes: flags "j" (YESCRYPT_DEFAULTS), log2 N from 10 to 18, r from 1
// to 32, p = 1, no ROM; anything else is ErrUnsupported.
//
//	$y$j9T$<salt>$<43-character hash>     j: flags, 9: log2 N − 1 (here 12), T: r − 1 (here 32)

type yescryptHash struct {
	setting string // "$y$jXY$salt"
	sum     string // 43 characters of crypt base64
}

func parseYescrypt(s string, c *cfg) (hasher, error) {
	if len(s) < 8 || !strings.HasPrefix(s, "$y$") {
		return nil, malformed("yescrypt: want $y$<params>$<salt>$<hash>")
	}
	params, rest, ok := strings.Cut(s[3:], "$")
	if !ok {
		return nil, malformed("yescrypt: no salt")
	}
	if len(params) != 3 || params[0] != 'j' {
		return nil, fmt.Errorf("%w: yescrypt parameters other than libxcrypt's (flags j, p = 1)", ErrUnsupported)
	}
	ln, r := strings.IndexByte(crypt64, params[1])+1, strings.IndexByte(crypt64, params[2])+1
	if ln == 0 || r == 0 {
		return nil, malformed("yescrypt: parameter characters")
	}
	if ln < 10 || ln > 18 || r > 32 {
		return nil, fmt.Errorf("%w: yescrypt N outside 2^10..2^18 or r above 32", ErrUnsupported)
	}
	if err := checkScrypt(c, ln, r, 1); err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(rest, '$')
	if i < 0 {
		return nil, malformed("yescrypt: no hash")
	}
	salt, sum := rest[:i], rest[i+1:]
	if len(sum) != 43 || strings.Trim(sum, crypt64) != "" {
		return nil, malformed("yescrypt: hash is not 43 characters of crypt base64")
	}
	if salt == "" || strings.Trim(salt, crypt64) != "" || yescrypt.Decode64([]byte(salt)) == nil {
		return nil, malformed("yescrypt: salt encoding")
	}
	if err := checkSalt(c, []byte(salt)); err != nil {
		return nil, err
	}
	return &yescryptHash{setting: "$y$" + params + "$" + salt, sum: sum}, nil
}

func (h *yescryptHash) String() string { return h.setting + "$" + h.sum }

func (h *yescryptHash) verify(ctx context.Context, pw []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	out, err := yescrypt.Hash(pw, []byte(h.setting))
	if err != nil {
		// The parameters were checked when parsing: this is a hash the library refuses after all.
		return false, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return equal(out[len(h.setting)+1:], []byte(h.sum)), nil
}
