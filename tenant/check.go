package tenant

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/idshift/idshift/graph"
)

// Check verifies every piece Setup configures and returns one Finding per piece, in Setup's order: extension
// attributes, application, identifier URI, service principal, consent, encryption certificate, decryption key,
// custom extension, listener. A piece that cannot be read (a 403 names the permission and roles needed) or that
// depends on a missing one is a finding, not an error. The error is for what prevents checking at all (no
// credential, an unreachable Graph, a cancelled context). Check writes nothing.
func Check(ctx context.Context, c *graph.Client, cfg Config) ([]Finding, error) {
	cfg.setDefaults()
	var out []Finding
	add := func(f Finding) { out = append(out, f) }
	// fatal reports whether err must end the check (anything but a Graph answer about this piece).
	fatal := func(err error) bool {
		var ge *graph.Error
		return ctx.Err() != nil || !errors.As(err, &ge) || ge.Kind == graph.KindUnauthorized || ge.Kind == graph.KindUnavailable
	}
	failed := func(item string, err error, permission string) Finding {
		f := Finding{Item: item, Detail: err.Error(), Fix: forbiddenFix(err, permission)}
		if f.Fix == "" {
			f.Fix = "run `idshift tenant setup`"
		}
		return f
	}

	// Extension attributes.
	migrationProp := ""
	ext, err := extensionsApp(ctx, c, cfg.ExtensionsAppID)
	if err == nil {
		var missing []Attribute
		missing, err = missingAttributes(ctx, c, ext, cfg.attributes())
		short := strings.ReplaceAll(ext.AppID, "-", "")
		migrationProp = graph.ExtensionName(short, cfg.MigrationAttribute)
		if err == nil {
			var have []string
			for _, a := range cfg.attributes() {
				have = append(have, graph.ExtensionName(short, a.Name)+" ("+a.DataType+")")
			}
			f := Finding{Item: "extension attributes", OK: len(missing) == 0, Detail: strings.Join(have, ", ") + " exist"}
			if !f.OK {
				names := make([]string, len(missing))
				for i, a := range missing {
					names[i] = graph.ExtensionName(short, a.Name) + " (" + a.DataType + ")"
				}
				f.Detail = "missing: " + strings.Join(names, ", ")
				f.Fix = "run `idshift tenant setup` (or `idshift import --setup-extensions`)"
			}
			add(f)
		}
	}
	if err != nil {
		if fatal(err) {
			return out, err
		}
		add(failed("extension attributes", err, "Application.ReadWrite.All"))
	}

	// The custom extension and its listener are read first: they tell which host and app Entra will use.
	var extObj graph.Object
	exts, extErr := c.ListCustomAuthenticationExtensions(ctx)
	if extErr != nil && fatal(extErr) {
		return out, extErr
	}
	for _, o := range exts {
		if o["@odata.type"] != passwordSubmitExtensionType {
			continue
		}
		if extObj == nil || (o["displayName"] == cfg.ExtensionDisplayName && extObj["displayName"] != cfg.ExtensionDisplayName) {
			extObj = o
		}
	}
	target := cfg.TargetURL
	if target == "" && extObj != nil {
		target = path(extObj, "endpointConfiguration", "targetUrl")
	}
	host := ""
	if u, err := url.Parse(target); err == nil {
		host = u.Hostname()
	}

	// Application and identifier URI.
	r := &run{c: c, cfg: cfg, res: &Result{}}
	app, err := r.findApp(ctx)
	switch {
	case err != nil && !errors.Is(err, ErrInvalidConfig) && fatal(err):
		return out, err
	case err != nil:
		add(failed("application", err, "Application.ReadWrite.All"))
	case app == nil:
		add(Finding{Item: "application", Detail: "no application named " + cfg.AppDisplayName, Fix: "run `idshift tenant setup`"})
	default:
		add(Finding{Item: "application", OK: true, Detail: cfg.AppDisplayName + " appId " + app.AppID})
	}
	resourceID := ""
	if app != nil {
		f := Finding{Item: "identifier URI"}
		if host == "" {
			f.Detail = "the target URL is unknown (no custom extension, no --target-url): cannot tell which api:// URI Entra needs"
			f.Fix = "run `idshift tenant setup --target-url https://…`"
		} else {
			resourceID = ResourceID(host, app.AppID)
			f.OK = containsFold(app.IdentifierURIs, resourceID)
			f.Detail = resourceID + " is one of the application's identifierUris"
			if !f.OK {
				f.Detail = "identifierUris " + fmt.Sprint(app.IdentifierURIs) + " lack " + resourceID + " (Entra error 1003014)"
				f.Fix = "run `idshift tenant setup --target-url " + target + "`"
			}
		}
		add(f)

		// Service principal and consent.
		sp, err := c.FindServicePrincipal(ctx, app.AppID)
		switch {
		case errors.Is(err, graph.ErrNotFound):
			add(Finding{Item: "service principal", Detail: "the application has no service principal, so it cannot hold the consent", Fix: "run `idshift tenant setup`"})
		case err != nil && fatal(err):
			return out, err
		case err != nil:
			add(failed("service principal", err, "Application.Read.All"))
		default:
			add(Finding{Item: "service principal", OK: true, Detail: "id " + sp.ID})
			graphSP, err := c.FindServicePrincipal(ctx, graph.GraphAppID)
			var have []graph.AppRoleAssignment
			if err == nil {
				have, err = c.ListAppRoleAssignments(ctx, sp.ID)
			}
			switch {
			case err != nil && fatal(err):
				return out, err
			case err != nil:
				add(failed("consent", err, "Application.Read.All"))
			case hasReceivePayloadGrant(have, graphSP.ID):
				add(consentFinding(app, true, "CustomAuthenticationExtension.Receive.Payload is granted (admin consent)"))
			default:
				add(consentFinding(app, false, "it was never granted"))
			}
		}

		// Encryption certificate and decryption key.
		keys, err := c.GetApplicationKeys(ctx, app.ID)
		switch {
		case err != nil && fatal(err):
			return out, err
		case err != nil:
			add(failed("encryption certificate", err, "Application.Read.All"))
		default:
			cur := encryptionKey(keys, app.TokenEncryptionKeyID)
			f := Finding{Item: "encryption certificate"}
			switch {
			case cur == nil && app.TokenEncryptionKeyID == "":
				f.Detail = "the application has no tokenEncryptionKeyId: Entra cannot encrypt the password for the service"
				f.Fix = "run `idshift tenant setup --key-out KEY.pem`"
			case cur == nil:
				f.Detail = "tokenEncryptionKeyId " + app.TokenEncryptionKeyID + " names no keyCredential with usage Encrypt"
				f.Fix = "run `idshift tenant rotate-key --key-out NEW.pem`"
			default:
				f = certFinding(cur, cfg.Now())
			}
			add(f)
			if cur != nil {
				add(r.keyFileFinding(cur))
			}
		}
	}

	// Custom extension.
	switch {
	case extErr != nil:
		add(failed("custom extension", extErr, "CustomAuthenticationExtension.Read.All"))
	case extObj == nil:
		add(Finding{Item: "custom extension", Detail: "no onPasswordSubmitCustomExtension in the tenant", Fix: "run `idshift tenant setup --target-url https://…`"})
	default:
		add(extensionFinding(extObj, cfg, resourceID))
	}

	// Listener.
	if extObj != nil {
		ls, err := c.ListAuthenticationEventListeners(ctx)
		switch {
		case err != nil && fatal(err):
			return out, err
		case err != nil:
			add(failed("listener", err, "EventListener.Read.All"))
		default:
			var l graph.Object
			for _, o := range ls {
				if o["@odata.type"] == passwordSubmitListenerType && strings.EqualFold(path(o, "handler", "customExtension", "id"), extObj.ID()) && l == nil {
					l = o
				}
			}
			add(listenerFinding(l, cfg, migrationProp))
		}
	}
	return out, nil
}

