package source

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/idshift/idshift"
)

// step is one transform.
type step uint8

const (
	stepTrim step = iota + 1
	stepLower
	stepUpper
	stepE164
	stepSplit
)

var stepNames = map[string]step{"trim": stepTrim, "lower": stepLower, "upper": stepUpper, "e164": stepE164, "split": stepSplit}

// kind is what a field's value must parse as.
type kind uint8

const (
	kindString kind = iota
	kindList
	kindTime
	kindBool
	kindInt
	kindSecret // a string never quoted in errors
)

// field is a Field ready for use.
type field struct {
	path   string // the mapping key, for errors
	column string
	slot   int // the column's number among the mapping's columns
	value  string
	steps  []step
	sep    string
	cc     string // calling code digits for e164
	negate bool
	secret bool
}

// errName is the name a row error gives: the column, or the mapping key for a constant.
func (f *field) errName() string {
	if f.column != "" {
		return f.column
	}
	return f.path
}

// raw returns the field's untransformed value.
func (f *field) raw(r *record) (string, bool) {
	if f.column != "" {
		if v, ok := r.value(f); ok && v != "" {
			return v, true
		}
	}
	if f.value != "" {
		return f.value, true
	}
	return "", false
}

// one returns the field's value after its transforms; absent when empty.
func (f *field) one(r *record) (string, bool, string) {
	v, ok := f.raw(r)
	if !ok {
		return "", false, ""
	}
	for _, s := range f.steps {
		switch s {
		case stepTrim:
			v = strings.TrimSpace(v)
		case stepLower:
			v = strings.ToLower(v)
		case stepUpper:
			v = strings.ToUpper(v)
		case stepE164:
			if strings.TrimSpace(v) == "" {
				return "", false, ""
			}
			p, reason := e164(v, f.cc)
			if reason != "" {
				return "", false, f.describe(v, reason)
			}
			v = p
		}
	}
	return v, v != "", ""
}

