package b2cfile_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source/b2cfile"
	"github.com/idshift/idshift/source/internal/readertest"
)

func TestMigrationSample(t *testing.T) {
	us, rs := readertest.ReadAll(t, b2cfile.Config{Path: "testdata/UsersData.jsonc"}.Open)
	if len(us) != 3 {
		t.Fatalf("%d users, want 3", len(us))
	}
	ada, grace, linus := us[0], us[1], us[2]
	if ada.LegacyID != "Ada@Example.com" || ada.Line != 5 || ada.Source != "b2cfile" || ada.GivenName != "Ada" || ada.Surname != "Lovelace" || ada.DisplayName != "Ada Lovelace" {
		t.Errorf("ada: %+v", ada)
	}
	if len(ada.Identities) != 1 || ada.Identities[0].SignInType != idshift.SignInEmail || ada.Identities[0].Issuer != "" || ada.Identities[0].IssuerAssignedID != "ada@example.com" {
		t.Errorf("ada: identities %+v", ada.Identities)
	}
	if ada.Mail != "Ada@Example.com" {
		t.Errorf("ada: mail %q", ada.Mail)
	}
	if ada.Credential.Kind != idshift.CredentialPlaintext || ada.Credential.Password != "a // not a comment /* nor this */" {
		t.Errorf("ada: the password inside a string lost its comment-like text")
	}
	if grace.LegacyID != "1000001" || grace.Mail != "grace@example.org" || grace.Credential.Kind != idshift.CredentialNone {
		t.Errorf("grace: %+v", grace)
	}
	if len(grace.Identities) != 1 || grace.Identities[0] != (idshift.Identity{SignInType: idshift.SignInFederated, Issuer: "facebook.com", IssuerAssignedID: "1000001"}) {
		t.Errorf("grace: identities %+v", grace.Identities)
	}
	if linus.LegacyID != "linus@example.net" || linus.DisplayName != `Linus "L" T` || linus.Credential.Password != `\slash"quote` {
		t.Errorf("linus: %+v", linus)
	}
	if len(linus.Identities) != 2 || linus.Identities[1] != (idshift.Identity{SignInType: idshift.SignInFederated, Issuer: "https://accounts.example.com", IssuerAssignedID: "L-7"}) {
		t.Errorf("linus: identities %+v", linus.Identities)
	}
	readertest.CheckRejects(t, rs, []readertest.Reject{{Line: 29, Part: "without issuerUserId"}, {Line: 34, Part: "signInName is a JSON number"}, {Line: 37, Part: "not a user object"}, {Line: 38, Part: "missing legacy id"}})
}

func TestUserType(t *testing.T) {
	in := "{\"Users\":[{\"signInName\":\"james1\",\"password\":\"1111\"},{\"signInName\":\"j@x.io\"}],\"userType\":\"emailAddress\"}"
	for _, c := range []struct {
		name, userType string
		want           []string
	}{
		{"guessed by @ (userType after Users comes too late)", "", []string{idshift.SignInUserName, idshift.SignInEmail}},
		{"configured", "userName", []string{idshift.SignInUserName, idshift.SignInUserName}},
		{"configured, any case", "EMAILADDRESS", []string{idshift.SignInEmail, idshift.SignInEmail}},
	} {
		t.Run(c.name, func(t *testing.T) {
			us, rs := readertest.ReadAll(t, b2cfile.Config{Path: "-", Stdin: strings.NewReader(in), UserType: c.userType}.Open)
			if len(us) != 2 || len(rs) != 0 {
				t.Fatalf("%d users, rejects %v", len(us), rs)
			}
			for i, u := range us {
				if u.Identities[0].SignInType != c.want[i] {
					t.Errorf("user %d: %s, want %s", i, u.Identities[0].SignInType, c.want[i])
				}
			}
		})
	}
	in = `{"userType":"userName","Users":[{"signInName":"a@b.c"}]}`
	us, _ := readertest.ReadAll(t, b2cfile.Config{Path: "-", Stdin: strings.NewReader(in)}.Open)
	if len(us) != 1 || us[0].Identities[0].SignInType != idshift.SignInUserName || us[0].Mail != "" {
		t.Errorf("the file's userType not followed: %+v", us)
	}
	if _, err := (b2cfile.Config{Path: "x", UserType: "phone"}).Open(); err == nil || !strings.Contains(err.Error(), "UserType") {
		t.Errorf("a bad UserType: %v", err)
	}
}

