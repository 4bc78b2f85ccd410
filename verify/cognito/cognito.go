// Package cognito checks a password live against an Amazon Cognito user pool. Cognito has no password grant at
// its token endpoint; its InitiateAuth API with the USER_PASSWORD_AUTH flow (an app client that allows
// ALLOW_USER_PASSWORD_AUTH) checks a password. The call is unsigned (no AWS credentials: InitiateAuth takes none):
//
//	POST https://cognito-idp.{region}.amazonaws.com/
//	X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth
//	Content-Type: application/x-amz-json-1.1
//
//	{"AuthFlow":"USER_PASSWORD_AUTH","ClientId":"…","AuthParameters":{"USERNAME":"…","PASSWORD":"…","SECRET_HASH":"…"}}
//
// SECRET_HASH, sent when the app client has a secret, is Base64(HMAC-SHA256(client secret, username + client id)).
//
// Outcomes (idshift.Verifier):
//   - 200 with an AuthenticationResult holding an AccessToken: (true, nil).
//   - 200 with ChallengeName NEW_PASSWORD_REQUIRED (an administrator-set temporary password): verify.ErrMustChange
//     (Cognito checked the password first). An MFA challenge (SMS_MFA, SOFTWARE_TOKEN_MFA, EMAIL_OTP,
//     SELECT_MFA_TYPE, MFA_SETUP) comes only after the right password too: (true, nil); the second factor stays
//     behind with Cognito.
//   - 400 NotAuthorizedException "Incorrect username or password.", or UserNotFoundException (pools that do not
//     hide unknown users): (false, nil).
//   - 400 NotAuthorizedException "Password attempts exceeded" or "User is disabled.": verify.ErrLocked.
//   - 400 PasswordResetRequiredException: verify.ErrMustChange (an administrator reset the password; whether the
//     one typed was right is unknown, and the tenant will demand a new one anyway).
//   - anything else (another NotAuthorizedException such as "Unable to verify secret hash", InvalidParameterException
//     for a client without USER_PASSWORD_AUTH, TooManyRequestsException, UserNotConfirmedException, a custom
//     challenge, a 5xx, an answer of the wrong shape, a timeout): an error matching verify.ErrUnavailable, never a
//     wrong password.
//
// Empty passwords and records without a sign-in name are refused (false, nil) before any request.
package cognito

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/verify"
)

// Contract constants.
const (
	Target      = "AWSCognitoIdentityProviderService.InitiateAuth"
	ContentType = "application/x-amz-json-1.1"
	AuthFlow    = "USER_PASSWORD_AUTH"
	// DefaultTimeout bounds one request when Config.Timeout is zero.
	DefaultTimeout = verify.DefaultHTTPTimeout
	maxAnswer      = 64 << 10 // an answer with three tokens is about 4 KiB
)

// Config configures the Cognito live check. Strictly decoded (unknown keys are errors) by the configuration
// loader.
//
// Example (YAML; the client secret, when the app client has one, from secret_env):
//
//	cognito:
//	  region: eu-west-1
//	  clientId: 1example23456789
//	  timeout: 2s
type Config struct {
	// Region is the user pool's AWS region; the endpoint is https://cognito-idp.{region}.amazonaws.com/.
	// Required unless Endpoint is set.
	Region string `yaml:"region" json:"region,omitempty"`
	// Endpoint overrides the regional endpoint (a VPC endpoint, a FIPS endpoint, an emulation).
	Endpoint string `yaml:"endpoint" json:"endpoint,omitempty"`
	// ClientID is the app client's id; the client must allow ALLOW_USER_PASSWORD_AUTH. Required.
	ClientID string `yaml:"clientId" json:"clientId"`
	// ClientSecret is the app client's secret, when it has one (SECRET_HASH is then sent).
	ClientSecret string `yaml:"clientSecret" json:"clientSecret,omitempty"`
	// RootCA is a PEM file of the certificate authorities to trust for the endpoint; the system pool when empty.
	RootCA string `yaml:"rootCA" json:"rootCA,omitempty"`
	// RootCAData is RootCA's content given inline (PEM); it is added to RootCA's.
	RootCAData []byte `yaml:"rootCAData" json:"rootCAData,omitempty"`
	// InsecureHTTP allows an http:// Endpoint: passwords cross the network in clear. For tests and labs only.
	InsecureHTTP bool `yaml:"insecureHTTP" json:"insecureHTTP,omitempty"`
	// Timeout bounds one request, connection included. Default 5s. The caller's context deadline, when earlier,
	// wins.
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// MaxIdleConns is the number of idle keep-alive connections kept to the endpoint. Default 16.
	MaxIdleConns int `yaml:"maxIdleConns" json:"maxIdleConns,omitempty"`
}

