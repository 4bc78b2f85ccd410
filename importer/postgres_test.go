package importer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"github.com/idshift/idshift/internal/servicetest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/importer"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/source/file"
	"github.com/idshift/idshift/store/postgres"
	"github.com/jackc/pgx/v5"
)

// postgresStore opens a PostgreSQL store in a fresh schema (dropped at the end), skipping when the server is
// unreachable unless IDSHIFT_REQUIRE_SERVICES=1.
func postgresStore(t *testing.T) idshift.Store {
	t.Helper()
	url := servicetest.PostgresURL()
	b := make([]byte, 5)
	rand.Read(b)
	schema := "idshift_import_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := postgres.Config{URL: url, Schema: schema}.Open(ctx)
	if err != nil {
		msg := "PostgreSQL unreachable at IDSHIFT_POSTGRES_URL (" + url + "): " + err.Error()
		servicetest.Unavailable(t, msg)
	}
	t.Cleanup(func() {
		st.Close()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return st
}

// TestImportWithPostgresStore runs the lost-response scenario with the state in PostgreSQL: exactly one account per
// user, and the store agrees with the tenant.
func TestImportWithPostgresStore(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true, Faults: sandbox.Faults{CommitThenFail: 0.2, Seed: 11}})
	e.store = postgresStore(t)
	sum, _, err := e.run(t, genCSV(150), func(c *importer.Config) { c.MaxAttempts = 10 })
	if err != nil {
		t.Fatal(err)
	}
	users := e.tenantByLegacyID(t)
	if len(users) != 150 || sum.Created+sum.Adopted != 150 || sum.Adopted == 0 {
		t.Fatalf("tenant holds %d legacy ids; summary %+v", len(users), sum)
	}
	n := 0
	err = e.store.Scan(context.Background(), nil, func(r *idshift.Record) error {
		n++
		if us := users[r.LegacyID]; len(us) != 1 || us[0]["id"] != r.ObjectID {
			t.Errorf("%s: store says %s (%s), tenant has %v", r.LegacyID, r.ObjectID, r.State, us)
		}
		return nil
	})
	if err != nil || n != 150 {
		t.Fatalf("scanned %d records, %v", n, err)
	}
	sum, _, err = e.run(t, genCSV(150), nil)
	if err != nil || sum.Skipped != 150 {
		t.Fatalf("rerun %+v, %v", sum, err)
	}
}

// TestShardedImportSharesPostgres runs two importers at once, shards 0/2 and 1/2 of the same source, over one
// PostgreSQL store and one tenant with lost responses: together they create exactly one account per user.
func TestShardedImportSharesPostgres(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true, Faults: sandbox.Faults{CommitThenFail: 0.1, Seed: 5}})
	e.store = postgresStore(t)
	path := filepath.Join(e.tmp, "users.csv")
	if err := os.WriteFile(path, []byte(genCSV(300)+"dup,user00007@example.com,,Dup,,,,,,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	sums := make([]importer.Summary, 2)
	errs := make([]error, 2)
	for shard := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src, err := file.Config{Path: path, Name: "legacy"}.Open()
			if err != nil {
				errs[shard] = err
				return
			}
			defer src.Close()
			im, err := importer.New(importer.Config{Source: src, Store: e.store, Directory: e.dir, Domain: e.srv.Tenant.Domain(),
				ExtensionsAppID: e.ext, Shard: shard, Shards: 2, MaxAttempts: 10})
			if err != nil {
				errs[shard] = err
				return
			}
			sums[shard], errs[shard] = im.Run(context.Background())
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("shard %d: %v", i, errs[i])
		}
		s := sums[i]
		if !s.Reconciles() || s.Read != 301 || s.Rejected != 1 || s.OtherShard == 0 || s.Failed != 0 {
			t.Errorf("shard %d: %+v", i, s)
		}
	}
	if sums[0].Created+sums[0].Adopted+sums[1].Created+sums[1].Adopted != 300 || sums[0].OtherShard+sums[1].OtherShard != 300 {
		t.Errorf("shards together: %+v %+v", sums[0], sums[1])
	}
	users := e.tenantByLegacyID(t)
	if len(users) != 300 {
		t.Fatalf("tenant holds %d legacy ids, want 300", len(users))
	}
	for id, us := range users {
		if len(us) != 1 {
			t.Errorf("%s: %d accounts", id, len(us))
		}
	}
}
