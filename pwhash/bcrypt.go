package pwhash

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/blowfish"
)

// bcryptMaxPassword is the number of password bytes bcrypt uses; the rest is ignored, as every bcrypt does.
const bcryptMaxPassword = 72

// bcryptHash is "$2a$", "$2b$", "$2x$" or "$2y$". $2a$, $2b$ and $2y$ verify alike; $2x$ reproduces the
// sign-extension bug of crypt_blowfish before 1.1 for passwords with bytes ≥ 0x80.
type bcryptHash struct {
	s string
	// pre transforms the password before bcrypt (WordPress 6.8, Django bcrypt_sha256); nil for plain bcrypt.
	pre func(pw []byte) []byte
	// out is the normalised form when it differs from s (prefixed wrappers).
	out string
}

func isBcrypt(s string) bool {
	return len(s) >= 4 && s[0] == '$' && s[1] == '2' && strings.IndexByte("abxy", s[2]) >= 0 && s[3] == '$'
}

// checkBcrypt validates a 60-character "$2?$cc$<22 salt><31 hash>" string and its cost.
func checkBcrypt(s string, c *cfg) error {
	if !isBcrypt(s) || len(s) != 60 || s[6] != '$' {
		return malformed("bcrypt: want $2?$cc$ and 53 characters")
	}
	cost, err := atoi("bcrypt cost", strings.TrimPrefix(s[4:6], "0"))
	if err != nil {
		return err
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return malformed("bcrypt cost %d", cost)
	}
	if cost > c.lim.BcryptCost {
		return overLimit("bcrypt cost", cost, c.lim.BcryptCost)
	}
	if !isCrypt64(s[7:]) {
		return malformed("bcrypt: bad character in salt or hash")
	}
	return nil
}

func parseBcrypt(s string, c *cfg) (hasher, error) {
	if err := checkBcrypt(s, c); err != nil {
		return nil, err
	}
	return &bcryptHash{s: s}, nil
}

// parseWordPress reads WordPress 6.8's "$wp$2y$…": bcrypt over base64(HMAC-SHA384(key "wp-sha384", password)).
func parseWordPress(s string, c *cfg) (hasher, error) {
	inner := strings.TrimPrefix(s, "$wp")
	if err := checkBcrypt(inner, c); err != nil {
		return nil, err
	}
	return &bcryptHash{s: inner, out: s, pre: wpPrehash}, nil
}

