package pwhash

import (
	"crypto/sha256"
	"crypto/sha512"
	"math/rand/v2"
	"testing"

	xcrypt "github.com/go-crypt/x/crypt"
)

// TestCryptAgainstGoCrypt checks md5-crypt and sha-crypt against an independent implementation,
// github.com/go-crypt/x/crypt, over random passwords (0 to 100 bytes, any byte values), salts and round counts.
func TestCryptAgainstGoCrypt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	random := func(n int, alphabet string) []byte {
		b := make([]byte, n)
		for i := range b {
			if alphabet == "" {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
		}
		return b
	}
	for i := range 200 {
		pw := random(r.IntN(101), "")
		salt := random(1+r.IntN(16), crypt64)
		rounds := 1000 + r.IntN(2000)
		if got, want := shaCrypt('6', pw, salt, rounds), string(xcrypt.KeySHACrypt(sha512.New, pw, salt, rounds)); got != want {
			t.Fatalf("case %d: sha512-crypt differs", i)
		}
		if got, want := shaCrypt('5', pw, salt, rounds), string(xcrypt.KeySHACrypt(sha256.New, pw, salt, rounds)); got != want {
			t.Fatalf("case %d: sha256-crypt differs", i)
		}
		if len(salt) > 8 {
			salt = salt[:8]
		}
		if got, want := md5Crypt(pw, []byte("$1$"), salt), string(xcrypt.KeyMD5Crypt(pw, salt)); got != want {
			t.Fatalf("case %d: md5-crypt differs", i)
		}
	}
}
