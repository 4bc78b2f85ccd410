package pwhash_test

import (
	"context"
	"strings"
	"testing"

	"github.com/idshift/idshift/pwhash"
)

// fuzzLimits keep every key derivation a fuzzer can reach cheap, so that Verify can run on each input: the caps are
// what bounds the memory and time of a hostile hash.
var fuzzLimits = pwhash.Limits{
	BcryptCost: 4, ScryptN: 1 << 8, ScryptR: 8, ScryptP: 2, ScryptNR: 1 << 10,
	ArgonMemoryKiB: 64, ArgonTime: 1, ArgonThreads: 2, PBKDF2Iterations: 2000,
	ShaCryptRounds: 1000, PhpassLog2: 8, KeyLen: 128, SaltLen: 128, InputLen: 4096,
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
	opt := pwhash.Options{Limits: fuzzLimits}
	pwhash.Detect(raw)
	n, err := pwhash.Normalize(raw, opt)
	if err != nil {
		if len(raw) > 12 && strings.Contains(err.Error(), raw) {
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
	if _, err := pwhash.Verify(context.Background(), password, n, opt); err != nil && !strings.Contains(err.Error(), "pwhash") {
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