// list returns the values of a list field: a JSON array of strings, or the value split at the separator.
func (f *field) list(r *record) ([]string, string) {
	v, ok := f.raw(r)
	if !ok {
		return nil, ""
	}
	vals := []string{v}
	if t := strings.TrimSpace(v); strings.HasPrefix(t, "[") {
		vals = nil
		if err := json.Unmarshal([]byte(t), &vals); err != nil {
			return nil, "not a JSON array of strings"
		}
	}
	for _, s := range f.steps {
		for i, e := range vals {
			switch s {
			case stepTrim:
				vals[i] = strings.TrimSpace(e)
			case stepLower:
				vals[i] = strings.ToLower(e)
			case stepUpper:
				vals[i] = strings.ToUpper(e)
			case stepE164:
				if strings.TrimSpace(e) == "" {
					continue
				}
				p, reason := e164(e, f.cc)
				if reason != "" {
					return nil, f.describe(e, reason)
				}
				vals[i] = p
			}
		}
		if s == stepSplit {
			var out []string
			for _, e := range vals {
				out = append(out, strings.Split(e, f.sep)...)
			}
			vals = out
		}
	}
	out := vals[:0]
	for _, e := range vals {
		if e != "" {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, ""
	}
	return out, ""
}

// describe words a reason with the offending value, unless the field is secret.
func (f *field) describe(v, reason string) string {
	if f.secret {
		return reason
	}
	return reason + ": " + quote(v)
}

// quote returns v quoted, cut to 40 characters.
func quote(v string) string {
	if r := []rune(v); len(r) > 40 {
		v = string(r[:40]) + "…"
	}
	return strconv.Quote(v)
}

type identityField struct {
	field
	signInType string
	issuer     string
	list       bool // a JSON array of identities
}

type consentField struct{ version, date field }

type extensionField struct {
	field
	name string
	typ  kind
}

// compiled is a validated mapping.
type compiled struct {
	source                                                  string
	legacyID, displayName, givenName, surname, mail, phone  field
	password, passwordHash, otherMails, created, lastSignIn field
	disabled, emailVerified                                 field
	privacy, terms                                          consentField
	identities                                              []identityField
	extensions                                              []extensionField
	identityColumns                                         string
	columns                                                 []string // by slot
}

// record is what apply reads: values by column name, or by position after Bind.
type record struct {
	get  func(string) (string, bool)
	vals []string
	idx  []int // slot → index in vals, -1 when the column is missing
}

func (r *record) value(f *field) (string, bool) {
	if r.idx == nil {
		return r.get(f.column)
	}
	if i := r.idx[f.slot]; i >= 0 && i < len(r.vals) {
		return r.vals[i], true
	}
	return "", false
}

// eachField calls fn for every field of c.
func (c *compiled) eachField(fn func(*field)) {
	for _, f := range []*field{&c.legacyID, &c.displayName, &c.givenName, &c.surname, &c.mail, &c.phone, &c.password,
		&c.passwordHash, &c.otherMails, &c.created, &c.lastSignIn, &c.disabled, &c.emailVerified, &c.privacy.version, &c.privacy.date,
		&c.terms.version, &c.terms.date} {
		fn(f)
	}
	for i := range c.identities {
		fn(&c.identities[i].field)
	}
	for i := range c.extensions {
		fn(&c.extensions[i].field)
	}
}

// assignSlots numbers the distinct columns.
func (c *compiled) assignSlots() {
	slots := map[string]int{}
	c.eachField(func(f *field) {
		if f.column == "" {
			f.slot = -1
			return
		}
		s, ok := slots[f.column]
		if !ok {
			s = len(c.columns)
			slots[f.column] = s
			c.columns = append(c.columns, f.column)
		}
		f.slot = s
	})
}

var extensionName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

func compile(m *Mapping) (*compiled, error) {
	c := &compiled{source: m.Source}
	cc, err := callingCode("default_country_code", m.DefaultCountryCode)
	if err != nil {
		return nil, err
	}
	var firstErr error
	add := func(dst *field, path string, f Field, k kind, defaults ...step) {
		if firstErr != nil {
			return
		}
		*dst, firstErr = compileField(path, f, k, cc, defaults)
	}
	add(&c.legacyID, "legacy_id", m.LegacyID, kindString, stepTrim)
	add(&c.displayName, "display_name", m.DisplayName, kindString, stepTrim)
	add(&c.givenName, "given_name", m.GivenName, kindString, stepTrim)
	add(&c.surname, "surname", m.Surname, kindString, stepTrim)
	add(&c.mail, "mail", m.Mail, kindString, stepTrim)
	add(&c.otherMails, "other_mails", m.OtherMails, kindList, stepSplit, stepTrim)
	add(&c.phone, "phone", m.Phone, kindString, stepTrim)
	add(&c.created, "created", m.Created, kindTime, stepTrim)
	add(&c.lastSignIn, "last_sign_in", m.LastSignIn, kindTime, stepTrim)
	add(&c.disabled, "disabled", m.Disabled, kindBool, stepTrim)
	add(&c.emailVerified, "email_verified", m.EmailVerified, kindBool, stepTrim)
	add(&c.password, "password", m.Password, kindSecret)
	add(&c.passwordHash, "password_hash", m.PasswordHash, kindSecret, stepTrim)
	add(&c.privacy.version, "privacy_policy.version", m.PrivacyPolicy.Version, kindString, stepTrim)
	add(&c.privacy.date, "privacy_policy.date", m.PrivacyPolicy.Date, kindTime, stepTrim)
	add(&c.terms.version, "terms_of_use.version", m.TermsOfUse.Version, kindString, stepTrim)
	add(&c.terms.date, "terms_of_use.date", m.TermsOfUse.Date, kindTime, stepTrim)
	if firstErr != nil {
		return nil, firstErr
	}
	if c.legacyID.column == "" {
		return nil, idshift.Invalid("legacy_id", "a column is required")
	}

	if len(m.Identities) == 0 {
		return nil, idshift.Invalid("identities", "at least one identity is required")
	}
	var cols []string
	for i, id := range m.Identities {
		path := fmt.Sprintf("identities[%d]", i)
		if id.Column == "" {
			return nil, idshift.Invalid(path+".column", "a column is required")
		}
		idf := identityField{signInType: id.SignInType, issuer: id.Issuer}
		var defaults []step
		switch id.SignInType {
		case "":
			if id.Issuer != "" || id.Transform != nil {
				return nil, idshift.Invalid(path, "a JSON identities column takes no issuer or transform")
			}
			idf.list = true
		case idshift.SignInEmail:
			defaults = []step{stepTrim, stepLower}
		case idshift.SignInUserName:
			defaults = []step{stepTrim}
		case idshift.SignInFederated:
			if id.Issuer == "" {
				return nil, idshift.Invalid(path+".issuer", "required for a federated identity")
			}
			defaults = []step{stepTrim}
		default:
			return nil, idshift.Invalid(path+".sign_in_type", "unknown %q; want emailAddress, userName or federated (or none for a JSON identities column)", id.SignInType)
		}
		f, err := compileField(path, id.field(), kindString, cc, defaults)
		if err != nil {
			return nil, err
		}
		idf.field = f
		c.identities = append(c.identities, idf)
		cols = append(cols, id.Column)
	}
	c.identityColumns = strings.Join(cols, ", ")

	names := make([]string, 0, len(m.Extensions))
	for name := range m.Extensions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		e := m.Extensions[name]
		path := "extensions." + name
		if !extensionName.MatchString(name) {
			return nil, idshift.Invalid(path, "a name is a letter followed by letters, digits or underscores")
		}
		var k kind
		switch e.Type {
		case "", "string":
			k = kindString
		case "boolean":
			k = kindBool
		case "integer":
			k = kindInt
		case "datetime":
			k = kindTime
		default:
			return nil, idshift.Invalid(path+".type", "unknown %q; want string, boolean, integer or datetime", e.Type)
		}
		if e.Column == "" && e.Value == "" {
			return nil, idshift.Invalid(path, "a column or a value is required")
		}
		f, err := compileField(path, e.field(), k, cc, []step{stepTrim})
		if err != nil {
			return nil, err
		}
		c.extensions = append(c.extensions, extensionField{field: f, name: name, typ: k})
	}
	c.assignSlots()
	return c, nil
}

