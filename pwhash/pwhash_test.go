package pwhash_test

// Round trips built here with golang.org/x/crypto and the standard library. These are our own tests of the
// plumbing (parsing, normalising, caps, encodings, context), not public vectors: those are in vectors_test.go.

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/md4"
	"golang.org/x/crypto/ripemd160"
	"golang.org/x/crypto/scrypt"

	"github.com/idshift/idshift/pwhash"
)

var (
	std = base64.StdEncoding
	raw = base64.RawStdEncoding
)

func mustPBKDF2(t testing.TB, h func() hash.Hash, pw string, salt []byte, iter, n int) []byte {
	t.Helper()
	k, err := pbkdf2.Key(h, pw, salt, iter, n)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// roundTrips returns hashes of "pässword" in many formats, built from primitives.
func roundTrips(t testing.TB) map[string]string {
	t.Helper()
	pw := "pässword"
	salt := []byte("0123456789abcdef")
	bc, err := bcrypt.GenerateFromPassword([]byte(pw), 5)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := scrypt.Key([]byte(pw), salt, 1<<10, 8, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	aspv3 := []byte{0x01}
	aspv3 = binary.BigEndian.AppendUint32(aspv3, 1)
	aspv3 = binary.BigEndian.AppendUint32(aspv3, 1000)
	aspv3 = binary.BigEndian.AppendUint32(aspv3, uint32(len(salt)))
	aspv3 = append(aspv3, salt...)
	aspv3 = append(aspv3, mustPBKDF2(t, sha256.New, pw, salt, 1000, 32)...)
	aspv2 := append([]byte{0x00}, salt...)
	aspv2 = append(aspv2, mustPBKDF2(t, sha1.New, pw, salt, 1000, 32)...)
	sha := sha1.Sum(append([]byte(pw), salt...))
	s512 := sha512.Sum512(append(append([]byte{}, salt...), pw...))
	m := hmac.New(sha256.New, []byte("key"))
	m.Write([]byte(pw))
	md := md5.Sum(append([]byte("salt"), pw...))

	return map[string]string{
		"bcrypt":       string(bc),
		"argon2id":     fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32))),
		"argon2i":      fmt.Sprintf("$argon2i$v=19$m=64,t=2,p=2$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(argon2.Key([]byte(pw), salt, 2, 64, 2, 24))),
		"scrypt":       fmt.Sprintf("$scrypt$ln=10,r=8,p=1$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(sk)),
		"pbkdf2-phc":   fmt.Sprintf("$pbkdf2-sha512$i=1000,l=64$%s$%s", std.EncodeToString(salt), std.EncodeToString(mustPBKDF2(t, sha512.New, pw, salt, 1000, 64))),
		"django":       "pbkdf2_sha256$1000$" + string(salt) + "$" + std.EncodeToString(mustPBKDF2(t, sha256.New, pw, salt, 1000, 32)),
		"aspnet-v3":    std.EncodeToString(aspv3),
		"aspnet-v2":    std.EncodeToString(aspv2),
		"ssha":         "{SSHA}" + std.EncodeToString(append(sha[:], salt...)),
		"keycloak":     fmt.Sprintf(`{"credentialData":"{\"hashIterations\":1000,\"algorithm\":\"pbkdf2-sha256\"}","secretData":"{\"value\":\"%s\",\"salt\":\"%s\"}","type":"password"}`, std.EncodeToString(mustPBKDF2(t, sha256.New, pw, salt, 1000, 64)), std.EncodeToString(salt)),
		"keycloak-v1":  fmt.Sprintf(`{"type":"password","hashIterations":1000,"algorithm":"pbkdf2","value":"%s","salt":"%s"}`, std.EncodeToString(mustPBKDF2(t, sha1.New, pw, salt, 1000, 20)), std.EncodeToString(salt)),
		"okta-sha512":  fmt.Sprintf(`{"algorithm":"SHA-512","salt":"%s","saltOrder":"PREFIX","value":"%s"}`, std.EncodeToString(salt), std.EncodeToString(s512[:])),
		"okta-bcrypt":  fmt.Sprintf(`{"algorithm":"BCRYPT","workFactor":5,"salt":"%s","value":"%s"}`, bc[7:29], bc[29:]),
		"okta-pbkdf2":  fmt.Sprintf(`{"algorithm":"PBKDF2","iterationCount":1000,"keySize":32,"digestAlgorithm":"SHA256_HMAC","salt":"%s","value":"%s"}`, std.EncodeToString(salt), std.EncodeToString(mustPBKDF2(t, sha256.New, pw, salt, 1000, 32))),
		"auth0-hmac":   fmt.Sprintf(`{"algorithm":"hmac","hash":{"value":"%s","encoding":"hex","digest":"sha256","key":{"value":"key","encoding":"utf8"}}}`, hex.EncodeToString(m.Sum(nil))),
		"auth0-md5":    fmt.Sprintf(`{"custom_password_hash":{"algorithm":"md5","hash":{"value":"%s","encoding":"base64"},"salt":{"value":"salt","position":"prefix"}}}`, std.EncodeToString(md[:])),
		"auth0-bcrypt": fmt.Sprintf(`{"algorithm":"bcrypt","hash":{"value":"%s"}}`, bc),
		"auth0-scrypt": fmt.Sprintf(`{"algorithm":"scrypt","hash":{"value":"%s","encoding":"hex"},"salt":{"value":"%s","encoding":"utf8"},"keylen":32,"cost":1024,"blockSize":8,"parallelization":1}`, hex.EncodeToString(sk), salt),
	}
}

func TestRoundTrips(t *testing.T) {
	ctx := context.Background()
	for name, h := range roundTrips(t) {
		t.Run(name, func(t *testing.T) {
			n, err := pwhash.Normalize(h, pwhash.Options{})
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if again, err := pwhash.Normalize(n, pwhash.Options{}); err != nil || again != n {
				t.Fatalf("not idempotent: %v", err)
			}
			for _, s := range []string{h, n} {
				if ok, err := pwhash.Verify(ctx, "pässword", s, pwhash.Options{}); !ok || err != nil {
					t.Fatalf("Verify(right) = %v, %v", ok, err)
				}
				if ok, err := pwhash.Verify(ctx, "password", s, pwhash.Options{}); ok || err != nil {
					t.Fatalf("Verify(wrong) = %v, %v", ok, err)
				}
			}
		})
	}
}

func TestNormalizedForms(t *testing.T) {
	hs := roundTrips(t)
	for name, prefix := range map[string]string{
		"bcrypt": "$2a$05$", "argon2id": "$argon2id$v=19$m=64,t=1,p=1$", "scrypt": "$idshift-scrypt$ln=10,r=8,p=1,l=32$",
		"pbkdf2-phc": "$pbkdf2-sha512$i=1000,l=64$", "django": "$pbkdf2-sha256$i=1000,l=32$", "aspnet-v3": "$pbkdf2-sha256$i=1000,l=32$",
		"aspnet-v2": "$pbkdf2-sha1$i=1000,l=32$", "ssha": "$idshift-digest$a=sha1,s=after$", "okta-bcrypt": "$2a$05$",
		"auth0-hmac": "$idshift-hmac$a=sha256,s=before$a2V5$$", "keycloak": "$pbkdf2-sha256$i=1000,l=64$",
	} {
		n, err := pwhash.Normalize(hs[name], pwhash.Options{})
		if err != nil || !strings.HasPrefix(n, prefix) {
			t.Errorf("%s: %v; normalised form lacks prefix %q", name, err, prefix)
		}
	}
}

func TestEncodings(t *testing.T) {
	ctx := context.Background()
	pw := "naïve€"
	latin := []byte("na\xefve")
	sumLatin := sha256.Sum256(latin)
	u16 := []byte{'n', 0, 'a', 0, 0xef, 0, 'v', 0, 'e', 0, 0xac, 0x20}
	sum16 := sha256.Sum256(u16)
	opt := func(enc string) pwhash.Options { return pwhash.Options{Format: "sha256", Encoding: enc} }
	if ok, err := pwhash.Verify(ctx, "naïve", hex.EncodeToString(sumLatin[:]), opt("latin1")); !ok || err != nil {
		t.Errorf("latin1: %v, %v", ok, err)
	}
	if ok, err := pwhash.Verify(ctx, pw, hex.EncodeToString(sumLatin[:]), opt("latin1")); ok || err != nil {
		t.Errorf("latin1 cannot hold €: %v, %v", ok, err)
	}
	if ok, err := pwhash.Verify(ctx, pw, hex.EncodeToString(sum16[:]), opt("utf-16le")); !ok || err != nil {
		t.Errorf("utf-16le: %v, %v", ok, err)
	}
	if _, err := pwhash.Verify(ctx, pw, hex.EncodeToString(sum16[:]), opt("ebcdic")); err == nil {
		t.Error("unknown encoding accepted")
	}
	// An encoding carried by the hash (Auth0 password.encoding) wins over Options.Encoding.
	a0 := fmt.Sprintf(`{"algorithm":"sha256","hash":{"value":"%s"},"password":{"encoding":"utf16le"}}`, hex.EncodeToString(sum16[:]))
	n, err := pwhash.Normalize(a0, pwhash.Options{})
	if err != nil || !strings.Contains(n, ",e=utf-16le$") {
		t.Fatalf("Normalize: %v (or no e=utf-16le)", err)
	}
	if ok, err := pwhash.Verify(ctx, pw, n, pwhash.Options{Encoding: "latin1"}); !ok || err != nil {
		t.Errorf("carried encoding: %v, %v", ok, err)
	}
}

func TestLimits(t *testing.T) {
	hs := roundTrips(t)
	tests := []struct {
		name string
		hash string
		lim  pwhash.Limits
		word string
	}{
		{"bcrypt", hs["bcrypt"], pwhash.Limits{BcryptCost: 4}, "bcrypt cost"},
		{"argon2 m", hs["argon2id"], pwhash.Limits{ArgonMemoryKiB: 32}, "argon2 m"},
		{"argon2 t", hs["argon2i"], pwhash.Limits{ArgonTime: 1}, "argon2 t"},
		{"argon2 p", hs["argon2i"], pwhash.Limits{ArgonThreads: 1}, "argon2 p"},
		{"scrypt N", hs["scrypt"], pwhash.Limits{ScryptN: 512}, "scrypt N"},
		{"scrypt N*r", hs["scrypt"], pwhash.Limits{ScryptNR: 4096}, "scrypt N*r"},
		{"pbkdf2", hs["pbkdf2-phc"], pwhash.Limits{PBKDF2Iterations: 999}, "pbkdf2"},
		{"pbkdf2 blocks", "$pbkdf2-sha1$i=1000,l=64$c2FsdHNhbHQ$" + raw.EncodeToString(make([]byte, 64)), pwhash.Limits{PBKDF2Iterations: 3999}, "pbkdf2"},
		{"sha-crypt", "$6$rounds=5000$salt$" + strings.Repeat("a", 86), pwhash.Limits{ShaCryptRounds: 4999}, "sha-crypt rounds"},
		{"phpass", "$P$B" + strings.Repeat("a", 30), pwhash.Limits{PhpassLog2: 12}, "phpass"},
		{"bsdi-crypt", "_J9..rasmBYk8r9AiWNc", pwhash.Limits{DESCryptRounds: 724}, "bsdi-crypt count 725 > 724"},
		{"defaults: bsdi-crypt 2^24-1", "_zzzzrasmBYk8r9AiWNc", pwhash.Limits{}, "bsdi-crypt count"},
		{"input", hs["keycloak"], pwhash.Limits{InputLen: 64}, "input length"},
		{"salt", hs["ssha"], pwhash.Limits{SaltLen: 8}, "salt length"},
		{"key", hs["pbkdf2-phc"], pwhash.Limits{KeyLen: 32}, "key length"},
		{"defaults: bcrypt 15", "$2b$15$" + strings.Repeat("a", 53), pwhash.Limits{}, "bcrypt cost 15 > 14"},
		{"defaults: scrypt 2^21", "$scrypt$ln=21,r=8,p=1$c2FsdA$" + raw.EncodeToString(make([]byte, 32)), pwhash.Limits{}, "scrypt N"},
		{"yescrypt N*r", "$y$j9T$fqIAg4Vpv9o1MKgWMnyax.$BxkUx27fLJlPOfyIfNEBPzjrDQ95LXKgN5OJii3GL7.", pwhash.Limits{ScryptNR: 1 << 16}, "scrypt N*r 131072 > 65536"},
		{"defaults: yescrypt 1 GiB", "$y$jFT$fqIAg4Vpv9o1MKgWMnyax.$BxkUx27fLJlPOfyIfNEBPzjrDQ95LXKgN5OJii3GL7.", pwhash.Limits{}, "scrypt N*r"},
		{"defaults: argon2 1 GiB", "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHQ$" + raw.EncodeToString(make([]byte, 32)), pwhash.Limits{}, "argon2 m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := pwhash.Options{Limits: tt.lim}
			_, err := pwhash.Normalize(tt.hash, opt)
			if !errors.Is(err, pwhash.ErrOverLimit) || !strings.Contains(err.Error(), tt.word) {
				t.Fatalf("Normalize: %v; want ErrOverLimit naming %q", err, tt.word)
			}
			if ok, err := pwhash.Verify(context.Background(), "x", tt.hash, opt); ok || !errors.Is(err, pwhash.ErrOverLimit) {
				t.Fatalf("Verify: %v, %v", ok, err)
			}
		})
	}
}

func TestContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, h := range roundTrips(t) {
		if ok, err := pwhash.Verify(ctx, "pässword", h, pwhash.Options{}); ok || !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, %v; want context.Canceled", name, ok, err)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		hash string
		want error
	}{
		{"", pwhash.ErrMalformed},
		{"plaintext", pwhash.ErrUnknownFormat},
		{"5f4dcc3b5aa765d61d8327deb882cf99", pwhash.ErrUnknownFormat}, // bare digests need Options.Format
		{"$2b$10$tooshort", pwhash.ErrMalformed},
		{"$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaGhhc2g", pwhash.ErrMalformed},
		{"$argon2d$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", pwhash.ErrUnsupported},
		{"$argon2x$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", pwhash.ErrMalformed},
		{"$scrypt$ln=10,r=8$c2FsdA$aGFzaA", pwhash.ErrMalformed},
		{"$pbkdf2-whirlpool$i=1,l=16$c2FsdA$aGFzaA", pwhash.ErrUnsupported},
		{"{SSHA}!!!", pwhash.ErrMalformed},
		{"{XYZ}abc", pwhash.ErrUnsupported},
		{"{CRYPT}$3$$8846f7eaee8fb117ad06bdd830b7586c", pwhash.ErrUnsupported}, // FreeBSD's NT-hash crypt
		{"{CRYPT}ab1Hv2Lg7ltQp", pwhash.ErrMalformed},                          // DES: unused bits of the last character set
		{"_J9..rasmBYk8r9AiWN", pwhash.ErrUnknownFormat},                       // BSDi DES one character short
		{`{"foo":1}`, pwhash.ErrUnknownFormat},
		{`{"passwordHash":"aGFzaA","salt":"c2FsdA"}`, pwhash.ErrMalformed}, // Firebase needs Options.Firebase
		{`{"algorithm":"whirlpool","hash":{"value":"00"}}`, pwhash.ErrUnsupported},
		{"$1$saltsalt$tooshort", pwhash.ErrMalformed},
		{"$6$rounds=x$salt$" + strings.Repeat("a", 86), pwhash.ErrMalformed},
		{"$P$" + strings.Repeat("a", 31), pwhash.ErrMalformed},
		{"$y$jD5.7$LdJMENpBABJJ3hIHjB1Bi.$HboGM6qPrsK.StKYGt6KErmUYtioHreJd98oIugoNB6", pwhash.ErrUnsupported}, // yescrypt with p = 4 and extra flags
		{"$y$j35$LdJMENpBABJJ3hIHjB1Bi.$cukHtjbLCSv9aBrZAWtFeE84xzIxxqXfqp9.onBvXu9", pwhash.ErrUnsupported},   // N = 2^6
		{"$y$j75$LdJMENpBABJJ3hIHjB1Bi.$cukHtjbLCSv9aBrZAWtFeE84xzIxxqXfqp9.onBvXu", pwhash.ErrMalformed},      // one character short
		{"$y$j75$$cukHtjbLCSv9aBrZAWtFeE84xzIxxqXfqp9.onBvXu9", pwhash.ErrMalformed},                           // no salt
		{"$y$j7!$LdJMENpBABJJ3hIHjB1Bi.$cukHtjbLCSv9aBrZAWtFeE84xzIxxqXfqp9.onBvXu9", pwhash.ErrMalformed},
	}
	for i, tt := range tests {
		_, err := pwhash.Normalize(tt.hash, pwhash.Options{})
		if !errors.Is(err, tt.want) {
			t.Errorf("case %d: Normalize = %v; want %v", i, err, tt.want)
		}
		if err != nil && len(tt.hash) > 8 && strings.Contains(err.Error(), tt.hash) {
			t.Errorf("error holds the hash")
		}
	}
}

