package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store/sqlite"
)

// TestMigrateLegacyActivity opens a store written before migration 0005 (its records have no legacy activity):
// the records read back with a zero last sign-in and not disabled, and the columns are then written and read.
func TestMigrateLegacyActivity(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (name TEXT NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) < 4 {
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
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := raw.Exec(`INSERT INTO schema_migrations (name, applied_at) VALUES (?, 1)`, "migrations/"+filepath.Base(f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO records (source, legacy_id, object_id, state, created_at, updated_at)
		VALUES ('shop', 'u1', 'oid-1', 'created', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sqlite.Config{Path: path}.Open(ctx)
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