func compileField(path string, f Field, k kind, cc string, defaults []step) (field, error) {
	out := field{path: path, column: f.Column, value: f.Value, negate: f.Negate, secret: k == kindSecret}
	if f.IsZero() {
		return out, nil
	}
	if f.Column == "" && f.Value == "" {
		return out, idshift.Invalid(path, "a column or a value is required")
	}
	if f.Transform == nil {
		out.steps = defaults
	} else {
		out.steps = make([]step, 0, len(f.Transform))
		for i, name := range f.Transform {
			s, ok := stepNames[name]
			if !ok {
				return out, idshift.Invalid(fmt.Sprintf("%s.transform[%d]", path, i), "unknown %q; want trim, lower, upper, e164 or split", name)
			}
			if s == stepSplit && k != kindList {
				return out, idshift.Invalid(fmt.Sprintf("%s.transform[%d]", path, i), "split applies to list fields only (other_mails)")
			}
			out.steps = append(out.steps, s)
		}
	}
	if f.Separator != "" && !hasStep(out.steps, stepSplit) {
		return out, idshift.Invalid(path+".separator", "only with the split transform")
	}
	out.sep = f.Separator
	if out.sep == "" {
		out.sep = ";"
	}
	if f.Negate && k != kindBool {
		return out, idshift.Invalid(path+".negate", "only for boolean fields")
	}
	out.cc = cc
	if f.CountryCode != "" {
		if !hasStep(out.steps, stepE164) {
			return out, idshift.Invalid(path+".country_code", "only with the e164 transform")
		}
		var err error
		if out.cc, err = callingCode(path+".country_code", f.CountryCode); err != nil {
			return out, err
		}
	}
	// A constant must parse as the field's type, or every row would fail.
	if f.Value != "" {
		v, _, reason := out.one(&record{get: func(string) (string, bool) { return "", false }})
		if reason == "" {
			reason = checkKind(k, v)
		}
		if reason != "" {
			return out, idshift.Invalid(path+".value", "%s", reason)
		}
	}
	return out, nil
}

