// Package source holds what every legacy source shares: the field mapping that turns one source record (a CSV row,
// a JSON object, later an SQL row or an LDIF entry) into an *idshift.User. The packages below it (source/file, ...)
// read records; this package maps them.
//
// A Mapping names, for each User field, the column it comes from (or a constant) and the transforms applied to it.
// DefaultMapping is the documented default schema, used when no mapping is given; LoadMapping reads a YAML mapping
// (see examples/mapping.yaml and docs/sources.md).
//
// The mapping reports only what it cannot parse: a missing legacy id, no identity, a bad date, number or boolean, a
// phone number that is not one. Whether a value is acceptable to External ID (email syntax, user name characters,
// lengths, duplicates inside the source) is the importer's planner's business.
package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/idshift/idshift"
)

// Field says where one value of a user comes from, and how it is cleaned. In YAML a Field is either a column name
// (`display_name: name`) or a mapping with the keys below.
//
// Column is a CSV header name or a JSON key; in JSON sources a dotted name (`user_metadata.tier`) reaches into
// nested objects when no key with the dotted name itself exists. Value is a constant used when Column is empty.
// An empty cell, a missing key and a JSON null all mean "absent".
type Field struct {
	Column string `yaml:"column"`
	Value  string `yaml:"value"`
	// Transform lists the transforms applied in order: trim, lower, upper, e164, split. When nil the field's default
	// transforms apply (see docs/sources.md: trim for most fields, trim+lower for email identities, none for
	// password); an explicit empty list turns them off.
	Transform []string `yaml:"transform"`
	// Separator splits a list column (split transform); default ";".
	Separator string `yaml:"separator"`
	// CountryCode is the calling code (digits, e.g. "44") e164 gives national numbers; default the mapping's
	// default_country_code.
	CountryCode string `yaml:"country_code"`
	// Negate inverts a boolean field (a column that says "enabled" mapped to disabled).
	Negate bool `yaml:"negate"`
}

// UnmarshalYAML accepts a bare column name or a mapping. It uses the decoder's own unmarshal function so that strict
// decoding (unknown keys are errors) reaches inside.
func (f *Field) UnmarshalYAML(unmarshal func(any) error) error {
	var column string
	if err := unmarshal(&column); err == nil {
		*f = Field{Column: column}
		return nil
	}
	type plain Field
	var p plain
	if err := unmarshal(&p); err != nil {
		return err
	}
	*f = Field(p)
	return nil
}

// IsZero reports whether the field is unmapped.
func (f Field) IsZero() bool {
	return f.Column == "" && f.Value == "" && f.Transform == nil && f.Separator == "" && f.CountryCode == "" && !f.Negate
}

// Identity maps one sign-in identity. SignInType is emailAddress, userName or federated; Issuer is a constant
// (required for federated; empty for local identities means the tenant's own domain). An empty cell means the user
// has no such identity.
//
// With SignInType empty, the column holds a JSON array of identity objects in the Graph form
// ({"signInType":…,"issuer":…,"issuerAssignedId":…}), as JSON exports carry them.
type Identity struct {
	SignInType string `yaml:"sign_in_type"`
	Issuer     string `yaml:"issuer"`
	Column     string `yaml:"column"`
	// Transform as in Field; default trim, and lower for emailAddress.
	Transform []string `yaml:"transform"`
}

func (id Identity) field() Field { return Field{Column: id.Column, Transform: id.Transform} }

// Consent maps the acceptance of a document: the version (a column or a constant) and the date it was accepted.
// The user gets a consent when either is present.
type Consent struct {
	Version Field `yaml:"version"`
	Date    Field `yaml:"date"`
}

// Extension maps a column to a custom attribute (User.Extensions, by short name). Type is string (default),
// boolean, integer (32-bit) or datetime; a value that does not parse as its type is a row error naming the column.
type Extension struct {
	Type      string   `yaml:"type"`
	Column    string   `yaml:"column"`
	Value     string   `yaml:"value"`
	Transform []string `yaml:"transform"`
	Negate    bool     `yaml:"negate"`
}

// UnmarshalYAML accepts a bare column name (a string attribute) or a mapping, strictly.
func (e *Extension) UnmarshalYAML(unmarshal func(any) error) error {
	var column string
	if err := unmarshal(&column); err == nil {
		*e = Extension{Column: column}
		return nil
	}
	type plain Extension
	var p plain
	if err := unmarshal(&p); err != nil {
		return err
	}
	*e = Extension(p)
	return nil
}

