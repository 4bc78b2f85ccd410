// Package auth0 reads Auth0 users: the user export (JSON Lines from an export job, or a JSON array from the
// Management API's GET /api/v2/users) joined with the separate password-hash export that Auth0 support provides,
// and files in the bulk-import schema (password_hash, custom_password_hash).
//
// Example configuration (YAML):
//
//	kind: auth0
//	path: users.ndjson           # user export or bulk-import file; "-" reads standard input
//	passwords: passwords.ndjson  # password-hash export, joined by _id.$oid = the part of user_id after "auth0|"
//	name: auth0                  # put in User.Source
//
// The user export is streamed; the password-hash export is indexed in memory first (id → hash, about 100 bytes per
// hash). Each user becomes an *idshift.User through a source.Mapping over normalised columns (see docs/sources.md):
// legacy_id (user_id, else email), email (an emailAddress identity when the user has a database connection or no
// identities), mail, username, display_name, given_name, surname, phone, created, last_sign_in, disabled (blocked),
// password_hash (the joined hash, password_hash, or the custom_password_hash object as JSON text, which package
// pwhash reads) and identities (social identities as federated ones).
//
// A record that cannot be read is returned from Next as an *idshift.RowError with its line; so is, after the
// users, every hash of the password export that joined no user, and every repeated id in it.
package auth0

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/internal/reader"
)

// Config configures an Auth0 source. The zero value with a Path is usable.
type Config struct {
	// Path of the user export or bulk-import file; "-" reads Stdin.
	Path string `yaml:"path"`
	// Passwords is the password-hash export (JSON Lines of {"_id":{"$oid":…},"passwordHash":…}); optional.
	Passwords string `yaml:"passwords"`
	// Name is put in User.Source; default the mapping's source, else "auth0".
	Name string `yaml:"name"`
	// Mapping turns the normalised columns into users; nil means the readers' default.
	Mapping *source.Mapping `yaml:"-"`
	// Stdin is read when Path is "-"; default os.Stdin.
	Stdin io.Reader `yaml:"-"`
	// Unmapped puts in User.Unmapped the record's keys this reader does not read (for an audit; import leaves it
	// off and pays nothing).
	Unmapped bool `yaml:"-"`
}

type hashEntry struct {
	hash string
	line int64
	used bool
}

// Open checks the configuration, indexes the password-hash export and opens the user file. Errors name the field
// at fault; a password export that cannot be read at all is an error, a bad line in it a row error from Next.
func (c Config) Open() (idshift.Source, error) {
	base, err := reader.NewBase("auth0", c.Name, c.Mapping)
	if err != nil {
		return nil, err
	}
	base.Unmapped, base.Read = c.Unmapped, reader.Set("user_id", "email", "username", "name", "nickname", "given_name", "family_name", "phone_number",
		"created_at", "last_login", "blocked", "identities", "password_hash", "custom_password_hash")
	s := &src{Base: base}
	if c.Passwords != "" {
		if err := s.index(c.Passwords); err != nil {
			return nil, err
		}
	}
	if s.objs, err = s.OpenObjects(c.Path, c.Stdin, ""); err != nil {
		return nil, err
	}
	return s, nil
}

type src struct {
	reader.Base
	objs   *reader.Objects
	hashes map[string]*hashEntry
	queue  []error // row errors of the password export, returned first
	left   []error // hashes that joined no user, returned at the end
	done   bool
	rec    reader.Record
}

type passwordRecord struct {
	ID struct {
		OID string `json:"$oid"`
	} `json:"_id"`
	PasswordHash string `json:"passwordHash"`
}

// index reads the password-hash export into memory: id → hash.
func (s *src) index(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("auth0: Passwords: %w", err)
	}
	defer f.Close()
	objs, err := reader.NewObjects(bufio.NewReader(f), "")
	if err != nil {
		return fmt.Errorf("auth0: Passwords: %s: %w", path, err)
	}
	s.hashes = map[string]*hashEntry{}
	for {
		raw, line, err := objs.Next()
		if err == io.EOF {
			return nil
		}
		if reader.IsRowError(err) {
			s.queue = append(s.queue, passwordsErr(err))
			continue
		}
		if err != nil {
			return fmt.Errorf("auth0: Passwords: %s: %w", path, err)
		}
		var p passwordRecord
		if err := json.Unmarshal(raw, &p); err != nil {
			s.queue = append(s.queue, reader.Reject(line, "", "passwords", "password export record: not the shape {\"_id\":{\"$oid\":…},\"passwordHash\":…}"))
			continue
		}
		if p.ID.OID == "" {
			s.queue = append(s.queue, reader.Reject(line, "", "passwords", "password export record without _id.$oid"))
			continue
		}
		if e, ok := s.hashes[p.ID.OID]; ok {
			re := reader.Reject(line, "auth0|"+p.ID.OID, "passwords", "password export: repeated id")
			re.FirstLine = e.line
			s.queue = append(s.queue, re)
			continue
		}
		s.hashes[p.ID.OID] = &hashEntry{hash: p.PasswordHash, line: line}
	}
}

