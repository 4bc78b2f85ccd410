package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/report"
	"github.com/idshift/idshift/store/sqlite"
)

type fakeTenant []report.TenantUser

func (f fakeTenant) Users(ctx context.Context, fn func(report.TenantUser) error) error {
	for _, u := range f {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

func TestRead(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Config{Path: filepath.Join(t.TempDir(), "s.db")}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash := idshift.Credential{Kind: idshift.CredentialHash, Hash: "$2b$10$abcdefghijklmnopqrstuv"}
	recs := []struct {
		id, obj string
		state   idshift.State
		cred    bool
	}{
		{"pending", "o1", idshift.StateCreated, true},
		{"served", "o2", idshift.StateCreated, true},
		{"silent", "o3", idshift.StateCreated, true},
		{"reset", "o4", idshift.StateCreated, false},
		{"stillflagged", "o5", idshift.StateCreated, true},
		{"gone", "o6", idshift.StateCreated, true},
		{"rejected", "", idshift.StateRejected, false},
	}
	for _, r := range recs {
		k := idshift.Key{Source: "s", LegacyID: r.id}
		if err := db.PutRecords(ctx, []*idshift.Record{{Key: k, ObjectID: r.obj, State: r.state}}); err != nil {
			t.Fatal(err)
		}
		if r.cred {
			if err := db.PutCredentials(ctx, map[idshift.Key]idshift.Credential{k: hash}); err != nil {
				t.Fatal(err)
			}
		}
	}
	at := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	for _, id := range []string{"served", "stillflagged"} {
		if err := db.MarkMigrated(ctx, idshift.Key{Source: "s", LegacyID: id}, at, "hash"); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []idshift.Action{idshift.ActionMigrate, idshift.ActionMigrate, idshift.ActionBlock} {
		if err := db.RecordAttempt(ctx, idshift.AttemptLog{Front: idshift.FrontEntra, Action: a, Reason: "x", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	tenant := fakeTenant{
		{ObjectID: "o1", LegacyID: "pending", Flagged: true},
		{ObjectID: "o2", LegacyID: "served"},
		{ObjectID: "o3", LegacyID: "silent"},
		{ObjectID: "o4", LegacyID: "reset"},
		{ObjectID: "o5", LegacyID: "stillflagged", Flagged: true},
		{ObjectID: "o7", LegacyID: "elsewhere", Flagged: true},
		{ObjectID: "o8"},
	}
	st, err := report.Read(ctx, report.Config{Store: db, Tenant: tenant, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	want := report.TenantFigures{Listed: 7, Pending: 1, MigratedByService: 1, MigratedInTenant: 1, ToReset: 1,
		RecordedStillFlagged: 1, NotInStore: 1, Others: 1, MissingFromTenant: 1}
	if *st.Tenant != want || !st.Tenant.Reconciles() {
		t.Errorf("tenant figures %+v, want %+v", *st.Tenant, want)
	}
	if st.RecordsTotal != 7 || st.Records[idshift.StateMigrated] != 2 || st.Credentials != 5 || st.Blocks != 1 ||
		st.MigratedByHow["hash"] != 2 || len(st.Days) != 2 {
		t.Errorf("store figures %+v", st)
	}
	var buf bytes.Buffer
	if err := st.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"migrated in the tenant without a callout  1", "to migrate", "reconciles", "migrated 2 of 4 flagged users (50.0%)"} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("text lacks %q:\n%s", line, buf.String())
		}
	}
	if _, err := json.Marshal(st); err != nil {
		t.Fatal(err)
	}

	// Offline: the store's figures, no tenant.
	off, err := report.Read(ctx, report.Config{Store: db})
	if err != nil || off.Tenant != nil || !off.Offline || off.RecordsTotal != 7 {
		t.Errorf("offline: %+v, %v", off, err)
	}
	// A tenant error stops the read and is returned.
	boom := errors.New("boom")
	if _, err := report.Read(ctx, report.Config{Store: db, Tenant: failing{boom}}); !errors.Is(err, boom) {
		t.Errorf("tenant failure: %v", err)
	}
}

type failing struct{ err error }

func (f failing) Users(context.Context, func(report.TenantUser) error) error { return f.err }
