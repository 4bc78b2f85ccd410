package sqlsource_test

import (
	"context"
	"crypto/rand"
	dbsql "database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/idshift/idshift/internal/servicetest"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source/internal/readertest"
	sqlsource "github.com/idshift/idshift/source/sqlsource"
)

// backend is one real server the tests run against.
type backend struct {
	name, driver, dsn string
	// ddl types per use: text, timestamp, json, id.
	text, ts, json, id string
}

func backends() []backend {
	pg, my := servicetest.PostgresURL(), servicetest.MariaDBURL()
	return []backend{
		{name: "postgres", driver: "pgx", dsn: pg, text: "text", ts: "timestamptz", json: "jsonb", id: "uuid"},
		{name: "mariadb", driver: "mysql", dsn: my, text: "varchar(255)", ts: "datetime(6)", json: "text", id: "char(36)"},
	}
}

// connect opens the backend, or skips (fails with IDSHIFT_REQUIRE_SERVICES=1) when it cannot be reached.
func connect(t *testing.T, b backend) *dbsql.DB {
	t.Helper()
	db, err := dbsql.Open(b.driver, b.dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		msg := fmt.Sprintf("%s unreachable (IDSHIFT_%s_URL): %v", b.name, strings.ToUpper(b.name), err)
		servicetest.Unavailable(t, msg)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// table creates a table with a random name, dropped at the end of the test.
func table(t *testing.T, db *dbsql.DB, cols string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "idshift_sql_" + hex.EncodeToString(b)
	exec(t, db, fmt.Sprintf("CREATE TABLE %s (%s)", name, cols))
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE " + name) })
	return name
}

func exec(t *testing.T, db *dbsql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// ph is the n-th placeholder of the backend.
func (b backend) ph(n int) string {
	if b.driver == "pgx" {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

func (b backend) placeholders(k int) string {
	p := make([]string, k)
	for i := range p {
		p[i] = b.ph(i + 1)
	}
	return strings.Join(p, ", ")
}

func hash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), 4)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func checkHash(t *testing.T, u *idshift.User, pw string) {
	t.Helper()
	if u.Credential.Kind != idshift.CredentialHash {
		t.Fatalf("%s: credential kind %q, want hash", u.LegacyID, u.Credential.Kind)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(u.Credential.Hash), []byte(pw)); err != nil {
		t.Errorf("%s: the generated password does not verify against the hash read", u.LegacyID)
	}
}

const generated = 40

func TestDefaultSchema(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			db := connect(t, b)
			tbl := table(t, db, fmt.Sprintf("n int, legacy_id %[1]s, email %[1]s, username %[1]s, display_name %[1]s, password_hash %[1]s, created %[2]s, extra %[1]s", b.text, b.ts))
			ins := fmt.Sprintf("INSERT INTO %s (n, legacy_id, email, username, display_name, password_hash, created, extra) VALUES (%s)", tbl, b.placeholders(8))
			created := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
			for i := 1; i <= generated; i++ {
				exec(t, db, ins, i, fmt.Sprintf("u%d", i), fmt.Sprintf("User%d@Example.com", i), nil, fmt.Sprintf("User %d", i),
					hash(t, fmt.Sprintf("pw-%d", i)), created.Add(time.Duration(i)*time.Hour), "ignored")
			}
			// Bad rows: no legacy id (row 41), no identity (row 42), a user name only (row 43, good).
			exec(t, db, ins, generated+1, nil, "x@example.com", nil, nil, nil, nil, nil)
			exec(t, db, ins, generated+2, "noid", nil, nil, nil, nil, nil, nil)
			exec(t, db, ins, generated+3, "uname", nil, "bob", nil, nil, nil, nil)
			us, rs := readertest.ReadAll(t, sqlsource.Config{DSN: b.dsn, Query: "SELECT legacy_id, email, username, display_name, password_hash, created, extra FROM " + tbl + " ORDER BY n", Name: "app"}.Open)
			if len(us) != generated+1 {
				t.Fatalf("%d users, want %d", len(us), generated+1)
			}
			for i, u := range us[:generated] {
				n := i + 1
				if u.LegacyID != fmt.Sprintf("u%d", n) || u.Source != "app" || u.DisplayName != fmt.Sprintf("User %d", n) {
					t.Fatalf("user %d: %+v", n, u)
				}
				if len(u.Identities) != 1 || u.Identities[0].SignInType != idshift.SignInEmail || u.Identities[0].IssuerAssignedID != fmt.Sprintf("user%d@example.com", n) {
					t.Errorf("user %d: identities %+v", n, u.Identities)
				}
				if want := created.Add(time.Duration(n) * time.Hour); !u.Created.Equal(want) {
					t.Errorf("user %d: created %v, want %v", n, u.Created, want)
				}
				if n%10 == 1 {
					checkHash(t, u, fmt.Sprintf("pw-%d", n))
				}
			}
			if u := us[generated]; u.LegacyID != "uname" || len(u.Identities) != 1 || u.Identities[0].SignInType != idshift.SignInUserName {
				t.Errorf("user-name row: %+v", u)
			}
			if len(rs) != 2 || rs[0].Line != generated+1 || rs[1].Line != generated+2 || rs[1].LegacyID != "noid" {
				t.Fatalf("rejects %v, want rows %d and %d", rs, generated+1, generated+2)
			}
			for _, r := range rs {
				if r.Reason == "" {
					t.Errorf("reject without a reason: %+v", r)
				}
			}
		})
	}
}

