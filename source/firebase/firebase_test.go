package firebase_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/source/firebase"
)

func TestJSON(t *testing.T) {
	us, rs := readAll(t, firebase.Config{Path: "testdata/users.json"})
	check(t, us, rs, []wantUser{
		{"u1", 2, idshift.CredentialPlaintext}, {"u2", 3, idshift.CredentialHash}, {"u3", 4, idshift.CredentialNone},
	}, []wantReject{{5, "not a Firebase user"}, {6, "no sign-in identity"}})
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
	_ = context.Background
}

func TestCSV(t *testing.T) {
	us, rs := readAll(t, firebase.Config{Path: "testdata/users.csv"})
	check(t, us, rs, []wantUser{{"u1", 1, idshift.CredentialHash}}, []wantReject{{2, "invalid CSV"}})
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
		for i := 0; i < 100000; i++ {
			u, err := src.Next(context.Background())
			if errors.Is(err, io.EOF) {
				return
			}
			var re *idshift.RowError
			if errors.As(err, &re) {
				if re.Reason == "" || re.Line < 1 {
					t.Fatalf("row error without line or reason: %#v", re)
				}
				continue
			}
			if err != nil {
				return
			}
			if u.LegacyID == "" || len(u.Identities) == 0 {
				t.Fatalf("user without id or identity: %+v", u)
			}
		}
		t.Fatal("no end")
	})
}
