package importer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/importer"
	"github.com/idshift/idshift/sandbox"
)

// TestImportRecordsLegacyActivity: the records keep each user's legacy last sign-in; --update refreshes a last
// sign-in that changed in the source without patching the tenant; a record cutover retired (disabled or deleted)
// is skipped, --update or not, and never created again.
func TestImportRecordsLegacyActivity(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	var b strings.Builder
	b.WriteString(header)
	for i := range 4 {
		fmt.Fprintf(&b, "u%05d,user%05d@example.com,,User %d,User,Number%d,,,2020-0%d-01T10:00:00Z,\n", i, i, i, i, i+1)
	}
	csv := b.String()
	if _, _, err := e.run(t, csv, nil); err != nil {
		t.Fatal(err)
	}
	k := func(id string) idshift.Key { return idshift.Key{Source: "legacy", LegacyID: id} }
	r, err := e.store.Record(ctx, k("u00001"))
	if err != nil || r.LegacyLastSignIn.IsZero() || r.LegacyDisabled {
		t.Fatalf("record %+v, %v", r, err)
	}
	seen := r.LegacyLastSignIn
	// u00001 signed in again since; u00002 and u00003 were retired at cutover.
	later := seen.Add(400 * 24 * time.Hour)
	changed := strings.Replace(csv, seen.Format(time.RFC3339), later.Format(time.RFC3339), 1)
	if changed == csv {
		t.Fatalf("the last sign-in %s is not in the file", seen.Format(time.RFC3339))
	}
	for id, st := range map[string]idshift.State{"u00002": idshift.StateDisabled, "u00003": idshift.StateDeleted} {
		r, err := e.store.Record(ctx, k(id))
		if err != nil {
			t.Fatal(err)
		}
		r.State = st
		if st == idshift.StateDeleted {
			r.ObjectID = ""
		}
		if err := e.store.PutRecords(ctx, []*idshift.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	writes := e.srv.Tenant.Stats().Writes
	sum, _, err := e.run(t, changed, nil)
	if err != nil || sum.Skipped != 4 || sum.Updated != 0 {
		t.Fatalf("without --update: %+v %v", sum, err)
	}
	if r, _ := e.store.Record(ctx, k("u00001")); !r.LegacyLastSignIn.Equal(seen) {
		t.Fatalf("refreshed without --update: %v", r.LegacyLastSignIn)
	}
	sum, _, err = e.run(t, changed, func(c *importer.Config) { c.Update = true })
	if err != nil || sum.Updated != 1 || sum.Skipped != 3 || sum.Created != 0 {
		t.Fatalf("--update: %+v %v", sum, err)
	}
	if r, _ := e.store.Record(ctx, k("u00001")); !r.LegacyLastSignIn.Equal(later) || r.State != idshift.StateCreated {
		t.Fatalf("after --update: %+v", r)
	}
	for id, st := range map[string]idshift.State{"u00002": idshift.StateDisabled, "u00003": idshift.StateDeleted} {
		if r, _ := e.store.Record(ctx, k(id)); r.State != st {
			t.Errorf("%s: state %s, want %s", id, r.State, st)
		}
	}
	if w := e.srv.Tenant.Stats().Writes; w != writes {
		t.Errorf("%d writes to the tenant: only the store changed", w-writes)
	}
}
