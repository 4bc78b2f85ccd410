package sandbox

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Entra's error codes for a misconfigured custom authentication extension (docs/contracts.md §1.8). The sandbox's
// Graph refuses a custom extension that would fail with one of the first three; the others are found when a
// sign-in resolves the configuration (PasswordSubmitConfig.ErrorCode).
const (
	// ErrCodeResourceIDFormat (CustomExtensionIncorrectResourceIdFormat): the resourceId is not
	// api://{fully qualified domain name}/{appId} of an application of the tenant.
	ErrCodeResourceIDFormat = 1003014
	// ErrCodeDomainMismatch (CustomExtensionDomainNameDoesNotMatch): targetUrl and resourceId are not on the same
	// fully qualified domain name.
	ErrCodeDomainMismatch = 1003015
	// ErrCodeTargetURLFormat (CustomExtensionIncorrectTargetUrlFormat): targetUrl is not a valid https URL.
	ErrCodeTargetURLFormat = 1003020
	// ErrCodePermissionNotGranted (CustomExtensionPermissionNotGrantedToServicePrincipal): the extension's app
	// has no service principal holding CustomAuthenticationExtension.Receive.Payload.
	ErrCodePermissionNotGranted = 1003021
)

// Type names of the OnPasswordSubmit configuration.
const (
	passwordSubmitExtensionType = "#microsoft.graph.onPasswordSubmitCustomExtension"
	passwordSubmitListenerType  = "#microsoft.graph.onPasswordSubmitListener"
	passwordMigrationHandler    = "#microsoft.graph.onPasswordMigrationCustomExtensionHandler"
)

// PasswordSubmitConfig is one onPasswordSubmitListener as Entra resolves it at a password sign-in: the listener,
// its custom extension, and the extension's application (the one whose identifierUris hold the extension's
// resourceId) with its token encryption certificate. Fields that could not be resolved are zero, and
// ErrorCode/Problem say why a sign-in through this listener fails.
type PasswordSubmitConfig struct {
	ListenerID string
	// Priority is the listener's priority (lower runs first).
	Priority int
	// AllApplications is conditions.applications.includeAllApplications; ApplicationIDs the included client
	// app ids (lower-case).
	AllApplications bool
	ApplicationIDs  []string
	// MigrationPropertyID is the handler's full extension attribute name (extension_{appIdNoDashes}_{name}).
	MigrationPropertyID string

	// The custom extension: its id, targetUrl, the resourceId (audience of the bearer token Entra sends),
	// timeout (default 1s) and retries (0 or 1).
	ExtensionID string
	TargetURL   string
	ResourceID  string
	Timeout     time.Duration
	MaxRetries  int

	// AppID is the appId of the application whose identifierUris hold ResourceID ("" when none does).
	AppID string
	// EncryptionKeyID is that application's tokenEncryptionKeyId; EncryptionCert the certificate of the
	// keyCredential it names (nil when there is none or it does not parse).
	EncryptionKeyID string
	EncryptionCert  *x509.Certificate
	// Consented reports that the application's service principal holds the Microsoft Graph app role
	// CustomAuthenticationExtension.Receive.Payload (admin consent).
	Consented bool

	// ErrorCode is the Entra error code a sign-in through this listener fails with (ErrCode…), 0 when the
	// configuration is usable or its failure has no documented code; Problem describes the failure ("" when
	// the configuration is usable).
	ErrorCode int
	Problem   string
}

// Usable reports whether a sign-in through the listener can call its extension.
func (p PasswordSubmitConfig) Usable() bool { return p.Problem == "" }

// AppliesTo reports whether the listener runs for sign-ins to the client application appID.
func (p PasswordSubmitConfig) AppliesTo(appID string) bool {
	if p.AllApplications {
		return true
	}
	for _, a := range p.ApplicationIDs {
		if strings.EqualFold(a, appID) {
			return true
		}
	}
	return false
}

