// Package b2cfile reads Azure AD B2C user files: the input of Microsoft's B2C user-migration sample
// (azure-ad-b2c/user-migration, UsersData.json: {"userType":"emailAddress"|"userName","Users":[{signInName, email,
// issuer, issuerUserId, displayName, firstName, lastName, password}]}) and users in the Microsoft Graph shape
// ({"users":[…]} as ms-identity-dotnetcore-b2c-account-management's bulk-create input, {"value":[…]} as a
// GET /users answer, or a bare array: displayName, givenName, surname, mail, otherMails, identities
// [{signInType, issuer, issuerAssignedId}], password or passwordProfile.password, accountEnabled, id).
//
// Example configuration (YAML):
//
//	kind: b2cfile
//	path: UsersData.json  # "-" reads standard input
//	user_type: ""         # emailAddress or userName: overrides the file's userType
//	name: b2c             # put in User.Source
//
// The files are JSONC as Microsoft ships them: a UTF-8 byte order mark and // or /* */ comments outside strings
// are accepted (a streaming filter in front of the JSON decoder turns comments into spaces, so lines stay those of
// the file). Users are streamed one at a time.
//
// Which shape a record has is decided per record: one with an "identities" array is a Graph user, any other one a
// migration-sample user. Each becomes an *idshift.User through a source.Mapping over the normalised columns (see
// docs/sources.md):
//
//   - migration sample: signInName is a local sign-in, emailAddress or userName by userType (Config.UserType,
//     else the file's, else emailAddress when it holds an '@'); issuer with issuerUserId a federated identity;
//     mail is email, else an emailAddress signInName; legacy_id is signInName, else issuerUserId.
//   - Graph: the first emailAddress and the first userName identity fill the email and username columns, every other
//     identity (federated ones, further local ones) the identities column; userPrincipalName identities are left out
//     (the target tenant assigns its own); mail is mail, else the first of otherMails, else the emailAddress
//     identity; legacy_id is id, else the first local identity's issuerAssignedId, else the first identity's.
//
// The issuer of a local identity is left empty: the target tenant's own. A password is a plaintext credential
// (idshift.CredentialPlaintext): the importer creates the user with it.
//
// A record that is not an object, has fields of the wrong type, a federated identity without its issuer or id, or
// no sign-in identity at all is returned from Next as an *idshift.RowError with its line, and the read goes on.
// Text that is not JSON ends the read with an error naming its line.
package b2cfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/internal/reader"
)

// Kind is the source kind's name, in the configuration and --source-kind.
const Kind = "b2cfile"

// ErrNoUsers: the top-level object holds no "Users", "users" or "value" array.
var ErrNoUsers = errors.New(`no "Users", "users" or "value" array`)

// Config configures a B2C user file source. The zero value with a Path is usable.
type Config struct {
	// Path of the file; "-" reads Stdin.
	Path string `yaml:"path"`
	// UserType says what a migration-sample signInName is: "emailAddress" or "userName". Empty: the file's
	// userType, else emailAddress for a name with an '@' and userName otherwise.
	UserType string `yaml:"user_type"`
	// Name is put in User.Source; default the mapping's source, else "b2cfile".
	Name string `yaml:"name"`
	// Mapping turns the normalised columns into users; nil means the readers' default.
	Mapping *source.Mapping `yaml:"-"`
	// Stdin is read when Path is "-"; default os.Stdin.
	Stdin io.Reader `yaml:"-"`
}

// Open checks the configuration and opens the file. Errors name the field at fault. Reading starts at Next.
func (c Config) Open() (idshift.Source, error) {
	ut, err := userType(c.UserType)
	if err != nil {
		return nil, idshift.Invalid(Kind+": UserType", "%v", err)
	}
	base, err := reader.NewBase(Kind, c.Name, c.Mapping)
	if err != nil {
		return nil, err
	}
	br, closer, err := reader.OpenInput(Kind, c.Path, c.Stdin)
	if err != nil {
		return nil, err
	}
	s := &src{Base: base, fixed: ut != "", userType: ut, path: c.Path}
	s.Closer = closer
	s.ln = &lines{r: newJSONC(br), line: 1}
	s.dec = json.NewDecoder(s.ln)
	return s, nil
}