// Verifier is the Cognito live check. It implements idshift.Verifier and is safe for concurrent use.
type Verifier struct {
	endpoint string
	clientID string
	secret   []byte
	client   *http.Client
	log      *slog.Logger
}

// Open validates the configuration and returns the verifier. It makes no request. A missing or bad field is named
// by its configuration path; the client secret never appears in an error.
func (c Config) Open(logger *slog.Logger) (*Verifier, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if c.ClientID == "" {
		return nil, errors.New(`cognito: missing required field "clientId"`)
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		if c.Region == "" {
			return nil, errors.New(`cognito: missing required field "region" (or "endpoint")`)
		}
		if strings.ContainsAny(c.Region, "/:?#@ ") {
			return nil, fmt.Errorf(`cognito: field "region": %q is not a region name`, c.Region)
		}
		endpoint = "https://cognito-idp." + c.Region + ".amazonaws.com/"
	}
	u, err := verify.CheckURL("endpoint", endpoint, c.InsecureHTTP)
	if err != nil {
		return nil, fmt.Errorf("cognito: %w", err)
	}
	if u.Scheme == "http" {
		logger.Warn("cognito: insecureHTTP: passwords are sent in clear text; for tests and labs only", "endpoint", endpoint)
	}
	client, err := verify.NewHTTPClient(verify.HTTPConfig{RootCA: c.RootCA, RootCAData: c.RootCAData, Timeout: c.Timeout, MaxIdleConns: c.MaxIdleConns})
	if err != nil {
		return nil, fmt.Errorf("cognito: %w", err)
	}
	v := &Verifier{endpoint: endpoint, clientID: c.ClientID, client: client, log: logger}
	if c.ClientSecret != "" {
		v.secret = []byte(c.ClientSecret)
	}
	return v, nil
}

// Close closes the idle connections.
func (v *Verifier) Close() error {
	v.client.CloseIdleConnections()
	return nil
}

