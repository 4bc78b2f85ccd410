package graph

import (
	"fmt"
	"math"
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

// Graph's documented limits (docs/contracts.md §6 and §8). internal/ruletable/rules.json holds one case per rule with
// its verdict; the sandbox's tests run the same table, so the planner and the sandbox tenant agree.
const (
	maxDisplayName       = 256 // §6.5
	maxNamePart          = 64  // givenName, surname: §6.5
	maxMobilePhone       = 64  // user resource: "Maximum length is 64 characters"
	maxIssuer            = 512 // §6.2
	maxUserName          = 64  // §6.2: the 64-character limit holds for userName only
	maxEmail             = 254 // RFC 5321: a path of 256 octets less its angle brackets
	maxEmailLocal        = 64  // RFC 5321 §4.5.3.1.1
	maxOtherID           = 512 // no documented limit for federated and custom ids; idshift and the sandbox take the issuer's
	maxExtensions        = 100
	minPassword          = 8   // §8.1
	maxPassword          = 256 // §8.1
	defaultMaxIdentities = 10  // §6.2: ten, hard; no warning below it
	defaultMaxExtString  = 250
	// otherMailsWarn: more otherMails than this is a warning (§6.5: not a documented rule).
	otherMailsWarn = 250
)

// ValidateUser checks a user against External ID's documented rules before it is sent, so that a bad record is
// rejected locally with a precise reason instead of costing a write. It returns an *idshift.Error with code EINVALID
// whose Field is the JSON path at fault ("identities[1].issuerAssignedId"). The rules are those of
// docs/contracts.md: displayName required, at most 256 characters, no < or > (§6.5); givenName, surname and
// mobilePhone at most 64; mail and otherMails valid addresses, otherMails without accented characters; identities
// (§6.2): a known sign-in type, at most Rules.MaxIdentities, unique within the user, issuer at most 512 characters,
// an emailAddress id a valid address (ASCII, a dotted domain of letters, digits and -, at most 254 characters), a
// userName id of letters, digits, - and _ starting with a letter or digit and at most 64 characters (the only
// sign-in type with that limit), other ids at most 512; a passwordProfile for local accounts whose password follows
// Entra's policy (§8.1: 8 to 256 characters from the allowed ASCII set, three of four character classes) unless
// passwordPolicies has DisableStrongPassword; extension attributes (names, types, strings at most
// Rules.MaxExtensionString, at most 100). It does not check what only the tenant knows (uniqueness across users,
// the banned-password list). internal/ruletable/rules.json lists a case for each rule.
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
	if n := utf8.RuneCountInString(u.MobilePhone); n > maxMobilePhone {
		return idshift.Invalid("mobilePhone", "%d characters, more than %d", n, maxMobilePhone)
	}
	if u.Mail != "" {
		if err := checkMail(u.Mail, true); err != "" {
			return idshift.Invalid("mail", "%s", err)
		}
	}
	for i, m := range u.OtherMails {
		if err := checkMail(m, false); err != "" {
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

// checkMail returns why m is not an email address Graph accepts, or "". An address is local@domain, at most 254
// characters; the local part at most 64 printable ASCII characters other than specials, without a leading, trailing
// or doubled dot; the domain at least two labels of ASCII letters, digits and - (not at a label's ends), each at most
// 63 characters. accents admits non-ASCII letters in the local part (mail, where contracts §6.5 makes them a
// warning, not a rule).
func checkMail(m string, accents bool) string {
	if n := utf8.RuneCountInString(m); n > maxEmail {
		return fmt.Sprintf("%d characters, more than %d", n, maxEmail)
	}
	at := strings.LastIndexByte(m, '@')
	if at < 0 {
		return "not a valid email address (no @)"
	}
	local, domain := m[:at], m[at+1:]
	if local == "" || domain == "" {
		return "not a valid email address"
	}
	if n := utf8.RuneCountInString(local); n > maxEmailLocal {
		return fmt.Sprintf("local part of %d characters, more than %d", n, maxEmailLocal)
	}
	for _, r := range local {
		if r >= utf8.RuneSelf && !accents {
			return "must not contain accented or other non-ASCII characters"
		}
		if r <= ' ' || r == 0x7f || strings.ContainsRune("\"(),:;<>@[\\]", r) {
			return "not a valid email address"
		}
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "not a valid email address (misplaced dot)"
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return fmt.Sprintf("domain %q is not a fully qualified name", domain)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Sprintf("domain %q is not a valid host name", domain)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if c >= utf8.RuneSelf {
				return "must not contain accented or other non-ASCII characters"
			}
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Sprintf("domain %q may contain only letters, digits and -", domain)
			}
		}
	}
	return ""
}

// isUserName reports whether t is the userName sign-in type; External ID's alias page spells it "username".
func isUserName(t string) bool { return strings.EqualFold(t, idshift.SignInUserName) }

// isEmailSignIn reports whether t is emailAddress or a custom type starting with it (emailAddress1).
func isEmailSignIn(t string) bool {
	return len(t) >= len(idshift.SignInEmail) && strings.EqualFold(t[:len(idshift.SignInEmail)], idshift.SignInEmail)
}

func isLocalSignIn(t string) bool {
	return isEmailSignIn(t) || isUserName(t) || strings.EqualFold(t, "userPrincipalName")
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
		case isLocalSignIn(id.SignInType), strings.EqualFold(id.SignInType, idshift.SignInFederated):
		case rules.AllowCustomSignInTypes:
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
		switch {
		case isEmailSignIn(id.SignInType):
			if err := checkMail(v, false); err != "" {
				return idshift.Invalid(f("issuerAssignedId"), "%s", err)
			}
		case isUserName(id.SignInType):
			if err := checkUserName(v); err != "" {
				return idshift.Invalid(f("issuerAssignedId"), "%s", err)
			}
		default:
			if n := utf8.RuneCountInString(v); n > maxOtherID {
				return idshift.Invalid(f("issuerAssignedId"), "%d characters, more than %d", n, maxOtherID)
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
	if n := utf8.RuneCountInString(v); n > maxUserName {
		return fmt.Sprintf("%d characters, more than %d", n, maxUserName)
	}
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

// passwordSymbols are the symbols Entra's password policy allows besides letters, digits and space (§8.1).
const passwordSymbols = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> "

// PasswordProblem returns why pw breaks Entra's password policy (docs/contracts.md §8.1), or "": strong is false
// when the account's passwordPolicies hold DisableStrongPassword. It never quotes the password.
func PasswordProblem(pw string, strong bool) string { return passwordProblem(pw, strong) }

func passwordProblem(pw string, strong bool) string {
	n := utf8.RuneCountInString(pw)
	switch {
	case n == 0:
		return "required"
	case n > maxPassword:
		return fmt.Sprintf("longer than %d characters", maxPassword)
	case !strong:
		return ""
	case n < minPassword:
		return fmt.Sprintf("shorter than %d characters", minPassword)
	}
	var lower, upper, digit, symbol int
	for _, r := range pw {
		switch {
		case r >= 'a' && r <= 'z':
			lower = 1
		case r >= 'A' && r <= 'Z':
			upper = 1
		case r >= '0' && r <= '9':
			digit = 1
		case r < utf8.RuneSelf && strings.ContainsRune(passwordSymbols, r):
			symbol = 1
		default:
			return "contains a character the password policy does not allow (Unicode or control characters)"
		}
	}
	if lower+upper+digit+symbol < 3 {
		return "needs three of: lower case, upper case, digits, symbols (or passwordPolicies DisableStrongPassword)"
	}
	return ""
}

func hasPolicy(policies, name string) bool {
	for p := range strings.SplitSeq(policies, ",") {
		if strings.EqualFold(strings.TrimSpace(p), name) {
			return true
		}
	}
	return false
}

func validatePassword(u *User) error {
	local := false
	for _, id := range u.Identities {
		if isLocalSignIn(id.SignInType) {
			local = true
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
	if u.PasswordProfile == nil {
		if local {
			return idshift.Invalid("passwordProfile", "required for a local account")
		}
		return nil
	}
	strong := !hasPolicy(u.PasswordPolicies, "DisableStrongPassword")
	if msg := passwordProblem(u.PasswordProfile.Password, strong); msg != "" {
		return idshift.Invalid("passwordProfile.password", "%s", msg)
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

// UserWarnings lists what Graph accepts but is worth a look (docs/contracts.md §6.1, §6.5): a local account
// without DisablePasswordExpiration, a mail with accented characters, more than 250 otherMails.
func UserWarnings(u *User) []string {
	if u == nil {
		return nil
	}
	var w []string
	local := false
	for _, id := range u.Identities {
		local = local || isLocalSignIn(id.SignInType)
	}
	if local && !hasPolicy(u.PasswordPolicies, "DisablePasswordExpiration") {
		w = append(w, "passwordPolicies: a local account should have DisablePasswordExpiration")
	}
	if checkMail(u.Mail, false) != "" && checkMail(u.Mail, true) == "" {
		w = append(w, "mail: accented characters; some Microsoft pages say they are not allowed")
	}
	if len(u.OtherMails) > otherMailsWarn {
		w = append(w, fmt.Sprintf("otherMails: %d values, more than the %d an older page gives", len(u.OtherMails), otherMailsWarn))
	}
	return w
}
