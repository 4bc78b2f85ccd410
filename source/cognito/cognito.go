// Package cognito reads the users of an Amazon Cognito user pool as `aws cognito-idp list-users` prints them: a page
// ({"Users":[…],"PaginationToken":"…"}), pages one after another (the output of a loop over PaginationToken), a JSON
// array of users, or users one per line (JSON Lines).
//
// Example configuration (YAML):
//
//	kind: cognito
//	path: users.json   # "-" reads standard input
//	name: cognito
//
// Cognito never exports password hashes: every user comes without a credential, to be migrated by a live check at
// the user pool (InitiateAuth with USER_PASSWORD_AUTH; import --live-check) or by self-service password reset.
//
// Columns of the mapping (see docs/sources.md): legacy_id (Username, what InitiateAuth takes), email and mail (the
// email attribute), username (preferred_username, else a Username that is neither a UUID nor an e-mail address nor
// a federated user's provider_id), identities (the identities attribute's federated identities, providerName
// lowered as issuer: Google → google.com), phone (phone_number), display_name (name, else given and family names),
// given_name, surname (family_name), created (UserCreateDate, an ISO 8601 string or epoch seconds), disabled
// (Enabled false), and every other attribute under its own name ("custom:tier", "locale") for a mapping to use.
// A record that cannot be read is an *idshift.RowError with its line; text that is not JSON ends the read.
package cognito

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/internal/reader"
)

// Config configures a Cognito source. The zero value with a Path is usable.
type Config struct {
	// Path of the list-users output; "-" reads Stdin.
	Path string `yaml:"path"`
	// Name is put in User.Source; default the mapping's source, else "cognito".
	Name string `yaml:"name"`
	// Mapping turns the columns into users; nil means the native readers' default.
	Mapping *source.Mapping `yaml:"-"`
	// Stdin is read when Path is "-"; default os.Stdin.
	Stdin io.Reader `yaml:"-"`
	// Unmapped puts in User.Unmapped the user's attributes the mapping does not read (custom:… and the like), for
	// an audit; import leaves it off and pays nothing.
	Unmapped bool `yaml:"-"`
}

// Open checks the configuration and opens the file.
func (c Config) Open() (idshift.Source, error) {
	base, err := reader.NewBase("cognito", c.Name, c.Mapping)
	if err != nil {
		return nil, err
	}
	br, closer, err := reader.OpenInput("cognito", c.Path, c.Stdin)
	if err != nil {
		return nil, err
	}
	s := &src{Base: base, rec: reader.Record{}}
	if c.Unmapped {
		s.Unmapped, s.Read = true, reader.Set(base.Mapping.Columns()...)
	}
	s.Closer = closer
	s.ln = &lineCounter{r: br, line: 1}
	s.dec = json.NewDecoder(bufio.NewReaderSize(s.ln, 64<<10))
	return s, nil
}

// lineCounter turns the decoder's byte offsets into line numbers, keeping only the bytes not yet counted.
type lineCounter struct {
	r    io.Reader
	buf  []byte
	base int64
	line int64
}

func (l *lineCounter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.buf = append(l.buf, p[:n]...)
	return n, err
}

// at returns the line of byte offset off (offsets asked about never decrease).
func (l *lineCounter) at(off int64) int64 {
	n := off - l.base
	if n < 0 {
		return l.line
	}
	if n > int64(len(l.buf)) {
		n = int64(len(l.buf))
	}
	l.line += int64(bytes.Count(l.buf[:n], []byte{'\n'}))
	l.base += n
	l.buf = append(l.buf[:0], l.buf[n:]...)
	return l.line
}

// state of the walk over the document.
const (
	stTop   = iota // between top-level values
	stArray        // inside a top-level array of users
	stPage         // inside a page's Users array
	stDone
)

type src struct {
	reader.Base
	ln    *lineCounter
	dec   *json.Decoder
	state int
	err   error
	rec   reader.Record
}

type attribute struct {
	Name  string  `json:"Name"`
	Value *string `json:"Value"`
}

