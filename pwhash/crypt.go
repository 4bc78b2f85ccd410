package pwhash

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"
)

// ---- md5-crypt ($1$) and Apache's apr1 ($apr1$) ----

type md5CryptHash struct {
	magic, salt, sum string
}

func parseMD5Crypt(s string, c *cfg) (hasher, error) {
	magic := "$1$"
	if strings.HasPrefix(s, "$apr1$") {
		magic = "$apr1$"
	}
	rest := s[len(magic):]
	salt, sum, ok := strings.Cut(rest, "$")
	if !ok || len(salt) > 8 || len(sum) != 22 || !isCrypt64(sum) || strings.ContainsAny(salt, "$:\n") {
		return nil, malformed("md5-crypt: want %ssalt$<22 characters>", magic)
	}
	return &md5CryptHash{magic: magic, salt: salt, sum: sum}, nil
}

func (h *md5CryptHash) String() string { return h.magic + h.salt + "$" + h.sum }

func (h *md5CryptHash) verify(ctx context.Context, pw []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return equal([]byte(md5Crypt(pw, []byte(h.magic), []byte(h.salt))), []byte(h.sum)), nil
}

// md5Crypt is Poul-Henning Kamp's md5-crypt; it returns the 22-character digest part.
func md5Crypt(pw, magic, salt []byte) string {
	d := md5.New()
	d.Write(pw)
	d.Write(salt)
	d.Write(pw)
	alt := d.Sum(nil)

	d.Reset()
	d.Write(pw)
	d.Write(magic)
	d.Write(salt)
	for n := len(pw); n > 0; n -= 16 {
		d.Write(alt[:min(n, 16)])
	}
	for i := len(pw); i != 0; i >>= 1 {
		if i&1 != 0 {
			d.Write([]byte{0})
		} else {
			d.Write(pw[:1])
		}
	}
	sum := d.Sum(nil)
	for i := 0; i < 1000; i++ {
		d.Reset()
		if i&1 != 0 {
			d.Write(pw)
		} else {
			d.Write(sum)
		}
		if i%3 != 0 {
			d.Write(salt)
		}
		if i%7 != 0 {
			d.Write(pw)
		}
		if i&1 != 0 {
			d.Write(sum)
		} else {
			d.Write(pw)
		}
		sum = d.Sum(sum[:0])
	}
	out := make([]byte, 0, 22)
	for _, g := range [][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}} {
		out = b64From24(out, sum[g[0]], sum[g[1]], sum[g[2]], 4)
	}
	return string(b64From24(out, 0, 0, sum[11], 2))
}

// b64From24 appends n characters of the 24-bit group b2 b1 b0, low bits first (crypt(3)'s encoding).
func b64From24(out []byte, b2, b1, b0 byte, n int) []byte {
	w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
	for ; n > 0; n-- {
		out = append(out, crypt64[w&0x3f])
		w >>= 6
	}
	return out
}

// ---- sha-crypt ($5$, $6$) ----

type shaCryptHash struct {
	id        byte // '5' or '6'
	rounds    int
	roundsSet bool
	salt, sum string
}

const shaCryptDefaultRounds = 5000

func parseShaCrypt(s string, c *cfg) (hasher, error) {
	h := &shaCryptHash{id: s[1], rounds: shaCryptDefaultRounds}
	rest := s[3:]
	if strings.HasPrefix(rest, "rounds=") {
		v, r, ok := strings.Cut(rest[len("rounds="):], "$")
		if !ok {
			return nil, malformed("sha-crypt: rounds")
		}
		n, err := atoi("sha-crypt rounds", v)
		if err != nil {
			return nil, err
		}
		// crypt(3) clamps rounds into [1000, 999999999].
		n = max(n, 1000)
		if n > 999_999_999 {
			n = 999_999_999
		}
		if n > c.lim.ShaCryptRounds {
			return nil, overLimit("sha-crypt rounds", n, c.lim.ShaCryptRounds)
		}
		h.rounds, h.roundsSet, rest = n, true, r
	}
	salt, sum, ok := strings.Cut(rest, "$")
	want := 43
	if h.id == '6' {
		want = 86
	}
	if !ok || len(salt) > 16 || len(sum) != want || !isCrypt64(sum) || strings.ContainsAny(salt, "$:\n") {
		return nil, malformed("sha-crypt: want $%c$[rounds=N$]salt$<%d characters>", h.id, want)
	}
	h.salt, h.sum = salt, sum
	return h, nil
}

func (h *shaCryptHash) String() string {
	s := "$" + string(h.id) + "$"
	if h.roundsSet {
		s += "rounds=" + strconv.Itoa(h.rounds) + "$"
	}
	return s + h.salt + "$" + h.sum
}

func (h *shaCryptHash) verify(ctx context.Context, pw []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return equal([]byte(shaCrypt(h.id, pw, []byte(h.salt), h.rounds)), []byte(h.sum)), nil
}

