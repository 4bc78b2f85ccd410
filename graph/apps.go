package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// ExtensionProperty is a directory extension definition (an extension attribute of the app that owns it). On
// create, Name is the short name ("requiresMigration"); Graph answers with the full name
// ("extension_{appIdNoDashes}_requiresMigration"). DataType is Boolean, Integer, String, DateTime, Binary, ...
type ExtensionProperty struct {
	ID                     string   `json:"id,omitempty"`
	Name                   string   `json:"name"`
	DataType               string   `json:"dataType"`
	TargetObjects          []string `json:"targetObjects"`
	IsMultiValued          bool     `json:"isMultiValued,omitempty"`
	AppDisplayName         string   `json:"appDisplayName,omitempty"`
	IsSyncedFromOnPremises bool     `json:"isSyncedFromOnPremises,omitempty"`
}

// Application is an app registration, with the properties idshift uses.
type Application struct {
	ID                     string                   `json:"id"`
	AppID                  string                   `json:"appId"`
	DisplayName            string                   `json:"displayName"`
	IdentifierURIs         []string                 `json:"identifierUris,omitempty"`
	KeyCredentials         []KeyCredential          `json:"keyCredentials,omitempty"`
	TokenEncryptionKeyID   string                   `json:"tokenEncryptionKeyId,omitempty"`
	RequiredResourceAccess []RequiredResourceAccess `json:"requiredResourceAccess,omitempty"`
}

// KeyCredential is a certificate of an application. For token encryption: Type "AsymmetricX509Cert", Usage
// "Encrypt", Key the DER certificate (base64 in JSON), and the same KeyID as Application.TokenEncryptionKeyID.
//
// Graph returns Key only when one application is read with $select=keyCredentials (GetApplication); every other
// read gives a null key. PATCHing keyCredentials replaces the whole collection, so a collection built from any
// other read would wipe the certificates: see GetApplicationKeys.
type KeyCredential struct {
	KeyID               string     `json:"keyId,omitempty"`
	Type                string     `json:"type"`
	Usage               string     `json:"usage"`
	Key                 []byte     `json:"key,omitempty"`
	CustomKeyIdentifier []byte     `json:"customKeyIdentifier,omitempty"`
	DisplayName         string     `json:"displayName,omitempty"`
	StartDateTime       *time.Time `json:"startDateTime,omitempty"`
	EndDateTime         *time.Time `json:"endDateTime,omitempty"`
}

// RequiredResourceAccess is a permission an application asks for (requiredResourceAccess): the resource's appId
// (Microsoft Graph: GraphAppID) and its app roles ("Role") or scopes ("Scope") by id.
type RequiredResourceAccess struct {
	ResourceAppID  string           `json:"resourceAppId"`
	ResourceAccess []ResourceAccess `json:"resourceAccess"`
}

