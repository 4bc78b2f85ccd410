package tenant

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/idshift/idshift/graph"
)

// run is one Setup, RotateKey or RemoveKey.
type run struct {
	c   *graph.Client
	cfg Config
	res *Result
}

// write records a write and, unless in a dry run, sends it with send.
func (r *run) write(method, path string, body any, send func() error) error {
	r.res.Requests = append(r.res.Requests, Request{Method: method, Path: path, Body: body})
	if r.cfg.DryRun {
		return nil
	}
	return send()
}

// findApp returns the extension's app registration by display name, nil when there is none. Several apps of that
// name are an error: Setup would not know which one Entra should call.
func (r *run) findApp(ctx context.Context) (*graph.Application, error) {
	apps, err := r.c.FindApplication(ctx, "displayName eq "+graph.Quote(r.cfg.AppDisplayName))
	if err != nil {
		return nil, graphErr("find application "+r.cfg.AppDisplayName, err, "Application.ReadWrite.All")
	}
	switch len(apps) {
	case 0:
		return nil, nil
	case 1:
		return &apps[0], nil
	}
	ids := make([]string, len(apps))
	for i, a := range apps {
		ids[i] = a.AppID
	}
	return nil, fmt.Errorf("%w: %d applications are named %q (appIds %s): rename or delete all but one, or choose another name",
		ErrInvalidConfig, len(apps), r.cfg.AppDisplayName, strings.Join(ids, ", "))
}

// receivePayloadAccess is the requiredResourceAccess entry asking for CustomAuthenticationExtension.Receive.Payload.
func hasReceivePayload(rra []graph.RequiredResourceAccess) bool {
	for _, r := range rra {
		if strings.EqualFold(r.ResourceAppID, graph.GraphAppID) {
			for _, a := range r.ResourceAccess {
				if strings.EqualFold(a.ID, graph.ReceivePayloadRoleID) && a.Type == "Role" {
					return true
				}
			}
		}
	}
	return false
}

func withReceivePayload(rra []graph.RequiredResourceAccess) []graph.RequiredResourceAccess {
	out := make([]graph.RequiredResourceAccess, 0, len(rra)+1)
	added := false
	for _, r := range rra {
		if strings.EqualFold(r.ResourceAppID, graph.GraphAppID) && !added {
			r.ResourceAccess = append(append([]graph.ResourceAccess{}, r.ResourceAccess...), graph.ResourceAccess{ID: graph.ReceivePayloadRoleID, Type: "Role"})
			added = true
		}
		out = append(out, r)
	}
	if !added {
		out = append(out, graph.RequiredResourceAccess{ResourceAppID: graph.GraphAppID,
			ResourceAccess: []graph.ResourceAccess{{ID: graph.ReceivePayloadRoleID, Type: "Role"}}})
	}
	return out
}

