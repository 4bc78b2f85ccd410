package keycloak_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/source/internal/readertest"
	"github.com/idshift/idshift/source/keycloak"
)

func TestRealm(t *testing.T) {
	us, rs := readertest.ReadAll(t, keycloak.Config{Path: "testdata/realm.json"}.Open)
	readertest.Check(t, us, rs, []readertest.User{
		{ID: "k1", Line: 4, Kind: idshift.CredentialPlaintext}, {ID: "k2", Line: 8, Kind: idshift.CredentialHash}, {ID: "k4", Line: 16, Kind: idshift.CredentialHash},
	}, []readertest.Reject{{Line: 14, Part: "service-account"}, {Line: 20, Part: "not a Keycloak user"}})
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
}

func TestNotAnExport(t *testing.T) {
	for _, c := range []keycloak.Config{{}, {Path: "testdata/missing.json"}, {Path: "keycloak_test.go"}} {
		if _, err := c.Open(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func FuzzKeycloak(f *testing.F) {
	f.Add(`{"realm":"r","users":[{"id":"1","username":"u","credentials":[{"type":"password","value":"p"}]}]}`)
	f.Add(`{"realm":"r","users":[{"id":"1","email":"a@b.c","credentials":[{"secretData":"{}","credentialData":"{"}]}]}`)
	f.Add(`[{"id":"1","serviceAccountClientId":"c"}]`)
	readertest.Fuzz(f, 100000, fromReader)
}

func BenchmarkKeycloak(b *testing.B) {
	const n = 20000
	var sb strings.Builder
	sb.WriteString(`{"realm":"bench","users":[`)
	for i := range n {
		if i > 0 {
			sb.WriteString(",\n")
		}
		fmt.Fprintf(&sb, `{"id":"id-%d","username":"user%d","email":"user%d@example.com","firstName":"User","lastName":"N%d","enabled":true,"createdTimestamp":1700000000000,"credentials":[{"type":"password","secretData":"{\"value\":\"ng6oDRung/pBLayd5ro7IU3mL/p86pg3WvQNQc+N1Eg=\",\"salt\":\"RaXjs4RiUKgJGkX6kp277w==\",\"additionalParameters\":{}}","credentialData":"{\"hashIterations\":27500,\"algorithm\":\"pbkdf2-sha256\",\"additionalParameters\":{}}"}]}`, i, i, i, i)
	}
	sb.WriteString("]}")
	in := sb.String()
	readertest.Bench(b, n, in, fromReader)
}

// fromReader opens the reader on r, as for an export piped to stdin.
func fromReader(r io.Reader) (idshift.Source, error) {
	return keycloak.Config{Path: "-", Stdin: r}.Open()
}
