package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/examples"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/sandbox"
)

// runDemo runs the whole journey on embedded defaults: an in-process sandbox tenant over HTTPS, a SQLite state
// file, and the example users shipped in examples/ (a few of them bad on purpose).
func runDemo(ctx context.Context, env *Env, args []string) (int, error) {
	fs := newFlagSet(env, "demo")
	help{
		usage: "idshift demo [--dir DIR]",
		about: `Runs the whole import journey on embedded defaults: a sandbox tenant in-process, the migration's extension
attributes, the ~300 example users (a few bad on purpose, they land in the reject file), the same import again
(nothing is created twice), and one legacy password checked against its imported hash. No cloud account needed.`,
		examples: []example{
			{"the journey, its files in ./idshift-demo/", "idshift demo"},
			{"its files elsewhere", "idshift demo --dir /tmp/idshift-demo"},
		},
	}.install(fs)
	dir := fs.String("dir", "idshift-demo", "directory for the demo's files (state, rejects, users, CA certificate); its state is started afresh")
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return exitFailed, err
	}
	for _, f := range []string{"state.db", "state.db-wal", "state.db-shm", "state.db.key", "rejects.jsonl", "store.key"} {
		os.Remove(filepath.Join(*dir, f))
	}
	out := env.Stdout
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// 1. The tenant.
	// Graph's documented write limits, with time running 100 times faster so that the demo takes seconds; the
	// client paces itself to the same limits.
	limits := sandbox.Limits{AppWrites: 3000, AppWindow: 1500 * time.Millisecond, TenantWrites: 18000, TenantWindow: 3 * time.Second}
	srv, err := sandbox.Start(sandbox.Config{Logger: logger, Limits: limits}, "127.0.0.1:0")
	if err != nil {
		return exitFailed, fmt.Errorf("start sandbox tenant: %w", err)
	}
	defer srv.Close()
	caPath := filepath.Join(*dir, "sandbox-ca.pem")
	if err := srv.WriteCA(caPath); err != nil {
		return exitFailed, err
	}
	fmt.Fprintf(out, "idshift demo\n\n1. Sandbox tenant %s (%s) listening at %s\n   (Graph's write limits, time-scaled 100x: %d writes per %s per app)\n",
		srv.Tenant.TenantID(), srv.Tenant.Domain(), srv.URL, limits.AppWrites, limits.AppWindow)

	// 2. The legacy users.
	usersCSV, err := examples.FS.ReadFile("users.csv")
	if err != nil {
		return exitFailed, err
	}
	usersPath := filepath.Join(*dir, "users.csv")
	if err := os.WriteFile(usersPath, usersCSV, 0o644); err != nil {
		return exitFailed, err
	}
	fmt.Fprintf(out, "2. Legacy users: %s (%d lines, default schema, a few bad rows on purpose)\n", usersPath, bytes.Count(usersCSV, []byte{'\n'}))

	cfg := defaultConfig()
	cfg.Source.Path = usersPath
	cfg.Source.Name = "demo"
	cfg.Store = filepath.Join(*dir, "state.db")
	cfg.Import.Rejects = filepath.Join(*dir, "rejects.jsonl")
	cfg.Tenant.Domain = srv.Tenant.Domain()
	cfg.Tenant.TenantID = srv.Tenant.TenantID()
	cfg.Tenant.GraphURL = srv.URL
	cfg.Tenant.AuthorityHost = srv.AuthorityHost
	cfg.Tenant.CAFile = caPath
	cfg.Limits.AppWrites, cfg.Limits.AppWindow = limits.AppWrites, limits.AppWindow
	cfg.Limits.TenantWrites, cfg.Limits.TenantWindow = limits.TenantWrites, limits.TenantWindow
	cfg.Tenant.Apps = []AppConfig{{ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret}}
	// Legacy hashes are secrets: with no key configured, the store seals them with a key generated beside it.
	keyPath := storeKeyFile(cfg.Store)
	// The demo ignores the caller's environment (AZURE_*, IDSHIFT_*): it only ever talks to its own sandbox.
	denv := *env
	denv.Getenv = func(string) string { return "" }

	// 3. Import.
	fmt.Fprintf(out, "3. Import into the sandbox tenant through Microsoft Graph (extension attributes set up first):\n")
	code, err := importWith(ctx, &denv, cfg, importOptions{setupExtensions: true, quiet: true}, logger)
	if err != nil {
		return code, err
	}
	if code != exitComplete && code != exitWithRejections {
		return code, fmt.Errorf("the import did not complete (exit status %d)", code)
	}
	fmt.Fprintf(out, "   the tenant now holds %d users\n", srv.Tenant.UserCount())

	// 4. Rerun: nothing is created twice.
	fmt.Fprintf(out, "4. The same import again (resumable and idempotent: finished users are not sent again):\n")
	var buf bytes.Buffer
	renv := denv
	renv.Stdout = &buf
	if _, err := importWith(ctx, &renv, cfg, importOptions{json: true, quiet: true}, logger); err != nil {
		return exitFailed, err
	}
	var again struct{ Read, Created, Skipped, Rejected int64 }
	_ = json.Unmarshal(buf.Bytes(), &again)
	fmt.Fprintf(out, "   read %d: created %d, skipped %d, rejected %d; the tenant still holds %d users\n",
		again.Read, again.Created, again.Skipped, again.Rejected, srv.Tenant.UserCount())

	// 5. A user's legacy password, checked against the imported hash as the password-migration service will.
	if err := demoPasswordCheck(ctx, out, cfg, denv.Getenv); err != nil {
		fmt.Fprintf(out, "5. Password check skipped: %v\n", err)
	}

	fmt.Fprintf(out, "\nWhere to look:\n  %s  state of every user (SQLite; legacy hashes sealed with AES-256-GCM, key in %s)\n  %s  rejected rows with line and reason\n  %s  the legacy users\n",
		cfg.Store, keyPath, cfg.Import.Rejects, usersPath)
	fmt.Fprintf(out, "Next: run a standalone tenant with 'idshift sandbox' and point 'idshift import' at it (see README).\n")
	// The example data has bad rows on purpose: their rejection is the expected outcome.
	return exitComplete, nil
}

// demoPasswordCheck verifies the first example test account's known password against the hash the import stored.
func demoPasswordCheck(ctx context.Context, w io.Writer, cfg *Config, getenv func(string) string) error {
	passwords, err := examples.FS.ReadFile("passwords.txt")
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(passwords))
	var legacyID, password string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if id, pw, ok := strings.Cut(line, "\t"); ok {
			legacyID, password = id, pw
			break
		}
	}
	if legacyID == "" {
		return fmt.Errorf("no test account in examples/passwords.txt")
	}
	st, err := openStore(ctx, cfg, getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	cred, err := st.Credential(ctx, idshift.Key{Source: "demo", LegacyID: legacyID})
	if err != nil {
		return fmt.Errorf("credential of %s: %w", legacyID, err)
	}
	format, _ := pwhash.Detect(cred.Hash)
	ok, err := pwhash.Verify(ctx, password, cred.Hash, pwhash.Options{})
	if err != nil {
		return err
	}
	wrong, _ := pwhash.Verify(ctx, password+"x", cred.Hash, pwhash.Options{})
	fmt.Fprintf(w, "5. User %s's legacy password checked against its imported %s hash: right password matches=%v, wrong password matches=%v\n",
		legacyID, format, ok, wrong)
	return nil
}
