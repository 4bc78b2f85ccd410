package graph

import (
	"fmt"
	"math"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idshift/idshift"
)

// Rules tunes ValidateUser. The zero value applies Graph's documented limits.
type Rules struct {
	// MaxExtensionString is the longest String extension value in characters (default 250, as Graph's limits page
	// says; other pages say 256, which may be configured).
	MaxExtensionString int `json:"maxExtensionString,omitempty" yaml:"maxExtensionString,omitempty"`
	// MaxIdentities is the most identities one user may have (default 10).
	MaxIdentities int `json:"maxIdentities,omitempty" yaml:"maxIdentities,omitempty"`
	// ExtensionAppID, when set, is the appId of the b2c-extensions-app: every extension attribute must be one of
	// its attributes (extension_{ExtensionAppID without dashes}_…).
	ExtensionAppID string `json:"extensionAppId,omitempty" yaml:"extensionAppId,omitempty"`
	// AllowCustomSignInTypes admits signInType values other than emailAddress, userName, federated and
	// userPrincipalName (Graph accepts any string).
	AllowCustomSignInTypes bool `json:"allowCustomSignInTypes,omitempty" yaml:"allowCustomSignInTypes,omitempty"`
}

// Graph's documented limits.
const (
	maxDisplayName       = 256
	maxNamePart          = 64
	maxOtherMails        = 250
	maxIssuer            = 512
	maxIssuerAssignedID  = 64
	maxExtensions        = 100
	maxPassword          = 256
	defaultMaxIdentities = 10
	// WarnIdentities: an older limits page allowed only 7 identities in one create; more is a warning.
	WarnIdentities      = 7
	defaultMaxExtString = 250
)

// ValidateUser checks a user against Graph's documented rules before it is sent, so that a bad record is rejected
// locally with a precise reason instead of costing a write. It returns an *idshift.Error with code EINVALID whose
// Field is the JSON path at fault ("identities[1].issuerAssignedId"). Rules are those of the Graph docs: identities
// (sign-in type, a valid email for emailAddress, userName characters, issuerAssignedId ≤ 64, issuer ≤ 512, at most
// Rules.MaxIdentities, unique within the user), displayName (required, ≤ 256, no < >), givenName and surname ≤ 64,
// mail and otherMails (valid, no accented characters, ≤ 250 otherMails), extension attributes (names, types,
// strings ≤ Rules.MaxExtensionString, at most 100), and a passwordProfile for local accounts. It does not check what
// only the tenant knows (uniqueness across users, the password policy).
func ValidateUser(u *User, rules Rules) error {
	if u == nil {
		return idshift.Invalid("", "no user")
	}
	if rules.MaxIdentities <= 0 {
		rules.MaxIdentities = defaultMaxIdentities
	}
	if rules.MaxExtensionString <= 0 {
		rules.MaxExtensionString = defaultMaxExtString
	}
	if strings.TrimSpace(u.DisplayName) == "" {
		return idshift.Invalid("displayName", "required")
	}
	if n := utf8.RuneCountInString(u.DisplayName); n > maxDisplayName {
		return idshift.Invalid("displayName", "%d characters, more than %d", n, maxDisplayName)
	}
	if strings.ContainsAny(u.DisplayName, "<>") {
		return idshift.Invalid("displayName", "must not contain < or >")
	}
	if n := utf8.RuneCountInString(u.GivenName); n > maxNamePart {
		return idshift.Invalid("givenName", "%d characters, more than %d", n, maxNamePart)
	}
	if n := utf8.RuneCountInString(u.Surname); n > maxNamePart {
		return idshift.Invalid("surname", "%d characters, more than %d", n, maxNamePart)
	}
	if u.Mail != "" {
		if err := checkMail(u.Mail); err != "" {
			return idshift.Invalid("mail", "%s", err)
		}
	}
	if len(u.OtherMails) > maxOtherMails {
		return idshift.Invalid("otherMails", "%d values, more than %d", len(u.OtherMails), maxOtherMails)
	}
	for i, m := range u.OtherMails {
		if err := checkMail(m); err != "" {
			return idshift.Invalid(fmt.Sprintf("otherMails[%d]", i), "%s", err)
		}
	}
	if err := validateIdentities(u, rules); err != nil {
		return err
	}
	if err := validatePassword(u); err != nil {
		return err
	}
	return validateExtensions(u.Extensions, rules)
}

