package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idshift/idshift/cleanup"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/sandbox"
)

// TestAuditTenantLookups: audit --tenant-lookups looks every valid user's identities up in a sandbox tenant that
// holds a stranger's account (one of the users' email: a collision) and an earlier import's (another user's email
// with that user's legacy id: already imported), read-only, and reports them masked; without the legacy-id
// attribute in the tenant (before any import) the second is a collision too.
func TestAuditTenantLookups(t *testing.T) {
	for _, withAttr := range []bool{true, false} {
		name := "with the legacy-id attribute"
		if !withAttr {
			name = "before any import"
		}
		t.Run(name, func(t *testing.T) { testAuditLookups(t, withAttr) })
	}
}

func testAuditLookups(t *testing.T, withAttr bool) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := sandbox.Start(sandbox.Config{DisableThrottling: true}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ca := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	tn := srv.Tenant
	cfg := defaultConfig()
	cfg.Tenant.Domain, cfg.Tenant.TenantID = tn.Domain(), tn.TenantID()
	cfg.Tenant.GraphURL, cfg.Tenant.AuthorityHost, cfg.Tenant.CAFile = srv.URL, srv.AuthorityHost, ca
	cfg.Tenant.Apps = []AppConfig{{ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret}}
	pool, err := openDirectory(ctx, cfg, &Env{Getenv: func(string) string { return "" }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	legacyAttr := graph.ExtensionName(tn.ExtensionsAppID(), "legacyId")
	if withAttr {
		if _, err := pool.Clients()[0].CreateExtensionProperty(ctx, tn.ExtensionsAppObjectID(),
			graph.ExtensionProperty{Name: "legacyId", DataType: "String", TargetObjects: []string{"User"}}); err != nil {
			t.Fatal(err)
		}
	}
	enabled := true
	account := func(email string, ext map[string]any) string {
		u, err := pool.CreateUser(ctx, &graph.User{DisplayName: "Existing", AccountEnabled: &enabled,
			Identities:       []graph.Identity{{SignInType: "emailAddress", Issuer: tn.Domain(), IssuerAssignedID: email}},
			PasswordProfile:  &graph.PasswordProfile{Password: "Ex1sting!Passw0rd-x"},
			PasswordPolicies: "DisablePasswordExpiration", Extensions: ext})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	stranger := account("bea@example.com", nil)
	var earlier string
	if withAttr {
		earlier = account("cy@example.com", map[string]any{legacyAttr: "c1"})
	} else {
		earlier = account("cy@example.com", nil)
	}
	csv := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(csv, []byte("legacy_id,email,username,display_name\n"+
		"a1,ann@example.com,,Ann\nb1,Bea@Example.com,,Bea\nc1,cy@example.com,,Cy\nd1,,dee,Dee\n,nobody@example.com,,No Id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	requests := tn.Stats().Requests
	writes := tn.Stats().Writes
	users := len(tn.Users())
	code, stdout, stderr := run(t, nil, "audit", "--source", csv, "--tenant-lookups", "--json", "--domain", tn.Domain(),
		"--tenant-id", tn.TenantID(), "--graph-url", srv.URL, "--authority-host", srv.AuthorityHost, "--ca-file", ca,
		"--client-id", sandbox.DefaultClientID, "--client-secret", sandbox.DefaultClientSecret)
	if code != 0 {
		t.Fatalf("audit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep cleanup.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Tenant == nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	got := rep.Tenant
	// Four valid users (the one without a legacy id is rejected), four identities.
	wantAttr, imported, collisions := legacyAttr, int64(1), int64(1)
	if !withAttr {
		wantAttr, imported, collisions = "", 0, 2
	}
	if got.Users != 4 || got.Identities != 4 || got.Free != 2 || got.AlreadyImported.Count != imported ||
		got.Collisions.Count != collisions || got.Failed.Count != 0 || got.LegacyIDAttribute != wantAttr {
		t.Fatalf("tenant figures %+v", got)
	}
	if got.Users != got.Free+got.AlreadyImported.Count+got.Collisions.Count+got.Failed.Count {
		t.Errorf("the figures do not reconcile: %+v", got)
	}
	var col cleanup.Sample
	for _, s := range got.Collisions.Samples {
		if s.LegacyID == "b1" {
			col = s
		}
	}
	if col.Line != 3 || col.Detail != "email b***@example.com taken by "+stranger {
		t.Errorf("collision sample %+v", got.Collisions.Samples)
	}
	if withAttr && (len(got.AlreadyImported.Samples) != 1 || got.AlreadyImported.Samples[0].LegacyID != "c1" ||
		!strings.Contains(got.AlreadyImported.Samples[0].Detail, earlier)) {
		t.Errorf("already imported samples %+v", got.AlreadyImported.Samples)
	}
	for _, email := range []string{"bea@example.com", "cy@example.com", "ann@example.com"} {
		if strings.Contains(strings.ToLower(stdout+stderr), email) {
			t.Errorf("the report shows %s unmasked", email)
		}
	}
	// Read-only: nothing written, and the look-ups are the only requests besides finding the attribute.
	if tn.Stats().Writes != writes || len(tn.Users()) != users {
		t.Errorf("the audit wrote to the tenant")
	}
	if n := tn.Stats().Requests - requests; n < 4 || n > 8 {
		t.Errorf("%d requests for 4 look-ups", n)
	}

	// The text summary and the HTML page have the section.
	page := filepath.Join(dir, "audit.html")
	code, stdout, _ = run(t, nil, "audit", "--source", csv, "--tenant-lookups", "--html", page, "--domain", tn.Domain(),
		"--tenant-id", tn.TenantID(), "--graph-url", srv.URL, "--authority-host", srv.AuthorityHost, "--ca-file", ca,
		"--client-id", sandbox.DefaultClientID, "--client-secret", sandbox.DefaultClientSecret)
	if code != 0 || !strings.Contains(stdout, "In the tenant (read-only look-ups)") || !strings.Contains(stdout, "b***@example.com taken by "+stranger) {
		t.Errorf("text report: exit %d\n%s", code, stdout)
	}
	html, err := os.ReadFile(page)
	if err != nil || !strings.Contains(string(html), "In the tenant (read-only look-ups)") || !strings.Contains(string(html), "b***@example.com taken by "+stranger) {
		t.Errorf("html report: %v", err)
	}
}
