package pwhash_test

import (
	"context"
	"encoding/base64"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"

	"github.com/idshift/idshift/pwhash"
)

// fuzzLimits keep every key derivation a fuzzer can reach cheap, so that Verify can run on each input: the caps are
// what bounds the memory and time of a hostile hash.
var fuzzLimits = pwhash.Limits{
	BcryptCost: 4, ScryptN: 1 << 8, ScryptR: 8, ScryptP: 2, ScryptNR: 1 << 10,
	ArgonMemoryKiB: 64, ArgonTime: 1, ArgonThreads: 2, PBKDF2Iterations: 2000,
	ShaCryptRounds: 1000, DESCryptRounds: 1 << 10, PhpassLog2: 8, KeyLen: 128, SaltLen: 128, InputLen: 4096,
}

// fuzzAllocBudget is the most one Normalize or Verify may allocate: twice the largest work area fuzzLimits allow
// (scrypt's and yescrypt's 128·N·r bytes plus 128·r·p and 256·r; argon2's m KiB), 64 KiB for fixed costs (cipher and
// hash states, one-time tables, errors) and 64 bytes per byte of hash and password (decoding, JSON, copies, the
// password in its legacy encoding). A parser that sizes a buffer by a number it read before checking it against the
// caps goes past it.
func fuzzAllocBudget(raw, password string) uint64 {
	l := fuzzLimits
	work := max(128*l.ScryptNR+128*l.ScryptR*l.ScryptP+256*l.ScryptR, 1024*int(l.ArgonMemoryKiB))
	return uint64(2*work + 64<<10 + 64*(len(raw)+len(password)))
}

// overBudget runs call and reports whether it allocated more than budget bytes, and how many. The exact count,
// runtime.ReadMemStats around the call (it stops the world and flushes the per-P caches), takes about 20µs, several
// times what a cheap input costs the fuzzer, so call is first measured with runtime/metrics' /gc/heap/allocs:bytes
// (a fraction of a µs). That count is approximate: a small object is counted when its span leaves the P's cache, so
// it misses at most about a span per size class (8 KiB for most) and may take in earlier allocations; a call past
// budget still reads far above budget/4. A call read above budget/4 is run again (Normalize and Verify are
// deterministic) between two ReadMemStats, and only that exact count can fail the input. Both counts are the
// call's own because nothing else allocates meanwhile: a fuzz worker runs one input at a time, and the seed corpus
// runs after every test, parallel ones included, has ended.
func overBudget(budget uint64, call func()) (uint64, bool) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	call()
	metrics.Read(s)
	if s[0].Value.Uint64()-before <= budget/4 {
		return 0, false
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	call()
	runtime.ReadMemStats(&m1)
	a := m1.TotalAlloc - m0.TotalAlloc
	return a, a > budget
}

func addSeeds(f *testing.F, keep func(string) bool) {
	for _, v := range loadVectors(f) {
		if keep(v.Hash) {
			f.Add(v.Hash, v.Password)
		}
	}
	for _, h := range roundTrips(f) {
		if keep(h) {
			f.Add(h, "pässword")
		}
	}
}

// fuzzOne checks the contracts that hold for any input: no panic, errors never hold the input, a normalised form
// normalises to itself, and Verify on it decides or errs within the caps.
func fuzzOne(t *testing.T, raw, password string) {
	fuzzWith(t, raw, raw, password, pwhash.Options{Limits: fuzzLimits})
}