func checkMail(m string) string {
	for _, r := range m {
		if r >= utf8.RuneSelf {
			return "must not contain accented or other non-ASCII characters"
		}
	}
	a, err := mail.ParseAddress(m)
	if err != nil || a.Address != m || a.Name != "" {
		return "not a valid email address"
	}
	return ""
}

func isLocalSignIn(t string) bool {
	return strings.HasPrefix(t, idshift.SignInEmail) || t == idshift.SignInUserName || t == "userPrincipalName"
}

func validateIdentities(u *User, rules Rules) error {
	if len(u.Identities) > rules.MaxIdentities {
		return idshift.Invalid("identities", "%d identities, more than %d", len(u.Identities), rules.MaxIdentities)
	}
	seen := make(map[string]int, len(u.Identities))
	for i, id := range u.Identities {
		f := func(name string) string { return fmt.Sprintf("identities[%d].%s", i, name) }
		switch {
		case id.SignInType == "":
			return idshift.Invalid(f("signInType"), "required")
		case id.SignInType == idshift.SignInEmail, id.SignInType == idshift.SignInUserName,
			id.SignInType == idshift.SignInFederated, id.SignInType == "userPrincipalName":
		case strings.HasPrefix(id.SignInType, idshift.SignInEmail) || rules.AllowCustomSignInTypes:
		default:
			return idshift.Invalid(f("signInType"), "unknown sign-in type %q", id.SignInType)
		}
		if id.Issuer == "" {
			return idshift.Invalid(f("issuer"), "required")
		}
		if n := utf8.RuneCountInString(id.Issuer); n > maxIssuer {
			return idshift.Invalid(f("issuer"), "%d characters, more than %d", n, maxIssuer)
		}
		v := id.IssuerAssignedID
		if v == "" {
			return idshift.Invalid(f("issuerAssignedId"), "required")
		}
		if n := utf8.RuneCountInString(v); n > maxIssuerAssignedID {
			return idshift.Invalid(f("issuerAssignedId"), "%d characters, more than %d", n, maxIssuerAssignedID)
		}
		switch {
		case strings.HasPrefix(id.SignInType, idshift.SignInEmail):
			if err := checkMail(v); err != "" {
				return idshift.Invalid(f("issuerAssignedId"), "%s", err)
			}
		case id.SignInType == idshift.SignInUserName:
			if err := checkUserName(v); err != "" {
				return idshift.Invalid(f("issuerAssignedId"), "%s", err)
			}
		}
		key := strings.ToLower(id.Issuer) + "\x00" + strings.ToLower(v)
		if isLocalSignIn(id.SignInType) {
			// The tenant matches local sign-in names regardless of issuer.
			key = "local\x00" + strings.ToLower(v)
		}
		if j, dup := seen[key]; dup {
			return idshift.Invalid(f("issuerAssignedId"), "duplicate of identities[%d]", j)
		}
		seen[key] = i
	}
	return nil
}

func checkUserName(v string) string {
	for i := 0; i < len(v); i++ {
		c := v[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return "must start with a letter or a digit"
		}
		if !alnum && c != '-' && c != '_' {
			return "may contain only letters, digits, - and _"
		}
	}
	return ""
}

