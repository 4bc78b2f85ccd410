package pwhash

import (
	"fmt"
	"slices"
	"strings"
)

// OptionError is a bad Options setting. Field is the Go path of the field ("Limits.BcryptCost", "Digest.Key");
// the message never holds a key's value.
type OptionError struct {
	Field   string
	Problem string
}

func (e *OptionError) Error() string { return "pwhash: Options." + e.Field + ": " + e.Problem }

// Validate checks opt once, before any hash is read, so that a bad setting is one clear error naming its field
// instead of a malformed hash on every row.
func (opt Options) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &OptionError{Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	l := opt.Limits
	for _, f := range []struct {
		name string
		v    int
	}{
		{"BcryptCost", l.BcryptCost}, {"ScryptN", l.ScryptN}, {"ScryptR", l.ScryptR}, {"ScryptP", l.ScryptP},
		{"ScryptNR", l.ScryptNR}, {"PBKDF2Iterations", l.PBKDF2Iterations}, {"ShaCryptRounds", l.ShaCryptRounds},
		{"DESCryptRounds", l.DESCryptRounds}, {"PhpassLog2", l.PhpassLog2}, {"KeyLen", l.KeyLen},
		{"SaltLen", l.SaltLen}, {"InputLen", l.InputLen},
	} {
		if f.v < 0 {
			return bad("Limits."+f.name, "must not be negative (0 takes the default), got %d", f.v)
		}
	}
	if l.BcryptCost > 31 {
		return bad("Limits.BcryptCost", "bcrypt costs stop at 31, got %d", l.BcryptCost)
	}
	if l.PhpassLog2 > 30 {
		return bad("Limits.PhpassLog2", "phpass stops at 30, got %d", l.PhpassLog2)
	}
	if normEncoding(opt.Encoding) == "" {
		return bad("Encoding", "unknown password encoding %q (want utf-8, latin1 or utf-16le)", truncate(opt.Encoding))
	}
	if opt.Format != "" && !slices.Contains(forcedFormats(), strings.ToLower(opt.Format)) {
		return bad("Format", "unknown bare digest format %q (want md5, sha1, sha256, …, <alg>-salted or hmac-<alg>)", truncate(opt.Format))
	}
	d := opt.Digest
	switch strings.ToLower(d.SaltPosition) {
	case "", "before", "prefix", "after", "suffix", "postfix":
	default:
		return bad("Digest.SaltPosition", "want before or after, got %q", truncate(d.SaltPosition))
	}
	switch strings.ToLower(d.HashEncoding) {
	case "", "hex", "base64", "b64":
	default:
		return bad("Digest.HashEncoding", "want hex or base64, got %q", truncate(d.HashEncoding))
	}
	if _, err := decodeText("", d.SaltEncoding); err != nil {
		return bad("Digest.SaltEncoding", "want utf8, hex or base64, got %q", truncate(d.SaltEncoding))
	}
	if _, err := decodeText("", d.KeyEncoding); err != nil {
		return bad("Digest.KeyEncoding", "want utf8, hex or base64, got %q", truncate(d.KeyEncoding))
	}
	if _, err := decodeText(d.Key, d.KeyEncoding); err != nil {
		return bad("Digest.Key", "not valid %s", d.KeyEncoding)
	}
	if strings.HasPrefix(strings.ToLower(opt.Format), "hmac-") && d.Key == "" {
		return bad("Digest.Key", "required by Format %q", opt.Format)
	}
	if fb := opt.Firebase; fb != nil {
		if k, err := decodeB64(fb.SignerKey); err != nil || len(k) == 0 {
			return bad("Firebase.SignerKey", "want the project's base64 signer key")
		}
		if _, err := decodeB64(fb.SaltSeparator); err != nil {
			return bad("Firebase.SaltSeparator", "want base64")
		}
		if fb.Rounds < 1 {
			return bad("Firebase.Rounds", "want at least 1, got %d", fb.Rounds)
		}
		if fb.MemCost < 1 {
			return bad("Firebase.MemCost", "want at least 1, got %d", fb.MemCost)
		}
	}
	return nil
}