type user struct {
	Username         string          `json:"Username"`
	Attributes       []attribute     `json:"Attributes"`
	UserCreateDate   json.RawMessage `json:"UserCreateDate"`
	Enabled          *bool           `json:"Enabled"`
	UserStatus       string          `json:"UserStatus"`
	LastModifiedDate json.RawMessage `json:"UserLastModifiedDate"`
}

// Next implements idshift.Source.
func (s *src) Next(ctx context.Context) (*idshift.User, error) {
	if err := s.CheckCtx(ctx); err != nil {
		return nil, err
	}
	raw, line, err := s.next()
	if err != nil {
		return nil, err
	}
	return s.user(raw, line)
}

// next returns the next user object's text and its line.
func (s *src) next() (json.RawMessage, int64, error) {
	for {
		if s.err != nil {
			return nil, 0, s.err
		}
		switch s.state {
		case stDone:
			return nil, 0, io.EOF
		case stArray, stPage:
			if s.dec.More() {
				return s.value()
			}
			if _, err := s.dec.Token(); err != nil { // ]
				return nil, 0, s.fail(err)
			}
			if s.state == stPage {
				if err := s.restOfPage(); err != nil {
					return nil, 0, err
				}
			}
			s.state = stTop
		case stTop:
			t, err := s.dec.Token()
			if errors.Is(err, io.EOF) {
				s.state = stDone
				continue
			}
			if err != nil {
				return nil, 0, s.fail(err)
			}
			switch t {
			case json.Delim('['):
				s.state = stArray
			case json.Delim('{'):
				raw, line, isPage, err := s.object(s.dec.InputOffset() - 1)
				if err != nil {
					return nil, 0, err
				}
				if !isPage {
					return raw, line, nil
				}
			default:
				s.err = fmt.Errorf("cognito: line %d: not a list-users output: want an object or an array", s.ln.at(s.dec.InputOffset()))
				return nil, 0, s.err
			}
		}
	}
}

// object reads a top-level object after its '{': a page (its Users array is entered; isPage) or a user, returned
// whole.
func (s *src) object(start int64) (json.RawMessage, int64, bool, error) {
	line := s.ln.at(start)
	fields := map[string]json.RawMessage{}
	for s.dec.More() {
		t, err := s.dec.Token()
		if err != nil {
			return nil, 0, false, s.fail(err)
		}
		k, _ := t.(string)
		if k == "Users" && fields["Username"] == nil {
			t, err := s.dec.Token()
			if err != nil {
				return nil, 0, false, s.fail(err)
			}
			if t != json.Delim('[') {
				s.err = fmt.Errorf("cognito: line %d: \"Users\" is not an array", s.ln.at(s.dec.InputOffset()))
				return nil, 0, false, s.err
			}
			s.state = stPage
			return nil, 0, true, nil
		}
		var v json.RawMessage
		if err := s.dec.Decode(&v); err != nil {
			return nil, 0, false, s.fail(err)
		}
		if len(fields) < 64 {
			fields[k] = v
		}
	}
	if _, err := s.dec.Token(); err != nil { // }
		return nil, 0, false, s.fail(err)
	}
	s.ln.at(s.dec.InputOffset())
	if _, ok := fields["Username"]; !ok {
		return nil, 0, false, reader.Reject(line, "", "Username", "not a Cognito user (no Username) nor a list-users page (no Users)")
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return nil, 0, false, s.fail(err)
	}
	return raw, line, false, nil
}

// restOfPage skips what follows a page's Users array (PaginationToken) up to the page's end.
func (s *src) restOfPage() error {
	for s.dec.More() {
		if _, err := s.dec.Token(); err != nil {
			return s.fail(err)
		}
		var skip json.RawMessage
		if err := s.dec.Decode(&skip); err != nil {
			return s.fail(err)
		}
	}
	if _, err := s.dec.Token(); err != nil { // }
		return s.fail(err)
	}
	s.ln.at(s.dec.InputOffset())
	return nil
}

// value decodes the next element of an array.
func (s *src) value() (json.RawMessage, int64, error) {
	var raw json.RawMessage
	if err := s.dec.Decode(&raw); err != nil {
		return nil, 0, s.fail(err)
	}
	line := s.ln.at(s.dec.InputOffset() - int64(len(raw)))
	return raw, line, nil
}