// fuzzWith is fuzzOne under opt (whose Limits are fuzzLimits), where data is the part of raw the fuzzer wrote: an
// error holds the input if it holds more than 12 bytes of data. (A prefix the target supplies is the format's own
// text, which errors quote: "$idshift-hmac$" alone is in "want $idshift-hmac$a=…".) It also checks that Normalize
// and Verify each allocate no more than fuzzAllocBudget.
func fuzzWith(t *testing.T, raw, data, password string, opt pwhash.Options) {
	budget := fuzzAllocBudget(raw, password)
	pwhash.Detect(raw)
	var n string
	var err error
	if a, over := overBudget(budget, func() { n, err = pwhash.Normalize(raw, opt) }); over {
		t.Fatalf("Normalize of %d bytes allocated %d bytes, past the budget of %d", len(raw), a, budget)
	}
	if err != nil {
		if len(data) > 12 && strings.Contains(err.Error(), data) {
			t.Fatalf("error holds the input")
		}
		return
	}
	again, err := pwhash.Normalize(n, opt)
	if err != nil || again != n {
		t.Fatalf("not idempotent (%d -> %d bytes, %v)", len(n), len(again), err)
	}
	if len(n) > 4*len(raw)+256 {
		t.Fatalf("normalised form grew from %d to %d bytes", len(raw), len(n))
	}
	if a, over := overBudget(budget, func() { _, err = pwhash.Verify(context.Background(), password, n, opt) }); over {
		t.Fatalf("Verify (hash of %d bytes, password of %d) allocated %d bytes, past the budget of %d", len(n), len(password), a, budget)
	}
	if err != nil && !strings.Contains(err.Error(), "pwhash") {
		t.Fatalf("Verify error outside the package's errors: %v", err)
	}
}

// FuzzNormalize covers every string format (the dispatch is by prefix, so one target reaches each parser).
func FuzzNormalize(f *testing.F) {
	addSeeds(f, func(h string) bool { return !strings.HasPrefix(h, "{\"") })
	for _, s := range []string{"$2x$04$", "$argon2id$v=19$m=8,t=1,p=1$$", "$scrypt$ln=1,r=1,p=1$$", "$pbkdf2$1$$", "{CRYPT}$1$",
		"$6$rounds=1000$$", "U$S$", "$wp$2y$04$", "$idshift-digest$a=md5,pf=e1BBU1NXT1JEfQ$$", "bcrypt_sha256$$2b$04$",
		"crypt$$ab1Hv2Lg7ltQo", "{CRYPT}rl.3StKT.4T8M", "_J9..rasmBYk8r9AiWNc", "_zzzzrasmBYk8r9AiWNc"} {
		f.Add(s, "x")
	}
	f.Fuzz(fuzzOne)
}

// FuzzNormalizeJSON covers the structured parsers: Keycloak, Auth0, Okta and Firebase objects.
func FuzzNormalizeJSON(f *testing.F) {
	addSeeds(f, func(h string) bool { return strings.HasPrefix(h, "{\"") })
	f.Add(`{"credentialData":{"algorithm":"argon2","hashIterations":1,"additionalParameters":{"memory":["8"]}},"secretData":{"value":"AAAA","salt":"AAAAAAAAAAA"}}`, "x")
	f.Add(`{"algorithm":"PBKDF2","iterationCount":1,"digestAlgorithm":"SHA512_HMAC","salt":"","value":""}`, "x")
	f.Fuzz(fuzzOne)
}

// FuzzNormalizeDigest covers bare digests read with Options.Format.
func FuzzNormalizeDigest(f *testing.F) {
	f.Add("5f4dcc3b5aa765d61d8327deb882cf99", "sha1-salted", "password")
	f.Add("5f4dcc3b5aa765d61d8327deb882cf99:salt", "md5-salted", "password")
	f.Add("750c783e6ab0b503eaa86e310a5db738", "hmac-md5", "x")
	f.Fuzz(func(t *testing.T, raw, format, password string) {
		opt := pwhash.Options{Limits: fuzzLimits, Format: format, Digest: pwhash.DigestParams{Key: "k"}}
		n, err := pwhash.Normalize(raw, opt)
		if err != nil {
			return
		}
		if again, err := pwhash.Normalize(n, opt); err != nil || again != n {
			t.Fatalf("not idempotent (%d -> %d bytes, %v)", len(n), len(again), err)
		}
		pwhash.Verify(context.Background(), password, n, opt)
	})
}

// ---- one target per parser family ----
//
// FuzzNormalize spreads its time over every parser. The targets below each stay inside one family: the fuzzer
// picks one of the family's prefixes by index and writes what follows it, so every input reaches the family's
// parsers (ASP.NET and DES, which have no prefix, are built so that detection always sends them there).

// family is one family of parsers: the prefixes its strings start with (where one prefix starts another, the
// longer first) and the names Detect gives them.
type family struct {
	prefixes []string
	names    []string
}

