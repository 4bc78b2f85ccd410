package sandbox

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kinds of user properties.
const (
	kString = iota
	kBool
	kStrings
	kSpecial  // validated by its own code
	kReadOnly // returned, never written
)

type propSpec struct {
	name string
	kind int
	max  int // characters for strings, values for collections; 0 means 256
}

// userSpecs are the declared user properties the sandbox knows, with Graph's limits.
var userSpecs = []propSpec{
	{"id", kReadOnly, 0}, {"createdDateTime", kReadOnly, 0}, {"creationType", kReadOnly, 0},
	{"lastPasswordChangeDateTime", kReadOnly, 0}, {"externalUserState", kReadOnly, 0},
	{"accountEnabled", kBool, 0}, {"showInAddressList", kBool, 0},
	{"displayName", kSpecial, 256}, {"givenName", kString, 64}, {"surname", kString, 64},
	{"mail", kSpecial, 256}, {"mailNickname", kString, 64}, {"userPrincipalName", kSpecial, 113},
	{"mobilePhone", kString, 64}, {"businessPhones", kStrings, 1}, {"faxNumber", kString, 64},
	{"jobTitle", kString, 128}, {"officeLocation", kString, 128}, {"preferredLanguage", kString, 64},
	{"otherMails", kStrings, 250}, {"identities", kSpecial, 10}, {"passwordProfile", kSpecial, 0},
	{"passwordPolicies", kSpecial, 0}, {"city", kString, 128}, {"country", kString, 128},
	{"state", kString, 128}, {"streetAddress", kString, 1024}, {"postalCode", kString, 40},
	{"companyName", kString, 64}, {"department", kString, 64}, {"employeeId", kString, 16},
	{"employeeType", kString, 64}, {"usageLocation", kString, 2}, {"userType", kString, 64},
	{"onPremisesImmutableId", kString, 256}, {"ageGroup", kString, 64}, {"consentProvidedForMinor", kString, 64},
}

var userSpecByLower = func() map[string]propSpec {
	m := make(map[string]propSpec, len(userSpecs))
	for _, s := range userSpecs {
		m[strings.ToLower(s.name)] = s
	}
	return m
}()

// defaultUserSelect is the property set Graph v1.0 returns for a user when $select is absent.
var defaultUserSelect = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

// user is one stored user. props is the Graph JSON object (identities and extension attributes included);
// the password is kept apart, as a salted digest, in memory only.
type user struct {
	seq     uint64
	id      string
	props   map[string]any
	pwSalt  [16]byte
	pwSum   [32]byte
	hasPw   bool
	deleted bool
}

// full returns a copy of the user's properties; the identities are copied too, so a caller may modify the
// result without touching the stored user (other collection values are shared and must be treated as
// read-only).
func (u *user) full() map[string]any {
	m := make(map[string]any, len(u.props))
	for k, v := range u.props {
		m[k] = v
	}
	if ids, ok := m["identities"].([]any); ok {
		cp := make([]any, len(ids))
		for i, id := range ids {
			if im, ok := id.(map[string]any); ok {
				c := make(map[string]any, len(im))
				for k, v := range im {
					c[k] = v
				}
				cp[i] = c
			} else {
				cp[i] = id
			}
		}
		m["identities"] = cp
	}
	return m
}

func (u *user) setPassword(pw string) {
	u.pwSalt = [16]byte([]byte(newGUID()[:16]))
	u.pwSum = sha256.Sum256(append(u.pwSalt[:], pw...))
	u.hasPw = true
}

// identityKey is the uniqueness key of an identity: (issuer, issuerAssignedId), case-insensitive.
func identityKey(issuer, assigned string) string {
	return strings.ToLower(issuer) + "\x00" + strings.ToLower(assigned)
}

