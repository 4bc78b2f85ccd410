package entra

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Algorithms accepted for encryptedPasswordContext (docs/contracts.md §1.3). RSA1_5, dir, ECDH-ES, PBES2 and the
// key-wrap families are refused at parse time.
var (
	KeyAlgorithms      = []jose.KeyAlgorithm{jose.RSA_OAEP, jose.RSA_OAEP_256}
	ContentEncryptions = []jose.ContentEncryption{
		jose.A128CBC_HS256, jose.A192CBC_HS384, jose.A256CBC_HS512,
		jose.A128GCM, jose.A192GCM, jose.A256GCM,
	}
)

const (
	// MaxContextBytes caps the compact JWE (Entra's are about 1 KiB).
	MaxContextBytes = 32 << 10
	// MaxPlaintextBytes caps the decrypted, inflated plaintext (Entra's are a few hundred bytes).
	MaxPlaintextBytes = 16 << 10
	maxNonceBytes     = 256
)

// ContextConfig configures the decryption and the checks of encryptedPasswordContext. Keys is required; every
// other zero value is usable.
type ContextConfig struct {
	// Keys are the extension's decryption keys (one, or two during a rotation). The JWE header's x5t chooses the
	// key; a JWE without x5t is tried against each key in turn (Entra always sends x5t; the fallback costs one RSA
	// decryption per key).
	Keys []*KeyPair
	// Audiences, when set, are the accepted values of the inner aud claim (the extension app's id); a context
	// without aud is then refused.
	Audiences []string
	// Issuers, when set, are the accepted values of the inner iss claim (api://{host}/{appId}); a context without
	// iss is then refused.
	Issuers []string
	// RequireExpiry refuses a context without exp (Entra's carry a 10-minute exp, always checked when present).
	RequireExpiry bool
	// Skew is the clock skew allowed on the inner exp, nbf and iat; default DefaultSkew.
	Skew time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// PasswordContext is a decrypted encryptedPasswordContext. Password is the secret; it never prints.
type PasswordContext struct {
	Password Secret
	// Username is the sign-in name the user typed, as sent (optional).
	Username string
	Nonce    string
	Issuer   string
	Audience []string
	// Expiry is the inner exp; zero when absent.
	Expiry time.Time
	// X5T is the thumbprint of the key that decrypted the context.
	X5T string
}

// Decrypter decrypts and checks encryptedPasswordContext values. Safe for concurrent use.
type Decrypter struct {
	cfg ContextConfig
}

// NewDecrypter checks the configuration and fills its defaults.
func NewDecrypter(cfg ContextConfig) (*Decrypter, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("entra: context: at least one decryption key is required")
	}
	for i, k := range cfg.Keys {
		if k == nil || k.Key == nil || k.X5T == "" {
			return nil, fmt.Errorf("entra: context: key %d: incomplete key pair (use LoadKeyPair or NewKeyPair)", i)
		}
	}
	if cfg.Skew <= 0 {
		cfg.Skew = DefaultSkew
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Keys = slices.Clone(cfg.Keys)
	cfg.Audiences = slices.Clone(cfg.Audiences)
	cfg.Issuers = slices.Clone(cfg.Issuers)
	return &Decrypter{cfg: cfg}, nil
}

// Decrypt decrypts a compact JWE (RSA-OAEP or RSA-OAEP-256; CBC-HMAC or GCM content encryption; zip absent or
// DEF, inflated by go-jose with its cap of max(250 kB, 10× the ciphertext), then capped at MaxPlaintextBytes) with
// the key its x5t names, parses the plaintext (an unsigned JWT, alg none only, or a JSON object) and checks it:
// exp, nbf and iat with Skew, aud and iss when configured, nonce and user-password present as non-empty strings.
//
// Every error is an *Error of kind BadContext; its Nonce is set when the plaintext held a usable nonce (so an
// expired context can still be answered). Errors never contain the plaintext.
func (d *Decrypter) Decrypt(compact string) (*PasswordContext, error) {
	compact = strings.TrimSpace(compact)
	if compact == "" {
		return nil, badContext("", fmt.Errorf("%w: empty", ErrMalformedContext))
	}
	if len(compact) > MaxContextBytes {
		return nil, badContext("", ErrContextTooLarge)
	}
	obj, err := jose.ParseEncryptedCompact(compact, KeyAlgorithms, ContentEncryptions)
	if err != nil {
		return nil, badContext("", fmt.Errorf("%w: %w", ErrUndecryptable, err))
	}
	x5t, _ := obj.Header.ExtraHeaders["x5t"].(string)
	candidates := d.cfg.Keys
	if x5t != "" {
		candidates = nil
		for _, k := range d.cfg.Keys {
			if subtle.ConstantTimeCompare([]byte(k.X5T), []byte(x5t)) == 1 {
				candidates = []*KeyPair{k}
				break
			}
		}
		if candidates == nil {
			return nil, badContext("", fmt.Errorf("%w: %q", ErrNoDecryptionKey, x5t))
		}
	}
	var plain []byte
	var used *KeyPair
	for _, k := range candidates {
		plain, err = obj.Decrypt(k.Key)
		if err == nil {
			used = k
			break
		}
	}
	if used == nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return nil, badContext("", ErrUndecryptable)
		}
		// Inflation failures (too large, corrupt stream, unknown zip) land here.
		return nil, badContext("", fmt.Errorf("%w: %w", ErrUndecryptable, err))
	}
	if len(plain) > MaxPlaintextBytes {
		return nil, badContext("", fmt.Errorf("%w: plaintext over %d bytes", ErrContextTooLarge, MaxPlaintextBytes))
	}
	pc, err := d.check(plain)
	if pc != nil {
		pc.X5T = used.X5T
	}
	return pc, err
}

