package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store"
	"github.com/idshift/idshift/store/sqlite"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The state file and SQLite's -wal and -shm files are private whatever the umask; an existing file others can
// read is tightened, with a warning.
func TestFileModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sqlite.Config{Path: path}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k := idshift.Key{Source: "s", LegacyID: "1"}
	if err := db.PutCredentials(ctx, map[idshift.Key]idshift.Credential{k: {Kind: idshift.CredentialHash, Hash: "$2b$10$x"}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if m := mode(t, f); m != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", filepath.Base(f), m)
		}
	}
	db.Close()

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	db, err = sqlite.Config{Path: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if m := mode(t, path); m != 0o600 {
		t.Errorf("reopened: mode %04o, want 0600", m)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), path) {
		t.Errorf("no warning naming the file: %q", logs.String())
	}
}

// A store sealed before it recorded its key id is still bound to the key its credentials carry.
func TestBoundByItsSealedRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	key1, key2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	db, err := sqlite.Config{Path: path, Key: key1}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k := idshift.Key{Source: "s", LegacyID: "1"}
	if err := db.PutCredentials(ctx, map[idshift.Key]idshift.Credential{k: {Kind: idshift.CredentialHash, Hash: "$2b$10$x"}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM meta`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if db, err := (sqlite.Config{Path: path, Key: key2}).Open(ctx); !errors.Is(err, store.ErrWrongKey) {
		if err == nil {
			db.Close()
		}
		t.Errorf("Open with another key: err = %v, want ErrWrongKey", err)
	}
	db, err = sqlite.Config{Path: path}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id := store.KeyIDString(store.KeyID(key1)); db.BoundKeyID() != id {
		t.Errorf("BoundKeyID without a key = %q, want %s", db.BoundKeyID(), id)
	}
	if err := db.PutCredentials(ctx, map[idshift.Key]idshift.Credential{{Source: "s", LegacyID: "2"}: {Kind: idshift.CredentialHash, Hash: "x"}}); !errors.Is(err, store.ErrKeyRequired) {
		t.Errorf("PutCredentials without the key: err = %v, want ErrKeyRequired", err)
	}
	db.Close()
	db, err = sqlite.Config{Path: path, Key: key1}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if c, err := db.Credential(ctx, k); err != nil || c.Hash != "$2b$10$x" {
		t.Errorf("Credential = %v, %v", c, err)
	}
}
