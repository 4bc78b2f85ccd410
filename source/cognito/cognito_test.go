package cognito_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source/cognito"
	"github.com/idshift/idshift/source/internal/readertest"
)

func readAll(t *testing.T, c cognito.Config) ([]*idshift.User, []*idshift.RowError, error) {
	t.Helper()
	src, err := c.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var us []*idshift.User
	var rs []*idshift.RowError
	for {
		u, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return us, rs, nil
		}
		var re *idshift.RowError
		if errors.As(err, &re) {
			rs = append(rs, re)
			continue
		}
		if err != nil {
			return us, rs, err
		}
		us = append(us, u)
	}
}

func ids(u *idshift.User) string {
	var s []string
	for _, id := range u.Identities {
		s = append(s, id.SignInType+":"+id.Issuer+":"+id.IssuerAssignedID)
	}
	return strings.Join(s, " ")
}

func TestPages(t *testing.T) {
	us, rs, err := readAll(t, cognito.Config{Path: "testdata/list-users.json"})
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 3 {
		t.Fatalf("%d users, want 3 (rejects %v)", len(us), rs)
	}
	rosa, theo, g := us[0], us[1], us[2]
	if rosa.LegacyID != "7d9e2b1c-1111-4a2b-9c3d-000000000001" || rosa.Source != "cognito" || rosa.DisplayName != "Rosa Park" ||
		ids(rosa) != "emailAddress::rosa@example.com" || rosa.Mail != "Rosa@Example.com" || rosa.Disabled || rosa.Credential.Kind != idshift.CredentialNone {
		t.Errorf("rosa: %+v %s", rosa, ids(rosa))
	}
	if want := time.Date(2023, 4, 5, 10, 11, 12, 345000000, time.UTC); !rosa.Created.Equal(want) {
		t.Errorf("rosa created %v, want %v", rosa.Created, want)
	}
	if theo.LegacyID != "theo" || ids(theo) != "userName::theo" || !theo.Disabled || theo.DisplayName != "Theo Quist" || theo.Phone != "+447700900123" {
		t.Errorf("theo: %+v %s", theo, ids(theo))
	}
	if want := time.Unix(1680689472, 500000000); !theo.Created.Equal(want) {
		t.Errorf("theo created %v, want %v (epoch seconds)", theo.Created, want)
	}
	if ids(g) != "emailAddress::g@example.com federated:google.com:108234567890" {
		t.Errorf("federated: %s", ids(g))
	}
	if len(rs) != 2 || rs[0].Line != 43 || rs[0].LegacyID != "" || rs[1].Line != 48 || rs[1].Field != "created" {
		t.Fatalf("rejects %+v", rs)
	}
}

func TestJSONLines(t *testing.T) {
	us, rs, err := readAll(t, cognito.Config{Path: "testdata/users.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 3 || us[0].LegacyID != "ana" || us[2].LegacyID != "cy" {
		t.Fatalf("users %+v", us)
	}
	if got := ids(us[1]); got != "emailAddress::ben@example.com userName::benny" {
		t.Errorf("ben: %s", got)
	}
	if got := ids(us[0]); got != "emailAddress::ana@example.com userName::ana" {
		t.Errorf("ana: %s", got)
	}
	if len(rs) != 1 || rs[0].Line != 3 {
		t.Fatalf("rejects %+v", rs)
	}
}

func TestArrayAndErrors(t *testing.T) {
	in := `[{"Username":"a","Attributes":[{"Name":"email","Value":"a@example.com"}]}, {"Username":"b","Attributes":[{"Name":"identities","Value":"nope"}]}]`
	us, rs, err := readAll(t, cognito.Config{Path: "-", Stdin: strings.NewReader(in)})
	if err != nil || len(us) != 1 || len(rs) != 1 || rs[0].Field != "identities" {
		t.Fatalf("users %v rejects %v err %v", us, rs, err)
	}
	_, _, err = readAll(t, cognito.Config{Path: "-", Stdin: strings.NewReader("{\"Users\": [\n{\"Username\": \"a\",\n oops}]}")})
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("syntax error: %v", err)
	}
	_, _, err = readAll(t, cognito.Config{Path: "-", Stdin: strings.NewReader(`"text"`)})
	if err == nil {
		t.Fatal("a string accepted as a list-users output")
	}
}

func FuzzCognito(f *testing.F) {
	f.Add(`{"Users":[{"Username":"a","Attributes":[{"Name":"email","Value":"a@b.c"}],"UserCreateDate":1.5}],"PaginationToken":"x"}`)
	f.Add("{\"Username\":\"u\",\"Attributes\":[{\"Name\":\"identities\",\"Value\":\"[{\\\"userId\\\":\\\"1\\\",\\\"providerName\\\":\\\"Google\\\"}]\"}]}\n{\"Username\":\"v\"}\n")
	f.Add(`[{"Username":"x","Attributes":[{"Name":"preferred_username","Value":"p"}],"UserCreateDate":"2024-01-01"}]`)
	f.Fuzz(func(t *testing.T, in string) {
		src, err := cognito.Config{Path: "-", Stdin: strings.NewReader(in)}.Open()
		if err != nil {
			return
		}
		defer src.Close()
		readertest.Drain(t, src, 100000, func(u *idshift.User) bool { return u.Credential.Kind == idshift.CredentialNone })
	})
}

// BenchmarkCognito reads 20,000 generated users per op, as list-users pages of 60 (the API's most).
func BenchmarkCognito(b *testing.B) {
	const n = 20000
	var sb strings.Builder
	for i := range n {
		if i%60 == 0 {
			if i > 0 {
				sb.WriteString("],\"PaginationToken\":\"t\"}\n")
			}
			sb.WriteString(`{"Users":[`)
		} else {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"Username":"%08d-aaaa-4bbb-8ccc-000000000000","Attributes":[{"Name":"sub","Value":"%08d-aaaa-4bbb-8ccc-000000000000"},{"Name":"email_verified","Value":"true"},{"Name":"name","Value":"User %d"},{"Name":"email","Value":"user%d@example.com"}],"UserCreateDate":"2023-04-05T10:11:12.345000+00:00","UserLastModifiedDate":"2023-04-05T10:11:12.345000+00:00","Enabled":true,"UserStatus":"CONFIRMED"}`, i, i, i, i)
	}
	sb.WriteString("]}\n")
	in := sb.String()
	readertest.Bench(b, n, in, func(r io.Reader) (idshift.Source, error) { return cognito.Config{Path: "-", Stdin: r}.Open() })
}