// ParseContextPlaintext parses a decrypted context without checking times, issuer or audience: an unsigned
// compact JWT (header alg none, empty signature) or a JSON object, whose nonce and user-password must be non-empty
// strings. It is what Decrypter.Decrypt applies after decryption, exposed for fuzzing and for the sender's tests.
func ParseContextPlaintext(plain []byte) (*PasswordContext, error) {
	pc, _, err := parsePlaintext(plain)
	if err != nil {
		return nil, err
	}
	return pc, nil
}

type contextTimes struct {
	exp, nbf, iat *float64
}

// parsePlaintext returns the context and its time claims; on error the context is returned when its nonce was
// recovered.
func parsePlaintext(plain []byte) (*PasswordContext, contextTimes, error) {
	var times contextTimes
	payload, err := unsignedPayload(plain)
	if err != nil {
		return nil, times, badContext("", err)
	}
	var claims map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&claims); err != nil || claims == nil || dec.More() {
		// Never wrap the JSON error: it could quote the plaintext.
		return nil, times, badContext("", fmt.Errorf("%w: claims are not a JSON object", ErrMalformedContext))
	}
	pc := &PasswordContext{}
	nonce, ok := stringClaim(claims, "nonce")
	if !ok || nonce == "" || len(nonce) > maxNonceBytes {
		return nil, times, badContext("", ErrNoNonce)
	}
	pc.Nonce = nonce
	fail := func(err error) (*PasswordContext, contextTimes, error) {
		return pc, times, badContext(nonce, err)
	}
	if _, present := claims["username"]; present {
		u, ok := stringClaim(claims, "username")
		if !ok {
			return fail(fmt.Errorf("%w: username is not a string", ErrMalformedContext))
		}
		pc.Username = u
	}
	if _, present := claims["iss"]; present {
		if pc.Issuer, ok = stringClaim(claims, "iss"); !ok {
			return fail(fmt.Errorf("%w: iss is not a string", ErrMalformedContext))
		}
	}
	if raw, present := claims["aud"]; present && !isNull(raw) {
		var one string
		var many []string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			pc.Audience = []string{one}
		case json.Unmarshal(raw, &many) == nil:
			pc.Audience = many
		default:
			return fail(fmt.Errorf("%w: aud is neither a string nor a list of strings", ErrMalformedContext))
		}
	}
	for name, dst := range map[string]**float64{"exp": &times.exp, "nbf": &times.nbf, "iat": &times.iat} {
		raw, present := claims[name]
		if !present || isNull(raw) {
			continue
		}
		var f float64
		if json.Unmarshal(raw, &f) != nil || math.IsNaN(f) || math.Abs(f) > 1<<40 {
			return fail(fmt.Errorf("%w: %s is not a NumericDate", ErrMalformedContext, name))
		}
		*dst = &f
	}
	if times.exp != nil {
		pc.Expiry = unixTime(*times.exp)
	}
	pw, ok := stringClaim(claims, "user-password")
	if !ok || pw == "" {
		return fail(ErrNoPassword)
	}
	pc.Password = NewSecret(pw)
	return pc, times, nil
}

