package ldif_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/source/internal/readertest"
	"github.com/idshift/idshift/source/ldif"
)

func TestPeople(t *testing.T) {
	us, rs := readertest.ReadAll(t, ldif.Config{Path: "testdata/people.ldif"}.Open)
	readertest.Check(t, us, rs, []readertest.User{
		{ID: "uid=amy,ou=people,dc=example,dc=org", Line: 8, Kind: idshift.CredentialHash},
		{ID: "uid=rory,ou=people,dc=example,dc=org", Line: 18, Kind: idshift.CredentialPlaintext},
		{ID: "uid=river,ou=people,dc=example,dc=org", Line: 25, Kind: idshift.CredentialNone},
		{ID: "uid=later,ou=people,dc=example,dc=org", Line: 36, Kind: idshift.CredentialNone},
	}, []readertest.Reject{{Line: 32, Part: "invalid base64"}, {Line: 34, Part: "not an attribute line"}})
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
	us, rs := readertest.ReadAll(t, ldif.Config{Path: "-", Stdin: strings.NewReader(in)}.Open)
	readertest.Check(t, us, rs, []readertest.User{{ID: "uid=a,dc=x", Line: 2, Kind: idshift.CredentialNone}}, []readertest.Reject{{Line: 7, Part: "change record"}})
}

func FuzzLDIF(f *testing.F) {
	f.Add("dn: uid=a,dc=x\nobjectClass: person\nuid: a\nuserPassword:: e1NIQX1h\n\n")
	f.Add("version: 1\n\ndn: cn=b\nobjectClass: person\ncn: b\n  c\nuserPassword: {CRYPT}xx\n")
	f.Add("dn: cn=c\n continued\nchangetype: add\n\n x\n")
	readertest.Fuzz(f, 100000, fromReader)
}

func BenchmarkLDIF(b *testing.B) {
	const n = 20000
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "dn: uid=user%d,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: user%d\ncn: User %d\nsn: N%d\nmail: user%d@example.org\nuserPassword:: e1NTSEF9UFdjQ2ZJZThhMTE5eTFIRlBuRitBejl2MnRKcFpITm9hV1owSVE9PQ==\n\n", i, i, i, i, i)
	}
	in := sb.String()
	readertest.Bench(b, n, in, fromReader)
}

// fromReader opens the reader on r, as for an export piped to stdin.
func fromReader(r io.Reader) (idshift.Source, error) {
	return ldif.Config{Path: "-", Stdin: r}.Open()
}
