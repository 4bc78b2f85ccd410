package reader

import (
	"strings"
	"testing"
)

func TestUnmappedJSON(t *testing.T) {
	raw := `{"id":"1","credentials":{"password":{"hash":"$2a$"}},"meta":{"a":{"b":[1,{"c":"x"}]},"d":null,"e":""},` +
		`"custom":"{\"ssn\":\"123-45-6789\"}","notjson":"{oops","f":false}`
	got := UnmappedJSON([]byte(raw), Set("id", "credentials", "meta.e"))
	want := "custom.ssn=123-45-6789 f=false meta.a.b=1 meta.a.b.c=x notjson={oops"
	var parts []string
	for _, a := range got {
		parts = append(parts, a.Name+"="+a.Value)
	}
	if s := strings.Join(parts, " "); s != want {
		t.Errorf("got  %s\nwant %s", s, want)
	}
	if UnmappedJSON([]byte("not json"), nil) != nil || UnmappedJSON([]byte(`"a string"`), nil) != nil {
		t.Errorf("values from a record that is not an object")
	}
}

// FuzzUnmappedJSON: any input is read without a panic, and nothing under a read path comes out.
func FuzzUnmappedJSON(f *testing.F) {
	f.Add([]byte(`{"id":"1","secret":{"x":"y"},"a":[1,"2",{"b":true}],"s":"{\"secret\":1}"}`))
	f.Add([]byte(`[{"a":1}]`))
	f.Add([]byte(`{"a":{"a":{"a":{"a":"{\"a\":\"{}\"}"}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, a := range UnmappedJSON(b, Set("secret", "id")) {
			if a.Name == "" || a.Name == "secret" || strings.HasPrefix(a.Name, "secret.") || a.Name == "id" {
				t.Fatalf("attribute %q from %q", a.Name, b)
			}
		}
	})
}