// fuzzSeed is a hash from the public vectors or the round trips, or the normalised form of one.
type fuzzSeed struct {
	hash, password string
	lnIsN          bool // Options.ScryptLnIsN
}

// fuzzSeeds returns the hashes of loadVectors and roundTrips, each with its normalised form (the "$idshift-…$"
// strings have no vectors of their own).
func fuzzSeeds(f *testing.F) []fuzzSeed {
	var out []fuzzSeed
	add := func(h, pw string, lnIsN bool, enc string) {
		out = append(out, fuzzSeed{h, pw, lnIsN})
		if n, err := pwhash.Normalize(h, pwhash.Options{ScryptLnIsN: lnIsN, Encoding: enc}); err == nil && n != h {
			out = append(out, fuzzSeed{n, pw, false})
		}
	}
	for _, v := range loadVectors(f) {
		lnIsN, _ := v.Options["scrypt_ln_is_n"].(bool)
		add(v.Hash, v.Password, lnIsN, str(v.Options, "encoding"))
	}
	for _, h := range roundTrips(f) {
		add(h, "pässword", false, "")
	}
	return out
}

// prefix returns the index of the family's prefix h starts with.
func (fam family) prefix(h string) (int, bool) {
	for i, p := range fam.prefixes {
		if strings.HasPrefix(h, p) {
			return i, true
		}
	}
	return 0, false
}

func (fam family) detects(raw string) bool {
	name, _ := pwhash.Detect(raw)
	return slices.Contains(fam.names, name)
}

