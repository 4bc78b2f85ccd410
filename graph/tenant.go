package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// GraphAppID is the appId of Microsoft Graph (the resource of its application permissions).
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// ReceivePayloadRoleID is the id of Microsoft Graph's application permission
// CustomAuthenticationExtension.Receive.Payload, which the app of a custom authentication extension needs, with
// admin consent, for Entra to call the extension (error 1003021 otherwise).
const ReceivePayloadRoleID = "214e810f-fda8-4fd7-a475-29461495eb00"

// GetApplication reads one application by object id, with only the properties named in sel (all of them when
// sel is empty). Only this read returns keyCredentials[].key, and only when sel names keyCredentials.
func (c *Client) GetApplication(ctx context.Context, objectID string, sel ...string) (*Application, error) {
	if objectID == "" {
		return nil, &Error{Op: "GET /v1.0/applications", Kind: KindInvalid, Message: "empty object id"}
	}
	var a Application
	if err := c.getJSON(ctx, "/v1.0/applications/"+url.PathEscape(objectID)+query("$select", strings.Join(sel, ",")), &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// GetApplicationKeys returns an application's keyCredentials with their key material (a GET of that one
// application with $select=keyCredentials, the only read Graph answers with keys). A credential that still comes
// back without a key matches ErrInvalid: PATCHing the collection built from it would wipe that certificate.
func (c *Client) GetApplicationKeys(ctx context.Context, objectID string) ([]KeyCredential, error) {
	a, err := c.GetApplication(ctx, objectID, "keyCredentials")
	if err != nil {
		return nil, err
	}
	for _, k := range a.KeyCredentials {
		if len(k.Key) == 0 {
			return nil, &Error{Op: "GET /v1.0/applications/" + objectID, Kind: KindInvalid,
				Message: "keyCredential " + k.KeyID + " came back without its key: refusing to build a keyCredentials update from it"}
		}
	}
	return a.KeyCredentials, nil
}

// CreateApplication creates an app registration (POST /v1.0/applications) from body (displayName required). A
// POST: an answer lost after sending matches ErrUnknownOutcome (look the application up by name before trying
// again).
func (c *Client) CreateApplication(ctx context.Context, body map[string]any) (*Application, error) {
	var out Application
	if err := c.post(ctx, "/v1.0/applications", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateCustomAuthenticationExtension patches a custom authentication extension (beta). Top-level properties
// are replaced, complex ones whole; send @odata.type with a derived type's properties. Safe to retry.
func (c *Client) UpdateCustomAuthenticationExtension(ctx context.Context, id string, patch Object) error {
	return c.patchObject(ctx, customExtensionsPath, id, patch)
}

// UpdateAuthenticationEventListener patches an authentication event listener (beta), like
// UpdateCustomAuthenticationExtension. Safe to retry.
func (c *Client) UpdateAuthenticationEventListener(ctx context.Context, id string, patch Object) error {
	return c.patchObject(ctx, listenersPath, id, patch)
}

func (c *Client) patchObject(ctx context.Context, base, id string, patch Object) error {
	op := "PATCH " + base
	if id == "" {
		return &Error{Op: op, Kind: KindInvalid, Message: "empty id"}
	}
	b, err := marshal(op, patch)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &call{method: http.MethodPatch, path: base + "/" + url.PathEscape(id), body: b, writes: 1, safe: true})
	return err
}

// ServicePrincipal is an application's service principal (its instance in the tenant), with its app roles when
// it is a resource such as Microsoft Graph.
type ServicePrincipal struct {
	ID          string    `json:"id"`
	AppID       string    `json:"appId"`
	DisplayName string    `json:"displayName"`
	AppRoles    []AppRole `json:"appRoles,omitempty"`
}

// AppRole is an application permission a resource offers.
type AppRole struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

// AppRoleAssignment grants the app role AppRoleID of the resource service principal ResourceID to the service
// principal PrincipalID (for an application permission: admin consent).
type AppRoleAssignment struct {
	ID          string `json:"id,omitempty"`
	PrincipalID string `json:"principalId"`
	ResourceID  string `json:"resourceId"`
	AppRoleID   string `json:"appRoleId"`
}

// FindServicePrincipal returns the service principal of the application appID; none matches ErrNotFound.
func (c *Client) FindServicePrincipal(ctx context.Context, appID string) (*ServicePrincipal, error) {
	path := "/v1.0/servicePrincipals" + query("$filter", "appId eq "+Quote(appID))
	var out []ServicePrincipal
	err := c.pages(ctx, path, func(raw json.RawMessage) error {
		var s ServicePrincipal
		if err := json.Unmarshal(raw, &s); err != nil {
			return &Error{Op: "GET /v1.0/servicePrincipals", Kind: KindOther, Err: err}
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, &Error{Op: "GET /v1.0/servicePrincipals", Kind: KindNotFound, Message: "no service principal for appId " + appID}
	}
	return &out[0], nil
}

// CreateServicePrincipal creates the service principal of the application appID (POST /v1.0/servicePrincipals).
// One that exists already matches ErrConflict; a lost answer ErrUnknownOutcome (look it up before trying again).
func (c *Client) CreateServicePrincipal(ctx context.Context, appID string) (*ServicePrincipal, error) {
	var out ServicePrincipal
	if err := c.post(ctx, "/v1.0/servicePrincipals", map[string]any{"appId": appID}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAppRoleAssignments lists the app roles granted to the service principal spID.
func (c *Client) ListAppRoleAssignments(ctx context.Context, spID string) ([]AppRoleAssignment, error) {
	path := "/v1.0/servicePrincipals/" + url.PathEscape(spID) + "/appRoleAssignments"
	var out []AppRoleAssignment
	err := c.pages(ctx, path, func(raw json.RawMessage) error {
		var a AppRoleAssignment
		if err := json.Unmarshal(raw, &a); err != nil {
			return &Error{Op: "GET " + path, Kind: KindOther, Err: err}
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// CreateAppRoleAssignment grants an app role to a service principal (POST
// /v1.0/servicePrincipals/{principalId}/appRoleAssignments; needs AppRoleAssignment.ReadWrite.All). A POST: a
// lost answer matches ErrUnknownOutcome (list the assignments before trying again).
func (c *Client) CreateAppRoleAssignment(ctx context.Context, a AppRoleAssignment) (*AppRoleAssignment, error) {
	if a.PrincipalID == "" || a.ResourceID == "" || a.AppRoleID == "" {
		return nil, &Error{Op: "POST appRoleAssignments", Kind: KindInvalid, Message: "principalId, resourceId and appRoleId are required"}
	}
	var out AppRoleAssignment
	path := "/v1.0/servicePrincipals/" + url.PathEscape(a.PrincipalID) + "/appRoleAssignments"
	if err := c.post(ctx, path, map[string]any{"principalId": a.PrincipalID, "resourceId": a.ResourceID, "appRoleId": a.AppRoleID}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