func TestDetect(t *testing.T) {
	hs := roundTrips(t)
	for name, want := range map[string]string{
		"bcrypt": "bcrypt", "argon2id": "argon2", "scrypt": "scrypt", "django": "django-pbkdf2", "aspnet-v3": "aspnet-identity",
		"ssha": "ldap", "keycloak": "keycloak", "okta-sha512": "okta", "auth0-md5": "auth0", "auth0-hmac": "auth0",
	} {
		if got, ok := pwhash.Detect(hs[name]); !ok || got != want {
			t.Errorf("Detect(%s) = %q, %v; want %q", name, got, ok, want)
		}
	}
	if _, ok := pwhash.Detect("5f4dcc3b5aa765d61d8327deb882cf99"); ok {
		t.Error("a bare digest was detected")
	}
	formats := pwhash.Formats()
	for _, want := range []string{"bcrypt", "argon2", "keycloak", "okta", "auth0", "firebase", "sha256-salted", "hmac-sha1"} {
		found := false
		for _, f := range formats {
			found = found || f == want
		}
		if !found {
			t.Errorf("Formats() lacks %q", want)
		}
	}
}

func TestBcrypt72(t *testing.T) {
	long := strings.Repeat("x", 72)
	h, err := bcrypt.GenerateFromPassword([]byte(long), 4)
	if err != nil {
		t.Fatal(err)
	}
	// Bytes past the 72nd do not count, as in every bcrypt.
	if ok, err := pwhash.Verify(context.Background(), long+"more", string(h), pwhash.Options{}); !ok || err != nil {
		t.Fatalf("%v, %v", ok, err)
	}
}

