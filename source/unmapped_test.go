package source_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/auth0"
	"github.com/idshift/idshift/source/cognito"
	"github.com/idshift/idshift/source/file"
	"github.com/idshift/idshift/source/firebase"
	"github.com/idshift/idshift/source/keycloak"
	"github.com/idshift/idshift/source/kratos"
	"github.com/idshift/idshift/source/ldif"
)

// TestUnmappedValues reads one record with each reader opened for an audit and checks the values its mapping leaves
// out, and that without the option nothing is kept. No password or hash ever appears among them.
func TestUnmappedValues(t *testing.T) {
	m, err := source.ParseMapping([]byte("legacy_id: id\ndisplay_name: name\nidentities:\n  - {sign_in_type: emailAddress, column: email}\nextensions:\n  tier: meta.tier\n"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, file, content string
		open                func(path string, unmapped bool) (idshift.Source, error)
		want                []idshift.Attr
	}{
		{"csv", "u.csv", "id,email,name,meta.tier,ssn,notes,secret_hash\n1,a@example.com,A,gold,123-45-6789,,x\n",
			func(p string, u bool) (idshift.Source, error) {
				return file.Config{Path: p, Mapping: m, Unmapped: u}.Open()
			},
			kv("ssn", "123-45-6789", "secret_hash", "x")},
		{"jsonl", "u.jsonl", `{"id":"1","email":"a@example.com","name":"A","meta":{"tier":"gold","card":"4111 1111 1111 1111","n":3},"tags":["x","y"],"ok":true,"gone":null}` + "\n",
			func(p string, u bool) (idshift.Source, error) {
				return file.Config{Path: p, Mapping: m, Unmapped: u}.Open()
			},
			kv("meta.card", "4111 1111 1111 1111", "meta.n", "3", "ok", "true", "tags", "x", "tags", "y")},
		{"json array, default schema", "u.json", `[{"legacy_id":"1","email":"a@example.com","password_hash":"$2a$10$abc","blood_type":"O-"}]`,
			func(p string, u bool) (idshift.Source, error) { return file.Config{Path: p, Unmapped: u}.Open() },
			kv("blood_type", "O-")},
		{"auth0", "a.ndjson", `{"user_id":"auth0|1","email":"a@example.com","password_hash":"$2b$10$abc","identities":[{"provider":"auth0","user_id":"1","access_token":"tok"}],"user_metadata":{"ssn":"123-45-6789"},"app_metadata":{"plan":"pro"},"email_verified":true}` + "\n",
			func(p string, u bool) (idshift.Source, error) { return auth0.Config{Path: p, Unmapped: u}.Open() },
			kv("app_metadata.plan", "pro", "email_verified", "true", "user_metadata.ssn", "123-45-6789")},
		{"firebase", "f.json", `{"users":[{"localId":"1","email":"a@example.com","passwordHash":"aGFzaA==","salt":"c2FsdA==","customAttributes":"{\"diagnosis\":\"flu\"}","emailVerified":false}]}`,
			func(p string, u bool) (idshift.Source, error) { return firebase.Config{Path: p, Unmapped: u}.Open() },
			kv("customAttributes.diagnosis", "flu", "emailVerified", "false")},
		{"keycloak", "k.json", `{"realm":"r","users":[{"id":"1","username":"ann","email":"a@example.com","credentials":[{"type":"password","secretData":"{\"value\":\"aGFzaA==\"}"}],"attributes":{"nationalId":["AB123"],"phone":["1","2"]}}]}`,
			func(p string, u bool) (idshift.Source, error) { return keycloak.Config{Path: p, Unmapped: u}.Open() },
			kv("attributes.nationalId", "AB123", "attributes.phone", "1", "attributes.phone", "2")},
		{"kratos", "kr.json", `[{"id":"1","schema_id":"default","state":"active","traits":{"email":"a@example.com","name":{"first":"A"},"allergies":"nuts"},"credentials":{"password":{"identifiers":["a@example.com"],"config":{"hashed_password":"$2a$10$abc"}}}}]`,
			func(p string, u bool) (idshift.Source, error) { return kratos.Config{Path: p, Unmapped: u}.Open() },
			kv("schema_id", "default", "traits.allergies", "nuts")},
		{"ldif", "l.ldif", "dn: uid=ann,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: ann\nmail: a@example.com\nuserPassword: {SSHA}abc\nemployeeNumber: 42\ndescription: card 4111-1111-1111-1111\n\n",
			func(p string, u bool) (idshift.Source, error) { return ldif.Config{Path: p, Unmapped: u}.Open() },
			kv("description", "card 4111-1111-1111-1111", "employeenumber", "42")},
		{"cognito", "c.json", `{"Users":[{"Username":"ann","Attributes":[{"Name":"email","Value":"a@example.com"},{"Name":"custom:ssn","Value":"123-45-6789"}],"Enabled":true,"UserStatus":"CONFIRMED"}]}`,
			func(p string, u bool) (idshift.Source, error) { return cognito.Config{Path: p, Unmapped: u}.Open() },
			kv("custom:ssn", "123-45-6789")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, on := range []bool{false, true} {
				src, err := tc.open(path, on)
				if err != nil {
					t.Fatal(err)
				}
				u, err := src.Next(context.Background())
				src.Close()
				if err != nil {
					t.Fatalf("unmapped %v: %v", on, err)
				}
				if !on {
					if u.Unmapped != nil {
						t.Errorf("kept without the option: %v", u.Unmapped)
					}
					continue
				}
				if !reflect.DeepEqual(u.Unmapped, tc.want) {
					t.Errorf("unmapped %v\nwant     %v", u.Unmapped, tc.want)
				}
				for _, a := range u.Unmapped {
					if strings.Contains(a.Value, "$2") || strings.Contains(a.Value, "aGFzaA") || strings.Contains(a.Value, "SSHA") || strings.Contains(a.Value, "tok") {
						t.Errorf("a credential among the unmapped values: %v", a)
					}
				}
			}
		})
	}
}

// kv makes attributes of name, value pairs.
func kv(pairs ...string) []idshift.Attr {
	var out []idshift.Attr
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, idshift.Attr{Name: pairs[i], Value: pairs[i+1]})
	}
	return out
}