func TestGraphShape(t *testing.T) {
	us, rs := readertest.ReadAll(t, b2cfile.Config{Path: "testdata/users.json", Name: "legacy-b2c"}.Open)
	if len(us) != 3 {
		t.Fatalf("%d users, want 3", len(us))
	}
	b, c, e := us[0], us[1], us[2]
	if b.LegacyID != "bridget@example.com" || b.Mail != "bridget@example.com" || b.Line != 3 || b.Source != "legacy-b2c" || b.GivenName != "Bridget" || b.Credential.Password != "Pass!w0rd" {
		t.Errorf("bridget: %+v", b)
	}
	if c.LegacyID != "0987" || c.Mail != "curt@example.com" || c.Credential.Kind != idshift.CredentialNone || c.Identities[0].Issuer != "facebook.com" {
		t.Errorf("curt: %+v", c)
	}
	if e.LegacyID != "4f0c-both" || !e.Disabled || e.Credential.Kind != idshift.CredentialPlaintext || e.Credential.Password != "p@ss" || e.Mail != "Edie@Example.com" {
		t.Errorf("edie: %+v", e)
	}
	want := map[idshift.Identity]bool{
		{SignInType: idshift.SignInEmail, IssuerAssignedID: "edie@example.com"}:              true,
		{SignInType: idshift.SignInUserName, IssuerAssignedID: "edie"}:                       true,
		{SignInType: idshift.SignInFederated, Issuer: "google.com", IssuerAssignedID: "g-1"}: true,
	}
	if len(e.Identities) != len(want) {
		t.Errorf("edie: identities %+v", e.Identities)
	}
	for _, id := range e.Identities {
		if !want[id] {
			t.Errorf("edie: identity %+v not expected (local ones take the target tenant's issuer)", id)
		}
	}
	readertest.CheckRejects(t, rs, []readertest.Reject{{Line: 31, Part: "federated identity without issuer"}, {Line: 35, Part: `signInType "phoneNumber"`}})
}

func TestShapes(t *testing.T) {
	for _, c := range []struct {
		name, in string
		users    int
		err      string
	}{
		{"bare array", `[{"identities":[{"signInType":"userName","issuerAssignedId":"u"}]}]`, 1, ""},
		{"Graph answer", `{"@odata.context":"x","value":[{"id":"1","identities":[{"signInType":"userName","issuerAssignedId":"u"}]}],"@odata.nextLink":"y"}`, 1, ""},
		{"empty file", "  ", 0, ""},
		{"no users", `{"userType":"userName"}`, 0, "no \"Users\""},
		{"users not an array", `{"users":{}}`, 0, "not an array"},
		{"bad userType", `{"userType":"x","Users":[]}`, 0, "userType"},
		{"broken JSON names its line", "{\"users\":[\n{\"displayName\":\"a\",\n\"x\" 1}]}", 0, "line 3"},
		{"unclosed comment", "{\"users\":[] /* ...", 0, "invalid JSON"},
		{"a scalar", `"x"`, 0, "not a B2C user file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src, err := b2cfile.Config{Path: "-", Stdin: strings.NewReader(c.in)}.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			n := 0
			for {
				_, err = src.Next(context.Background())
				if err != nil {
					break
				}
				n++
			}
			if c.err == "" && !errors.Is(err, io.EOF) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Errorf("err %v, want %q", err, c.err)
			}
			if n != c.users {
				t.Errorf("%d users, want %d", n, c.users)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	if _, err := (b2cfile.Config{}).Open(); !errors.Is(err, idshift.ErrInvalid) {
		t.Errorf("no path: %v", err)
	}
	if _, err := (b2cfile.Config{Path: "testdata/missing.json"}).Open(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	src, err := b2cfile.Config{Path: "testdata/users.json"}.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestNoSecretsInErrors: a reject or an error never carries the password of its record.
func TestNoSecretsInErrors(t *testing.T) {
	in := "{\"users\":[{\"password\":\"hunter2-secret\",\"identities\":[{\"signInType\":\"federated\",\"issuerAssignedId\":\"x\"}]},\n" +
		"{\"password\":\"hunter2-secret\",\"identities\":7},{\"password\":\"hunter2-secret\" \"x\"}]}"
	src, err := b2cfile.Config{Path: "-", Stdin: strings.NewReader(in)}.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	n := 0
	for ; n < 10; n++ {
		_, err := src.Next(context.Background())
		if err == nil || errors.Is(err, io.EOF) {
			break
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("an error shows the password: %v", err)
		}
		var re *idshift.RowError
		if !errors.As(err, &re) {
			break
		}
	}
	if n != 2 {
		t.Errorf("%d rejects before the syntax error, want 2", n)
	}
}

func FuzzB2CFile(f *testing.F) {
	for _, p := range []string{"testdata/UsersData.jsonc", "testdata/users.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(`[{"signInName":"a","issuer":"x"}] // c`)
	f.Add("{/*a*/\"Users\":[{\"signInName\":\"a/*b*/\"}//\n]}")
	f.Fuzz(func(t *testing.T, in string) {
		src, err := b2cfile.Config{Path: "-", Stdin: strings.NewReader(in)}.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		readertest.Drain(t, src, 10000, func(u *idshift.User) bool { return u.Line >= 1 })
	})
}

func BenchmarkB2CFile(b *testing.B) {
	const n = 20000
	var sb strings.Builder
	sb.WriteString("\ufeff{\n  // generated\n  \"userType\": \"emailAddress\",\n  \"Users\": [\n")
	for i := range n {
		if i > 0 {
			sb.WriteString(",\n")
		}
		fmt.Fprintf(&sb, `    { // user %d
      "signInName": "user%d@example.com", "issuer": "facebook.com", "issuerUserId": "%010d",
      "displayName": "User %d", "firstName": "User", "lastName": "N%d", "password": "Pass!w0rd-%d"
    }`, i, i, i, i, i, i)
	}
	sb.WriteString("\n  ]\n}\n")
	in := sb.String()
	readertest.Bench(b, n, in, func(r io.Reader) (idshift.Source, error) { return b2cfile.Config{Path: "-", Stdin: r}.Open() })
}
