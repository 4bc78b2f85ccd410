package sandbox

import (
	"net/http"
	"strings"
	"time"
)

// ReceivePayloadRoleID is the id of the Microsoft Graph application permission (app role)
// CustomAuthenticationExtension.Receive.Payload, which the app of a custom authentication extension must hold
// (an appRoleAssignment of its service principal to Microsoft Graph's) for Entra to call the extension.
const ReceivePayloadRoleID = "214e810f-fda8-4fd7-a475-29461495eb00"

// graphSPObjectID is the object id of Microsoft Graph's service principal in every sandbox tenant.
var graphSPObjectID = servicePrincipalID(graphAppID)

// graphAppRoles are the Microsoft Graph app roles the sandbox knows (the ones idshift asks for).
var graphAppRoles = map[string]string{
	ReceivePayloadRoleID:                   "CustomAuthenticationExtension.Receive.Payload",
	"df021288-bdef-4463-88db-98f22de89214": "User.Read.All",
	"741f803b-c850-494e-b5df-cde7c675a1ca": "User.ReadWrite.All",
	"1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9": "Application.ReadWrite.All",
	"498476ce-e0fe-48b0-b801-37ba7e2685c6": "Organization.Read.All",
}

// servicePrincipal is a service principal with its app role assignments (as principal).
type servicePrincipal struct {
	Props       map[string]any   `json:"props"`
	Assignments []map[string]any `json:"appRoleAssignments"`
}

func (s *servicePrincipal) id() string    { v, _ := s.Props["id"].(string); return v }
func (s *servicePrincipal) appID() string { v, _ := s.Props["appId"].(string); return v }

func graphServicePrincipal() *servicePrincipal {
	var roles []any
	for id, name := range graphAppRoles {
		roles = append(roles, map[string]any{"id": id, "value": name, "allowedMemberTypes": []any{"Application"},
			"isEnabled": true, "displayName": name})
	}
	return &servicePrincipal{Props: map[string]any{
		"id": graphSPObjectID, "appId": graphAppID, "displayName": "Microsoft Graph",
		"servicePrincipalType": "Application", "appRoles": roles,
	}}
}

func (d *directory) spByID(id string) *servicePrincipal {
	for _, s := range d.sps {
		if strings.EqualFold(s.id(), id) {
			return s
		}
	}
	return nil
}

func (d *directory) spByAppID(appID string) *servicePrincipal {
	for _, s := range d.sps {
		if strings.EqualFold(s.appID(), appID) {
			return s
		}
	}
	return nil
}

// consented reports whether the service principal of appID holds CustomAuthenticationExtension.Receive.Payload.
func (d *directory) consented(appID string) bool {
	sp := d.spByAppID(appID)
	if sp == nil {
		return false
	}
	for _, a := range sp.Assignments {
		if strings.EqualFold(str(a["appRoleId"]), ReceivePayloadRoleID) && strings.EqualFold(str(a["resourceId"]), graphSPObjectID) {
			return true
		}
	}
	return false
}

func str(v any) string { s, _ := v.(string); return s }