// check parses the plaintext and applies the configured checks. The password check comes last, so that a context
// with no password and a bad time is reported for its time.
func (d *Decrypter) check(plain []byte) (*PasswordContext, error) {
	pc, times, err := parsePlaintext(plain)
	if pc == nil {
		return nil, err
	}
	nonce := pc.Nonce
	now := d.cfg.Now()
	skew := d.cfg.Skew
	switch {
	case times.exp == nil && d.cfg.RequireExpiry:
		return nil, badContext(nonce, fmt.Errorf("%w: no exp", ErrContextExpired))
	case times.exp != nil && now.After(unixTime(*times.exp).Add(skew)):
		return nil, badContext(nonce, ErrContextExpired)
	case times.nbf != nil && now.Add(skew).Before(unixTime(*times.nbf)):
		return nil, badContext(nonce, ErrContextNotYet)
	case times.iat != nil && now.Add(skew).Before(unixTime(*times.iat)):
		return nil, badContext(nonce, fmt.Errorf("%w: issued in the future", ErrContextNotYet))
	}
	if len(d.cfg.Audiences) > 0 && !slices.ContainsFunc(pc.Audience, func(a string) bool {
		return slices.Contains(d.cfg.Audiences, a)
	}) {
		return nil, badContext(nonce, fmt.Errorf("%w: %q", ErrContextAudience, pc.Audience))
	}
	if len(d.cfg.Issuers) > 0 && !slices.Contains(d.cfg.Issuers, pc.Issuer) {
		return nil, badContext(nonce, fmt.Errorf("%w: %q", ErrContextIssuer, pc.Issuer))
	}
	if err != nil {
		return nil, err
	}
	return pc, nil
}

// unsignedPayload returns the JSON payload of a plaintext: the plaintext itself when it is a JSON object, the
// decoded payload of an unsigned compact JWS (alg none, no signature) otherwise.
func unsignedPayload(plain []byte) ([]byte, error) {
	plain = bytes.TrimSpace(plain)
	if len(plain) > 0 && plain[0] == '{' {
		return plain, nil
	}
	parts := bytes.Split(plain, []byte("."))
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: neither a JSON object nor a compact JWT", ErrMalformedContext)
	}
	hb, err := base64.RawURLEncoding.DecodeString(string(parts[0]))
	if err != nil {
		return nil, fmt.Errorf("%w: JWT header encoding", ErrMalformedContext)
	}
	var h map[string]json.RawMessage
	if json.Unmarshal(hb, &h) != nil || h == nil {
		return nil, fmt.Errorf("%w: JWT header is not a JSON object", ErrMalformedContext)
	}
	if alg, _ := stringClaim(h, "alg"); alg != "none" {
		return nil, ErrContextAlgorithm
	}
	if _, crit := h["crit"]; crit {
		return nil, fmt.Errorf("%w: JWT header has crit", ErrMalformedContext)
	}
	if len(parts[2]) != 0 {
		return nil, fmt.Errorf("%w: alg none with a signature", ErrContextAlgorithm)
	}
	payload, err := base64.RawURLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		return nil, fmt.Errorf("%w: JWT payload encoding", ErrMalformedContext)
	}
	return payload, nil
}

func stringClaim(claims map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := claims[name]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || isNull(raw) {
		return "", false
	}
	return s, true
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func unixTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}
