package b2c

import (
	"encoding/json"
	"testing"

	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/source/internal/reader"
)

// FuzzRecord feeds Graph user objects, as a B2C tenant might answer them, through the reader's columns and the
// default mapping: a user or a row error with a reason, never a panic, and never a credential.
func FuzzRecord(f *testing.F) {
	f.Add(`{"id":"1","identities":[{"signInType":"emailAddress","issuer":"x.onmicrosoft.com","issuerAssignedId":"a@b.c"}],"extension_0123456789abcdef0123456789abcdef_tier":"gold"}`)
	f.Add(`{"id":"2","accountEnabled":false,"identities":[{"signInType":"federated","issuer":"facebook.com","issuerAssignedId":"9"}],"extension_0123456789abcdef0123456789abcdef_tier":[1]}`)
	f.Add(`{"id":"3","otherMails":["x@y.z",""],"identities":[{"signInType":"userPrincipalName","issuerAssignedId":"u@x"}]}`)
	exts := map[string]string{"tier": "string"}
	m, err := Mapping("", exts)
	if err != nil {
		f.Fatal(err)
	}
	s := &src{ext: map[string]string{graph.ExtensionName("0123456789abcdef0123456789abcdef", "tier"): "tier"}}
	base, err := reader.NewBase("b2c", "", m)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var u graph.User
		if json.Unmarshal([]byte(in), &u) != nil {
			return
		}
		r := reader.Record{}
		if err := s.record(5, &u, r); err != nil {
			if re, ok := reader.AsRowError(err); !ok || re.Line != 5 || re.Reason == "" {
				t.Fatalf("not a row error with line and reason: %v", err)
			}
			return
		}
		got, err := base.User(5, r)
		if err != nil {
			if re, ok := reader.AsRowError(err); !ok || re.Reason == "" {
				t.Fatalf("mapping error: %v", err)
			}
			return
		}
		if len(got.Identities) == 0 || got.Credential.Kind != "" {
			t.Fatalf("user %+v", got)
		}
	})
}
