package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"time"

	"github.com/idshift/idshift/pwhash"
)

// HashConfig says how legacy password hashes are read and how much one may cost. import reads it from the
// configuration file's "hashes" section, the environment and flags; the hashes commands from the environment and
// flags. The same caps apply when a hash is imported and when it is verified.
//
// Its project-wide keys (HMACKey, Firebase.SignerKey) are the keyring of the normalised hashes: hashes imported
// with them name them by fingerprint instead of carrying them (pwhash.Keyring), so every later command that reads
// those hashes needs the same keys configured; opening the state store checks it (checkKeyring).
type HashConfig struct {
	PasswordEncoding string `yaml:"password_encoding"`
	ScryptLnIsN      bool   `yaml:"scrypt_ln_is_n"`
	Format           string `yaml:"format"`
	SaltPosition     string `yaml:"salt_position"`
	SaltEncoding     string `yaml:"salt_encoding"`
	HashEncoding     string `yaml:"hash_encoding"`
	DigestSeparator  string `yaml:"digest_separator"`
	HMACKey          string `yaml:"hmac_key"`
	HMACKeyEncoding  string `yaml:"hmac_key_encoding"`
	Firebase         struct {
		SignerKey     string `yaml:"signer_key"`
		SaltSeparator string `yaml:"salt_separator"`
		Rounds        int    `yaml:"rounds"`
		MemCost       int    `yaml:"mem_cost"`
	} `yaml:"firebase"`
	Limits struct {
		BcryptCost       int `yaml:"bcrypt_cost"`
		ScryptN          int `yaml:"scrypt_n"`
		ScryptR          int `yaml:"scrypt_r"`
		ScryptP          int `yaml:"scrypt_p"`
		ScryptNR         int `yaml:"scrypt_nr"`
		ArgonMemoryKiB   int `yaml:"argon_memory_kib"`
		ArgonTime        int `yaml:"argon_time"`
		ArgonThreads     int `yaml:"argon_threads"`
		PBKDF2Iterations int `yaml:"pbkdf2_iterations"`
		ShaCryptRounds   int `yaml:"sha_crypt_rounds"`
		DESCryptRounds   int `yaml:"des_crypt_rounds"`
		PhpassLog2       int `yaml:"phpass_log2"`
	} `yaml:"limits"`

	// origin records where each key's value came from, for error messages (set by Config.validate).
	origin origins
}

func defaultHashConfig() HashConfig {
	var h HashConfig
	d := pwhash.DefaultLimits
	l := &h.Limits
	l.BcryptCost, l.ScryptN, l.ScryptR, l.ScryptP, l.ScryptNR = d.BcryptCost, d.ScryptN, d.ScryptR, d.ScryptP, d.ScryptNR
	l.ArgonMemoryKiB, l.ArgonTime, l.ArgonThreads = int(d.ArgonMemoryKiB), int(d.ArgonTime), int(d.ArgonThreads)
	l.PBKDF2Iterations, l.ShaCryptRounds, l.DESCryptRounds, l.PhpassLog2 = d.PBKDF2Iterations, d.ShaCryptRounds, d.DESCryptRounds, d.PhpassLog2
	return h
}

