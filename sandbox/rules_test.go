package sandbox_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/idshift/idshift/internal/ruletable"
	"github.com/idshift/idshift/sandbox"
)

// TestRules creates each user of the table of External ID's rules that the planner's tests (graph.ValidateUser) run
// too: the sandbox tenant must give every verdict the planner gives.
func TestRules(t *testing.T) {
	cases, err := ruletable.Cases(sandbox.DefaultDomain)
	if err != nil {
		t.Fatal(err)
	}
	_, c := adminClient(t, sandbox.Config{DisableThrottling: true})
	for _, rc := range cases {
		t.Run(rc.Name, func(t *testing.T) {
			r := c.do("POST", "/v1.0/users", json.RawMessage(rc.Body))
			switch {
			case rc.Valid && r.status != http.StatusCreated:
				t.Fatalf("%s says valid; sandbox answered %d %s", rc.Source, r.status, r.raw)
			case !rc.Valid && r.status != http.StatusBadRequest:
				t.Fatalf("%s says invalid; sandbox answered %d %s", rc.Source, r.status, r.raw)
			}
		})
	}
}
