package graph_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/internal/ruletable"
)

// TestRules runs the planner's validation over the table of External ID's rules that the sandbox's tests run too.
func TestRules(t *testing.T) {
	cases, err := ruletable.Cases("contoso.onmicrosoft.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var u graph.User
			if err := json.Unmarshal(c.Body, &u); err != nil {
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
			if e.Field != c.Field {
				t.Errorf("field %q, want %q (%v)", e.Field, c.Field, err)
			}
		})
	}
}
