package sandbox

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// application is an application object (props is its Graph JSON; keyCredentials keep their key material).
type application struct {
	props map[string]any
}

func (a *application) id() string    { s, _ := a.props["id"].(string); return s }
func (a *application) appID() string { s, _ := a.props["appId"].(string); return s }

// extProp is a directory extension definition (extensionProperty).
type extProp struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	DataType      string   `json:"dataType"`
	IsMultiValued bool     `json:"isMultiValued"`
	TargetObjects []string `json:"targetObjects"`
	AppObjectID   string   `json:"appObjectId"`
	AppName       string   `json:"appDisplayName"`
}

func (e *extProp) json() map[string]any {
	return map[string]any{
		"id": e.ID, "deletedDateTime": nil, "appDisplayName": e.AppName, "dataType": e.DataType,
		"isMultiValued": e.IsMultiValued, "isSyncedFromOnPremises": false, "name": e.Name,
		"targetObjects": e.TargetObjects,
	}
}

// checkExtension validates the value of extension attribute k on a user. It returns the registered name.
func (t *Tenant) checkExtension(c *call, k string, v any) (string, any, *result) {
	t.mu.RLock()
	e := t.dir.extByLower[strings.ToLower(k)]
	t.mu.RUnlock()
	if e == nil || !containsFold(e.TargetObjects, "User") {
		return "", nil, c.badRequest("Property '" + k + "' does not exist as a declared property or extension property.")
	}
	if v == nil {
		return e.Name, nil, nil
	}
	bad := c.badRequest("Invalid value specified for property '" + e.Name + "' of resource 'User'.")
	if e.IsMultiValued {
		list, ok := v.([]any)
		if !ok {
			return "", nil, bad
		}
		out := make([]any, 0, len(list))
		for _, x := range list {
			nx, ok := extValue(e.DataType, x)
			if !ok {
				return "", nil, bad
			}
			out = append(out, nx)
		}
		return e.Name, out, nil
	}
	nv, ok := extValue(e.DataType, v)
	if !ok {
		return "", nil, bad
	}
	return e.Name, nv, nil
}

// extValue checks one value against an extension data type and normalises it.
func extValue(dataType string, v any) (any, bool) {
	switch dataType {
	case "Boolean":
		b, ok := v.(bool)
		return b, ok
	case "Integer":
		_, ok := jsonInt(v, 32)
		return v, ok
	case "LargeInteger":
		_, ok := jsonInt(v, 64)
		return v, ok
	case "String":
		s, ok := v.(string)
		return s, ok && utf8.RuneCountInString(s) <= 256
	case "DateTime":
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
			if tm, err := time.Parse(layout, s); err == nil {
				return tm.UTC().Format(time.RFC3339), true
			}
		}
		return nil, false
	case "Binary":
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		b, err := base64.StdEncoding.DecodeString(s)
		return s, err == nil && len(b) <= 256
	}
	return nil, false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// findApp resolves an application segment: {objectId} or (appId='{appId}').
func (d *directory) findApp(seg string) *application {
	if rest, ok := strings.CutPrefix(seg, "applications(appId="); ok {
		appID := strings.Trim(strings.TrimSuffix(rest, ")"), "'")
		for _, a := range d.apps {
			if strings.EqualFold(a.appID(), appID) {
				return a
			}
		}
		return nil
	}
	for _, a := range d.apps {
		if strings.EqualFold(a.id(), seg) {
			return a
		}
	}
	return nil
}

// appView is an application as Graph returns it. Key material (keyCredentials[].key) is returned only when
// withKeys: a GET of that one application with $select=keyCredentials; every other read has "key": null.
func appView(a *application, withKeys ...bool) map[string]any {
	out := make(map[string]any, len(a.props))
	for k, v := range a.props {
		out[k] = v
	}
	if list, ok := a.props["keyCredentials"].([]any); ok && !(len(withKeys) > 0 && withKeys[0]) {
		keys := make([]any, 0, len(list))
		for _, k := range list {
			m := map[string]any{}
			for kk, vv := range k.(map[string]any) {
				m[kk] = vv
			}
			m["key"] = nil // Graph returns key material only on a single-application read with $select=keyCredentials
			keys = append(keys, m)
		}
		out["keyCredentials"] = keys
	}
	return out
}