func (h *HashConfig) bindings() []binding {
	l := &h.Limits
	return []binding{
		{"hashes.password_encoding", "password-encoding", "IDSHIFT_PASSWORD_ENCODING", "password encoding the legacy system hashed: utf-8 (default), latin1, utf-16le", &h.PasswordEncoding},
		{"hashes.scrypt_ln_is_n", "scrypt-ln-is-n", "IDSHIFT_SCRYPT_LN_IS_N", "read $scrypt$ln=… as Ory Kratos writes it (ln is N, not log2 N)", &h.ScryptLnIsN},
		{"hashes.format", "hash-format", "IDSHIFT_HASH_FORMAT", "format of bare digests, which cannot be detected: md5, sha256, sha1-salted, hmac-sha256, … (see docs/hashes.md)", &h.Format},
		{"hashes.salt_position", "salt-position", "IDSHIFT_SALT_POSITION", "bare digests: salt before (default) or after the password", &h.SaltPosition},
		{"hashes.salt_encoding", "salt-encoding", "IDSHIFT_SALT_ENCODING", "bare digests: salt as utf8 (default), hex or base64", &h.SaltEncoding},
		{"hashes.hash_encoding", "hash-encoding", "IDSHIFT_HASH_ENCODING", "bare digests: digest as hex (default) or base64", &h.HashEncoding},
		{"hashes.digest_separator", "digest-separator", "IDSHIFT_DIGEST_SEPARATOR", `bare digests: separator between digest and salt (default ":")`, &h.DigestSeparator},
		{"hashes.hmac_key", "hmac-key", "IDSHIFT_HMAC_KEY", "bare HMAC digests: the site-wide key, stored hashes name it by fingerprint: keep it set for later runs (prefer the environment variable: flags show in process lists)", &h.HMACKey},
		{"hashes.hmac_key_encoding", "hmac-key-encoding", "IDSHIFT_HMAC_KEY_ENCODING", "bare HMAC digests: key as utf8 (default), hex or base64", &h.HMACKeyEncoding},
		{"hashes.firebase.signer_key", "firebase-signer-key", "IDSHIFT_FIREBASE_SIGNER_KEY", "Firebase project: base64 signer key (stored hashes name it by fingerprint: keep it set for later runs)", &h.Firebase.SignerKey},
		{"hashes.firebase.salt_separator", "firebase-salt-separator", "IDSHIFT_FIREBASE_SALT_SEPARATOR", "Firebase project: base64 salt separator", &h.Firebase.SaltSeparator},
		{"hashes.firebase.rounds", "firebase-rounds", "IDSHIFT_FIREBASE_ROUNDS", "Firebase project: rounds", &h.Firebase.Rounds},
		{"hashes.firebase.mem_cost", "firebase-mem-cost", "IDSHIFT_FIREBASE_MEM_COST", "Firebase project: memory cost", &h.Firebase.MemCost},
		{"hashes.limits.bcrypt_cost", "max-bcrypt-cost", "IDSHIFT_MAX_BCRYPT_COST", "cap: bcrypt cost", &l.BcryptCost},
		{"hashes.limits.scrypt_n", "max-scrypt-n", "IDSHIFT_MAX_SCRYPT_N", "cap: scrypt N", &l.ScryptN},
		{"hashes.limits.scrypt_r", "max-scrypt-r", "IDSHIFT_MAX_SCRYPT_R", "cap: scrypt r", &l.ScryptR},
		{"hashes.limits.scrypt_p", "max-scrypt-p", "IDSHIFT_MAX_SCRYPT_P", "cap: scrypt p", &l.ScryptP},
		{"hashes.limits.scrypt_nr", "max-scrypt-nr", "IDSHIFT_MAX_SCRYPT_NR", "cap: scrypt N*r (memory / 128 bytes)", &l.ScryptNR},
		{"hashes.limits.argon_memory_kib", "max-argon-memory", "IDSHIFT_MAX_ARGON_MEMORY", "cap: argon2 memory in KiB", &l.ArgonMemoryKiB},
		{"hashes.limits.argon_time", "max-argon-time", "IDSHIFT_MAX_ARGON_TIME", "cap: argon2 iterations", &l.ArgonTime},
		{"hashes.limits.argon_threads", "max-argon-threads", "IDSHIFT_MAX_ARGON_THREADS", "cap: argon2 parallelism", &l.ArgonThreads},
		{"hashes.limits.pbkdf2_iterations", "max-pbkdf2-iterations", "IDSHIFT_MAX_PBKDF2_ITERATIONS", "cap: PBKDF2 iterations times output blocks", &l.PBKDF2Iterations},
		{"hashes.limits.sha_crypt_rounds", "max-sha-crypt-rounds", "IDSHIFT_MAX_SHA_CRYPT_ROUNDS", "cap: sha-crypt rounds", &l.ShaCryptRounds},
		{"hashes.limits.des_crypt_rounds", "max-des-crypt-rounds", "IDSHIFT_MAX_DES_CRYPT_ROUNDS", "cap: BSDi extended DES crypt count (DES encryptions)", &l.DESCryptRounds},
		{"hashes.limits.phpass_log2", "max-phpass-log2", "IDSHIFT_MAX_PHPASS_LOG2", "cap: phpass/Drupal log2 iterations", &l.PhpassLog2},
	}
}

