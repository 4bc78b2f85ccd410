package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store/postgres"
)

// TestMigrateLegacyActivity opens a schema written before migration 0005 (its records have no legacy activity):
// the records read back with a zero last sign-in and not disabled, and the columns are then written and read.
func TestMigrateLegacyActivity(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	conn, err := pgx.Connect(ctx, serverURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	id := pgx.Identifier{schema}.Sanitize()
	for _, q := range []string{`CREATE SCHEMA ` + id, `SET search_path TO ` + id,
		`CREATE TABLE schema_migrations (name text NOT NULL PRIMARY KEY, applied_at timestamptz NOT NULL)`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) < 5 {
		t.Fatalf("migrations: %v, %v", files, err)
	}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "0005") {
			break
		}
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, now())`, "migrations/"+filepath.Base(f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO records (source, legacy_id, object_id, state, created_at, updated_at)
		VALUES ('shop', 'u1', 'oid-1', 'created', now(), now())`); err != nil {
		t.Fatal(err)
	}

	db, err := postgres.Config{URL: serverURL(), Schema: schema}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	k := idshift.Key{Source: "shop", LegacyID: "u1"}
	r, err := db.Record(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if r.ObjectID != "oid-1" || r.State != idshift.StateCreated || !r.LegacyLastSignIn.IsZero() || r.LegacyDisabled {
		t.Fatalf("old record read as %+v", r)
	}
	seen := time.Date(2021, 2, 3, 4, 5, 6, 7000, time.UTC)
	r.LegacyLastSignIn, r.LegacyDisabled = seen, true
	if err := db.PutRecords(ctx, []*idshift.Record{r}); err != nil {
		t.Fatal(err)
	}
	if r, err = db.Record(ctx, k); err != nil || !r.LegacyLastSignIn.Equal(seen) || !r.LegacyDisabled {
		t.Fatalf("after the write: %+v, %v", r, err)
	}
}