// userType checks a userType value; "" stays "".
func userType(v string) (string, error) {
	switch {
	case v == "":
		return "", nil
	case strings.EqualFold(v, idshift.SignInEmail):
		return idshift.SignInEmail, nil
	case strings.EqualFold(v, idshift.SignInUserName):
		return idshift.SignInUserName, nil
	}
	return "", fmt.Errorf("userType %q: want emailAddress or userName", v)
}

// Walk states.
const (
	stStart = iota
	stTop   // inside the top-level object, between members
	stUsers // inside the users array
	stArray // inside a top-level array of users
	stDone
)

type src struct {
	reader.Base
	ln       *lines
	dec      *json.Decoder
	path     string
	state    int
	seen     bool // a users array was found
	fixed    bool // userType from the configuration
	userType string
	err      error
	rec      reader.Record
}

// Next implements idshift.Source.
func (s *src) Next(ctx context.Context) (*idshift.User, error) {
	if err := s.CheckCtx(ctx); err != nil {
		return nil, err
	}
	if s.err != nil {
		return nil, s.err
	}
	raw, line, err := s.nextRaw()
	if err != nil {
		if err != io.EOF {
			s.err = fmt.Errorf("%s: %s: %w", Kind, s.path, err)
			return nil, s.err
		}
		return nil, io.EOF
	}
	return s.user(raw, line)
}

func (s *src) syntax(err error) error {
	return fmt.Errorf("line %d: invalid JSON: %w", s.ln.at(s.dec.InputOffset()), err)
}

// nextRaw walks the document to the next user object: its text and the line it starts on.
func (s *src) nextRaw() (json.RawMessage, int64, error) {
	for {
		switch s.state {
		case stDone:
			return nil, 0, io.EOF
		case stStart:
			t, err := s.dec.Token()
			if err == io.EOF {
				s.state = stDone
				continue
			}
			if err != nil {
				return nil, 0, s.syntax(err)
			}
			switch t {
			case json.Delim('{'):
				s.state = stTop
			case json.Delim('['):
				s.state, s.seen = stArray, true
			default:
				return nil, 0, fmt.Errorf("line %d: not a B2C user file: want an object or an array", s.ln.at(s.dec.InputOffset()))
			}
		case stTop:
			if !s.dec.More() {
				if _, err := s.dec.Token(); err != nil {
					return nil, 0, s.syntax(err)
				}
				s.state = stDone
				if !s.seen {
					return nil, 0, fmt.Errorf("line %d: %w", s.ln.at(s.dec.InputOffset()), ErrNoUsers)
				}
				continue
			}
			t, err := s.dec.Token()
			if err != nil {
				return nil, 0, s.syntax(err)
			}
			key, _ := t.(string)
			switch {
			case strings.EqualFold(key, "userType"):
				var v string
				if err := s.dec.Decode(&v); err != nil {
					return nil, 0, fmt.Errorf("line %d: userType: %w", s.ln.at(s.dec.InputOffset()), err)
				}
				ut, err := userType(v)
				if err != nil {
					return nil, 0, fmt.Errorf("line %d: %w", s.ln.at(s.dec.InputOffset()), err)
				}
				if !s.fixed {
					s.userType = ut
				}
			case strings.EqualFold(key, "users") || key == "value":
				t, err := s.dec.Token()
				if err != nil {
					return nil, 0, s.syntax(err)
				}
				if d, ok := t.(json.Delim); !ok || d != '[' {
					return nil, 0, fmt.Errorf("line %d: %q: %w (not an array)", s.ln.at(s.dec.InputOffset()), key, ErrNoUsers)
				}
				s.state, s.seen = stUsers, true
			default:
				var skip json.RawMessage
				if err := s.dec.Decode(&skip); err != nil {
					return nil, 0, s.syntax(err)
				}
				s.ln.at(s.dec.InputOffset()) // let go of the bytes skipped
			}
		case stUsers, stArray:
			if !s.dec.More() {
				if _, err := s.dec.Token(); err != nil { // the closing bracket
					return nil, 0, s.syntax(err)
				}
				if s.state == stUsers {
					s.state = stTop
				} else {
					s.state = stDone
				}
				continue
			}
			var msg json.RawMessage
			before := s.dec.InputOffset()
			if err := s.dec.Decode(&msg); err != nil {
				var se *json.SyntaxError
				if errors.As(err, &se) {
					// The offset of a syntax error counts from where the value's reading began.
					return nil, 0, fmt.Errorf("line %d: invalid JSON: %w", s.ln.at(before+se.Offset-1), err)
				}
				return nil, 0, s.syntax(err)
			}
			if len(msg) > reader.MaxRecordBytes {
				return nil, 0, fmt.Errorf("line %d: record longer than %d bytes", s.ln.at(s.dec.InputOffset()-int64(len(msg))), reader.MaxRecordBytes)
			}
			return msg, s.ln.at(s.dec.InputOffset() - int64(len(msg))), nil
		}
	}
}

