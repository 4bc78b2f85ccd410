package keycloak_test

import (
	"context"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/source/keycloak"
)

func TestRealm(t *testing.T) {
	us, rs := readAll(t, keycloak.Config{Path: "testdata/realm.json"})
	check(t, us, rs, []wantUser{
		{"k1", 4, idshift.CredentialPlaintext}, {"k2", 8, idshift.CredentialHash}, {"k4", 16, idshift.CredentialHash},
	}, []wantReject{{14, "service-account"}, {20, "not a Keycloak user"}})
	if us[0].Credential.Password != "kim-secret" || us[0].DisplayName != "Kim Lee" {
		t.Errorf("kim: %+v", us[0])
	}
	if !us[1].Disabled || !us[1].Credential.MustChange {
		t.Errorf("lou: disabled=%v mustChange=%v", us[1].Disabled, us[1].Credential.MustChange)
	}
	if name, _ := pwhash.Detect(us[1].Credential.Hash); name != "keycloak" {
		t.Errorf("lou: hash detected as %q", name)
	}
	if _, err := pwhash.Normalize(us[1].Credential.Hash, pwhash.Options{}); err != nil {
		t.Errorf("lou: %v", err)
	}
	if name, _ := pwhash.Detect(us[2].Credential.Hash); name != "bcrypt" {
		t.Errorf("max: bcrypt provider hash detected as %q", name)
	}
	_ = context.Background
}

func TestNotAnExport(t *testing.T) {
	for _, c := range []keycloak.Config{{}, {Path: "testdata/missing.json"}, {Path: "keycloak_test.go"}} {
		if _, err := c.Open(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