// PasswordSubmitListeners returns the tenant's onPasswordSubmitListeners resolved as a sign-in resolves them,
// by priority (then creation order). It is safe to call concurrently with Graph requests; the values are
// copies.
func (t *Tenant) PasswordSubmitListeners() []PasswordSubmitConfig {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []PasswordSubmitConfig
	for _, l := range t.dir.listeners {
		if l["@odata.type"] != passwordSubmitListenerType {
			continue
		}
		out = append(out, t.dir.resolveListener(l))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority < out[j].Priority })
	return out
}

// PasswordSubmitListenerFor returns the first listener (by priority) that applies to sign-ins to the client
// application appID, and false when none does.
func (t *Tenant) PasswordSubmitListenerFor(appID string) (PasswordSubmitConfig, bool) {
	for _, p := range t.PasswordSubmitListeners() {
		if p.AppliesTo(appID) {
			return p, true
		}
	}
	return PasswordSubmitConfig{}, false
}

// resolveListener resolves one listener. The caller holds t.mu.
func (d *directory) resolveListener(l map[string]any) PasswordSubmitConfig {
	p := PasswordSubmitConfig{Timeout: time.Second}
	p.ListenerID, _ = l["id"].(string)
	if n, ok := jsonInt(l["priority"], 32); ok {
		p.Priority = int(n)
	}
	cond, _ := l["conditions"].(map[string]any)
	apps, _ := cond["applications"].(map[string]any)
	p.AllApplications, _ = apps["includeAllApplications"].(bool)
	list, _ := apps["includeApplications"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		if s, _ := m["appId"].(string); s != "" {
			p.ApplicationIDs = append(p.ApplicationIDs, strings.ToLower(s))
		}
	}
	h, _ := l["handler"].(map[string]any)
	p.MigrationPropertyID, _ = h["migrationPropertyId"].(string)
	ce, _ := h["customExtension"].(map[string]any)
	p.ExtensionID, _ = ce["id"].(string)
	fail := func(code int, problem string) PasswordSubmitConfig {
		if p.Problem == "" {
			p.ErrorCode, p.Problem = code, problem
		}
		return p
	}
	if e := d.extensionProperty(p.MigrationPropertyID); e == nil || e.DataType != "Boolean" {
		fail(0, "the handler's migrationPropertyId "+p.MigrationPropertyID+" is not a Boolean extension attribute of the tenant")
	}
	var ext map[string]any
	for _, x := range d.customExts {
		if id, _ := x["id"].(string); strings.EqualFold(id, p.ExtensionID) {
			ext = x
		}
	}
	if ext == nil {
		return fail(0, "the listener's custom extension "+p.ExtensionID+" does not exist")
	}
	ep, _ := ext["endpointConfiguration"].(map[string]any)
	p.TargetURL, _ = ep["targetUrl"].(string)
	ac, _ := ext["authenticationConfiguration"].(map[string]any)
	p.ResourceID, _ = ac["resourceId"].(string)
	cc, _ := ext["clientConfiguration"].(map[string]any)
	if n, ok := jsonInt(cc["timeoutInMilliseconds"], 32); ok {
		p.Timeout = time.Duration(n) * time.Millisecond
	}
	if n, ok := jsonInt(cc["maximumRetries"], 32); ok {
		p.MaxRetries = int(n)
	}
	if code, msg := checkEndpoint(p.TargetURL, p.ResourceID); code != 0 {
		return fail(code, msg)
	}
	a := d.appByIdentifierURI(p.ResourceID)
	if a == nil {
		return fail(ErrCodeResourceIDFormat, "no application of the tenant has the identifier URI "+p.ResourceID)
	}
	p.AppID = a.appID()
	if !strings.HasSuffix(strings.ToLower(p.ResourceID), "/"+strings.ToLower(p.AppID)) {
		fail(ErrCodeResourceIDFormat, "the resourceId "+p.ResourceID+" does not end with the appId of its application")
	}
	p.EncryptionKeyID, _ = a.props["tokenEncryptionKeyId"].(string)
	keys, _ := a.props["keyCredentials"].([]any)
	for _, k := range keys {
		m, _ := k.(map[string]any)
		if id, _ := m["keyId"].(string); p.EncryptionKeyID != "" && strings.EqualFold(id, p.EncryptionKeyID) {
			s, _ := m["key"].(string)
			if der, err := base64.StdEncoding.DecodeString(s); err == nil {
				p.EncryptionCert, _ = x509.ParseCertificate(der)
			}
		}
	}
	p.Consented = d.consented(p.AppID)
	if !p.Consented {
		fail(ErrCodePermissionNotGranted, "the service principal of application "+p.AppID+" does not hold CustomAuthenticationExtension.Receive.Payload")
	}
	if p.EncryptionCert == nil {
		fail(0, "application "+p.AppID+" has no token encryption certificate (tokenEncryptionKeyId naming a keyCredential with a certificate)")
	}
	return p
}

