package keycloak_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source/keycloak"
)

func readAll(t testing.TB, c keycloak.Config) ([]*idshift.User, []*idshift.RowError) {
	t.Helper()
	src, err := c.Open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer src.Close()
	var us []*idshift.User
	var rs []*idshift.RowError
	for {
		u, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return us, rs
		}
		var re *idshift.RowError
		if errors.As(err, &re) {
			rs = append(rs, re)
			continue
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		us = append(us, u)
	}
}

type wantUser struct {
	id   string
	line int64
	kind idshift.CredentialKind
}

type wantReject struct {
	line int64
	part string
}

func check(t *testing.T, us []*idshift.User, rs []*idshift.RowError, wu []wantUser, wr []wantReject) {
	t.Helper()
	if len(us) != len(wu) {
		t.Fatalf("%d users, want %d", len(us), len(wu))
	}
	for i, w := range wu {
		u := us[i]
		if u.LegacyID != w.id || u.Line != w.line || u.Credential.Kind != w.kind {
			t.Errorf("user %d: %s line %d %v, want %s line %d %q", i, u.LegacyID, u.Line, u.Credential, w.id, w.line, w.kind)
		}
		if len(u.Identities) == 0 {
			t.Errorf("user %d: no identity", i)
		}
	}
	if len(rs) != len(wr) {
		t.Fatalf("rejects %v, want %d", rs, len(wr))
	}
	for i, w := range wr {
		if rs[i].Line != w.line || !strings.Contains(rs[i].Reason, w.part) {
			t.Errorf("reject %d: %v, want line %d about %q", i, rs[i], w.line, w.part)
		}
	}
}

func FuzzKeycloak(f *testing.F) {
	f.Add(`{"realm":"r","users":[{"id":"1","username":"u","credentials":[{"type":"password","value":"p"}]}]}`)
	f.Add(`{"realm":"r","users":[{"id":"1","email":"a@b.c","credentials":[{"secretData":"{}","credentialData":"{"}]}]}`)
	f.Add(`[{"id":"1","serviceAccountClientId":"c"}]`)
	f.Fuzz(func(t *testing.T, in string) {
		src, err := keycloak.Config{Path: "-", Stdin: strings.NewReader(in)}.Open()
		if err != nil {
			return
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
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for range b.N {
		us, rs := readAll(b, keycloak.Config{Path: "-", Stdin: strings.NewReader(in)})
		if len(us) != n || len(rs) != 0 {
			b.Fatalf("%d users %d rejects", len(us), len(rs))
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

var _ = fmt.Sprint
