// Package reader holds what the native export readers (source/auth0, source/firebase, source/keycloak,
// source/kratos, source/ldif) share: opening the input, a streamed walk over the JSON objects of an export with the
// line each starts on, and the turning of a record's normalised fields into a user through a source.Mapping.
package reader

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
)

// Columns every native reader fills in its records, and that Mapping reads. A user-supplied mapping names them too.
const (
	ColLegacyID    = "legacy_id"
	ColEmail       = "email"
	ColMail        = "mail"
	ColUsername    = "username"
	ColDisplayName = "display_name"
	ColGivenName   = "given_name"
	ColSurname     = "surname"
	ColPhone       = "phone"
	ColCreated     = "created"
	ColLastSignIn  = "last_sign_in"
	ColDisabled    = "disabled"
	// ColEmailVerified is "true" or "false" when the export says whether the email address was verified.
	ColEmailVerified = "email_verified"
	ColPassword      = "password"
	ColHash          = "password_hash"
	ColIdentities    = "identities"
)

// Mapping is the mapping every native reader uses by default: the columns above, email as an emailAddress identity
// (set only when the user signs in locally), mail as Mail, username as a userName identity, identities as a JSON array of Graph identities (federated ones).
func Mapping(name string) *source.Mapping {
	m := &source.Mapping{
		Source:        name,
		LegacyID:      source.Field{Column: ColLegacyID},
		DisplayName:   source.Field{Column: ColDisplayName},
		GivenName:     source.Field{Column: ColGivenName},
		Surname:       source.Field{Column: ColSurname},
		Mail:          source.Field{Column: ColMail},
		Phone:         source.Field{Column: ColPhone},
		Created:       source.Field{Column: ColCreated},
		LastSignIn:    source.Field{Column: ColLastSignIn},
		Disabled:      source.Field{Column: ColDisabled},
		EmailVerified: source.Field{Column: ColEmailVerified},
		Password:      source.Field{Column: ColPassword, Transform: []string{}},
		PasswordHash:  source.Field{Column: ColHash},
		Identities: []source.Identity{
			{SignInType: idshift.SignInEmail, Column: ColEmail},
			{SignInType: idshift.SignInUserName, Column: ColUsername},
			{Column: ColIdentities},
		},
	}
	if err := m.Validate(); err != nil {
		panic("reader: default mapping: " + err.Error()) // a bug
	}
	return m
}

// Record is one source record's normalised fields by column. An empty value is absent.
type Record map[string]string

// Get reads a column as source.Mapping.Apply wants it.
func (r Record) Get(col string) (string, bool) {
	v, ok := r[col]
	return v, ok && v != ""
}

// Reset empties the record for reuse.
func (r Record) Reset() { clear(r) }

// Base is what every reader shares: the input, the mapping and the source name.
type Base struct {
	Kind    string
	Closer  io.Closer
	Mapping *source.Mapping
	Name    string

	// Unmapped puts in User.Unmapped the values of each JSON record (NextObject) whose key paths are not in Read
	// (UnmappedJSON): an audit sees what the reader leaves out. Off, the reader keeps nothing more.
	Unmapped bool
	// Read are the key paths of a record the reader reads, or must never expose (credentials): they and
	// everything below them are left out of User.Unmapped.
	Read map[string]bool
	raw  []byte // the current record, kept only with Unmapped
}

// NewBase checks the mapping (nil means Mapping) and names the source (name, else the mapping's, else kind).
func NewBase(kind, name string, m *source.Mapping) (Base, error) {
	if m == nil {
		m = Mapping(name)
	}
	if err := m.Validate(); err != nil {
		return Base{}, fmt.Errorf("%s: Mapping: %w", kind, err)
	}
	if name == "" {
		name = m.Source
	}
	if name == "" {
		name = kind
	}
	return Base{Kind: kind, Mapping: m, Name: name}, nil
}

// SourceName is the name the reader stamps on every user: the store key's source (source.Named).
func (b *Base) SourceName() string { return b.Name }

