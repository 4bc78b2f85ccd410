package firebase_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/source/firebase"
	"github.com/idshift/idshift/source/internal/readertest"
)

func TestJSON(t *testing.T) {
	us, rs := readertest.ReadAll(t, firebase.Config{Path: "testdata/users.json"}.Open)
	readertest.Check(t, us, rs, []readertest.User{
		{ID: "u1", Line: 2, Kind: idshift.CredentialPlaintext}, {ID: "u2", Line: 3, Kind: idshift.CredentialHash}, {ID: "u3", Line: 4, Kind: idshift.CredentialNone},
	}, []readertest.Reject{{Line: 5, Part: "not a Firebase user"}, {Line: 6, Part: "no sign-in identity"}})
	if us[0].Credential.Password != "ann:pass" {
		t.Error("fakeHash: the emulator's password is not read whole")
	}
	if us[2].Identities[0].Issuer != "google.com" || us[2].Identities[0].SignInType != idshift.SignInFederated {
		t.Errorf("federated: %+v", us[2].Identities)
	}
	if !us[1].Disabled {
		t.Error("disabled not read")
	}
	// The hash needs the project's parameters, given once.
	if _, err := pwhash.Normalize(us[1].Credential.Hash, pwhash.Options{}); err == nil {
		t.Error("a Firebase hash normalised without the project's parameters")
	}
}

func TestCSV(t *testing.T) {
	us, rs := readertest.ReadAll(t, firebase.Config{Path: "testdata/users.csv"}.Open)
	readertest.Check(t, us, rs, []readertest.User{{ID: "u1", Line: 1, Kind: idshift.CredentialHash}}, []readertest.Reject{{Line: 2, Part: "invalid CSV"}})
	if us[0].Created.IsZero() || us[0].LastSignIn.IsZero() || !us[0].LastSignIn.After(us[0].Created) {
		t.Errorf("times: %v %v", us[0].Created, us[0].LastSignIn)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, c := range []firebase.Config{{}, {Path: "testdata/users.json", Format: "xml"}, {Path: "testdata/missing.json"}} {
		if _, err := c.Open(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func FuzzFirebaseCSV(f *testing.F) {
	f.Add("u1,a@b.c,false,aGFzaA==,c2FsdA==,A,,,,,,,,,,,,,,,,,,,1700000000000,1700000000001,+15550100,true\n")
	f.Add("u2,,true,fakeHash:salt=x:password=y,,B,,1234,g@b.c\n\"open")
	f.Fuzz(func(t *testing.T, in string) {
		src, err := firebase.Config{Path: "-", Format: "csv", Stdin: strings.NewReader(in)}.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		readertest.Drain(t, src, 100000)
	})
}

func FuzzFirebase(f *testing.F) {
	f.Add(`{"users":[{"localId":"a","email":"a@b.c","passwordHash":"fakeHash:salt=x:password=y"}]}`)
	f.Add(`[{"localId":"a","providerUserInfo":[{"providerId":"google.com","rawId":"1"}]}]`)
	f.Add(`{"users":[{"localId":1},`)
	readertest.Fuzz(f, 100000, fromReader)
}

func BenchmarkFirebase(b *testing.B) {
	const n = 20000
	var sb strings.Builder
	sb.WriteString(`{"users":[`)
	for i := range n {
		if i > 0 {
			sb.WriteString(",\n")
		}
		fmt.Fprintf(&sb, `{"localId":"uid%d","email":"user%d@example.com","displayName":"User %d","passwordHash":"lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==","salt":"42xEC+ixf3L2lw==","createdAt":"1700000000000","lastSignedInAt":"1700000001000","providerUserInfo":[{"providerId":"password","rawId":"user%d@example.com"}]}`, i, i, i, i)
	}
	sb.WriteString("]}")
	in := sb.String()
	readertest.Bench(b, n, in, fromReader)
}

// fromReader opens the reader on r, as for an export piped to stdin.
func fromReader(r io.Reader) (idshift.Source, error) {
	return firebase.Config{Path: "-", Stdin: r}.Open()
}
