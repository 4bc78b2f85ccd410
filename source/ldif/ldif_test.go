package ldif_test

import (
	"context"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/source/ldif"
)

func TestPeople(t *testing.T) {
	us, rs := readAll(t, ldif.Config{Path: "testdata/people.ldif"})
	check(t, us, rs, []wantUser{
		{"uid=amy,ou=people,dc=example,dc=org", 8, idshift.CredentialHash},
		{"uid=rory,ou=people,dc=example,dc=org", 18, idshift.CredentialPlaintext},
		{"uid=river,ou=people,dc=example,dc=org", 25, idshift.CredentialNone},
		{"uid=later,ou=people,dc=example,dc=org", 36, idshift.CredentialNone},
	}, []wantReject{{32, "invalid base64"}, {34, "not an attribute line"}})
	amy := us[0]
	if amy.DisplayName != "Amy Pond" || amy.Mail != "amy@example.org" {
		t.Errorf("amy: folded or multi-valued attributes misread: %q %q", amy.DisplayName, amy.Mail)
	}
	ok, err := pwhash.Verify(context.Background(), "secret", amy.Credential.Hash, pwhash.Options{})
	if err != nil || !ok {
		t.Errorf("amy: {SSHA} from a base64 value: ok=%v err=%v", ok, err)
	}
	if us[1].Credential.Password != "plain-secret" {
		t.Error("rory: plaintext userPassword not read")
	}
}

func TestVersionThenEntry(t *testing.T) {
	in := "version: 1\r\ndn: uid=a,dc=x\r\nobjectClass: person\r\nuid: a\r\n\r\ndn: uid=b,dc=x\nchangetype: add\nobjectClass: person\nuid: b\n"
	us, rs := readAll(t, ldif.Config{Path: "-", Stdin: strings.NewReader(in)})
	check(t, us, rs, []wantUser{{"uid=a,dc=x", 2, idshift.CredentialNone}}, []wantReject{{7, "change record"}})
}
