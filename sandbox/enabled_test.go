package sandbox_test

import (
	"net/http"
	"testing"

	"github.com/idshift/idshift/sandbox"
)

// TestPatchAccountEnabled: PATCH accountEnabled=false (how cutover disables a stale account) answers 204 and the
// user reads back disabled; a value that is not a Boolean is refused as Graph does.
func TestPatchAccountEnabled(t *testing.T) {
	_, c := adminClient(t, sandbox.Config{DisableThrottling: true})
	r := c.do("POST", "/v1.0/users", localUser("off@example.com"))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	if r := c.do("PATCH", "/v1.0/users/"+id, map[string]any{"accountEnabled": false}); r.status != http.StatusNoContent {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	if r := c.do("GET", "/v1.0/users/"+id+"?$select=id,accountEnabled", nil); r.status != 200 || r.body["accountEnabled"] != false {
		t.Fatalf("get: %d %s", r.status, r.raw)
	}
	if r := c.do("PATCH", "/v1.0/users/"+id, map[string]any{"accountEnabled": "no"}); r.status != http.StatusBadRequest {
		t.Fatalf("patch with a string: %d %s", r.status, r.raw)
	}
}
