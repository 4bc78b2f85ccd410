package pwhash

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Structured hashes: the JSON objects that Keycloak, Auth0, Okta and Firebase export. Normalize accepts their JSON
// text (a string starting with "{") and recognises them by shape; unknown fields are ignored, since exports carry
// whole records.

func detectJSON(raw string) (string, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(raw), &m) != nil {
		return "", false
	}
	return classifyJSON(m)
}

func classifyJSON(m map[string]json.RawMessage) (string, bool) {
	has := func(k string) bool { _, ok := m[k]; return ok }
	switch {
	case has("custom_password_hash"):
		return "auth0", true
	case has("credentialData") || has("secretData") || has("hashIterations") || has("hashedSaltedValue"):
		return "keycloak", true
	case has("passwordHash"):
		return "firebase", true
	case has("algorithm") && has("hash"):
		var h map[string]json.RawMessage
		if json.Unmarshal(m["hash"], &h) == nil {
			return "auth0", true
		}
	case has("algorithm") && has("value"):
		return "okta", true
	}
	return "", false
}

func parseJSON(raw string, c *cfg) (hasher, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, malformed("JSON object")
	}
	name, ok := classifyJSON(m)
	if !ok {
		return nil, fmt.Errorf("%w: JSON object of unknown shape", ErrUnknownFormat)
	}
	var h hasher
	var err error
	switch name {
	case "auth0":
		if inner, ok := m["custom_password_hash"]; ok {
			raw = string(inner)
		}
		h, err = parseAuth0(raw, c)
	case "keycloak":
		h, err = parseKeycloak(m, c)
	case "firebase":
		h, err = parseFirebaseUser(raw, c)
	case "okta":
		h, err = parseOkta(raw, c)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return h, nil
}

// ---- Auth0 custom_password_hash ----

type auth0Value struct {
	Value    string `json:"value"`
	Encoding string `json:"encoding"`
	Position string `json:"position"`
}

type auth0Object struct {
	Algorithm string `json:"algorithm"`
	Hash      struct {
		Value    string      `json:"value"`
		Encoding string      `json:"encoding"`
		Digest   string      `json:"digest"`
		Key      *auth0Value `json:"key"`
		Salt     *auth0Value `json:"salt"`
	} `json:"hash"`
	Salt     *auth0Value `json:"salt"`
	Password *struct {
		Encoding string `json:"encoding"`
	} `json:"password"`
	KeyLen          int `json:"keylen"`
	Cost            int `json:"cost"`
	BlockSize       int `json:"blockSize"`
	Parallelization int `json:"parallelization"`
}

// parseAuth0 reads an Auth0 bulk-import custom_password_hash object.
func parseAuth0(raw string, c *cfg) (hasher, error) {
	var o auth0Object
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		return nil, malformed("custom_password_hash object")
	}
	enc := ""
	if o.Password != nil && o.Password.Encoding != "" {
		if enc = normEncoding(o.Password.Encoding); enc == "" {
			return nil, malformed("password.encoding")
		}
	}
	// The salt is "salt" in the current schema and "hash.salt" in older pages; salt.position defaults to prefix.
	s := o.Salt
	if s == nil {
		s = o.Hash.Salt
	}
	var salt []byte
	after := false
	if s != nil && s.Value != "" {
		var err error
		if salt, err = decodeText(s.Value, s.Encoding); err != nil {
			return nil, malformed("salt.value encoding")
		}
		switch strings.ToLower(s.Position) {
		case "prefix", "":
		case "suffix":
			after = true
		default:
			return nil, malformed("salt.position")
		}
	}
	alg := strings.ToLower(o.Algorithm)
	switch alg {
	case "bcrypt", "argon2", "pbkdf2", "ldap":
		if e := strings.ToLower(o.Hash.Encoding); e != "" && e != "utf8" && e != "utf-8" {
			return nil, malformed("hash.encoding for %s", alg)
		}
		v := o.Hash.Value
		var inner hasher
		var err error
		switch alg {
		case "bcrypt":
			inner, err = parseBcrypt(v, c)
		case "argon2":
			if !strings.HasPrefix(v, "$argon2") {
				return nil, malformed("argon2: want a PHC string")
			}
			inner, err = parseArgon2(v, c)
		case "pbkdf2":
			if !strings.HasPrefix(v, "$pbkdf2-") {
				return nil, malformed("pbkdf2: want a PHC string $pbkdf2-<digest>$…")
			}
			inner, err = parsePBKDF2(auth0PBKDF2(v), c)
		default:
			if !strings.HasPrefix(v, "{") {
				return nil, malformed("ldap: want {SCHEME}value")
			}
			inner, err = parseLDAP(v, c)
		}
		if err != nil {
			return nil, err
		}
		// Auth0 joins salt.value to the password before bcrypt (it counts towards bcrypt's 72 bytes), and applies
		// password.encoding to every algorithm; the wrapper carries both.
		return wrap(c, inner, salt, after, enc)
	}
	hashEnc := o.Hash.Encoding
	if hashEnc == "" {
		hashEnc = "hex"
	}
	sum, err := decodeText(o.Hash.Value, hashEnc)
	if err != nil {
		return nil, malformed("hash.value encoding")
	}
	switch alg {
	case "md4", "md5", "sha1", "sha256", "sha512":
		return newDigest(c, alg, position(after), enc, salt, sum)
	case "hmac":
		if o.Hash.Key == nil {
			return nil, malformed("hmac: hash.key required")
		}
		key, err := decodeText(o.Hash.Key.Value, o.Hash.Key.Encoding)
		if err != nil {
			return nil, malformed("hash.key encoding")
		}
		return newHMAC(c, auth0Digest(o.Hash.Digest), position(after), enc, key, salt, sum)
	case "scrypt":
		n, r, p := o.Cost, o.BlockSize, o.Parallelization
		if n == 0 {
			n = 16384
		}
		if r == 0 {
			r = 8
		}
		if p == 0 {
			p = 1
		}
		if n < 2 || n&(n-1) != 0 {
			return nil, malformed("scrypt: cost must be a power of two > 1")
		}
		if o.KeyLen != 0 && o.KeyLen != len(sum) {
			return nil, malformed("scrypt: keylen differs from the hash length")
		}
		ln := 0
		for 1<<ln < n {
			ln++
		}
		inner, err := newScrypt(c, ln, r, p, salt, sum)
		if err != nil {
			return nil, err
		}
		return wrap(c, inner, nil, false, enc)
	}
	return nil, fmt.Errorf("%w: auth0 algorithm %q", ErrUnsupported, truncate(o.Algorithm))
}

