package graph_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/sandbox"
)

// TestDeletedUsersAgainstSandbox deletes users, reads them back from the deleted items with their extension
// attribute, purges one, and checks the purge is a paced write that frees the quota.
func TestDeletedUsersAgainstSandbox(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, sandbox.Config{DisableThrottling: true})
	c := e.defaultClient(t)
	ctx := context.Background()
	tn := e.srv.Tenant
	ext := graph.ExtensionName(tn.ExtensionsAppIDNoDashes(), "legacyId")
	if _, err := c.CreateExtensionProperty(ctx, tn.ExtensionsAppObjectID(), graph.ExtensionProperty{Name: "legacyId", DataType: "String", TargetObjects: []string{"User"}}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		u, err := c.CreateUser(ctx, e.user(i, map[string]any{ext: "L" + string(rune('0'+i))}))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	before := time.Now().Add(-time.Minute)
	for _, id := range ids[:2] {
		if err := c.DeleteUser(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GetUser(ctx, ids[0], nil); !errors.Is(err, graph.ErrNotFound) {
		t.Fatalf("deleted user still readable: %v", err)
	}
	d, err := c.GetDeletedUser(ctx, ids[1], []string{"id", "identities", ext})
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != ids[1] || d.Extensions[ext] != "L1" || len(d.Identities) != 2 || d.DeletedDateTime.Before(before) || d.ODataType != "#microsoft.graph.user" {
		t.Fatalf("deleted user = %+v", d)
	}
	if _, err := c.GetDeletedUser(ctx, ids[2], nil); !errors.Is(err, graph.ErrNotFound) {
		t.Fatalf("a live user in the deleted items: %v", err)
	}
	var listed []string
	err = c.ListDeletedUsers(ctx, graph.ListOptions{Select: []string{"id", ext}, Top: 1}, func(d *graph.DeletedUser) error {
		listed = append(listed, d.ID+"="+d.Extensions[ext].(string))
		return nil
	})
	if err != nil || len(listed) != 2 || listed[0] != ids[0]+"=L0" || listed[1] != ids[1]+"=L1" {
		t.Fatalf("listed %v, %v", listed, err)
	}

	used := tn.QuotaUsed()
	writes := tn.Stats().Writes
	if err := c.PurgeDeletedItem(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if got := tn.QuotaUsed(); got != used-1 {
		t.Fatalf("quota used %d after a purge, want %d", got, used-1)
	}
	if got := tn.Stats().Writes; got != writes+1 {
		t.Fatalf("writes %d after a purge, want %d (a purge is a write)", got, writes+1)
	}
	if err := c.PurgeDeletedItem(ctx, ids[0]); !errors.Is(err, graph.ErrNotFound) {
		t.Fatalf("second purge: %v, want not found", err)
	}
	if err := c.PurgeDeletedItem(ctx, ""); !errors.Is(err, graph.ErrInvalid) {
		t.Fatalf("empty id: %v", err)
	}
	if d := tn.DeletedUsers(); len(d) != 1 || d[0]["id"] != ids[1] {
		t.Fatalf("deleted items %v", d)
	}
}

// TestDeletedPurgeIsPaced checks that purges wait for the pacer like the other writes.
func TestDeletedPurgeIsPaced(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, sandbox.Config{DisableThrottling: true})
	var slept []time.Duration
	pacer := graph.NewPacer(graph.Limits{AppWrites: 1, AppWindow: time.Hour, TenantWrites: 1000, TenantWindow: time.Second})
	pacer.Sleep = func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return errors.New("stop") }
	c := e.defaultClient(t, func(cfg *graph.Config) { cfg.Pacing = pacer })
	ctx := context.Background()
	err := c.PurgeDeletedItem(ctx, "00000000-0000-0000-0000-000000000001")
	if !errors.Is(err, graph.ErrNotFound) {
		t.Fatalf("first purge: %v", err)
	}
	if err := c.PurgeDeletedItem(ctx, "00000000-0000-0000-0000-000000000001"); err == nil || len(slept) == 0 {
		t.Fatalf("second purge was not held by the pacer: %v, slept %v", err, slept)
	}
}
