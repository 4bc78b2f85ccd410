// Package firebase reads Firebase Authentication users as `firebase auth:export` writes them: JSON
// ({"users":[…]}, also what the Auth emulator exports) or CSV (no header, the CLI's column order).
//
// Example configuration (YAML):
//
//	kind: firebase
//	path: users.json     # or users.csv; "-" reads standard input
//	format: json         # json or csv; default from the extension
//	name: firebase
//
// The project's hash parameters (signer key, salt separator, rounds, memory cost) are not in the export: they are
// given once, as the hashes.firebase.* settings, and package pwhash uses them when it reads the hashes. A user's
// hash is put in password_hash as the JSON text {"passwordHash":…,"salt":…}, which pwhash recognises. The Auth
// emulator's "fakeHash:salt=…:password=…" holds the password itself: it is read as a plaintext password.
//
// Columns of the mapping (see docs/sources.md): legacy_id (localId / UID), email (an emailAddress identity when the
// user has a password or no federated provider), mail, display_name, phone, created, last_sign_in, disabled,
// password, password_hash and identities (google.com, facebook.com, twitter.com, github.com, apple.com providers as
// federated identities). The file is streamed; a record that cannot be read is an *idshift.RowError with its line.
package firebase

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/internal/reader"
)

// Formats.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
)

// Config configures a Firebase source. The zero value with a Path is usable.
type Config struct {
	// Path of the export; "-" reads Stdin.
	Path string `yaml:"path"`
	// Format is json or csv; default from the extension of Path (json when it cannot tell).
	Format string `yaml:"format"`
	// Name is put in User.Source; default the mapping's source, else "firebase".
	Name string `yaml:"name"`
	// Mapping turns the normalised columns into users; nil means the readers' default.
	Mapping *source.Mapping `yaml:"-"`
	// Stdin is read when Path is "-"; default os.Stdin.
	Stdin io.Reader `yaml:"-"`
	// Unmapped puts in User.Unmapped the record's keys this reader does not read (for an audit; import leaves it
	// off and pays nothing).
	Unmapped bool `yaml:"-"`
}

// Open checks the configuration and opens the export.
func (c Config) Open() (idshift.Source, error) {
	format := strings.ToLower(c.Format)
	if format == "" {
		format = FormatJSON
		if strings.EqualFold(filepath.Ext(c.Path), ".csv") {
			format = FormatCSV
		}
	}
	if format != FormatJSON && format != FormatCSV {
		return nil, idshift.Invalid("firebase: Format", "unknown %q; want json or csv", c.Format)
	}
	base, err := reader.NewBase("firebase", c.Name, c.Mapping)
	if err != nil {
		return nil, err
	}
	base.Unmapped, base.Read = c.Unmapped, reader.Set("localId", "email", "displayName", "phoneNumber", "passwordHash", "salt", "createdAt",
		"lastSignedInAt", "lastLoginAt", "disabled", "providerUserInfo")
	br, closer, err := reader.OpenInput("firebase", c.Path, c.Stdin)
	if err != nil {
		return nil, err
	}
	base.Closer = closer
	s := &src{Base: base, rec: reader.Record{}}
	if format == FormatCSV {
		s.csv = csv.NewReader(br)
		s.csv.FieldsPerRecord = -1
		s.csv.ReuseRecord = true
		return s, nil
	}
	if s.objs, err = reader.NewObjects(br, "users"); err != nil {
		_ = closer.Close()
		return nil, fmt.Errorf("firebase: %s: %w", c.Path, err)
	}
	return s, nil
}

type src struct {
	reader.Base
	objs *reader.Objects
	csv  *csv.Reader
	rec  reader.Record
}

type provider struct {
	ProviderID  string `json:"providerId"`
	RawID       string `json:"rawId"`
	FederatedID string `json:"federatedId"`
	Email       string `json:"email"`
}

type user struct {
	LocalID        string          `json:"localId"`
	Email          string          `json:"email"`
	DisplayName    string          `json:"displayName"`
	PhoneNumber    string          `json:"phoneNumber"`
	PasswordHash   string          `json:"passwordHash"`
	Salt           string          `json:"salt"`
	CreatedAt      json.RawMessage `json:"createdAt"`
	LastSignedInAt json.RawMessage `json:"lastSignedInAt"`
	LastLoginAt    json.RawMessage `json:"lastLoginAt"`
	Disabled       *bool           `json:"disabled"`
	EmailVerified  *bool           `json:"emailVerified"`
	Providers      []provider      `json:"providerUserInfo"`
}