func (d *directory) extensionProperty(name string) *extProp {
	if name == "" {
		return nil
	}
	return d.extByLower[strings.ToLower(name)]
}

// appByIdentifierURI returns the application whose identifierUris hold uri, or nil.
func (d *directory) appByIdentifierURI(uri string) *application {
	if uri == "" {
		return nil
	}
	for _, a := range d.apps {
		list, _ := a.props["identifierUris"].([]any)
		for _, u := range list {
			if s, _ := u.(string); strings.EqualFold(s, uri) {
				return a
			}
		}
	}
	return nil
}

// checkEndpoint applies Entra's checks to a custom extension's targetUrl and resourceId. It returns the Entra
// error code and message, or 0.
func checkEndpoint(targetURL, resourceID string) (int, string) {
	u, err := url.Parse(targetURL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
		return ErrCodeTargetURLFormat, "CustomExtensionIncorrectTargetUrlFormat: the targetUrl must be a valid URL that starts with https"
	}
	host, ok := resourceHost(resourceID)
	if !ok {
		return ErrCodeResourceIDFormat, "CustomExtensionIncorrectResourceIdFormat: the resourceId must be api://{fully qualified domain name}/{appId}"
	}
	if !strings.EqualFold(host, u.Hostname()) {
		return ErrCodeDomainMismatch, "CustomExtensionDomainNameDoesNotMatch: the targetUrl and resourceId of the custom extension should have the same fully qualified domain name"
	}
	return 0, ""
}

// resourceHost returns the host of a resourceId of the form api://{host}/{appId}.
func resourceHost(resourceID string) (string, bool) {
	rest, ok := strings.CutPrefix(resourceID, "api://")
	if !ok {
		return "", false
	}
	host, appID, ok := strings.Cut(rest, "/")
	if !ok || host == "" || !isGUID(appID) || strings.ContainsAny(host, ":@?#") || !strings.Contains(host, ".") {
		return "", false
	}
	return host, true
}