func TestDESCrypt(t *testing.T) {
	ctx := context.Background()
	// Public vectors, each also checked against libxcrypt's crypt(3).
	vectors := []struct{ password, hash string }{
		// passlib tests/test_hash_des_crypt.py (DesCryptTest, ExtDesCryptTest known_correct)
		{"", "OgAwTx2l6NADI"},
		{" ", "/Hk.VPuwQTXbc"},
		{"test", "N1tQbOFcM5fpg"},
		{"Compl3X AlphaNu3meric", "um.Wguz3eVCx2"}, // only the first 8 bytes count
		{"4lpHa N|_|M3r1K W/ Cur5Es: #$%(*)(*%#", "sNYqfOyauIyic"},
		{"AlOtBsOl", "cEpWz5IUCShqM"},
		{"hellÖ", "saykDgk3BPZ9E"},
		{" ", "_K1..crsmZxOLzfJH8iw"},
		{"my", "_KR/.crsmykRplHbAvwA"}, // a count above 12 bits
		{"my socra", "_K1..crsmf/9NzZr1fLM"},
		{"my socrates", "_K1..crsmOv1rbde9A9o"}, // past 8 bytes: folded into the key
		{"my socrates note", "_K1..crsm/2qeAhdISMA"},
		// php-src ext/standard/tests/strings/crypt.phpt
		{"rasmuslerdorf", "rl.3StKT.4T8M"},
		{"rasmuslerdorf", "_J9..rasmBYk8r9AiWNc"},
		// Django tests/auth_tests/test_hashers.py (test_crypt), in three spellings
		{"lètmei", "crypt$$ab1Hv2Lg7ltQo"},
		{"lètmei", "{CRYPT}ab1Hv2Lg7ltQo"},
		{"lètmei", "ab1Hv2Lg7ltQo"},
	}
	for _, v := range vectors {
		t.Run(v.hash, func(t *testing.T) {
			n, err := pwhash.Normalize(v.hash, pwhash.Options{})
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			want := v.hash[strings.LastIndexAny(v.hash, "$}")+1:]
			if n != want {
				t.Fatalf("Normalize = %q; want %q", n, want)
			}
			if name, ok := pwhash.Detect(n); !ok || name != map[bool]string{false: "des-crypt", true: "bsdi-crypt"}[n[0] == '_'] {
				t.Errorf("Detect(normalised) = %q, %v", name, ok)
			}
			for _, h := range []string{v.hash, n} {
				if ok, err := pwhash.Verify(ctx, v.password, h, pwhash.Options{}); !ok || err != nil {
					t.Fatalf("Verify(%q) = %v, %v", h, ok, err)
				}
			}
			if ok, err := pwhash.Verify(ctx, v.password+"x", n, pwhash.Options{}); ok != (len(v.password) >= 8 && n[0] != '_') || err != nil {
				t.Errorf("Verify(password+x) = %v, %v; only traditional crypt ignores bytes past the 8th", ok, err)
			}
			if ok, err := pwhash.Verify(ctx, "x"+v.password, n, pwhash.Options{}); ok || err != nil {
				t.Errorf("Verify(x+password) = %v, %v", ok, err)
			}
			// Every character of the hash counts: the salt, the count, and each digest character (the last one
			// only through its 4 used bits, so it moves by 4 places of the alphabet).
			for i := range n {
				b := []byte(n)
				step := 1
				if i == len(n)-1 {
					step = 4
				}
				b[i] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[(strings.IndexByte("./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", b[i])+step)%64]
				if b[0] == '_' && i > 0 && i < 5 && string(b[1:5]) == "...." || i == 0 && n[0] == '_' {
					continue // a count of 0, or the "_" itself
				}
				if ok, err := pwhash.Verify(ctx, v.password, string(b), pwhash.Options{}); ok || err != nil {
					t.Errorf("character %d changed: Verify = %v, %v; want false, nil", i, ok, err)
				}
			}
		})
	}

	// A password read as a C string ends at its first NUL, as crypt(3) read it.
	if ok, err := pwhash.Verify(ctx, "test\x00more", "N1tQbOFcM5fpg", pwhash.Options{}); !ok || err != nil {
		t.Errorf("NUL: %v, %v", ok, err)
	}
	for _, bad := range []string{
		"crypt$$ab1Hv2Lg7ltQ", "crypt$$ab1Hv2Lg7ltQo$", "crypt$ab1Hv2Lg7ltQo", "crypt$$$1$saltsalt$ctlgjDdWJLMT.qwHsWhXR1",
		"{CRYPT}ab1Hv2Lg7ltQ!", "{CRYPT}ab1Hv2Lg7ltQp", "{CRYPT}_J9..rasmBYk8r9AiWN", "{CRYPT}_J9..rasmBYk8r9AiWNc.",
		"{CRYPT}_....rasmBYk8r9AiWNc", // count 0
	} {
		if _, err := pwhash.Normalize(bad, pwhash.Options{}); !errors.Is(err, pwhash.ErrMalformed) {
			t.Errorf("Normalize(%q) = %v; want ErrMalformed", bad, err)
		}
	}
	// Bare strings of the wrong shape are not DES crypt at all.
	for _, s := range []string{"ab1Hv2Lg7ltQp", "ab1Hv2Lg7ltQ", "ab1Hv2Lg7lt:o", "_J9..rasmBYk8r9AiWNd"} {
		if name, ok := pwhash.Detect(s); ok {
			t.Errorf("Detect(%q) = %q", s, name)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if ok, err := pwhash.Verify(cancelled, "test", "N1tQbOFcM5fpg", pwhash.Options{}); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, %v", ok, err)
	}
}

// TestKratosCryptPrefixes: Ory Kratos's names for crypt(3) strings (vectors from ory/kratos hash/hasher_test.go)
// verify, and normalise to the standard prefixes.
func TestKratosCryptPrefixes(t *testing.T) {
	for _, tt := range []struct{ hash, norm string }{
		{"$md5-crypt$TVEiiKNb$SN6/pUaRQS/E8Jh46As2C/", "$1$TVEiiKNb$SN6/pUaRQS/E8Jh46As2C/"},
		{"$md5-crypt$$whuMjZj.HMFoaTaZRRtkO0", "$1$$whuMjZj.HMFoaTaZRRtkO0"},
		{"$sha256-crypt$rounds=535000$05R.9KB6UC2kLI3w$Q/zslzx./JjkAVPTwp6th7nW5l7JU91Gte/UmIh.U78", "$5$rounds=535000$05R.9KB6UC2kLI3w$Q/zslzx./JjkAVPTwp6th7nW5l7JU91Gte/UmIh.U78"},
		{"$sha512-crypt$rounds=656000$3LVbIAVxR//cRajw$uuNasMW.RYxlGzIRFU1Was70BPSa933AjxhZIGJdJBOlqJAHlgqa0yuiuq5JHF/ryNGryJkj87G9i3G2HPSXg1", "$6$rounds=656000$3LVbIAVxR//cRajw$uuNasMW.RYxlGzIRFU1Was70BPSa933AjxhZIGJdJBOlqJAHlgqa0yuiuq5JHF/ryNGryJkj87G9i3G2HPSXg1"},
	} {
		ctx := context.Background()
		norm, err := pwhash.Normalize(tt.hash, pwhash.Options{})
		if err != nil || norm != tt.norm {
			t.Errorf("Normalize(%s) = %q, %v; want %q", tt.hash, norm, err, tt.norm)
			continue
		}
		for _, h := range []string{tt.hash, norm} {
			if ok, err := pwhash.Verify(ctx, "test", h, pwhash.Options{}); !ok || err != nil {
				t.Errorf("Verify(test, %s) = %v, %v", h, ok, err)
			}
			if ok, err := pwhash.Verify(ctx, "tesT", h, pwhash.Options{}); ok || err != nil {
				t.Errorf("Verify(tesT, %s) = %v, %v", h, ok, err)
			}
		}
	}
}

// TestParse checks that a parsed Hash answers as Verify does, for every round-trip format, from many goroutines at
// once (a Hash is shared by a service's requests), and that a cancelled context stops it.
func TestParse(t *testing.T) {
	ctx := context.Background()
	for name, s := range roundTrips(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, err := pwhash.Parse(s, pwhash.Options{})
			if err != nil {
				t.Fatal(err)
			}
			norm, err := pwhash.Normalize(s, pwhash.Options{})
			if err != nil || h.String() != norm {
				t.Fatalf("String differs from Normalize (err %v)", err)
			}
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Go(func() {
					pw := "pässword"
					if i%2 == 1 {
						pw = "password"
					}
					if ok, err := h.Verify(ctx, pw); ok != (i%2 == 0) || err != nil {
						t.Errorf("Verify(#%d) = %v, %v", i, ok, err)
					}
				})
			}
			wg.Wait()
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if ok, err := h.Verify(cancelled, "pässword"); ok || !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled: %v, %v; want context.Canceled", ok, err)
			}
		})
	}
	for _, bad := range []string{"", "$2b$99$abc", "{\"algorithm\":\"x\"}", "$argon2id$v=19$m=999999999,t=1,p=1$c2FsdA$a2V5a2V5"} {
		if h, err := pwhash.Parse(bad, pwhash.Options{}); h != nil || err == nil {
			t.Errorf("Parse(%.12q…) = %v; want an error", bad, err)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (pwhash.Options{}).Validate(); err != nil {
		t.Fatalf("zero Options: %v", err)
	}
	good := pwhash.Options{Encoding: "latin1", Format: "hmac-sha256", Digest: pwhash.DigestParams{Key: "00ff", KeyEncoding: "hex", SaltPosition: "after"},
		Firebase: &pwhash.FirebaseParams{SignerKey: "c2lnbmVy", SaltSeparator: "Bw==", Rounds: 8, MemCost: 14}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid Options: %v", err)
	}
	for field, opt := range map[string]pwhash.Options{
		"Limits.BcryptCost":     {Limits: pwhash.Limits{BcryptCost: 32}},
		"Limits.DESCryptRounds": {Limits: pwhash.Limits{DESCryptRounds: -1}},
		"Encoding":              {Encoding: "ebcdic"},
		"Format":                {Format: "sha3"},
		"Digest.SaltPosition":   {Digest: pwhash.DigestParams{SaltPosition: "middle"}},
		"Digest.Key":            {Format: "hmac-sha1"},
		"Digest.KeyEncoding":    {Digest: pwhash.DigestParams{KeyEncoding: "rot13"}},
		"Firebase.SignerKey":    {Firebase: &pwhash.FirebaseParams{SignerKey: "not base64!", Rounds: 8, MemCost: 14}},
		"Firebase.Rounds":       {Firebase: &pwhash.FirebaseParams{SignerKey: "c2lnbmVy", MemCost: 14}},
	} {
		var oe *pwhash.OptionError
		if err := opt.Validate(); !errors.As(err, &oe) || oe.Field != field {
			t.Errorf("%s: got %v", field, err)
		}
	}
	secret := pwhash.Options{Format: "hmac-sha1", Digest: pwhash.DigestParams{Key: "zz-secret-zz", KeyEncoding: "hex"}}
	if err := secret.Validate(); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("a bad key: %v; want an error without the key", err)
	}
}

