package pwhash

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// b64 is the encoding of binary fields in the normalised forms: standard alphabet, no padding (PHC).
var b64 = base64.RawStdEncoding

// decodeB64 reads standard or URL-safe base64, padded or not. It is strict: unused bits of the last character must
// be zero, so that one hash has one spelling and a changed last character never decodes to the same bytes.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.Strict().DecodeString(s)
	}
	return b64Strict.DecodeString(s)
}

// decodeAB64 reads passlib's adapted base64 ("." for "+", no padding).
func decodeAB64(s string) ([]byte, error) {
	return b64Strict.DecodeString(strings.ReplaceAll(strings.TrimRight(s, "="), ".", "+"))
}

// decodeText decodes s in one of the named text encodings: utf8 (the bytes themselves), hex, base64.
func decodeText(s, enc string) ([]byte, error) {
	switch strings.ToLower(enc) {
	case "", "utf8", "utf-8", "ascii", "binary", "latin1":
		return []byte(s), nil
	case "hex":
		return hex.DecodeString(s)
	case "base64", "b64":
		return decodeB64(s)
	}
	return nil, fmt.Errorf("%w: unknown encoding %q", ErrMalformed, enc)
}

// normEncoding returns the canonical name of a password encoding, or "" if unknown.
func normEncoding(e string) string {
	switch strings.ToLower(strings.ReplaceAll(e, "_", "-")) {
	case "", "utf-8", "utf8", "ascii":
		return "utf-8"
	case "latin1", "latin-1", "iso-8859-1", "binary":
		return "latin1"
	case "utf-16le", "utf16le", "ucs2", "ucs-2":
		return "utf-16le"
	}
	return ""
}

// encodePassword returns password in the legacy encoding. ok is false when the password has characters that
// encoding cannot hold.
func encodePassword(password, enc string) (b []byte, ok bool, err error) {
	switch normEncoding(enc) {
	case "utf-8":
		return []byte(password), true, nil
	case "latin1":
		b = make([]byte, 0, len(password))
		for _, r := range password {
			if r > 0xff || r == utf8.RuneError {
				return nil, false, nil
			}
			b = append(b, byte(r))
		}
		return b, true, nil
	case "utf-16le":
		u := utf16.Encode([]rune(password))
		b = make([]byte, 2*len(u))
		for i, v := range u {
			b[2*i], b[2*i+1] = byte(v), byte(v>>8)
		}
		return b, true, nil
	}
	return nil, false, fmt.Errorf("pwhash: unknown password encoding %q (utf-8, latin1, utf-16le)", enc)
}

// paramList is a parsed "k=v,k=v" list in its order. Formats have a handful of parameters, so it is a small array
// searched in order: parsing one allocates nothing.
type paramList struct {
	n  int
	kv [maxParams][2]string
}

// maxParams is more parameters than any format has.
const maxParams = 8

// params parses "k=v,k=v"; duplicate or empty keys, and more than maxParams parameters, are malformed.
func params(s string) (paramList, error) {
	var p paramList
	if s == "" {
		return p, nil
	}
	for rest, more := s, true; more; {
		var kv string
		kv, rest, more = strings.Cut(rest, ",")
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return paramList{}, malformed("parameter %q", truncate(k))
		}
		if _, dup := p.get(k); dup {
			return paramList{}, malformed("duplicate parameter %q", truncate(k))
		}
		if p.n == maxParams {
			return paramList{}, malformed("more than %d parameters", maxParams)
		}
		p.kv[p.n] = [2]string{k, v}
		p.n++
	}
	return p, nil
}

// get returns the value of key k and whether it is present.
func (p *paramList) get(k string) (string, bool) {
	for i := range p.n {
		if p.kv[i][0] == k {
			return p.kv[i][1], true
		}
	}
	return "", false
}

// val returns the value of key k, "" when absent.
func (p *paramList) val(k string) string {
	v, _ := p.get(k)
	return v
}

// len returns the number of parameters.
func (p *paramList) len() int { return p.n }

// splitInto splits s at each sep into f, as strings.Split does, without allocating. It returns the number of
// fields s has, or len(f)+1 when it has more than f holds (f then holds the first len(f)).
func splitInto(f []string, s string, sep byte) int {
	for n := range f {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			f[n] = s
			return n + 1
		}
		f[n], s = s[:i], s[i+1:]
	}
	return len(f) + 1
}

// b64Strict decodes the normalised forms' binary fields.
var b64Strict = b64.Strict()

// decodeB64Fields decodes the strict base64 (standard alphabet, no padding) fields src into dst, sharing one
// allocation. It returns the index of the first field that does not decode, or -1.
func decodeB64Fields(dst [][]byte, src []string) int {
	n := 0
	for _, s := range src {
		n += b64.DecodedLen(len(s))
	}
	buf := make([]byte, n)
	for i, s := range src {
		k, err := b64Strict.Decode(buf, []byte(s))
		if err != nil {
			return i
		}
		dst[i], buf = buf[:k:k], buf[k:]
	}
	return -1
}

// atoi parses a positive decimal integer without sign or leading zeros beyond "0".
func atoi(name, s string) (int, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, malformed("%s", name)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, malformed("%s", name)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, malformed("%s", name)
	}
	return n, nil
}

// truncate keeps parameter names in errors short; it is only ever given names, never secrets.
func truncate(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

func checkSalt(c *cfg, salt []byte) error {
	if len(salt) > c.lim.SaltLen {
		return overLimit("salt length", len(salt), c.lim.SaltLen)
	}
	return nil
}

func checkKey(c *cfg, key []byte) error {
	if len(key) == 0 {
		return malformed("empty hash")
	}
	if len(key) > c.lim.KeyLen {
		return overLimit("key length", len(key), c.lim.KeyLen)
	}
	return nil
}

// crypt64 is the alphabet of crypt(3), phpass and bcrypt-style encodings.
const crypt64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func isCrypt64(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(crypt64, s[i]) < 0 {
			return false
		}
	}
	return true
}
