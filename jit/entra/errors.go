package entra

import (
	"errors"
)

// Kind says how the service must answer a callout that failed to authenticate or decode. There are exactly two:
//
//   - Unauthenticated: the bearer token is missing, malformed, forged, expired, for someone else, or could not be
//     checked (signing keys unavailable). The caller answers 401 with an empty body and nothing else; the body of
//     the request has not been read.
//   - BadContext: the token is good (the caller is Entra), but the body or its encryptedPasswordContext is
//     unusable (too large, malformed, not decryptable with our keys, expired, no nonce, no password). The caller
//     answers 200 with one action of its documented choice and never migrates anyone. Error.Nonce holds the nonce
//     when it could be recovered from the decrypted context, to be echoed in the answer.
type Kind uint8

const (
	// Unauthenticated: answer 401 and nothing else.
	Unauthenticated Kind = iota + 1
	// BadContext: answer 200 with a non-migrating action, echoing Error.Nonce when it is not empty.
	BadContext
)

func (k Kind) String() string {
	switch k {
	case Unauthenticated:
		return "unauthenticated"
	case BadContext:
		return "bad context"
	}
	return "unknown"
}

// Error is every error Authenticate, TokenValidator.Validate and Decrypter.Decrypt return about their input. Its
// message never contains a token, a password or key material. Err wraps one of the reason sentinels below
// (errors.Is(err, ErrExpired) and so on); errors.Is(err, ErrUnauthenticated) and errors.Is(err, ErrBadContext)
// match on the kind.
type Error struct {
	Kind Kind
	// Nonce is the context's nonce when it could be recovered (the context decrypted, the nonce was a valid
	// string), whatever else was wrong with the context; empty otherwise.
	Nonce string
	Err   error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "entra: " + e.Kind.String()
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnauthenticated) and errors.Is(err, ErrBadContext) match on the kind.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthenticated:
		return e.Kind == Unauthenticated
	case ErrBadContext:
		return e.Kind == BadContext
	}
	return false
}

// Kind sentinels: match with errors.Is.
var (
	ErrUnauthenticated = errors.New("entra: unauthenticated")
	ErrBadContext      = errors.New("entra: bad password context")
)

// Reason sentinels, wrapped by *Error. Each has a short secret-free label (Reason) for logs and metrics.
var (
	// Unauthenticated.
	ErrNoToken         = errors.New("entra: no bearer token")
	ErrMalformedToken  = errors.New("entra: malformed bearer token")
	ErrTokenAlgorithm  = errors.New("entra: bearer token algorithm not allowed (RS256 only)")
	ErrUnknownKey      = errors.New("entra: bearer token signed with an unknown key")
	ErrSignature       = errors.New("entra: bearer token signature invalid")
	ErrIssuer          = errors.New("entra: bearer token issuer not accepted")
	ErrAudience        = errors.New("entra: bearer token audience not accepted")
	ErrAuthorizedParty = errors.New("entra: bearer token not issued to the authentication events service")
	ErrExpired         = errors.New("entra: bearer token expired")
	ErrNotYetValid     = errors.New("entra: bearer token not yet valid")
	ErrKeysUnavailable = errors.New("entra: signing keys unavailable")

	// BadContext.
	ErrBodyTooLarge      = errors.New("entra: request body too large")
	ErrMalformedBody     = errors.New("entra: malformed request body")
	ErrUndecryptable     = errors.New("entra: password context cannot be decrypted")
	ErrMalformedContext  = errors.New("entra: malformed password context")
	ErrContextAlgorithm  = errors.New("entra: password context is signed (only alg none is accepted)")
	ErrContextExpired    = errors.New("entra: password context expired")
	ErrContextNotYet     = errors.New("entra: password context not yet valid")
	ErrContextAudience   = errors.New("entra: password context audience not accepted")
	ErrContextIssuer     = errors.New("entra: password context issuer not accepted")
	ErrNoNonce           = errors.New("entra: password context has no nonce")
	ErrNoPassword        = errors.New("entra: password context has no password")
	ErrContextTooLarge   = errors.New("entra: password context too large")
	ErrNoDecryptionKey   = errors.New("entra: no decryption key matches the context's x5t")
	ErrContextCompressed = errors.New("entra: password context compression not supported")
)

var reasons = []struct {
	err   error
	label string
}{
	{ErrNoToken, "no_token"},
	{ErrMalformedToken, "malformed_token"},
	{ErrTokenAlgorithm, "token_alg"},
	{ErrUnknownKey, "unknown_kid"},
	{ErrSignature, "bad_signature"},
	{ErrIssuer, "bad_issuer"},
	{ErrAudience, "bad_audience"},
	{ErrAuthorizedParty, "bad_azp"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not_yet_valid"},
	{ErrKeysUnavailable, "keys_unavailable"},
	{ErrBodyTooLarge, "body_too_large"},
	{ErrMalformedBody, "malformed_body"},
	{ErrNoDecryptionKey, "unknown_x5t"},
	{ErrContextTooLarge, "context_too_large"},
	{ErrContextCompressed, "context_zip"},
	{ErrUndecryptable, "undecryptable"},
	{ErrMalformedContext, "malformed_context"},
	{ErrContextAlgorithm, "context_alg"},
	{ErrContextExpired, "context_expired"},
	{ErrContextNotYet, "context_not_yet_valid"},
	{ErrContextAudience, "context_audience"},
	{ErrContextIssuer, "context_issuer"},
	{ErrNoNonce, "no_nonce"},
	{ErrNoPassword, "no_password"},
}

// Reason returns the short label of the reason sentinel err wraps ("expired", "bad_azp", "no_nonce", ...), for
// logs and metric labels; "" for nil and "other" for an error that wraps none of them.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "other"
}

func unauthenticated(err error) error { return &Error{Kind: Unauthenticated, Err: err} }

func badContext(nonce string, err error) error {
	return &Error{Kind: BadContext, Nonce: nonce, Err: err}
}