func (e Extension) field() Field {
	return Field{Column: e.Column, Value: e.Value, Transform: e.Transform, Negate: e.Negate}
}

// Mapping turns source records into users. Build one with LoadMapping or DefaultMapping, or fill it in code; it is
// checked (Validate) before its first use, changes made after that are ignored, and it is safe for concurrent use.
// Use it by pointer.
type Mapping struct {
	// Source is a constant put in User.Source (a source's configured name, when set, takes precedence).
	Source string `yaml:"source"`
	// DefaultCountryCode is the calling code the e164 transform gives national numbers ("44", "+44").
	DefaultCountryCode string `yaml:"default_country_code"`

	LegacyID    Field `yaml:"legacy_id"`
	DisplayName Field `yaml:"display_name"`
	GivenName   Field `yaml:"given_name"`
	Surname     Field `yaml:"surname"`
	Mail        Field `yaml:"mail"`
	OtherMails  Field `yaml:"other_mails"`
	Phone       Field `yaml:"phone"`
	Created     Field `yaml:"created"`
	LastSignIn  Field `yaml:"last_sign_in"`
	Disabled    Field `yaml:"disabled"`
	// EmailVerified is a boolean: whether the legacy system verified the email address (absent: it does not say).
	EmailVerified Field `yaml:"email_verified"`
	Password      Field `yaml:"password"`
	PasswordHash  Field `yaml:"password_hash"`

	PrivacyPolicy Consent `yaml:"privacy_policy"`
	TermsOfUse    Consent `yaml:"terms_of_use"`

	Identities []Identity           `yaml:"identities"`
	Extensions map[string]Extension `yaml:"extensions"`

	// defaults marks the default schema, whose columns are all optional but legacy_id.
	defaults bool

	once sync.Once
	c    *compiled
	err  error
}

// LoadMapping reads and checks a YAML mapping. Decoding is strict: an unknown key is an error that names the key and
// its line.
func LoadMapping(path string) (*Mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	m, err := ParseMapping(b)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return m, nil
}

