package jit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"github.com/idshift/idshift/internal/servicetest"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/jit"
	"github.com/idshift/idshift/store/postgres"
)

// unreachable skips the test, or fails it with IDSHIFT_REQUIRE_SERVICES=1.
func unreachable(t *testing.T, what string, err error) {
	t.Helper()
	msg := what + " unreachable: " + err.Error()
	servicetest.Unavailable(t, msg)
}

// TestSharedReplicas: two services (two replicas) over one PostgreSQL store and one Redis guard. The guard's limit
// holds in total, not per replica, and both record into the shared store.
func TestSharedReplicas(t *testing.T) {
	ctx := context.Background()
	pgURL := servicetest.PostgresURL()
	redisURL := servicetest.RedisURL()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "idshift_jit_" + hex.EncodeToString(b)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := postgres.Config{URL: pgURL, Schema: schema}.Open(pctx)
	if err != nil {
		unreachable(t, "PostgreSQL (IDSHIFT_POSTGRES_URL)", err)
	}
	t.Cleanup(func() {
		st.Close()
		if conn, err := pgx.Connect(ctx, pgURL); err == nil {
			conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			conn.Close(ctx)
		}
	})
	const limit = 4
	gc := guard.Config{Pair: guard.Limit{Failures: limit, Window: time.Minute, LockFor: time.Minute}, Prefix: "idshift:jit-test:" + schema + ":"}
	var replicas []*jit.Service
	for range 2 {
		g, err := gc.OpenRedis(pctx, redisURL)
		if err != nil {
			unreachable(t, "Redis (IDSHIFT_REDIS_URL)", err)
		}
		t.Cleanup(func() { g.Close() })
		s, err := jit.Config{Store: st, Guard: g, Timeout: jit.MaxTimeout, Logger: slog.New(slog.DiscardHandler),
			Verifier: &jit.HashVerifier{Store: st, DummyHash: hashOf(t, "dummy", cheapCost)}}.Open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(ctx) })
		replicas = append(replicas, s)
	}
	k := idshift.Key{Source: "legacy", LegacyID: "1"}
	if err := st.PutRecords(ctx, []*idshift.Record{{Key: k, ObjectID: "obj-1", SignInNames: []string{"a@example.com"}, State: idshift.StateCreated}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCredentials(ctx, map[idshift.Key]idshift.Credential{k: {Kind: idshift.CredentialHash, Hash: hashOf(t, "Right-pass-1", cheapCost)}}); err != nil {
		t.Fatal(err)
	}
	// Wrong passwords alternating between the replicas: exactly limit are checked (reason mismatch), then every
	// replica blocks. An attempt answered "try later" on a loaded machine (timeout) is not counted and is skipped.
	// (Concurrent attempts are bounded as strictly: TestStrictLimitRedis.)
	reasons := map[string]int{}
	for i := 0; reasons[jit.ReasonMismatch] < limit && i < 4*limit; i++ {
		d := replicas[i%2].Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-1", Password: "wrong", ClientIP: "198.51.100.1"})
		reasons[d.Reason]++
	}
	if reasons[jit.ReasonMismatch] != limit || reasons[jit.ReasonLocked] != 0 {
		t.Fatalf("answers by reason %v: want %d mismatches across replicas before any lock", reasons, limit)
	}
	for i, s := range replicas {
		if d := s.Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-1", Password: "wrong", ClientIP: "198.51.100.1"}); d.Reason != jit.ReasonLocked {
			t.Errorf("replica %d after %d failures in total: %s/%s, want Block/locked", i, limit, d.Action, d.Reason)
		}
	}
	recorded := int64(limit + 2 + reasons[jit.ReasonTimeout] + reasons[jit.ReasonShed] + reasons[jit.ReasonUnavailable])
	if d := replicas[1].Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-1", Password: "Right-pass-1", ClientIP: "198.51.100.1"}); d.Action != idshift.ActionBlock {
		t.Errorf("after the limit, the right password from the same address: %s, want Block", d.Action)
	}
	if d := replicas[0].Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-1", Password: "Right-pass-1", ClientIP: "198.51.100.2"}); d.Action != idshift.ActionMigrate {
		t.Errorf("the right password from another address: %s, want MigratePassword", d.Action)
	}
	for _, s := range replicas {
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.AttemptCounts(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range got {
		n += c.N
	}
	if n != recorded+2 {
		t.Errorf("recorded %d attempts, want %d", n, recorded+2)
	}
	if rec, err := st.Record(ctx, k); err != nil || rec.State != idshift.StateMigrated {
		t.Errorf("record after MigratePassword: %v, %v", rec, err)
	}
}