// Setup creates or updates, idempotently, everything the tenant needs for password migration at sign-in, in
// this order: the migration's extension attributes; the extension's app registration (Config.AppDisplayName)
// with identifierUris api://{host of TargetURL}/{appId} and the CustomAuthenticationExtension.Receive.Payload
// permission asked; its service principal and the admin consent of that permission (an appRoleAssignment); a
// token encryption certificate when the app has none (keyCredentials merged with the existing ones, read with
// their keys, plus tokenEncryptionKeyId); the onPasswordSubmitCustomExtension (found by resourceId or display
// name, PATCHed to match); and the onPasswordSubmitListener of that extension (PATCHed to match).
//
// A run on a tenant that already matches sends nothing. What Setup cannot do itself (a consent it has no right to
// grant, a private key it cannot recover) is returned in Result.Pending, not as an error. A failure part-way
// leaves what was done in place; running Setup again continues. A 403 names the permission and roles needed.
func Setup(ctx context.Context, c *graph.Client, cfg Config) (*Result, error) {
	cfg.setDefaults()
	host, err := validateTarget(cfg.TargetURL)
	if err != nil {
		return nil, err
	}
	if err := cfg.validateTimeout(); err != nil {
		return nil, err
	}
	for _, id := range cfg.ClientAppIDs {
		if len(strings.ReplaceAll(id, "-", "")) != 32 {
			return nil, fmt.Errorf("%w: client application id %q is not an appId", ErrInvalidConfig, id)
		}
	}
	r := &run{c: c, cfg: cfg, res: &Result{}}

	// 1. The migration's extension attributes.
	ext, err := extensionsApp(ctx, c, cfg.ExtensionsAppID)
	if err != nil {
		return nil, err
	}
	missing, err := missingAttributes(ctx, c, ext, cfg.attributes())
	if err != nil {
		return nil, err
	}
	for _, a := range missing {
		err := r.write("POST", extensionPropertiesPath(ext), extensionPropertyBody(a), func() error {
			_, err := c.CreateExtensionProperty(ctx, ext.ID, graph.ExtensionProperty{Name: a.Name, DataType: a.DataType, TargetObjects: []string{"User"}})
			if errors.Is(err, graph.ErrConflict) {
				return nil
			}
			return err
		})
		if err != nil {
			return nil, graphErr("create extension attribute "+a.Name, err, "Application.ReadWrite.All")
		}
	}
	r.res.ExtensionsAppID = strings.ReplaceAll(ext.AppID, "-", "")
	r.res.MigrationPropertyID = graph.ExtensionName(r.res.ExtensionsAppID, cfg.MigrationAttribute)

	// 2. The extension's app registration and its identifier URI.
	app, err := r.findApp(ctx)
	if err != nil {
		return nil, err
	}
	created := false
	if app == nil {
		body := map[string]any{"displayName": cfg.AppDisplayName, "signInAudience": "AzureADMyOrg",
			"requiredResourceAccess": withReceivePayload(nil)}
		app = &graph.Application{ID: "{id of the new application}", AppID: "{appId of the new application}", DisplayName: cfg.AppDisplayName}
		err := r.write("POST", "/v1.0/applications", body, func() error {
			a, err := c.CreateApplication(ctx, body)
			if err == nil {
				app = a
			}
			return err
		})
		if err != nil {
			return nil, graphErr("create application "+cfg.AppDisplayName, err, "Application.ReadWrite.All")
		}
		created = true
	}
	r.res.AppID, r.res.AppObjectID = app.AppID, app.ID
	r.res.ResourceID = ResourceID(host, app.AppID)
	patch := map[string]any{}
	if !containsFold(app.IdentifierURIs, r.res.ResourceID) {
		patch["identifierUris"] = append(append([]string{}, app.IdentifierURIs...), r.res.ResourceID)
	}
	if !created && !hasReceivePayload(app.RequiredResourceAccess) {
		patch["requiredResourceAccess"] = withReceivePayload(app.RequiredResourceAccess)
	}
	if len(patch) > 0 {
		err := r.write("PATCH", "/v1.0/applications/"+app.ID, patch, func() error { return c.UpdateApplication(ctx, app.ID, patch) })
		if err != nil {
			return nil, graphErr("set the identifier URI of "+cfg.AppDisplayName, err, "Application.ReadWrite.All")
		}
	}

	// 3. Its service principal and the consent to CustomAuthenticationExtension.Receive.Payload.
	if err := r.consent(ctx, app, created); err != nil {
		return nil, err
	}

	// 4. The token encryption certificate.
	var keys []graph.KeyCredential
	if !(created && cfg.DryRun) {
		if keys, err = c.GetApplicationKeys(ctx, app.ID); err != nil {
			return nil, graphErr("read the keys of "+cfg.AppDisplayName, err, "Application.ReadWrite.All")
		}
	}
	if cur := encryptionKey(keys, app.TokenEncryptionKeyID); cur != nil {
		r.res.KeyID = cur.KeyID
		if f := r.keyFileFinding(cur); !f.OK {
			r.res.Pending = append(r.res.Pending, f)
		}
	} else if err := r.addKey(ctx, app, keys); err != nil {
		return nil, err
	}

	// 5. The custom extension.
	if err := r.customExtension(ctx); err != nil {
		return nil, err
	}
	// 6. The listener.
	if err := r.listener(ctx); err != nil {
		return nil, err
	}
	return r.res, nil
}

