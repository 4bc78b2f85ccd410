// Package webhook checks a password live against a home-grown legacy system through a small signed JSON contract
// over HTTPS (docs/verify.md has the full contract, with a receiver's checklist).
//
// Request: POST to the configured URL, Content-Type application/json, body
//
//	{"signInName":"ada@example.com","legacyId":"42","password":"…"}
//
// with the headers
//
//	Idshift-Timestamp: 1767225600                  (Unix seconds when the request was signed)
//	Idshift-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// The receiver recomputes the signature over the exact bytes received, compares in constant time, and refuses a
// timestamp more than ReplayWindow (5 minutes) away from its clock.
//
// Answer: status 200, Content-Type application/json, body {"verdict":"match"|"mismatch"|"locked"|"must_change"}.
// Nothing else is accepted: any other status, content type, field or verdict, a body over 4 KiB, a redirect, a
// timeout or a TLS failure is "could not decide".
//
// Outcomes (idshift.Verifier): match → (true, nil); mismatch → (false, nil); locked → verify.ErrLocked;
// must_change → verify.ErrMustChange (the receiver checked the password and it was right); anything else → an
// error matching verify.ErrUnavailable. Empty passwords are refused (false, nil) before any request.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/verify"
)

// Contract constants.
const (
	HeaderTimestamp = "Idshift-Timestamp"
	HeaderSignature = "Idshift-Signature"
	// SignatureVersion prefixes the signature ("v1=<hex>"), so the scheme can change without ambiguity.
	SignatureVersion = "v1"
	// ReplayWindow is how far a request's timestamp may be from the receiver's clock.
	ReplayWindow = 5 * time.Minute
	// MaxAnswer is the largest answer body read.
	MaxAnswer = 4 << 10
	// MinSecret is the shortest shared secret Open accepts, in bytes.
	MinSecret = 32
)

// Verdicts of the answer.
const (
	VerdictMatch      = "match"
	VerdictMismatch   = "mismatch"
	VerdictLocked     = "locked"
	VerdictMustChange = "must_change"
)

// DefaultTimeout bounds one request when Config.Timeout is zero.
const DefaultTimeout = verify.DefaultHTTPTimeout

// Config configures the webhook live check. Strictly decoded (unknown keys are errors) by the configuration loader.
//
// Example (YAML):
//
//	webhook:
//	  url: https://legacy.example.com/idshift/verify
//	  secret: "…at least 32 bytes, shared with the receiver…"
//	  rootCA: /etc/idshift/legacy-ca.pem   # the receiver's CA; the system pool when empty
//	  timeout: 5s
//	  maxIdleConns: 16
type Config struct {
	// URL receives the POST. https:// is required unless InsecureHTTP is set. Required.
	URL string `yaml:"url" json:"url"`
	// Secret is the HMAC-SHA256 key shared with the receiver, at least 32 bytes. Required.
	Secret string `yaml:"secret" json:"secret"`
	// RootCA is a PEM file of the certificate authorities to trust for the receiver; the system pool when empty.
	RootCA string `yaml:"rootCA" json:"rootCA,omitempty"`
	// RootCAData is RootCA's content given inline (PEM); it is added to RootCA's.
	RootCAData []byte `yaml:"rootCAData" json:"rootCAData,omitempty"`
	// InsecureHTTP allows an http:// URL: passwords cross the network in clear. For tests and labs only.
	InsecureHTTP bool `yaml:"insecureHTTP" json:"insecureHTTP,omitempty"`
	// Timeout bounds one request, connection included. Default 5s. The caller's context deadline, when earlier,
	// wins.
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// MaxIdleConns is the number of idle keep-alive connections kept to the receiver. Default 16.
	MaxIdleConns int `yaml:"maxIdleConns" json:"maxIdleConns,omitempty"`
	// Now is the clock that stamps requests; time.Now when nil.
	Now func() time.Time `yaml:"-" json:"-"`
}

// Verifier is the webhook live check. It implements idshift.Verifier and is safe for concurrent use.
type Verifier struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
}

