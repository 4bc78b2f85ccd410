package tenant

import (
	"context"
	"errors"
	"strings"

	"github.com/idshift/idshift/graph"
)

// TeardownOptions say what Teardown removes besides the listener and the custom extension.
type TeardownOptions struct {
	// RemoveCertificates removes every certificate of the extension's app registration (its keyCredentials) and
	// clears its tokenEncryptionKeyId: Entra has nothing left to encrypt with, and the service's private key
	// opens nothing new.
	RemoveCertificates bool
}

// Teardown stops the password migration at sign-in: it deletes the onPasswordSubmitListener(s) that call the
// extension, then the onPasswordSubmitCustomExtension itself (found as Setup finds it: by the resourceId of the
// app named cfg.AppDisplayName, else by cfg.ExtensionDisplayName), and with opt.RemoveCertificates the app's
// certificates. Once the listener is gone, a flagged user whose password does not match is simply refused, and
// self-service password reset is the way in (External ID's default).
//
// The extension's app registration, its service principal and consent, and the migration's extension attributes
// are kept (the attributes hold every user's legacy id). Teardown is idempotent: a second run sends nothing.
// With cfg.DryRun it returns the deletes it would send (Result.Requests), sending none. Result.ExtensionID and
// ListenerID name what was (or would be) deleted; Result.KeyID the certificate that was current.
func Teardown(ctx context.Context, c *graph.Client, cfg Config, opt TeardownOptions) (*Result, error) {
	cfg.setDefaults()
	r := &run{c: c, cfg: cfg, res: &Result{}}
	app, err := r.findApp(ctx)
	if err != nil {
		return nil, err
	}
	if app != nil {
		r.res.AppID, r.res.AppObjectID = app.AppID, app.ID
		for _, u := range app.IdentifierURIs {
			if strings.HasPrefix(strings.ToLower(u), "api://") {
				r.res.ResourceID = u
			}
		}
	}
	exts, err := c.ListCustomAuthenticationExtensions(ctx)
	if err != nil {
		return nil, graphErr("list custom authentication extensions", err, "CustomAuthenticationExtension.ReadWrite.All")
	}
	var ours []graph.Object
	for _, o := range exts {
		if o["@odata.type"] != passwordSubmitExtensionType {
			continue
		}
		byResource := r.res.ResourceID != "" && strings.EqualFold(path(o, "authenticationConfiguration", "resourceId"), r.res.ResourceID)
		if byResource || o["displayName"] == cfg.ExtensionDisplayName {
			ours = append(ours, o)
		}
	}
	listeners, err := c.ListAuthenticationEventListeners(ctx)
	if err != nil {
		return nil, graphErr("list authentication event listeners", err, "EventListener.ReadWrite.All")
	}
	for _, ext := range ours {
		for _, l := range listeners {
			if l["@odata.type"] != passwordSubmitListenerType || !strings.EqualFold(path(l, "handler", "customExtension", "id"), ext.ID()) {
				continue
			}
			id := l.ID()
			r.res.ListenerID = id
			err := r.write("DELETE", "/beta/identity/authenticationEventListeners/"+id, nil, func() error {
				return ignoreNotFound(c.DeleteAuthenticationEventListener(ctx, id))
			})
			if err != nil {
				return nil, graphErr("delete the onPasswordSubmit listener", err, "EventListener.ReadWrite.All")
			}
		}
		id := ext.ID()
		r.res.ExtensionID = id
		err := r.write("DELETE", "/beta/identity/customAuthenticationExtensions/"+id, nil, func() error {
			return ignoreNotFound(c.DeleteCustomAuthenticationExtension(ctx, id))
		})
		if err != nil {
			return nil, graphErr("delete the custom authentication extension", err, "CustomAuthenticationExtension.ReadWrite.All")
		}
	}
	if opt.RemoveCertificates && app != nil {
		keys, err := c.GetApplicationKeys(ctx, app.ID)
		if err != nil {
			return nil, graphErr("read the keys of "+app.DisplayName, err, "Application.ReadWrite.All")
		}
		r.res.KeyID = app.TokenEncryptionKeyID
		if len(keys) > 0 || app.TokenEncryptionKeyID != "" {
			patch := map[string]any{"keyCredentials": []graph.KeyCredential{}, "tokenEncryptionKeyId": nil}
			err := r.write("PATCH", "/v1.0/applications/"+app.ID, patch, func() error {
				return c.UpdateApplication(ctx, app.ID, patch)
			})
			if err != nil {
				return nil, graphErr("remove the certificates of "+app.DisplayName, err, "Application.ReadWrite.All")
			}
		}
	}
	return r.res, nil
}

// ignoreNotFound treats an object already gone as deleted.
func ignoreNotFound(err error) error {
	if err != nil && errors.Is(err, graph.ErrNotFound) {
		return nil
	}
	return err
}
