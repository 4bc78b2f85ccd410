package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store"
)

func TestGenerateKeyFile(t *testing.T) {
	old := syscall.Umask(0) // the mode must not depend on the umask
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "state.db.key")
	key, err := store.GenerateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != store.KeySize {
		t.Fatalf("key of %d bytes", len(key))
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	got, err := store.ReadKeyFile(path)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("ReadKeyFile = %v: does not give the generated key back", err)
	}
	// LoadKey reads the same file.
	if got, err := store.LoadKey(func(k string) string {
		if k == store.EnvKeyFile {
			return path
		}
		return ""
	}); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("LoadKey(key file) = %v", err)
	}
	// Never overwritten: a second key would strand what the first sealed.
	if _, err := store.GenerateKeyFile(path); err == nil {
		t.Fatal("GenerateKeyFile overwrote an existing key file")
	}
	if again, _ := store.ReadKeyFile(path); !bytes.Equal(again, key) {
		t.Fatal("the key file changed")
	}
	other, err := store.GenerateKeyFile(filepath.Join(t.TempDir(), "other.key"))
	if err != nil || bytes.Equal(other, key) {
		t.Fatalf("a second generated key equals the first (%v)", err)
	}

	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("c2hvcnQ=\n"), 0o600)
	if _, err := store.ReadKeyFile(bad); idshift.ErrorCode(err) != idshift.EINVALID || !strings.Contains(err.Error(), bad) {
		t.Errorf("ReadKeyFile(short key) = %v, want EINVALID naming the file", err)
	}
	if _, err := store.ReadKeyFile(filepath.Join(t.TempDir(), "missing.key")); idshift.ErrorCode(err) != idshift.EINVALID {
		t.Errorf("ReadKeyFile(missing) = %v, want EINVALID", err)
	}
}

func TestPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if changed, err := store.Private(path); changed || err != nil {
		t.Errorf("Private(missing) = %v, %v", changed, err)
	}
	os.WriteFile(path, nil, 0o600)
	os.Chmod(path, 0o644)
	if changed, err := store.Private(path); !changed || err != nil {
		t.Errorf("Private(0644) = %v, %v; want true, nil", changed, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	if changed, err := store.Private(path); changed || err != nil {
		t.Errorf("Private(0600) = %v, %v; want false, nil", changed, err)
	}
}

func TestCheckKey(t *testing.T) {
	c1 := newCipher(t, bytes.Repeat([]byte{1}, store.KeySize))
	c2 := newCipher(t, bytes.Repeat([]byte{2}, store.KeySize))
	id1, id2 := store.KeyIDString(c1.ID()), store.KeyIDString(c2.ID())
	tests := []struct {
		name     string
		c        *store.Cipher
		recorded string
		sealed   bool
		sealedID uint32
		bound    string
		bind     bool
		want     error
	}{
		{"new store, no key", nil, "", false, 0, "", false, nil},
		{"new store, key", c1, "", false, 0, id1, true, nil},
		{"bound, same key", c1, id1, true, c1.ID(), id1, false, nil},
		{"bound, no rows yet, same key", c1, id1, false, 0, id1, false, nil},
		{"bound, other key", c2, id1, true, c1.ID(), id1, false, store.ErrWrongKey},
		{"bound, no rows yet, other key", c2, id1, false, 0, id1, false, store.ErrWrongKey},
		{"bound, no key", nil, id1, false, 0, id1, false, nil},
		{"sealed before the meta table, same key", c1, "", true, c1.ID(), id1, true, nil},
		{"sealed before the meta table, other key", c2, "", true, c1.ID(), id1, false, store.ErrWrongKey},
		{"sealed before the meta table, no key", nil, "", true, c1.ID(), id1, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bound, bind, err := store.CheckKey(tt.c, tt.recorded, tt.sealed, tt.sealedID)
			if bind != tt.bind || !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckKey = %v, %v; want %v, %v", bind, err, tt.bind, tt.want)
			}
			if bound != tt.bound {
				t.Errorf("bound = %q, want %q", bound, tt.bound)
			}
			if err != nil && (!errors.Is(err, store.ErrSealed) || !strings.Contains(err.Error(), id1) || !strings.Contains(err.Error(), id2)) {
				t.Errorf("error %q: want ErrSealed naming key ids %s and %s", err, id1, id2)
			}
		})
	}
	err := store.KeyRequired(id1)
	if !errors.Is(err, store.ErrKeyRequired) || !errors.Is(err, store.ErrSealed) || !strings.Contains(err.Error(), id1) || idshift.ErrorCode(err) != idshift.EINVALID {
		t.Errorf("KeyRequired = %v", err)
	}
}

func TestBlobKeyID(t *testing.T) {
	c := newCipher(t, bytes.Repeat([]byte{7}, store.KeySize))
	blob, err := c.Seal(idshift.Key{Source: "s", LegacyID: "1"}, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := store.BlobKeyID(blob); !ok || id != c.ID() {
		t.Errorf("BlobKeyID = %08x, %v; want %08x", id, ok, c.ID())
	}
	if _, ok := store.BlobKeyID([]byte(`{"kind":"hash"}`)); ok {
		t.Error("BlobKeyID of unsealed JSON is ok")
	}
}