func TestSupabase(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			db := connect(t, b)
			tbl := table(t, db, fmt.Sprintf("n int, id %[3]s, email %[1]s, encrypted_password %[1]s, phone %[1]s, raw_user_meta_data %[4]s, last_sign_in_at %[2]s, created_at %[2]s, banned_until %[2]s, deleted_at %[2]s, email_confirmed_at %[2]s", b.text, b.ts, b.id, b.json))
			ins := fmt.Sprintf("INSERT INTO %s (n, id, email, encrypted_password, phone, raw_user_meta_data, last_sign_in_at, created_at, banned_until, deleted_at) VALUES (%s)", tbl, b.placeholders(10))
			uid := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
			created := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
			for i := 1; i <= generated; i++ {
				exec(t, db, ins, i, uid(i), fmt.Sprintf("s%d@example.com", i), hash(t, fmt.Sprintf("secret-%d", i)), nil,
					fmt.Sprintf(`{"full_name":"Sam %d"}`, i), created.Add(24*time.Hour), created, nil, nil)
			}
			exec(t, db, ins, 41, uid(41), "ban@example.com", "", "15551234567", `{"first_name":"Ban","last_name":"Ned"}`, nil, created, now.Add(time.Hour), nil)
			exec(t, db, ins, 42, uid(42), "gone@example.com", nil, nil, `{}`, nil, created, nil, created.Add(time.Hour))
			exec(t, db, ins, 43, uid(43), "arr@example.com", nil, nil, `[1]`, nil, created, nil, nil)
			exec(t, db, ins, 44, uid(44), "past@example.com", nil, nil, nil, nil, created, now.Add(-time.Hour), nil)
			q := "SELECT id, email, encrypted_password, phone, raw_user_meta_data, last_sign_in_at, created_at, banned_until, deleted_at FROM " + tbl + " ORDER BY n"
			us, rs := readertest.ReadAll(t, sqlsource.Config{DSN: b.dsn, Preset: "supabase", Query: q, Now: func() time.Time { return now }}.Open)
			if len(us) != generated+2 {
				t.Fatalf("%d users, want %d (rejects %v)", len(us), generated+2, rs)
			}
			for i, u := range us[:generated] {
				n := i + 1
				if u.LegacyID != uid(n) || u.Source != "supabase" || u.DisplayName != fmt.Sprintf("Sam %d", n) || u.Disabled {
					t.Fatalf("user %d: %+v", n, u)
				}
				if !u.Created.Equal(created) || !u.LastSignIn.Equal(created.Add(24*time.Hour)) {
					t.Errorf("user %d: created %v, last sign-in %v", n, u.Created, u.LastSignIn)
				}
				if n%10 == 3 {
					checkHash(t, u, fmt.Sprintf("secret-%d", n))
				}
			}
			ban := us[generated]
			if !ban.Disabled || ban.Phone != "+15551234567" || ban.GivenName != "Ban" || ban.Surname != "Ned" || ban.DisplayName != "Ban Ned" || ban.Credential.Kind != idshift.CredentialNone {
				t.Errorf("banned user: %+v", ban)
			}
			if past := us[generated+1]; past.Disabled {
				t.Errorf("a ban that has ended disables the user: %+v", past)
			}
			if len(rs) != 2 || rs[0].Line != 42 || !strings.Contains(rs[0].Reason, "deleted") || rs[1].Line != 43 || rs[1].Field != "raw_user_meta_data" {
				t.Fatalf("rejects %+v", rs)
			}
			// Without email_confirmed_at the source does not say; with it, set means verified and NULL not.
			for _, u := range us {
				if u.EmailVerified != nil {
					t.Fatalf("%s: email verified %v without email_confirmed_at", u.LegacyID, *u.EmailVerified)
				}
			}
			exec(t, db, "UPDATE "+tbl+" SET email_confirmed_at = created_at WHERE n % 2 = 1")
			q = "SELECT id, email, encrypted_password, email_confirmed_at, phone, raw_user_meta_data, last_sign_in_at, created_at, banned_until, deleted_at FROM " + tbl + " ORDER BY n"
			us, _ = readertest.ReadAll(t, sqlsource.Config{DSN: b.dsn, Preset: "supabase", Query: q, Now: func() time.Time { return now }}.Open)
			for i, u := range us[:generated] {
				if u.EmailVerified == nil || *u.EmailVerified != (i%2 == 0) {
					t.Errorf("user %d: email verified %v, want %v", i+1, u.EmailVerified, i%2 == 0)
				}
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    sqlsource.Config
		want string
	}{
		{"no dsn", sqlsource.Config{Query: "SELECT 1"}, "DSN"},
		{"no query", sqlsource.Config{DSN: servicetest.DefaultMariaDBURL}, "Query"},
		{"bad preset", sqlsource.Config{DSN: servicetest.DefaultMariaDBURL, Preset: "firebase"}, "Preset"},
		{"bad driver", sqlsource.Config{DSN: servicetest.DefaultMariaDBURL, Query: "SELECT 1", Driver: "oracle"}, "Driver"},
		{"unreachable", sqlsource.Config{DSN: "postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=1", Query: "SELECT 1", ConnectTimeout: 2 * time.Second}, "connect"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src, err := tt.c.Open()
			if err == nil {
				src.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error carries the DSN's password")
			}
		})
	}
}

