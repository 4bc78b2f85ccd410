package idshift

import (
	"context"
	"time"
)

// State is where a user stands in the migration.
type State string

const (
	StatePending   State = "pending"   // read and planned, not yet sent
	StateInFlight  State = "in_flight" // a create was (or is about to be) sent; outcome not yet known
	StateCreated   State = "created"   // created by us; ObjectID set
	StateAdopted   State = "adopted"   // found already in the tenant as ours (same legacy id) after a conflict or lost response
	StateCollision State = "collision" // an identity is taken by someone else's account; never overwritten
	StateRejected  State = "rejected"  // invalid input; never sent
	StateFailed    State = "failed"    // the tenant refused it for a reason retrying will not fix (or retries ran out)
	StateMigrated  State = "migrated"  // the user's password has been migrated (stage 3)
	// StateDisabled and StateDeleted are the stale accounts cutover retired (idshift cutover --stale-action): the
	// account was disabled, or deleted (ObjectID empty once purged from the deleted items). An import skips them.
	StateDisabled State = "disabled"
	StateDeleted  State = "deleted"
)

// Record is what the store remembers about one user.
type Record struct {
	Key
	// Line is the user's position in its source at the last run that read it.
	Line int64
	// Digest is a hash of the request body last sent (or planned) for the user, password excluded, followed
	// (after a dot) by a keyed fingerprint of the legacy hash credential, never the credential itself, so that a
	// rerun can tell whether the source changed.
	Digest string
	// ObjectID is the user's id in the tenant, once known.
	ObjectID string
	// SignInNames are the user's local sign-in identifiers (issuerAssignedId of emailAddress and userName
	// identities, lower-cased), so the password-migration service can find the record from what a user types.
	SignInNames []string
	State       State
	Attempts    int
	// LastError is a short, secret-free description of the last failure.
	LastError string
	// LegacyLastSignIn is the user's last sign-in in the legacy system, as the source said when the record was
	// last written by an import (zero: never signed in, or not known because the source has no such field).
	LegacyLastSignIn time.Time
	// LegacyDisabled: the account was disabled in the legacy system.
	LegacyDisabled bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Store is the migration's state. Implementations: store/sqlite (embedded default), store/postgres (shared by
// several workers and replicas). All methods are safe for concurrent use. store/storetest holds the conformance
// suite both pass.
type Store interface {
	// Records returns the records of the given keys that exist; missing keys are absent from the map.
	Records(ctx context.Context, keys []Key) (map[Key]*Record, error)
	// Record returns one record, or an error with code ENOTFOUND.
	Record(ctx context.Context, key Key) (*Record, error)
	// RecordByObjectID returns the record of the tenant object, or ENOTFOUND.
	RecordByObjectID(ctx context.Context, objectID string) (*Record, error)
	// RecordBySignInName returns the record whose SignInNames hold name (compared lower-case), or ENOTFOUND.
	RecordBySignInName(ctx context.Context, name string) (*Record, error)
	// PutRecords inserts or replaces records atomically (all or none). CreatedAt is kept from the existing row;
	// UpdatedAt is set by the store.
	PutRecords(ctx context.Context, recs []*Record) error
	// Scan calls fn for every record whose state is in states (all records when states is empty), in key order.
	// fn must not call back into the store. An error from fn stops the scan and is returned.
	Scan(ctx context.Context, states []State, fn func(*Record) error) error
	// Counts returns the number of records in each state.
	Counts(ctx context.Context) (map[State]int64, error)

	// PutCredentials stores legacy credentials, apart from the records and sealed when the store has a key.
	PutCredentials(ctx context.Context, creds map[Key]Credential) error
	// Credential returns a user's legacy credential, or ENOTFOUND.
	Credential(ctx context.Context, key Key) (Credential, error)
	// DeleteCredentials removes legacy credentials (after a migrated password, or at cutover). Missing keys are
	// not an error. It returns how many were removed.
	DeleteCredentials(ctx context.Context, keys []Key) (int64, error)

	Close() error
}