var (
	sha256CryptOrder = [][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14}, {15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}}
	sha512CryptOrder = [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}}
)

// shaCrypt is Ulrich Drepper's SHA-crypt; it returns the digest part.
func shaCrypt(id byte, pw, salt []byte, rounds int) string {
	newHash := sha256.New
	if id == '6' {
		newHash = sha512.New
	}
	d := newHash()
	size := d.Size()

	d.Write(pw)
	d.Write(salt)
	d.Write(pw)
	b := d.Sum(nil)

	d.Reset()
	d.Write(pw)
	d.Write(salt)
	n := len(pw)
	for ; n > size; n -= size {
		d.Write(b)
	}
	d.Write(b[:n])
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			d.Write(b)
		} else {
			d.Write(pw)
		}
	}
	a := d.Sum(nil)

	d.Reset()
	for range len(pw) {
		d.Write(pw)
	}
	p := repeatTo(d.Sum(nil), len(pw))

	d.Reset()
	for range 16 + int(a[0]) {
		d.Write(salt)
	}
	s := repeatTo(d.Sum(nil), len(salt))

	var h hash.Hash = d
	for i := 0; i < rounds; i++ {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(a)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(a)
		} else {
			h.Write(p)
		}
		a = h.Sum(a[:0])
	}

	var out []byte
	if id == '5' {
		for _, g := range sha256CryptOrder {
			out = b64From24(out, a[g[0]], a[g[1]], a[g[2]], 4)
		}
		out = b64From24(out, 0, a[31], a[30], 3)
	} else {
		for _, g := range sha512CryptOrder {
			out = b64From24(out, a[g[0]], a[g[1]], a[g[2]], 4)
		}
		out = b64From24(out, 0, 0, a[63], 2)
	}
	return string(out)
}

func repeatTo(d []byte, n int) []byte {
	out := make([]byte, n)
	for i := 0; i < n; i += len(d) {
		copy(out[i:], d)
	}
	return out
}

// ---- phpass ($P$, $H$) and Drupal 7 ($S$, U$…) ----

type phpassHash struct {
	s       string // normalised form
	upgrade bool   // Drupal "U$": the password was MD5-hex'd first
	sha512  bool
	log2    int
	salt    string
	sum     string
}

func parsePhpass(s string, c *cfg) (hasher, error) {
	h := &phpassHash{s: s}
	setting := s
	if strings.HasPrefix(s, "U$") {
		h.upgrade = true
		setting = s[1:]
	}
	if len(setting) < 12 {
		return nil, malformed("phpass: too short")
	}
	switch setting[:3] {
	case "$P$", "$H$":
	case "$S$":
		h.sha512 = true
	default:
		return nil, malformed("phpass: prefix")
	}
	h.log2 = strings.IndexByte(crypt64, setting[3])
	if h.log2 < 7 || h.log2 > 30 {
		return nil, malformed("phpass: iteration count")
	}
	if h.log2 > c.lim.PhpassLog2 {
		return nil, overLimit("phpass log2 iterations", h.log2, c.lim.PhpassLog2)
	}
	h.salt, h.sum = setting[4:12], setting[12:]
	want := 22
	if h.sha512 {
		want = 43 // Drupal keeps 55 characters in all
	}
	if len(h.sum) != want || !isCrypt64(h.salt) || !isCrypt64(h.sum) {
		return nil, malformed("phpass: want %d digest characters", want)
	}
	return h, nil
}

func (h *phpassHash) String() string { return h.s }

func (h *phpassHash) verify(ctx context.Context, pw []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if h.upgrade {
		sum := md5.Sum(pw)
		pw = []byte(hex.EncodeToString(sum[:]))
	}
	var d hash.Hash
	if h.sha512 {
		d = sha512.New()
	} else {
		d = md5.New()
	}
	d.Write([]byte(h.salt))
	d.Write(pw)
	sum := d.Sum(nil)
	for n := 1 << h.log2; n > 0; n-- {
		d.Reset()
		d.Write(sum)
		d.Write(pw)
		sum = d.Sum(sum[:0])
	}
	enc := phpassEncode(sum)
	return equal([]byte(enc[:len(h.sum)]), []byte(h.sum)), nil
}

// phpassEncode is phpass's encode64: little-endian 24-bit groups, low 6 bits first.
func phpassEncode(in []byte) string {
	out := make([]byte, 0, (len(in)*8+5)/6)
	for i := 0; i < len(in); i += 3 {
		v := uint(in[i])
		n := 2
		if i+1 < len(in) {
			v |= uint(in[i+1]) << 8
			n = 3
		}
		if i+2 < len(in) {
			v |= uint(in[i+2]) << 16
			n = 4
		}
		for k := 0; k < n; k++ {
			out = append(out, crypt64[v&0x3f])
			v >>= 6
		}
	}
	return string(out)
}
