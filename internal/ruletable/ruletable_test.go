package ruletable_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/idshift/idshift/internal/ruletable"
)

var leftover = regexp.MustCompile(`\{\d+\*`)

func TestCases(t *testing.T) {
	cases, err := ruletable.Cases("contoso.onmicrosoft.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 50 {
		t.Fatalf("%d cases", len(cases))
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.Name] {
			t.Errorf("case %q twice", c.Name)
		}
		names[c.Name] = true
		if c.Source == "" || (!c.Valid && c.Field == "") {
			t.Errorf("case %q lacks its source or field", c.Name)
		}
		var body map[string]any
		if err := json.Unmarshal(c.Body, &body); err != nil {
			t.Fatalf("%q: %v", c.Name, err)
		}
		if strings.Contains(string(c.Body), "{domain}") || strings.Contains(string(c.Body), "{n}") || leftover.Match(c.Body) {
			t.Errorf("%q: placeholder left: %s", c.Name, c.Body)
		}
	}
	for _, c := range cases {
		if c.Name == "display name 257" {
			var body struct{ DisplayName string }
			_ = json.Unmarshal(c.Body, &body)
			if len(body.DisplayName) != 257 {
				t.Errorf("display name 257 has %d characters", len(body.DisplayName))
			}
		}
	}
}
