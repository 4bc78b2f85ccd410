package sqlsource_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source/internal/readertest"
	sqlsource "github.com/idshift/idshift/source/sqlsource"
)

// TestSupabaseRealExport loads the real Supabase auth.users sample of ../shared/exports (when present) into a
// PostgreSQL table of auth.users's types and reads it through the supabase preset.
func TestSupabaseRealExport(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "exports", "supabase", "clerk-migration-tool.samples-supabase.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("real export files not present (%s): skipped; CI has them", path)
	}
	var rows []map[string]string
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	be := backends()[0]
	db := connect(t, be)
	tbl := table(t, db, "n int, id text, email text, encrypted_password text, phone text, raw_user_meta_data jsonb, last_sign_in_at timestamptz, created_at timestamptz, banned_until timestamptz, deleted_at timestamptz")
	cols := []string{"id", "email", "encrypted_password", "phone", "raw_user_meta_data", "last_sign_in_at", "created_at", "banned_until", "deleted_at"}
	wantUsers, wantHashes := 0, 0
	for i, r := range rows {
		args := []any{i + 1}
		for _, c := range cols {
			if v := r[c]; v != "" {
				args = append(args, v)
			} else {
				args = append(args, nil)
			}
		}
		exec(t, db, fmt.Sprintf("INSERT INTO %s (n, %s) VALUES (%s)", tbl, strings.Join(cols, ", "), be.placeholders(len(cols)+1)), args...)
		if r["email"] != "" && r["deleted_at"] == "" {
			wantUsers++
			if r["encrypted_password"] != "" {
				wantHashes++
			}
		}
	}
	q := fmt.Sprintf("SELECT %s FROM %s ORDER BY n", strings.Join(cols, ", "), tbl)
	us, rs := readertest.ReadAll(t, sqlsource.Config{DSN: be.dsn, Preset: "supabase", Query: q}.Open)
	if len(us) != wantUsers || len(us)+len(rs) != len(rows) {
		t.Fatalf("%d users and %d rejects of %d rows, want %d users", len(us), len(rs), len(rows), wantUsers)
	}
	hashes := 0
	for _, u := range us {
		if u.Credential.Kind == idshift.CredentialHash {
			hashes++
			if !strings.HasPrefix(u.Credential.Hash, "$2") {
				t.Errorf("%s: not a bcrypt hash", u.LegacyID)
			}
		}
		if u.Created.IsZero() {
			t.Errorf("%s: no created date", u.LegacyID)
		}
	}
	if hashes != wantHashes {
		t.Errorf("%d users with a hash, want %d", hashes, wantHashes)
	}
	for _, r := range rs {
		if r.Reason == "" || r.LegacyID == "" {
			t.Errorf("reject %+v", r)
		}
	}
}
