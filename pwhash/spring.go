package pwhash

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Spring Security's DelegatingPasswordEncoder, the usual hash of home-grown Java user tables: "{id}" followed by
// that encoder's own string. The ids are PasswordEncoderFactories' (Spring Security 5.0 to 6.x):
//
//	{bcrypt}$2a$…                              bcrypt
//	{argon2}$argon2id$…, {argon2@SpringSecurity_v5_8}…          PHC argon2
//	{scrypt}$<hex params>$<b64 salt>$<b64 key>, {scrypt@SpringSecurity_v5_8}…
//	                                           params = log2 N << 16 | r << 8 | p; key length = the stored key's
//	{pbkdf2}<hex salt+key>                     Spring 5.0–5.7 defaults (Pbkdf2PasswordEncoder v5_5): 8-byte salt,
//	                                           HMAC-SHA1, 185,000 iterations, 32-byte key, empty secret
//	{pbkdf2@SpringSecurity_v5_8}<hex>          16-byte salt, HMAC-SHA256, 310,000 iterations, 32-byte key
//	{MD4} {MD5} {SHA-1} {SHA-256}[{salt}]<hex> digest of password + "{salt}" (the braces included)
//	{ldap}{SSHA}…                              RFC 2307 (LdapShaPasswordEncoder)
//
// {noop} (plaintext) and {sha256} (StandardPasswordEncoder: a secret and 1,024 SHA-256 rounds) are refused as
// unsupported. An encoder configured away from its defaults ({pbkdf2} with other iterations or a secret) cannot be
// told from its string: such hashes do not match, and those users reset their password.

// springIDs are the ids read as Spring's; "{MD5}" is Spring's only when hex follows (LDAP's {MD5} is base64).
var springIDs = []string{"bcrypt", "argon2", "argon2@SpringSecurity_v5_8", "scrypt", "scrypt@SpringSecurity_v5_8",
	"pbkdf2", "pbkdf2@SpringSecurity_v5_8", "MD4", "SHA-1", "SHA-256", "ldap", "noop", "sha256"}

func isSpring(s string) bool {
	if !strings.HasPrefix(s, "{") {
		return false
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return false
	}
	id, rest := s[1:end], s[end+1:]
	if id == "MD5" {
		return strings.HasPrefix(rest, "{") || isHexDigest(rest, 16)
	}
	for _, known := range springIDs {
		if id == known {
			// LDAP scheme names are case-insensitive: "{sha256}" followed by base64 is LDAP's {SHA256}.
			return id != "sha256" || isHexDigest(rest, 40)
		}
	}
	return false
}

func isHexDigest(s string, n int) bool {
	if len(s) != 2*n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func parseSpring(s string, c *cfg) (hasher, error) {
	end := strings.IndexByte(s, '}')
	id, rest := s[1:end], s[end+1:]
	switch id {
	case "bcrypt":
		if !isBcrypt(rest) {
			return nil, malformed("spring bcrypt: want {bcrypt}$2a$…")
		}
		return parseBcrypt(rest, c)
	case "argon2", "argon2@SpringSecurity_v5_8":
		if !strings.HasPrefix(rest, "$argon2") {
			return nil, malformed("spring argon2: want a PHC string")
		}
		return parseArgon2(rest, c)
	case "scrypt", "scrypt@SpringSecurity_v5_8":
		return parseSpringScrypt(rest, c)
	case "pbkdf2", "pbkdf2@SpringSecurity_v5_8":
		b, err := hex.DecodeString(rest)
		if err != nil {
			// setEncodeHashAsBase64(true) writes standard base64 instead of hex.
			if b, err = decodeB64(rest); err != nil {
				return nil, malformed("spring pbkdf2: neither hex nor base64")
			}
		}
		saltLen, alg, iter := 8, "sha1", 185000
		if id != "pbkdf2" {
			saltLen, alg, iter = 16, "sha256", 310000
		}
		if len(b) != saltLen+32 {
			return nil, malformed("spring pbkdf2: want a %d-byte salt and a 32-byte key, got %d bytes", saltLen, len(b))
		}
		return newPBKDF2(c, alg, iter, b[:saltLen], b[saltLen:])
	case "MD4", "MD5", "SHA-1", "SHA-256":
		salt := ""
		if strings.HasPrefix(rest, "{") {
			e := strings.IndexByte(rest, '}')
			if e < 0 {
				return nil, malformed("spring digest: salt without its closing brace")
			}
			salt, rest = rest[:e+1], rest[e+1:]
		}
		alg := normAlg(id)
		sum, err := hex.DecodeString(rest)
		if err != nil {
			if sum, err = decodeB64(rest); err != nil {
				return nil, malformed("spring digest: neither hex nor base64")
			}
		}
		return newDigest(c, alg, patAfter, "", []byte(salt), sum)
	case "ldap":
		if !strings.HasPrefix(rest, "{") {
			// LdapShaPasswordEncoder compares a value without a {SCHEME} label as plaintext.
			return nil, fmt.Errorf("%w: spring {ldap} without a {SCHEME} is a plaintext password, which idshift does not store", ErrUnsupported)
		}
		return parseLDAP(rest, c)
	case "noop":
		return nil, fmt.Errorf("%w: spring {noop} is a plaintext password, which idshift does not store", ErrUnsupported)
	}
	return nil, fmt.Errorf("%w: spring {%s} (StandardPasswordEncoder: a secret and 1024 rounds)", ErrUnsupported, truncate(id))
}

// parseSpringScrypt reads SCryptPasswordEncoder's "$<hex params>$<b64 salt>$<b64 key>".
func parseSpringScrypt(s string, c *cfg) (hasher, error) {
	f := strings.Split(s, "$")
	if len(f) != 4 || f[0] != "" {
		return nil, malformed("spring scrypt: want $params$salt$key")
	}
	params, err := strconv.ParseUint(f[1], 16, 32)
	if err != nil {
		return nil, malformed("spring scrypt: params")
	}
	ln, r, p := int(params>>16&0xffff), int(params>>8&0xff), int(params&0xff)
	salt, err := decodeB64(f[2])
	if err != nil {
		return nil, malformed("spring scrypt: salt encoding")
	}
	key, err := decodeB64(f[3])
	if err != nil {
		return nil, malformed("spring scrypt: key encoding")
	}
	return newScrypt(c, ln, r, p, salt, key)
}
