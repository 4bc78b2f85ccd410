// Package ldif reads users from an LDIF file (RFC 2849), such as slapcat or ldapsearch -L writes, streamed: one
// entry in memory at a time.
//
// Example configuration (YAML):
//
//	kind: ldif
//	path: people.ldif      # "-" reads standard input
//	name: ldap
//	object_classes: [person, inetOrgPerson, posixAccount, account]  # the default
//
// The reader follows RFC 2849: comments, folded lines (a line starting with one space continues the one before),
// base64 values ("attr:: …"), multi-valued attributes, attribute names in any case, options ("cn;lang-en") and a
// "version: 1" line. A value given by URL ("attr:< file://…") is not read. Entries whose objectClass is none of
// ObjectClasses (organisational units, groups, hosts) are skipped silently; change records (changetype) and
// malformed entries are *idshift.RowError values naming the line of the fault, and reading goes on with the next
// entry.
//
// userPassword: a value with a "{SCHEME}" prefix is a hash that package pwhash reads ({SSHA}, {CRYPT}, {PBKDF2-…},
// {ARGON2}…); one without is a plaintext password, as the directory itself treats it; empty values and "*" (a locked
// account) give no credential. With several values the first usable one counts.
//
// Columns of the mapping (see docs/sources.md): legacy_id (the DN), email and mail (mail), username (uid),
// display_name (displayName, else cn), given_name (givenName), surname (sn), phone (telephoneNumber, else mobile),
// password and password_hash.
package ldif

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/internal/reader"
)

// DefaultObjectClasses are the object classes of the entries read as users.
var DefaultObjectClasses = []string{"person", "inetOrgPerson", "organizationalPerson", "posixAccount", "account", "shadowAccount"}

// MaxEntryBytes caps one entry.
const MaxEntryBytes = 4 << 20

// Config configures an LDIF source. The zero value with a Path is usable.
type Config struct {
	// Path of the LDIF file; "-" reads Stdin.
	Path string `yaml:"path"`
	// Name is put in User.Source; default the mapping's source, else "ldif".
	Name string `yaml:"name"`
	// ObjectClasses of the entries read as users (any case); default DefaultObjectClasses.
	ObjectClasses []string `yaml:"object_classes"`
	// Mapping turns the normalised columns into users; nil means the readers' default.
	Mapping *source.Mapping `yaml:"-"`
	// Stdin is read when Path is "-"; default os.Stdin.
	Stdin io.Reader `yaml:"-"`
	// Unmapped puts in User.Unmapped the entry's attributes this reader does not read, one Attr per value (for an
	// audit; import leaves it off and pays nothing).
	Unmapped bool `yaml:"-"`
}

// Open checks the configuration and opens the file.
func (c Config) Open() (idshift.Source, error) {
	base, err := reader.NewBase("ldif", c.Name, c.Mapping)
	if err != nil {
		return nil, err
	}
	classes := c.ObjectClasses
	if len(classes) == 0 {
		classes = DefaultObjectClasses
	}
	s := &src{Base: base, rec: reader.Record{}, classes: map[string]bool{}}
	s.Unmapped, s.Read = c.Unmapped, readAttrs
	for _, oc := range classes {
		s.classes[strings.ToLower(oc)] = true
	}
	br, closer, err := reader.OpenInput("ldif", c.Path, c.Stdin)
	if err != nil {
		return nil, err
	}
	s.Closer = closer
	s.br = br
	return s, nil
}

type src struct {
	reader.Base
	br      *bufio.Reader
	line    int64
	rec     reader.Record
	classes map[string]bool
	eof     bool
	attrs   map[string][]string
}

// Entry is one LDIF record: its DN and its attributes by lower-case name (options dropped), values in file order.
type Entry struct {
	DN    string
	Line  int64
	Attrs map[string][]string
}

// Next implements idshift.Source.
func (s *src) Next(ctx context.Context) (*idshift.User, error) {
	for {
		if err := s.CheckCtx(ctx); err != nil {
			return nil, err
		}
		e, err := s.entry()
		if err != nil {
			return nil, err
		}
		if !s.isUser(e) {
			continue
		}
		return s.user(e)
	}
}