func checkKind(k kind, v string) string {
	var err error
	switch k {
	case kindTime:
		_, err = parseTime(v)
	case kindBool:
		_, err = parseBool(v)
	case kindInt:
		_, err = parseInt32(v)
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func hasStep(steps []step, s step) bool {
	for _, x := range steps {
		if x == s {
			return true
		}
	}
	return false
}

// callingCode checks a country calling code ("44", "+44") and returns its digits.
func callingCode(path, s string) (string, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "+")
	if s == "" {
		return "", nil
	}
	if len(s) > 3 || s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return "", idshift.Invalid(path, "not a country calling code (1 to 3 digits, e.g. 44)")
	}
	return s, nil
}

// apply maps one record; see Mapping.Apply.
func (c *compiled) apply(line int64, r *record) (*idshift.User, error) {
	u := &idshift.User{Line: line, Source: c.source}
	legacyID, ok, reason := c.legacyID.one(r)
	if reason != "" {
		return nil, &idshift.RowError{Line: line, Field: c.legacyID.errName(), Reason: reason}
	}
	if !ok {
		return nil, &idshift.RowError{Line: line, Field: c.legacyID.errName(), Reason: "missing legacy id"}
	}
	u.LegacyID = legacyID
	fail := func(f *field, reason string) error {
		if f.column != "" && f.column != f.path {
			reason = f.path + ": " + reason
		}
		return &idshift.RowError{Line: line, LegacyID: legacyID, Field: f.errName(), Reason: reason}
	}

	for _, s := range []struct {
		f   *field
		dst *string
	}{
		{&c.displayName, &u.DisplayName}, {&c.givenName, &u.GivenName}, {&c.surname, &u.Surname},
		{&c.mail, &u.Mail}, {&c.phone, &u.Phone},
	} {
		v, _, reason := s.f.one(r)
		if reason != "" {
			return nil, fail(s.f, reason)
		}
		*s.dst = v
	}
	if c.otherMails.column != "" || c.otherMails.value != "" {
		vals, reason := c.otherMails.list(r)
		if reason != "" {
			return nil, fail(&c.otherMails, reason)
		}
		u.OtherMails = vals
	}

	for i := range c.identities {
		f := &c.identities[i]
		if f.list {
			ids, reason := f.jsonIdentities(r)
			if reason != "" {
				return nil, fail(&f.field, reason)
			}
			u.Identities = append(u.Identities, ids...)
			continue
		}
		v, ok, reason := f.one(r)
		if reason != "" {
			return nil, fail(&f.field, reason)
		}
		if ok {
			if u.Identities == nil {
				u.Identities = make([]idshift.Identity, 0, len(c.identities))
			}
			u.Identities = append(u.Identities, idshift.Identity{SignInType: f.signInType, Issuer: f.issuer, IssuerAssignedID: v})
		}
	}
	if len(u.Identities) == 0 {
		return nil, &idshift.RowError{Line: line, LegacyID: legacyID, Field: "identities",
			Reason: "no sign-in identity (" + c.identityColumns + " empty)"}
	}

	for _, s := range []struct {
		f   *field
		dst *time.Time
	}{{&c.created, &u.Created}, {&c.lastSignIn, &u.LastSignIn}} {
		t, reason := s.f.time(r)
		if reason != "" {
			return nil, fail(s.f, reason)
		}
		*s.dst = t
	}
	if v, ok, reason := c.disabled.one(r); reason != "" {
		return nil, fail(&c.disabled, reason)
	} else if ok {
		b, err := parseBool(v)
		if err != nil {
			return nil, fail(&c.disabled, c.disabled.describe(v, err.Error()))
		}
		u.Disabled = b != c.disabled.negate
	}
	if v, ok, reason := c.emailVerified.one(r); reason != "" {
		return nil, fail(&c.emailVerified, reason)
	} else if ok {
		b, err := parseBool(v)
		if err != nil {
			return nil, fail(&c.emailVerified, c.emailVerified.describe(v, err.Error()))
		}
		b = b != c.emailVerified.negate
		u.EmailVerified = &b
	}

	if v, ok, _ := c.password.one(r); ok {
		u.Credential = idshift.Credential{Kind: idshift.CredentialPlaintext, Password: v}
	} else if v, ok, _ := c.passwordHash.one(r); ok {
		u.Credential = idshift.Credential{Kind: idshift.CredentialHash, Hash: v}
	}

	var err error
	if u.PrivacyPolicy, err = c.privacy.apply(r, fail); err != nil {
		return nil, err
	}
	if u.TermsOfUse, err = c.terms.apply(r, fail); err != nil {
		return nil, err
	}

	for i := range c.extensions {
		e := &c.extensions[i]
		v, ok, reason := e.one(r)
		if reason != "" {
			return nil, fail(&e.field, reason)
		}
		if !ok {
			continue
		}
		var val any
		var perr error
		switch e.typ {
		case kindString:
			val = v
		case kindBool:
			var b bool
			b, perr = parseBool(v)
			val = b != e.negate
		case kindInt:
			val, perr = parseInt32(v)
		case kindTime:
			val, perr = parseTime(v)
		}
		if perr != nil {
			return nil, fail(&e.field, e.describe(v, perr.Error()))
		}
		if u.Extensions == nil {
			u.Extensions = make(map[string]any, len(c.extensions))
		}
		u.Extensions[e.name] = val
	}
	return u, nil
}