// consent makes sure the app has a service principal holding CustomAuthenticationExtension.Receive.Payload.
func (r *run) consent(ctx context.Context, app *graph.Application, created bool) error {
	c := r.c
	var sp *graph.ServicePrincipal
	if !(created && r.cfg.DryRun) {
		s, err := c.FindServicePrincipal(ctx, app.AppID)
		switch {
		case err == nil:
			sp = s
		case !errors.Is(err, graph.ErrNotFound):
			return graphErr("find the service principal of "+app.DisplayName, err, "Application.ReadWrite.All")
		}
	}
	if sp == nil {
		sp = &graph.ServicePrincipal{ID: "{id of the new service principal}", AppID: app.AppID}
		body := map[string]any{"appId": app.AppID}
		err := r.write("POST", "/v1.0/servicePrincipals", body, func() error {
			s, err := c.CreateServicePrincipal(ctx, app.AppID)
			if err == nil {
				sp = s
			}
			return err
		})
		if err != nil {
			return graphErr("create the service principal of "+app.DisplayName, err, "Application.ReadWrite.All")
		}
		created = true
	}
	graphSP, err := c.FindServicePrincipal(ctx, graph.GraphAppID)
	if err != nil {
		return graphErr("find Microsoft Graph's service principal", err, "Application.ReadWrite.All")
	}
	if !(created && r.cfg.DryRun) {
		have, err := c.ListAppRoleAssignments(ctx, sp.ID)
		if err != nil {
			return graphErr("list the permissions granted to "+app.DisplayName, err, "Application.ReadWrite.All")
		}
		if hasReceivePayloadGrant(have, graphSP.ID) {
			return nil
		}
	}
	body := graph.AppRoleAssignment{PrincipalID: sp.ID, ResourceID: graphSP.ID, AppRoleID: graph.ReceivePayloadRoleID}
	err = r.write("POST", "/v1.0/servicePrincipals/"+sp.ID+"/appRoleAssignments", body, func() error {
		_, err := c.CreateAppRoleAssignment(ctx, body)
		return err
	})
	if errors.Is(err, graph.ErrForbidden) {
		r.res.Requests = r.res.Requests[:len(r.res.Requests)-1]
		r.res.Pending = append(r.res.Pending, consentFinding(app, false, "idshift's app registration may not grant it (no AppRoleAssignment.ReadWrite.All)"))
		return nil
	}
	if err != nil {
		return graphErr("grant CustomAuthenticationExtension.Receive.Payload to "+app.DisplayName, err, "AppRoleAssignment.ReadWrite.All")
	}
	return nil
}

func hasReceivePayloadGrant(have []graph.AppRoleAssignment, graphSPID string) bool {
	for _, a := range have {
		if strings.EqualFold(a.AppRoleID, graph.ReceivePayloadRoleID) && strings.EqualFold(a.ResourceID, graphSPID) {
			return true
		}
	}
	return false
}

func consentFinding(app *graph.Application, ok bool, detail string) Finding {
	f := Finding{Item: "consent", OK: ok, Detail: detail}
	if !ok {
		f.Detail = "the service principal of " + app.DisplayName + " (" + app.AppID + ") does not hold CustomAuthenticationExtension.Receive.Payload: " + detail +
			"; Entra fails every callout with error 1003021 until it does"
		f.Fix = "an administrator grants admin consent: Entra admin center > App registrations > " + app.DisplayName +
			" > API permissions > Grant admin consent (or give idshift's app AppRoleAssignment.ReadWrite.All and run tenant setup again)"
	}
	return f
}