// ResourceAccess is one permission of a RequiredResourceAccess.
type ResourceAccess struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// CreateExtensionProperty defines an extension attribute on the application whose object id is given
// (POST /v1.0/applications/{id}/extensionProperties); for External ID and B2C, that of the b2c-extensions-app.
// TargetObjects defaults to ["User"]. A POST: an answer lost after sending matches ErrUnknownOutcome (list the
// properties before trying again); an existing name matches ErrConflict.
func (c *Client) CreateExtensionProperty(ctx context.Context, appObjectID string, p ExtensionProperty) (*ExtensionProperty, error) {
	path := "/v1.0/applications/" + url.PathEscape(appObjectID) + "/extensionProperties"
	if appObjectID == "" || p.Name == "" || p.DataType == "" {
		return nil, &Error{Op: "POST " + path, Kind: KindInvalid, Message: "application object id, name and dataType are required"}
	}
	if len(p.TargetObjects) == 0 {
		p.TargetObjects = []string{"User"}
	}
	body := map[string]any{"name": p.Name, "dataType": p.DataType, "targetObjects": p.TargetObjects}
	if p.IsMultiValued {
		body["isMultiValued"] = true
	}
	var out ExtensionProperty
	if err := c.post(ctx, path, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListExtensionProperties lists the extension properties of an application (by object id).
func (c *Client) ListExtensionProperties(ctx context.Context, appObjectID string) ([]ExtensionProperty, error) {
	var out []ExtensionProperty
	err := c.pages(ctx, "/v1.0/applications/"+url.PathEscape(appObjectID)+"/extensionProperties", func(raw json.RawMessage) error {
		var p ExtensionProperty
		if err := json.Unmarshal(raw, &p); err != nil {
			return &Error{Op: "GET extensionProperties", Kind: KindOther, Err: err}
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// FindApplication lists the applications matching an OData filter, e.g.
// "startswith(displayName,'b2c-extensions-app')" or "appId eq " + Quote(id).
func (c *Client) FindApplication(ctx context.Context, filter string) ([]Application, error) {
	var out []Application
	err := c.pages(ctx, "/v1.0/applications"+query("$filter", filter), func(raw json.RawMessage) error {
		var a Application
		if err := json.Unmarshal(raw, &a); err != nil {
			return &Error{Op: "GET /v1.0/applications", Kind: KindOther, Err: err}
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// UpdateApplication patches an application by object id (e.g. keyCredentials and tokenEncryptionKeyId for the
// encryption key of the custom authentication extension). Retried like every PATCH. Note that keyCredentials
// replaces the whole collection.
func (c *Client) UpdateApplication(ctx context.Context, objectID string, patch map[string]any) error {
	const op = "PATCH /v1.0/applications"
	if objectID == "" {
		return &Error{Op: op, Kind: KindInvalid, Message: "empty object id"}
	}
	b, err := marshal(op, patch)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &call{method: http.MethodPatch, path: "/v1.0/applications/" + url.PathEscape(objectID), body: b, writes: 1, safe: true})
	return err
}

// Object is a Graph object as a JSON map, for the beta resources whose shape is still moving (custom
// authentication extensions and listeners).
type Object map[string]any

// ID returns the object's id.
func (o Object) ID() string {
	s, _ := o["id"].(string)
	return s
}

// PasswordSubmitExtension builds the body of an onPasswordSubmit custom authentication extension: Entra calls
// targetURL with a token for resourceID ("api://{host}/{appId}"), waiting at most timeout (200ms–2s) with
// maxRetries retries (0 or 1).
func PasswordSubmitExtension(displayName, targetURL, resourceID string, timeout time.Duration, maxRetries int) Object {
	return Object{
		"@odata.type": "#microsoft.graph.onPasswordSubmitCustomExtension",
		"displayName": displayName,
		"endpointConfiguration": map[string]any{
			"@odata.type": "#microsoft.graph.httpRequestEndpoint",
			"targetUrl":   targetURL,
		},
		"authenticationConfiguration": map[string]any{
			"@odata.type": "#microsoft.graph.azureAdTokenAuthentication",
			"resourceId":  resourceID,
		},
		"clientConfiguration": map[string]any{
			"timeoutInMilliseconds": timeout.Milliseconds(),
			"maximumRetries":        maxRetries,
		},
	}
}

// PasswordSubmitListener builds the body of an onPasswordSubmit listener that runs the custom extension
// extensionID for users of the application appID whose attribute migrationPropertyID
// ("extension_{appIdNoDashes}_requiresMigration") is true.
func PasswordSubmitListener(appID, migrationPropertyID, extensionID string, priority int) Object {
	return PasswordSubmitListenerForApps([]string{appID}, migrationPropertyID, extensionID, priority)
}

// PasswordSubmitListenerForApps is PasswordSubmitListener for sign-ins to any of the client applications appIDs,
// or to every application when appIDs is empty.
func PasswordSubmitListenerForApps(appIDs []string, migrationPropertyID, extensionID string, priority int) Object {
	include := []any{}
	for _, id := range appIDs {
		include = append(include, map[string]any{"appId": id})
	}
	apps := map[string]any{"includeAllApplications": len(appIDs) == 0}
	if len(appIDs) > 0 {
		apps["includeApplications"] = include
	}
	return Object{
		"@odata.type": "#microsoft.graph.onPasswordSubmitListener",
		"priority":    priority,
		"conditions":  map[string]any{"applications": apps},
		"handler": map[string]any{
			"@odata.type":         "#microsoft.graph.onPasswordMigrationCustomExtensionHandler",
			"migrationPropertyId": migrationPropertyID,
			"customExtension":     map[string]any{"id": extensionID},
		},
	}
}

const (
	customExtensionsPath = "/beta/identity/customAuthenticationExtensions"
	listenersPath        = "/beta/identity/authenticationEventListeners"
)

// CreateCustomAuthenticationExtension creates a custom authentication extension (beta; see
// PasswordSubmitExtension). A POST: an answer lost after sending matches ErrUnknownOutcome.
func (c *Client) CreateCustomAuthenticationExtension(ctx context.Context, body Object) (Object, error) {
	var out Object
	if err := c.post(ctx, customExtensionsPath, body, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// GetCustomAuthenticationExtension reads a custom authentication extension (beta).
func (c *Client) GetCustomAuthenticationExtension(ctx context.Context, id string) (Object, error) {
	return c.getObject(ctx, customExtensionsPath, id)
}

// DeleteCustomAuthenticationExtension deletes a custom authentication extension (beta).
func (c *Client) DeleteCustomAuthenticationExtension(ctx context.Context, id string) error {
	return c.deleteObject(ctx, customExtensionsPath, id)
}

// ListCustomAuthenticationExtensions lists the tenant's custom authentication extensions (beta).
func (c *Client) ListCustomAuthenticationExtensions(ctx context.Context) ([]Object, error) {
	return c.listObjects(ctx, customExtensionsPath)
}

// CreateAuthenticationEventListener creates an authentication event listener (beta; see
// PasswordSubmitListener). A POST: an answer lost after sending matches ErrUnknownOutcome.
func (c *Client) CreateAuthenticationEventListener(ctx context.Context, body Object) (Object, error) {
	var out Object
	if err := c.post(ctx, listenersPath, body, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// GetAuthenticationEventListener reads an authentication event listener (beta).
func (c *Client) GetAuthenticationEventListener(ctx context.Context, id string) (Object, error) {
	return c.getObject(ctx, listenersPath, id)
}

// DeleteAuthenticationEventListener deletes an authentication event listener (beta).
func (c *Client) DeleteAuthenticationEventListener(ctx context.Context, id string) error {
	return c.deleteObject(ctx, listenersPath, id)
}

// ListAuthenticationEventListeners lists the tenant's authentication event listeners (beta).
func (c *Client) ListAuthenticationEventListeners(ctx context.Context) ([]Object, error) {
	return c.listObjects(ctx, listenersPath)
}

// DirectoryQuota returns the directory's used and total object quota (GET /beta/organization?$select=
// directorySizeQuota: the property exists in beta only, docs/contracts.md §5.1). It needs Organization.Read.All
// (a 403 matches ErrForbidden); an answer without the property is an error of KindOther.
func (c *Client) DirectoryQuota(ctx context.Context) (used, total int64, err error) {
	type org struct {
		Value []struct {
			Quota *struct {
				Used  int64 `json:"used"`
				Total int64 `json:"total"`
			} `json:"directorySizeQuota"`
		} `json:"value"`
	}
	var o org
	if err := c.getJSON(ctx, "/beta/organization"+query("$select", "directorySizeQuota"), &o); err != nil {
		return 0, 0, err
	}
	if len(o.Value) > 0 && o.Value[0].Quota != nil {
		return o.Value[0].Quota.Used, o.Value[0].Quota.Total, nil
	}
	return 0, 0, &Error{Op: "GET /beta/organization", Kind: KindOther, Message: "no directorySizeQuota in the answer"}
}

func (c *Client) post(ctx context.Context, path string, body, out any) error {
	op := "POST " + path
	b, err := marshal(op, body)
	if err != nil {
		return err
	}
	res, err := c.do(ctx, &call{method: http.MethodPost, path: path, body: b, writes: 1})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(res.body, out); err != nil {
		return unknownOutcome(op, res.status, err, nil)
	}
	return nil
}

func (c *Client) getObject(ctx context.Context, base, id string) (Object, error) {
	if id == "" {
		return nil, &Error{Op: "GET " + base, Kind: KindInvalid, Message: "empty id"}
	}
	var out Object
	if err := c.getJSON(ctx, base+"/"+url.PathEscape(id), &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) deleteObject(ctx context.Context, base, id string) error {
	if id == "" {
		return &Error{Op: "DELETE " + base, Kind: KindInvalid, Message: "empty id"}
	}
	_, err := c.do(ctx, &call{method: http.MethodDelete, path: base + "/" + url.PathEscape(id), writes: 1, safe: true})
	return err
}

func (c *Client) listObjects(ctx context.Context, path string) ([]Object, error) {
	var out []Object
	err := c.pages(ctx, path, func(raw json.RawMessage) error {
		var o Object
		if err := json.Unmarshal(raw, &o); err != nil {
			return &Error{Op: "GET " + path, Kind: KindOther, Err: err}
		}
		out = append(out, o)
		return nil
	})
	return out, err
}