// User maps a record and stamps the source name.
func (b *Base) User(line int64, r Record) (*idshift.User, error) {
	u, err := b.Mapping.Apply(line, r.Get)
	raw := b.raw
	b.raw = nil
	if err != nil {
		return nil, err
	}
	u.Source = b.Name
	if b.Unmapped && raw != nil {
		u.Unmapped = UnmappedJSON(raw, b.Read)
	}
	return u, nil
}

// Close closes the input.
func (b *Base) Close() error {
	if b.Closer == nil {
		return nil
	}
	return b.Closer.Close()
}

// CheckCtx wraps ctx.Err with the reader's kind.
func (b *Base) CheckCtx(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", b.Kind, err)
	}
	return nil
}

// OpenObjects opens path as OpenInput does, under the reader's kind, and walks the JSON objects of the export (the
// array at key; see NewObjects). On success the input is b.Closer; when the walk cannot start, the input is closed
// and the error names path.
func (b *Base) OpenObjects(path string, stdin io.Reader, key string) (*Objects, error) {
	br, closer, err := OpenInput(b.Kind, path, stdin)
	if err != nil {
		return nil, err
	}
	objs, err := NewObjects(br, key)
	if err != nil {
		_ = closer.Close()
		return nil, fmt.Errorf("%s: %s: %w", b.Kind, path, err)
	}
	b.Closer = closer
	return objs, nil
}

// NextObject checks ctx, then decodes the next object of objs into v and returns the line it starts on. It returns
// io.EOF at the end and a row error of objs as they are, any other error of objs wrapped with the reader's kind, and
// a row error "not <what>: ..." (what is, say, "a Kratos identity") when the object does not decode into v.
func (b *Base) NextObject(ctx context.Context, objs *Objects, v any, what string) (int64, error) {
	if err := b.CheckCtx(ctx); err != nil {
		return 0, err
	}
	raw, line, err := objs.Next()
	if err != nil {
		if err == io.EOF || IsRowError(err) {
			return 0, err
		}
		return 0, fmt.Errorf("%s: %w", b.Kind, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return 0, Reject(line, "", "", "not %s: %s", what, strings.TrimPrefix(err.Error(), "json: "))
	}
	if b.Unmapped {
		b.raw = raw
	}
	return line, nil
}

// OpenInput opens path ("-" reads stdin, default os.Stdin) buffered, with a leading byte order mark dropped.
func OpenInput(kind, path string, stdin io.Reader) (*bufio.Reader, io.Closer, error) {
	if path == "" {
		return nil, nil, idshift.Invalid(kind+": Path", "required")
	}
	var rc io.ReadCloser
	if path == "-" {
		if stdin == nil {
			stdin = os.Stdin
		}
		rc = io.NopCloser(stdin)
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", kind, err)
		}
		rc = f
	}
	br := bufio.NewReaderSize(rc, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	return br, rc, nil
}

// Reject builds a row error.
func Reject(line int64, id, field, format string, args ...any) *idshift.RowError {
	return &idshift.RowError{Line: line, LegacyID: id, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// IsRowError reports whether err is a row error (the read goes on).
func IsRowError(err error) bool {
	var re *idshift.RowError
	return errors.As(err, &re)
}

// Federated issuers by the provider names exports use; others keep their own name.
var issuers = map[string]string{
	"google-oauth2": "google.com", "google": "google.com", "google.com": "google.com",
	"facebook": "facebook.com", "facebook.com": "facebook.com",
	"apple": "appleid.apple.com", "apple.com": "appleid.apple.com",
	"github": "github.com", "github.com": "github.com",
	"twitter": "twitter.com", "twitter.com": "twitter.com",
	"windowslive": "live.com", "microsoft.com": "live.com",
}

// Issuer returns the federated issuer for a provider name as an export writes it.
func Issuer(provider string) string {
	if i, ok := issuers[provider]; ok {
		return i
	}
	return provider
}

// Identities encodes federated identities for the identities column; "" when there are none.
func Identities(ids []idshift.Identity) string {
	if len(ids) == 0 {
		return ""
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return ""
	}
	return string(b)
}

// AsRowError is errors.As for row errors.
func AsRowError(err error) (*idshift.RowError, bool) {
	var re *idshift.RowError
	ok := errors.As(err, &re)
	return re, ok
}