func validatePassword(u *User) error {
	local := false
	for _, id := range u.Identities {
		if isLocalSignIn(id.SignInType) {
			local = true
		}
	}
	if u.PasswordProfile == nil {
		if local {
			return idshift.Invalid("passwordProfile", "required for a local account")
		}
	} else {
		n := utf8.RuneCountInString(u.PasswordProfile.Password)
		switch {
		case n == 0:
			return idshift.Invalid("passwordProfile.password", "required")
		case n > maxPassword:
			return idshift.Invalid("passwordProfile.password", "longer than %d characters", maxPassword)
		}
	}
	if u.PasswordPolicies != "" {
		for p := range strings.SplitSeq(u.PasswordPolicies, ",") {
			switch strings.TrimSpace(p) {
			case "DisablePasswordExpiration", "DisableStrongPassword":
			default:
				return idshift.Invalid("passwordPolicies", "unknown policy %q", strings.TrimSpace(p))
			}
		}
	}
	return nil
}

func validateExtensions(ext map[string]any, rules Rules) error {
	if len(ext) > maxExtensions {
		return idshift.Invalid("extensions", "%d extension attributes, more than %d", len(ext), maxExtensions)
	}
	var wantApp string
	if rules.ExtensionAppID != "" {
		wantApp = strings.ReplaceAll(strings.ToLower(rules.ExtensionAppID), "-", "")
	}
	for name, v := range ext {
		app, _, ok := splitExtensionName(name)
		if !ok {
			return idshift.Invalid(name, "not an extension attribute name (extension_{appId without dashes}_{name})")
		}
		if wantApp != "" && app != wantApp {
			return idshift.Invalid(name, "belongs to app %s, not the extensions app %s", app, wantApp)
		}
		switch x := v.(type) {
		case bool, time.Time:
		case string:
			if n := utf8.RuneCountInString(x); n > rules.MaxExtensionString {
				return idshift.Invalid(name, "%d characters, more than %d", n, rules.MaxExtensionString)
			}
		case int:
			if x < math.MinInt32 || x > math.MaxInt32 {
				return idshift.Invalid(name, "integer %d does not fit in 32 bits", x)
			}
		case int64:
			if x < math.MinInt32 || x > math.MaxInt32 {
				return idshift.Invalid(name, "integer %d does not fit in 32 bits", x)
			}
		case int32, int16, int8, uint8, uint16:
		case uint32:
			if x > math.MaxInt32 {
				return idshift.Invalid(name, "integer %d does not fit in 32 bits", x)
			}
		case nil:
			return idshift.Invalid(name, "null value")
		default:
			return idshift.Invalid(name, "unsupported type %T (want bool, integer, string or time)", v)
		}
	}
	return nil
}

// splitExtensionName splits "extension_{32 hex}_{name}" into the app id and the name.
func splitExtensionName(s string) (app, name string, ok bool) {
	rest, ok := strings.CutPrefix(s, ExtensionPrefix)
	if !ok || len(rest) < 34 || rest[32] != '_' {
		return "", "", false
	}
	app, name = rest[:32], rest[33:]
	for i := 0; i < len(app); i++ {
		c := app[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", "", false
		}
	}
	if name == "" || len(name) > 120 {
		return "", "", false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return "", "", false
		}
	}
	return app, name, true
}

// UserWarnings lists what Graph may accept but is worth a look: more than WarnIdentities identities (an older
// limits page allowed only 7 in one create), and a local account without DisablePasswordExpiration.
func UserWarnings(u *User) []string {
	if u == nil {
		return nil
	}
	var w []string
	if len(u.Identities) > WarnIdentities {
		w = append(w, fmt.Sprintf("identities: %d identities; an older Graph limit allowed %d per create", len(u.Identities), WarnIdentities))
	}
	local := false
	for _, id := range u.Identities {
		local = local || isLocalSignIn(id.SignInType)
	}
	if local && !strings.Contains(u.PasswordPolicies, "DisablePasswordExpiration") {
		w = append(w, "passwordPolicies: a local account should have DisablePasswordExpiration")
	}
	return w
}
