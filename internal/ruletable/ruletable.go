// Package ruletable is the table of External ID's rules for a user created through Graph (rules.json): one case
// per rule with the verdict docs/contracts.md gives. The planner's tests (graph.ValidateUser) and the sandbox
// tenant's tests (POST /v1.0/users) both run every case, so that a row the planner passes is one the tenant takes,
// and the other way round.
package ruletable

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

//go:embed rules.json
var rulesJSON []byte

// Case is one rule's case.
type Case struct {
	Name string
	// Body is the user as a Graph create request body (JSON).
	Body []byte
	// Valid is the verdict: the user may be created.
	Valid bool
	// Field is the property the planner names when it refuses the user ("identities[0].issuerAssignedId"), or "".
	Field string
	// Source is the section of docs/contracts.md that gives the verdict.
	Source string
}

// Cases returns every case, with domain as the tenant's initial domain (the issuer of local identities).
func Cases(domain string) ([]Case, error) {
	var doc struct {
		Base  map[string]any `json:"base"`
		Cases []struct {
			Name   string         `json:"name"`
			Set    map[string]any `json:"set"`
			Delete []string       `json:"delete"`
			Valid  bool           `json:"valid"`
			Field  string         `json:"field"`
			Source string         `json:"source"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(rulesJSON, &doc); err != nil {
		return nil, fmt.Errorf("ruletable: %w", err)
	}
	out := make([]Case, len(doc.Cases))
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
		b, err := json.Marshal(expand(body, domain, i))
		if err != nil {
			return nil, fmt.Errorf("ruletable: case %q: %w", c.Name, err)
		}
		out[i] = Case{Name: c.Name, Body: b, Valid: c.Valid, Field: c.Field, Source: c.Source}
	}
	return out, nil
}

var repeatRE = regexp.MustCompile(`\{(\d+)\*([^}]*)\}`)

// expand replaces, in every string of v, {domain} by domain, {n} by n (to keep sign-in names unique) and {N*text}
// by N times text.
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
