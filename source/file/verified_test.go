package file_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/file"
)

// TestEmailVerified: the default schema's email_verified column (CSV) or key (JSON) and a mapping's email_verified
// field become User.EmailVerified; an empty cell, a missing key or null leave it nil, and a value that is not a
// boolean is a row error naming the column.
func TestEmailVerified(t *testing.T) {
	m, err := source.ParseMapping([]byte("legacy_id: id\nemail_verified: {column: confirmed, negate: true}\nidentities:\n  - {sign_in_type: emailAddress, column: mail}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, format, data string
		mapping            *source.Mapping
	}{
		{"csv", "csv", "legacy_id,email,email_verified\n1,a@x.io,true\n2,b@x.io,false\n3,c@x.io,\n4,d@x.io,maybe\n", nil},
		{"jsonl", "jsonl", `{"legacy_id":"1","email":"a@x.io","email_verified":true}` + "\n" + `{"legacy_id":"2","email":"b@x.io","email_verified":false}` + "\n" +
			`{"legacy_id":"3","email":"c@x.io","email_verified":null}` + "\n" + `{"legacy_id":"4","email":"d@x.io","email_verified":"maybe"}` + "\n", nil},
		{"mapping", "csv", "id,mail,confirmed\n1,a@x.io,no\n2,b@x.io,yes\n3,c@x.io,\n4,d@x.io,2\n", m},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := openString(t, c.format, c.data, func(fc *file.Config) { fc.Mapping = c.mapping })
			var got []*bool
			for {
				u, err := src.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				var re *idshift.RowError
				if errors.As(err, &re) {
					if re.Line != 4 && re.Line != 5 || re.Field == "" {
						t.Errorf("row error %+v", re)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, u.EmailVerified)
			}
			if len(got) != 3 || got[0] == nil || !*got[0] || got[1] == nil || *got[1] || got[2] != nil {
				t.Errorf("email verified %v, want true, false, nil and one row error", got)
			}
		})
	}
}
