package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/sandbox"
)

// TestB2CKind lints and dry-runs the users of a sandbox playing the legacy B2C tenant through --source-kind b2c.
func TestB2CKind(t *testing.T) {
	srv, err := sandbox.Start(sandbox.Config{Apps: []sandbox.App{{ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret}}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	cc := graph.CredentialConfig{TenantID: sandbox.DefaultTenantID, ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret, AuthorityHost: srv.AuthorityHost, CAFile: ca}
	cred, err := cc.Credential()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := graph.HTTPClient(ca)
	if err != nil {
		t.Fatal(err)
	}
	c, err := graph.New(graph.Config{BaseURL: srv.URL, Credential: cred, HTTPClient: hc, AppID: sandbox.DefaultClientID})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		u := &graph.User{DisplayName: fmt.Sprint("Legacy ", i), Identities: []graph.Identity{{SignInType: "emailAddress", Issuer: srv.Tenant.Domain(), IssuerAssignedID: fmt.Sprintf("l%d@example.com", i)}},
			PasswordProfile: &graph.PasswordProfile{Password: fmt.Sprintf("Legacy-%d-pw!", i)}}
		if _, err := c.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "b2c.yaml")
	yaml := fmt.Sprintf("graph_url: %s\ncredentials:\n  tenantId: %s\n  clientId: %s\n  authorityHost: %s\n  caFile: %s\n", srv.URL, sandbox.DefaultTenantID, sandbox.DefaultClientID, srv.AuthorityHost, ca)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IDSHIFT_B2C_CLIENT_SECRET", sandbox.DefaultClientSecret)
	code, stdout, stderr := run(t, nil, "hashes", "lint", "--source-kind", "b2c", "--source", cfg)
	if !strings.Contains(stdout, "users: 3") || !strings.Contains(stdout, "no hash: 3") {
		t.Fatalf("lint: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, nil, "import", "--source-kind", "b2c", "--source", cfg, "--live-check", "--domain", "contoso.onmicrosoft.com", "--store", filepath.Join(dir, "s.db"), "--dry-run")
	if code != 0 || strings.Count(stdout, `"action":"create"`) != 3 || strings.Count(stdout, `requiresMigration":true`) != 3 {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
}
