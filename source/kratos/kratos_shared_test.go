package kratos_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source/kratos"
)

func readAll(t testing.TB, c kratos.Config) ([]*idshift.User, []*idshift.RowError) {
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

func FuzzKratos(f *testing.F) {
	f.Add(`{"id":"1","traits":{"email":"a@b.c"},"credentials":{"password":{"identifiers":["a@b.c"],"config":{"hashed_password":"$2a$04$x"}}}}`)
	f.Add(`[{"id":"1","credentials":{"oidc":{"identifiers":["google:1"]}}}]`)
	f.Add("{\n\"id\": \"1\",\n\"traits\": {\"username\": \"u\"}\n}\n")
	f.Fuzz(func(t *testing.T, in string) {
		src, err := kratos.Config{Path: "-", Stdin: strings.NewReader(in)}.Open()
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

func BenchmarkKratos(b *testing.B) {
	const n = 20000
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, `{"id":"id-%d","state":"active","traits":{"email":"user%d@example.com","name":{"first":"User","last":"N%d"}},"credentials":{"password":{"type":"password","identifiers":["user%d@example.com"],"config":{"hashed_password":"$argon2id$v=19$m=131072,t=2,p=1$lQFPaKxXqPL56/mU7vRi4w$6aldHyBnURt8sP8+xu41Ng"}}}}`+"\n", i, i, i, i)
	}
	in := sb.String()
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for range b.N {
		us, rs := readAll(b, kratos.Config{Path: "-", Stdin: strings.NewReader(in)})
		if len(us) != n || len(rs) != 0 {
			b.Fatalf("%d users %d rejects", len(us), len(rs))
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

var _ = fmt.Sprint
