package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/idshift/idshift/sandbox"
)

// TestDeletedItems checks that a deleted user goes to the deleted items, still counted against the quota, until
// it is purged (DELETE /directory/deletedItems/{id}) or 30 days pass.
func TestDeletedItems(t *testing.T) {
	clock := newClock()
	s, c := adminClient(t, sandbox.Config{DisableThrottling: true, Now: clock.Now, Limits: sandbox.Limits{Quota: 5}})
	base := s.Tenant.QuotaUsed() // the applications
	var ids []string
	for i := range 3 {
		r := c.do("POST", "/v1.0/users", localUser(fmt.Sprintf("d%d@example.com", i)))
		if r.status != http.StatusCreated {
			t.Fatalf("create %d: %d %s", i, r.status, r.raw)
		}
		ids = append(ids, r.body["id"].(string))
	}
	if r := c.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", nil); r.status != 200 || len(r.body["value"].([]any)) != 0 {
		t.Fatalf("empty list: %d %s", r.status, r.raw)
	}
	for _, id := range ids[:2] {
		if r := c.do("DELETE", "/v1.0/users/"+id, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.raw)
		}
	}
	if got := s.Tenant.QuotaUsed(); got != base+3 {
		t.Fatalf("quota used after soft delete = %d, want %d (deleted users still count)", got, base+3)
	}
	r := c.do("GET", "/v1.0/organization", nil)
	if q := r.body["value"].([]any)[0].(map[string]any)["directorySizeQuota"].(map[string]any); q["used"] != json.Number(fmt.Sprint(base+3)) {
		t.Fatalf("organization quota = %v", q)
	}
	// The quota is full: the two deleted users hold their places.
	if r := c.do("POST", "/v1.0/users", localUser("full@example.com")); r.status != http.StatusForbidden || r.errCode() != "Directory_QuotaExceeded" {
		t.Fatalf("create over quota: %d %s", r.status, r.raw)
	}
	if r := c.do("GET", "/v1.0/users/"+ids[0], nil); r.status != http.StatusNotFound {
		t.Fatalf("a deleted user is still in /users: %d", r.status)
	}

	r = c.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user?$select=id,mail&$top=1", nil)
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	v := r.body["value"].([]any)
	next, _ := r.body["@odata.nextLink"].(string)
	if len(v) != 1 || next == "" {
		t.Fatalf("first page: %s", r.raw)
	}
	first := v[0].(map[string]any)
	if first["id"] != ids[0] || first["mail"] != "d0@example.com" || first["deletedDateTime"] != clock.Now().UTC().Format(time.RFC3339) {
		t.Fatalf("deleted user = %v", first)
	}
	r = c.do("GET", next, nil)
	if v := r.body["value"].([]any); len(v) != 1 || v[0].(map[string]any)["id"] != ids[1] || r.body["@odata.nextLink"] != nil {
		t.Fatalf("second page: %s", r.raw)
	}
	r = c.do("GET", "/v1.0/directory/deletedItems/"+ids[1], nil)
	if r.status != 200 || r.body["@odata.type"] != "#microsoft.graph.user" || r.body["id"] != ids[1] {
		t.Fatalf("get deleted: %d %s", r.status, r.raw)
	}
	if r := c.do("GET", "/v1.0/directory/deletedItems/"+ids[2], nil); r.status != http.StatusNotFound {
		t.Fatalf("a live user is in the deleted items: %d", r.status)
	}
	if r := c.do("GET", "/v1.0/directory/deletedItems", nil); r.status != http.StatusBadRequest {
		t.Fatalf("list without the cast: %d", r.status)
	}
	if r := c.do("GET", "/v1.0/directory/nothing", nil); r.status != http.StatusBadRequest {
		t.Fatalf("unknown segment: %d", r.status)
	}

	// Purge: gone for good, and the quota is freed.
	if r := c.do("DELETE", "/v1.0/directory/deletedItems/"+ids[0], nil); r.status != http.StatusNoContent {
		t.Fatalf("purge: %d %s", r.status, r.raw)
	}
	if r := c.do("DELETE", "/v1.0/directory/deletedItems/"+ids[0], nil); r.status != http.StatusNotFound || r.errCode() != "Request_ResourceNotFound" {
		t.Fatalf("purge twice: %d %s", r.status, r.raw)
	}
	if r := c.do("DELETE", "/v1.0/directory/deletedItems/"+ids[2], nil); r.status != http.StatusNotFound {
		t.Fatalf("purge of a live user: %d", r.status)
	}
	if got := s.Tenant.QuotaUsed(); got != base+2 {
		t.Fatalf("quota used after purge = %d, want %d", got, base+2)
	}
	if d := s.Tenant.DeletedUsers(); len(d) != 1 || d[0]["id"] != ids[1] {
		t.Fatalf("DeletedUsers = %v", d)
	}

	// After 30 days the directory purges by itself.
	clock.Advance(30*24*time.Hour + time.Second)
	if got := s.Tenant.QuotaUsed(); got != base+1 {
		t.Fatalf("quota used after 30 days = %d, want %d", got, base+1)
	}
	c = newRawClient(t, s, sandbox.DefaultTenantID, sandbox.DefaultClientID, sandbox.DefaultClientSecret) // a fresh token
	if r := c.do("GET", "/v1.0/directory/deletedItems/"+ids[1], nil); r.status != http.StatusNotFound {
		t.Fatalf("expired deleted user: %d", r.status)
	}
	if d := s.Tenant.DeletedUsers(); len(d) != 0 {
		t.Fatalf("DeletedUsers after 30 days = %v", d)
	}
}