func certFinding(cur *graph.KeyCredential, now time.Time) Finding {
	f := Finding{Item: "encryption certificate"}
	cert, err := x509.ParseCertificate(cur.Key)
	switch {
	case err != nil:
		f.Detail = "keyCredential " + cur.KeyID + " is not an X.509 certificate"
		f.Fix = "run `idshift tenant rotate-key --key-out NEW.pem`"
	case now.After(cert.NotAfter):
		f.Detail = "certificate " + cur.KeyID + " expired on " + cert.NotAfter.Format(time.DateOnly)
		f.Fix = "run `idshift tenant rotate-key --key-out NEW.pem`"
	default:
		f.OK = true
		f.Detail = "tokenEncryptionKeyId " + cur.KeyID + " (" + cert.Subject.String() + ", valid until " + cert.NotAfter.Format(time.DateOnly) + ")"
		if cert.NotAfter.Sub(now) < 30*24*time.Hour {
			f.Detail += "; it expires within 30 days: rotate soon"
		}
	}
	return f
}

func extensionFinding(o graph.Object, cfg Config, resourceID string) Finding {
	f := Finding{Item: "custom extension"}
	target := path(o, "endpointConfiguration", "targetUrl")
	res := path(o, "authenticationConfiguration", "resourceId")
	timeout, retries := num(o, "clientConfiguration", "timeoutInMilliseconds"), num(o, "clientConfiguration", "maximumRetries")
	var problems []string
	host, err := validateTarget(target)
	if err != nil {
		problems = append(problems, "targetUrl "+target+" is not an https URL (Entra error 1003020)")
	}
	if cfg.TargetURL != "" && target != cfg.TargetURL {
		problems = append(problems, "targetUrl is "+target+", not "+cfg.TargetURL)
	}
	if rh, ok := strings.CutPrefix(res, "api://"); !ok || !strings.Contains(rh, "/") {
		problems = append(problems, "resourceId "+res+" is not api://{host}/{appId} (Entra error 1003014)")
	} else if h, _, _ := strings.Cut(rh, "/"); err == nil && !strings.EqualFold(h, host) {
		problems = append(problems, "resourceId "+res+" and targetUrl are not on the same host (Entra error 1003015)")
	}
	if resourceID != "" && !strings.EqualFold(res, resourceID) {
		problems = append(problems, "resourceId is "+res+", not the application's "+resourceID)
	}
	if timeout != -1 && (timeout < 200 || timeout > 2000) {
		problems = append(problems, fmt.Sprintf("timeoutInMilliseconds %d is outside 200–2000", timeout))
	}
	if retries != -1 && retries != MaxRetries {
		problems = append(problems, fmt.Sprintf("maximumRetries is %d, idshift expects %d", retries, MaxRetries))
	}
	if len(problems) > 0 {
		f.Detail = strings.Join(problems, "; ")
		f.Fix = "run `idshift tenant setup --target-url https://…`: it PATCHes the extension to match"
		return f
	}
	f.OK = true
	f.Detail = fmt.Sprintf("%s → %s, resourceId %s, timeout %dms, %d retry", o.ID(), target, res, timeout, retries)
	return f
}

