package file_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source/file"
)

// drain reads src to the end and checks what every source promises: lines start at 1 and increase, row errors
// carry a line and a reason, and the read ends.
func drain(t *testing.T, src idshift.Source, maxLines int64) {
	t.Helper()
	prev := int64(0)
	for i := 0; ; i++ {
		if i > 100000 {
			t.Fatal("source does not end")
		}
		u, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return
		}
		var line int64
		var re *idshift.RowError
		switch {
		case errors.As(err, &re):
			if re.Reason == "" {
				t.Fatalf("row error without a reason: %#v", re)
			}
			line = re.Line
		case err != nil:
			return // a read that cannot go on (JSON array syntax)
		default:
			if u.LegacyID == "" || len(u.Identities) == 0 {
				t.Fatalf("user without legacy id or identity: %+v", u)
			}
			line = u.Line
		}
		if line < 1 || line > maxLines || line < prev {
			t.Fatalf("line %d after %d (input has %d lines)", line, prev, maxLines)
		}
		prev = line
	}
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		header + "1,a@x.io,,Ann\n2,,bob,Bob\n",
		"\ufefflegacy_id;email\r\n1;a@x.io\r\n",
		header + "1,a@x.io,,\"Ann\n\"\"x\"\"\n\"\n2,b@x.io,,\"B\"x\n3,\"c@x.io\n",
		header + "1,a@x.io,,Ann \"A\"\n,\n\xff,\xfe,,\n",
		"legacy_id,email,created,phone\n1,a@x.io,2024-02-30,+44 (0)20\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		src, err := file.Config{Path: "-", Format: "csv", Comma: ';', MaxRecordBytes: 256, Stdin: strings.NewReader(data)}.Open()
		if strings.HasPrefix(data, "legacy_id") || err != nil {
			// Also read it comma-separated, the common case.
			if src != nil {
				src.Close()
			}
			src, err = file.Config{Path: "-", Format: "csv", MaxRecordBytes: 256, Stdin: strings.NewReader(data)}.Open()
		}
		if err != nil {
			if !errors.Is(err, idshift.ErrInvalid) {
				t.Fatalf("Open: %v, want an invalid header error", err)
			}
			return
		}
		defer src.Close()
		drain(t, src, int64(strings.Count(data, "\n")+1))
	})
}

func FuzzJSONL(f *testing.F) {
	for _, s := range []string{
		`{"legacy_id":"1","email":"a@x.io"}` + "\n\n" + `{"legacy_id":2,"username":"b","created":1700000000}`,
		`{"legacy_id":"1","email":"a@x.io","password_hash":{"algorithm":"bcrypt"},"identities":[{"signInType":"federated","issuer":"g","issuerAssignedId":"1"}]}`,
		"{\"legacy_id\":\"1\",\n[1]\nnull\n\xff\n",
		`{"legacy_id":"1","identities":"[{"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		for _, format := range []string{"jsonl", "json"} {
			src, err := file.Config{Path: "-", Format: format, MaxRecordBytes: 512, Stdin: strings.NewReader(data)}.Open()
			if err != nil {
				if format == "jsonl" || !errors.Is(err, idshift.ErrInvalid) {
					t.Fatalf("Open %s: %v", format, err)
				}
				continue
			}
			drain(t, src, int64(strings.Count(data, "\n")+1))
			src.Close()
		}
	})
}
