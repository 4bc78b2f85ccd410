package sqlsource

import (
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source/internal/reader"
)

// FuzzSupabaseRecord feeds auth.users rows (the parsed columns: raw_user_meta_data, banned_until, phone) through the
// preset's mapping: a row is a user or a row error with a reason, never a panic.
func FuzzSupabaseRecord(f *testing.F) {
	f.Add("a@example.com", `{"full_name":"A"}`, "2030-01-01 00:00:00+00", "15551234567", "")
	f.Add("", `[1]`, "", "", "")
	f.Add("b@example.com", `{"first_name":1}`, "infinity", "+44 20", "2024-01-01")
	f.Fuzz(func(t *testing.T, email, meta, banned, phone, deleted string) {
		v := map[string]string{"id": "1", "email": email, "raw_user_meta_data": meta, "banned_until": banned, "phone": phone, "deleted_at": deleted}
		r := reader.Record{}
		base, err := reader.NewBase("sql", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := supabaseRecord(7, v, time.Unix(0, 0), r); err != nil {
			re, ok := reader.AsRowError(err)
			if !ok || re.Line != 7 || re.Reason == "" {
				t.Fatalf("not a row error with line and reason: %v", err)
			}
			return
		}
		u, err := base.User(7, r)
		if err != nil {
			if re, ok := reader.AsRowError(err); !ok || re.Reason == "" {
				t.Fatalf("mapping error: %v", err)
			}
			return
		}
		if u.LegacyID != "1" || len(u.Identities) == 0 || u.Credential.Kind != idshift.CredentialNone {
			t.Fatalf("user %+v", u)
		}
	})
}