func wpPrehash(pw []byte) []byte {
	m := hmac.New(sha512.New384, []byte("wp-sha384"))
	m.Write(pw)
	return []byte(base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

// parseDjangoBcrypt reads Django's "bcrypt$$2b$…" into the bcrypt string itself.
func parseDjangoBcrypt(s string, c *cfg) (hasher, error) {
	inner := strings.TrimPrefix(s, "bcrypt$")
	if err := checkBcrypt(inner, c); err != nil {
		return nil, err
	}
	return &bcryptHash{s: inner}, nil
}

// parseDjangoBcryptSHA256 reads Django's "bcrypt_sha256$$2b$…": bcrypt over hex(SHA-256(password)). The Django
// string is its own normalised form.
func parseDjangoBcryptSHA256(s string, c *cfg) (hasher, error) {
	inner := strings.TrimPrefix(s, "bcrypt_sha256$")
	if err := checkBcrypt(inner, c); err != nil {
		return nil, err
	}
	return &bcryptHash{s: inner, out: s, pre: func(pw []byte) []byte {
		sum := sha256.Sum256(pw)
		return []byte(hex.EncodeToString(sum[:]))
	}}, nil
}

func (h *bcryptHash) String() string {
	if h.out != "" {
		return h.out
	}
	return h.s
}

func (h *bcryptHash) verify(ctx context.Context, pw []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if h.pre != nil {
		pw = h.pre(pw)
	}
	if len(pw) > bcryptMaxPassword {
		pw = pw[:bcryptMaxPassword]
	}
	if h.s[2] == 'x' || h.s[2] == 'a' {
		if ok, done, err := verifyBlowfishVariant(h.s, pw); done {
			return ok, err
		}
	}
	err := bcrypt.CompareHashAndPassword([]byte(h.s), pw)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	}
	return false, malformed("bcrypt: %v", err)
}

// verifyBlowfishVariant handles the two cases where crypt_blowfish (PHP, glibc distributions, libxcrypt) differs
// from OpenBSD's bcrypt: "$2x$" keeps the pre-1.1 sign-extension bug (bytes ≥ 0x80 sign-extended while the key
// words are built), and "$2a$" applies the 1.1 safety measure (bit 16 of the first initial key word flipped) when
// the password has such bytes but the bug would not have changed any word. done is false when neither applies and
// the standard computation is right.
func verifyBlowfishVariant(s string, pw []byte) (ok, done bool, err error) {
	correct, buggy, sign, diff := blowfishKeyWords(pw)
	var initial, loop [18]uint32
	switch {
	case s[2] == 'x':
		initial, loop = buggy, buggy
	case s[2] == 'a' && sign && !diff:
		initial, loop = correct, correct
		initial[0] ^= 0x10000
	default:
		return false, false, nil
	}
	salt, err := bcryptB64.DecodeString(s[7:29])
	if err != nil || len(salt) != 16 {
		return false, true, malformed("bcrypt: salt encoding")
	}
	cost := int(s[4]-'0')*10 + int(s[5]-'0')
	sum, err := eksBlowfish(wordsKey(initial), wordsKey(loop), cost, salt)
	if err != nil {
		return false, true, malformed("bcrypt: %v", err)
	}
	return equal([]byte(bcryptB64.EncodeToString(sum)), []byte(s[29:])), true, nil
}

// bcryptB64 is bcrypt's base64: its own alphabet, no padding.
var bcryptB64 = base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").WithPadding(base64.NoPadding)

// blowfishKeyWords computes the 18 key-schedule words of pw as bcrypt reads it (cycled with its terminating NUL)
// both correctly and with crypt_blowfish's sign-extension bug, whether a sign extension happened, and whether the
// two differ.
func blowfishKeyWords(pw []byte) (correct, buggy [18]uint32, sign, diff bool) {
	key := make([]byte, len(pw)+1)
	copy(key, pw)
	j := 0
	for i := range 18 {
		var c, b uint32
		for k := range 4 {
			c = c<<8 | uint32(key[j])
			b = b<<8 | uint32(int32(int8(key[j])))
			if k > 0 && b&0x80 != 0 {
				sign = true
			}
			j++
			if j == len(key) {
				j = 0
			}
		}
		correct[i], buggy[i] = c, b
		if c != b {
			diff = true
		}
	}
	return correct, buggy, sign, diff
}

// wordsKey returns a 72-byte key that bcrypt's key schedule reads back as exactly these words.
func wordsKey(w [18]uint32) []byte {
	out := make([]byte, 72)
	for i, v := range w {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}

// eksBlowfish is bcrypt's expensive key setup with separate keys for the initial schedule and the loop, then the
// 64 encryptions of "OrpheanBeholderScryDoubt"; it returns the 23 bytes bcrypt encodes.
func eksBlowfish(initial, loop []byte, cost int, salt []byte) ([]byte, error) {
	c, err := blowfish.NewSaltedCipher(initial, salt)
	if err != nil {
		return nil, err
	}
	for i := uint64(0); i < 1<<uint(cost); i++ {
		blowfish.ExpandKey(loop, c)
		blowfish.ExpandKey(salt, c)
	}
	data := []byte("OrpheanBeholderScryDoubt")
	for i := 0; i < 24; i += 8 {
		for range 64 {
			c.Encrypt(data[i:i+8], data[i:i+8])
		}
	}
	return data[:23], nil
}
