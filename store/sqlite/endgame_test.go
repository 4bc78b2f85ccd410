package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store"
	"github.com/idshift/idshift/store/sqlite"
)

// rawHolds reports whether the database file or its WAL holds needle.
func rawHolds(t *testing.T, path string, needle []byte) bool {
	t.Helper()
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, needle) {
			return true
		}
	}
	return false
}

// Deleted credentials survive in free pages and the WAL until Compact; after it, no byte of them is left in the
// database file or its WAL. The store is unsealed here so that the hashes are visible in the raw bytes.
func TestCompactLeavesNoDeletedCredential(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sqlite.Config{Path: path}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	creds := map[idshift.Key]idshift.Credential{}
	for i := range 200 {
		creds[idshift.Key{Source: "s", LegacyID: fmt.Sprint(i)}] = idshift.Credential{Kind: idshift.CredentialHash,
			Hash: fmt.Sprintf("$2b$10$knownhashvalue%04dabcdefghijklmnopqrstuvwxyzABCDEFGH", i)}
	}
	if err := db.PutCredentials(ctx, creds); err != nil {
		t.Fatal(err)
	}
	needle := []byte("knownhashvalue0042")
	if !rawHolds(t, path, needle) {
		t.Fatal("the unsealed hash is not in the raw files: the test cannot see what it checks")
	}
	var keys []idshift.Key
	if err := db.CredentialKeys(ctx, func(k idshift.Key) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 200 || keys[0].LegacyID != "0" || keys[1].LegacyID != "1" {
		t.Fatalf("CredentialKeys: %d keys, first %v", len(keys), keys[:min(2, len(keys))])
	}
	n, err := db.DeleteCredentials(ctx, keys)
	if err != nil || n != 200 {
		t.Fatalf("DeleteCredentials: %d, %v", n, err)
	}
	if !rawHolds(t, path, needle) {
		t.Log("the deleted hash was already gone before Compact (secure_delete?)")
	}
	for range 2 { // idempotent
		if err := db.Compact(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if rawHolds(t, path, needle) {
		t.Error("a deleted hash survives Compact in the database file or its WAL")
	}
	if err := db.CredentialKeys(ctx, func(idshift.Key) error { t.Error("a credential key after deleting all"); return nil }); err != nil {
		t.Fatal(err)
	}
	// The store still works after it.
	if err := db.PutRecords(ctx, []*idshift.Record{{Key: idshift.Key{Source: "s", LegacyID: "x"}, State: idshift.StateCreated}}); err != nil {
		t.Fatal(err)
	}
}

func TestAttemptsByDayAndMigratedByHow(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Config{Path: filepath.Join(t.TempDir(), "state.db")}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d1 := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)
	d2 := d1.Add(2 * time.Minute)
	for _, a := range []idshift.AttemptLog{
		{Front: idshift.FrontEntra, Action: idshift.ActionMigrate, At: d1},
		{Front: idshift.FrontEntra, Action: idshift.ActionMigrate, At: d1},
		{Front: idshift.FrontEntra, Action: idshift.ActionRetry, At: d2},
		{Front: idshift.FrontHarvest, Action: idshift.ActionBlock, At: d2},
	} {
		if err := db.RecordAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.AttemptsByDay(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.DayCount{
		{Day: "2026-03-01", Front: "entra", Action: idshift.ActionMigrate, N: 2},
		{Day: "2026-03-02", Front: "entra", Action: idshift.ActionRetry, N: 1},
		{Day: "2026-03-02", Front: "harvest", Action: idshift.ActionBlock, N: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("AttemptsByDay = %v, want %v", got, want)
	}
	if got, _ := db.AttemptsByDay(ctx, d2); len(got) != 2 {
		t.Errorf("AttemptsByDay(since d2) = %v", got)
	}
	for i, how := range []string{"hash", "hash", "tenant"} {
		k := idshift.Key{Source: "s", LegacyID: fmt.Sprint(i)}
		if err := db.PutRecords(ctx, []*idshift.Record{{Key: k, State: idshift.StateCreated}}); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkMigrated(ctx, k, d1, how); err != nil {
			t.Fatal(err)
		}
	}
	m, err := db.MigratedByHow(ctx)
	if err != nil || m["hash"] != 2 || m["tenant"] != 1 || len(m) != 2 {
		t.Errorf("MigratedByHow = %v, %v", m, err)
	}
}