// Open validates the configuration and returns the verifier. A missing or bad field is named by its
// configuration path; the secret never appears in an error.
func (c Config) Open(logger *slog.Logger) (*Verifier, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.URL == "":
		return nil, errors.New(`webhook: missing required field "url"`)
	case c.Secret == "":
		return nil, errors.New(`webhook: missing required field "secret"`)
	case len(c.Secret) < MinSecret:
		return nil, fmt.Errorf(`webhook: field "secret": shorter than %d bytes`, MinSecret)
	}
	u, err := verify.CheckURL("url", c.URL, c.InsecureHTTP)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if u.Scheme == "http" {
		logger.Warn("webhook: insecureHTTP: passwords are sent in clear text; for tests and labs only", "url", c.URL)
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	client, err := verify.NewHTTPClient(verify.HTTPConfig{RootCA: c.RootCA, RootCAData: c.RootCAData, Timeout: c.Timeout, MaxIdleConns: c.MaxIdleConns})
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return &Verifier{url: c.URL, secret: []byte(c.Secret), client: client, now: now, log: logger}, nil
}

// Close closes the idle connections.
func (v *Verifier) Close() error {
	v.client.CloseIdleConnections()
	return nil
}

// Request is the body idshift posts.
type Request struct {
	SignInName string `json:"signInName"`
	LegacyID   string `json:"legacyId"`
	Password   string `json:"password"`
}

// Answer is the body the receiver returns.
type Answer struct {
	Verdict string `json:"verdict"`
}

// Sign returns the Idshift-Signature header value for a timestamp (Unix seconds, as sent in Idshift-Timestamp)
// and the exact body bytes.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return SignatureVersion + "=" + hex.EncodeToString(m.Sum(nil))
}

// CheckSignature is the receiver's check, for receivers written in Go: the signature matches the body and the
// timestamp is within ReplayWindow of now. It returns a short reason, never the secret or the body.
func CheckSignature(secret []byte, h http.Header, body []byte, now time.Time) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook: bad or missing " + HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > ReplayWindow || d < -ReplayWindow {
		return errors.New("webhook: timestamp outside the replay window")
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return errors.New("webhook: signature mismatch")
	}
	return nil
}

// Verify implements idshift.Verifier; see the package documentation for the outcomes.
func (v *Verifier) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	if password == "" {
		return false, nil
	}
	req := Request{LegacyID: rec.Key.LegacyID, Password: password}
	if len(rec.SignInNames) > 0 {
		req.SignInName = rec.SignInNames[0]
	}
	body, err := json.Marshal(req)
	if err != nil {
		return false, verify.Unavailable(fmt.Errorf("webhook: encode: %w", err))
	}
	ts := strconv.FormatInt(v.now().Unix(), 10)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, v.url, bytes.NewReader(body))
	if err != nil {
		return false, verify.Unavailable(fmt.Errorf("webhook: %w", err))
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set(HeaderTimestamp, ts)
	hr.Header.Set(HeaderSignature, Sign(v.secret, ts, body))
	resp, err := v.client.Do(hr)
	if err != nil {
		return false, verify.Unavailable(fmt.Errorf("webhook: post: %w", verify.RedactURLError(err)))
	}
	defer verify.CloseBody(resp, MaxAnswer)
	verdict, err := decode(resp)
	if err != nil {
		return false, verify.Unavailable(fmt.Errorf("webhook: answer: %w", err))
	}
	switch verdict {
	case VerdictMatch:
		return true, nil
	case VerdictMismatch:
		return false, nil
	case VerdictLocked:
		return false, fmt.Errorf("webhook: %w", verify.ErrLocked)
	default: // VerdictMustChange
		return false, fmt.Errorf("webhook: %w", verify.ErrMustChange)
	}
}

// decode validates the answer's shape and returns its verdict.
func decode(resp *http.Response) (string, error) {
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	raw, err := verify.ReadBody(resp, MaxAnswer, "application/json")
	if err != nil {
		return "", err
	}
	return ParseAnswer(raw)
}

// ParseAnswer validates an answer body strictly: one JSON object with exactly the field "verdict", holding one of
// the four verdicts, at most MaxAnswer bytes. The error names what is wrong without quoting the body.
func ParseAnswer(raw []byte) (string, error) {
	if len(raw) > MaxAnswer {
		return "", fmt.Errorf("body over %d bytes", MaxAnswer)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var a struct {
		Verdict *string `json:"verdict"`
	}
	if err := dec.Decode(&a); err != nil {
		return "", fmt.Errorf("not the answer object: %w", err)
	}
	if dec.More() {
		return "", errors.New("data after the answer object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("data after the answer object")
	}
	if a.Verdict == nil {
		return "", errors.New(`no "verdict"`)
	}
	switch *a.Verdict {
	case VerdictMatch, VerdictMismatch, VerdictLocked, VerdictMustChange:
		return *a.Verdict, nil
	}
	return "", fmt.Errorf("unknown verdict (%d bytes)", len(*a.Verdict))
}

var _ idshift.Verifier = (*Verifier)(nil)