// SecretHash returns SECRET_HASH for a user name: Base64(HMAC-SHA256(clientSecret, username + clientID)).
func SecretHash(clientSecret, username, clientID string) string {
	m := hmac.New(sha256.New, []byte(clientSecret))
	m.Write([]byte(username))
	m.Write([]byte(clientID))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Request is InitiateAuth's request body, as idshift sends it.
type Request struct {
	AuthFlow       string            `json:"AuthFlow"`
	ClientID       string            `json:"ClientId"`
	AuthParameters map[string]string `json:"AuthParameters"`
}

// Answer is the part of InitiateAuth's answer (success or error) the check reads.
type Answer struct {
	AuthenticationResult *struct {
		AccessToken string `json:"AccessToken"`
	} `json:"AuthenticationResult"`
	ChallengeName string `json:"ChallengeName"`
	// Type and Message are the error's __type and message (awsJson1_1 errors).
	Type    string `json:"__type"`
	Message string `json:"message"`
	// MessageAlt is the same message under the capitalized key some AWS answers use.
	MessageAlt string `json:"Message"`
}

// Verify implements idshift.Verifier; see the package documentation for the outcomes.
func (v *Verifier) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	if password == "" || rec == nil || len(rec.SignInNames) == 0 || rec.SignInNames[0] == "" {
		return false, nil
	}
	name := rec.SignInNames[0]
	params := map[string]string{"USERNAME": name, "PASSWORD": password}
	if v.secret != nil {
		params["SECRET_HASH"] = SecretHash(string(v.secret), name, v.clientID)
	}
	body, err := json.Marshal(Request{AuthFlow: AuthFlow, ClientID: v.clientID, AuthParameters: params})
	if err != nil {
		return false, verify.Unavailable(fmt.Errorf("cognito: encode: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.endpoint, bytes.NewReader(body))
	if err != nil {
		return false, verify.Unavailable(fmt.Errorf("cognito: %w", err))
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("X-Amz-Target", Target)
	resp, err := v.client.Do(req)
	if err != nil {
		return false, verify.Unavailable(fmt.Errorf("cognito: InitiateAuth: %w", err))
	}
	defer verify.CloseBody(resp, maxAnswer)
	a, err := readAnswer(resp)
	if err != nil {
		return false, verify.Unavailable(fmt.Errorf("cognito: InitiateAuth answer: %w", err))
	}
	return decide(resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), a)
}

func readAnswer(resp *http.Response) (Answer, error) {
	var a Answer
	raw, err := verify.ReadBody(resp, maxAnswer, ContentType, "application/json")
	if err != nil {
		return a, fmt.Errorf("status %d: %w", resp.StatusCode, err)
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("status %d: not a JSON object", resp.StatusCode)
	}
	return a, nil
}

// ErrorType returns an AWS error's short name from its __type or X-Amzn-ErrorType value, which may carry a
// namespace ("com.amazonaws.cognito#NotAuthorizedException") or a suffix ("NotAuthorizedException:http://…").
func ErrorType(s string) string {
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		s = s[i+1:]
	}
	s, _, _ = strings.Cut(s, ":")
	return strings.TrimSpace(s)
}

// decide maps an answer to the three outcomes; see the package documentation.
func decide(status int, headerType string, a Answer) (bool, error) {
	if status == http.StatusOK {
		switch {
		case a.AuthenticationResult != nil && a.AuthenticationResult.AccessToken != "":
			return true, nil
		case a.ChallengeName == "NEW_PASSWORD_REQUIRED":
			return false, fmt.Errorf("cognito: challenge %s: %w", a.ChallengeName, verify.ErrMustChange)
		case a.ChallengeName == "SMS_MFA" || a.ChallengeName == "SOFTWARE_TOKEN_MFA" || a.ChallengeName == "EMAIL_OTP" ||
			a.ChallengeName == "SELECT_MFA_TYPE" || a.ChallengeName == "MFA_SETUP":
			return true, nil
		case a.ChallengeName != "":
			return false, verify.Unavailable(fmt.Errorf("cognito: challenge %q not handled", short(a.ChallengeName)))
		}
		return false, verify.Unavailable(errors.New("cognito: status 200 without AuthenticationResult or ChallengeName"))
	}
	typ := ErrorType(a.Type)
	if typ == "" {
		typ = ErrorType(headerType)
	}
	msg := a.Message
	if msg == "" {
		msg = a.MessageAlt
	}
	if status == http.StatusBadRequest {
		switch typ {
		case "UserNotFoundException":
			return false, nil
		case "PasswordResetRequiredException":
			return false, fmt.Errorf("cognito: %s: %w", typ, verify.ErrMustChange)
		case "NotAuthorizedException":
			switch {
			case strings.HasPrefix(msg, "Incorrect username or password"):
				return false, nil
			case strings.HasPrefix(msg, "Password attempts exceeded"), strings.HasPrefix(msg, "User is disabled"):
				return false, fmt.Errorf("cognito: %s (%s): %w", typ, short(msg), verify.ErrLocked)
			}
			// "Unable to verify secret hash…", "Client … is configured for secret…": our configuration, not the
			// user's password. The message names the client at most, never the user.
			return false, verify.Unavailable(fmt.Errorf("cognito: %s: %s", typ, short(msg)))
		}
	}
	if typ == "" {
		return false, verify.Unavailable(fmt.Errorf("cognito: status %d", status))
	}
	return false, verify.Unavailable(fmt.Errorf("cognito: status %d, %s", status, short(typ)))
}

// short bounds a value from the service quoted in an error.
func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

var _ idshift.Verifier = (*Verifier)(nil)
