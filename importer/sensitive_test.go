package importer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/importer"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/file"
)

// withMapping replaces a run's source by csv read through the YAML mapping.
func (e *env) withMapping(t *testing.T, csv, mapping string) func(*importer.Config) {
	t.Helper()
	m, err := source.ParseMapping([]byte(mapping))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.tmp, "mapped.csv")
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := file.Config{Path: path, Name: "legacy", Mapping: m}.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return func(c *importer.Config) { c.Source = src }
}

// extensions creates String/DateTime extension attributes in the sandbox tenant.
func (e *env) extensions(t *testing.T, attrs []importer.ExtensionAttribute) {
	t.Helper()
	for _, a := range attrs {
		p := graph.ExtensionProperty{Name: a.Name, DataType: a.DataType, TargetObjects: []string{"User"}}
		if _, err := e.dir.CreateExtensionProperty(context.Background(), e.srv.Tenant.ExtensionsAppObjectID(), p); err != nil {
			t.Fatalf("create extension property %s: %v", a.Name, err)
		}
	}
}

const sensitiveMapping = `
legacy_id: legacy_id
display_name: display_name
identities:
  - {sign_in_type: emailAddress, column: email}
extensions:
  notes: notes
  tier: tier
`

const sensitiveCSV = `legacy_id,email,display_name,notes,tier
u1,u1@example.com,One,likes tea,gold
u2,u2@example.com,Two,card 4111 1111 1111 1111 on file,gold
u3,u3@example.com,Three,ssn 123-45-6789,silver
u4,u4@example.com,Card 5500-0000-0000-0004,,silver
u5,u5@example.com,Five,order 4111 1111 1111 1112 (not a card),bronze
`