func (s *src) isUser(e *Entry) bool {
	for _, oc := range e.Attrs["objectclass"] {
		if s.classes[strings.ToLower(oc)] {
			return true
		}
	}
	return false
}

func (s *src) user(e *Entry) (*idshift.User, error) {
	r := s.rec
	r.Reset()
	first := func(names ...string) string {
		for _, n := range names {
			if v := e.Attrs[n]; len(v) > 0 {
				return v[0]
			}
		}
		return ""
	}
	r[reader.ColLegacyID] = e.DN
	r[reader.ColEmail] = first("mail")
	r[reader.ColMail] = first("mail")
	r[reader.ColUsername] = first("uid")
	if r[reader.ColUsername] == "" && r[reader.ColEmail] == "" {
		r[reader.ColUsername] = rdnValue(e.DN)
	}
	r[reader.ColDisplayName] = first("displayname", "cn")
	r[reader.ColGivenName] = first("givenname")
	r[reader.ColSurname] = first("sn")
	r[reader.ColPhone] = first("telephonenumber", "mobile")
	for _, pw := range e.Attrs["userpassword"] {
		if pw == "" || pw == "*" || strings.HasPrefix(pw, "!") {
			continue
		}
		if scheme, ok := hasScheme(pw); ok {
			if strings.EqualFold(scheme, "CLEARTEXT") {
				r[reader.ColPassword] = pw[len(scheme)+2:]
			} else {
				r[reader.ColHash] = pw
			}
		} else {
			r[reader.ColPassword] = pw
		}
		break
	}
	u, err := s.User(e.Line, r)
	if err != nil || !s.Unmapped {
		return u, err
	}
	names := make([]string, 0, len(e.Attrs))
	for n := range e.Attrs {
		if !s.Read[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		for _, v := range e.Attrs[n] {
			if v != "" {
				u.Unmapped = append(u.Unmapped, idshift.Attr{Name: n, Value: v})
			}
		}
	}
	return u, nil
}

// readAttrs are the attributes user reads (lower case), left out of User.Unmapped.
var readAttrs = reader.Set("objectclass", "mail", "uid", "displayname", "cn", "givenname", "sn", "telephonenumber", "mobile", "userpassword")

// hasScheme reports whether v starts with "{SCHEME}".
func hasScheme(v string) (string, bool) {
	if !strings.HasPrefix(v, "{") {
		return "", false
	}
	end := strings.IndexByte(v, '}')
	if end < 2 {
		return "", false
	}
	for _, c := range v[1:end] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return v[1:end], true
}

// readLine returns the next physical line without its end, and whether there was one.
func (s *src) readLine() (string, bool, error) {
	var buf []byte
	for {
		l, err := s.br.ReadSlice('\n')
		buf = append(buf, l...)
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(buf) > MaxEntryBytes {
				return "", false, fmt.Errorf("ldif: line %d: longer than %d bytes", s.line+1, MaxEntryBytes)
			}
			continue
		}
		if len(buf) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("ldif: %w", err)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, fmt.Errorf("ldif: %w", err)
		}
		s.line++
		buf = bytes.TrimSuffix(buf, []byte{'\n'})
		buf = bytes.TrimSuffix(buf, []byte{'\r'})
		return string(buf), true, nil
	}
}

