package pwhash

import (
	"bytes"
	"context"
	"math/bits"
	"strings"
)

// ---- DES-based crypt(3): traditional ("ab" + 11 characters) and BSDi extended ("_" + 4 + 4 + 11) ----
//
// Both encrypt a zero block with DES under a key made of the password, with the salt swapping pairs of bits of the
// expansion E (bit i of the salt swaps E's bits i+1 and i+25), and encode the 64-bit result in 11 characters.
// Traditional crypt keys DES with the first 8 bytes of the password (7 bits each) and iterates 25 times; BSDi's
// form folds every 8 bytes of the password into the key, and carries a 24-bit count and a 24-bit salt.

// desCryptHash is one DES-based crypt(3) string; its normalised form is the string itself.
type desCryptHash struct {
	s        string
	ext      bool   // BSDi extended ("_…")
	rounds   int    // 25 for the traditional form
	saltBits uint32 // the salt as the mask of E bit pairs it swaps
}

// desCryptMaxRounds is the largest count BSDi's 4 characters hold.
const desCryptMaxRounds = 1<<24 - 1

// isDESCrypt recognises a bare DES crypt string: 13 characters, or 20 starting with "_", of the crypt(3) alphabet,
// whose last character has its two unused bits clear.
func isDESCrypt(s string) bool {
	switch {
	case len(s) == 13:
	case len(s) == 20 && s[0] == '_':
		s = s[1:]
	default:
		return false
	}
	return isCrypt64(s) && crypt64Val(s[len(s)-1])&3 == 0
}

func crypt64Val(c byte) uint32 { return uint32(strings.IndexByte(crypt64, c)) }

// decode24 reads 4 characters as a 24-bit number, the first character the lowest 6 bits.
func decode24(s string) uint32 {
	var v uint32
	for i := 3; i >= 0; i-- {
		v = v<<6 | crypt64Val(s[i])
	}
	return v
}

func parseDESCrypt(s string, c *cfg) (hasher, error) {
	if !isDESCrypt(s) {
		return nil, malformed("des-crypt: want 2 salt + 11 hash characters, or _ + 4 count + 4 salt + 11 hash")
	}
	if s[0] != '_' {
		return &desCryptHash{s: s, rounds: 25, saltBits: desSaltBits(crypt64Val(s[0]) | crypt64Val(s[1])<<6)}, nil
	}
	rounds := int(decode24(s[1:5]))
	if rounds == 0 {
		return nil, malformed("bsdi-crypt: count 0")
	}
	if rounds > c.lim.DESCryptRounds {
		return nil, overLimit("bsdi-crypt count", rounds, c.lim.DESCryptRounds)
	}
	return &desCryptHash{s: s, ext: true, rounds: rounds, saltBits: desSaltBits(decode24(s[5:9]))}, nil
}

// parseDjangoCrypt reads Django's "crypt$<salt>$<traditional DES crypt string>". Django checks the password
// against the crypt string alone (its first two characters are the salt), and so do we: the normalised form is that
// string.
func parseDjangoCrypt(s string, c *cfg) (hasher, error) {
	f := strings.Split(s, "$")
	if len(f) != 3 || len(f[2]) != 13 {
		return nil, malformed("django crypt: want crypt$salt$<13 characters>")
	}
	return parseDESCrypt(f[2], c)
}

func (h *desCryptHash) String() string { return h.s }

func (h *desCryptHash) verify(ctx context.Context, pw []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	// crypt(3) reads the password as a C string.
	if i := bytes.IndexByte(pw, 0); i >= 0 {
		pw = pw[:i]
	}
	key, pw := desKeyBlock(0, pw)
	ks := desKeySchedule(key)
	if h.ext {
		// BSDi: encrypt the key with itself and XOR in the next 8 bytes, until the password is used up.
		for len(pw) > 0 {
			key, pw = desKeyBlock(desEncrypt(&ks, 0, key, 1), pw)
			ks = desKeySchedule(key)
		}
	}
	sum := desEncrypt(&ks, h.saltBits, 0, h.rounds)
	var out [11]byte
	for i := range 10 {
		out[i] = crypt64[sum>>(58-6*i)&0x3f]
	}
	out[10] = crypt64[sum<<2&0x3f]
	return equal(out[:], []byte(h.s[len(h.s)-11:])), nil
}

// desKeyBlock XORs up to 8 bytes of pw, shifted left one bit (DES ignores each byte's lowest bit), into key, first
// byte highest, and returns the rest of pw.
func desKeyBlock(key uint64, pw []byte) (uint64, []byte) {
	for i := 0; i < 8 && len(pw) > 0; i++ {
		key ^= uint64(pw[0]<<1) << (56 - 8*i)
		pw = pw[1:]
	}
	return key, pw
}

