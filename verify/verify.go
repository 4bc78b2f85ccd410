// Package verify holds what every live legacy check shares: the errors a verifier returns beyond the three
// outcomes of idshift.Verifier, a circuit breaker with a per-call timeout, a chain (imported hash first, live check
// when the record has none) and per-verifier counters the service's metrics read.
//
// The live checks themselves are subpackages named after what they talk to (verify/ldap, verify/webhook); they
// import this package for its errors and its HTTP client (httpclient.go) and never each other.
//
// A typical stack for one source, outermost first:
//
//	verify.NewCounter("ldap", verify.NewBreaker(ldapVerifier, verify.BreakerConfig{}))
//
// and, for a source whose records may carry an imported hash:
//
//	verify.Chain{hashVerifier, verify.NewCounter("ldap", verify.NewBreaker(ldapVerifier, verify.BreakerConfig{}))}
package verify

import (
	"errors"

	"github.com/idshift/idshift"
)

// Errors a verifier returns besides the three outcomes. Each is matched with errors.Is; the ok value returned
// with any of them is false and carries no meaning.
var (
	// ErrLocked: the legacy system says the account is locked or disabled (a password policy lockout, a disabled
	// account). Whether the password was right is unknown or irrelevant. The service answers Block.
	ErrLocked = errors.New("verify: legacy account locked or disabled")

	// ErrMustChange: the legacy system accepted the password but demands a change (expired, or reset by an
	// administrator). The service answers UpdatePassword: the user proved the password and must set a new one.
	ErrMustChange = errors.New("verify: legacy password must be changed")

	// ErrNoCredential: the verifier has nothing to check this record against (no imported hash). A Chain moves
	// on to its next verifier; alone it means "no credential" (the service answers Retry).
	ErrNoCredential = errors.New("verify: no credential for this record")

	// ErrUnavailable: the legacy system could not decide (down, timing out, an answer of the wrong shape), or a
	// Breaker is open and did not even ask. It matches idshift.ErrUnavailable, so the service's single
	// error→status table maps it to "try later", never to "wrong password".
	ErrUnavailable = &idshift.Error{Code: idshift.EUNAVAILABLE, Message: "legacy system unavailable"}
)

// Unavailable wraps err so that it matches both ErrUnavailable and err: live checks use it for every "could not
// decide" failure, keeping the cause for logs.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return &unavailable{err: err}
}

type unavailable struct{ err error }

func (u *unavailable) Error() string { return "legacy system unavailable: " + u.err.Error() }
func (u *unavailable) Unwrap() []error {
	return []error{ErrUnavailable, u.err}
}

// Decided reports whether err is an answer of the legacy system (nil, ErrLocked, ErrMustChange,
// ErrNoCredential) rather than a failure to decide. A Breaker counts only undecided calls as failures.
func Decided(err error) bool {
	return err == nil || errors.Is(err, ErrLocked) || errors.Is(err, ErrMustChange) || errors.Is(err, ErrNoCredential)
}
