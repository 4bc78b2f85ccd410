// Package keycloak reads Keycloak users from a realm export ({"realm":…,"users":[…], clients, roles…}) or a
// `kc.sh export` users file (my-realm-users-0.json), streamed: one user in memory at a time, however big the realm.
//
// Example configuration (YAML):
//
//	kind: keycloak
//	path: my-realm-users-0.json   # or a realm export; "-" reads standard input
//	name: keycloak
//
// A password credential with secretData/credentialData (pbkdf2, pbkdf2-sha256, pbkdf2-sha512, argon2) is put in
// password_hash as the credential's JSON text, which package pwhash reads; one whose provider is bcrypt gives its
// "$2…" value as is. A credential with a plaintext "value" (realm imports written by hand) is a plaintext password,
// set as it is. Service-account users (serviceAccountClientId, or a "service-account-" user name) are not people:
// each is returned as an *idshift.RowError saying so, and reading goes on.
//
// Columns of the mapping (see docs/sources.md): legacy_id (id, else username), email, mail, username, given_name,
// surname, display_name (first and last name), created, disabled (not enabled), password, password_hash and
// identities (federatedIdentities as federated ones). A required UPDATE_PASSWORD action sets
// Credential.MustChange.
package keycloak

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/internal/reader"
)

// Config configures a Keycloak source. The zero value with a Path is usable.
type Config struct {
	// Path of the realm export or users file; "-" reads Stdin.
	Path string `yaml:"path"`
	// Name is put in User.Source; default the mapping's source, else "keycloak".
	Name string `yaml:"name"`
	// Mapping turns the normalised columns into users; nil means the readers' default.
	Mapping *source.Mapping `yaml:"-"`
	// Stdin is read when Path is "-"; default os.Stdin.
	Stdin io.Reader `yaml:"-"`
	// Unmapped puts in User.Unmapped the record's keys this reader does not read (for an audit; import leaves it
	// off and pays nothing).
	Unmapped bool `yaml:"-"`
}

// Open checks the configuration and reads the export up to its users array (a file that is one array of users
// is read too).
func (c Config) Open() (idshift.Source, error) {
	base, err := reader.NewBase("keycloak", c.Name, c.Mapping)
	if err != nil {
		return nil, err
	}
	base.Unmapped, base.Read = c.Unmapped, reader.Set("id", "username", "email", "firstName", "lastName", "enabled", "createdTimestamp",
		"serviceAccountClientId", "credentials", "requiredActions", "federatedIdentities")
	s := &src{Base: base, rec: reader.Record{}}
	if s.objs, err = s.OpenObjects(c.Path, c.Stdin, "users"); err != nil {
		return nil, err
	}
	return s, nil
}

type src struct {
	reader.Base
	objs *reader.Objects
	rec  reader.Record
}

type credential struct {
	Type           string          `json:"type"`
	Value          *string         `json:"value"`
	Temporary      bool            `json:"temporary"`
	SecretData     json.RawMessage `json:"secretData"`
	CredentialData json.RawMessage `json:"credentialData"`
	// Before Keycloak 11.
	HashedSaltedValue string `json:"hashedSaltedValue"`
	Salt              string `json:"salt"`
	HashIterations    int    `json:"hashIterations"`
	Algorithm         string `json:"algorithm"`
}

type user struct {
	ID                     string       `json:"id"`
	Username               string       `json:"username"`
	Email                  string       `json:"email"`
	FirstName              string       `json:"firstName"`
	LastName               string       `json:"lastName"`
	Enabled                *bool        `json:"enabled"`
	EmailVerified          *bool        `json:"emailVerified"`
	CreatedTimestamp       json.Number  `json:"createdTimestamp"`
	ServiceAccountClientID string       `json:"serviceAccountClientId"`
	Credentials            []credential `json:"credentials"`
	RequiredActions        []string     `json:"requiredActions"`
	FederatedIdentities    []struct {
		IdentityProvider string `json:"identityProvider"`
		UserID           string `json:"userId"`
		UserName         string `json:"userName"`
	} `json:"federatedIdentities"`
}