// ParseMapping decodes and checks a YAML mapping (strictly, as LoadMapping).
func ParseMapping(b []byte) (*Mapping, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	m := new(Mapping)
	if err := dec.Decode(m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, idshift.Invalid("mapping", "empty document")
		}
		return nil, &idshift.Error{Code: idshift.EINVALID, Field: "mapping", Message: "cannot decode", Err: err}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// DefaultMapping returns the default schema: columns legacy_id, email, username, display_name, given_name, surname,
// phone, password_hash, last_sign_in, created, email_verified (a boolean; and, in JSON, an identities array). email becomes an emailAddress
// identity (issuer empty: the tenant's own) and Mail; username a userName identity. Only legacy_id must exist;
// other columns are optional and extra columns are ignored.
func DefaultMapping() *Mapping {
	m := &Mapping{
		LegacyID:      Field{Column: "legacy_id"},
		DisplayName:   Field{Column: "display_name"},
		GivenName:     Field{Column: "given_name"},
		Surname:       Field{Column: "surname"},
		Mail:          Field{Column: "email"},
		Phone:         Field{Column: "phone"},
		Created:       Field{Column: "created"},
		LastSignIn:    Field{Column: "last_sign_in"},
		PasswordHash:  Field{Column: "password_hash"},
		EmailVerified: Field{Column: "email_verified"},
		Identities: []Identity{
			{SignInType: idshift.SignInEmail, Column: "email"},
			{SignInType: idshift.SignInUserName, Column: "username"},
			{Column: "identities"},
		},
		defaults: true,
	}
	if err := m.Validate(); err != nil {
		panic("source: default mapping: " + err.Error()) // a bug
	}
	return m
}

// Validate checks the mapping and prepares it for Apply. Errors are *idshift.Error with code EINVALID naming the key
// at fault (identities[1].sign_in_type). Calling it again returns the same result.
func (m *Mapping) Validate() error {
	m.once.Do(func() { m.c, m.err = compile(m) })
	return m.err
}

// Columns returns the columns the mapping reads, sorted, without duplicates.
func (m *Mapping) Columns() []string {
	var cols []string
	m.eachField(func(_ string, f *Field) {
		if f.Column != "" {
			cols = append(cols, f.Column)
		}
	})
	sort.Strings(cols)
	return slices.Compact(cols)
}

// CheckColumns checks a header (CSV) against the mapping: with the default schema legacy_id and at least one identity
// column must be present; with any other mapping, every column it names. The error names the missing column.
func (m *Mapping) CheckColumns(header []string) error {
	have := make(map[string]bool, len(header))
	for _, h := range header {
		have[h] = true
	}
	if m.defaults {
		if !have[m.LegacyID.Column] {
			return idshift.Invalid("header", "no %q column", m.LegacyID.Column)
		}
		for _, id := range m.Identities {
			if have[id.Column] {
				return nil
			}
		}
		return idshift.Invalid("header", "no identity column (email, username or identities)")
	}
	var missing []string
	for _, c := range m.Columns() {
		if !have[c] {
			missing = append(missing, fmt.Sprintf("%q", c))
		}
	}
	if len(missing) > 0 {
		return idshift.Invalid("header", "no column %s named by the mapping", strings.Join(missing, ", "))
	}
	return nil
}

// eachField calls fn for every field of the mapping with its key path.
func (m *Mapping) eachField(fn func(path string, f *Field)) {
	fn("legacy_id", &m.LegacyID)
	fn("display_name", &m.DisplayName)
	fn("given_name", &m.GivenName)
	fn("surname", &m.Surname)
	fn("mail", &m.Mail)
	fn("other_mails", &m.OtherMails)
	fn("phone", &m.Phone)
	fn("created", &m.Created)
	fn("last_sign_in", &m.LastSignIn)
	fn("disabled", &m.Disabled)
	fn("email_verified", &m.EmailVerified)
	fn("password", &m.Password)
	fn("password_hash", &m.PasswordHash)
	fn("privacy_policy.version", &m.PrivacyPolicy.Version)
	fn("privacy_policy.date", &m.PrivacyPolicy.Date)
	fn("terms_of_use.version", &m.TermsOfUse.Version)
	fn("terms_of_use.date", &m.TermsOfUse.Date)
	for i := range m.Identities {
		f := m.Identities[i].field()
		fn(fmt.Sprintf("identities[%d]", i), &f)
	}
	names := make([]string, 0, len(m.Extensions))
	for name := range m.Extensions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := m.Extensions[name].field()
		fn("extensions."+name, &f)
	}
}

// Apply maps one record to a user. get returns a field's value by column name and whether it is present. The line
// is the record's position in its source, put in User.Line and in row errors.
//
// A record that cannot be mapped (no legacy id, no identity, a value that does not parse) yields a
// *idshift.RowError naming the column; the caller reports it and goes on. An invalid mapping yields its Validate
// error, which is not a RowError.
func (m *Mapping) Apply(line int64, get func(field string) (string, bool)) (*idshift.User, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m.c.apply(line, &record{get: get})
}

// Binding is a mapping bound to a header, for sources whose records are values in header order (CSV, SQL rows): it
// reads columns by position, without a lookup by name per field and row.
type Binding struct {
	c   *compiled
	idx []int
}

// Bind binds the mapping to a header. Columns the mapping names that the header lacks read as absent (check them
// first with CheckColumns); when a name repeats in the header the first counts.
func (m *Mapping) Bind(header []string) (*Binding, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	pos := make(map[string]int, len(header))
	for i := len(header) - 1; i >= 0; i-- {
		pos[header[i]] = i
	}
	idx := make([]int, len(m.c.columns))
	for s, col := range m.c.columns {
		idx[s] = -1
		if i, ok := pos[col]; ok {
			idx[s] = i
		}
	}
	return &Binding{c: m.c, idx: idx}, nil
}

// Apply maps one record given as values in header order, as Mapping.Apply does. A value past the end of values
// reads as absent.
func (b *Binding) Apply(line int64, values []string) (*idshift.User, error) {
	return b.c.apply(line, &record{vals: values, idx: b.idx})
}

// Named is implemented by every reader of this module: the name it stamps on each user (its configured name, else
// its mapping's, else its kind), which is the source half of the user's store key. `idshift audit` names a
// source with it so that a merge plan keys accounts exactly as `idshift import` does.
type Named interface {
	SourceName() string
}