func listenerFinding(l graph.Object, cfg Config, migrationProp string) Finding {
	f := Finding{Item: "listener"}
	if l == nil {
		f.Detail = "no onPasswordSubmitListener runs the custom extension"
		f.Fix = "run `idshift tenant setup`"
		return f
	}
	var problems []string
	if path(l, "handler", "@odata.type") != passwordMigrationHandler {
		problems = append(problems, "its handler is not an onPasswordMigrationCustomExtensionHandler")
	}
	if got := path(l, "handler", "migrationPropertyId"); migrationProp != "" && !strings.EqualFold(got, migrationProp) {
		problems = append(problems, "migrationPropertyId is "+got+", not "+migrationProp)
	}
	all, apps := listenerApps(l)
	if len(cfg.ClientAppIDs) > 0 {
		for _, id := range cfg.ClientAppIDs {
			if !all && !containsFold(apps, dashed(id)) {
				problems = append(problems, "client application "+id+" is not included")
			}
		}
	} else if !all && len(apps) == 0 {
		problems = append(problems, "it applies to no application")
	}
	if len(problems) > 0 {
		f.Detail = l.ID() + ": " + strings.Join(problems, "; ")
		f.Fix = "run `idshift tenant setup`: it PATCHes the listener to match"
		return f
	}
	f.OK = true
	scope := "all applications"
	if !all {
		scope = strings.Join(apps, ", ")
	}
	f.Detail = l.ID() + " for " + scope + ", migrationPropertyId " + path(l, "handler", "migrationPropertyId")
	return f
}