// routeIdentity serves customAuthenticationExtensions and authenticationEventListeners (beta): create, list, get,
// PATCH (top-level properties replaced, complex values whole, as Graph does) and delete. An
// onPasswordSubmitCustomExtension is validated as Entra validates it (https targetUrl, resourceId
// api://{host}/{appId} on the target's host, timeout 200–2000 ms, 0 or 1 retry); an onPasswordSubmitListener
// must name an existing onPasswordSubmitCustomExtension through an onPasswordMigrationCustomExtensionHandler.
func (t *Tenant) routeIdentity(c *call, kind string, seg []string) *result {
	var readRoles, writeRoles []string
	var store *[]map[string]any
	var wantType string
	if kind == "customAuthenticationExtensions" {
		readRoles = []string{"CustomAuthenticationExtension.Read.All", "CustomAuthenticationExtension.ReadWrite.All"}
		writeRoles = []string{"CustomAuthenticationExtension.ReadWrite.All"}
		store = &t.dir.customExts
		wantType = "CustomExtension"
	} else {
		// EventListener.* is what Graph asks for; CustomAuthenticationExtension.ReadWrite.All is accepted as well
		// so the default app can configure the whole flow.
		readRoles = []string{"EventListener.Read.All", "EventListener.ReadWrite.All", "CustomAuthenticationExtension.ReadWrite.All"}
		writeRoles = []string{"EventListener.ReadWrite.All", "CustomAuthenticationExtension.ReadWrite.All"}
		store = &t.dir.listeners
		wantType = "Listener"
	}
	ctxURL := c.base + "/" + c.version + "/$metadata#identity/" + kind
	validate := func(body map[string]any) *result {
		if kind == "customAuthenticationExtensions" {
			return t.checkCustomExtension(c, body)
		}
		return t.checkListener(c, body)
	}
	switch {
	case len(seg) == 0 && c.method == http.MethodGet:
		if !c.claims.hasRole(readRoles...) {
			return c.forbidden()
		}
		t.mu.RLock()
		vals := make([]any, 0, len(*store))
		for _, m := range *store {
			vals = append(vals, m)
		}
		t.mu.RUnlock()
		return c.result(http.StatusOK, map[string]any{"@odata.context": ctxURL, "value": vals})
	case len(seg) == 0 && c.method == http.MethodPost:
		if !c.claims.hasRole(writeRoles...) {
			return c.forbidden()
		}
		body, ok := decodeObject(c.body)
		if !ok {
			return c.malformed()
		}
		typ, _ := body["@odata.type"].(string)
		if !strings.HasPrefix(typ, "#microsoft.graph.") || !strings.HasSuffix(typ, wantType) {
			return c.fail(http.StatusBadRequest, "BadRequest", "The '@odata.type' property is missing or is not a "+wantType+" type.")
		}
		if _, ok := body["id"]; ok {
			return c.badRequest("Property 'id' is read-only and cannot be set.")
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if res := validate(body); res != nil {
			return res
		}
		body["id"] = newGUID()
		*store = append(*store, body)
		t.dirty.Store(true)
		out := map[string]any{"@odata.context": ctxURL + "/$entity"}
		for k, v := range body {
			out[k] = v
		}
		return c.result(http.StatusCreated, out)
	case len(seg) == 1 && (c.method == http.MethodGet || c.method == http.MethodDelete || c.method == http.MethodPatch):
		roles := readRoles
		if c.method != http.MethodGet {
			roles = writeRoles
		}
		if !c.claims.hasRole(roles...) {
			return c.forbidden()
		}
		var patch map[string]any
		if c.method == http.MethodPatch {
			var ok bool
			if patch, ok = decodeObject(c.body); !ok {
				return c.malformed()
			}
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		for i, m := range *store {
			if id, _ := m["id"].(string); !strings.EqualFold(id, seg[0]) {
				continue
			}
			switch c.method {
			case http.MethodDelete:
				*store = append((*store)[:i:i], (*store)[i+1:]...)
				t.dirty.Store(true)
				return c.result(http.StatusNoContent, nil)
			case http.MethodPatch:
				merged := make(map[string]any, len(m)+len(patch))
				for k, v := range m {
					merged[k] = v
				}
				for k, v := range patch {
					switch {
					case k == "id":
						return c.badRequest("Property 'id' is read-only and cannot be set.")
					case k == "@odata.type" && v != m["@odata.type"]:
						return c.badRequest("The type of an existing " + wantType + " cannot be changed.")
					}
					merged[k] = v
				}
				if res := validate(merged); res != nil {
					return res
				}
				(*store)[i] = merged // stored maps are replaced, never modified in place
				t.dirty.Store(true)
				return c.result(http.StatusNoContent, nil)
			}
			out := map[string]any{"@odata.context": ctxURL + "/$entity"}
			for k, v := range m {
				out[k] = v
			}
			return c.result(http.StatusOK, out)
		}
		return c.notFound(seg[0])
	case len(seg) <= 1:
		return c.methodNotAllowed()
	}
	return c.fail(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg[1]+"'.")
}

// checkCustomExtension validates a custom authentication extension. The caller holds t.mu.
func (t *Tenant) checkCustomExtension(c *call, body map[string]any) *result {
	if s, _ := body["displayName"].(string); strings.TrimSpace(s) == "" {
		return c.badRequest("Property displayName value is required but is empty or missing.")
	}
	ep, _ := body["endpointConfiguration"].(map[string]any)
	target, _ := ep["targetUrl"].(string)
	if u, err := url.Parse(target); err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return c.badRequest("Invalid value specified for property 'endpointConfiguration' of resource 'CustomAuthenticationExtension': targetUrl must be an https URL.")
	}
	if body["@odata.type"] != passwordSubmitExtensionType {
		return nil
	}
	ac, _ := body["authenticationConfiguration"].(map[string]any)
	if ac["@odata.type"] != "#microsoft.graph.azureAdTokenAuthentication" {
		return c.badRequest("Invalid value specified for property 'authenticationConfiguration' of resource 'CustomAuthenticationExtension': an azureAdTokenAuthentication is required.")
	}
	resourceID, _ := ac["resourceId"].(string)
	if code, msg := checkEndpoint(target, resourceID); code != 0 {
		return c.fail(http.StatusBadRequest, "invalidRequest", msg+" ("+itoa(code)+").")
	}
	if cc, ok := body["clientConfiguration"]; ok && cc != nil {
		m, ok := cc.(map[string]any)
		if !ok {
			return c.badRequest("Invalid value specified for property 'clientConfiguration' of resource 'CustomAuthenticationExtension'.")
		}
		if v, ok := m["timeoutInMilliseconds"]; ok && v != nil {
			if n, ok := jsonInt(v, 32); !ok || n < 200 || n > 2000 {
				return c.badRequest("Invalid value specified for property 'timeoutInMilliseconds': the valid range is 200 to 2000 milliseconds.")
			}
		}
		if v, ok := m["maximumRetries"]; ok && v != nil {
			if n, ok := jsonInt(v, 32); !ok || n < 0 || n > 1 {
				return c.badRequest("Invalid value specified for property 'maximumRetries': the valid values are 0 and 1.")
			}
		}
	}
	return nil
}

// checkListener validates an authentication event listener. The caller holds t.mu.
func (t *Tenant) checkListener(c *call, body map[string]any) *result {
	if body["@odata.type"] != passwordSubmitListenerType {
		return nil
	}
	h, _ := body["handler"].(map[string]any)
	if h["@odata.type"] != passwordMigrationHandler {
		return c.badRequest("Invalid value specified for property 'handler' of resource 'OnPasswordSubmitListener': an onPasswordMigrationCustomExtensionHandler is required.")
	}
	if s, _ := h["migrationPropertyId"].(string); s == "" {
		return c.badRequest("Property migrationPropertyId value is required but is empty or missing.")
	}
	ce, _ := h["customExtension"].(map[string]any)
	id, _ := ce["id"].(string)
	found := false
	for _, x := range t.dir.customExts {
		if xid, _ := x["id"].(string); strings.EqualFold(xid, id) && x["@odata.type"] == passwordSubmitExtensionType {
			found = true
		}
	}
	if !found {
		return c.badRequest("Invalid value specified for property 'customExtension' of resource 'OnPasswordMigrationCustomExtensionHandler': no onPasswordSubmitCustomExtension with id '" + id + "'.")
	}
	if v, ok := body["priority"]; ok && v != nil {
		if _, ok := jsonInt(v, 32); !ok {
			return c.badRequest("Invalid value specified for property 'priority' of resource 'AuthenticationEventListener'.")
		}
	}
	if cond, ok := body["conditions"]; ok && cond != nil {
		m, _ := cond.(map[string]any)
		apps, _ := m["applications"].(map[string]any)
		if m == nil || (m["applications"] != nil && apps == nil) {
			return c.badRequest("Invalid value specified for property 'conditions' of resource 'AuthenticationEventListener'.")
		}
		list, _ := apps["includeApplications"].([]any)
		for _, e := range list {
			a, _ := e.(map[string]any)
			if s, _ := a["appId"].(string); !isGUID(s) {
				return c.badRequest("Invalid value specified for property 'includeApplications' of resource 'AuthenticationConditionsApplications'.")
			}
		}
	}
	return nil
}
