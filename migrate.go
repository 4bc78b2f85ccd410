package idshift

import (
	"context"
	"time"
)

// Stage 3: the password migration at first sign-in. The front doors of package jit (Entra's OnPasswordSubmit
// extension, the harvest REST call) decode their wire format into an Attempt; the guard, the lookup and the
// verifier are stages over it; the front encodes the resulting Action back.

// Fronts: which door an attempt came through.
const (
	FrontEntra   = "entra"   // Entra External ID's OnPasswordSubmit custom authentication extension
	FrontHarvest = "harvest" // the harvest REST call (Azure AD B2C REST technical profile or any legacy app)
)

// Action is the answer to one password check.
type Action string

const (
	// ActionMigrate: the legacy password is right; the tenant keeps it and clears the migration flag.
	ActionMigrate Action = "MigratePassword"
	// ActionUpdate: right, but the user must change it (the legacy record says so, or the tenant refuses it).
	ActionUpdate Action = "UpdatePassword"
	// ActionRetry: wrong password, unknown user, or no credential: indistinguishable on purpose.
	ActionRetry Action = "Retry"
	// ActionBlock: locked by the brute-force guard, or disabled in the legacy system.
	ActionBlock Action = "Block"
)

// Attempt is one password check, as every front door decodes it. Password is the secret: it is excluded from JSON
// and redacted by String; nothing else in an Attempt is secret.
type Attempt struct {
	Front string `json:"front"`
	// ObjectID is the External ID user's object id (authenticationContext.user.id), when the caller sends it.
	ObjectID string `json:"objectId,omitempty"`
	// SignInName is what the user typed (lower-cased by the front), when the caller sends it.
	SignInName string `json:"signInName,omitempty"`
	// ClientIP is the end user's address (never the caller's: Entra's servers would share one counter).
	ClientIP string `json:"clientIp,omitempty"`
	// Nonce is Entra's nonce; a repeated nonce is Entra's retry and gets the first answer again.
	Nonce         string `json:"-"`
	CorrelationID string `json:"correlationId,omitempty"`
	Password      string `json:"-"`
}

// String never reveals the password.
func (a Attempt) String() string {
	return "attempt{front=" + a.Front + " object=" + a.ObjectID + " name=" + a.SignInName + " ip=" + a.ClientIP + " password=[redacted]}"
}

// GoString never reveals the password, even through %#v.
func (a Attempt) GoString() string { return a.String() }

// Verifier checks a password against the legacy system for one user. Implementations: the imported legacy hash
// (jit), and live checks (OIDC password grant, LDAP bind, webhook). Three outcomes, as in dex's connectors:
// (true, nil) the password is right; (false, nil) it is wrong; (_, err) the verifier could not decide (the legacy
// system is down, the hash is unusable): the service answers "try later", never "wrong password".
type Verifier interface {
	Verify(ctx context.Context, rec *Record, password string) (bool, error)
}

// Lock is the guard's verdict on an attempt that may not proceed: a lock in force, or (from Reserve) a scope whose
// limit is taken up by failures and attempts in flight.
type Lock struct {
	Locked bool
	// Until is when the lock ends; for a full scope, when its oldest entry leaves the window.
	Until time.Time
	// Scope says what is locked ("account+ip", "account", "ip"), for logs and metrics.
	Scope string
}

// Guard is the brute-force protection: failure counters per account, per (account, client IP) and per client IP,
// over sliding windows. Implementations: guard.Memory (one process), guard.Redis (several replicas sharing limits).
// account is the record's key (or, for an unknown name, the name itself, so that unknown names are counted like
// known ones). All methods are safe for concurrent use.
type Guard interface {
	// Check reports whether an attempt may proceed, without counting it.
	Check(ctx context.Context, account, ip string) (Lock, error)
	// Reserve is the strict form of Check, for an attempt about to be checked: atomically with the lock check it
	// takes a place in each of the attempt's windows, which counts as a failure until the Reservation is settled,
	// so that at most a scope's limit of attempts (failed or in flight) are checked per window. A lock in force, or
	// a scope whose limit is taken, returns that Lock and no Reservation.
	Reserve(ctx context.Context, account, ip string) (Reservation, Lock, error)
	// Fail counts one failed attempt and returns the lock it caused, if any.
	Fail(ctx context.Context, account, ip string) (Lock, error)
	// Succeed clears the (account, ip) failures after a right password.
	Succeed(ctx context.Context, account, ip string) error
}

// Reservation is an attempt's place in its guard's windows, from Guard.Reserve until it is settled. The first call
// of one of its methods settles it; later calls do nothing and return zero values. One that is never settled
// (a crashed process) goes on counting as a failure until it leaves the window.
type Reservation interface {
	// Fail settles it as a failed check (the place becomes a failure) and returns the lock it caused, or the lock
	// in force. On an error the place is left to count as a failure.
	Fail(ctx context.Context) (Lock, error)
	// Succeed gives the place back and clears the (account, ip) failures after a right password.
	Succeed(ctx context.Context) error
	// Release gives the place back, counting nothing: the check did not run or its answer was not given (shed,
	// try later, timeout). It bounds its own wait, whatever the attempt's context.
	Release() error
}

// AttemptLog is one recorded password check: never the password, hash or token.
type AttemptLog struct {
	Key Key
	// ObjectID and SignInName as the caller sent them (the key is empty for an unknown user).
	ObjectID   string
	SignInName string
	Front      string
	Action     Action
	// Reason is a short, secret-free word: "match", "mismatch", "unknown_user", "no_credential", "locked",
	// "disabled", "weak_password", "unavailable", "timeout", "shed".
	Reason   string
	ClientIP string
	At       time.Time
}

// AttemptStore is the optional capability of a Store that records stage 3: every attempt's outcome and each
// migration. store/sqlite and store/postgres implement it.
type AttemptStore interface {
	// RecordAttempt appends one attempt.
	RecordAttempt(ctx context.Context, a AttemptLog) error
	// MarkMigrated sets the user's state to StateMigrated with the time and how ("hash", "live:<name>",
	// "tenant"). It keeps the legacy credential: cutover purges it once the tenant's flag reads false.
	// Idempotent; ENOTFOUND for an unknown key.
	MarkMigrated(ctx context.Context, key Key, at time.Time, how string) error
	// AttemptCounts returns the number of attempts since a time, by front, action and reason.
	AttemptCounts(ctx context.Context, since time.Time) ([]AttemptCount, error)
}

// AttemptCount is one row of AttemptStore.AttemptCounts.
type AttemptCount struct {
	Front  string
	Action Action
	Reason string
	N      int64
}
