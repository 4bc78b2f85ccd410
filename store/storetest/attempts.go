package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/idshift/idshift"
)

// Migrator is what RunAttempts needs besides idshift.AttemptStore: reading back a migration.
type Migrator interface {
	// Migrated returns when and how a user's password was migrated, or ENOTFOUND.
	Migrated(ctx context.Context, key idshift.Key) (time.Time, string, error)
}

// RunAttempts runs the conformance suite of idshift.AttemptStore. The stores h opens must implement it and
// Migrator.
func RunAttempts(t *testing.T, h Harness) {
	s := suite{h: h}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"RecordAndCount", s.testAttemptCounts},
		{"RecordAttemptInvalid", s.testAttemptInvalid},
		{"MarkMigrated", s.testMarkMigrated},
		{"AttemptsConcurrent", s.testAttemptsConcurrent},
		{"AttemptsReopen", s.testAttemptsReopen},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.fn)
	}
}

func attemptStore(t *testing.T, st idshift.Store) (idshift.AttemptStore, Migrator) {
	t.Helper()
	as, ok := st.(idshift.AttemptStore)
	if !ok {
		t.Fatalf("%T does not implement idshift.AttemptStore", st)
	}
	m, ok := st.(Migrator)
	if !ok {
		t.Fatalf("%T does not implement storetest.Migrator", st)
	}
	return as, m
}

func (s suite) testAttemptCounts(t *testing.T) {
	st, c, _ := s.fresh(t, nil)
	as, _ := attemptStore(t, st)
	ctx := context.Background()
	start := c.Now()
	k := idshift.Key{Source: "s", LegacyID: "1"}
	logs := []idshift.AttemptLog{
		{Key: k, ObjectID: "o1", Front: idshift.FrontEntra, Action: idshift.ActionRetry, Reason: "mismatch", ClientIP: "203.0.113.1", At: start},
		{Key: k, ObjectID: "o1", Front: idshift.FrontEntra, Action: idshift.ActionRetry, Reason: "mismatch", At: start.Add(time.Second)},
		{Key: k, ObjectID: "o1", Front: idshift.FrontEntra, Action: idshift.ActionMigrate, Reason: "match", At: start.Add(2 * time.Second)},
		{SignInName: "nobody@example.com", Front: idshift.FrontHarvest, Action: idshift.ActionRetry, Reason: "unknown_user", At: start.Add(3 * time.Second)},
		// Before since: not counted.
		{Key: k, Front: idshift.FrontEntra, Action: idshift.ActionBlock, Reason: "locked", At: start.Add(-time.Second)},
		// No time: the store's clock (start), counted.
		{Key: k, Front: idshift.FrontEntra, Action: idshift.ActionBlock, Reason: "disabled"},
	}
	for _, l := range logs {
		if err := as.RecordAttempt(ctx, l); err != nil {
			t.Fatalf("RecordAttempt: %v", err)
		}
	}
	got, err := as.AttemptCounts(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	want := []idshift.AttemptCount{
		{Front: idshift.FrontEntra, Action: idshift.ActionBlock, Reason: "disabled", N: 1},
		{Front: idshift.FrontEntra, Action: idshift.ActionMigrate, Reason: "match", N: 1},
		{Front: idshift.FrontEntra, Action: idshift.ActionRetry, Reason: "mismatch", N: 2},
		{Front: idshift.FrontHarvest, Action: idshift.ActionRetry, Reason: "unknown_user", N: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("AttemptCounts(start) = %+v, want %+v", got, want)
	}
	got, err = as.AttemptCounts(ctx, start.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("AttemptCounts(start+2s) = %+v, want 2 rows", got)
	}
}

func (s suite) testAttemptInvalid(t *testing.T) {
	st, _, _ := s.fresh(t, nil)
	as, _ := attemptStore(t, st)
	err := as.RecordAttempt(context.Background(), idshift.AttemptLog{Front: idshift.FrontEntra})
	if !errors.Is(err, idshift.ErrInvalid) {
		t.Errorf("RecordAttempt without action: %v, want EINVALID", err)
	}
}

func (s suite) testMarkMigrated(t *testing.T) {
	st, c, _ := s.fresh(t, nil)
	as, m := attemptStore(t, st)
	ctx := context.Background()
	r := rec("s", "1", idshift.StateCreated)
	r.ObjectID = "obj-1"
	put(t, st, r)
	cred := idshift.Credential{Kind: idshift.CredentialHash, Hash: "$2b$04$abcdefghijklmnopqrstuu5Fq5DsYQtn0sKyYu5YN1UqV4g0lFZ3q"}
	if err := st.PutCredentials(ctx, map[idshift.Key]idshift.Credential{r.Key: cred}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Migrated(ctx, r.Key); !errors.Is(err, idshift.ErrNotFound) {
		t.Errorf("Migrated before MarkMigrated: %v, want ENOTFOUND", err)
	}
	at := c.Now().Add(-time.Minute)
	if err := as.MarkMigrated(ctx, r.Key, at, "hash"); err != nil {
		t.Fatalf("MarkMigrated: %v", err)
	}
	// Idempotent: the first time and way stay.
	if err := as.MarkMigrated(ctx, r.Key, at.Add(time.Hour), "tenant"); err != nil {
		t.Fatalf("MarkMigrated again: %v", err)
	}
	got, err := st.Record(ctx, r.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != idshift.StateMigrated || got.ObjectID != "obj-1" {
		t.Errorf("record after MarkMigrated: state %q object %q", got.State, got.ObjectID)
	}
	when, how, err := m.Migrated(ctx, r.Key)
	if err != nil || !when.Equal(at) || how != "hash" {
		t.Errorf("Migrated = %v, %q, %v; want %v, hash", when, how, err, at)
	}
	// The credential is kept.
	if got, err := st.Credential(ctx, r.Key); err != nil || got.Hash != cred.Hash {
		t.Errorf("credential after MarkMigrated: %v (kept: %v)", err, got.Hash == cred.Hash)
	}
	if err := as.MarkMigrated(ctx, idshift.Key{Source: "s", LegacyID: "nobody"}, at, "hash"); !errors.Is(err, idshift.ErrNotFound) {
		t.Errorf("MarkMigrated(unknown) = %v, want ENOTFOUND", err)
	}
}

func (s suite) testAttemptsConcurrent(t *testing.T) {
	st, c, _ := s.fresh(t, nil)
	as, _ := attemptStore(t, st)
	ctx := context.Background()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := as.RecordAttempt(ctx, idshift.AttemptLog{
					Key: idshift.Key{Source: "s", LegacyID: fmt.Sprint(w)}, Front: idshift.FrontEntra,
					Action: idshift.ActionRetry, Reason: "mismatch", At: c.Now().Add(time.Duration(i) * time.Millisecond),
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := as.AttemptCounts(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].N != workers*each {
		t.Errorf("AttemptCounts = %+v, want one row of %d", got, workers*each)
	}
}

func (s suite) testAttemptsReopen(t *testing.T) {
	c := newClock()
	db := s.h.New(t)
	st := s.open(t, db, Options{Now: c.Now})
	as, _ := attemptStore(t, st)
	if err := as.RecordAttempt(context.Background(), idshift.AttemptLog{Front: idshift.FrontEntra, Action: idshift.ActionRetry, Reason: "mismatch"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2 := s.open(t, db, Options{Now: c.Now})
	as2, _ := attemptStore(t, st2)
	got, err := as2.AttemptCounts(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].N != 1 {
		t.Errorf("after reopen: %+v, want one attempt", got)
	}
}
