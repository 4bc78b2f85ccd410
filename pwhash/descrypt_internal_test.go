package pwhash

import (
	"crypto/des"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestDESBlock checks the DES core, with no salt, against crypto/des: the salted E-box is the only part of
// DES-based crypt(3) the standard library does not have.
func TestDESBlock(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		key, block := r.Uint64(), r.Uint64()
		var kb, in, want [8]byte
		binary.BigEndian.PutUint64(kb[:], key)
		binary.BigEndian.PutUint64(in[:], block)
		c, err := des.NewCipher(kb[:])
		if err != nil {
			t.Fatal(err)
		}
		c.Encrypt(want[:], in[:])
		ks := desKeySchedule(key)
		if got := desEncrypt(&ks, 0, block, 1); got != binary.BigEndian.Uint64(want[:]) {
			t.Fatalf("key %016x block %016x: got %016x, want %x", key, block, got, want)
		}
	}
}
