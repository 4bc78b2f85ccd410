package pwhash

import (
	"context"
	"strings"
)

// wrapHash carries what an inner hash string cannot say about the bytes it was computed over: a salt joined to the
// password before the inner algorithm ran, and the password's byte encoding. Auth0 imports both for algorithms
// whose own strings hold neither (bcrypt with salt.value, password.encoding with bcrypt, argon2, pbkdf2, ldap or
// scrypt). Normalised form, with at least one of s= and e=:
//
//	$idshift-wrap$s=before|after,e=latin1|utf-16le$<base64 salt>$<inner normalised hash>
type wrapHash struct {
	pat   string // patBefore or patAfter; "" without salt
	enc   string // "" is UTF-8
	salt  []byte
	inner hasher
}

// wrap returns inner with salt and encoding attached, or inner itself when there is neither.
func wrap(c *cfg, inner hasher, salt []byte, after bool, enc string) (hasher, error) {
	if enc != "" {
		if enc = normEncoding(enc); enc == "" {
			return nil, malformed("unknown password encoding")
		}
		if enc == "utf-8" {
			enc = ""
		}
	}
	if len(salt) == 0 && enc == "" {
		return inner, nil
	}
	if ec, ok := inner.(encodingCarrier); ok && ec.passwordEncoding() != "" {
		return nil, malformed("a password encoding on both the wrapper and the hash")
	}
	if _, nested := inner.(*wrapHash); nested {
		return nil, malformed("nested wrapper")
	}
	if err := checkSalt(c, salt); err != nil {
		return nil, err
	}
	h := &wrapHash{enc: enc, salt: salt, inner: inner}
	if len(salt) > 0 {
		h.pat = position(after)
	}
	return h, nil
}

func parseWrap(s string, c *cfg) (hasher, error) {
	f := strings.SplitN(s, "$", 5)
	if len(f) != 5 || f[0] != "" || f[1] != "idshift-wrap" {
		return nil, malformed("wrap: want $idshift-wrap$params$salt$hash")
	}
	pm, err := params(f[2])
	if err != nil {
		return nil, err
	}
	after := false
	switch v, ok := pm.get("s"); {
	case !ok:
	case v == "before":
	case v == "after":
		after = true
	default:
		return nil, malformed("wrap: s")
	}
	enc, hasEnc := pm.get("e")
	if pm.len() != btoi(hasEnc)+btoi(pm.val("s") != "") {
		return nil, malformed("wrap: want s= and/or e=")
	}
	if hasEnc && (enc == "" || enc == "utf-8") {
		return nil, malformed("wrap: e")
	}
	salt, err := decodeB64(f[3])
	if err != nil {
		return nil, malformed("wrap: salt encoding")
	}
	if (len(salt) > 0) != (pm.val("s") != "") {
		return nil, malformed("wrap: s= goes with a salt")
	}
	innerRaw := f[4]
	if isJSONObject(innerRaw) || strings.HasPrefix(innerRaw, "$idshift-wrap$") {
		return nil, malformed("wrap: inner hash")
	}
	inner, err := parseInner(innerRaw, c)
	if err != nil {
		return nil, err
	}
	h, err := wrap(c, inner, salt, after, enc)
	if err != nil {
		return nil, err
	}
	if h == inner {
		return nil, malformed("wrap: nothing to carry")
	}
	return h, nil
}

// parseInner parses a self-describing hash inside another: bare digests (Options.Format) do not apply. It is a
// variable, set in init, because the format table that leads here is what parse reads.
var parseInner func(raw string, c *cfg) (hasher, error)

func init() {
	parseInner = func(raw string, c *cfg) (hasher, error) {
		cc := *c
		cc.Format = ""
		return parse(raw, &cc)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (h *wrapHash) passwordEncoding() string { return h.enc }

func (h *wrapHash) String() string {
	var p []string
	switch h.pat {
	case patBefore:
		p = append(p, "s=before")
	case patAfter:
		p = append(p, "s=after")
	}
	if h.enc != "" {
		p = append(p, "e="+h.enc)
	}
	return "$idshift-wrap$" + strings.Join(p, ",") + "$" + b64.EncodeToString(h.salt) + "$" + h.inner.String()
}

func (h *wrapHash) verify(ctx context.Context, pw []byte) (bool, error) {
	msg := pw
	switch h.pat {
	case patBefore:
		msg = append(append(make([]byte, 0, len(h.salt)+len(pw)), h.salt...), pw...)
	case patAfter:
		msg = append(append(make([]byte, 0, len(h.salt)+len(pw)), pw...), h.salt...)
	}
	return h.inner.verify(ctx, msg)
}