func TestImportRejectsSensitiveValuesUnlessAllowed(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	e.extensions(t, []importer.ExtensionAttribute{{Name: "notes", DataType: "String"}, {Name: "tier", DataType: "String"}})
	mod := e.withMapping(t, sensitiveCSV, sensitiveMapping)
	sum, rejects, err := e.run(t, genCSV(0), func(c *importer.Config) { mod(c); c.LiveCheck = true })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 5 || sum.Created != 2 || sum.Rejected != 3 {
		t.Fatalf("summary %+v, rejects %+v", sum, rejects)
	}
	want := map[int64][2]string{
		3: {"extensions.notes", "extension attribute notes holds a payment card number"},
		4: {"extensions.notes", "extension attribute notes holds a US social security number"},
		5: {"displayName", "displayName holds a payment card number"},
	}
	for _, re := range rejects {
		w, ok := want[re.Line]
		if !ok || re.Field != w[0] || !strings.Contains(re.Reason, w[1]) || !strings.Contains(re.Reason, "import.allow_sensitive") {
			t.Errorf("reject %+v, want line %d field %q reason with %q", re, re.Line, w[0], w[1])
		}
		for _, digits := range []string{"1111", "6789", "0004"} {
			if strings.Contains(re.Reason, digits) {
				t.Errorf("reject reason shows the value: %q", re.Reason)
			}
		}
		delete(want, re.Line)
	}
	if len(want) != 0 {
		t.Errorf("not rejected: %v", want)
	}
	if got := e.tenantByLegacyID(t); len(got) != 2 || got["u1"] == nil || got["u5"] == nil {
		t.Errorf("tenant holds %v", got)
	}

	// Allowed by name, the card and the SSN in notes pass; the display name is still refused.
	mod = e.withMapping(t, sensitiveCSV, sensitiveMapping)
	sum, rejects, err = e.run(t, genCSV(0), func(c *importer.Config) {
		mod(c)
		c.LiveCheck = true
		c.AllowSensitive = []string{"Notes"}
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 5 || sum.Created != 2 || sum.Skipped != 2 || sum.Rejected != 1 || len(rejects) != 1 || rejects[0].Line != 5 {
		t.Fatalf("allowed: summary %+v, rejects %+v", sum, rejects)
	}
	if u := e.tenantByLegacyID(t)["u3"]; len(u) != 1 || u[0]["extension_"+e.ext+"_notes"] != "ssn 123-45-6789" {
		t.Errorf("allowed attribute not sent: %v", u)
	}
}

func TestImportRejectsSensitiveExtensionNames(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	e.extensions(t, []importer.ExtensionAttribute{{Name: "bloodType", DataType: "String"}})
	mapping := "legacy_id: legacy_id\nidentities:\n  - {sign_in_type: emailAddress, column: email}\nextensions:\n  bloodType: blood\n"
	csv := "legacy_id,email,blood\nu1,u1@example.com,A+\nu2,u2@example.com,\n"
	mod := e.withMapping(t, csv, mapping)
	sum, rejects, err := e.run(t, genCSV(0), func(c *importer.Config) { mod(c); c.LiveCheck = true })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 2 || sum.Created != 1 || sum.Rejected != 1 || len(rejects) != 1 ||
		rejects[0].Field != "extensions.bloodType" || !strings.Contains(rejects[0].Reason, "medical-looking name") {
		t.Fatalf("summary %+v, rejects %+v", sum, rejects)
	}
	if strings.Contains(rejects[0].Reason, "A+") {
		t.Errorf("reason shows the value: %q", rejects[0].Reason)
	}
}

func TestCheckNames(t *testing.T) {
	for _, tc := range []struct {
		names, allow []string
		bad, kind    string
	}{
		{names: []string{"legacy_id", "email", "tier", "classname", "single", "panel"}},
		{names: []string{"email", "bloodType"}, bad: "bloodType", kind: "medical-looking name"},
		{names: []string{"user_ssn"}, bad: "user_ssn", kind: "national-id-looking name"},
		{names: []string{"SSN"}, bad: "SSN", kind: "national-id-looking name"},
		{names: []string{"passportNumber"}, bad: "passportNumber", kind: "national-id-looking name"},
		{names: []string{"credit_card"}, bad: "credit_card", kind: "card-looking name"},
		{names: []string{"cardNumber", "cvv"}, bad: "cardNumber", kind: "card-looking name"},
		{names: []string{"cardNumber"}, allow: []string{"CARDNUMBER"}},
	} {
		t.Run(strings.Join(tc.names, ","), func(t *testing.T) {
			err := importer.CheckNames(tc.names, tc.allow)
			var se *importer.SensitiveNameError
			if tc.bad == "" {
				if err != nil {
					t.Fatalf("err %v, want none", err)
				}
				return
			}
			if !errors.As(err, &se) || se.Attribute != tc.bad || se.Kind != tc.kind {
				t.Fatalf("err %v, want %s (%s)", err, tc.bad, tc.kind)
			}
			if msg := err.Error(); !strings.Contains(msg, "--allow-sensitive "+tc.bad) || !strings.Contains(msg, "import.allow_sensitive") {
				t.Errorf("message does not say how to allow it: %s", msg)
			}
		})
	}
}

const consentMapping = `
legacy_id: legacy_id
identities:
  - {sign_in_type: emailAddress, column: email}
privacy_policy: {version: pp_version, date: pp_date}
terms_of_use: {version: tou_version, date: tou_date}
`

func TestImportSendsConsentMarkers(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	e.extensions(t, importer.ConsentAttributes())
	csv := "legacy_id,email,pp_version,pp_date,tou_version,tou_date\n" +
		"u1,u1@example.com,2024-01,2024-02-03T10:00:00+02:00,v7,2023-05-06\n" +
		"u2,u2@example.com,,,,\n"
	consent := func(mod func(*importer.Config), update bool) func(*importer.Config) {
		return func(c *importer.Config) { mod(c); c.LiveCheck = true; c.Consent = true; c.Update = update }
	}
	sum, rejects, err := e.run(t, genCSV(0), consent(e.withMapping(t, csv, consentMapping), false))
	if err != nil || sum.Created != 2 || len(rejects) != 0 {
		t.Fatalf("summary %+v, rejects %+v, err %v", sum, rejects, err)
	}
	x := func(n string) string { return "extension_" + e.ext + "_" + n }
	users := e.tenantByLegacyID(t)
	u1 := users["u1"][0]
	for k, want := range map[string]string{
		"privacyPolicyVersion": "2024-01", "privacyPolicyAcceptedAt": "2024-02-03T08:00:00Z",
		"termsOfUseVersion": "v7", "termsOfUseAcceptedAt": "2023-05-06T00:00:00Z",
	} {
		if u1[x(k)] != want {
			t.Errorf("u1 %s = %v, want %s", k, u1[x(k)], want)
		}
	}
	for _, a := range importer.ConsentAttributes() {
		if v, ok := users["u2"][0][x(a.Name)]; ok {
			t.Errorf("u2 without consent carries %s = %v", a.Name, v)
		}
	}

	// A new version of the privacy policy accepted: --update patches it.
	changed := strings.Replace(csv, "2024-01,2024-02-03T10:00:00+02:00", "2025-01,2025-03-04T00:00:00Z", 1)
	sum, _, err = e.run(t, genCSV(0), consent(e.withMapping(t, changed, consentMapping), true))
	if err != nil || sum.Updated != 1 || sum.Skipped != 1 {
		t.Fatalf("update summary %+v, err %v", sum, err)
	}
	u1 = e.tenantByLegacyID(t)["u1"][0]
	if u1[x("privacyPolicyVersion")] != "2025-01" || u1[x("privacyPolicyAcceptedAt")] != "2025-03-04T00:00:00Z" || u1[x("termsOfUseVersion")] != "v7" {
		t.Errorf("after update: %v", u1)
	}
}