// identity is a Graph objectIdentity.
type identity struct {
	SignInType       string `json:"signInType"`
	Issuer           string `json:"issuer"`
	IssuerAssignedID string `json:"issuerAssignedId"`
}

// user is the union of the migration sample's and Graph's user shapes (encoding/json matches names regardless of
// case, as the C# sample's deserialiser does).
type user struct {
	// Migration sample.
	SignInName   string `json:"signInName"`
	Email        string `json:"email"`
	Issuer       string `json:"issuer"`
	IssuerUserID string `json:"issuerUserId"`
	FirstName    string `json:"firstName"`
	LastName     string `json:"lastName"`
	// Both.
	DisplayName string `json:"displayName"`
	Password    string `json:"password"`
	// Graph.
	ID              string     `json:"id"`
	GivenName       string     `json:"givenName"`
	Surname         string     `json:"surname"`
	Mail            string     `json:"mail"`
	OtherMails      []string   `json:"otherMails"`
	MobilePhone     string     `json:"mobilePhone"`
	CreatedDateTime string     `json:"createdDateTime"`
	AccountEnabled  *bool      `json:"accountEnabled"`
	Identities      []identity `json:"identities"`
	PasswordProfile *struct {
		Password string `json:"password"`
	} `json:"passwordProfile"`
}

// user maps one record.
func (s *src) user(raw json.RawMessage, line int64) (*idshift.User, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, reader.Reject(line, "", "", "not a user object")
	}
	var u user
	if err := json.Unmarshal(raw, &u); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, reader.Reject(line, "", te.Field, "not a B2C user: %s is a JSON %s, want %s", te.Field, te.Value, te.Type)
		}
		return nil, reader.Reject(line, "", "", "not a B2C user: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if s.rec == nil {
		s.rec = reader.Record{}
	}
	r := s.rec
	r.Reset()
	var err error
	if u.Identities != nil {
		err = s.graph(line, &u, r)
	} else {
		err = s.sample(line, &u, r)
	}
	if err != nil {
		return nil, err
	}
	r[reader.ColDisplayName] = u.DisplayName
	r[reader.ColPassword] = u.Password
	return s.User(line, r)
}

// sample fills the record from a migration-sample user.
func (s *src) sample(line int64, u *user, r reader.Record) error {
	id := strings.TrimSpace(u.SignInName)
	if id == "" {
		id = strings.TrimSpace(u.IssuerUserID)
	}
	r[reader.ColLegacyID] = id
	r[reader.ColGivenName] = u.FirstName
	r[reader.ColSurname] = u.LastName
	r[reader.ColMail] = u.Email
	if name := strings.TrimSpace(u.SignInName); name != "" {
		ut := s.userType
		if ut == "" {
			ut = idshift.SignInUserName
			if strings.Contains(name, "@") {
				ut = idshift.SignInEmail
			}
		}
		if ut == idshift.SignInEmail {
			r[reader.ColEmail] = name
			if r[reader.ColMail] == "" {
				r[reader.ColMail] = name
			}
		} else {
			r[reader.ColUsername] = name
		}
	}
	iss, sub := strings.TrimSpace(u.Issuer), strings.TrimSpace(u.IssuerUserID)
	switch {
	case iss != "" && sub != "":
		r[reader.ColIdentities] = reader.Identities([]idshift.Identity{{SignInType: idshift.SignInFederated, Issuer: issuer(iss), IssuerAssignedID: sub}})
	case iss != "":
		return reader.Reject(line, id, "issuerUserId", "issuer %q without issuerUserId", iss)
	case sub != "":
		return reader.Reject(line, id, "issuer", "issuerUserId without issuer")
	}
	if u.Password == "" && u.PasswordProfile != nil {
		u.Password = u.PasswordProfile.Password
	}
	return nil
}

