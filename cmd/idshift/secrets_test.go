package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/store/sqlite"
)

// sourceHashes returns the password_hash column of a CSV source in the default schema.
func sourceHashes(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true // the example file has bad rows on purpose
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(header, "password_hash")
	var out []string
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err == nil && col < len(row) && row[col] != "" {
			out = append(out, row[col])
		}
	}
}

// secretForms returns the spellings under which a secret could leak: itself, and the distinctive parts of its
// normalised form (the last $-field of a hash, its key in base64 or hex).
func secretForms(s string, opt pwhash.Options) []string {
	forms := []string{s}
	if n, err := pwhash.Normalize(s, opt); err == nil {
		forms = append(forms, n)
		if i := strings.LastIndexByte(n, '$'); i >= 0 && len(n)-i > 16 {
			forms = append(forms, n[i+1:])
		}
	}
	return forms
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestNoSecretsInTheClear follows the README's import journey (no store key configured) against the sandbox, then
// imports site-wide HMAC digests into the same store, and looks for every legacy hash, the HMAC key and the client
// secret in the state files, the reject files and the output: none may be there in the clear.
func TestNoSecretsInTheClear(t *testing.T) {
	dir := t.TempDir()
	vars := sandboxVars(t, dir, "--no-throttle")
	state := filepath.Join(dir, "idshift-state.db")
	keyFile := state + ".key"
	limits := []string{"--app-writes", "100000", "--app-window", "1s", "--tenant-writes", "100000", "--tenant-window", "1s"}
	var output bytes.Buffer // everything the runs printed

	// 1. The README's import.
	args := append([]string{"import", "--source", "../../examples/users.csv", "--store", state, "--setup-extensions",
		"--domain", vars["IDSHIFT_TENANT_DOMAIN"]}, limits...)
	code, stdout, stderr := run(t, vars, args...)
	output.WriteString(stdout + stderr)
	if code != exitWithRejections {
		t.Fatalf("import exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, keyFile) {
		t.Errorf("the run does not say where it put the generated key (%s):\n%s", keyFile, stderr)
	}
	for _, f := range []string{state, keyFile} {
		if m := mode(t, f); m != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", filepath.Base(f), m)
		}
	}

	// 2. Site-wide HMAC digests (a bare hex digest with a salt, the key in IDSHIFT_HMAC_KEY).
	const hmacKey, password = "site-pepper-Zq8r7Kx2mN4vB6", "correct horse battery"
	var src strings.Builder
	src.WriteString("legacy_id,email,password_hash\n")
	var hmacHashes []string
	for i := range 5 {
		salt := fmt.Sprintf("salt%d", i)
		m := hmac.New(sha256.New, []byte(hmacKey))
		m.Write([]byte(salt + password))
		h := hex.EncodeToString(m.Sum(nil)) + ":" + salt
		hmacHashes = append(hmacHashes, h)
		fmt.Fprintf(&src, "site-%d,site%d@example.com,%s\n", i, i, h)
	}
	hmacSource := filepath.Join(dir, "site.csv")
	if err := os.WriteFile(hmacSource, []byte(src.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	hvars := maps.Clone(vars)
	hvars["IDSHIFT_HMAC_KEY"] = hmacKey
	hargs := append([]string{"import", "--source", hmacSource, "--source-name", "site", "--store", state,
		"--rejects", filepath.Join(dir, "site.rejects.jsonl"), "--hash-format", "hmac-sha256", "--domain", vars["IDSHIFT_TENANT_DOMAIN"]}, limits...)
	code, stdout, stderr = run(t, hvars, hargs...)
	output.WriteString(stdout + stderr)
	if code != exitComplete {
		t.Fatalf("HMAC import exit %d\n%s\n%s", code, stdout, stderr)
	}

	// The stored HMAC credential verifies with the configured key, through its fingerprint.
	cfg := defaultConfig()
	cfg.Store = state
	cfg.Hashes.HMACKey = hmacKey
	st, err := openStore(context.Background(), cfg, func(string) string { return "" }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cred, err := st.Credential(context.Background(), idshift.Key{Source: "site", LegacyID: "site-3"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if refs := pwhash.KeyRefs(cred.Hash); len(refs) != 1 || refs[0] != "hmac:"+pwhash.KeyID([]byte(hmacKey)) {
		t.Errorf("stored HMAC hash refers to %q, want the key's fingerprint", refs)
	}
	opt, _ := cfg.Hashes.options()
	if ok, err := pwhash.Verify(context.Background(), password, cred.Hash, opt); !ok || err != nil {
		t.Errorf("Verify(stored HMAC hash) = %v, %v", ok, err)
	}

	// 3. Nothing in the clear: state files (WAL included), reject files, output.
	secrets := map[string][]string{
		"client secret": {vars["AZURE_CLIENT_SECRET"]},
		"HMAC key": {hmacKey, base64.StdEncoding.EncodeToString([]byte(hmacKey)), base64.RawStdEncoding.EncodeToString([]byte(hmacKey)),
			hex.EncodeToString([]byte(hmacKey))},
	}
	if vars["AZURE_CLIENT_SECRET"] == "" {
		t.Fatal("the sandbox gave no client secret")
	}
	hashes := sourceHashes(t, "../../examples/users.csv")
	if len(hashes) < 100 {
		t.Fatalf("only %d hashes in examples/users.csv", len(hashes))
	}
	// Named by position and format only: test output must not hold them either.
	for i, h := range hashes {
		f, _ := pwhash.Detect(h)
		secrets[fmt.Sprintf("legacy hash #%d (%s)", i+1, f)] = secretForms(h, pwhash.Options{})
	}
	for i, h := range hmacHashes {
		secrets[fmt.Sprintf("HMAC digest #%d", i+1)] = append(secretForms(h, opt), h[:64])
	}
	rejects, _ := filepath.Glob(filepath.Join(dir, "*rejects*"))
	if len(rejects) == 0 {
		t.Fatal("no reject file")
	}
	haystacks := map[string][]byte{"output": output.Bytes()}
	read := func(suffix string, files ...string) {
		for _, f := range files {
			if f == keyFile {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			haystacks[filepath.Base(f)+suffix] = b
		}
	}
	files, _ := filepath.Glob(state + "*")
	read("", append(files, rejects...)...)

	// SQLite removes its WAL when the last connection closes: read it while the store is open, after it wrote
	// every example hash again.
	st, err = openStore(context.Background(), cfg, func(string) string { return "" }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	again := map[idshift.Key]idshift.Credential{}
	for i, h := range append(hashes, hmacHashes...) {
		if n, err := pwhash.Normalize(h, opt); err == nil {
			again[idshift.Key{Source: "wal", LegacyID: fmt.Sprint(i)}] = idshift.Credential{Kind: idshift.CredentialHash, Hash: n}
		}
	}
	if err := st.PutCredentials(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	files, _ = filepath.Glob(state + "*")
	if !slices.Contains(files, state+"-wal") {
		t.Fatalf("no WAL while the store is open: %q", files)
	}
	read(" (store open)", files...)
	st.Close()
	if _, ok := haystacks["idshift-state.db"]; !ok {
		t.Fatalf("no state file among %q", files)
	}
	for where, b := range haystacks {
		for what, forms := range secrets {
			for _, s := range forms {
				if len(s) >= 8 && bytes.Contains(b, []byte(s)) {
					t.Errorf("%s holds the %s in the clear", where, what)
					break
				}
			}
		}
	}
}

// TestStoreKeyFile: a later run finds the key file beside the store; a sealed store without it, or with another
// key, is refused naming what it needs; a PostgreSQL store needs a key or --allow-unsealed-secrets; a missing
// HMAC key is an error at start-up.
func TestStoreKeyFile(t *testing.T) {
	dir := t.TempDir()
	vars := sandboxVars(t, dir, "--no-throttle")
	state := filepath.Join(dir, "state.db")
	keyFile := state + ".key"
	base := []string{"import", "--source", "../../examples/users.csv", "--store", state, "--setup-extensions", "--json",
		"--app-writes", "100000", "--app-window", "1s", "--tenant-writes", "100000", "--tenant-window", "1s"}
	if code, stdout, stderr := run(t, vars, base...); code != exitWithRejections {
		t.Fatalf("import exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Again: the key file is found and used.
	code, stdout, stderr := run(t, vars, base...)
	if code != exitWithRejections || !strings.Contains(stdout, `"skipped":292`) {
		t.Fatalf("rerun exit %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "generated") {
		t.Errorf("the rerun generated another key:\n%s", stderr)
	}

	// Without its key file: an error naming it.
	if err := os.Rename(keyFile, keyFile+".away"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, vars, base...)
	if code != exitFailed || !strings.Contains(stderr, keyFile) || !strings.Contains(stderr, "IDSHIFT_STORE_KEY") {
		t.Errorf("without the key file: exit %d, want %d and an error naming %s:\n%s", code, exitFailed, keyFile, stderr)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Error("a new key file was generated for a sealed store")
	}
	if err := os.Rename(keyFile+".away", keyFile); err != nil {
		t.Fatal(err)
	}

	// With another key: refused, never mixed.
	other := make([]byte, 32)
	rand.Read(other)
	ovars := maps.Clone(vars)
	ovars["IDSHIFT_STORE_KEY"] = base64.StdEncoding.EncodeToString(other)
	code, _, stderr = run(t, ovars, base...)
	if code != exitFailed || !strings.Contains(stderr, "another key") || strings.Contains(stderr, ovars["IDSHIFT_STORE_KEY"]) {
		t.Errorf("with another key: exit %d, want %d and a key mismatch:\n%s", code, exitFailed, stderr)
	}

	// HMAC digests by reference, then a run without the HMAC key: refused at start-up, naming the setting.
	m := hmac.New(sha256.New, []byte("pepper"))
	m.Write([]byte("s" + "pw"))
	site := filepath.Join(dir, "site.csv")
	os.WriteFile(site, []byte("legacy_id,email,password_hash\nh1,h1@example.com,"+hex.EncodeToString(m.Sum(nil))+":s\n"), 0o600)
	hvars := maps.Clone(vars)
	hvars["IDSHIFT_HMAC_KEY"] = "pepper"
	hargs := []string{"import", "--source", site, "--source-name", "site", "--store", state, "--hash-format", "hmac-sha256"}
	if code, stdout, stderr := run(t, hvars, hargs...); code != exitComplete {
		t.Fatalf("HMAC import exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, _, stderr = run(t, vars, base...)
	if code != exitFailed || !strings.Contains(stderr, "hmac:"+pwhash.KeyID([]byte("pepper"))) || !strings.Contains(stderr, "IDSHIFT_HMAC_KEY") {
		t.Errorf("without the HMAC key: exit %d, want %d and an error naming the key and IDSHIFT_HMAC_KEY:\n%s", code, exitFailed, stderr)
	}
	if code, _, stderr := run(t, hvars, base...); code != exitWithRejections {
		t.Errorf("with the HMAC key again: exit %d\n%s", code, stderr)
	}

	// PostgreSQL without a key: refused before connecting, naming the option.
	pg := []string{"import", "--source", "../../examples/users.csv", "--store", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1",
		"--rejects", filepath.Join(dir, "pg.rejects.jsonl"), "--setup-extensions"}
	code, _, stderr = run(t, vars, pg...)
	if code != exitFailed || !strings.Contains(stderr, "--allow-unsealed-secrets") {
		t.Errorf("PostgreSQL without a key: exit %d, want %d and the option named:\n%s", code, exitFailed, stderr)
	}
	// With the option, it goes on (and fails here only because nothing listens on port 1).
	uvars := maps.Clone(vars)
	uvars["IDSHIFT_ALLOW_UNSEALED_SECRETS"] = "true"
	code, _, stderr = run(t, uvars, pg...)
	if code != exitFailed || strings.Contains(stderr, "--allow-unsealed-secrets ($") || !strings.Contains(stderr, "UNSEALED") {
		t.Errorf("PostgreSQL with --allow-unsealed-secrets: exit %d, want the loud warning then a connection failure:\n%s", code, stderr)
	}
}

// A store written unsealed (by an earlier version, without a key) gets a key file at its next open, and its
// credentials are sealed with it.
func TestUnsealedStoreGetsAKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	state := filepath.Join(dir, "old.db")
	old, err := sqlite.Config{Path: state}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const hash = "$2b$10$y2Lt5R/PjpNSCgpM6/uNTull/VLdy7T0.8AhRALUeQ7w/odh4asem"
	k := idshift.Key{Source: "s", LegacyID: "1"}
	if err := old.PutCredentials(ctx, map[idshift.Key]idshift.Credential{k: {Kind: idshift.CredentialHash, Hash: hash}}); err != nil {
		t.Fatal(err)
	}
	old.Close()
	if b, _ := os.ReadFile(state); !bytes.Contains(b, []byte(hash)) {
		t.Fatal("the unsealed store does not hold the hash in the clear: the test proves nothing")
	}

	cfg := defaultConfig()
	cfg.Store = state
	var logs bytes.Buffer
	st, err := openStore(ctx, cfg, func(string) string { return "" }, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !strings.Contains(logs.String(), state+".key") {
		t.Errorf("the generated key file is not named on the log: %q", logs.String())
	}
	if c, err := st.Credential(ctx, k); err != nil || c.Hash != hash {
		t.Fatalf("Credential after sealing: %v", err)
	}
	st.Close()
	if b, _ := os.ReadFile(state); bytes.Contains(b, []byte(hash)) {
		t.Error("the hash is still in the clear after the store got a key")
	}
}