// keyFileFinding checks that one of the configured key files holds the private key of the current certificate.
func (r *run) keyFileFinding(cur *graph.KeyCredential) Finding {
	f := Finding{Item: "decryption key", OK: true}
	if len(r.cfg.KeyFiles) == 0 {
		f.Detail = "no key file given: not checked (pass the service's key files to compare them with the uploaded certificate)"
		return f
	}
	var problems []string
	for _, path := range r.cfg.KeyFiles {
		priv, _, err := LoadKeyFile(path)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if matches(priv, cur.Key) {
			f.Detail = path + " holds the private key of the token encryption certificate " + cur.KeyID
			return f
		}
		problems = append(problems, path+" holds another key")
	}
	f.OK = false
	f.Detail = "no key file matches the token encryption certificate " + cur.KeyID + " (" + strings.Join(problems, "; ") + "): Entra encrypts passwords with a key the service cannot use"
	f.Fix = "give the service the key file written when that certificate was uploaded, or run `idshift tenant rotate-key --key-out NEW.pem` and give it NEW.pem"
	return f
}

// desiredExtension is the custom extension Setup wants.
func (r *run) desiredExtension() graph.Object {
	return graph.PasswordSubmitExtension(r.cfg.ExtensionDisplayName, r.cfg.TargetURL, r.res.ResourceID, r.cfg.Timeout, MaxRetries)
}

// extensionMatches compares the properties Setup sets.
func extensionMatches(have, want graph.Object) bool {
	return have["displayName"] == want["displayName"] &&
		path(have, "endpointConfiguration", "targetUrl") == path(want, "endpointConfiguration", "targetUrl") &&
		strings.EqualFold(path(have, "authenticationConfiguration", "resourceId"), path(want, "authenticationConfiguration", "resourceId")) &&
		num(have, "clientConfiguration", "timeoutInMilliseconds") == num(want, "clientConfiguration", "timeoutInMilliseconds") &&
		num(have, "clientConfiguration", "maximumRetries") == num(want, "clientConfiguration", "maximumRetries")
}

func (r *run) customExtension(ctx context.Context) error {
	c := r.c
	list, err := c.ListCustomAuthenticationExtensions(ctx)
	if err != nil {
		return graphErr("list custom authentication extensions", err, "CustomAuthenticationExtension.ReadWrite.All")
	}
	var found graph.Object
	for _, pass := range []func(graph.Object) bool{
		func(o graph.Object) bool {
			return strings.EqualFold(path(o, "authenticationConfiguration", "resourceId"), r.res.ResourceID)
		},
		func(o graph.Object) bool { return o["displayName"] == r.cfg.ExtensionDisplayName },
	} {
		for _, o := range list {
			if o["@odata.type"] == passwordSubmitExtensionType && pass(o) && found == nil {
				found = o
			}
		}
	}
	want := r.desiredExtension()
	if found == nil {
		r.res.ExtensionID = "{id of the new custom extension}"
		err := r.write("POST", "/beta/identity/customAuthenticationExtensions", want, func() error {
			o, err := c.CreateCustomAuthenticationExtension(ctx, want)
			if err == nil {
				r.res.ExtensionID = o.ID()
			}
			return err
		})
		if err != nil {
			return graphErr("create the custom authentication extension", err, "CustomAuthenticationExtension.ReadWrite.All")
		}
		return nil
	}
	r.res.ExtensionID = found.ID()
	if extensionMatches(found, want) {
		return nil
	}
	err = r.write("PATCH", "/beta/identity/customAuthenticationExtensions/"+found.ID(), want, func() error {
		return c.UpdateCustomAuthenticationExtension(ctx, found.ID(), want)
	})
	if err != nil {
		return graphErr("update the custom authentication extension", err, "CustomAuthenticationExtension.ReadWrite.All")
	}
	return nil
}