// options returns the pwhash options, validated; an error names the configuration key and its flag.
func (h *HashConfig) options() (pwhash.Options, error) {
	l := h.Limits
	bs := h.bindings()
	for _, c := range []struct {
		key       string
		v, lo, hi int
	}{
		{"hashes.limits.bcrypt_cost", l.BcryptCost, 4, 31},
		{"hashes.limits.scrypt_n", l.ScryptN, 2, math.MaxInt32},
		{"hashes.limits.scrypt_r", l.ScryptR, 1, math.MaxInt32},
		{"hashes.limits.scrypt_p", l.ScryptP, 1, math.MaxInt32},
		{"hashes.limits.scrypt_nr", l.ScryptNR, 1, math.MaxInt32},
		{"hashes.limits.argon_memory_kib", l.ArgonMemoryKiB, 8, math.MaxUint32},
		{"hashes.limits.argon_time", l.ArgonTime, 1, math.MaxUint32},
		{"hashes.limits.argon_threads", l.ArgonThreads, 1, 255},
		{"hashes.limits.pbkdf2_iterations", l.PBKDF2Iterations, 1, math.MaxInt32},
		{"hashes.limits.sha_crypt_rounds", l.ShaCryptRounds, 1000, 999_999_999},
		{"hashes.limits.des_crypt_rounds", l.DESCryptRounds, 1, 1<<24 - 1},
		{"hashes.limits.phpass_log2", l.PhpassLog2, 7, 30},
	} {
		if c.v < c.lo || c.v > c.hi {
			return pwhash.Options{}, fmt.Errorf("config: %s: want %d to %d, got %d", h.origin.describe(bs, c.key), c.lo, c.hi, c.v)
		}
	}
	opt := pwhash.Options{
		Limits: pwhash.Limits{
			BcryptCost: l.BcryptCost, ScryptN: l.ScryptN, ScryptR: l.ScryptR, ScryptP: l.ScryptP, ScryptNR: l.ScryptNR,
			ArgonMemoryKiB: uint32(l.ArgonMemoryKiB), ArgonTime: uint32(l.ArgonTime), ArgonThreads: uint8(l.ArgonThreads),
			PBKDF2Iterations: l.PBKDF2Iterations, ShaCryptRounds: l.ShaCryptRounds, DESCryptRounds: l.DESCryptRounds, PhpassLog2: l.PhpassLog2,
		},
		ScryptLnIsN: h.ScryptLnIsN,
		Encoding:    h.PasswordEncoding,
		Format:      h.Format,
		Digest: pwhash.DigestParams{SaltPosition: h.SaltPosition, SaltEncoding: h.SaltEncoding, HashEncoding: h.HashEncoding,
			Separator: h.DigestSeparator, Key: h.HMACKey, KeyEncoding: h.HMACKeyEncoding},
	}
	fb := h.Firebase
	if fb.SignerKey != "" || fb.SaltSeparator != "" || fb.Rounds != 0 || fb.MemCost != 0 {
		opt.Firebase = &pwhash.FirebaseParams{SignerKey: fb.SignerKey, SaltSeparator: fb.SaltSeparator, Rounds: fb.Rounds, MemCost: fb.MemCost}
	}
	if err := opt.Validate(); err != nil {
		var oe *pwhash.OptionError
		if errors.As(err, &oe) {
			key := optionKeys[oe.Field]
			return pwhash.Options{}, fmt.Errorf("config: %s: %s", h.origin.describe(bs, key), oe.Problem)
		}
		return pwhash.Options{}, fmt.Errorf("config: hashes: %w", err)
	}
	return opt, nil
}

// optionKeys maps pwhash.Options fields to configuration keys.
var optionKeys = map[string]string{
	"Encoding": "hashes.password_encoding", "Format": "hashes.format",
	"Digest.SaltPosition": "hashes.salt_position", "Digest.SaltEncoding": "hashes.salt_encoding",
	"Digest.HashEncoding": "hashes.hash_encoding", "Digest.Key": "hashes.hmac_key", "Digest.KeyEncoding": "hashes.hmac_key_encoding",
	"Firebase.SignerKey": "hashes.firebase.signer_key", "Firebase.SaltSeparator": "hashes.firebase.salt_separator",
	"Firebase.Rounds": "hashes.firebase.rounds", "Firebase.MemCost": "hashes.firebase.mem_cost",
}

func flagOf(bs []binding, key string) string {
	for _, b := range bs {
		if b.key == key {
			return b.flag
		}
	}
	return "?"
}

// registerBindings adds each binding as a flag whose default is the current value.
func registerBindings(fs *flag.FlagSet, bs []binding) {
	for _, b := range bs {
		usage := fmt.Sprintf("%s (%s, $%s)", b.usage, b.key, b.env)
		switch p := b.ptr.(type) {
		case *string:
			fs.StringVar(p, b.flag, *p, usage)
		case *int:
			fs.IntVar(p, b.flag, *p, usage)
		case *bool:
			fs.BoolVar(p, b.flag, *p, usage)
		case *time.Duration:
			fs.DurationVar(p, b.flag, *p, usage)
		}
	}
}

// applyBindingsEnv sets each binding whose environment variable is set, and records it in o when o is not nil; a
// bad value names the variable.
func applyBindingsEnv(bs []binding, getenv func(string) string, o origins) error {
	for _, b := range bs {
		v := getenv(b.env)
		if v == "" {
			continue
		}
		if err := setValue(b.ptr, v); err != nil {
			return fmt.Errorf("config: $%s (%s): %w", b.env, b.key, err)
		}
		if o != nil {
			o[b.key] = "$" + b.env
		}
	}
	return nil
}
