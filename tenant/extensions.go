package tenant

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/idshift/idshift/graph"
)

// Attribute is an extension attribute of the migration: its short name and Graph data type.
type Attribute struct {
	Name, DataType string
}

// extensionsApp finds the tenant's b2c-extensions-app, by appId when one is given.
func extensionsApp(ctx context.Context, c *graph.Client, appID string) (*graph.Application, error) {
	filter := "startswith(displayName,'b2c-extensions-app')"
	if appID != "" {
		filter = "appId eq " + graph.Quote(dashed(appID))
	}
	apps, err := c.FindApplication(ctx, filter)
	if err != nil {
		return nil, graphErr("find b2c-extensions-app", err, "Application.ReadWrite.All")
	}
	if len(apps) == 0 {
		return nil, fmt.Errorf("no b2c-extensions-app found in the tenant (filter %s); set tenant.extensions_app_id", filter)
	}
	return &apps[0], nil
}

// missingAttributes returns the attributes app lacks, and an error for one that exists with another data type.
func missingAttributes(ctx context.Context, c *graph.Client, app *graph.Application, attrs []Attribute) ([]Attribute, error) {
	have, err := c.ListExtensionProperties(ctx, app.ID)
	if err != nil {
		return nil, graphErr("list extension properties", err, "Application.ReadWrite.All")
	}
	short := strings.ReplaceAll(app.AppID, "-", "")
	var missing []Attribute
	for _, a := range attrs {
		full := graph.ExtensionName(short, a.Name)
		found := false
		for _, p := range have {
			if strings.EqualFold(p.Name, full) {
				found = true
				if !strings.EqualFold(p.DataType, a.DataType) {
					return nil, fmt.Errorf("extension attribute %s exists with type %s, want %s", full, p.DataType, a.DataType)
				}
			}
		}
		if !found {
			missing = append(missing, a)
		}
	}
	return missing, nil
}

func extensionPropertiesPath(app *graph.Application) string {
	return "/v1.0/applications/" + url.PathEscape(app.ID) + "/extensionProperties"
}

func extensionPropertyBody(a Attribute) map[string]any {
	return map[string]any{"name": a.Name, "dataType": a.DataType, "targetObjects": []string{"User"}}
}

// EnsureExtensions finds the tenant's b2c-extensions-app (by appID when given, with or without dashes) and checks
// that the extension attributes exist with their data types, creating the missing ones when create is set. It
// returns the app's id without dashes (the infix of every extension_{id}_{name}). Without create, a missing
// attribute is an error that shows the request creating it. Safe to repeat: an attribute created concurrently
// (ErrConflict) counts as created.
func EnsureExtensions(ctx context.Context, c *graph.Client, appID string, attrs []Attribute, create bool) (string, error) {
	app, err := extensionsApp(ctx, c, appID)
	if err != nil {
		return "", err
	}
	missing, err := missingAttributes(ctx, c, app, attrs)
	if err != nil {
		return "", err
	}
	short := strings.ReplaceAll(app.AppID, "-", "")
	for _, a := range missing {
		full := graph.ExtensionName(short, a.Name)
		if !create {
			return "", fmt.Errorf("extension attribute %s is missing in the tenant. Create it with --setup-extensions, or with\n"+
				"  POST /v1.0/applications/%s/extensionProperties {\"name\":%q,\"dataType\":%q,\"targetObjects\":[\"User\"]}",
				full, app.ID, a.Name, a.DataType)
		}
		if _, err := c.CreateExtensionProperty(ctx, app.ID, graph.ExtensionProperty{Name: a.Name, DataType: a.DataType, TargetObjects: []string{"User"}}); err != nil && !errors.Is(err, graph.ErrConflict) {
			return "", fmt.Errorf("create extension attribute %s: %w", full, err)
		}
	}
	return short, nil
}

// dashed formats a 32-hex-digit id as a GUID; anything else is returned as is.
func dashed(id string) string {
	id = strings.ReplaceAll(id, "-", "")
	if len(id) != 32 {
		return id
	}
	return id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
}

// attributes are the extension attributes Setup creates and Check checks: the migration flag, the legacy id and
// Config.Attributes.
func (cfg Config) attributes() []Attribute {
	return append([]Attribute{{cfg.MigrationAttribute, "Boolean"}, {cfg.LegacyIDAttribute, "String"}}, cfg.Attributes...)
}