func (t *Tenant) routeApplications(c *call, seg []string) *result {
	read := c.claims.hasRole("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
	write := c.claims.hasRole("Application.ReadWrite.All", "Directory.ReadWrite.All")
	// Normalise /applications/{id}/... and /applications(appId='…')/... to [key, rest...].
	var key string
	rest := seg[1:]
	if seg[0] != "applications" {
		key = seg[0]
	} else if len(seg) > 1 {
		key, rest = seg[1], seg[2:]
	}
	if key == "" {
		switch c.method {
		case http.MethodGet:
			if !read {
				return c.forbidden()
			}
			return t.listApps(c)
		case http.MethodPost:
			if !write {
				return c.forbidden()
			}
			return t.createApp(c)
		}
		return c.methodNotAllowed()
	}
	t.mu.RLock()
	a := t.dir.findApp(key)
	t.mu.RUnlock()
	if a == nil {
		return c.notFound(strings.TrimPrefix(key, "applications"))
	}
	switch {
	case len(rest) == 0 && c.method == http.MethodGet:
		if !read {
			return c.forbidden()
		}
		var sel []string
		if s := c.query.Get("$select"); s != "" {
			for _, p := range strings.Split(s, ",") {
				sel = append(sel, strings.TrimSpace(p))
			}
		}
		t.mu.RLock()
		out := appView(a, containsFold(sel, "keyCredentials"))
		t.mu.RUnlock()
		if sel != nil {
			proj := map[string]any{}
			for _, p := range sel {
				v, ok := out[p]
				if !ok {
					return c.fail(http.StatusBadRequest, "BadRequest", "Could not find a property named '"+p+"' on type 'microsoft.graph.application'.")
				}
				proj[p] = v
			}
			proj["id"] = out["id"]
			out = proj
		}
		out["@odata.context"] = c.base + "/" + c.version + "/$metadata#applications/$entity"
		return c.result(http.StatusOK, out)
	case len(rest) == 0 && c.method == http.MethodPatch:
		if !write {
			return c.forbidden()
		}
		return t.patchApp(c, a)
	case len(rest) == 0:
		return c.methodNotAllowed()
	case rest[0] == "extensionProperties" && len(rest) == 1 && c.method == http.MethodGet:
		if !read {
			return c.forbidden()
		}
		t.mu.RLock()
		var vals []any
		for _, e := range t.dir.extList() {
			if e.AppObjectID == a.id() {
				vals = append(vals, e.json())
			}
		}
		t.mu.RUnlock()
		if vals == nil {
			vals = []any{}
		}
		return c.result(http.StatusOK, map[string]any{
			"@odata.context": c.base + "/" + c.version + "/$metadata#applications('" + a.id() + "')/extensionProperties",
			"value":          vals,
		})
	case rest[0] == "extensionProperties" && len(rest) == 1 && c.method == http.MethodPost:
		if !write {
			return c.forbidden()
		}
		return t.createExtProp(c, a)
	case rest[0] == "extensionProperties" && len(rest) == 2 && (c.method == http.MethodGet || c.method == http.MethodDelete):
		if (c.method == http.MethodGet && !read) || (c.method == http.MethodDelete && !write) {
			return c.forbidden()
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		for k, e := range t.dir.extByLower {
			if e.AppObjectID == a.id() && strings.EqualFold(e.ID, rest[1]) {
				if c.method == http.MethodDelete {
					delete(t.dir.extByLower, k)
					t.dirty.Store(true)
					return c.result(http.StatusNoContent, nil)
				}
				out := e.json()
				out["@odata.context"] = c.base + "/" + c.version + "/$metadata#applications('" + a.id() + "')/extensionProperties/$entity"
				return c.result(http.StatusOK, out)
			}
		}
		return c.notFound(rest[1])
	}
	return c.fail(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+rest[0]+"'.")
}

// extList returns the extension properties in a stable order (by name).
func (d *directory) extList() []*extProp {
	out := make([]*extProp, 0, len(d.extByLower))
	for _, e := range d.extByLower {
		out = append(out, e)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Name < out[j-1].Name; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (t *Tenant) listApps(c *call) *result {
	var match func(a *application) bool
	if s := c.query.Get("$filter"); s != "" {
		toks, ferr := lexFilter(s)
		if ferr != nil {
			return c.fail(http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+ferr.msg)
		}
		switch {
		case len(toks) == 3 && toks[1].kind == 'w' && strings.EqualFold(toks[1].text, "eq") && toks[2].kind == 's' &&
			(toks[0].text == "appId" || toks[0].text == "displayName" || toks[0].text == "id"):
			prop, want := toks[0].text, toks[2].text
			match = func(a *application) bool { s, _ := a.props[prop].(string); return strings.EqualFold(s, want) }
		case len(toks) == 6 && strings.EqualFold(toks[0].text, "startswith") && toks[1].kind == '(' &&
			toks[2].text == "displayName" && toks[3].kind == ',' && toks[4].kind == 's' && toks[5].kind == ')':
			want := strings.ToLower(toks[4].text)
			match = func(a *application) bool {
				s, _ := a.props["displayName"].(string)
				return strings.HasPrefix(strings.ToLower(s), want)
			}
		default:
			return c.badRequest("Unsupported query on applications: the sandbox supports appId eq, displayName eq, id eq and startswith(displayName,…).").withCode("Request_UnsupportedQuery")
		}
	}
	t.mu.RLock()
	vals := []any{}
	for _, a := range t.dir.apps {
		if match == nil || match(a) {
			vals = append(vals, appView(a))
		}
	}
	t.mu.RUnlock()
	return c.result(http.StatusOK, map[string]any{"@odata.context": c.base + "/" + c.version + "/$metadata#applications", "value": vals})
}

func (t *Tenant) createApp(c *call) *result {
	body, ok := decodeObject(c.body)
	if !ok {
		return c.malformed()
	}
	name, _ := body["displayName"].(string)
	if strings.TrimSpace(name) == "" {
		return c.badRequest("Property displayName value is required but is empty or missing.")
	}
	props := map[string]any{
		"keyCredentials": []any{}, "passwordCredentials": []any{}, "identifierUris": []any{},
		"tokenEncryptionKeyId": nil, "description": nil, "notes": nil, "signInAudience": "AzureADMyOrg",
	}
	props["id"] = newGUID()
	props["appId"] = newGUID()
	props["createdDateTime"] = t.now().UTC().Format(time.RFC3339)
	a := &application{props: props}
	t.mu.Lock()
	if res := t.applyAppProps(c, props, body); res != nil {
		t.mu.Unlock()
		return res
	}
	if t.dir.used() >= t.limits.Quota {
		t.mu.Unlock()
		return c.fail(http.StatusForbidden, "Directory_QuotaExceeded", "The directory object quota limit for the Tenant has been exceeded. Please ask your administrator to increase the quota limit or delete objects to reduce the used quota.")
	}
	t.dir.apps = append(t.dir.apps, a)
	out := appView(a)
	t.mu.Unlock()
	t.dirty.Store(true)
	out["@odata.context"] = c.base + "/" + c.version + "/$metadata#applications/$entity"
	return c.result(http.StatusCreated, out)
}

// appWritable are the application properties the sandbox lets clients set.
var appWritable = map[string]bool{
	"displayName": true, "description": true, "notes": true, "signInAudience": true, "identifierUris": true,
	"keyCredentials": true, "passwordCredentials": true, "tokenEncryptionKeyId": true, "api": true, "web": true,
	"spa": true, "publicClient": true, "requiredResourceAccess": true, "appRoles": true, "tags": true,
	"optionalClaims": true, "info": true, "isFallbackPublicClient": true, "groupMembershipClaims": true,
}

// applyAppProps validates body and copies it into props (which may be a copy of a stored object). The caller
// holds t.mu.
func (t *Tenant) applyAppProps(c *call, props, body map[string]any) *result {
	for k, v := range body {
		if strings.HasPrefix(k, "@odata.") {
			continue
		}
		if !appWritable[k] {
			if k == "id" || k == "appId" || k == "createdDateTime" {
				return c.badRequest("Property '" + k + "' is read-only and cannot be set.")
			}
			return c.badRequest("Property '" + k + "' does not exist as a declared property or extension property.")
		}
		if k == "identifierUris" {
			list, ok := v.([]any)
			if !ok {
				return c.badRequest("Invalid value specified for property 'identifierUris' of resource 'Application'.")
			}
			self, _ := props["id"].(string)
			for _, e := range list {
				s, _ := e.(string)
				u, err := url.Parse(s)
				if s == "" || err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") || strings.Contains(s, "*") {
					return c.badRequest("Invalid value specified for property 'identifierUris' of resource 'Application'.")
				}
				if other := t.dir.appByIdentifierURI(s); other != nil && !strings.EqualFold(other.id(), self) {
					return conflict(c, "identifierUris")
				}
			}
		}
		if k == "keyCredentials" {
			list, ok := v.([]any)
			if !ok {
				return c.badRequest("Invalid value specified for property 'keyCredentials' of resource 'Application'.")
			}
			// A credential sent without its key (as a list read returns it) keeps no certificate: Graph replaces
			// the whole collection with what it is sent, so a merge built from a list read wipes the keys.
			kept := make([]any, 0, len(list))
			for _, e := range list {
				if m, ok := e.(map[string]any); ok && m["key"] == nil {
					continue
				}
				kept = append(kept, e)
			}
			list = kept
			v = kept
			for _, e := range list {
				m, ok := e.(map[string]any)
				if !ok {
					return c.badRequest("Invalid value specified for property 'keyCredentials' of resource 'Application'.")
				}
				kid, _ := m["keyId"].(string)
				typ, _ := m["type"].(string)
				usage, _ := m["usage"].(string)
				key, _ := m["key"].(string)
				if !isGUID(kid) || (typ != "AsymmetricX509Cert" && typ != "X509CertAndPassword") ||
					(usage != "Verify" && usage != "Encrypt" && usage != "Sign") {
					return c.badRequest("Invalid value specified for property 'keyCredentials' of resource 'Application'.")
				}
				if _, err := base64.StdEncoding.DecodeString(key); key == "" || err != nil {
					return c.badRequest("Invalid value specified for property 'keyCredentials' of resource 'Application'.")
				}
			}
		}
		props[k] = v
	}
	if kid, ok := props["tokenEncryptionKeyId"].(string); ok && kid != "" {
		found := false
		list, _ := props["keyCredentials"].([]any)
		for _, e := range list {
			m := e.(map[string]any)
			if id, _ := m["keyId"].(string); strings.EqualFold(id, kid) && m["usage"] == "Encrypt" {
				found = true
			}
		}
		if !found {
			return c.badRequest("Property tokenEncryptionKeyId must reference the keyId of a keyCredential with usage Encrypt.")
		}
	}
	return nil
}

func (t *Tenant) patchApp(c *call, a *application) *result {
	body, ok := decodeObject(c.body)
	if !ok {
		return c.malformed()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	props := make(map[string]any, len(a.props))
	for k, v := range a.props {
		props[k] = v
	}
	if res := t.applyAppProps(c, props, body); res != nil {
		return res
	}
	a.props = props
	t.dirty.Store(true)
	return c.result(http.StatusNoContent, nil)
}

func (t *Tenant) createExtProp(c *call, a *application) *result {
	body, ok := decodeObject(c.body)
	if !ok {
		return c.malformed()
	}
	name, _ := body["name"].(string)
	dataType, _ := body["dataType"].(string)
	multi, _ := body["isMultiValued"].(bool)
	for k := range body {
		switch k {
		case "name", "dataType", "targetObjects", "isMultiValued", "@odata.type":
		default:
			return c.badRequest("Property '" + k + "' does not exist as a declared property or extension property.")
		}
	}
	if name == "" || len(name) > 120 || !validUserName(name) || strings.Contains(name, "-") {
		return c.badRequest("Invalid value specified for property 'name' of resource 'ExtensionProperty'.")
	}
	switch dataType {
	case "Binary", "Boolean", "DateTime", "Integer", "LargeInteger", "String":
	default:
		return c.badRequest("Invalid value specified for property 'dataType' of resource 'ExtensionProperty'.")
	}
	list, _ := body["targetObjects"].([]any)
	var targets []string
	for _, v := range list {
		s, _ := v.(string)
		switch s {
		case "User", "Group", "AdministrativeUnit", "Application", "Device", "Organization":
			targets = append(targets, s)
		default:
			return c.badRequest("Invalid value specified for property 'targetObjects' of resource 'ExtensionProperty'.")
		}
	}
	if len(targets) == 0 {
		return c.badRequest("Property targetObjects value is required but is empty or missing.")
	}
	full := "extension_" + strings.ReplaceAll(a.appID(), "-", "") + "_" + name
	e := &extProp{ID: newGUID(), Name: full, DataType: dataType, IsMultiValued: multi, TargetObjects: targets,
		AppObjectID: a.id()}
	e.AppName, _ = a.props["displayName"].(string)
	t.mu.Lock()
	if t.dir.extByLower[strings.ToLower(full)] != nil {
		t.mu.Unlock()
		return conflict(c, "name")
	}
	if len(t.dir.extByLower) >= 100 {
		t.mu.Unlock()
		return c.badRequest("The maximum number of extension properties (100) has been reached.")
	}
	t.dir.extByLower[strings.ToLower(full)] = e
	t.mu.Unlock()
	t.dirty.Store(true)
	out := e.json()
	out["@odata.context"] = c.base + "/" + c.version + "/$metadata#applications('" + a.id() + "')/extensionProperties/$entity"
	return c.result(http.StatusCreated, out)
}

func (t *Tenant) routeOrganization(c *call, seg []string) *result {
	if c.method != http.MethodGet {
		return c.methodNotAllowed()
	}
	if !c.claims.hasRole("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All") {
		return c.forbidden()
	}
	if len(seg) > 1 || (len(seg) == 1 && !strings.EqualFold(seg[0], t.cfg.TenantID)) {
		return c.notFound(strings.Join(seg, "/"))
	}
	t.mu.RLock()
	used := t.dir.used()
	t.mu.RUnlock()
	org := map[string]any{
		"id": t.cfg.TenantID, "displayName": "idshift sandbox", "tenantType": "CIAM",
		"createdDateTime": "2026-01-01T00:00:00Z", "countryLetterCode": "US",
		"verifiedDomains": []any{map[string]any{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": true,
			"isInitial": true, "name": t.cfg.Domain, "type": "Managed"}},
		"directorySizeQuota": map[string]any{"used": used, "total": t.limits.Quota},
	}
	if s := c.query.Get("$select"); s != "" {
		sel := map[string]any{}
		for _, p := range strings.Split(s, ",") {
			p = strings.TrimSpace(p)
			v, ok := org[p]
			if !ok {
				return c.fail(http.StatusBadRequest, "BadRequest", "Could not find a property named '"+p+"' on type 'microsoft.graph.organization'.")
			}
			sel[p] = v
		}
		org = sel
	}
	if len(seg) == 1 {
		org["@odata.context"] = c.base + "/" + c.version + "/$metadata#organization/$entity"
		return c.result(http.StatusOK, org)
	}
	return c.result(http.StatusOK, map[string]any{"@odata.context": c.base + "/" + c.version + "/$metadata#organization", "value": []any{org}})
}
