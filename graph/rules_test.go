package graph_test

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
)

// ruleCase is one case of testdata/rules.json; the sandbox's tests read the same file.
type ruleCase struct {
	Name   string         `json:"name"`
	Set    map[string]any `json:"set"`
	Delete []string       `json:"delete"`
	Valid  bool           `json:"valid"`
	Field  string         `json:"field"`
	Source string         `json:"source"`
}

var repeatRE = regexp.MustCompile(`\{(\d+)\*([^}]*)\}`)

// expand replaces {domain}, {n} and {N*text} in every string of v.
func expand(v any, domain string, n int) any {
	switch x := v.(type) {
	case string:
		x = strings.ReplaceAll(x, "{domain}", domain)
		x = strings.ReplaceAll(x, "{n}", strconv.Itoa(n))
		return repeatRE.ReplaceAllStringFunc(x, func(m string) string {
			g := repeatRE.FindStringSubmatch(m)
			k, _ := strconv.Atoi(g[1])
			return strings.Repeat(g[2], k)
		})
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = expand(e, domain, n)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = expand(e, domain, n)
		}
		return out
	}
	return v
}

// ruleBodies returns each case's request body as JSON.
func ruleBodies(t *testing.T, domain string) ([]ruleCase, [][]byte) {
	t.Helper()
	b, err := os.ReadFile("testdata/rules.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Base  map[string]any `json:"base"`
		Cases []ruleCase     `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	bodies := make([][]byte, len(doc.Cases))
	for i, c := range doc.Cases {
		body := map[string]any{}
		for k, v := range doc.Base {
			body[k] = v
		}
		for k, v := range c.Set {
			body[k] = v
		}
		for _, k := range c.Delete {
			delete(body, k)
		}
		bodies[i], err = json.Marshal(expand(body, domain, i))
		if err != nil {
			t.Fatal(err)
		}
	}
	return doc.Cases, bodies
}

// TestRules runs the planner's validation over the shared table of External ID's rules.
func TestRules(t *testing.T) {
	cases, bodies := ruleBodies(t, "contoso.onmicrosoft.com")
	if len(cases) < 50 {
		t.Fatalf("only %d cases in testdata/rules.json", len(cases))
	}
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var u graph.User
			if err := json.Unmarshal(bodies[i], &u); err != nil {
				t.Fatal(err)
			}
			err := graph.ValidateUser(&u, graph.Rules{})
			if c.Valid {
				if err != nil {
					t.Fatalf("%s says valid; ValidateUser: %v", c.Source, err)
				}
				return
			}
			var e *idshift.Error
			if !errors.As(err, &e) || e.Code != idshift.EINVALID {
				t.Fatalf("%s says invalid; ValidateUser: %v", c.Source, err)
			}
			if c.Field != "" && e.Field != c.Field {
				t.Errorf("field %q, want %q (%v)", e.Field, c.Field, err)
			}
		})
	}
}
