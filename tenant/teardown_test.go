package tenant_test

import (
	"context"
	"testing"

	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/tenant"
)

// Teardown deletes the listener and the extension (and, asked, the certificates), leaves the app registration
// and the extension attributes, and a second run sends nothing; a dry run sends nothing either.
func TestTeardown(t *testing.T) {
	e := start(t, sandbox.Config{})
	c := e.admin(t)
	ctx := context.Background()
	cfg := config(t.TempDir())
	setup, err := tenant.Setup(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dry := cfg
	dry.DryRun = true
	res, err := tenant.Teardown(ctx, c, dry, tenant.TeardownOptions{RemoveCertificates: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Requests) != 3 || res.ListenerID != setup.ListenerID || res.ExtensionID != setup.ExtensionID {
		t.Fatalf("dry run: %+v", res)
	}
	if n := len(e.srv.Tenant.PasswordSubmitListeners()); n != 1 {
		t.Fatalf("the dry run deleted the listener (%d left)", n)
	}
	res, err = tenant.Teardown(ctx, c, cfg, tenant.TeardownOptions{RemoveCertificates: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"DELETE /beta/identity/authenticationEventListeners/" + setup.ListenerID,
		"DELETE /beta/identity/customAuthenticationExtensions/" + setup.ExtensionID, "PATCH /v1.0/applications/" + setup.AppObjectID}
	for i, r := range res.Requests {
		if i >= len(want) || r.Method+" "+r.Path != want[i] {
			t.Errorf("request %d: %s %s", i, r.Method, r.Path)
		}
	}
	if n := len(e.srv.Tenant.PasswordSubmitListeners()); n != 0 {
		t.Errorf("%d listeners left", n)
	}
	if _, err := c.GetCustomAuthenticationExtension(ctx, setup.ExtensionID); err == nil {
		t.Error("the custom extension is still there")
	}
	keys, app := appKeys(t, c, setup)
	if len(keys) != 0 || app.TokenEncryptionKeyID != "" {
		t.Errorf("certificates left: %d keys, tokenEncryptionKeyId %q", len(keys), app.TokenEncryptionKeyID)
	}
	again, err := tenant.Teardown(ctx, c, cfg, tenant.TeardownOptions{RemoveCertificates: true})
	if err != nil || again.Changed() {
		t.Errorf("second teardown: %+v, %v", again, err)
	}
}