// passwordsErr marks a row error as the password export's.
func passwordsErr(err error) error {
	if re, ok := reader.AsRowError(err); ok {
		c := *re
		c.Field = "passwords"
		c.Reason = "password export: " + c.Reason
		return &c
	}
	return err
}

type identity struct {
	Connection string          `json:"connection"`
	Provider   string          `json:"provider"`
	UserID     json.RawMessage `json:"user_id"`
	IsSocial   bool            `json:"isSocial"`
}

// user is the union of the user export, Management API and bulk-import shapes.
type user struct {
	UserID             json.RawMessage `json:"user_id"`
	Email              string          `json:"email"`
	Username           string          `json:"username"`
	Name               string          `json:"name"`
	Nickname           string          `json:"nickname"`
	GivenName          string          `json:"given_name"`
	FamilyName         string          `json:"family_name"`
	PhoneNumber        string          `json:"phone_number"`
	CreatedAt          string          `json:"created_at"`
	LastLogin          string          `json:"last_login"`
	Blocked            *bool           `json:"blocked"`
	EmailVerified      *bool           `json:"email_verified"`
	Identities         []identity      `json:"identities"`
	PasswordHash       string          `json:"password_hash"`
	CustomPasswordHash json.RawMessage `json:"custom_password_hash"`
}

// Next implements idshift.Source.
func (s *src) Next(ctx context.Context) (*idshift.User, error) {
	if err := s.CheckCtx(ctx); err != nil {
		return nil, err
	}
	if len(s.queue) > 0 {
		err := s.queue[0]
		s.queue = s.queue[1:]
		return nil, err
	}
	if s.done {
		if len(s.left) > 0 {
			err := s.left[0]
			s.left = s.left[1:]
			return nil, err
		}
		return nil, io.EOF
	}
	var u user
	line, err := s.NextObject(ctx, s.objs, &u, "an Auth0 user")
	if err == io.EOF {
		s.done = true
		s.unjoined()
		return s.Next(ctx)
	}
	if err != nil {
		return nil, err
	}
	if s.rec == nil {
		s.rec = reader.Record{}
	}
	r := s.rec
	r.Reset()
	id := text(u.UserID)
	r[reader.ColLegacyID] = id
	if id == "" {
		r[reader.ColLegacyID] = u.Email
	}
	r[reader.ColMail] = u.Email
	r[reader.ColUsername] = u.Username
	r[reader.ColDisplayName] = u.Name
	if u.Name == "" {
		r[reader.ColDisplayName] = u.Nickname
	}
	r[reader.ColGivenName] = u.GivenName
	r[reader.ColSurname] = u.FamilyName
	r[reader.ColPhone] = u.PhoneNumber
	r[reader.ColCreated] = u.CreatedAt
	r[reader.ColLastSignIn] = u.LastLogin
	if u.Blocked != nil {
		r[reader.ColDisabled] = fmt.Sprint(*u.Blocked)
	}
	if u.EmailVerified != nil {
		r[reader.ColEmailVerified] = fmt.Sprint(*u.EmailVerified)
	}
	local := len(u.Identities) == 0
	var fed []idshift.Identity
	for _, i := range u.Identities {
		if !i.IsSocial && (i.Provider == "auth0" || i.Provider == "") {
			local = true
			continue
		}
		if uid := text(i.UserID); uid != "" {
			fed = append(fed, idshift.Identity{SignInType: idshift.SignInFederated, Issuer: reader.Issuer(i.Provider), IssuerAssignedID: uid})
		}
	}
	if local {
		r[reader.ColEmail] = u.Email
	}
	r[reader.ColIdentities] = reader.Identities(fed)
	switch {
	case len(u.CustomPasswordHash) > 0 && string(u.CustomPasswordHash) != "null":
		r[reader.ColHash] = string(u.CustomPasswordHash)
	case u.PasswordHash != "":
		r[reader.ColHash] = u.PasswordHash
	case s.hashes != nil:
		if oid, ok := strings.CutPrefix(id, "auth0|"); ok {
			if e := s.hashes[oid]; e != nil {
				e.used = true
				r[reader.ColHash] = e.hash
			}
		}
	}
	return s.User(line, r)
}

// unjoined queues a row error for every hash that joined no user, in line order.
func (s *src) unjoined() {
	var lines []*hashEntry
	ids := map[*hashEntry]string{}
	for id, e := range s.hashes {
		if !e.used {
			lines = append(lines, e)
			ids[e] = id
		}
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].line < lines[j].line })
	for _, e := range lines {
		s.left = append(s.left, reader.Reject(e.line, "auth0|"+ids[e], "passwords", "password export: no user in the user export has this id"))
	}
	s.hashes = nil
}

// text reads a JSON string or number as text.
func text(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

var _ idshift.Source = (*src)(nil)
