package tenant_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/tenant"
)

const (
	targetURL = "https://migrate.example.com/entra/password"
	clientApp = "0d5f1c2b-3a4e-4f60-8a7b-9c0d1e2f3a4b"
	noGrantID = "00000000-0000-0000-0000-00000000a002"
	readerID  = "00000000-0000-0000-0000-00000000a003"
)

type env struct {
	srv *sandbox.Server
	ca  string
}

func start(t *testing.T, cfg sandbox.Config) *env {
	t.Helper()
	cfg.Apps = []sandbox.App{
		{ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret},
		// An app that may configure everything but not grant app roles (no AppRoleAssignment.ReadWrite.All).
		{ClientID: noGrantID, Secret: "no-grant", Roles: []string{"Application.ReadWrite.All", "CustomAuthenticationExtension.ReadWrite.All"}},
		{ClientID: readerID, Secret: "reader", Roles: []string{"User.ReadWrite.All"}},
	}
	cfg.DisableThrottling = true
	srv, err := sandbox.Start(cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, ca: ca}
}

func (e *env) client(t *testing.T, id, secret string) *graph.Client {
	t.Helper()
	cc := graph.CredentialConfig{TenantID: sandbox.DefaultTenantID, ClientID: id, ClientSecret: secret,
		AuthorityHost: e.srv.AuthorityHost, CAFile: e.ca}
	cred, err := cc.Credential()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := graph.HTTPClient(e.ca)
	if err != nil {
		t.Fatal(err)
	}
	c, err := graph.New(graph.Config{BaseURL: e.srv.URL, Credential: cred, HTTPClient: hc, AppID: id,
		Backoff: graph.Backoff{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) admin(t *testing.T) *graph.Client {
	return e.client(t, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
}

func config(dir string) tenant.Config {
	return tenant.Config{TargetURL: targetURL, ClientAppIDs: []string{clientApp}, KeyOut: filepath.Join(dir, "key.pem")}
}

// appKeys reads the extension app's keys with their material.
func appKeys(t *testing.T, c *graph.Client, res *tenant.Result) ([]graph.KeyCredential, *graph.Application) {
	t.Helper()
	keys, err := c.GetApplicationKeys(context.Background(), res.AppObjectID)
	if err != nil {
		t.Fatal(err)
	}
	app, err := c.GetApplication(context.Background(), res.AppObjectID)
	if err != nil {
		t.Fatal(err)
	}
	return keys, app
}

func allOK(t *testing.T, findings []tenant.Finding) {
	t.Helper()
	if len(findings) < 9 {
		t.Errorf("%d findings, want one per piece (9)", len(findings))
	}
	for _, f := range findings {
		if !f.OK {
			t.Errorf("check: %s", f)
		}
	}
}

func finding(findings []tenant.Finding, item string) tenant.Finding {
	for _, f := range findings {
		if f.Item == item {
			return f
		}
	}
	return tenant.Finding{Item: item, Detail: "(no such finding)"}
}

func TestSetupIsIdempotentAndWhatEntraResolves(t *testing.T) {
	e := start(t, sandbox.Config{})
	c := e.admin(t)
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config(dir)

	res, err := tenant.Setup(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Requests {
		got = append(got, r.Method+" "+strings.SplitN(r.Path, "/", 3)[2])
	}
	want := []string{"POST applications/" + e.srv.Tenant.ExtensionsAppObjectID() + "/extensionProperties",
		"POST applications/" + e.srv.Tenant.ExtensionsAppObjectID() + "/extensionProperties",
		"POST applications", "PATCH applications/" + res.AppObjectID, "POST servicePrincipals",
		"POST servicePrincipals/", "PATCH applications/" + res.AppObjectID,
		"POST identity/customAuthenticationExtensions", "POST identity/authenticationEventListeners"}
	if len(got) != len(want) {
		t.Fatalf("requests:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("request %d = %s, want %s…", i, got[i], want[i])
		}
	}
	if !res.NewKey || res.KeyPath != cfg.KeyOut || len(res.Pending) != 0 {
		t.Fatalf("result %+v", res)
	}
	if fi, err := os.Stat(cfg.KeyOut); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if res.ResourceID != "api://migrate.example.com/"+res.AppID ||
		res.MigrationPropertyID != "extension_"+e.srv.Tenant.ExtensionsAppIDNoDashes()+"_requiresMigration" {
		t.Fatalf("resourceId %s, migrationPropertyId %s", res.ResourceID, res.MigrationPropertyID)
	}
	keys, app := appKeys(t, c, res)
	if len(keys) != 1 || app.TokenEncryptionKeyID != keys[0].KeyID || keys[0].KeyID != res.KeyID || keys[0].Usage != "Encrypt" {
		t.Fatalf("keys %+v, tokenEncryptionKeyId %s", keys, app.TokenEncryptionKeyID)
	}

	// What a sign-in resolves: the listener, its extension, the app and the certificate of the key file.
	lc, ok := e.srv.Tenant.PasswordSubmitListenerFor(clientApp)
	if !ok || !lc.Usable() {
		t.Fatalf("listener %+v", lc)
	}
	priv, _, err := tenant.LoadKeyFile(cfg.KeyOut)
	if err != nil {
		t.Fatal(err)
	}
	if lc.TargetURL != targetURL || lc.ResourceID != res.ResourceID || lc.AppID != res.AppID || lc.Timeout != time.Second ||
		lc.MaxRetries != 1 || !lc.Consented || lc.EncryptionKeyID != res.KeyID || lc.MigrationPropertyID != res.MigrationPropertyID ||
		!lc.EncryptionCert.PublicKey.(*rsa.PublicKey).Equal(&priv.PublicKey) {
		t.Fatalf("resolved %+v", lc)
	}
	if _, ok := e.srv.Tenant.PasswordSubmitListenerFor(sandbox.DefaultClientID); ok {
		t.Errorf("the listener applies to an application it does not include")
	}

	// Again: nothing to do, no second key, the same key file.
	before, _ := os.ReadFile(cfg.KeyOut)
	res2, err := tenant.Setup(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Changed() || res2.NewKey || len(res2.Pending) != 0 || res2.KeyID != res.KeyID || res2.ExtensionID != res.ExtensionID || res2.ListenerID != res.ListenerID {
		t.Fatalf("second run: %+v", res2)
	}
	if keys, _ := appKeys(t, c, res); len(keys) != 1 {
		t.Fatalf("second run left %d keys", len(keys))
	}
	if after, _ := os.ReadFile(cfg.KeyOut); !bytes.Equal(before, after) {
		t.Errorf("the key file changed")
	}
	if n := len(e.srv.Tenant.PasswordSubmitListeners()); n != 1 {
		t.Errorf("%d listeners", n)
	}
	findings, err := tenant.Check(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	allOK(t, findings)
}

func TestSetupDryRunWritesNothing(t *testing.T) {
	e := start(t, sandbox.Config{})
	c := e.admin(t)
	dir := t.TempDir()
	cfg := config(dir)
	cfg.DryRun = true
	res, err := tenant.Setup(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Requests) != 9 {
		t.Fatalf("%d requests", len(res.Requests))
	}
	var all strings.Builder
	for _, r := range res.Requests {
		all.WriteString(r.String() + "\n")
	}
	for _, s := range []string{"POST /v1.0/applications\n", `"identifierUris"`, "{new certificate", "{new keyId}",
		`"targetUrl": "` + targetURL, `"migrationPropertyId": "extension_`, "{appId of the new application}"} {
		if !strings.Contains(all.String(), s) {
			t.Errorf("dry run output lacks %q:\n%s", s, all.String())
		}
	}
	if strings.Contains(all.String(), "PRIVATE KEY") {
		t.Errorf("a private key in the dry run")
	}
	if _, err := os.Stat(cfg.KeyOut); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dry run wrote the key file: %v", err)
	}
	if apps, _ := c.FindApplication(context.Background(), "displayName eq "+graph.Quote(tenant.DefaultAppDisplayName)); len(apps) != 0 {
		t.Errorf("the dry run created the application")
	}
	if l := e.srv.Tenant.PasswordSubmitListeners(); len(l) != 0 {
		t.Errorf("the dry run created a listener")
	}
	props, _ := c.ListExtensionProperties(context.Background(), e.srv.Tenant.ExtensionsAppObjectID())
	if len(props) != 0 {
		t.Errorf("the dry run created extension attributes")
	}
}

// selfSigned returns the DER of a throwaway certificate.
func selfSigned(t *testing.T) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "existing"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestSetupMergesExistingCertificates(t *testing.T) {
	e := start(t, sandbox.Config{})
	c := e.admin(t)
	ctx := context.Background()
	app, err := c.CreateApplication(ctx, map[string]any{"displayName": tenant.DefaultAppDisplayName})
	if err != nil {
		t.Fatal(err)
	}
	der := selfSigned(t)
	existing := graph.KeyCredential{KeyID: "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", Type: "AsymmetricX509Cert", Usage: "Verify", Key: der, DisplayName: "CN=existing"}
	if err := c.UpdateApplication(ctx, app.ID, map[string]any{"keyCredentials": []graph.KeyCredential{existing}}); err != nil {
		t.Fatal(err)
	}
	// A list read has no key material: a merge built from it would wipe the certificate.
	apps, _ := c.FindApplication(ctx, "appId eq "+graph.Quote(app.AppID))
	if len(apps) != 1 || len(apps[0].KeyCredentials) != 1 || apps[0].KeyCredentials[0].Key != nil {
		t.Fatalf("list read: %+v", apps)
	}

	res, err := tenant.Setup(ctx, c, config(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	keys, got := appKeys(t, c, res)
	if res.AppID != app.AppID || len(keys) != 2 {
		t.Fatalf("app %s, %d keys", res.AppID, len(keys))
	}
	if keys[0].KeyID != existing.KeyID || !bytes.Equal(keys[0].Key, der) || keys[0].Usage != "Verify" {
		t.Errorf("existing certificate not kept: %+v", keys[0])
	}
	if got.TokenEncryptionKeyID != keys[1].KeyID || keys[1].Usage != "Encrypt" {
		t.Errorf("tokenEncryptionKeyId %s, new key %+v", got.TokenEncryptionKeyID, keys[1])
	}
}

func TestRotateThenRemove(t *testing.T) {
	e := start(t, sandbox.Config{})
	c := e.admin(t)
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config(dir)
	first, err := tenant.Setup(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rot := cfg
	rot.KeyOut = filepath.Join(dir, "key2.pem")
	second, err := tenant.RotateKey(ctx, c, rot)
	if err != nil {
		t.Fatal(err)
	}
	keys, app := appKeys(t, c, first)
	if len(keys) != 2 || app.TokenEncryptionKeyID != second.KeyID || second.KeyID == first.KeyID {
		t.Fatalf("after rotation: %d keys, current %s, new %s", len(keys), app.TokenEncryptionKeyID, second.KeyID)
	}
	// The old key file no longer matches the current certificate; the new one does.
	findings, err := tenant.Check(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if f := finding(findings, "decryption key"); f.OK || !strings.Contains(f.Fix, "rotate-key") {
		t.Errorf("old key file: %s", f)
	}
	rot.KeyFiles = []string{cfg.KeyOut, rot.KeyOut}
	findings, err = tenant.Check(ctx, c, rot)
	if err != nil {
		t.Fatal(err)
	}
	allOK(t, findings)
	// Setup after a rotation keeps the new key.
	if res, err := tenant.Setup(ctx, c, rot); err != nil || res.Changed() {
		t.Fatalf("setup after rotation: %+v %v", res, err)
	}

	if _, err := tenant.RemoveKey(ctx, c, cfg, second.KeyID); !errors.Is(err, tenant.ErrInvalidConfig) {
		t.Fatalf("removing the current key: %v", err)
	}
	res, err := tenant.RemoveKey(ctx, c, cfg, first.KeyID)
	if err != nil || len(res.Requests) != 1 {
		t.Fatalf("remove: %+v %v", res, err)
	}
	keys, app = appKeys(t, c, first)
	if len(keys) != 1 || keys[0].KeyID != second.KeyID || app.TokenEncryptionKeyID != second.KeyID {
		t.Fatalf("after removal: %+v", keys)
	}
	if res, err := tenant.RemoveKey(ctx, c, cfg, first.KeyID); err != nil || res.Changed() {
		t.Fatalf("removing it again: %+v %v", res, err)
	}
}

func TestCheckReportsMissingPiecesThenAllGood(t *testing.T) {
	e := start(t, sandbox.Config{})
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config(dir)
	admin := e.admin(t)

	findings, err := tenant.Check(ctx, admin, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range []string{"extension attributes", "application", "custom extension"} {
		if f := finding(findings, item); f.OK || f.Fix == "" {
			t.Errorf("empty tenant: %s", f)
		}
	}

	// An app without AppRoleAssignment.ReadWrite.All sets everything up but the consent.
	res, err := tenant.Setup(ctx, e.client(t, noGrantID, "no-grant"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pending) != 1 || res.Pending[0].Item != "consent" || !strings.Contains(res.Pending[0].Fix, "Grant admin consent") {
		t.Fatalf("pending %+v", res.Pending)
	}
	if lc, _ := e.srv.Tenant.PasswordSubmitListenerFor(clientApp); lc.ErrorCode != sandbox.ErrCodePermissionNotGranted {
		t.Errorf("resolved without consent: %+v", lc)
	}
	findings, err = tenant.Check(ctx, admin, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if f := finding(findings, "consent"); f.OK || !strings.Contains(f.Detail, "1003021") {
		t.Errorf("consent: %s", f)
	}
	for _, f := range findings {
		if f.Item != "consent" && !f.OK {
			t.Errorf("%s", f)
		}
	}

	// A deleted listener is found missing, and setup restores it.
	if err := admin.DeleteAuthenticationEventListener(ctx, res.ListenerID); err != nil {
		t.Fatal(err)
	}
	findings, _ = tenant.Check(ctx, admin, cfg)
	if f := finding(findings, "listener"); f.OK {
		t.Errorf("listener: %s", f)
	}
	if _, err := tenant.Setup(ctx, admin, cfg); err != nil {
		t.Fatal(err)
	}
	findings, err = tenant.Check(ctx, admin, cfg)
	if err != nil {
		t.Fatal(err)
	}
	allOK(t, findings)
}

func TestSetupPatchesTheExtensionAndListenerToMatch(t *testing.T) {
	e := start(t, sandbox.Config{})
	c := e.admin(t)
	ctx := context.Background()
	cfg := config(t.TempDir())
	first, err := tenant.Setup(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 1500 * time.Millisecond
	cfg.ClientAppIDs = nil // every application
	res, err := tenant.Setup(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Requests) != 2 || res.Requests[0].Method != "PATCH" || res.Requests[1].Method != "PATCH" ||
		res.ExtensionID != first.ExtensionID || res.ListenerID != first.ListenerID {
		t.Fatalf("requests %v", res.Requests)
	}
	lc, ok := e.srv.Tenant.PasswordSubmitListenerFor(sandbox.DefaultClientID)
	if !ok || !lc.AllApplications || lc.Timeout != 1500*time.Millisecond || !lc.Usable() {
		t.Fatalf("after patch: %+v", lc)
	}
}

// TestEntraEndpointChecks: https target, resourceId api://{host}/{appId} on the target's host (1003014, 1003015),
// on create and on PATCH, in the sandbox's Graph and in Setup.
func TestEntraEndpointChecks(t *testing.T) {
	e := start(t, sandbox.Config{})
	c := e.admin(t)
	ctx := context.Background()
	appID := "7b3e9c41-2d5a-4f86-b0e7-1c9a4d6f2e58"
	cases := []struct {
		name, target, resource, want string
	}{
		{"other host", "https://migrate.example.com/x", "api://other.example.com/" + appID, "1003015"},
		{"not api://", "https://migrate.example.com/x", "https://migrate.example.com/" + appID, "1003014"},
		{"no app id", "https://migrate.example.com/x", "api://migrate.example.com", "1003014"},
		{"http target", "http://migrate.example.com/x", "api://migrate.example.com/" + appID, "https"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateCustomAuthenticationExtension(ctx, graph.PasswordSubmitExtension("x", tc.target, tc.resource, time.Second, 1))
			if !errors.Is(err, graph.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("create: %v", err)
			}
		})
	}
	good, err := c.CreateCustomAuthenticationExtension(ctx, graph.PasswordSubmitExtension("x", "https://migrate.example.com/x", "api://migrate.example.com/"+appID, time.Second, 1))
	if err != nil {
		t.Fatal(err)
	}
	err = c.UpdateCustomAuthenticationExtension(ctx, good.ID(), graph.PasswordSubmitExtension("x", "https://moved.example.com/x", "api://migrate.example.com/"+appID, time.Second, 1))
	if !errors.Is(err, graph.ErrInvalid) || !strings.Contains(err.Error(), "1003015") {
		t.Fatalf("patch to another host: %v", err)
	}
	if err := c.UpdateCustomAuthenticationExtension(ctx, good.ID(), graph.PasswordSubmitExtension("x", "https://migrate.example.com/x", "api://migrate.example.com/"+appID, 3*time.Second, 1)); !errors.Is(err, graph.ErrInvalid) {
		t.Fatalf("timeout 3s: %v", err)
	}
	for _, target := range []string{"http://migrate.example.com/x", "https:///x", ""} {
		cfg := config(t.TempDir())
		cfg.TargetURL = target
		if _, err := tenant.Setup(ctx, c, cfg); !errors.Is(err, tenant.ErrInvalidConfig) {
			t.Errorf("setup with target %q: %v", target, err)
		}
	}
	cfg := config(t.TempDir())
	cfg.Timeout = 100 * time.Millisecond
	if _, err := tenant.Setup(ctx, c, cfg); !errors.Is(err, tenant.ErrInvalidConfig) {
		t.Errorf("setup with timeout 100ms: %v", err)
	}
}

func TestForbiddenNamesTheRoles(t *testing.T) {
	e := start(t, sandbox.Config{})
	c := e.client(t, readerID, "reader")
	_, err := tenant.Setup(context.Background(), c, config(t.TempDir()))
	if !errors.Is(err, graph.ErrForbidden) || !strings.Contains(err.Error(), "Application.ReadWrite.All") ||
		!strings.Contains(err.Error(), "Authentication Extensibility Password Administrator") {
		t.Fatalf("setup without permissions: %v", err)
	}
	findings, err := tenant.Check(context.Background(), c, config(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if f := finding(findings, "extension attributes"); f.OK || !strings.Contains(f.Fix, tenant.AuthenticationExtensibilityPasswordAdministrator) {
		t.Errorf("check without permissions: %s", f)
	}
}

func TestReadQuota(t *testing.T) {
	e := start(t, sandbox.Config{Limits: sandbox.Limits{Quota: 1000}})
	q, err := tenant.ReadQuota(context.Background(), e.admin(t))
	if err != nil {
		t.Fatal(err)
	}
	if q.Total != 1000 || q.Used != 4 || q.Remaining() != 996 { // the b2c-extensions-app and the three apps
		t.Fatalf("quota %+v", q)
	}
	if err := q.Check(996); err != nil {
		t.Errorf("996 fit: %v", err)
	}
	err = q.Check(997)
	var qe *tenant.QuotaError
	if !errors.As(err, &qe) || !errors.Is(err, graph.ErrQuotaExceeded) || !strings.Contains(err.Error(), "997") {
		t.Errorf("997: %v", err)
	}
	_, err = tenant.ReadQuota(context.Background(), e.client(t, readerID, "reader"))
	if !errors.Is(err, tenant.ErrQuotaUnreadable) || !errors.Is(err, graph.ErrForbidden) || !strings.Contains(err.Error(), "Organization.Read.All") {
		t.Errorf("without Organization.Read.All: %v", err)
	}
}

func TestKeyFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.pem")
	k, err := tenant.GenerateKey("test", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.WriteKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	if err := tenant.WriteKeyFile(path, k); !errors.Is(err, os.ErrExist) {
		t.Fatalf("overwrite: %v", err)
	}
	priv, cert, err := tenant.LoadKeyFile(path)
	if err != nil || !priv.PublicKey.Equal(k.Cert.PublicKey) || !cert.Equal(k.Cert) || priv.N.BitLen() != 2048 {
		t.Fatalf("load: %v", err)
	}
	if err := os.WriteFile(path+".bad", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tenant.LoadKeyFile(path + ".bad"); err == nil || strings.Contains(err.Error(), "AAAA") {
		t.Fatalf("bad key: %v", err)
	}
}

func TestRotateDryRunWritesNothing(t *testing.T) {
	e := start(t, sandbox.Config{})
	c := e.admin(t)
	ctx := context.Background()
	cfg := config(t.TempDir())
	first, err := tenant.Setup(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rot := cfg
	rot.KeyOut = filepath.Join(t.TempDir(), "k2.pem")
	rot.DryRun = true
	res, err := tenant.RotateKey(ctx, c, rot)
	if err != nil || len(res.Requests) != 1 || !strings.Contains(res.Requests[0].String(), "{existing certificate") {
		t.Fatalf("dry rotation: %+v %v", res, err)
	}
	if _, err := os.Stat(rot.KeyOut); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dry run wrote a key file")
	}
	if keys, app := appKeys(t, c, first); len(keys) != 1 || app.TokenEncryptionKeyID != first.KeyID {
		t.Errorf("the dry run changed the keys")
	}
}
