package kratos_test

import (
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source/kratos"
)

func TestIdentities(t *testing.T) {
	us, rs := readAll(t, kratos.Config{Path: "testdata/identities.json"})
	check(t, us, rs, []wantUser{{"i1", 2, idshift.CredentialHash}, {"i2", 5, idshift.CredentialNone}}, []wantReject{{6, "not a Kratos identity"}})
	ivy := us[0]
	var kinds []string
	for _, id := range ivy.Identities {
		kinds = append(kinds, id.SignInType+":"+id.Issuer+":"+id.IssuerAssignedID)
	}
	want := []string{"emailAddress::ivy@example.com", "userName::ivy", "federated:github.com:4242"}
	if len(kinds) != len(want) {
		t.Fatalf("identities %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Errorf("identity %d: %s, want %s", i, kinds[i], want[i])
		}
	}
	if ivy.GivenName != "Ivy" || ivy.Surname != "Ng" || ivy.DisplayName != "Ivy Ng" {
		t.Errorf("ivy: names %q %q %q", ivy.GivenName, ivy.Surname, ivy.DisplayName)
	}
	if !us[1].Disabled {
		t.Error("an inactive identity is not disabled")
	}
}
