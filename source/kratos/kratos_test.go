package kratos_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source/internal/readertest"
	"github.com/idshift/idshift/source/kratos"
)

func TestIdentities(t *testing.T) {
	us, rs := readertest.ReadAll(t, kratos.Config{Path: "testdata/identities.json"}.Open)
	readertest.Check(t, us, rs, []readertest.User{{ID: "i1", Line: 2, Kind: idshift.CredentialHash}, {ID: "i2", Line: 5, Kind: idshift.CredentialNone}}, []readertest.Reject{{Line: 6, Part: "not a Kratos identity"}})
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

func FuzzKratos(f *testing.F) {
	f.Add(`{"id":"1","traits":{"email":"a@b.c"},"credentials":{"password":{"identifiers":["a@b.c"],"config":{"hashed_password":"$2a$04$x"}}}}`)
	f.Add(`[{"id":"1","credentials":{"oidc":{"identifiers":["google:1"]}}}]`)
	f.Add("{\n\"id\": \"1\",\n\"traits\": {\"username\": \"u\"}\n}\n")
	readertest.Fuzz(f, 100000, fromReader)
}

func BenchmarkKratos(b *testing.B) {
	const n = 20000
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, `{"id":"id-%d","state":"active","traits":{"email":"user%d@example.com","name":{"first":"User","last":"N%d"}},"credentials":{"password":{"type":"password","identifiers":["user%d@example.com"],"config":{"hashed_password":"$argon2id$v=19$m=131072,t=2,p=1$lQFPaKxXqPL56/mU7vRi4w$6aldHyBnURt8sP8+xu41Ng"}}}}`+"\n", i, i, i, i)
	}
	in := sb.String()
	readertest.Bench(b, n, in, fromReader)
}

// fromReader opens the reader on r, as for an export piped to stdin.
func fromReader(r io.Reader) (idshift.Source, error) {
	return kratos.Config{Path: "-", Stdin: r}.Open()
}
