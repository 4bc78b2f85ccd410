package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store/postgres"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestClaimPending(t *testing.T) {
	schema := newSchema(t)
	ctx := context.Background()
	clk := &testClock{t: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
	// Two handles on one schema stand for two processes.
	open := func() *postgres.DB {
		db, err := postgres.Config{URL: serverURL(), Schema: schema, Now: clk.Now}.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	var recs []*idshift.Record
	for i := range 100 {
		state := idshift.StatePending
		if i%10 == 9 {
			state = idshift.StateCreated
		}
		recs = append(recs, &idshift.Record{Key: idshift.Key{Source: "s", LegacyID: fmt.Sprintf("%03d", i)}, State: state})
	}
	if err := a.PutRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}

	// Concurrent claims from both processes get disjoint sets that together hold every pending record once.
	claimed := map[idshift.Key]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w, db := range map[string]*postgres.DB{"worker-a": a, "worker-b": b} {
		wg.Go(func() {
			for {
				got, err := db.ClaimPending(ctx, w, 7, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for i, r := range got {
					if r.State != idshift.StatePending {
						t.Errorf("claimed %v in state %q", r.Key, r.State)
					}
					if i > 0 && got[i-1].LegacyID >= r.LegacyID {
						t.Errorf("claim not in key order: %v after %v", r.Key, got[i-1].Key)
					}
					if prev, ok := claimed[r.Key]; ok {
						t.Errorf("%v claimed by %s and %s", r.Key, prev, w)
					}
					claimed[r.Key] = w
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != 90 {
		t.Errorf("claimed %d records, want the 90 pending", len(claimed))
	}

	// Leased: nothing more until the lease ends or is released.
	if got, err := a.ClaimPending(ctx, "worker-c", 10, time.Minute); err != nil || len(got) != 0 {
		t.Errorf("claim during leases = %d records, %v", len(got), err)
	}
	first := idshift.Key{Source: "s", LegacyID: "000"}
	n, err := a.ReleaseLeases(ctx, "someone-else", []idshift.Key{first})
	if err != nil || n != 0 {
		t.Errorf("ReleaseLeases by another worker = %d, %v; want 0", n, err)
	}
	n, err = a.ReleaseLeases(ctx, claimed[first], []idshift.Key{first, first, {Source: "s", LegacyID: "missing"}})
	if err != nil || n != 1 {
		t.Errorf("ReleaseLeases = %d, %v; want 1", n, err)
	}
	got, err := b.ClaimPending(ctx, "worker-c", 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].Key != first {
		t.Errorf("claim after release = %v, %v; want only %v", got, err, first)
	}
	// A record written out of pending is not claimed again once its lease ends.
	if err := a.PutRecords(ctx, []*idshift.Record{{Key: idshift.Key{Source: "s", LegacyID: "001"}, State: idshift.StateCreated}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	got, err = a.ClaimPending(ctx, "worker-d", 1000, time.Minute)
	if err != nil || len(got) != 89 {
		t.Errorf("claim after the leases ended = %d records, %v; want the 89 still pending", len(got), err)
	}

	for _, bad := range []struct {
		worker string
		n      int
		lease  time.Duration
	}{{"", 1, time.Second}, {"w", 0, time.Second}, {"w", 1, 0}} {
		if _, err := a.ClaimPending(ctx, bad.worker, bad.n, bad.lease); idshift.ErrorCode(err) != idshift.EINVALID {
			t.Errorf("ClaimPending(%q, %d, %s): err = %v, want EINVALID", bad.worker, bad.n, bad.lease, err)
		}
	}
}