// fuzzFamily runs a target over fam. Its arguments are sel (the low 7 bits pick the prefix, the high bit sets
// Options.ScryptLnIsN), the rest of the hash and the password. It is seeded with the vectors and round trips fam
// owns (by prefix and detection), their normalised forms, and edges; an edge Detect does not send to fam, or a
// family no vector belongs to, fails the target, so that the format table and the families agree. Inputs Detect
// sends elsewhere (a "{" that reads as JSON) are skipped.
func fuzzFamily(f *testing.F, fam family, edges ...string) {
	add := func(h, pw string, lnIsN bool) bool {
		i, ok := fam.prefix(h)
		if !ok || !fam.detects(h) {
			return false
		}
		sel := uint8(i)
		if lnIsN {
			sel |= 0x80
		}
		f.Add(sel, h[len(fam.prefixes[i]):], pw)
		return true
	}
	n := 0
	for _, s := range fuzzSeeds(f) {
		if add(s.hash, s.password, s.lnIsN) {
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no vector or round trip belongs to the family %v", fam.names)
	}
	for _, e := range edges {
		if !add(e, "x", false) {
			name, _ := pwhash.Detect(e)
			f.Fatalf("edge seed %q is detected as %q, outside the family %v", e, name, fam.names)
		}
	}
	f.Fuzz(func(t *testing.T, sel uint8, rest, password string) {
		raw := fam.prefixes[int(sel&0x7f)%len(fam.prefixes)] + rest
		if !fam.detects(raw) {
			return
		}
		fuzzWith(t, raw, rest, password, pwhash.Options{Limits: fuzzLimits, ScryptLnIsN: sel&0x80 != 0})
	})
}

// FuzzBcrypt covers bcrypt ($2a$ $2b$ $2y$ $2x$) and WordPress's "$wp$2…".
func FuzzBcrypt(f *testing.F) {
	fuzzFamily(f, family{
		prefixes: []string{"$2a$", "$2b$", "$2y$", "$2x$", "$wp$2"},
		names:    []string{"bcrypt", "wordpress-bcrypt"},
	}, "$2a$04$", "$2b$04$......................", "$2y$31$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
		"$2x$4$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui", "$wp$2y$04$", "$wp$2a$04$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui")
}

// FuzzArgon2 covers the PHC strings "$argon2id$", "$argon2i$" and "$argon2d$".
func FuzzArgon2(f *testing.F) {
	fuzzFamily(f, family{
		prefixes: []string{"$argon2id$", "$argon2i$", "$argon2d$", "$argon2"},
		names:    []string{"argon2"},
	}, "$argon2id$v=19$m=8,t=1,p=1$$", "$argon2i$m=8,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2d$v=16$m=8,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA", "$argon2id$v=19$m=4294967295,t=4294967295,p=255$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=64,t=1,p=1,keyid=x,data=eA$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA")
}

// FuzzScrypt covers passlib's and Kratos's "$scrypt$" (the selector's high bit reads ln as N) and the normalised
// "$idshift-scrypt$".
func FuzzScrypt(f *testing.F) {
	fuzzFamily(f, family{
		prefixes: []string{"$scrypt$", "$idshift-scrypt$"},
		names:    []string{"scrypt"},
	}, "$scrypt$ln=1,r=1,p=1$$", "$scrypt$ln=4,r=1,p=1$$d9ZXYjhleyA7GcpCwYoEl/FrSETjB0ro39/6P+3iFEI",
		"$scrypt$ln=63,r=2147483647,p=2147483647$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA", "$idshift-scrypt$ln=4,r=1,p=1,l=16$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
		"$idshift-scrypt$ln=0,r=0,p=0,l=0$$")
}

// FuzzFirebase covers Firebase's modified scrypt: "$idshift-firebase-scrypt$" and Kratos's "$firescrypt$" and
// "$firebasescrypt$".
func FuzzFirebase(f *testing.F) {
	fuzzFamily(f, family{
		prefixes: []string{"$idshift-firebase-scrypt$", "$firescrypt$", "$firebasescrypt$"},
		names:    []string{"firebase-scrypt", "firescrypt", "firebasescrypt"},
	}, "$idshift-firebase-scrypt$r=8,m=14$$$$", "$firescrypt$ln=1,r=1,p=1$$$$", "$firebasescrypt$ln=1,r=1$$$$",
		"$idshift-firebase-scrypt$r=2147483647,m=63$AAAA$Bw$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA")
}

// FuzzPBKDF2 covers the PHC "$pbkdf2-<digest>$i=…,l=…$" strings and passlib's "$pbkdf2[-<digest>]$<rounds>$".
func FuzzPBKDF2(f *testing.F) {
	fuzzFamily(f, family{
		prefixes: []string{"$pbkdf2-sha1$", "$pbkdf2-sha256$", "$pbkdf2-sha512$", "$pbkdf2$", "$pbkdf2"},
		names:    []string{"pbkdf2"},
	}, "$pbkdf2$1$$", "$pbkdf2-sha256$i=1,l=16$$", "$pbkdf2-sha512$i=2147483647,l=2147483647$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
		"$pbkdf2-sha256$1$c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "$pbkdf2-md5$i=1$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA")
}

// FuzzCrypt covers crypt(3)'s md5-crypt ($1$, $apr1$), sha-crypt ($5$, $6$) and yescrypt ($y$), and Kratos's
// "$md5-crypt$", "$sha256-crypt$" and "$sha512-crypt$".
func FuzzCrypt(f *testing.F) {
	fuzzFamily(f, family{
		prefixes: []string{"$1$", "$apr1$", "$5$", "$6$", "$y$", "$md5-crypt$", "$sha256-crypt$", "$sha512-crypt$"},
		names: []string{"md5-crypt", "apr1", "sha256-crypt", "sha512-crypt", "yescrypt",
			"kratos-md5-crypt", "kratos-sha256-crypt", "kratos-sha512-crypt"},
	}, "$1$$", "$apr1$rasmusle$rISCgZzpwk3UhDidwXvin0", "$5$rounds=0$$", "$6$rounds=1000$$", "$6$rounds=99999999999$saltstring$",
		"$y$j75$$", "$y$jzz$LdJMENpBABJJ3hIHjB1Bi.$cukHtjbLCSv9aBrZAWtFeE84xzIxxqXfqp9.onBv", "$md5-crypt$$",
		"$sha256-crypt$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "$sha512-crypt$rounds=1000$$")
}

// FuzzPhpass covers phpass ($P$, $H$) and Drupal 7 ($S$, and "U$" for hashes upgraded from MD5).
func FuzzPhpass(f *testing.F) {
	fuzzFamily(f, family{
		prefixes: []string{"$P$", "$H$", "$S$", "U$"},
		names:    []string{"phpass", "drupal-sha512", "drupal-upgraded"},
	}, "$P$", "$H$9aaaaaaaa", "$S$zrandomsaOpYrAZqwxGynirQbWYCb3ejW4BwGH81LJcOzbzeVd02", "U$P$912345678LIjjb6PhecupozNBmDndU0", "U$S$")
}

// FuzzDigest covers the digest strings: "$idshift-digest$", "$idshift-hmac$", Kratos's "$hmac-<alg>$" and
// "$<alg>$[pf=…$salt$]digest".
func FuzzDigest(f *testing.F) {
	fuzzFamily(f, family{
		prefixes: []string{"$idshift-digest$", "$idshift-hmac$", "$hmac-", "$md5$", "$sha1$", "$sha224$", "$sha256$",
			"$sha384$", "$sha512$", "$ripemd160$"},
		names: []string{"digest", "hmac", "kratos-hmac", "kratos-digest"},
	}, "$idshift-digest$a=md5,pf=e1BBU1NXT1JEfQ$$", "$idshift-digest$a=md4,s=after,e=utf-16le$c2FsdA$MTIzNDU2Nzg5MDEyMzQ1Ng",
		"$idshift-hmac$a=sha256,s=before$a2V5$$", "$hmac-md5$$", "$md5$", "$sha1$pf=$$", "$sha256$pf=e1BBU1NXT1JEfQ==$$",
		"$ripemd160$AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
}

// FuzzLDAP covers RFC 2307 and OpenLDAP "{SCHEME}value" strings: digests, {CRYPT} around every crypt(3) format,
// and {PBKDF2-…}.
func FuzzLDAP(f *testing.F) {
	fuzzFamily(f, family{prefixes: []string{"{"}, names: []string{"ldap"}},
		"{CRYPT}$1$", "{CRYPT}rl.3StKT.4T8M", "{CRYPT}_J9..rasmBYk8r9AiWNc", "{CRYPT}$2b$04$", "{CRYPT}$5$rounds=1000$$",
		"{crypt}$y$j75$$", "{SSHA}", "{SMD5}AAAAAAAAAAAAAAAAAAAAAA==", "{PBKDF2}1$$", "{PBKDF2-SHA1}1$c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"{PBKDF2-SHA512}2147483647$$", "{", "{UNKNOWN}x")
}

// FuzzDjango covers Django's "<algorithm>$…" strings: pbkdf2_sha…, bcrypt, bcrypt_sha256, argon2, scrypt, sha1,
// md5, unsalted_md5, unsalted_sha1 and crypt.
func FuzzDjango(f *testing.F) {
	fuzzFamily(f, family{
		prefixes: []string{"pbkdf2_sha", "bcrypt_sha256$", "bcrypt$", "argon2$", "scrypt$", "sha1$", "md5$",
			"unsalted_md5$", "unsalted_sha1$", "crypt$"},
		names: []string{"django-pbkdf2", "django-bcrypt-sha256", "django-bcrypt", "django-argon2", "django-scrypt",
			"django-sha1", "django-md5", "django-unsalted-md5", "django-unsalted-sha1", "django-crypt"},
	}, "pbkdf2_sha256$1$$", "pbkdf2_sha1$2147483647$salt$AAAA", "bcrypt_sha256$$2b$04$", "bcrypt$$2b$04$", "argon2$argon2id$v=19$m=8,t=1,p=1$$",
		"scrypt$16384$salt$8$1$", "scrypt$2$$1$1$AAAAAAAAAAAAAAAAAAAAAA==", "sha1$$", "md5$salt$", "unsalted_md5$$21232f297a57a5a743894a0e4a801fc3",
		"unsalted_sha1$$d033e22ae348aeb5660fc2140aec35850c4da997", "unsalted_md5$x$", "crypt$$ab1Hv2Lg7ltQo", "crypt$$_J9..rasmBYk8r9AiWNc")
}

// FuzzASPNet covers ASP.NET Identity's base64 blobs (version 0x00: PBKDF2-SHA1; 0x01: PRF, iterations, salt): the
// fuzzer writes the decoded blob.
func FuzzASPNet(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if name, _ := pwhash.Detect(s.hash); name == "aspnet-identity" {
			b, err := base64.StdEncoding.DecodeString(s.hash)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, s.password)
		}
	}
	v3 := func(prf, iter, saltLen uint32, rest int) []byte {
		b := []byte{1, byte(prf >> 24), byte(prf >> 16), byte(prf >> 8), byte(prf), byte(iter >> 24), byte(iter >> 16),
			byte(iter >> 8), byte(iter), byte(saltLen >> 24), byte(saltLen >> 16), byte(saltLen >> 8), byte(saltLen)}
		return append(b, make([]byte, rest)...)
	}
	f.Add(make([]byte, 49), "x")
	f.Add(v3(2, 1, 16, 32), "x")
	f.Add(v3(0, 0, 16, 32), "x")
	f.Add(v3(1, 1<<31, 16, 48), "x")
	f.Add(v3(2, 1000, 1<<31, 32), "x")
	f.Add(v3(1, 1000, 16, 700), "x")
	f.Fuzz(func(t *testing.T, blob []byte, password string) {
		raw := base64.StdEncoding.EncodeToString(blob)
		if name, _ := pwhash.Detect(raw); name != "aspnet-identity" {
			return
		}
		fuzzOne(t, raw, password)
	})
}

// FuzzDESCrypt covers traditional DES crypt (13 characters) and BSDi extended DES crypt ("_" and 19 characters):
// the fuzzer's string is made into one, its characters mapped into crypt's base64 alphabet.
func FuzzDESCrypt(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		h := s.hash
		if rest, ok := strings.CutPrefix(h, "crypt$"); ok {
			_, h, _ = strings.Cut(rest, "$")
		}
		h = strings.TrimPrefix(h, "{CRYPT}")
		if name, _ := pwhash.Detect(h); name == "des-crypt" || name == "bsdi-crypt" {
			f.Add(h, s.password)
		}
	}
	for _, s := range []string{"rl.3StKT.4T8M", "ab1Hv2Lg7ltQo", "..", "_J9..rasmBYk8r9AiWNc", "_zzzzrasmBYk8r9AiWNc", "_....", "_/..."} {
		f.Add(s, "x")
	}
	const crypt64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	f.Fuzz(func(t *testing.T, s, password string) {
		b := []byte(".............")
		if strings.HasPrefix(s, "_") {
			b = []byte("_...................")
		}
		for i := range min(len(s), len(b)) {
			if b[i] == '_' {
				continue
			}
			c := s[i]
			if strings.IndexByte(crypt64, c) < 0 {
				c = crypt64[c%64]
			}
			b[i] = c
		}
		// The last character holds 4 bits: its low 2 are 0.
		b[len(b)-1] = crypt64[strings.IndexByte(crypt64, b[len(b)-1])&^3]
		raw := string(b)
		if name, _ := pwhash.Detect(raw); name != "des-crypt" && name != "bsdi-crypt" {
			t.Fatalf("%q is detected as %q", raw, name)
		}
		fuzzOne(t, raw, password)
	})
}

// FuzzWerkzeug covers Werkzeug's "pbkdf2:<digest>:<iterations>$…" and "scrypt:<n>:<r>:<p>$…".
func FuzzWerkzeug(f *testing.F) {
	fuzzFamily(f, family{prefixes: []string{"pbkdf2:", "scrypt:"}, names: []string{"werkzeug"}},
		"pbkdf2:sha256:1$s$"+strings.Repeat("00", 32), "scrypt:2:1:1$s$"+strings.Repeat("00", 64), "pbkdf2:$$", "scrypt:4294967296:8:1$s$00")
}

// FuzzSpring covers Spring Security's "{id}…" strings.
func FuzzSpring(f *testing.F) {
	fuzzFamily(f, family{
		prefixes: []string{"{pbkdf2@SpringSecurity_v5_8}", "{scrypt@SpringSecurity_v5_8}", "{argon2@SpringSecurity_v5_8}",
			"{bcrypt}", "{argon2}", "{scrypt}", "{pbkdf2}", "{MD4}", "{MD5}{", "{SHA-1}", "{SHA-256}", "{ldap}", "{noop}"},
		names: []string{"spring"},
	}, "{scrypt}$a0801$c2FsdA==$"+strings.Repeat("A", 44), "{scrypt}$ffffffff$$", "{pbkdf2}"+strings.Repeat("00", 40),
		"{MD5}{salt}"+strings.Repeat("00", 16), "{SHA-1}{", "{ldap}{SSHA}", "{noop}x")
}
