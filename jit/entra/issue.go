package entra

// The sender's side of the wire format: what Entra does when it calls the extension, for the sandbox's sign-in
// simulator and for tests. The service itself never calls these.

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/idshift/idshift"
)

// EncryptContext builds an encryptedPasswordContext exactly as Entra sends it (docs/contracts.md §1.3): the
// claims as an unsigned JWT (header {"alg":"none","typ":"JWT"}, empty signature), DEFLATE-compressed and
// encrypted to pub as a compact JWE with RSA-OAEP and A128CBC-HS256, whose protected header is
// {"alg":"RSA-OAEP","enc":"A128CBC-HS256","x5t":"…","zip":"DEF"} (x5t omitted when empty).
//
// Entra's claims are aud (the extension app's id), iss (api://{host}/{appId}), iat, nbf, exp (iat + 10 minutes),
// user-password, username and nonce; claims are sent as given. Time claims are NumericDates (Unix seconds).
func EncryptContext(pub *rsa.PublicKey, x5t string, claims map[string]any) (string, error) {
	if pub == nil {
		return "", errors.New("entra: encrypt context: no public key")
	}
	plain, err := UnsignedJWT(claims)
	if err != nil {
		return "", err
	}
	opts := &jose.EncrypterOptions{Compression: jose.DEFLATE}
	if x5t != "" {
		opts = opts.WithHeader("x5t", x5t)
	}
	enc, err := jose.NewEncrypter(jose.A128CBC_HS256, jose.Recipient{Algorithm: jose.RSA_OAEP, Key: pub}, opts)
	if err != nil {
		return "", fmt.Errorf("entra: encrypt context: %w", err)
	}
	obj, err := enc.Encrypt([]byte(plain))
	if err != nil {
		return "", fmt.Errorf("entra: encrypt context: %w", err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("entra: encrypt context: %w", err)
	}
	return s, nil
}

// UnsignedJWT returns claims as an unsigned compact JWT: base64url({"alg":"none","typ":"JWT"}) "."
// base64url(claims) ".". The claims' values are never part of an error.
func UnsignedJWT(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", errors.New("entra: unsigned JWT: claims cannot be marshalled to JSON")
	}
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	return head + "." + base64.RawURLEncoding.EncodeToString(payload) + ".", nil
}

// Error codes Entra reports when an extension's answer is off the contract (docs/contracts.md §1.8).
const (
	CodeInvalidHTTPStatus     = 1003002
	CodeInvalidResponseBody   = 1003003
	CodeInvalidContentType    = 1003006
	CodeEmptyResponse         = 1003009
	CodeInvalidNumberOfAction = 1003010
	CodeInvalidActionType     = 1003012
)

// ResponseError is an answer Entra would refuse, with the code its sign-in logs would show.
type ResponseError struct {
	Code   int
	Reason string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("entra: response refused (%d): %s", e.Code, e.Reason)
}

// Verdict is an extension's answer as the sender reads it.
type Verdict struct {
	Action idshift.Action
	// Namespace is the spelling the answer used (passwordSubmit or passwordsubmit).
	Namespace string
	Nonce     string
	Title     string
	Message   string
}

// ParseResponse reads an extension's answer as Entra does: status 200, Content-Type application/json (parameters
// such as charset tolerated), a non-empty body of the §1.5 shape with exactly one action of a known type, the
// action namespace segment matched case-insensitively. An answer off the contract gives a *ResponseError with
// Entra's code. The nonce is returned, not compared: the caller checks it against the one it sent.
func ParseResponse(status int, contentType string, body []byte) (*Verdict, error) {
	if status != http.StatusOK {
		return nil, &ResponseError{CodeInvalidHTTPStatus, fmt.Sprintf("status %d", status)}
	}
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
		return nil, &ResponseError{CodeInvalidContentType, fmt.Sprintf("content type %q", contentType)}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, &ResponseError{CodeEmptyResponse, "empty body"}
	}
	var resp struct {
		Data *struct {
			ODataType string            `json:"@odata.type"`
			Actions   []json.RawMessage `json:"actions"`
			Nonce     string            `json:"nonce"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.Data == nil {
		return nil, &ResponseError{CodeInvalidResponseBody, "not a JSON object with data"}
	}
	if !strings.EqualFold(strings.TrimPrefix(resp.Data.ODataType, "#"), ResponseDataType) {
		return nil, &ResponseError{CodeInvalidResponseBody, fmt.Sprintf("data.@odata.type %q", resp.Data.ODataType)}
	}
	if len(resp.Data.Actions) != 1 {
		return nil, &ResponseError{CodeInvalidNumberOfAction, fmt.Sprintf("%d actions", len(resp.Data.Actions))}
	}
	var a ResponseAction
	if err := json.Unmarshal(resp.Data.Actions[0], &a); err != nil {
		return nil, &ResponseError{CodeInvalidResponseBody, "action is not an object"}
	}
	t := strings.TrimPrefix(a.ODataType, "#")
	rest, ok := strings.CutPrefix(t, "microsoft.graph.")
	ns, name, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || !strings.EqualFold(ns, NamespaceDocumented) {
		return nil, &ResponseError{CodeInvalidActionType, fmt.Sprintf("action type %q", a.ODataType)}
	}
	switch act := idshift.Action(name); act {
	case idshift.ActionMigrate, idshift.ActionUpdate, idshift.ActionRetry, idshift.ActionBlock:
		return &Verdict{Action: act, Namespace: ns, Nonce: resp.Data.Nonce, Title: a.Title, Message: a.Message}, nil
	}
	return nil, &ResponseError{CodeInvalidActionType, fmt.Sprintf("action type %q", a.ODataType)}
}