// Next implements idshift.Source.
func (s *src) Next(ctx context.Context) (*idshift.User, error) {
	if err := s.CheckCtx(ctx); err != nil {
		return nil, err
	}
	if s.csv != nil {
		return s.nextCSV()
	}
	var u user
	line, err := s.NextObject(ctx, s.objs, &u, "a Firebase user")
	if err != nil {
		return nil, err
	}
	r := s.rec
	r.Reset()
	r[reader.ColLegacyID] = u.LocalID
	r[reader.ColMail] = u.Email
	r[reader.ColDisplayName] = u.DisplayName
	r[reader.ColPhone] = u.PhoneNumber
	r[reader.ColCreated] = number(u.CreatedAt)
	last := number(u.LastSignedInAt)
	if last == "" {
		last = number(u.LastLoginAt)
	}
	r[reader.ColLastSignIn] = last
	if u.Disabled != nil {
		r[reader.ColDisabled] = strconv.FormatBool(*u.Disabled)
	}
	if u.EmailVerified != nil {
		r[reader.ColEmailVerified] = strconv.FormatBool(*u.EmailVerified)
	}
	local := u.PasswordHash != ""
	var fed []idshift.Identity
	for _, p := range u.Providers {
		switch p.ProviderID {
		case "password":
			local = true
		case "phone", "":
		default:
			id := p.RawID
			if id == "" {
				id = p.FederatedID
			}
			if id != "" {
				fed = append(fed, idshift.Identity{SignInType: idshift.SignInFederated, Issuer: reader.Issuer(p.ProviderID), IssuerAssignedID: id})
			}
		}
	}
	if local || len(fed) == 0 {
		r[reader.ColEmail] = u.Email
	}
	r[reader.ColIdentities] = reader.Identities(fed)
	credential(r, u.PasswordHash, u.Salt)
	return s.User(line, r)
}

// credential fills password or password_hash from a Firebase hash and salt.
func credential(r reader.Record, hash, salt string) {
	if hash == "" {
		return
	}
	if rest, ok := strings.CutPrefix(hash, "fakeHash:"); ok {
		// The Auth emulator: fakeHash:salt=…:password=…
		if _, pw, ok := strings.Cut(rest, "password="); ok {
			r[reader.ColPassword] = pw
		}
		return
	}
	b, _ := json.Marshal(struct {
		PasswordHash string `json:"passwordHash"`
		Salt         string `json:"salt"`
	}{hash, salt})
	r[reader.ColHash] = string(b)
}

func number(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// CSV columns as firebase auth:export writes them: UID, Email, Email Verified, Password Hash, Password Salt, Name,
// Photo URL, then four columns (ID, Email, Display Name, Photo URL) for each of google.com, facebook.com,
// twitter.com and github.com, then creation time, last sign-in time, phone number and, in later versions, disabled
// and custom attributes. Since versions differ in the columns after the providers, those are read by content: the
// first two millisecond timestamps, a "+" phone number, a boolean.
var csvProviders = []struct {
	col int
	id  string
}{{7, "google.com"}, {11, "facebook.com"}, {15, "twitter.com"}, {19, "github.com"}}

func (s *src) nextCSV() (*idshift.User, error) {
	rec, err := s.csv.Read()
	if err != nil {
		if err == io.EOF {
			return nil, err
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			// encoding/csv goes on with the next record.
			return nil, reader.Reject(int64(pe.StartLine), "", "", "invalid CSV: %s", pe.Err)
		}
		return nil, fmt.Errorf("firebase: %w", err)
	}
	line, _ := s.csv.FieldPos(0) // only after a record was read
	if len(rec) < 7 {
		return nil, reader.Reject(int64(line), "", "", "%d columns; a Firebase CSV export has at least 26", len(rec))
	}
	r := s.rec
	r.Reset()
	r[reader.ColLegacyID] = rec[0]
	r[reader.ColMail] = rec[1]
	r[reader.ColDisplayName] = rec[5]
	if v := strings.ToLower(rec[2]); v == "true" || v == "false" {
		r[reader.ColEmailVerified] = v
	}
	local := rec[3] != ""
	var fed []idshift.Identity
	for _, p := range csvProviders {
		if p.col < len(rec) && rec[p.col] != "" {
			fed = append(fed, idshift.Identity{SignInType: idshift.SignInFederated, Issuer: p.id, IssuerAssignedID: rec[p.col]})
		}
	}
	times := 0
	for _, v := range rec[min(23, len(rec)):] {
		switch {
		case v == "":
		case strings.HasPrefix(v, "+"):
			r[reader.ColPhone] = v
		case v == "true" || v == "false":
			r[reader.ColDisabled] = v
		case isDigits(v) && times == 0:
			r[reader.ColCreated] = v
			times++
		case isDigits(v) && times == 1:
			r[reader.ColLastSignIn] = v
			times++
		}
	}
	if local || len(fed) == 0 {
		r[reader.ColEmail] = rec[1]
	}
	r[reader.ColIdentities] = reader.Identities(fed)
	credential(r, rec[3], rec[4])
	return s.User(int64(line), r)
}

func isDigits(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return v != ""
}

var _ idshift.Source = (*src)(nil)