// routeServicePrincipals serves GET/POST /servicePrincipals (list with $filter=appId eq '…'), GET
// /servicePrincipals/{id}, and GET/POST/DELETE /servicePrincipals/{id}/appRoleAssignments[/{id}]: enough to
// create an application's service principal and grant it a Microsoft Graph application permission (admin
// consent). Service principals do not count against the directory quota here.
func (t *Tenant) routeServicePrincipals(c *call, seg []string) *result {
	read := c.claims.hasRole("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
	write := c.claims.hasRole("Application.ReadWrite.All", "Directory.ReadWrite.All")
	grant := c.claims.hasRole("AppRoleAssignment.ReadWrite.All")
	ctxURL := c.base + "/" + c.version + "/$metadata#servicePrincipals"
	if len(seg) == 0 {
		switch c.method {
		case http.MethodGet:
			if !read {
				return c.forbidden()
			}
			var match func(*servicePrincipal) bool
			if s := c.query.Get("$filter"); s != "" {
				toks, ferr := lexFilter(s)
				if ferr != nil {
					return c.fail(http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+ferr.msg)
				}
				if len(toks) != 3 || toks[0].text != "appId" || !strings.EqualFold(toks[1].text, "eq") || toks[2].kind != 's' {
					return c.badRequest("Unsupported query on servicePrincipals: the sandbox supports appId eq.").withCode("Request_UnsupportedQuery")
				}
				want := toks[2].text
				match = func(s *servicePrincipal) bool { return strings.EqualFold(s.appID(), want) }
			}
			t.mu.RLock()
			vals := []any{}
			for _, s := range t.dir.sps {
				if match == nil || match(s) {
					vals = append(vals, s.Props)
				}
			}
			t.mu.RUnlock()
			return c.result(http.StatusOK, map[string]any{"@odata.context": ctxURL, "value": vals})
		case http.MethodPost:
			if !write {
				return c.forbidden()
			}
			body, ok := decodeObject(c.body)
			if !ok {
				return c.malformed()
			}
			appID := str(body["appId"])
			t.mu.Lock()
			defer t.mu.Unlock()
			var app *application
			for _, a := range t.dir.apps {
				if strings.EqualFold(a.appID(), appID) {
					app = a
				}
			}
			if app == nil {
				return c.badRequest("The appId '" + appID + "' of the service principal does not reference a valid application object.")
			}
			if t.dir.spByAppID(appID) != nil {
				return conflict(c, "appId")
			}
			sp := &servicePrincipal{Props: map[string]any{
				"id": newGUID(), "appId": app.appID(), "displayName": app.props["displayName"],
				"servicePrincipalType": "Application", "appRoles": []any{},
				"createdDateTime": t.now().UTC().Format(time.RFC3339),
			}}
			t.dir.sps = append(t.dir.sps, sp)
			t.dirty.Store(true)
			out := map[string]any{"@odata.context": ctxURL + "/$entity"}
			for k, v := range sp.Props {
				out[k] = v
			}
			return c.result(http.StatusCreated, out)
		}
		return c.methodNotAllowed()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	sp := t.dir.spByID(seg[0])
	if sp == nil {
		return c.notFound(seg[0])
	}
	switch {
	case len(seg) == 1 && c.method == http.MethodGet:
		if !read {
			return c.forbidden()
		}
		out := map[string]any{"@odata.context": ctxURL + "/$entity"}
		for k, v := range sp.Props {
			out[k] = v
		}
		return c.result(http.StatusOK, out)
	case len(seg) == 1:
		return c.methodNotAllowed()
	case seg[1] != "appRoleAssignments":
		return c.fail(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg[1]+"'.")
	case len(seg) == 2 && c.method == http.MethodGet:
		if !read {
			return c.forbidden()
		}
		vals := make([]any, 0, len(sp.Assignments))
		for _, a := range sp.Assignments {
			vals = append(vals, a)
		}
		return c.result(http.StatusOK, map[string]any{"@odata.context": ctxURL + "('" + sp.id() + "')/appRoleAssignments", "value": vals})
	case len(seg) == 2 && c.method == http.MethodPost:
		if !grant {
			return c.forbidden()
		}
		body, ok := decodeObject(c.body)
		if !ok {
			return c.malformed()
		}
		if !strings.EqualFold(str(body["principalId"]), sp.id()) {
			return c.badRequest("Invalid value specified for property 'principalId' of resource 'AppRoleAssignment'.")
		}
		res := t.dir.spByID(str(body["resourceId"]))
		if res == nil {
			return c.badRequest("Invalid value specified for property 'resourceId' of resource 'AppRoleAssignment'.")
		}
		roleID := str(body["appRoleId"])
		var role map[string]any
		roles, _ := res.Props["appRoles"].([]any)
		for _, r := range roles {
			m, _ := r.(map[string]any)
			if strings.EqualFold(str(m["id"]), roleID) {
				role = m
			}
		}
		if role == nil {
			return c.badRequest("Permission being assigned was not found on application '" + res.appID() + "'.")
		}
		for _, a := range sp.Assignments {
			if strings.EqualFold(str(a["appRoleId"]), roleID) && strings.EqualFold(str(a["resourceId"]), res.id()) {
				return c.badRequest("Permission being assigned already exists on the object")
			}
		}
		a := map[string]any{
			"id": newGUID(), "appRoleId": strings.ToLower(roleID), "principalId": sp.id(),
			"principalDisplayName": sp.Props["displayName"], "principalType": "ServicePrincipal",
			"resourceId": res.id(), "resourceDisplayName": res.Props["displayName"],
			"createdDateTime": t.now().UTC().Format(time.RFC3339), "deletedDateTime": nil,
		}
		sp.Assignments = append(sp.Assignments[:len(sp.Assignments):len(sp.Assignments)], a)
		t.dirty.Store(true)
		out := map[string]any{"@odata.context": ctxURL + "('" + sp.id() + "')/appRoleAssignments/$entity"}
		for k, v := range a {
			out[k] = v
		}
		return c.result(http.StatusCreated, out)
	case len(seg) == 3 && c.method == http.MethodDelete:
		if !grant {
			return c.forbidden()
		}
		for i, a := range sp.Assignments {
			if strings.EqualFold(str(a["id"]), seg[2]) {
				sp.Assignments = append(sp.Assignments[:i:i], sp.Assignments[i+1:]...)
				t.dirty.Store(true)
				return c.result(http.StatusNoContent, nil)
			}
		}
		return c.notFound(seg[2])
	}
	return c.methodNotAllowed()
}
