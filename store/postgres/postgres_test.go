package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"github.com/idshift/idshift/internal/servicetest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store/postgres"
	"github.com/idshift/idshift/store/storetest"
)

func serverURL() string { return servicetest.PostgresURL() }

var (
	reachOnce sync.Once
	reachErr  error
)

// requireServer skips (or fails, with IDSHIFT_REQUIRE_SERVICES=1) when the server cannot be reached.
func requireServer(t testing.TB) {
	t.Helper()
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, serverURL())
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		reachErr = err
	})
	if reachErr != nil {
		msg := "PostgreSQL unreachable at IDSHIFT_POSTGRES_URL (default " + servicetest.DefaultPostgresURL + "): " + reachErr.Error()
		servicetest.Unavailable(t, msg)
	}
}

func exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, serverURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// newSchema returns a fresh schema name, dropped when t ends.
func newSchema(t testing.TB) string {
	t.Helper()
	requireServer(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "idshift_test_" + hex.EncodeToString(b)
	t.Cleanup(func() { exec(t, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`) })
	return schema
}

func harness() storetest.Harness {
	return storetest.Harness{
		New: func(t *testing.T) string { return newSchema(t) },
		Open: func(t *testing.T, schema string, o storetest.Options) (idshift.Store, error) {
			return postgres.Config{URL: serverURL(), Schema: schema, Key: o.Key, Now: o.Now, KeyRefs: o.KeyRefs}.Open(t.Context())
		},
		RawCredential: func(t *testing.T, schema string, key idshift.Key) []byte {
			t.Helper()
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, serverURL())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var blob []byte
			err = conn.QueryRow(ctx, `SELECT blob FROM `+pgx.Identifier{schema, "credentials"}.Sanitize()+` WHERE source = $1 AND legacy_id = $2`,
				key.Source, key.LegacyID).Scan(&blob)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				t.Fatalf("raw credential: %v", err)
			}
			return blob
		},
	}
}

func TestConformance(t *testing.T) {
	requireServer(t)
	storetest.Run(t, harness())
	storetest.RunAttempts(t, harness())
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  postgres.Config
		code string
	}{
		{"no url", postgres.Config{}, idshift.EINVALID},
		{"bad url", postgres.Config{URL: "postgres://user:s3cret@[::1"}, idshift.EINVALID},
		{"short key", postgres.Config{URL: servicetest.DefaultPostgresURL, Key: make([]byte, 31)}, idshift.EINVALID},
		{"negative max conns", postgres.Config{URL: servicetest.DefaultPostgresURL, MaxConns: -1}, idshift.EINVALID},
		// A closed port on loopback: refused at once.
		{"unreachable", postgres.Config{URL: "postgres://postgres:s3cret@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"}, idshift.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := tt.cfg.Open(ctx)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if got := idshift.ErrorCode(err); got != tt.code {
				t.Errorf("code = %q (%v), want %q", got, err, tt.code)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
}

// Several processes opening the same fresh schema at once: the advisory lock lets one migrate, the others wait
// and find the schema ready.
func TestOpenConcurrently(t *testing.T) {
	schema := newSchema(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			db, err := postgres.Config{URL: serverURL(), Schema: schema, MaxConns: 2}.Open(ctx)
			if err != nil {
				errs <- err
				return
			}
			errs <- db.PutRecords(ctx, []*idshift.Record{{Key: idshift.Key{Source: "s", LegacyID: "1"}, State: idshift.StatePending}})
			db.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func openBench(b *testing.B) *postgres.DB {
	db, err := postgres.Config{URL: serverURL(), Schema: newSchema(b)}.Open(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkPutRecords(b *testing.B) { storetest.BenchmarkPutRecords(b, openBench(b)) }

func BenchmarkRecords(b *testing.B) { storetest.BenchmarkRecords(b, openBench(b)) }
