// Package idshift holds the domain of a migration from a legacy identity provider into Microsoft Entra External ID:
// legacy users and their credentials, the sources they are read from, the state store that remembers what was done
// with each of them, and the errors shared across packages. It imports only the standard library; the packages
// beside it implement these interfaces (source/*, store/*, graph, pwhash, ...) and cmd/idshift ties them together.
package idshift

import (
	"context"
	"strconv"
	"time"
)

// Sign-in types of an External ID identity.
const (
	SignInEmail     = "emailAddress"
	SignInUserName  = "userName"
	SignInFederated = "federated"
)

// Identity is one way a user signs in. An empty Issuer on a local identity (emailAddress, userName) means the
// tenant's own domain, filled in when the user is sent to the tenant.
type Identity struct {
	SignInType       string `json:"signInType"`
	Issuer           string `json:"issuer,omitempty"`
	IssuerAssignedID string `json:"issuerAssignedId"`
}

// CredentialKind says what a legacy system gave us for a user's password.
type CredentialKind string

const (
	// CredentialNone: nothing; the password is checked live at the legacy system, or reset.
	CredentialNone CredentialKind = ""
	// CredentialHash: a legacy password hash, normalised by package pwhash.
	CredentialHash CredentialKind = "hash"
	// CredentialPlaintext: the source really holds the password (rare); the user is created with it.
	CredentialPlaintext CredentialKind = "plaintext"
)

// Credential is a user's legacy credential. It is a secret: it is kept apart from the profile in the store,
// encrypted at rest when a key is configured, and never logged. Its String method redacts it.
type Credential struct {
	Kind CredentialKind `json:"kind,omitempty"`
	// Hash is the normalised hash string (package pwhash) when Kind is CredentialHash.
	Hash string `json:"hash,omitempty"`
	// Password is the plaintext when Kind is CredentialPlaintext.
	Password string `json:"password,omitempty"`
	// MustChange: the legacy system requires a new password at next sign-in; a right password is answered
	// UpdatePassword instead of MigratePassword.
	MustChange bool `json:"mustChange,omitempty"`
	// Disabled: the account is disabled in the legacy system; a sign-in is answered Block.
	Disabled bool `json:"disabled,omitempty"`
	// Alternates are the legacy credentials of the other accounts merged into this one (package mergeplan): a
	// password that verifies against this credential or any alternate is the account's password. They are sealed
	// together with this credential, under the merged account's (the primary's) key.
	Alternates []Alternate `json:"alternates,omitempty"`
}

// Alternate is the legacy credential of one account merged into another: its own key and its own credential
// (Kind, Hash, Password, MustChange, Disabled; an Alternate never has alternates of its own).
type Alternate struct {
	Source   string `json:"source"`
	LegacyID string `json:"legacyId"`
	// SignInNames are the merged account's own local sign-in names (lower-cased), for a live check at its legacy
	// system.
	SignInNames []string `json:"signInNames,omitempty"`
	Credential
}

// Key returns the merged account's store key.
func (a Alternate) Key() Key { return Key{Source: a.Source, LegacyID: a.LegacyID} }

// String never reveals the secret.
func (c Credential) String() string {
	s := string(c.Kind) + ":[redacted]"
	if c.Kind == CredentialNone {
		s = "none"
	}
	if len(c.Alternates) > 0 {
		s += "+" + strconv.Itoa(len(c.Alternates)) + " alternates"
	}
	return s
}

// Usable reports whether the credential or one of its alternates holds something to verify a password against
// (a hash or a plaintext).
func (c Credential) Usable() bool {
	if c.Kind != CredentialNone {
		return true
	}
	for _, a := range c.Alternates {
		if a.Kind != CredentialNone {
			return true
		}
	}
	return false
}

// GoString never reveals the secret, even through %#v.
func (c Credential) GoString() string { return "idshift.Credential{" + c.String() + "}" }

// Consent records that a user accepted a document (privacy policy, terms of use) and when.
type Consent struct {
	Version    string    `json:"version,omitempty"`
	AcceptedAt time.Time `json:"acceptedAt,omitempty"`
}

// User is one legacy account, as read from a source and normalised for the target.
type User struct {
	// LegacyID identifies the user in the legacy system; with Source it is the user's key in the store.
	LegacyID string `json:"legacyId"`
	// Source names the legacy system (a source's configured name).
	Source string `json:"source,omitempty"`
	// Line is the position of the record in its source (1-based line or record number), for error reports.
	Line int64 `json:"line,omitempty"`

	Identities  []Identity `json:"identities,omitempty"`
	DisplayName string     `json:"displayName,omitempty"`
	GivenName   string     `json:"givenName,omitempty"`
	Surname     string     `json:"surname,omitempty"`
	Mail        string     `json:"mail,omitempty"`
	OtherMails  []string   `json:"otherMails,omitempty"`
	Phone       string     `json:"phone,omitempty"`

	PrivacyPolicy *Consent `json:"privacyPolicy,omitempty"`
	TermsOfUse    *Consent `json:"termsOfUse,omitempty"`

	// Extensions are custom attributes by short name (without the extension_{appId}_ prefix). Values are bool,
	// int64, string or time.Time.
	Extensions map[string]any `json:"extensions,omitempty"`

	Created    time.Time `json:"created,omitempty"`
	LastSignIn time.Time `json:"lastSignIn,omitempty"`
	Disabled   bool      `json:"disabled,omitempty"`
	// EmailVerified says whether the legacy system verified the user's email address: nil when the source does not
	// say. `idshift audit` proposes merging accounts on a shared email only when it is verified on every side.
	EmailVerified *bool `json:"emailVerified,omitempty"`

	// Credential is excluded from JSON so that it never travels with the profile by accident.
	Credential Credential `json:"-"`

	// Unmapped holds the record's values that the mapping does not read, when the reader was opened to expose
	// them (an audit); otherwise it is nil and costs nothing. It is never sent, stored or put in JSON.
	Unmapped []Attr `json:"-"`
}

// Attr is one value of a source record that no mapping reads, under the name the record gives it: a column, or a
// key path into a JSON record (user_metadata.plan) or an LDAP attribute name. A list holds one Attr per element.
type Attr struct {
	Name, Value string
}

// Key identifies a user in the state store.
type Key struct {
	Source   string
	LegacyID string
}

// Key returns the user's store key.
func (u *User) Key() Key { return Key{Source: u.Source, LegacyID: u.LegacyID} }

// Source reads legacy users as a stream. Implementations keep memory flat in the number of users.
type Source interface {
	// Next returns the next user. It returns io.EOF at the end. A malformed record yields a *RowError: the
	// caller records it and calls Next again; any other error ends the read.
	Next(ctx context.Context) (*User, error)
	Close() error
}