// graph fills the record from a Graph user.
func (s *src) graph(line int64, u *user, r reader.Record) error {
	var rest []idshift.Identity
	var firstLocal, first string
	for i, id := range u.Identities {
		sub := strings.TrimSpace(id.IssuerAssignedID)
		field := fmt.Sprintf("identities[%d]", i)
		t := id.SignInType
		switch {
		case strings.EqualFold(t, "userPrincipalName"):
			continue
		case strings.EqualFold(t, idshift.SignInEmail), strings.EqualFold(t, idshift.SignInUserName):
			if sub == "" {
				return reader.Reject(line, u.ID, field, "%s identity without issuerAssignedId", t)
			}
			col := reader.ColEmail
			if strings.EqualFold(t, idshift.SignInUserName) {
				col, t = reader.ColUsername, idshift.SignInUserName
			} else {
				t = idshift.SignInEmail
			}
			if r[col] == "" {
				r[col] = sub
			} else {
				rest = append(rest, idshift.Identity{SignInType: t, IssuerAssignedID: sub})
			}
			if firstLocal == "" {
				firstLocal = sub
			}
		case strings.EqualFold(t, idshift.SignInFederated):
			iss := strings.TrimSpace(id.Issuer)
			if iss == "" || sub == "" {
				return reader.Reject(line, u.ID, field, "federated identity without issuer or issuerAssignedId")
			}
			rest = append(rest, idshift.Identity{SignInType: idshift.SignInFederated, Issuer: issuer(iss), IssuerAssignedID: sub})
		default:
			return reader.Reject(line, u.ID, field, "signInType %q: want emailAddress, userName, federated or userPrincipalName", t)
		}
		if first == "" {
			first = sub
		}
	}
	id := strings.TrimSpace(u.ID)
	if id == "" {
		id = firstLocal
	}
	if id == "" {
		id = first
	}
	r[reader.ColLegacyID] = id
	r[reader.ColIdentities] = reader.Identities(rest)
	r[reader.ColGivenName] = u.GivenName
	r[reader.ColSurname] = u.Surname
	r[reader.ColPhone] = u.MobilePhone
	r[reader.ColCreated] = u.CreatedDateTime
	if u.AccountEnabled != nil {
		r[reader.ColDisabled] = fmt.Sprint(!*u.AccountEnabled)
	}
	mail := u.Mail
	for _, m := range u.OtherMails {
		if mail == "" {
			mail = m
		}
	}
	if mail == "" {
		mail = r[reader.ColEmail]
	}
	r[reader.ColMail] = mail
	if u.Password == "" && u.PasswordProfile != nil {
		u.Password = u.PasswordProfile.Password
	}
	return nil
}

// issuer names a federated issuer: a provider B2C writes in any case ("Facebook.com") by its usual domain, any
// other issuer as given.
func issuer(iss string) string {
	l := strings.ToLower(iss)
	if i := reader.Issuer(l); i != l || isKnownDomain(l) {
		return i
	}
	return iss
}

// isKnownDomain reports whether a lower-case issuer is one reader.Issuer knows as a domain.
func isKnownDomain(l string) bool {
	switch l {
	case "google.com", "facebook.com", "appleid.apple.com", "github.com", "twitter.com", "live.com":
		return true
	}
	return false
}

var _ idshift.Source = (*src)(nil)
