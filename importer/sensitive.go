package importer

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/cleanup"
)

// The extension attributes Config.Consent writes a user's consent markers to: the version accepted (String) and
// when it was accepted (DateTime, sent as ISO 8601 in UTC).
const (
	PrivacyPolicyVersionAttribute    = "privacyPolicyVersion"
	PrivacyPolicyAcceptedAtAttribute = "privacyPolicyAcceptedAt"
	TermsOfUseVersionAttribute       = "termsOfUseVersion"
	TermsOfUseAcceptedAtAttribute    = "termsOfUseAcceptedAt"
)

// ExtensionAttribute is an extension attribute the import writes: its short name and Graph data type.
type ExtensionAttribute struct {
	Name, DataType string
}

// ConsentAttributes returns the attributes Config.Consent writes, in the order tenant setup creates them.
func ConsentAttributes() []ExtensionAttribute {
	return []ExtensionAttribute{
		{PrivacyPolicyVersionAttribute, "String"}, {PrivacyPolicyAcceptedAtAttribute, "DateTime"},
		{TermsOfUseVersionAttribute, "String"}, {TermsOfUseAcceptedAtAttribute, "DateTime"},
	}
}

// consent adds u's consent markers to the request's extension attributes.
func (p *planner) consent(u *idshift.User, ext map[string]any) {
	put := func(c *idshift.Consent, version, at string) {
		if c == nil {
			return
		}
		if v := strings.TrimSpace(c.Version); v != "" {
			ext[p.cfg.extensionName(version)] = v
		}
		if !c.AcceptedAt.IsZero() {
			ext[p.cfg.extensionName(at)] = c.AcceptedAt.UTC().Format(time.RFC3339)
		}
	}
	put(u.PrivacyPolicy, PrivacyPolicyVersionAttribute, PrivacyPolicyAcceptedAtAttribute)
	put(u.TermsOfUse, TermsOfUseVersionAttribute, TermsOfUseAcceptedAtAttribute)
}

// SensitiveNameError is the configuration error of an attribute whose name looks like data External ID must not
// hold (cleanup.SensitiveName) and that is not allowed.
type SensitiveNameError struct {
	// Attribute is the name at fault (an extension attribute or a source column); Kind the cleanup kind.
	Attribute, Kind string
}

func (e *SensitiveNameError) Error() string {
	return fmt.Sprintf("attribute %q has a %s: External ID must not hold such data. Leave it out of the mapping, "+
		"or allow it explicitly with import.allow_sensitive: [%s] (--allow-sensitive %s)", e.Attribute, e.Kind, e.Attribute, e.Attribute)
}

// CheckNames returns a *SensitiveNameError for the first of names (extension attributes and source columns a
// mapping sends) whose name looks medical, like a national identifier or like a payment card, unless allow names
// it (case-insensitively).
func CheckNames(names, allow []string) error {
	for _, n := range names {
		if kind, ok := cleanup.SensitiveName(n); ok && !allowed(allow, n) {
			return &SensitiveNameError{Attribute: n, Kind: kind}
		}
	}
	return nil
}

// Allowed reports whether allow names name (case-insensitively, spaces around an entry ignored).
func Allowed(allow []string, name string) bool { return allowed(allow, name) }

func allowed(allow []string, name string) bool {
	for _, a := range allow {
		if strings.EqualFold(strings.TrimSpace(a), name) {
			return true
		}
	}
	return false
}

// sensitive rejects a user whose extension attribute has a sensitive name, or whose extension attributes or
// names hold a payment card number or a US social security number, unless Config.AllowSensitive names the
// attribute. The reason names the attribute and the kind, never the value. Sign-in names, mail and phone are not
// checked: a long numeric user name or phone number passes the Luhn check one time in ten.
func (p *planner) sensitive(u *idshift.User) *idshift.RowError {
	reject := func(field, format string, args ...any) *idshift.RowError {
		return &idshift.RowError{Line: u.Line, LegacyID: u.LegacyID, Field: field, Reason: sprintf(format, args...)}
	}
	allow := p.cfg.AllowSensitive
	for _, f := range []struct{ name, v string }{{"displayName", u.DisplayName}, {"givenName", u.GivenName}, {"surname", u.Surname}} {
		if kind, _ := cleanup.SensitiveValue(f.v); kind != "" && !allowed(allow, f.name) {
			return reject(f.name, "%s holds a %s (value not shown): External ID must not hold it; fix the source or allow it with import.allow_sensitive", f.name, kind)
		}
	}
	if len(u.Extensions) == 0 {
		return nil
	}
	names := make([]string, 0, len(u.Extensions))
	for n := range u.Extensions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if allowed(allow, n) {
			continue
		}
		field := "extensions." + n
		if kind, ok := cleanup.SensitiveName(n); ok {
			return reject(field, "extension attribute %s has a %s: External ID must not hold such data; allow it with import.allow_sensitive", n, kind)
		}
		var s string
		switch v := u.Extensions[n].(type) {
		case string:
			s = v
		case int64:
			s = strconv.FormatInt(v, 10)
		}
		if kind, _ := cleanup.SensitiveValue(s); kind != "" {
			return reject(field, "extension attribute %s holds a %s (value not shown): External ID must not hold it; fix the source or allow it with import.allow_sensitive", n, kind)
		}
	}
	return nil
}
