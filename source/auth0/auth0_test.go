package auth0_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/source/auth0"
	"github.com/idshift/idshift/source/internal/readertest"
)

func TestExportJoinedWithPasswords(t *testing.T) {
	us, rs := readertest.ReadAll(t, auth0.Config{Path: "testdata/users.ndjson", Passwords: "testdata/passwords.ndjson"}.Open)
	if len(us) != 3 {
		t.Fatalf("%d users, want 3", len(us))
	}
	ada := us[0]
	if ada.LegacyID != "auth0|5f1a00000000000000000001" || ada.Mail != "Ada@Example.com" || ada.Line != 1 || ada.Source != "auth0" {
		t.Errorf("ada: %+v", ada)
	}
	if ada.Credential.Kind != idshift.CredentialHash || !strings.HasPrefix(ada.Credential.Hash, "$2b$04$") {
		t.Errorf("ada: hash not joined: %v", ada.Credential)
	}
	if us[1].Credential.Kind != idshift.CredentialNone || !us[1].Disabled {
		t.Errorf("grace: %v disabled=%v", us[1].Credential, us[1].Disabled)
	}
	linus := us[2]
	if len(linus.Identities) != 1 || linus.Identities[0].SignInType != idshift.SignInFederated || linus.Identities[0].Issuer != "google.com" {
		t.Errorf("linus: identities %+v", linus.Identities)
	}
	readertest.CheckRejects(t, rs, []readertest.Reject{{Line: 3, Part: "not a JSON object"}, {Line: 5, Part: "no sign-in identity"}, {Line: 2, Part: "no user in the user export"}})
}

func TestBulkImportSchema(t *testing.T) {
	us, rs := readertest.ReadAll(t, auth0.Config{Path: "testdata/bulk.json"}.Open)
	if len(us) != 2 || len(rs) != 0 {
		t.Fatalf("%d users %v rejects", len(us), rs)
	}
	ok, err := pwhash.Verify(context.Background(), "password", us[0].Credential.Hash, pwhash.Options{})
	if err != nil || !ok {
		t.Errorf("custom_password_hash: ok=%v err=%v", ok, err)
	}
	if ok, _ := pwhash.Verify(context.Background(), "passwore", us[0].Credential.Hash, pwhash.Options{}); ok {
		t.Error("a wrong password verifies")
	}
	if us[0].LegacyID != "bulk@example.com" {
		t.Errorf("legacy id %q", us[0].LegacyID)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, c := range []auth0.Config{{}, {Path: "testdata/missing"}, {Path: "testdata/users.ndjson", Passwords: "testdata/missing"}} {
		if _, err := c.Open(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func FuzzAuth0(f *testing.F) {
	f.Add(`{"user_id":"auth0|1","email":"a@b.c"}` + "\n" + `{"user_id":2}`)
	f.Add(`[{"email":"x@y.z","custom_password_hash":{"algorithm":"md5","hash":{"value":"x"}}}]`)
	f.Add(`{"identities":[{"provider":"github","user_id":7,"isSocial":true}]}`)
	readertest.Fuzz(f, 10000, fromReader)
}

func BenchmarkAuth0(b *testing.B) {
	const n = 20000
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, `{"user_id":"auth0|%024d","email":"user%d@example.com","name":"User %d","given_name":"User","family_name":"N%d","created_at":"2021-01-02T03:04:05.000Z","last_login":"2024-01-02T03:04:05.000Z","password_hash":"$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"}`+"\n", i, i, i, i)
	}
	in := sb.String()
	readertest.Bench(b, n, in, fromReader)
}

// fromReader opens the reader on r, as for an export piped to stdin.
func fromReader(r io.Reader) (idshift.Source, error) {
	return auth0.Config{Path: "-", Stdin: r}.Open()
}