// listenerMatches compares the properties Setup sets.
func listenerMatches(have graph.Object, r *run) bool {
	if num(have, "priority") != int64(r.cfg.Priority) ||
		path(have, "handler", "@odata.type") != passwordMigrationHandler ||
		!strings.EqualFold(path(have, "handler", "migrationPropertyId"), r.res.MigrationPropertyID) {
		return false
	}
	all, apps := listenerApps(have)
	if len(r.cfg.ClientAppIDs) == 0 {
		return all
	}
	if all || len(apps) != len(r.cfg.ClientAppIDs) {
		return false
	}
	for _, id := range r.cfg.ClientAppIDs {
		if !containsFold(apps, dashed(id)) {
			return false
		}
	}
	return true
}

func (r *run) listener(ctx context.Context) error {
	c := r.c
	want := graph.PasswordSubmitListenerForApps(dashedAll(r.cfg.ClientAppIDs), r.res.MigrationPropertyID, r.res.ExtensionID, r.cfg.Priority)
	var found graph.Object
	if !strings.HasPrefix(r.res.ExtensionID, "{") {
		list, err := c.ListAuthenticationEventListeners(ctx)
		if err != nil {
			return graphErr("list authentication event listeners", err, "EventListener.ReadWrite.All")
		}
		for _, o := range list {
			if o["@odata.type"] == passwordSubmitListenerType && strings.EqualFold(path(o, "handler", "customExtension", "id"), r.res.ExtensionID) && found == nil {
				found = o
			}
		}
	}
	if found == nil {
		r.res.ListenerID = "{id of the new listener}"
		err := r.write("POST", "/beta/identity/authenticationEventListeners", want, func() error {
			o, err := c.CreateAuthenticationEventListener(ctx, want)
			if err == nil {
				r.res.ListenerID = o.ID()
			}
			return err
		})
		if err != nil {
			return graphErr("create the onPasswordSubmit listener", err, "EventListener.ReadWrite.All")
		}
		return nil
	}
	r.res.ListenerID = found.ID()
	if listenerMatches(found, r) {
		return nil
	}
	err := r.write("PATCH", "/beta/identity/authenticationEventListeners/"+found.ID(), want, func() error {
		return c.UpdateAuthenticationEventListener(ctx, found.ID(), want)
	})
	if err != nil {
		return graphErr("update the onPasswordSubmit listener", err, "EventListener.ReadWrite.All")
	}
	return nil
}

const (
	passwordSubmitExtensionType = "#microsoft.graph.onPasswordSubmitCustomExtension"
	passwordSubmitListenerType  = "#microsoft.graph.onPasswordSubmitListener"
	passwordMigrationHandler    = "#microsoft.graph.onPasswordMigrationCustomExtensionHandler"
)

// listenerApps returns a listener's includeAllApplications and included app ids.
func listenerApps(o graph.Object) (all bool, apps []string) {
	cond, _ := o["conditions"].(map[string]any)
	a, _ := cond["applications"].(map[string]any)
	all, _ = a["includeAllApplications"].(bool)
	list, _ := a["includeApplications"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		if s, _ := m["appId"].(string); s != "" {
			apps = append(apps, s)
		}
	}
	return all, apps
}

// path returns the string at a path of nested JSON objects ("" when absent).
func path(o map[string]any, keys ...string) string {
	var v any = o
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

// num returns the number at a path of nested JSON objects (-1 when absent or not a whole number).
func num(o map[string]any, keys ...string) int64 {
	var v any = o
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	switch n := v.(type) {
	case float64:
		if n == float64(int64(n)) {
			return int64(n)
		}
	case int64:
		return n
	case int:
		return int64(n)
	}
	return -1
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func dashedAll(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strings.ToLower(dashed(id))
	}
	return out
}
