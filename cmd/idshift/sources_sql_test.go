package main

import (
	"context"
	"database/sql"
	"github.com/idshift/idshift/internal/servicetest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mariaDB returns the MariaDB DSN of the tests, or skips (fails with IDSHIFT_REQUIRE_SERVICES=1) when unreachable.
func mariaDB(t *testing.T) (string, *sql.DB) {
	t.Helper()
	dsn := servicetest.MariaDBURL()
	db, err := sql.Open("mysql", dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		msg := "MariaDB unreachable at IDSHIFT_MARIADB_URL: " + err.Error()
		servicetest.Unavailable(t, msg)
	}
	t.Cleanup(func() { db.Close() })
	return dsn, db
}

// TestSQLKind lints and dry-runs a table through --source-kind sql, the DSN from the environment.
func TestSQLKind(t *testing.T) {
	dsn, db := mariaDB(t)
	tbl := "idshift_cmd_sql_" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	for _, q := range []string{
		"CREATE TABLE " + tbl + " (n int, legacy_id varchar(20), email varchar(50), password_hash varchar(100))",
		"INSERT INTO " + tbl + " VALUES (1, 'a1', 'a@example.com', '$2a$04$abcdefghijklmnopqrstuu5Ddn7bYkP6mZ3ZkG0Z9qUE7dyj9Ym2W'), (2, 'b2', 'b@example.com', NULL), (3, NULL, 'c@example.com', NULL)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE " + tbl) })
	vars := map[string]string{"IDSHIFT_SOURCE_DSN": dsn}
	query := "SELECT legacy_id, email, password_hash FROM " + tbl + " ORDER BY n"
	code, stdout, stderr := run(t, vars, "hashes", "lint", "--source-kind", "sql", "--source-query", query)
	if code != 1 || !strings.Contains(stdout, "bcrypt                   1") || !strings.Contains(stdout, "line 3: missing legacy id") {
		t.Fatalf("lint: exit %d\n%s%s", code, stdout, stderr)
	}
	store := filepath.Join(t.TempDir(), "s.db")
	code, stdout, stderr = run(t, vars, "import", "--source-kind", "sql", "--source-query", query, "--domain", "contoso.onmicrosoft.com", "--store", store, "--dry-run")
	if code != 3 || strings.Count(stdout, `"action":"create"`) != 2 || !strings.Contains(stdout, `"action":"reject","line":3`) {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr = run(t, nil, "import", "--source-kind", "sql", "--domain", "contoso.onmicrosoft.com", "--store", store, "--dry-run"); code == 0 || !strings.Contains(stderr, "DSN") {
		t.Fatalf("no DSN: exit %d, %s", code, stderr)
	}
}