// auth0PBKDF2 applies Auth0's reading of a PBKDF2 PHC string: i and l default to 100000 and 64 when omitted, and
// the digest may be named as OpenSSL names it (RSA-SHA256, sha256WithRSAEncryption, …).
func auth0PBKDF2(v string) string {
	f := strings.Split(v, "$")
	if len(f) == 4 { // $pbkdf2-<digest>$<salt>$<hash>: no parameters at all
		f = []string{f[0], f[1], "", f[2], f[3]}
	}
	if len(f) != 5 {
		return v
	}
	f[1] = "pbkdf2-" + auth0Digest(strings.TrimPrefix(f[1], "pbkdf2-"))
	if f[2] == "" || strings.Contains(f[2], "=") {
		if !strings.HasPrefix(f[2], "i=") && !strings.Contains(f[2], ",i=") {
			f[2] = strings.TrimSuffix("i=100000,"+f[2], ",")
		}
		if !strings.Contains(f[2], "l=") {
			f[2] += ",l=64"
		}
	}
	return strings.Join(f, "$")
}

// auth0Digest maps the digest names Auth0 accepts (OpenSSL's, for PBKDF2 and HMAC) to the package's; names it has
// no digest for (mdc2, whirlpool) come back lower-cased and are refused as unsupported.
func auth0Digest(name string) string {
	d := strings.ToLower(name)
	d = strings.TrimPrefix(d, "rsa-")
	d = strings.TrimPrefix(d, "ssl3-")
	d = strings.TrimSuffix(d, "withrsaencryption")
	d = strings.TrimSuffix(d, "withrsa")
	switch d {
	case "sha1-2":
		return "sha1"
	case "ripemd", "rmd160":
		return "ripemd160"
	}
	return d
}

// ---- Okta ----

type oktaObject struct {
	Algorithm       string `json:"algorithm"`
	WorkFactor      int    `json:"workFactor"`
	Salt            string `json:"salt"`
	SaltOrder       string `json:"saltOrder"`
	Value           string `json:"value"`
	IterationCount  int    `json:"iterationCount"`
	Iterations      int    `json:"iterations"`
	KeySize         int    `json:"keySize"`
	DigestAlgorithm string `json:"digestAlgorithm"`
}

// parseOkta reads an Okta password hash object (credentials.password.hash).
func parseOkta(raw string, c *cfg) (hasher, error) {
	var o oktaObject
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		return nil, malformed("hash object")
	}
	alg := strings.ToUpper(o.Algorithm)
	if alg == "BCRYPT" {
		if o.WorkFactor < 4 || o.WorkFactor > 31 || len(o.Salt) != 22 || len(o.Value) != 31 {
			return nil, malformed("bcrypt: want workFactor, a 22-character salt and a 31-character value")
		}
		return parseBcrypt(fmt.Sprintf("$2a$%02d$%s%s", o.WorkFactor, o.Salt, o.Value), c)
	}
	sum, err := decodeB64(o.Value)
	if err != nil {
		return nil, malformed("value encoding")
	}
	salt, err := decodeB64(o.Salt)
	if err != nil {
		return nil, malformed("salt encoding")
	}
	if alg == "PBKDF2" {
		iter := o.IterationCount
		if iter == 0 {
			iter = o.Iterations
		}
		if o.KeySize != 0 && o.KeySize != len(sum) {
			return nil, malformed("pbkdf2: keySize differs from the value length")
		}
		d := strings.TrimSuffix(strings.ToUpper(o.DigestAlgorithm), "_HMAC")
		return newPBKDF2(c, normAlg(d), iter, salt, sum)
	}
	after := false
	switch strings.ToUpper(o.SaltOrder) {
	case "", "PREFIX":
	case "POSTFIX":
		after = true
	default:
		return nil, malformed("saltOrder")
	}
	switch alg {
	case "MD5", "SHA-1", "SHA-256", "SHA-512":
		return newDigest(c, alg, position(after), "", salt, sum)
	}
	return nil, fmt.Errorf("%w: okta algorithm %q", ErrUnsupported, truncate(o.Algorithm))
}

