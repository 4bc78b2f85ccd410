package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store/postgres"
)

func TestEndgameCapabilities(t *testing.T) {
	requireServer(t)
	ctx := context.Background()
	db, err := postgres.Config{URL: serverURL(), Schema: newSchema(t)}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	creds := map[idshift.Key]idshift.Credential{}
	for i := range 30 {
		creds[idshift.Key{Source: "s", LegacyID: fmt.Sprintf("%02d", i)}] = idshift.Credential{Kind: idshift.CredentialHash, Hash: "$2b$10$abcdefghijklmnopqrstuv"}
	}
	if err := db.PutCredentials(ctx, creds); err != nil {
		t.Fatal(err)
	}
	var keys []idshift.Key
	if err := db.CredentialKeys(ctx, func(k idshift.Key) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 30 || keys[0].LegacyID != "00" || keys[29].LegacyID != "29" {
		t.Fatalf("CredentialKeys: %v", keys)
	}
	if n, err := db.DeleteCredentials(ctx, keys); err != nil || n != 30 {
		t.Fatalf("DeleteCredentials: %d, %v", n, err)
	}
	for range 2 {
		if err := db.Compact(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CredentialKeys(ctx, func(idshift.Key) error { t.Error("a key after deleting all"); return nil }); err != nil {
		t.Fatal(err)
	}

	d1 := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)
	for i, at := range []time.Time{d1, d1, d1.Add(2 * time.Minute)} {
		a := idshift.AttemptLog{Front: idshift.FrontEntra, Action: idshift.ActionMigrate, At: at}
		if i == 2 {
			a.Action = idshift.ActionBlock
		}
		if err := db.RecordAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	days, err := db.AttemptsByDay(ctx, time.Time{})
	if err != nil || fmt.Sprint(days) != "[{2026-03-01 entra MigratePassword 2} {2026-03-02 entra Block 1}]" {
		t.Errorf("AttemptsByDay = %v, %v", days, err)
	}
	k := idshift.Key{Source: "s", LegacyID: "m"}
	if err := db.PutRecords(ctx, []*idshift.Record{{Key: k, State: idshift.StateCreated}}); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkMigrated(ctx, k, d1, "live:ldap"); err != nil {
		t.Fatal(err)
	}
	if m, err := db.MigratedByHow(ctx); err != nil || m["live:ldap"] != 1 || len(m) != 1 {
		t.Errorf("MigratedByHow = %v, %v", m, err)
	}
}
