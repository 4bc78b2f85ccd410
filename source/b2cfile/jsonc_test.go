package b2cfile

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestJSONC(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{"{// c\n\"a\":1}", "{    \n\"a\":1}"},
		{"{/* c\r\n */\"a\":1}", "{    \r\n   \"a\":1}"},
		{`{"a":"// not /* a */ comment"}`, `{"a":"// not /* a */ comment"}`},
		{`{"a":"\"//x"}//`, `{"a":"\"//x"}  `},
		{`{"a":"\\"}//x`, `{"a":"\\"}   `},
		{`/*/ still open */1`, `                 1`},
		{`/**/1`, `    1`},
		{`1/2`, `1/2`},
		{`1/`, `1/`},
	} {
		for _, one := range []int{0, 1, 2} {
			var r io.Reader
			switch one {
			case 0:
				r = newJSONC(strings.NewReader(c.in))
			case 1: // one byte asked for at a time
				r = iotest.OneByteReader(newJSONC(strings.NewReader(c.in)))
			case 2: // one byte given at a time
				r = newJSONC(iotest.OneByteReader(strings.NewReader(c.in)))
			}
			got, err := io.ReadAll(r)
			if err != nil || string(got) != c.want {
				t.Errorf("%q (chunking %d): %q, %v; want %q", c.in, one, got, err, c.want)
			}
			if len(got) != len(c.in) {
				t.Errorf("%q: offsets moved", c.in)
			}
		}
	}
}

func FuzzJSONC(f *testing.F) {
	f.Add(`{"a":"/*x*/"} // c`)
	f.Add("/* a\n*/[1,2]")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := io.ReadAll(newJSONC(strings.NewReader(in)))
		if err != nil {
			t.Fatal(err)
		}
		one, err := io.ReadAll(newJSONC(iotest.OneByteReader(strings.NewReader(in))))
		if err != nil || string(one) != string(got) {
			t.Fatalf("depends on chunking: %q → %q and %q", in, got, one)
		}
		if len(got) != len(in) || strings.Count(string(got), "\n") != strings.Count(in, "\n") {
			t.Fatalf("length or lines changed: %q → %q", in, got)
		}
		// Text without '/' is left alone.
		if !strings.Contains(in, "/") && string(got) != in {
			t.Fatalf("changed: %q → %q", in, got)
		}
		// Valid JSON stays the same value (JSON has no comments, and '/' in strings is kept).
		if json.Valid([]byte(in)) && string(got) != in {
			t.Fatalf("valid JSON changed: %q → %q", in, got)
		}
	})
}