// fail ends the read with a syntax error naming its line.
func (s *src) fail(err error) error {
	off := s.dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset > 0 {
		off += se.Offset - 1 // the decoder counts from where it began reading the value
	}
	s.err = fmt.Errorf("cognito: line %d: invalid JSON: %w", s.ln.at(off), err)
	return s.err
}

// user turns one user object into a user.
func (s *src) user(raw json.RawMessage, line int64) (*idshift.User, error) {
	var u user
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, reader.Reject(line, "", "", "not a Cognito user: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if u.Username == "" {
		return nil, reader.Reject(line, "", "Username", "no Username")
	}
	r := s.rec
	r.Reset()
	r[reader.ColLegacyID] = u.Username
	attrs := make(map[string]string, len(u.Attributes))
	for _, a := range u.Attributes {
		if a.Value != nil && a.Name != "" {
			attrs[a.Name] = *a.Value
			if !isMapped(a.Name) {
				r[a.Name] = *a.Value
			}
		}
	}
	r[reader.ColEmail] = attrs["email"]
	r[reader.ColMail] = attrs["email"]
	r[reader.ColPhone] = attrs["phone_number"]
	r[reader.ColEmailVerified] = attrs["email_verified"]
	r[reader.ColGivenName] = attrs["given_name"]
	r[reader.ColSurname] = attrs["family_name"]
	if n := attrs["name"]; n != "" {
		r[reader.ColDisplayName] = n
	} else {
		r[reader.ColDisplayName] = strings.TrimSpace(attrs["given_name"] + " " + attrs["family_name"])
	}
	if u.Enabled != nil {
		r[reader.ColDisabled] = strconv.FormatBool(!*u.Enabled)
	}
	created, err := date(u.UserCreateDate)
	if err != nil {
		return nil, reader.Reject(line, u.Username, "UserCreateDate", "%s", err.Error())
	}
	r[reader.ColCreated] = created
	var ids []idshift.Identity
	if v := attrs["identities"]; v != "" {
		var fed []struct {
			UserID       string `json:"userId"`
			ProviderName string `json:"providerName"`
		}
		if err := json.Unmarshal([]byte(v), &fed); err != nil {
			return nil, reader.Reject(line, u.Username, "identities", "not a JSON array of identities: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		for _, f := range fed {
			if f.UserID != "" && f.ProviderName != "" {
				ids = append(ids, idshift.Identity{SignInType: idshift.SignInFederated, Issuer: reader.Issuer(strings.ToLower(f.ProviderName)), IssuerAssignedID: f.UserID})
			}
		}
	}
	r[reader.ColIdentities] = reader.Identities(ids)
	switch {
	case attrs["preferred_username"] != "":
		r[reader.ColUsername] = attrs["preferred_username"]
	case u.UserStatus != "EXTERNAL_PROVIDER" && len(ids) == 0 && !strings.Contains(u.Username, "@") && !isUUID(u.Username):
		r[reader.ColUsername] = u.Username
	}
	out, err := s.User(line, r)
	if err != nil || !s.Unmapped {
		return out, err
	}
	for _, a := range u.Attributes {
		if a.Value != nil && *a.Value != "" && !isMapped(a.Name) && !s.Read[a.Name] {
			out.Unmapped = append(out.Unmapped, idshift.Attr{Name: a.Name, Value: *a.Value})
		}
	}
	return out, nil
}

// isMapped reports whether an attribute has a column of the default mapping (the others keep their own name).
func isMapped(name string) bool {
	switch name {
	case "email", "email_verified", "phone_number", "given_name", "family_name", "name", "identities", "preferred_username":
		return true
	}
	// Attribute names never collide with the columns above: theirs are snake_case words Cognito does not use.
	return name == reader.ColLegacyID || name == reader.ColCreated || name == reader.ColDisabled || name == reader.ColHash || name == reader.ColPassword
}

// date reads UserCreateDate: an ISO 8601 string (the AWS CLI's) or epoch seconds (the API's JSON).
func date(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", errors.New("not a date")
		}
		return v, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return "", errors.New("not a date (want ISO 8601 or epoch seconds)")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC().Format(time.RFC3339Nano), nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

var _ idshift.Source = (*src)(nil)
