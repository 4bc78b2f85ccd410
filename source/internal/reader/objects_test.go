package reader

import (
	"errors"
	"io"
	"strings"
	"testing"
)

type got struct {
	line int64
	text string // compact first key, or "reject: reason"
}

func walk(t *testing.T, in, key string) ([]got, error) {
	t.Helper()
	o, err := NewObjects(strings.NewReader(in), key)
	if err != nil {
		return nil, err
	}
	var out []got
	for i := 0; i < 1000; i++ {
		raw, line, err := o.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if re, ok := AsRowError(err); ok {
			out = append(out, got{re.Line, "reject: " + re.Reason})
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, got{line, strings.Join(strings.Fields(string(raw)), "")})
	}
	t.Fatal("no end")
	return nil, nil
}

func TestObjects(t *testing.T) {
	cases := []struct {
		name, in, key string
		want          []got
		fatal         string
	}{
		{"array", "[\n{\"a\":1},\n\n  {\"b\":2}\n]", "", []got{{2, `{"a":1}`}, {4, `{"b":2}`}}, ""},
		{"wrapped", "{\"realm\":\"r\",\n\"clients\":[{\"x\":[1,2]}],\n\"users\":[\n{\"a\":1},{\"b\":2}],\n\"roles\":{}}", "users", []got{{4, `{"a":1}`}, {4, `{"b":2}`}}, ""},
		{"jsonl", "{\"a\":1}\n\n{\"b\":2}\n{bad\n{\"c\":3}", "", []got{{1, `{"a":1}`}, {3, `{"b":2}`}, {4, "reject: invalid JSON: the object does not close"}, {5, `{"c":3}`}}, ""},
		{"pretty", "{\n  \"a\": {\n    \"b\": 1\n  }\n}\n{\n\"c\": 2\n}\n", "", []got{{1, `{"a":{"b":1}}`}, {6, `{"c":2}`}}, ""},
		{"not an object", "{\"a\":1}\n[1]\n", "", []got{{1, `{"a":1}`}, {2, "reject: not a JSON object"}}, ""},
		{"unclosed at end", "{\"a\":1}\n{\"b\":", "", []got{{1, `{"a":1}`}, {2, "reject: invalid JSON: unexpected end of JSON input"}}, ""},
		{"empty", "  \n", "", nil, ""},
		{"array syntax", "[{\"a\":1},\n{\"b\" 2}]", "", []got{{1, `{"a":1}`}}, "line 2"},
		{"no key", "{\"realm\":\"r\"}", "users", nil, "no array"},
		{"scalar", "42", "", nil, "not a JSON export"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := walk(t, c.in, c.key)
			if c.fatal != "" {
				if err == nil || !strings.Contains(err.Error(), c.fatal) {
					t.Fatalf("err %v, want one about %q", err, c.fatal)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(c.want) {
				t.Fatalf("got %v, want %v", out, c.want)
			}
			for i := range out {
				if out[i] != c.want[i] {
					t.Errorf("%d: %v, want %v", i, out[i], c.want[i])
				}
			}
		})
	}
}

func FuzzObjects(f *testing.F) {
	f.Add("[{\"a\":1},{\"b\":[2]}]", "")
	f.Add("{\"x\":1,\"users\":[{}]}", "users")
	f.Add("{\"a\":1}\n{\n\"b\":2\n}\n{bad", "")
	f.Fuzz(func(t *testing.T, in, key string) {
		o, err := NewObjects(strings.NewReader(in), key)
		if err != nil {
			return
		}
		prev := int64(0)
		for i := 0; i < 100000; i++ {
			_, line, err := o.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if re, ok := AsRowError(err); ok {
				line = re.Line
			} else if err != nil {
				return
			}
			if line < 1 || line < prev {
				t.Fatalf("line %d after %d", line, prev)
			}
			prev = line
		}
		t.Fatal("no end")
	})
}