// ---- Keycloak ----

type keycloakSecret struct {
	Value             string `json:"value"`
	HashedSaltedValue string `json:"hashedSaltedValue"`
	Salt              string `json:"salt"`
}

type keycloakCred struct {
	HashIterations       int                 `json:"hashIterations"`
	Algorithm            string              `json:"algorithm"`
	AdditionalParameters map[string][]string `json:"additionalParameters"`
}

// embedded decodes a field that Keycloak writes either as a JSON object or as a string holding one.
func embedded(m map[string]json.RawMessage, key string, v any) error {
	raw, ok := m[key]
	if !ok {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = []byte(s)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return malformed("%s", key)
	}
	return nil
}

// parseKeycloak reads a Keycloak credential: the legacy flat form (value, salt, hashIterations, algorithm) or the
// credentialData/secretData split form of realm exports.
func parseKeycloak(m map[string]json.RawMessage, c *cfg) (hasher, error) {
	var sec keycloakSecret
	var cred keycloakCred
	if _, ok := m["secretData"]; ok {
		if err := embedded(m, "secretData", &sec); err != nil {
			return nil, err
		}
		if err := embedded(m, "credentialData", &cred); err != nil {
			return nil, err
		}
	} else {
		b, _ := json.Marshal(m)
		if json.Unmarshal(b, &sec) != nil || json.Unmarshal(b, &cred) != nil {
			return nil, malformed("credential")
		}
	}
	val := sec.Value
	if val == "" {
		val = sec.HashedSaltedValue
	}
	sum, err := decodeB64(val)
	if err != nil {
		return nil, malformed("value encoding")
	}
	salt, err := decodeB64(sec.Salt)
	if err != nil {
		return nil, malformed("salt encoding")
	}
	alg := strings.ToLower(cred.Algorithm)
	switch alg {
	case "pbkdf2", "pbkdf2-sha1":
		return newPBKDF2(c, "sha1", cred.HashIterations, salt, sum)
	case "pbkdf2-sha256":
		return newPBKDF2(c, "sha256", cred.HashIterations, salt, sum)
	case "pbkdf2-sha512":
		return newPBKDF2(c, "sha512", cred.HashIterations, salt, sum)
	case "argon2":
		ap := func(k, def string) string {
			if v := cred.AdditionalParameters[k]; len(v) > 0 {
				return v[0]
			}
			return def
		}
		variant := map[string]string{"id": "argon2id", "i": "argon2i", "d": "argon2d"}[ap("type", "id")]
		if variant == "" {
			return nil, malformed("argon2 type")
		}
		version := map[string]uint32{"1.3": 0x13, "1.0": 0x10}[ap("version", "1.3")]
		if version == 0 {
			return nil, fmt.Errorf("%w: argon2 version", ErrUnsupported)
		}
		mem, err1 := strconv.Atoi(ap("memory", "7168"))
		par, err2 := strconv.Atoi(ap("parallelism", "1"))
		if err1 != nil || err2 != nil {
			return nil, malformed("argon2 parameters")
		}
		if hl := ap("hashLength", ""); hl != "" && hl != strconv.Itoa(len(sum)) {
			return nil, malformed("argon2 hashLength differs from the value length")
		}
		t := cred.HashIterations
		if t == 0 {
			t = 5
		}
		return newArgon2(c, variant, version, mem, t, par, salt, sum)
	}
	return nil, fmt.Errorf("%w: keycloak algorithm %q", ErrUnsupported, truncate(cred.Algorithm))
}

// ---- Firebase ----

type firebaseUser struct {
	PasswordHash string `json:"passwordHash"`
	Salt         string `json:"salt"`
}

// parseFirebaseUser reads a Firebase user export record ({"passwordHash","salt",…}) with the project's
// parameters from Options.Firebase.
func parseFirebaseUser(raw string, c *cfg) (hasher, error) {
	if c.Firebase == nil {
		return nil, malformed("the project's hash parameters (Options.Firebase) are required")
	}
	var u firebaseUser
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		return nil, malformed("user record")
	}
	sum, err := decodeB64(u.PasswordHash)
	if err != nil {
		return nil, malformed("passwordHash encoding")
	}
	salt, err := decodeB64(u.Salt)
	if err != nil {
		return nil, malformed("salt encoding")
	}
	signer, err := decodeB64(c.Firebase.SignerKey)
	if err != nil {
		return nil, malformed("signer key encoding")
	}
	sep, err := decodeB64(c.Firebase.SaltSeparator)
	if err != nil {
		return nil, malformed("salt separator encoding")
	}
	return newFirebase(c, c.Firebase.Rounds, c.Firebase.MemCost, signer, sep, salt, sum)
}
