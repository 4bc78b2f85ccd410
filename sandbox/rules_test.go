package sandbox_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/idshift/idshift/sandbox"
)

// ruleCase is one case of graph/testdata/rules.json, the table of External ID's rules that the planner's tests
// (graph.ValidateUser) run too: the sandbox tenant must give every verdict the planner gives.
type ruleCase struct {
	Name   string         `json:"name"`
	Set    map[string]any `json:"set"`
	Delete []string       `json:"delete"`
	Valid  bool           `json:"valid"`
	Source string         `json:"source"`
}

var repeatRE = regexp.MustCompile(`\{(\d+)\*([^}]*)\}`)

// expandRule replaces {domain}, {n} and {N*text} in every string of v, as graph's tests do.
func expandRule(v any, domain string, n int) any {
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
			out[k] = expandRule(e, domain, n)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = expandRule(e, domain, n)
		}
		return out
	}
	return v
}

func TestRules(t *testing.T) {
	b, err := os.ReadFile("../graph/testdata/rules.json")
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
	if len(doc.Cases) < 50 {
		t.Fatalf("only %d cases in rules.json", len(doc.Cases))
	}
	_, c := adminClient(t, sandbox.Config{DisableThrottling: true})
	for i, rc := range doc.Cases {
		t.Run(rc.Name, func(t *testing.T) {
			body := map[string]any{}
			for k, v := range doc.Base {
				body[k] = v
			}
			for k, v := range rc.Set {
				body[k] = v
			}
			for _, k := range rc.Delete {
				delete(body, k)
			}
			r := c.do("POST", "/v1.0/users", expandRule(body, sandbox.DefaultDomain, i))
			switch {
			case rc.Valid && r.status != http.StatusCreated:
				t.Fatalf("%s says valid; sandbox answered %d %s", rc.Source, r.status, r.raw)
			case !rc.Valid && r.status != http.StatusBadRequest:
				t.Fatalf("%s says invalid; sandbox answered %d %s", rc.Source, r.status, r.raw)
			}
		})
	}
}
