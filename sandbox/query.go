package sandbox

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// plainText is a result body written as text/plain (the value of /users/$count).
type plainText string

// usersSegment answers the segments after /users that are not a user id: $count, and a 400 for the
// functions and OData segments the sandbox does not serve (delta, $ref, microsoft.graph.…). It reports false
// when seg[0] is to be read as a user id.
func (t *Tenant) usersSegment(c *call, seg []string) (*result, bool) {
	s := seg[0]
	lower := strings.ToLower(s)
	switch {
	case s == "$count" && len(seg) == 1:
		if c.method != http.MethodGet {
			return c.methodNotAllowed(), true
		}
		if !c.claims.hasRole("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All") {
			return c.forbidden(), true
		}
		return t.countUsers(c), true
	case strings.HasPrefix(s, "$"), lower == "delta", strings.HasPrefix(lower, "delta("),
		strings.HasPrefix(lower, "microsoft.graph."), strings.ContainsAny(s, "()"):
		return c.fail(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+s+"'."), true
	}
	return nil, false
}

// countUsers is GET /users/$count: the number of users matching $filter, as text, with ConsistencyLevel:
// eventual (an advanced query); without that header Graph answers 400.
func (t *Tenant) countUsers(c *call) *result {
	if !strings.EqualFold(c.header.Get("ConsistencyLevel"), "eventual") {
		return c.badRequest("$count is not currently supported.")
	}
	f, res := queryFilter(c)
	if res != nil {
		return res
	}
	t.mu.RLock()
	n := 0
	for _, u := range t.dir.order {
		if !u.deleted && (f == nil || f.match(u.props)) {
			n++
		}
	}
	t.mu.RUnlock()
	return c.result(http.StatusOK, plainText(strconv.Itoa(n)))
}

// applicationProps are the properties of Graph's application resource that $select may name; the collections
// among them read as [] when unset.
var applicationProps = map[string]bool{
	"addIns": true, "api": false, "appId": false, "applicationTemplateId": false, "appRoles": true,
	"authenticationBehaviors": false, "certification": false, "createdDateTime": false, "defaultRedirectUri": false,
	"deletedDateTime": false, "description": false, "disabledByMicrosoftStatus": false, "displayName": false,
	"groupMembershipClaims": false, "id": false, "identifierUris": true, "info": false,
	"isDeviceOnlyAuthSupported": false, "isFallbackPublicClient": false, "keyCredentials": true, "logo": false,
	"nativeAuthenticationApisEnabled": false, "notes": false, "oauth2RequirePostResponse": false,
	"optionalClaims": false, "parentalControlSettings": false, "passwordCredentials": true, "publicClient": false,
	"publisherDomain": false, "requestSignatureVerification": false, "requiredResourceAccess": true,
	"samlMetadataUrl": false, "serviceManagementReference": false, "servicePrincipalLockConfiguration": false,
	"signInAudience": false, "spa": false, "tags": true, "tokenEncryptionKeyId": false, "uniqueName": false,
	"verifiedPublisher": false, "web": false,
}

// selectApplications applies $select to a successful read of the application collection or of one
// application (seg is the request's path segments). Names are matched case-insensitively; an unknown one is a
// 400. On a read of one application, $select=keyCredentials returns the certificates' key material, as Graph
// does (a list read, or a read without $select, returns key: null).
func (t *Tenant) selectApplications(c *call, seg []string, res *result) *result {
	raw := c.query.Get("$select")
	if raw == "" || c.method != http.MethodGet {
		return res
	}
	var key string // the application segment of a one-application read
	switch {
	case len(seg) == 1 && seg[0] == "applications":
	case len(seg) == 2 && seg[0] == "applications":
		key = seg[1]
	case len(seg) == 1 && strings.HasPrefix(seg[0], "applications("):
		key = seg[0]
	default:
		return res
	}
	var sel []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		name := ""
		for k := range applicationProps {
			if strings.EqualFold(k, p) {
				name = k
			}
		}
		if name == "" {
			return c.fail(http.StatusBadRequest, "BadRequest", "Could not find a property named '"+p+"' on type 'microsoft.graph.application'.")
		}
		if !slices.Contains(sel, name) {
			sel = append(sel, name)
		}
	}
	if res == nil || res.status != http.StatusOK {
		return res
	}
	body, ok := res.body.(map[string]any)
	if !ok {
		return res
	}
	project := func(m map[string]any) map[string]any {
		out := make(map[string]any, len(sel)+1)
		for _, name := range sel {
			v, ok := m[name]
			switch {
			case ok:
				out[name] = v
			case applicationProps[name]:
				out[name] = []any{}
			default:
				out[name] = nil
			}
		}
		return out
	}
	ctx := c.base + "/" + c.version + "/$metadata#applications(" + strings.Join(sel, ",") + ")"
	if key == "" {
		list, _ := body["value"].([]any)
		vals := make([]any, 0, len(list))
		for _, v := range list {
			if m, ok := v.(map[string]any); ok {
				vals = append(vals, project(m))
			}
		}
		return c.result(http.StatusOK, map[string]any{"@odata.context": ctx, "value": vals})
	}
	out := project(body)
	if slices.Contains(sel, "keyCredentials") {
		t.mu.RLock()
		if a := t.dir.findApp(key); a != nil {
			if stored, ok := a.props["keyCredentials"].([]any); ok {
				out["keyCredentials"] = stored
			}
		}
		t.mu.RUnlock()
	}
	out["@odata.context"] = ctx + "/$entity"
	return c.result(http.StatusOK, out)
}
