package file

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzJSONRecord checks the object scanner against encoding/json: the same inputs are objects, and every member
// reads the same.
func FuzzJSONRecord(f *testing.F) {
	for _, s := range []string{
		`{"a":"x","b":1.5e3,"c":true,"d":null,"e":{"f":[1,{"g":"}"}]},"a":"last"}`,
		` { "k\u00e9y" : "v\"q\\" , "n" : -0 } `, `[1]`, `null`, `{}`, `{"a":}`, `"s"`, `{"a.b":{"c":1},"a":{"b":{"c":2}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if !utf8.ValidString(data) {
			return // sources reject invalid UTF-8 before parsing
		}
		var ref map[string]json.RawMessage
		refErr := json.Unmarshal([]byte(data), &ref)
		var r jsonRecord
		reason := r.parse([]byte(data))
		if (reason == "") != (refErr == nil && ref != nil) {
			t.Fatalf("parse(%q) reason %q, encoding/json err %v map %v", data, reason, refErr, ref != nil)
		}
		if reason != "" {
			return
		}
		for k, raw := range ref {
			want, wantOK := refText(raw)
			got, ok := r.get(k)
			if ok != wantOK || got != want {
				t.Fatalf("get(%q) on %q = %q, %v; want %q, %v", k, data, got, ok, want, wantOK)
			}
		}
	})
}

// refText is what a member reads as, by way of encoding/json.
func refText(raw json.RawMessage) (string, bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		panic(err)
	}
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case map[string]any, []any:
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			panic(err)
		}
		return b.String(), true
	default:
		return string(bytes.TrimSpace(raw)), true
	}
}