// TestAuth0Objects covers what Auth0's bulk-import schema says about custom_password_hash beyond its published
// examples: salt.value joined to the password before bcrypt, password.encoding on every algorithm, PBKDF2 strings
// without i and l (100000 and 64), OpenSSL digest names, and the extra PBKDF2/HMAC digests.
func TestAuth0Objects(t *testing.T) {
	ctx := context.Background()
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	latin1 := []byte{'p', 0xe4, 's', 's'} // "päss" in ISO-8859-1
	salt := []byte("0123456789abcdef")
	ripemd := hmac.New(ripemd160.New, []byte("k"))
	ripemd.Write([]byte("hello"))
	cases := []struct {
		name, object, right, wrong string
	}{
		{"bcrypt salt prefix", `{"algorithm":"bcrypt","hash":{"value":"` + string(must(bcrypt.GenerateFromPassword([]byte("pepperhello"), 4))) + `"},"salt":{"value":"pepper"}}`, "hello", "pepperhello"},
		{"bcrypt salt suffix, hex", `{"algorithm":"bcrypt","hash":{"value":"` + string(must(bcrypt.GenerateFromPassword([]byte("hellopepper"), 4))) + `"},"salt":{"value":"706570706572","encoding":"hex","position":"suffix"}}`, "hello", "hellopepper"},
		{"bcrypt hash.salt (older schema)", `{"algorithm":"bcrypt","hash":{"value":"` + string(must(bcrypt.GenerateFromPassword([]byte("pepperhello"), 4))) + `","salt":{"value":"pepper"}}}`, "hello", "pepperhello"},
		{"bcrypt latin1", `{"algorithm":"bcrypt","hash":{"value":"` + string(must(bcrypt.GenerateFromPassword(latin1, 4))) + `"},"password":{"encoding":"latin1"}}`, "päss", "pass"},
		{"argon2 utf16le", `{"algorithm":"argon2","hash":{"value":"` + fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(argon2.IDKey([]byte{'a', 0, 'b', 0}, salt, 1, 64, 1, 32))) + `"},"password":{"encoding":"utf16le"}}`, "ab", "ba"},
		{"pbkdf2 without i and l", `{"algorithm":"pbkdf2","hash":{"value":"` + fmt.Sprintf("$pbkdf2-sha256$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(mustPBKDF2(t, sha256.New, "hello", salt, 100000, 64))) + `"}}`, "hello", "hellO"},
		{"pbkdf2 without l", `{"algorithm":"pbkdf2","hash":{"value":"` + fmt.Sprintf("$pbkdf2-sha256$i=1000$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(mustPBKDF2(t, sha256.New, "hello", salt, 1000, 64))) + `"}}`, "hello", "hellO"},
		{"pbkdf2-md4", `{"algorithm":"pbkdf2","hash":{"value":"` + fmt.Sprintf("$pbkdf2-md4$i=1000,l=64$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(mustPBKDF2(t, md4.New, "hello", salt, 1000, 64))) + `"}}`, "hello", "hellO"},
		{"pbkdf2 OpenSSL name", `{"algorithm":"pbkdf2","hash":{"value":"` + fmt.Sprintf("$pbkdf2-RSA-SHA384$i=1000,l=48$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(mustPBKDF2(t, sha512.New384, "hello", salt, 1000, 48))) + `"}}`, "hello", "hellO"},
		{"pbkdf2 ripemd160", `{"algorithm":"pbkdf2","hash":{"value":"` + fmt.Sprintf("$pbkdf2-rmd160$i=1000,l=20$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(mustPBKDF2(t, ripemd160.New, "hello", salt, 1000, 20))) + `"}}`, "hello", "hellO"},
		{"hmac ripemd160", `{"algorithm":"hmac","hash":{"value":"` + hex.EncodeToString(ripemd.Sum(nil)) + `","digest":"ripemd160","key":{"value":"k"}}}`, "hello", "hellO"},
		{"scrypt latin1", `{"algorithm":"scrypt","hash":{"value":"` + hex.EncodeToString(must(scrypt.Key(latin1, salt, 1024, 8, 1, 32))) + `"},"salt":{"value":"0123456789abcdef"},"keylen":32,"cost":1024,"password":{"encoding":"latin1"}}`, "päss", "pass"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			norm, err := pwhash.Normalize(c.object, pwhash.Options{})
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if again, err := pwhash.Normalize(norm, pwhash.Options{}); err != nil || again != norm {
				t.Fatalf("not idempotent: %v", err)
			}
			for _, h := range []string{c.object, norm} {
				if ok, err := pwhash.Verify(ctx, c.right, h, pwhash.Options{}); !ok || err != nil {
					t.Errorf("Verify(right) = %v, %v", ok, err)
				}
				if ok, err := pwhash.Verify(ctx, c.wrong, h, pwhash.Options{}); ok || err != nil {
					t.Errorf("Verify(wrong) = %v, %v", ok, err)
				}
			}
		})
	}
	for _, bad := range []string{
		`{"algorithm":"pbkdf2","hash":{"value":"$pbkdf2-whirlpool$i=1000,l=64$c2FsdA$` + raw.EncodeToString(make([]byte, 64)) + `"}}`,
		`{"algorithm":"hmac","hash":{"value":"00","digest":"whirlpool","key":{"value":"k"}}}`,
	} {
		if _, err := pwhash.Normalize(bad, pwhash.Options{}); !errors.Is(err, pwhash.ErrUnsupported) {
			t.Errorf("%.40s…: %v; want ErrUnsupported", bad, err)
		}
	}
	// The wrapper's own string: nesting, an empty wrapper and a salt without a position are malformed.
	inner := "$2a$04$" + strings.Repeat("a", 53)
	for _, bad := range []string{
		"$idshift-wrap$e=latin1$$$idshift-wrap$e=latin1$$" + inner,
		"$idshift-wrap$$$" + inner,
		"$idshift-wrap$e=latin1$c2FsdA$" + inner,
		"$idshift-wrap$s=middle$c2FsdA$" + inner,
		"$idshift-wrap$e=ebcdic$$" + inner,
	} {
		if _, err := pwhash.Normalize(bad, pwhash.Options{}); !errors.Is(err, pwhash.ErrMalformed) {
			t.Errorf("%q: %v; want ErrMalformed", bad, err)
		}
	}
}

// TestWerkzeugAndSpring builds Werkzeug's and Spring Security's strings from primitives, as their sources
// (werkzeug/security.py, spring-security crypto's encoders) describe them, and checks detection, normalisation
// and verification; the public vectors are in werkzeug.jsonl and spring.jsonl.
func TestWerkzeugAndSpring(t *testing.T) {
	ctx := context.Background()
	salt := []byte("0123456789abcdef")
	sk, err := scrypt.Key([]byte("hunter2"), salt, 1024, 8, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	ssk, err := scrypt.Key([]byte("hunter2"), salt, 1024, 8, 2, 32)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("hunter2"), 4)
	if err != nil {
		t.Fatal(err)
	}
	md := md5.Sum([]byte("hunter2{s4lt}"))
	sha := sha256.Sum256([]byte("hunter2"))
	ssha := sha1.Sum(append([]byte("hunter2"), salt[:4]...))
	cases := []struct{ name, hash, format string }{
		{"werkzeug pbkdf2", "pbkdf2:sha256:1000$" + string(salt) + "$" + hex.EncodeToString(mustPBKDF2(t, sha256.New, "hunter2", salt, 1000, 32)), "werkzeug"},
		{"werkzeug pbkdf2 sha512", "pbkdf2:sha512:2000$" + string(salt) + "$" + hex.EncodeToString(mustPBKDF2(t, sha512.New, "hunter2", salt, 2000, 64)), "werkzeug"},
		{"werkzeug scrypt", "scrypt:1024:8:1$" + string(salt) + "$" + hex.EncodeToString(sk), "werkzeug"},
		{"spring bcrypt", "{bcrypt}" + string(bc), "spring"},
		{"spring pbkdf2 (5.5 defaults)", "{pbkdf2}" + hex.EncodeToString(append(salt[:8:8], mustPBKDF2(t, sha1.New, "hunter2", salt[:8], 185000, 32)...)), "spring"},
		{"spring pbkdf2 5.8", "{pbkdf2@SpringSecurity_v5_8}" + hex.EncodeToString(append(salt[:16:16], mustPBKDF2(t, sha256.New, "hunter2", salt, 310000, 32)...)), "spring"},
		{"spring pbkdf2 base64", "{pbkdf2}" + std.EncodeToString(append(salt[:8:8], mustPBKDF2(t, sha1.New, "hunter2", salt[:8], 185000, 32)...)), "spring"},
		{"spring scrypt", "{scrypt}$a0802$" + std.EncodeToString(salt) + "$" + std.EncodeToString(ssk), "spring"},
		{"spring md5 salted", "{MD5}{s4lt}" + hex.EncodeToString(md[:]), "spring"},
		{"spring sha-256 unsalted", "{SHA-256}" + hex.EncodeToString(sha[:]), "spring"},
		{"spring ldap", "{ldap}{SSHA}" + std.EncodeToString(append(ssha[:], salt[:4]...)), "spring"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if f, ok := pwhash.Detect(c.hash); !ok || f != c.format {
				t.Fatalf("Detect = %q, %v; want %q", f, ok, c.format)
			}
			norm, err := pwhash.Normalize(c.hash, pwhash.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{c.hash, norm} {
				if ok, err := pwhash.Verify(ctx, "hunter2", h, pwhash.Options{}); !ok || err != nil {
					t.Errorf("Verify(right) = %v, %v", ok, err)
				}
				if ok, err := pwhash.Verify(ctx, "hunter3", h, pwhash.Options{}); ok || err != nil {
					t.Errorf("Verify(wrong) = %v, %v", ok, err)
				}
			}
		})
	}
	for hash, want := range map[string]error{
		"{noop}hunter2":                       pwhash.ErrUnsupported,
		"{sha256}" + strings.Repeat("ab", 40): pwhash.ErrUnsupported,
		"pbkdf2:sha256$salt$" + hex.EncodeToString(make([]byte, 32)):        pwhash.ErrUnsupported, // iterations left to the version's default
		"pbkdf2:sha3_256:1000$salt$" + hex.EncodeToString(make([]byte, 32)): pwhash.ErrUnsupported,
		"scrypt:1000:8:1$salt$" + hex.EncodeToString(make([]byte, 64)):      pwhash.ErrMalformed,
		"{pbkdf2}" + hex.EncodeToString(make([]byte, 41)):                   pwhash.ErrMalformed,
		"{scrypt}$zz$c2FsdA==$a2V5":                                         pwhash.ErrMalformed,
	} {
		if _, err := pwhash.Normalize(hash, pwhash.Options{}); !errors.Is(err, want) {
			t.Errorf("%.30q…: %v; want %v", hash, err, want)
		}
	}
	// Case-insensitive LDAP schemes are not taken for Spring ids: base64 after {sha256} or {MD5} is LDAP's.
	for _, h := range []string{"{sha256}" + std.EncodeToString(sha[:]), "{MD5}" + std.EncodeToString(md[:])} {
		if f, _ := pwhash.Detect(h); f != "ldap" {
			t.Errorf("Detect(%.12q…) = %q; want ldap", h, f)
		}
	}
}
