// Package kratos reads Ory Kratos identities with their credentials, as the admin API returns them
// (GET /admin/identities?include_credential=password): a JSON array, JSON Lines, or objects one after another.
//
// Example configuration (YAML):
//
//	kind: kratos
//	path: identities.json   # "-" reads standard input
//	name: kratos
//	email_trait: email      # the trait holding the e-mail address; default "email"
//	username_trait: username  # the trait holding a user name; default "username"
//
// credentials.password.config.hashed_password is put in password_hash as it is: package pwhash reads Kratos's
// hash strings (its "$scrypt$ln=…" needs the hashes.scrypt_ln_is_n setting, as Kratos writes N itself there).
// The identity's password identifiers that are e-mail addresses become emailAddress identities (besides the e-mail
// trait) and the others userName identities; an oidc credential's identifiers ("google:1234…") become federated
// identities. Columns of the mapping (see docs/sources.md): legacy_id (id), email, mail, username, display_name
// (traits.name, as a string or {first,last}), given_name, surname, created, disabled (state not "active"),
// password_hash and identities. A record that cannot be read is an *idshift.RowError with its line.
package kratos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/internal/reader"
)

// Config configures a Kratos source. The zero value with a Path is usable.
type Config struct {
	// Path of the identities file; "-" reads Stdin.
	Path string `yaml:"path"`
	// Name is put in User.Source; default the mapping's source, else "kratos".
	Name string `yaml:"name"`
	// EmailTrait names the trait holding the e-mail address; default "email".
	EmailTrait string `yaml:"email_trait"`
	// UsernameTrait names the trait holding a user name; default "username".
	UsernameTrait string `yaml:"username_trait"`
	// Mapping turns the normalised columns into users; nil means the readers' default.
	Mapping *source.Mapping `yaml:"-"`
	// Stdin is read when Path is "-"; default os.Stdin.
	Stdin io.Reader `yaml:"-"`
	// Unmapped puts in User.Unmapped the record's keys this reader does not read (for an audit; import leaves it
	// off and pays nothing).
	Unmapped bool `yaml:"-"`
}

// Open checks the configuration and opens the file.
func (c Config) Open() (idshift.Source, error) {
	base, err := reader.NewBase("kratos", c.Name, c.Mapping)
	if err != nil {
		return nil, err
	}
	s := &src{Base: base, rec: reader.Record{}, emailTrait: c.EmailTrait, userTrait: c.UsernameTrait}
	if s.emailTrait == "" {
		s.emailTrait = "email"
	}
	if s.userTrait == "" {
		s.userTrait = "username"
	}
	s.Unmapped = c.Unmapped
	s.Read = reader.Set("id", "state", "created_at", "credentials", "traits."+s.emailTrait, "traits."+s.userTrait, "traits.name")
	if s.objs, err = s.OpenObjects(c.Path, c.Stdin, ""); err != nil {
		return nil, err
	}
	return s, nil
}

type src struct {
	reader.Base
	objs                  *reader.Objects
	rec                   reader.Record
	emailTrait, userTrait string
}

type credential struct {
	Identifiers []string `json:"identifiers"`
	Config      struct {
		HashedPassword string `json:"hashed_password"`
	} `json:"config"`
}

type identity struct {
	ID          string                     `json:"id"`
	State       string                     `json:"state"`
	CreatedAt   string                     `json:"created_at"`
	Traits      map[string]json.RawMessage `json:"traits"`
	Credentials map[string]credential      `json:"credentials"`
	// Addresses are the verifiable addresses; the one of the email trait says whether it was verified.
	Addresses []struct {
		Value    string `json:"value"`
		Via      string `json:"via"`
		Verified *bool  `json:"verified"`
	} `json:"verifiable_addresses"`
}

// Next implements idshift.Source.
func (s *src) Next(ctx context.Context) (*idshift.User, error) {
	var id identity
	line, err := s.NextObject(ctx, s.objs, &id, "a Kratos identity")
	if err != nil {
		return nil, err
	}
	r := s.rec
	r.Reset()
	r[reader.ColLegacyID] = id.ID
	email := str(id.Traits[s.emailTrait])
	r[reader.ColMail] = email
	r[reader.ColUsername] = str(id.Traits[s.userTrait])
	r[reader.ColCreated] = id.CreatedAt
	if id.State != "" {
		r[reader.ColDisabled] = fmt.Sprint(id.State != "active")
	}
	var name struct {
		First string `json:"first"`
		Last  string `json:"last"`
	}
	if n := id.Traits["name"]; len(n) > 0 {
		if v := str(n); v != "" {
			r[reader.ColDisplayName] = v
		} else if json.Unmarshal(n, &name) == nil {
			r[reader.ColGivenName] = name.First
			r[reader.ColSurname] = name.Last
			r[reader.ColDisplayName] = strings.TrimSpace(name.First + " " + name.Last)
		}
	}
	var ids []idshift.Identity
	seen := map[string]bool{}
	add := func(i idshift.Identity) {
		k := i.SignInType + "\x00" + strings.ToLower(i.IssuerAssignedID)
		if !seen[k] {
			seen[k] = true
			ids = append(ids, i)
		}
	}
	if email != "" {
		seen[idshift.SignInEmail+"\x00"+strings.ToLower(email)] = true
		r[reader.ColEmail] = email
		for _, a := range id.Addresses {
			if a.Verified != nil && (a.Via == "email" || a.Via == "") && strings.EqualFold(strings.TrimSpace(a.Value), strings.TrimSpace(email)) {
				r[reader.ColEmailVerified] = fmt.Sprint(*a.Verified)
				break
			}
		}
	}
	if u := r[reader.ColUsername]; u != "" {
		seen[idshift.SignInUserName+"\x00"+strings.ToLower(u)] = true
	}
	if pw, ok := id.Credentials["password"]; ok {
		for _, v := range pw.Identifiers {
			t := idshift.SignInUserName
			if strings.Contains(v, "@") {
				t = idshift.SignInEmail
			}
			add(idshift.Identity{SignInType: t, IssuerAssignedID: v})
		}
		r[reader.ColHash] = pw.Config.HashedPassword
	}
	if oidc, ok := id.Credentials["oidc"]; ok {
		for _, v := range oidc.Identifiers {
			if p, sub, ok := strings.Cut(v, ":"); ok && sub != "" {
				add(idshift.Identity{SignInType: idshift.SignInFederated, Issuer: reader.Issuer(p), IssuerAssignedID: sub})
			}
		}
	}
	r[reader.ColIdentities] = reader.Identities(ids)
	return s.User(line, r)
}

func str(raw json.RawMessage) string {
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v
}

var _ idshift.Source = (*src)(nil)