func TestMissingColumns(t *testing.T) {
	b := backends()[1]
	db := connect(t, b)
	tbl := table(t, db, "id varchar(10), email varchar(50)")
	exec(t, db, "INSERT INTO "+tbl+" VALUES ('1', 'a@example.com')")
	for _, c := range []sqlsource.Config{
		{DSN: b.dsn, Query: "SELECT id, email FROM " + tbl},
		{DSN: b.dsn, Preset: "supabase", Query: "SELECT id, email FROM " + tbl},
	} {
		src, err := c.Open()
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Next(context.Background())
		src.Close()
		if err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("preset %q: missing columns not reported: %v", c.Preset, err)
		}
		var re *idshift.RowError
		if errors.As(err, &re) {
			t.Fatalf("missing columns reported as a row error: %v", err)
		}
	}
}

// BenchmarkSQL reads 20,000 generated rows (default schema, a bcrypt hash each) per op from each server.
func BenchmarkSQL(b *testing.B) {
	const n = 20000
	const h = "$2a$04$abcdefghijklmnopqrstuu5Ddn7bYkP6mZ3ZkG0Z9qUE7dyj9Ym2W"
	queries := map[string]string{
		"postgres": fmt.Sprintf(`SELECT 'u' || g AS legacy_id, 'user' || g || '@example.com' AS email, 'User ' || g AS display_name, '%s' AS password_hash, now() AS created FROM generate_series(1, %d) g`, h, n),
		"mariadb":  fmt.Sprintf(`SELECT CONCAT('u', seq) AS legacy_id, CONCAT('user', seq, '@example.com') AS email, CONCAT('User ', seq) AS display_name, '%s' AS password_hash, NOW() AS created FROM seq_1_to_%d`, h, n),
	}
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			db, err := dbsql.Open(be.driver, be.dsn)
			if err != nil || db.Ping() != nil {
				b.Skipf("%s unreachable", be.name)
			}
			db.Close()
			readertest.BenchOpen(b, n, sqlsource.Config{DSN: be.dsn, Query: queries[be.name]}.Open)
		})
	}
}
