package sandbox_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift/sandbox"
)

func certB64(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "enc"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// TestPasswordSubmitConfiguration builds the whole OnPasswordSubmit configuration through Graph, piece by piece,
// and checks what a sign-in resolves after each one.
func TestPasswordSubmitConfiguration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, c := adminClient(t, sandbox.Config{StatePath: path})
	flag := registerExt(t, c, s, "requiresMigration", "Boolean")

	r := c.do("POST", "/v1.0/applications", map[string]any{"displayName": "jit"})
	if r.status != 201 {
		t.Fatalf("create app: %d %s", r.status, r.raw)
	}
	obj, appID := r.body["id"].(string), r.body["appId"].(string)
	resource := "api://migrate.example.com/" + appID
	ext := map[string]any{
		"@odata.type": "#microsoft.graph.onPasswordSubmitCustomExtension", "displayName": "jit",
		"endpointConfiguration":       map[string]any{"@odata.type": "#microsoft.graph.httpRequestEndpoint", "targetUrl": "https://migrate.example.com/entra"},
		"authenticationConfiguration": map[string]any{"@odata.type": "#microsoft.graph.azureAdTokenAuthentication", "resourceId": resource},
		"clientConfiguration":         map[string]any{"timeoutInMilliseconds": 1500, "maximumRetries": 1},
	}
	r = c.do("POST", "/beta/identity/customAuthenticationExtensions", ext)
	if r.status != 201 {
		t.Fatalf("create extension: %d %s", r.status, r.raw)
	}
	extID := r.body["id"].(string)
	r = c.do("POST", "/beta/identity/authenticationEventListeners", map[string]any{
		"@odata.type": "#microsoft.graph.onPasswordSubmitListener", "priority": 500,
		"conditions": map[string]any{"applications": map[string]any{"includeAllApplications": true}},
		"handler": map[string]any{"@odata.type": "#microsoft.graph.onPasswordMigrationCustomExtensionHandler",
			"migrationPropertyId": flag, "customExtension": map[string]any{"id": extID}},
	})
	if r.status != 201 {
		t.Fatalf("create listener: %d %s", r.status, r.raw)
	}
	lid := r.body["id"].(string)
	resolve := func() sandbox.PasswordSubmitConfig {
		t.Helper()
		l, ok := s.Tenant.PasswordSubmitListenerFor("0d5f1c2b-3a4e-4f60-8a7b-9c0d1e2f3a4b")
		if !ok {
			t.Fatal("no listener applies")
		}
		return l
	}
	if l := resolve(); l.ErrorCode != sandbox.ErrCodeResourceIDFormat || l.Timeout != 1500*time.Millisecond || l.MigrationPropertyID != flag {
		t.Fatalf("no app holds the resourceId: %+v", l)
	}

	// The identifier URI; another app may not take it.
	if r := c.do("PATCH", "/v1.0/applications/"+obj, map[string]any{"identifierUris": []any{resource}}); r.status != 204 {
		t.Fatalf("identifierUris: %d %s", r.status, r.raw)
	}
	r2 := c.do("POST", "/v1.0/applications", map[string]any{"displayName": "other", "identifierUris": []any{resource}})
	if r2.status != 400 || !strings.Contains(r2.errMessage(), "identifierUris") {
		t.Fatalf("duplicate identifier URI: %d %s", r2.status, r2.raw)
	}
	if l := resolve(); l.ErrorCode != sandbox.ErrCodePermissionNotGranted || l.AppID != appID {
		t.Fatalf("no consent: %+v", l)
	}

	// Service principal and consent.
	r = c.do("POST", "/v1.0/servicePrincipals", map[string]any{"appId": appID})
	if r.status != 201 {
		t.Fatalf("service principal: %d %s", r.status, r.raw)
	}
	sp := r.body["id"].(string)
	if r := c.do("POST", "/v1.0/servicePrincipals", map[string]any{"appId": appID}); r.status != 400 {
		t.Fatalf("second service principal: %d", r.status)
	}
	r = c.do("GET", "/v1.0/servicePrincipals?$filter=appId%20eq%20'00000003-0000-0000-c000-000000000000'", nil)
	graphSP := r.body["value"].([]any)[0].(map[string]any)["id"].(string)
	grant := map[string]any{"principalId": sp, "resourceId": graphSP, "appRoleId": sandbox.ReceivePayloadRoleID}
	if r := c.do("POST", "/v1.0/servicePrincipals/"+sp+"/appRoleAssignments", grant); r.status != 201 {
		t.Fatalf("grant: %d %s", r.status, r.raw)
	}
	if r := c.do("POST", "/v1.0/servicePrincipals/"+sp+"/appRoleAssignments", grant); r.status != 400 {
		t.Fatalf("second grant: %d", r.status)
	}
	if l := resolve(); !l.Consented || l.ErrorCode != 0 || l.Usable() || l.EncryptionCert != nil {
		t.Fatalf("no certificate: %+v", l)
	}

	// The certificate: key material only on a single-app read with $select=keyCredentials.
	kid := "6f2b6a4e-9c1d-4e8f-a3b2-1c0d9e8f7a6b"
	cert := certB64(t)
	key := map[string]any{"type": "AsymmetricX509Cert", "usage": "Encrypt", "keyId": kid, "key": cert, "displayName": "CN=enc"}
	if r := c.do("PATCH", "/v1.0/applications/"+obj, map[string]any{"keyCredentials": []any{key}, "tokenEncryptionKeyId": kid}); r.status != 204 {
		t.Fatalf("keys: %d %s", r.status, r.raw)
	}
	keyOf := func(r response) any { return r.body["keyCredentials"].([]any)[0].(map[string]any)["key"] }
	if r := c.do("GET", "/v1.0/applications/"+obj+"?$select=keyCredentials", nil); keyOf(r) != cert || len(r.body) != 2 {
		t.Fatalf("$select=keyCredentials: %s", r.raw)
	}
	if r := c.do("GET", "/v1.0/applications/"+obj, nil); keyOf(r) != nil {
		t.Fatalf("plain read returned the key")
	}
	if r := c.do("GET", "/v1.0/applications?$filter=appId%20eq%20'"+appID+"'", nil); r.body["value"].([]any)[0].(map[string]any)["keyCredentials"].([]any)[0].(map[string]any)["key"] != nil {
		t.Fatalf("list read returned the key")
	}
	l := resolve()
	if !l.Usable() || l.EncryptionKeyID != kid || l.EncryptionCert == nil || l.TargetURL != "https://migrate.example.com/entra" || l.ResourceID != resource {
		t.Fatalf("complete: %+v", l)
	}

	// PATCH: the extension to another host fails 1003015; a timeout change applies.
	bad := map[string]any{"@odata.type": ext["@odata.type"], "endpointConfiguration": map[string]any{"@odata.type": "#microsoft.graph.httpRequestEndpoint", "targetUrl": "https://moved.example.com/entra"}}
	if r := c.do("PATCH", "/beta/identity/customAuthenticationExtensions/"+extID, bad); r.status != 400 || !strings.Contains(r.errMessage(), "1003015") {
		t.Fatalf("patch to another host: %d %s", r.status, r.raw)
	}
	if r := c.do("PATCH", "/beta/identity/customAuthenticationExtensions/"+extID, map[string]any{"clientConfiguration": map[string]any{"timeoutInMilliseconds": 2000, "maximumRetries": 0}}); r.status != 204 {
		t.Fatalf("patch timeout: %d %s", r.status, r.raw)
	}
	if r := c.do("PATCH", "/beta/identity/authenticationEventListeners/"+lid, map[string]any{"handler": map[string]any{"@odata.type": "#microsoft.graph.onPasswordMigrationCustomExtensionHandler",
		"migrationPropertyId": flag, "customExtension": map[string]any{"id": "00000000-0000-0000-0000-000000000000"}}}); r.status != 400 {
		t.Fatalf("listener to a missing extension: %d %s", r.status, r.raw)
	}
	if l := resolve(); l.Timeout != 2*time.Second || l.MaxRetries != 0 || !l.Usable() {
		t.Fatalf("after patch: %+v", l)
	}

	// A keyCredentials PATCH built from a list read (keys null) wipes the certificates, as in Graph.
	listed := c.do("GET", "/v1.0/applications/"+obj, nil).body["keyCredentials"]
	if r := c.do("PATCH", "/v1.0/applications/"+obj, map[string]any{"keyCredentials": listed}); r.status != 400 {
		t.Fatalf("keys wiped under tokenEncryptionKeyId: %d %s", r.status, r.raw)
	}

	// Everything survives a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t2, err := sandbox.New(sandbox.Config{StatePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer t2.Close()
	if ls := t2.PasswordSubmitListeners(); len(ls) != 1 || !ls[0].Usable() {
		t.Fatalf("after reload: %+v", ls)
	}
}