// entry reads the next entry: logical lines up to a blank line. A malformed entry is a row error, after which
// the rest of the entry is skipped.
func (s *src) entry() (*Entry, error) {
	if s.eof {
		return nil, io.EOF
	}
	var (
		e       *Entry
		logical strings.Builder
		at      int64
		bad     *idshift.RowError
		size    int
	)
	flush := func() {
		if logical.Len() == 0 || bad != nil {
			logical.Reset()
			return
		}
		l := logical.String()
		logical.Reset()
		if e == nil {
			e = &Entry{Line: at, Attrs: map[string][]string{}}
		}
		if err := e.add(l, at); err != nil {
			bad = err
		}
	}
	for {
		l, ok, err := s.readLine()
		if err != nil {
			return nil, err
		}
		if !ok || l == "" {
			flush()
			if !ok {
				s.eof = true
			}
			switch {
			case bad != nil:
				return nil, bad
			case e != nil:
				if e.DN == "" && e.isVersion() {
					e = nil
					if !ok {
						return nil, io.EOF
					}
					continue
				}
				return e, nil
			case !ok:
				return nil, io.EOF
			}
			continue
		}
		size += len(l)
		if size > MaxEntryBytes && bad == nil {
			bad = reader.Reject(s.line, "", "", "entry longer than %d bytes", MaxEntryBytes)
		}
		switch {
		case l[0] == '#':
			// A comment; it may be folded too, which the next case skips with it.
			flush()
			at = -1
		case l[0] == ' ':
			if at == -1 {
				continue // a folded comment
			}
			if logical.Len() == 0 && bad == nil {
				bad = reader.Reject(s.line, dnOf(e), "", "continuation line with nothing to continue")
			}
			logical.WriteString(l[1:])
		default:
			flush()
			at = s.line
			logical.WriteString(l)
		}
	}
}

// rdnValue returns the value of a DN's first RDN ("cn=md5,dc=example" → "md5"), for entries with neither mail nor
// uid.
func rdnValue(dn string) string {
	first, _, _ := strings.Cut(dn, ",")
	_, v, ok := strings.Cut(first, "=")
	if !ok || strings.Contains(first, "+") || strings.Contains(first, "\\") {
		return ""
	}
	return strings.TrimSpace(v)
}

func dnOf(e *Entry) string {
	if e == nil {
		return ""
	}
	return e.DN
}

// isVersion reports whether the entry is only the "version: 1" line.
func (e *Entry) isVersion() bool {
	_, ok := e.Attrs["version"]
	return ok && len(e.Attrs) == 1
}

// add reads one logical line "attr: value", "attr:: base64" or "attr:< url".
func (e *Entry) add(l string, line int64) *idshift.RowError {
	colon := strings.IndexByte(l, ':')
	if colon <= 0 {
		return reader.Reject(line, e.DN, "", "not an attribute line (attr: value)")
	}
	name := l[:colon]
	if i := strings.IndexByte(name, ';'); i >= 0 {
		name = name[:i] // options
	}
	if !validName(name) {
		return reader.Reject(line, e.DN, "", "invalid attribute name %q", truncate(name))
	}
	rest := l[colon+1:]
	var val string
	switch {
	case strings.HasPrefix(rest, ":"):
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest[1:]))
		if err != nil {
			return reader.Reject(line, e.DN, name, "invalid base64 value")
		}
		val = string(b)
	case strings.HasPrefix(rest, "<"):
		return reader.Reject(line, e.DN, name, "values given by URL are not read")
	default:
		val = strings.TrimLeft(rest, " ")
	}
	lname := strings.ToLower(name)
	if e.DN == "" && lname == "dn" && e.isVersion() {
		// "version: 1" directly followed by the first entry, as RFC 2849 allows.
		delete(e.Attrs, "version")
		e.Line = line
	}
	if e.DN == "" && len(e.Attrs) == 0 {
		switch lname {
		case "dn":
			if !utf8.ValidString(val) {
				return reader.Reject(line, "", "dn", "not UTF-8")
			}
			e.DN = val
			return nil
		case "version":
			e.Attrs[lname] = append(e.Attrs[lname], val)
			return nil
		}
		return reader.Reject(line, "", name, "an entry must start with dn:")
	}
	if e.DN == "" {
		return reader.Reject(line, "", name, "an entry must start with dn:")
	}
	switch lname {
	case "dn":
		return reader.Reject(line, e.DN, "dn", "a second dn: in one entry (a blank line is missing)")
	case "changetype":
		return reader.Reject(line, e.DN, "changetype", "a change record, not an entry")
	}
	e.Attrs[lname] = append(e.Attrs[lname], val)
	return nil
}

func validName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

var _ idshift.Source = (*src)(nil)
