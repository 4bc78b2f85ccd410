package pwhash_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"testing"

	xargon2 "github.com/go-crypt/x/argon2"
	xcrypt "github.com/go-crypt/x/crypt"
	"github.com/go-crypt/x/yescrypt"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"

	"github.com/idshift/idshift/pwhash"
)

// Each format is benchmarked three times at the same parameters: BenchmarkVerify/<name> through pwhash.Verify on
// the normalised string (parse, caps, derivation, constant-time compare), BenchmarkVerifyParsed/<name> through a
// Hash parsed once, and BenchmarkReference/<name> calling the primitive directly (golang.org/x/crypto, the standard
// library). bench/hashes.sh prints the ratios per format.

type benchCase struct {
	name string
	hash string      // normalised form
	ref  func() bool // the primitive at the same parameters; true when it matches
}

const benchPW = "correct horse battery staple"

// benchNoMatch names the cases whose hash is built for its cost only and does not match.
var benchNoMatch = map[string]bool{"argon2id-v16-m19456-t2-p1-vs-xcrypto-v19": true}

func benchCases(b *testing.B) []benchCase {
	b.Helper()
	pw := []byte(benchPW)
	salt := []byte("0123456789abcdef")
	norm := func(s string) string {
		n, err := pwhash.Normalize(s, pwhash.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	var cases []benchCase

	bc, _ := bcrypt.GenerateFromPassword(pw, 10)
	cases = append(cases, benchCase{"bcrypt-10", string(bc), func() bool { return bcrypt.CompareHashAndPassword(bc, pw) == nil }})

	argon := argon2.IDKey(pw, salt, 2, 19456, 1, 32)
	cases = append(cases, benchCase{"argon2id-m19456-t2-p1",
		fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(argon)),
		func() bool { return subtle.ConstantTimeCompare(argon2.IDKey(pw, salt, 2, 19456, 1, 32), argon) == 1 }})

	argonD := xargon2.DKey(pw, salt, 2, 19456, 1, 32)
	cases = append(cases, benchCase{"argon2d-m19456-t2-p1",
		fmt.Sprintf("$argon2d$v=19$m=19456,t=2,p=1$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(argonD)),
		func() bool { return subtle.ConstantTimeCompare(xargon2.DKey(pw, salt, 2, 19456, 1, 32), argonD) == 1 }})
	// Argon2 version 1.0 has no library implementation: it runs on the package's portable Argon2, and its reference
	// is x/crypto's argon2id (version 1.3, same cost), so the ratio shows what the missing assembly costs.
	cases = append(cases, benchCase{"argon2id-v16-m19456-t2-p1-vs-xcrypto-v19",
		fmt.Sprintf("$argon2id$v=16$m=19456,t=2,p=1$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(make([]byte, 32))),
		func() bool { return subtle.ConstantTimeCompare(argon2.IDKey(pw, salt, 2, 19456, 1, 32), argon) == 1 }})

	sk, _ := scrypt.Key(pw, salt, 1<<15, 8, 1, 32)
	cases = append(cases, benchCase{"scrypt-ln15-r8-p1",
		norm(fmt.Sprintf("$scrypt$ln=15,r=8,p=1$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(sk))),
		func() bool {
			k, _ := scrypt.Key(pw, salt, 1<<15, 8, 1, 32)
			return subtle.ConstantTimeCompare(k, sk) == 1
		}})

	for _, p := range []struct {
		alg  string
		h    func() hash.Hash
		iter int
	}{{"sha1", sha1.New, 100_000}, {"sha256", sha256.New, 100_000}, {"sha512", sha512.New, 100_000}} {
		n := p.h().Size()
		k, _ := pbkdf2.Key(p.h, benchPW, salt, p.iter, n)
		h := p.h
		iter := p.iter
		cases = append(cases, benchCase{fmt.Sprintf("pbkdf2-%s-%d", p.alg, p.iter),
			fmt.Sprintf("$pbkdf2-%s$i=%d,l=%d$%s$%s", p.alg, p.iter, n, raw.EncodeToString(salt), raw.EncodeToString(k)),
			func() bool {
				d, _ := pbkdf2.Key(h, benchPW, salt, iter, n)
				return subtle.ConstantTimeCompare(d, k) == 1
			}})
	}

	signer := make([]byte, 64)
	sep := []byte{0x07}
	fk, _ := scrypt.Key(pw, append(append([]byte{}, salt...), sep...), 1<<14, 8, 1, 32)
	blk, _ := aes.NewCipher(fk)
	fhash := make([]byte, 64)
	cipher.NewCTR(blk, make([]byte, 16)).XORKeyStream(fhash, signer)
	cases = append(cases, benchCase{"firebase-scrypt-m14-r8",
		fmt.Sprintf("$idshift-firebase-scrypt$r=8,m=14$%s$%s$%s$%s", raw.EncodeToString(signer), raw.EncodeToString(sep), raw.EncodeToString(salt), raw.EncodeToString(fhash)),
		func() bool {
			k, _ := scrypt.Key(pw, append(append([]byte{}, salt...), sep...), 1<<14, 8, 1, 32)
			c, _ := aes.NewCipher(k)
			out := make([]byte, 64)
			cipher.NewCTR(c, make([]byte, 16)).XORKeyStream(out, signer)
			return subtle.ConstantTimeCompare(out, fhash) == 1
		}})

	ssha := sha1.Sum(append(append([]byte{}, pw...), salt...))
	cases = append(cases, benchCase{"ssha", norm("{SSHA}" + base64.StdEncoding.EncodeToString(append(ssha[:], salt...))),
		func() bool {
			s := sha1.Sum(append(append([]byte{}, pw...), salt...))
			return subtle.ConstantTimeCompare(s[:], ssha[:]) == 1
		}})

	s256 := sha256.Sum256(append(append([]byte{}, salt...), pw...))
	cases = append(cases, benchCase{"sha256-salted",
		fmt.Sprintf("$idshift-digest$a=sha256,s=before$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(s256[:])),
		func() bool {
			s := sha256.Sum256(append(append([]byte{}, salt...), pw...))
			return subtle.ConstantTimeCompare(s[:], s256[:]) == 1
		}})

	mac := hmac.New(sha256.New, salt)
	mac.Write(pw)
	hm := mac.Sum(nil)
	cases = append(cases, benchCase{"hmac-sha256",
		fmt.Sprintf("$idshift-hmac$a=sha256,s=before$%s$$%s", raw.EncodeToString(salt), raw.EncodeToString(hm)),
		func() bool {
			m := hmac.New(sha256.New, salt)
			m.Write(pw)
			return hmac.Equal(m.Sum(nil), hm)
		}})

	// phpass: 2^13 MD5 iterations (WordPress's $P$B); the reference is the same loop over crypto/md5.
	phSalt := "abcdefgh"
	phLoop := func() []byte {
		d := md5.New()
		d.Write([]byte(phSalt))
		d.Write(pw)
		sum := d.Sum(nil)
		for n := 1 << 13; n > 0; n-- {
			d.Reset()
			d.Write(sum)
			d.Write(pw)
			sum = d.Sum(sum[:0])
		}
		return sum
	}
	cases = append(cases, benchCase{"phpass-P-B", "$P$B" + phSalt + pwhash.PhpassEncode(phLoop()), func() bool { return len(phLoop()) == 16 }})

	// crypt(3) and yescrypt: neither the standard library nor x/crypto has them; the reference is
	// github.com/go-crypt/x (Authelia's), whose sha-crypt and md5-crypt the package does not use.
	cs := []byte("saltstringsaltst")
	sc := xcrypt.KeySHACrypt(sha512.New, pw, cs, 5000)
	cases = append(cases, benchCase{"sha512-crypt-5000-vs-go-crypt", "$6$" + string(cs) + "$" + string(sc),
		func() bool { return subtle.ConstantTimeCompare(xcrypt.KeySHACrypt(sha512.New, pw, cs, 5000), sc) == 1 }})
	mc := xcrypt.KeyMD5Crypt(pw, cs[:8])
	cases = append(cases, benchCase{"md5-crypt-vs-go-crypt", "$1$" + string(cs[:8]) + "$" + string(mc),
		func() bool { return subtle.ConstantTimeCompare(xcrypt.KeyMD5Crypt(pw, cs[:8]), mc) == 1 }})
	ySetting := []byte("$y$j9T$" + "LdJMENpBABJJ3hIHjB1Bi.")
	yh, err := yescrypt.Hash(pw, ySetting)
	if err != nil {
		b.Fatal(err)
	}
	cases = append(cases, benchCase{"yescrypt-j9T", string(yh), func() bool {
		h, err := yescrypt.Hash(pw, ySetting)
		return err == nil && subtle.ConstantTimeCompare(h, yh) == 1
	}})
	return cases
}

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			if ok, err := pwhash.Verify(ctx, benchPW, c.hash, pwhash.Options{}); ok == benchNoMatch[c.name] || err != nil {
				b.Fatalf("Verify = %v, %v", ok, err)
			}
			for b.Loop() {
				pwhash.Verify(ctx, benchPW, c.hash, pwhash.Options{})
			}
		})
	}
}

// BenchmarkVerifyParsed/<name> verifies against a Hash parsed once (pwhash.Parse), as a service that keeps parsed
// hashes would: what remains is the derivation and the comparison, which is what the 1.1× target is about.
func BenchmarkVerifyParsed(b *testing.B) {
	ctx := context.Background()
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			h, err := pwhash.Parse(c.hash, pwhash.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if ok, err := h.Verify(ctx, benchPW); ok == benchNoMatch[c.name] || err != nil {
				b.Fatalf("Verify = %v, %v", ok, err)
			}
			for b.Loop() {
				h.Verify(ctx, benchPW)
			}
		})
	}
}

func BenchmarkReference(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			if !c.ref() {
				b.Fatal("reference does not match")
			}
			for b.Loop() {
				c.ref()
			}
		})
	}
}