func identitiesOf(props map[string]any) []map[string]any {
	list, _ := props["identities"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, v := range list {
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func identityKeys(props map[string]any) []string {
	var keys []string
	for _, id := range identitiesOf(props) {
		iss, _ := id["issuer"].(string)
		ass, _ := id["issuerAssignedId"].(string)
		keys = append(keys, identityKey(iss, ass))
	}
	return keys
}

// CheckPassword reports whether password is the current password of the user with id (or userPrincipalName).
// It is for tests and rehearsals: the sandbox keeps only a salted digest, in memory.
func (t *Tenant) CheckPassword(id, password string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	u := t.dir.lookupUser(id)
	return u != nil && u.hasPw && u.checkPassword(password)
}

func (t *Tenant) routeUsers(c *call, seg []string) *result {
	read := c.claims.hasRole("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
	write := c.claims.hasRole("User.ReadWrite.All", "Directory.ReadWrite.All")
	if len(seg) > 0 {
		if res, ok := t.usersSegment(c, seg); ok {
			return res
		}
	}
	switch {
	case len(seg) == 0 && c.method == http.MethodGet:
		if !read {
			return c.forbidden()
		}
		return t.listUsers(c)
	case len(seg) == 0 && c.method == http.MethodPost:
		if !write {
			return c.forbidden()
		}
		if r := t.admitWrite(c); r != nil {
			return r
		}
		return t.createUser(c)
	case len(seg) == 1 && c.method == http.MethodGet:
		if !read {
			return c.forbidden()
		}
		return t.getUser(c, seg[0])
	case len(seg) == 1 && c.method == http.MethodPatch:
		if !write {
			return c.forbidden()
		}
		if r := t.admitWrite(c); r != nil {
			return r
		}
		return t.patchUser(c, seg[0])
	case len(seg) == 1 && c.method == http.MethodDelete:
		if !write {
			return c.forbidden()
		}
		if r := t.admitWrite(c); r != nil {
			return r
		}
		return t.deleteUser(c, seg[0])
	case len(seg) <= 1:
		return c.methodNotAllowed()
	}
	return c.fail(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg[1]+"'.")
}

// userInput is a validated create or update.
type userInput struct {
	set        map[string]any // canonical name -> value (nil means clear)
	password   string
	hasPw      bool
	identities bool // identities present
}

func invalidValue(c *call, prop string) *result {
	return c.badRequest("Invalid value specified for property '" + prop + "' of resource 'User'.")
}

// parseUser validates a user body against the declared properties and the registered extension properties.
func (t *Tenant) parseUser(c *call, creating bool) (*userInput, *result) {
	body, ok := decodeObject(c.body)
	if !ok {
		return nil, c.malformed()
	}
	in := &userInput{set: map[string]any{}}
	// Sorted keys make the first reported error deterministic.
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := body[k]
		if strings.HasPrefix(k, "@odata.") {
			if k == "@odata.type" {
				if s, _ := v.(string); !strings.EqualFold(strings.TrimPrefix(s, "#"), "microsoft.graph.user") {
					return nil, c.fail(http.StatusBadRequest, "BadRequest", "A type named '"+s+"' could not be resolved by the model.")
				}
			}
			continue
		}
		if strings.HasPrefix(strings.ToLower(k), "extension_") {
			name, val, res := t.checkExtension(c, k, v)
			if res != nil {
				return nil, res
			}
			in.set[name] = val
			continue
		}
		spec, ok := userSpecByLower[strings.ToLower(k)]
		if !ok {
			return nil, c.badRequest("Property '" + k + "' does not exist as a declared property or extension property.")
		}
		name := spec.name
		max := spec.max
		if max == 0 {
			max = 256
		}
		switch spec.kind {
		case kReadOnly:
			return nil, c.badRequest("Property '" + name + "' is read-only and cannot be set.")
		case kBool:
			if _, ok := v.(bool); !ok && v != nil {
				return nil, invalidValue(c, name)
			}
			in.set[name] = v
		case kString:
			s, ok := v.(string)
			if v != nil && (!ok || utf8.RuneCountInString(s) > max) {
				return nil, invalidValue(c, name)
			}
			in.set[name] = v
		case kStrings:
			list, ok := v.([]any)
			if v != nil && (!ok || len(list) > max) {
				return nil, invalidValue(c, name)
			}
			for _, e := range list {
				s, ok := e.(string)
				if !ok || utf8.RuneCountInString(s) > 256 {
					return nil, invalidValue(c, name)
				}
				if name == "otherMails" && !validEmail(s) {
					return nil, invalidValue(c, name)
				}
			}
			if v == nil {
				v = []any{}
			}
			in.set[name] = v
		case kSpecial:
			if res := t.checkSpecial(c, in, name, max, v); res != nil {
				return nil, res
			}
		}
	}
	if creating {
		if s, _ := in.set["displayName"].(string); strings.TrimSpace(s) == "" {
			return nil, c.badRequest("Property displayName value is required but is empty or missing.")
		}
	}
	return in, nil
}

func (t *Tenant) checkSpecial(c *call, in *userInput, name string, max int, v any) *result {
	switch name {
	case "displayName":
		s, ok := v.(string)
		if !ok || utf8.RuneCountInString(s) > max || strings.ContainsAny(s, "<>") {
			return invalidValue(c, name)
		}
		in.set[name] = s
	case "mail":
		if v == nil {
			in.set[name] = nil
			return nil
		}
		s, ok := v.(string)
		// Accented characters in mail are a warning in docs/contracts.md §6.5, not a rule; otherMails refuses them.
		if !ok || !validEmailAccents(s, true) {
			return invalidValue(c, name)
		}
		in.set[name] = s
	case "userPrincipalName":
		s, ok := v.(string)
		if !ok {
			return invalidValue(c, name)
		}
		local, domain, found := strings.Cut(s, "@")
		if !found || local == "" || len(local) > 64 || strings.ContainsAny(local, " \"\\<>()[];:,@") {
			return invalidValue(c, name)
		}
		if !strings.EqualFold(domain, t.cfg.Domain) {
			return c.badRequest("The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.")
		}
		in.set[name] = s
	case "passwordPolicies":
		if v == nil {
			in.set[name] = nil
			return nil
		}
		s, ok := v.(string)
		if !ok {
			return invalidValue(c, name)
		}
		for _, p := range strings.Split(s, ",") {
			switch strings.TrimSpace(p) {
			case "DisablePasswordExpiration", "DisableStrongPassword", "None":
			default:
				return invalidValue(c, name)
			}
		}
		in.set[name] = s
	case "passwordProfile":
		m, ok := v.(map[string]any)
		if !ok {
			return invalidValue(c, name)
		}
		for k, pv := range m {
			switch k {
			case "password":
				s, ok := pv.(string)
				if !ok {
					return invalidValue(c, name)
				}
				in.password, in.hasPw = s, true
			case "forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa":
				if _, ok := pv.(bool); !ok && pv != nil {
					return invalidValue(c, name)
				}
			default:
				return c.badRequest("Property '" + k + "' does not exist as a declared property or extension property.")
			}
		}
		if !in.hasPw {
			return c.badRequest("Property passwordProfile.password value is required but is empty or missing.")
		}
	case "identities":
		list, ok := v.([]any)
		if !ok {
			return invalidValue(c, name)
		}
		if len(list) > max {
			return c.badRequest("The maximum number of identities for a user is " + strconv.Itoa(max) + ".")
		}
		norm := make([]any, 0, len(list))
		seen := map[string]bool{}
		for _, e := range list {
			id, res := t.checkIdentity(c, e)
			if res != nil {
				return res
			}
			k := identityKey(id["issuer"].(string), id["issuerAssignedId"].(string))
			if seen[k] {
				return conflict(c, "identities")
			}
			seen[k] = true
			norm = append(norm, id)
		}
		in.set[name] = norm
		in.identities = true
	}
	return nil
}

func (t *Tenant) checkIdentity(c *call, v any) (map[string]any, *result) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalidValue(c, "identities")
	}
	var signIn, issuer, assigned string
	for k, fv := range m {
		s, isStr := fv.(string)
		if !isStr && fv != nil {
			return nil, invalidValue(c, "identities")
		}
		switch k {
		case "signInType":
			signIn = s
		case "issuer":
			issuer = s
		case "issuerAssignedId":
			assigned = s
		default:
			return nil, c.badRequest("Property '" + k + "' does not exist as a declared property or extension property.")
		}
	}
	if signIn == "" {
		return nil, c.badRequest("The signInType property of an identity is required.")
	}
	if issuer == "" {
		return nil, c.badRequest("The issuer property of an identity is required.")
	}
	if len(issuer) > 512 {
		return nil, invalidValue(c, "identities")
	}
	if assigned == "" {
		return nil, c.badRequest("The issuerAssignedId property of an identity is required.")
	}
	// Sign-in types compare case-insensitively: External ID's alias page spells userName "username" (contracts §6.2),
	// and emailAddress1 (any type starting with emailAddress) is an email too.
	switch {
	case len(signIn) >= len("emailAddress") && strings.EqualFold(signIn[:len("emailAddress")], "emailAddress"):
		if !validEmail(assigned) {
			return nil, c.badRequest("The issuerAssignedId '" + assigned + "' is not a valid email address.")
		}
	case strings.EqualFold(signIn, "userName"):
		if !validUserName(assigned) {
			return nil, c.badRequest("The issuerAssignedId '" + assigned + "' of signInType userName is not valid: it must start with a letter or a digit, contain only letters, digits, '-' and '_', and be at most 64 characters.")
		}
	default:
		if len(assigned) > 512 {
			return nil, invalidValue(c, "identities")
		}
	}
	if !strings.EqualFold(signIn, "federated") && !strings.EqualFold(issuer, t.cfg.Domain) {
		return nil, c.badRequest("The issuer '" + issuer + "' of a local identity must be the tenant's domain '" + t.cfg.Domain + "'.")
	}
	return map[string]any{"signInType": signIn, "issuer": issuer, "issuerAssignedId": assigned}, nil
}

func validUserName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		alnum := r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r))
		if i == 0 && !alnum {
			return false
		}
		if !alnum && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