// TestDeletedItemsNeedRoles checks the permissions: a reader can list, not purge.
func TestDeletedItemsNeedRoles(t *testing.T) {
	s := start(t, sandbox.Config{DisableThrottling: true, Apps: []sandbox.App{
		{ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret},
		{ClientID: "11111111-1111-1111-1111-111111111111", Secret: "reader-secret", Roles: []string{"User.Read.All"}},
	}})
	admin := newRawClient(t, s, sandbox.DefaultTenantID, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
	reader := newRawClient(t, s, sandbox.DefaultTenantID, "11111111-1111-1111-1111-111111111111", "reader-secret")
	r := admin.do("POST", "/v1.0/users", localUser("r@example.com"))
	id := r.body["id"].(string)
	admin.do("DELETE", "/v1.0/users/"+id, nil)
	if r := reader.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", nil); r.status != 200 || len(r.body["value"].([]any)) != 1 {
		t.Fatalf("reader list: %d %s", r.status, r.raw)
	}
	if r := reader.do("DELETE", "/v1.0/directory/deletedItems/"+id, nil); r.status != http.StatusForbidden {
		t.Fatalf("reader purge: %d %s", r.status, r.raw)
	}
}

// TestListQuery checks that both user listings refuse a page size out of 1..999 and a skip token of the other
// listing, and accept their own.
func TestListQuery(t *testing.T) {
	_, c := adminClient(t, sandbox.Config{DisableThrottling: true})
	for path, own := range map[string]string{"/v1.0/users": "seq", "/v1.0/directory/deletedItems/microsoft.graph.user": "del"} {
		other := map[string]string{"seq": "del", "del": "seq"}[own]
		for _, q := range []string{"$top=0", "$top=1000", "$top=x", "$skiptoken=" + other + "1", "$skiptoken=" + own + "zz"} {
			if r := c.do("GET", path+"?"+q, nil); r.status != http.StatusBadRequest {
				t.Errorf("%s?%s: %d %s, want 400", path, q, r.status, r.raw)
			}
		}
		if r := c.do("GET", path+"?$top=999&$skiptoken="+own+"1", nil); r.status != http.StatusOK {
			t.Errorf("%s with its own skip token: %d %s", path, r.status, r.raw)
		}
	}
}

// TestFilterRefused checks that the user listing and the user count both refuse a malformed $filter with a 400,
// and that the listing takes a good one.
func TestFilterRefused(t *testing.T) {
	_, c := adminClient(t, sandbox.Config{DisableThrottling: true})
	for _, path := range []string{"/v1.0/users", "/v1.0/users/$count"} {
		r := c.do("GET", path+"?$filter=mail%20eq", nil, "ConsistencyLevel", "eventual")
		if r.status != http.StatusBadRequest {
			t.Errorf("%s with a malformed filter: %d %s, want 400", path, r.status, r.raw)
		}
	}
	if r := c.do("GET", "/v1.0/users?$filter=mail%20eq%20'a@example.com'", nil); r.status != http.StatusOK {
		t.Errorf("users with a good filter: %d %s", r.status, r.raw)
	}
}

// TestDeletedItemsDelay: with Config.DeletedItemsDelay a deleted user shows in the deleted items (get, list,
// purge) only once the delay has passed, while it counts against the quota from its deletion on.
func TestDeletedItemsDelay(t *testing.T) {
	clock := newClock()
	s, c := adminClient(t, sandbox.Config{DisableThrottling: true, Now: clock.Now, DeletedItemsDelay: time.Minute})
	r := c.do("POST", "/v1.0/users", localUser("lag@example.com"))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	used := s.Tenant.QuotaUsed()
	if r := c.do("DELETE", "/v1.0/users/"+id, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	check := func(visible bool) {
		t.Helper()
		want := http.StatusNotFound
		if visible {
			want = http.StatusOK
		}
		if r := c.do("GET", "/v1.0/directory/deletedItems/"+id, nil); r.status != want {
			t.Errorf("get: %d, want %d", r.status, want)
		}
		r := c.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", nil)
		if n := len(r.body["value"].([]any)); r.status != 200 || (n == 1) != visible {
			t.Errorf("list: %d, %d users, visible %v", r.status, n, visible)
		}
	}
	check(false)
	if r := c.do("DELETE", "/v1.0/directory/deletedItems/"+id, nil); r.status != http.StatusNotFound {
		t.Fatalf("purge before the delay: %d", r.status)
	}
	if got := s.Tenant.QuotaUsed(); got != used || len(s.Tenant.DeletedUsers()) != 1 {
		t.Fatalf("quota used %d, want %d; deleted users %d", got, used, len(s.Tenant.DeletedUsers()))
	}
	clock.Advance(time.Minute)
	check(true)
	if r := c.do("DELETE", "/v1.0/directory/deletedItems/"+id, nil); r.status != http.StatusNoContent {
		t.Fatalf("purge after the delay: %d %s", r.status, r.raw)
	}
}