// desSaltBits turns a salt into the mask applied to both 24-bit halves of E's output: salt bit i selects the pair
// at distance 23-i from the halves' lowest bits.
func desSaltBits(salt uint32) uint32 {
	var m uint32
	for i := range 24 {
		if salt>>i&1 != 0 {
			m |= 1 << (23 - i)
		}
	}
	return m
}

// desEncrypt encrypts block count times in a row under ks, with E's bit pairs swapped by saltBits (0: plain DES).
func desEncrypt(ks *[16]uint64, saltBits uint32, block uint64, count int) uint64 {
	lr := permute64(block, &desIP)
	l, r := uint32(lr>>32), uint32(lr)
	for ; count > 0; count-- {
		for i := range 16 {
			l, r = r, l^desF(r, ks[i], saltBits)
		}
		l, r = r, l
	}
	return permute64(uint64(l)<<32|uint64(r), &desFP)
}

// desF is DES's round function: expand r to 48 bits, swap the salt's bit pairs, add the subkey, then the S-boxes
// and the permutation P (merged in desSP).
func desF(r uint32, k uint64, saltBits uint32) uint32 {
	var e uint64
	for g := range 8 {
		// Group g is bits 4g..4g+5 of r (1-based, bit 0 being bit 32).
		e = e<<6 | uint64(bits.RotateLeft32(r, 4*g-1)>>26)
	}
	f := (uint32(e>>24) ^ uint32(e)) & saltBits & 0xffffff
	e ^= uint64(f)<<24 | uint64(f)
	e ^= k
	var out uint32
	for g := range 8 {
		out |= desSP[g][e>>(42-6*g)&0x3f]
	}
	return out
}

// permute64 returns the 64-bit block whose bit j (1-based from the top) is bit t[j-1] of x.
func permute64(x uint64, t *[64]byte) uint64 {
	var y uint64
	for _, p := range t {
		y = y<<1 | x>>(64-p)&1
	}
	return y
}

// desKeySchedule derives DES's 16 subkeys (48 bits each, first bit highest) from a 64-bit key.
func desKeySchedule(key uint64) [16]uint64 {
	var cd uint64
	for _, p := range desPC1 {
		cd = cd<<1 | key>>(64-p)&1
	}
	c, d := uint32(cd>>28), uint32(cd)&0xfffffff
	var ks [16]uint64
	for i, s := range desShifts {
		c = (c<<s | c>>(28-s)) & 0xfffffff
		d = (d<<s | d>>(28-s)) & 0xfffffff
		cd = uint64(c)<<28 | uint64(d)
		var k uint64
		for _, p := range desPC2 {
			k = k<<1 | cd>>(56-p)&1
		}
		ks[i] = k
	}
	return ks
}

// The tables of FIPS 46-3; bit positions are 1-based from the most significant bit.
var (
	desIP = [64]byte{
		58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
		62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
		57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
		61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
	}
	desFP = [64]byte{
		40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31,
		38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13, 53, 21, 61, 29,
		36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27,
		34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
	}
	desPC1 = [56]byte{
		57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
		10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
		63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
		14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
	}
	desPC2 = [48]byte{
		14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
		23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
		41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
		44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
	}
	desShifts = [16]uint32{1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1}
	desP      = [32]byte{
		16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
		2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
	}
	desS = [8][64]byte{
		{14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7,
			0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
			4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0,
			15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13},
		{15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10,
			3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
			0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15,
			13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9},
		{10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8,
			13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
			13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7,
			1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12},
		{7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15,
			13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
			10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4,
			3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14},
		{2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9,
			14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
			4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14,
			11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3},
		{12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11,
			10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
			9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6,
			4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13},
		{4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1,
			13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
			1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2,
			6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12},
		{13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7,
			1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
			7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8,
			2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11},
	}
	// desSP[g][v] is P applied to S-box g's output for the 6-bit input v (first bit highest), placed in g's nibble.
	desSP = func() (sp [8][64]uint32) {
		for g := range 8 {
			for v := range 64 {
				row, col := v>>4&2|v&1, v>>1&0xf
				s := uint32(desS[g][row*16+col]) << (28 - 4*g)
				var out uint32
				for _, p := range desP {
					out = out<<1 | s>>(32-p)&1
				}
				sp[g][v] = out
			}
		}
		return sp
	}()
)

var _ hasher = (*desCryptHash)(nil)