// validEmail accepts the ASCII addresses Graph accepts: local@domain with a dotted domain (internal/ruletable/rules.json).
func validEmail(s string) bool { return validEmailAccents(s, false) }

// validEmailAccents is validEmail that also admits non-ASCII letters in the local part when accents is set: at most
// 254 characters (RFC 5321), a local part of at most 64 without specials or misplaced dots, a domain of at least two
// labels of ASCII letters, digits and -.
func validEmailAccents(s string, accents bool) bool {
	if utf8.RuneCountInString(s) > 254 {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if utf8.RuneCountInString(local) > 64 {
		return false
	}
	for _, r := range local {
		if r <= ' ' || r == 127 || (r > 127 && !accents) || strings.ContainsRune("\"(),:;<>@[\\]", r) {
			return false
		}
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return false
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// passwordSymbols are the symbols Entra's password policy allows besides letters, digits and space (contracts §8.1).
const passwordSymbols = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> "

// strongPassword is the Entra policy (contracts §8.1): 8 to 256 characters of A-Z, a-z, 0-9, space and
// passwordSymbols (no Unicode), with three of lower case, upper case, digits, symbols.
func strongPassword(pw string) bool {
	n := utf8.RuneCountInString(pw)
	if n < 8 || n > 256 {
		return false
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
		case r < 128 && strings.ContainsRune(passwordSymbols, r):
			symbol = 1
		default:
			return false
		}
	}
	return lower+upper+digit+symbol >= 3
}

func hasPolicy(policies any, name string) bool {
	s, _ := policies.(string)
	for _, p := range strings.Split(s, ",") {
		if strings.EqualFold(strings.TrimSpace(p), name) {
			return true
		}
	}
	return false
}

// passwordAllowed reports whether the tenant accepts pw as a password under the user's passwordPolicies.
func passwordAllowed(pw string, policies any) bool {
	if hasPolicy(policies, "DisableStrongPassword") {
		return pw != "" && utf8.RuneCountInString(pw) <= 256
	}
	return strongPassword(pw)
}

func checkPassword(c *call, pw string, policies any) *result {
	if !passwordAllowed(pw, policies) {
		return c.badRequest("The specified password does not comply with password complexity requirements. Please provide a different password.")
	}
	return nil
}

func conflict(c *call, prop string) *result {
	return c.badRequest("Another object with the same value for property "+prop+" already exists.",
		map[string]any{"target": prop, "code": "ObjectConflict"})
}

func (t *Tenant) createUser(c *call) *result {
	in, res := t.parseUser(c, true)
	if res != nil {
		return res
	}
	local := true
	if list, ok := in.set["identities"].([]any); ok && len(list) > 0 {
		local = false
		for _, e := range list {
			if st := e.(map[string]any)["signInType"]; st != "federated" {
				local = true
			}
		}
	}
	if local && !in.hasPw {
		return c.badRequest("Property passwordProfile.password value is required but is empty or missing.")
	}
	if in.hasPw {
		if res := checkPassword(c, in.password, in.set["passwordPolicies"]); res != nil {
			return res
		}
	}
	id := newGUID()
	props := make(map[string]any, len(in.set)+4)
	for k, v := range in.set {
		if v != nil {
			props[k] = v
		}
	}
	props["id"] = id
	props["createdDateTime"] = t.now().UTC().Format(time.RFC3339)
	if _, ok := props["userPrincipalName"]; !ok {
		props["userPrincipalName"] = id + "@" + t.cfg.Domain
	}
	if _, ok := props["accountEnabled"]; !ok {
		props["accountEnabled"] = true
	}
	if _, ok := props["identities"]; !ok {
		props["identities"] = []any{}
	}
	props["creationType"] = "LocalAccount"
	u := &user{id: id, props: props}
	if in.hasPw {
		u.setPassword(in.password)
		props["lastPasswordChangeDateTime"] = props["createdDateTime"]
	}
	t.mu.Lock()
	d := t.dir
	if d.used() >= t.limits.Quota {
		t.mu.Unlock()
		return c.fail(http.StatusForbidden, "Directory_QuotaExceeded", "The directory object quota limit for the Tenant has been exceeded. Please ask your administrator to increase the quota limit or delete objects to reduce the used quota.")
	}
	for _, k := range identityKeys(props) {
		if d.byIdentity[k] != nil {
			t.mu.Unlock()
			return conflict(c, "identities")
		}
	}
	upn := strings.ToLower(props["userPrincipalName"].(string))
	if d.byUPN[upn] != nil {
		t.mu.Unlock()
		return conflict(c, "userPrincipalName")
	}
	d.insert(u)
	t.mu.Unlock()
	t.dirty.Store(true)
	out := project(props, defaultUserSelect)
	out["@odata.context"] = c.base + "/" + c.version + "/$metadata#users/$entity"
	res = c.result(http.StatusCreated, out)
	res.header.Set("Location", c.base+"/"+c.version+"/users/"+id)
	return res
}

func (r *result) withCode(code string) *result {
	if m, ok := r.body.(map[string]any); ok {
		if e, ok := m["error"].(map[string]any); ok {
			e["code"] = code
		}
	}
	return r
}

func (t *Tenant) getUser(c *call, id string) *result {
	sel, res := t.parseSelect(c)
	if res != nil {
		return res
	}
	t.mu.RLock()
	u := t.dir.lookupUser(id)
	var out map[string]any
	if u != nil {
		out = project(u.props, sel)
	}
	t.mu.RUnlock()
	if u == nil {
		return c.notFound(id)
	}
	ctx := c.base + "/" + c.version + "/$metadata#users/$entity"
	if c.query.Get("$select") != "" {
		ctx = c.base + "/" + c.version + "/$metadata#users(" + strings.Join(sel, ",") + ")/$entity"
	}
	out["@odata.context"] = ctx
	return c.result(http.StatusOK, out)
}

func (t *Tenant) patchUser(c *call, id string) *result {
	in, res := t.parseUser(c, false)
	if res != nil {
		return res
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.dir
	u := d.lookupUser(id)
	if u == nil {
		return c.notFound(id)
	}
	if in.hasPw {
		pol, ok := in.set["passwordPolicies"]
		if !ok {
			pol = u.props["passwordPolicies"]
		}
		if res := checkPassword(c, in.password, pol); res != nil {
			return res
		}
	}
	if in.identities {
		for _, k := range identityKeys(in.set) {
			if o := d.byIdentity[k]; o != nil && o != u {
				return conflict(c, "identities")
			}
		}
	}
	if s, ok := in.set["userPrincipalName"].(string); ok {
		if o := d.byUPN[strings.ToLower(s)]; o != nil && o != u {
			return conflict(c, "userPrincipalName")
		}
	}
	if v, ok := in.set["displayName"]; ok && v == nil {
		return invalidValue(c, "displayName")
	}
	// Copy on write: snapshots taken under the read lock stay valid.
	props := u.full()
	for k, v := range in.set {
		if v == nil {
			delete(props, k)
		} else {
			props[k] = v
		}
	}
	if _, ok := props["identities"]; !ok {
		props["identities"] = []any{}
	}
	if in.hasPw {
		u.setPassword(in.password)
		props["lastPasswordChangeDateTime"] = t.now().UTC().Format(time.RFC3339)
	}
	d.reindex(u, props)
	t.dirty.Store(true)
	return c.result(http.StatusNoContent, nil)
}

func (t *Tenant) deleteUser(c *call, id string) *result {
	t.mu.Lock()
	u := t.dir.lookupUser(id)
	if u != nil {
		t.dir.remove(u)
		t.dir.recycle(u) // to the deleted items, counted against the quota until purged
	}
	t.mu.Unlock()
	if u == nil {
		return c.notFound(id)
	}
	t.dirty.Store(true)
	return c.result(http.StatusNoContent, nil)
}

// parseSelect returns the canonical names of $select, or the default set.
func (t *Tenant) parseSelect(c *call) ([]string, *result) {
	raw := c.query.Get("$select")
	if raw == "" {
		return defaultUserSelect, nil
	}
	var out []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if strings.HasPrefix(strings.ToLower(p), "extension_") {
			t.mu.RLock()
			if e := t.dir.extByLower[strings.ToLower(p)]; e != nil {
				p = e.Name
			}
			t.mu.RUnlock()
			out = append(out, p)
			continue
		}
		spec, ok := userSpecByLower[strings.ToLower(p)]
		if !ok {
			return nil, c.fail(http.StatusBadRequest, "BadRequest", "Could not find a property named '"+p+"' on type 'microsoft.graph.user'.")
		}
		if !slices.Contains(out, spec.name) {
			out = append(out, spec.name)
		}
	}
	return out, nil
}

// project returns the selected properties of a user: declared properties as null when unset, collections as
// empty, extension attributes only when set.
func project(props map[string]any, sel []string) map[string]any {
	out := make(map[string]any, len(sel)+1)
	for _, name := range sel {
		v, ok := props[name]
		switch {
		case ok:
			out[name] = v
		case strings.HasPrefix(name, "extension_"):
		case name == "businessPhones" || name == "otherMails" || name == "identities":
			out[name] = []any{}
		default:
			out[name] = nil
		}
	}
	return out
}

func (t *Tenant) listUsers(c *call) *result {
	sel, top, after, res := t.pageQuery(c, "seq")
	if res != nil {
		return res
	}
	count := false
	if s := c.query.Get("$count"); s != "" {
		if s != "true" && s != "false" {
			return c.fail(http.StatusBadRequest, "BadRequest", "Invalid value for $count: '"+s+"'.")
		}
		count = s == "true"
		if count && !strings.EqualFold(c.header.Get("ConsistencyLevel"), "eventual") {
			return c.badRequest("$count is not currently supported.")
		}
	}
	f, res := queryFilter(c)
	if res != nil {
		return res
	}
	if c.query.Get("$orderby") != "" || c.query.Get("$search") != "" {
		return c.badRequest("Sorting and search are not supported by the sandbox.").withCode("Request_UnsupportedQuery")
	}
	t.mu.RLock()
	page, next, total := t.dir.query(f, after, top, count)
	out := make([]any, 0, len(page))
	for _, u := range page {
		out = append(out, project(u.props, sel))
	}
	t.mu.RUnlock()
	body := pageBody(c, sel, "/users", "seq", next, "$count")
	if count {
		body["@odata.count"] = total
	}
	body["value"] = out
	return c.result(http.StatusOK, body)
}

// pageQuery reads the query of a list call: the properties $select asks for (see parseSelect), the page size $top
// (100 when absent, else 1 to 999) and the sequence number a $skiptoken of prefix followed by hex digits resumes
// after (0 when absent). A bad value yields Graph's 400 result.
func (t *Tenant) pageQuery(c *call, prefix string) (sel []string, top int, after uint64, res *result) {
	sel, res = t.parseSelect(c)
	if res != nil {
		return nil, 0, 0, res
	}
	top = 100
	if s := c.query.Get("$top"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 999 {
			return nil, 0, 0, c.badRequest("Invalid page size specified: '" + s + "'. Must be between 1 and 999 inclusive.")
		}
		top = n
	}
	if s := c.query.Get("$skiptoken"); s != "" {
		n, err := strconv.ParseUint(strings.TrimPrefix(s, prefix), 16, 64)
		if err != nil || !strings.HasPrefix(s, prefix) {
			return nil, 0, 0, c.fail(http.StatusBadRequest, "Request_BadRequest", "Invalid skip token.")
		}
		after = n
	}
	return sel, top, after, nil
}

// queryFilter parses the call's $filter: nil when absent, else the filter or Graph's 400 result (with code
// Request_UnsupportedQuery for a clause the sandbox does not support).
func queryFilter(c *call) (filter, *result) {
	s := c.query.Get("$filter")
	if s == "" {
		return nil, nil
	}
	f, ferr := parseFilter(s)
	if ferr != nil {
		if ferr.unsupported {
			return nil, c.badRequest(ferr.msg).withCode("Request_UnsupportedQuery")
		}
		return nil, c.fail(http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+ferr.msg)
	}
	return f, nil
}

// pageBody starts the body of a page of users: its @odata.context (with the $select list when the call named one)
// and, when next is not 0, an @odata.nextLink to path carrying the call's query without $skiptoken and drop, and a
// $skiptoken of prefix and next in hex.
func pageBody(c *call, sel []string, path, prefix string, next uint64, drop ...string) map[string]any {
	ctx := c.base + "/" + c.version + "/$metadata#users"
	if c.query.Get("$select") != "" {
		ctx += "(" + strings.Join(sel, ",") + ")"
	}
	body := map[string]any{"@odata.context": ctx}
	if next != 0 {
		q := make(map[string][]string, len(c.query))
		for k, v := range c.query {
			if k != "$skiptoken" && !slices.Contains(drop, k) {
				q[k] = v
			}
		}
		q["$skiptoken"] = []string{prefix + strconv.FormatUint(next, 16)}
		body["@odata.nextLink"] = c.base + "/" + c.version + path + "?" + encodeQuery(q)
	}
	return body
}

// encodeQuery encodes q keeping '$' literal in keys, as Graph writes its links.
func encodeQuery(q map[string][]string) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(strings.ReplaceAll(queryEscape(k), "%24", "$"))
			b.WriteByte('=')
			b.WriteString(queryEscape(v))
		}
	}
	return b.String()
}

func queryEscape(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("-_.~'(),:/", ch) >= 0 {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[ch>>4])
		b.WriteByte(hexd[ch&15])
	}
	return b.String()
}

// jsonNumber reports whether v is a JSON integer that fits in bits.
func jsonInt(v any, bits int) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(n.String(), 10, bits)
	return i, err == nil
}
