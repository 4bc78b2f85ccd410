package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idshift/idshift/cleanup"
	"github.com/idshift/idshift/graph"
)

// sandboxTenantUsers returns the sandbox tenant's users (its unauthenticated admin endpoint).
func sandboxTenantUsers(t *testing.T, vars map[string]string) []map[string]any {
	t.Helper()
	hc, err := graph.HTTPClient(vars["IDSHIFT_CA_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(vars["IDSHIFT_GRAPH_URL"] + "/_sandbox/users")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Value []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Value
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportRefusesSensitiveNames: a mapping that sends an attribute with a medical name stops the import before
// anything is read or sent, naming the attribute and how to allow it; allowed by flag or by configuration, it runs.
func TestImportRefusesSensitiveNames(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, dir, "u.csv", "legacy_id,email,blood\nu1,u1@example.com,A+\n")
	mapping := writeFile(t, dir, "m.yaml", "legacy_id: legacy_id\nidentities:\n  - {sign_in_type: emailAddress, column: email}\nextensions:\n  bloodType: blood\n")
	args := []string{"import", "--source", src, "--mapping", mapping, "--store", filepath.Join(dir, "s.db"), "--domain", "contoso.onmicrosoft.com", "--dry-run"}
	code, stdout, stderr := run(t, nil, args...)
	if code != exitFailed || !strings.Contains(stderr, `"bloodType"`) || !strings.Contains(stderr, "medical-looking name") ||
		!strings.Contains(stderr, "--allow-sensitive bloodType") || !strings.Contains(stderr, "import.allow_sensitive") || stdout != "" {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, nil, append(args, "--allow-sensitive", "blood")...)
	if code != exitComplete || !strings.Contains(stdout, `_bloodType":"A+"`) {
		t.Fatalf("allowed by flag: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	cfg := writeFile(t, dir, "idshift.yaml", "import:\n  allow_sensitive: [bloodType]\n")
	code, stdout, stderr = run(t, nil, append(args, "--config", cfg)...)
	if code != exitComplete || !strings.Contains(stdout, `_bloodType":"A+"`) {
		t.Fatalf("allowed by configuration: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

// TestImportRejectsSensitiveValues: a card number in an extension attribute rejects its row to the reject file
// (line, attribute and kind, never the value), the counts reconcile and the exit status says rejections.
func TestImportRejectsSensitiveValues(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, dir, "u.csv", "legacy_id,email,note\nu1,u1@example.com,hello\nu2,u2@example.com,4111-1111-1111-1111\n")
	mapping := writeFile(t, dir, "m.yaml", "legacy_id: legacy_id\nidentities:\n  - {sign_in_type: emailAddress, column: email}\nextensions:\n  note: note\n")
	code, stdout, stderr := run(t, nil, "import", "--source", src, "--mapping", mapping, "--domain", "contoso.onmicrosoft.com", "--dry-run")
	if code != exitWithRejections || strings.Count(stdout, `"action":"reject"`) != 1 || strings.Count(stdout, `"action":"create"`) != 1 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "extension attribute note holds a payment card number") || strings.Contains(stdout, "4111") {
		t.Errorf("reject line:\n%s", stdout)
	}
}

// TestConsentMarkersThroughTenantSetupAndImport: with import.consent, tenant setup creates the consent attributes
// (once: a second setup creates nothing), import sends them (the created user carries them) and --update patches a
// changed one.
func TestConsentMarkersThroughTenantSetupAndImport(t *testing.T) {
	dir := t.TempDir()
	vars := sandboxVars(t, dir, "--no-throttle")
	target := "https://migrate.example.com/entra"
	key := filepath.Join(dir, "k.pem")
	code, stdout, stderr := run(t, vars, "tenant", "setup", "--consent", "--dry-run", "--target-url", target, "--key-out", key)
	if code != exitComplete || strings.Count(stdout, `"name": "privacyPolicyAcceptedAt"`) != 1 || strings.Count(stdout, `"dataType": "DateTime"`) != 2 ||
		strings.Count(stdout, `"name": "termsOfUseVersion"`) != 1 {
		t.Fatalf("setup dry run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr = run(t, vars, "tenant", "setup", "--consent", "--target-url", target, "--key-out", key); code != exitComplete {
		t.Fatalf("setup: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, vars, "tenant", "setup", "--consent", "--dry-run", "--target-url", target, "--key-out", key)
	if code != exitComplete || strings.Contains(stdout, "extensionProperties") {
		t.Fatalf("second setup would create again: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, _ := run(t, vars, "tenant", "check", "--consent", "--key-file", key); code != exitComplete || !strings.Contains(stdout, "termsOfUseAcceptedAt (DateTime)") {
		t.Fatalf("check: exit %d\n%s", code, stdout)
	}

	mapping := writeFile(t, dir, "m.yaml", "legacy_id: legacy_id\nidentities:\n  - {sign_in_type: emailAddress, column: email}\n"+
		"privacy_policy: {version: pp, date: pp_at}\nterms_of_use: {version: tou, date: tou_at}\n")
	csv := "legacy_id,email,pp,pp_at,tou,tou_at\nc1,c1@example.com,v1,2024-03-01T12:00:00Z,t9,2024-03-02\n"
	src := writeFile(t, dir, "u.csv", csv)
	imp := []string{"import", "--source", src, "--mapping", mapping, "--store", filepath.Join(dir, "s.db"), "--consent", "--json",
		"--app-writes", "100000", "--app-window", "1s", "--tenant-writes", "100000", "--tenant-window", "1s"}
	if code, stdout, stderr := run(t, vars, imp...); code != exitComplete {
		t.Fatalf("import: exit %d\n%s\n%s", code, stdout, stderr)
	}
	carried := func() map[string]any {
		out := map[string]any{}
		for _, u := range sandboxTenantUsers(t, vars) {
			for k, v := range u {
				if i := strings.LastIndex(k, "_"); strings.HasPrefix(k, "extension_") {
					out[k[i+1:]] = v
				}
			}
		}
		return out
	}
	got := carried()
	for k, want := range map[string]string{"privacyPolicyVersion": "v1", "privacyPolicyAcceptedAt": "2024-03-01T12:00:00Z", "termsOfUseVersion": "t9", "termsOfUseAcceptedAt": "2024-03-02T00:00:00Z"} {
		if got[k] != want {
			t.Errorf("created user: %s = %v, want %s (all %v)", k, got[k], want, got)
		}
	}
	writeFile(t, dir, "u.csv", strings.Replace(csv, "t9,2024-03-02", "t10,2025-01-01", 1))
	code, stdout, stderr = run(t, vars, append(imp, "--update")...)
	if code != exitComplete || !strings.Contains(stdout, `"updated": 1`) && !strings.Contains(stdout, `"updated":1`) {
		t.Fatalf("update: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := carried(); got["termsOfUseVersion"] != "t10" || got["termsOfUseAcceptedAt"] != "2025-01-01T00:00:00Z" || got["privacyPolicyVersion"] != "v1" {
		t.Errorf("after --update: %v", got)
	}
}

// TestAuditReportsUnmappedColumns: the audit scans the columns the mapping leaves out and reports their fill rate
// and findings as unmapped, values masked.
func TestAuditReportsUnmappedColumns(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, dir, "u.csv", "legacy_id,email,tax_id,diagnosis,plan\n"+
		"u1,u1@example.com,123-45-6789,,gold\nu2,u2@example.com,,flu,\nu3,u3@example.com,,,silver\n")
	code, stdout, stderr := run(t, nil, "audit", "--source", src, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep cleanup.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	fill := map[string]int64{}
	for _, f := range rep.Fill {
		fill[f.Attribute] = f.Filled
	}
	if fill["unmapped.tax_id"] != 1 || fill["unmapped.diagnosis"] != 1 || fill["unmapped.plan"] != 2 {
		t.Errorf("fill %v", fill)
	}
	kinds := map[string]bool{}
	for _, f := range rep.Sensitive {
		kinds[f.Attribute+"/"+f.Kind] = true
	}
	for _, k := range []string{"unmapped.tax_id/US social security number", "unmapped.diagnosis/medical-looking name"} {
		if !kinds[k] {
			t.Errorf("no finding %s: %v", k, kinds)
		}
	}
	if strings.Contains(stdout, "123-45-6789") || strings.Contains(stdout, "flu") || !strings.Contains(rep.Scanned, "unmapped") {
		t.Errorf("report shows a value or does not say unmapped values were scanned:\n%s", stdout)
	}
}