// Next implements idshift.Source.
func (s *src) Next(ctx context.Context) (*idshift.User, error) {
	var u user
	line, err := s.NextObject(ctx, s.objs, &u, "a Keycloak user")
	if err != nil {
		return nil, err
	}
	id := u.ID
	if id == "" {
		id = u.Username
	}
	if u.ServiceAccountClientID != "" || strings.HasPrefix(u.Username, "service-account-") {
		return nil, reader.Reject(line, id, "", "service-account user (of client %q): not a person; skipped", u.ServiceAccountClientID)
	}
	r := s.rec
	r.Reset()
	r[reader.ColLegacyID] = id
	r[reader.ColEmail] = u.Email
	r[reader.ColMail] = u.Email
	r[reader.ColUsername] = u.Username
	r[reader.ColGivenName] = u.FirstName
	r[reader.ColSurname] = u.LastName
	r[reader.ColDisplayName] = strings.TrimSpace(u.FirstName + " " + u.LastName)
	if ms, err := u.CreatedTimestamp.Int64(); err == nil && ms > 0 {
		r[reader.ColCreated] = strconv.FormatInt(ms, 10)
	}
	if u.Enabled != nil {
		r[reader.ColDisabled] = strconv.FormatBool(!*u.Enabled)
	}
	if u.EmailVerified != nil && u.Email != "" {
		r[reader.ColEmailVerified] = strconv.FormatBool(*u.EmailVerified)
	}
	var fed []idshift.Identity
	for _, f := range u.FederatedIdentities {
		if f.UserID != "" {
			fed = append(fed, idshift.Identity{SignInType: idshift.SignInFederated, Issuer: reader.Issuer(f.IdentityProvider), IssuerAssignedID: f.UserID})
		}
	}
	r[reader.ColIdentities] = reader.Identities(fed)
	mustChange := slices.Contains(u.RequiredActions, "UPDATE_PASSWORD")
	for _, c := range u.Credentials {
		if c.Type != "password" && c.Type != "" {
			continue
		}
		if c.Temporary {
			mustChange = true
		}
		switch {
		case c.Value != nil && len(c.SecretData) == 0 && c.HashedSaltedValue == "":
			r[reader.ColPassword] = *c.Value
		default:
			r[reader.ColHash] = hash(c)
		}
		break
	}
	out, err := s.User(line, r)
	if err != nil {
		return nil, err
	}
	if mustChange && out.Credential.Kind != idshift.CredentialNone {
		out.Credential.MustChange = true
	}
	return out, nil
}

// hash returns what package pwhash reads for a hashed credential: the bcrypt string of a bcrypt provider, else the
// credential object itself.
func hash(c credential) string {
	var cd struct {
		Algorithm string `json:"algorithm"`
	}
	unembed(c.CredentialData, &cd)
	if strings.HasPrefix(strings.ToLower(cd.Algorithm), "bcrypt") {
		var sd struct {
			Value string `json:"value"`
		}
		unembed(c.SecretData, &sd)
		if strings.HasPrefix(sd.Value, "$2") {
			return sd.Value
		}
	}
	obj := map[string]any{}
	if len(c.SecretData) > 0 {
		obj["secretData"] = c.SecretData
		obj["credentialData"] = c.CredentialData
	} else {
		obj["hashedSaltedValue"] = c.HashedSaltedValue
		obj["salt"] = c.Salt
		obj["hashIterations"] = c.HashIterations
		obj["algorithm"] = c.Algorithm
	}
	b, _ := json.Marshal(obj)
	return string(b)
}

// unembed decodes a field Keycloak writes either as an object or as a string holding one.
func unembed(raw json.RawMessage, v any) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	_ = json.Unmarshal(raw, v)
}

var _ idshift.Source = (*src)(nil)
