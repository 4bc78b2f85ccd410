package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store/sqlite"
	"github.com/idshift/idshift/store/storetest"
)

func harness() storetest.Harness {
	return storetest.Harness{
		New: func(t *testing.T) string { return filepath.Join(t.TempDir(), "idshift.db") },
		Open: func(t *testing.T, path string, o storetest.Options) (idshift.Store, error) {
			return sqlite.Config{Path: path, Key: o.Key, Now: o.Now}.Open(t.Context())
		},
		RawCredential: func(t *testing.T, path string, key idshift.Key) []byte {
			t.Helper()
			db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var blob []byte
			err = db.QueryRow(`SELECT blob FROM credentials WHERE source = ? AND legacy_id = ?`, key.Source, key.LegacyID).Scan(&blob)
			if errors.Is(err, sql.ErrNoRows) {
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
	storetest.Run(t, harness())
	storetest.RunAttempts(t, harness())
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  sqlite.Config
		code string
	}{
		{"short key", sqlite.Config{Path: filepath.Join(dir, "a.db"), Key: make([]byte, 16)}, idshift.EINVALID},
		{"missing directory", sqlite.Config{Path: filepath.Join(dir, "no", "such", "dir", "a.db")}, idshift.EINTERNAL},
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
		})
	}
}

func TestPragmasAndMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "idshift.db")
	for range 2 {
		db, err := sqlite.Config{Path: path}.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var mode string
	if err := raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var n int
	files, _ := filepath.Glob("migrations/*.sql")
	if err := raw.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) {
		t.Errorf("schema_migrations has %d rows, %v; want %d (one per migration) after two opens", n, err, len(files))
	}
	// RecordBySignInName is an indexed lookup.
	var plan, detail string
	var id, parent, notused int
	rows, err := raw.Query(`EXPLAIN QUERY PLAN SELECT source FROM sign_in_names WHERE name = ?`, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan += detail + ";"
	}
	if want := "SEARCH sign_in_names USING PRIMARY KEY (name=?)"; plan != want+";" {
		t.Errorf("query plan = %q, want %q", plan, want)
	}
}

func openBench(b *testing.B) *sqlite.DB {
	db, err := sqlite.Config{Path: filepath.Join(b.TempDir(), "bench.db")}.Open(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkPutRecords(b *testing.B) { storetest.BenchmarkPutRecords(b, openBench(b)) }

func BenchmarkRecords(b *testing.B) { storetest.BenchmarkRecords(b, openBench(b)) }