// time returns a time field's value; zero when absent.
func (f *field) time(r *record) (time.Time, string) {
	v, ok, reason := f.one(r)
	if reason != "" || !ok {
		return time.Time{}, reason
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, f.describe(v, err.Error())
	}
	return t, ""
}

func (c *consentField) apply(r *record, fail func(*field, string) error) (*idshift.Consent, error) {
	version, hasVersion, reason := c.version.one(r)
	if reason != "" {
		return nil, fail(&c.version, reason)
	}
	date, reason := c.date.time(r)
	if reason != "" {
		return nil, fail(&c.date, reason)
	}
	if !hasVersion && date.IsZero() {
		return nil, nil
	}
	return &idshift.Consent{Version: version, AcceptedAt: date}, nil
}

// jsonIdentities reads a column that holds a JSON array of identities in the Graph form.
func (f *identityField) jsonIdentities(r *record) ([]idshift.Identity, string) {
	v, ok := f.raw(r)
	if !ok {
		return nil, ""
	}
	v = strings.TrimSpace(v)
	if v == "" || v == "[]" {
		return nil, ""
	}
	var ids []idshift.Identity
	if err := json.Unmarshal([]byte(v), &ids); err != nil {
		return nil, "not a JSON array of identities {signInType, issuer, issuerAssignedId}"
	}
	out := ids[:0]
	for _, id := range ids {
		id.IssuerAssignedID = strings.TrimSpace(id.IssuerAssignedID)
		if id.SignInType == idshift.SignInEmail {
			id.IssuerAssignedID = strings.ToLower(id.IssuerAssignedID)
		}
		if id.IssuerAssignedID != "" {
			out = append(out, id)
		}
	}
	return out, ""
}
