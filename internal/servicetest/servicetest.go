// Package servicetest holds what every test of a real server shares: where the servers of the machine are
// (IDSHIFT_POSTGRES_URL, IDSHIFT_REDIS_URL, IDSHIFT_MARIADB_URL, with the defaults the README gives) and the one
// policy for a server that cannot be reached: the test skips with the reason, or fails when
// IDSHIFT_REQUIRE_SERVICES=1 (as CI runs), so that no server test skips silently there.
package servicetest

import (
	"os"
	"testing"
)

// Defaults of the servers' addresses.
const (
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultMariaDBURL  = "root@tcp(127.0.0.1:3306)/test"
)

// PostgresURL is $IDSHIFT_POSTGRES_URL or DefaultPostgresURL.
func PostgresURL() string { return env("IDSHIFT_POSTGRES_URL", DefaultPostgresURL) }

// RedisURL is $IDSHIFT_REDIS_URL or DefaultRedisURL.
func RedisURL() string { return env("IDSHIFT_REDIS_URL", DefaultRedisURL) }

// MariaDBURL is $IDSHIFT_MARIADB_URL or DefaultMariaDBURL (go-sql-driver's DSN form).
func MariaDBURL() string { return env("IDSHIFT_MARIADB_URL", DefaultMariaDBURL) }

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Required reports whether IDSHIFT_REQUIRE_SERVICES=1: a server that cannot be reached fails the test.
func Required() bool { return os.Getenv("IDSHIFT_REQUIRE_SERVICES") == "1" }

// Unavailable ends the test for a server that cannot be reached: it fails with msg when Required, else skips.
func Unavailable(tb testing.TB, msg string) {
	tb.Helper()
	if Required() {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}
