package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/report"
	"github.com/idshift/idshift/sandbox"
)

// endgame is a sandbox tenant after an import and some sign-ins: two accounts migrated by serve (the demo's
// sign-in steps), one migrated silently by the tenant, the rest still flagged (or created unflagged for reset).
type endgame struct {
	srv      *sandbox.Server
	cfg      *Config
	dir      string
	args     []string // the tenant and store flags of status and cutover
	sum      struct{ Created, ToReset int64 }
	accounts []demoAccount
}

func newEndgame(t *testing.T) *endgame {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	tt := startTestTenant(t, dir)
	srv, port := tt.srv, tt.port
	cfg := tt.config()
	cfg.Source.Path = "../../examples/users.csv"
	cfg.Source.Name = "demo"
	cfg.Store = filepath.Join(dir, "state.db")
	cfg.Import.Rejects = filepath.Join(dir, "rejects.jsonl")
	cfg.Limits.AppWrites, cfg.Limits.AppWindow = 100000, time.Second
	cfg.Limits.TenantWrites, cfg.Limits.TenantWindow = 100000, time.Second
	var out bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	logger := slog.New(slog.DiscardHandler)
	if code, err := importWith(ctx, env, cfg, importOptions{setupExtensions: true, quiet: true, json: true}, logger); err != nil || code != exitWithRejections {
		t.Fatalf("import: %d, %v", code, err)
	}
	e := &endgame{srv: srv, cfg: cfg, dir: dir}
	if err := json.Unmarshal(out.Bytes(), &e.sum); err != nil || e.sum.Created == 0 {
		t.Fatalf("import summary %s: %v", out.String(), err)
	}
	// Tenant setup, serve, and the demo's sign-ins: two accounts migrated by serve, with attempts and blocks.
	if err := demoSignIns(ctx, io.Discard, env, cfg, srv, port, dir, logger); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.accounts, err = demoAccounts(3); err != nil {
		t.Fatal(err)
	}
	e.args = append([]string{"--store", cfg.Store}, tt.args...)
	return e
}

// migrateSilently makes a flagged account's tenant password known, then signs in with it: Entra clears the flag
// without calling the extension.
func (e *endgame) migrateSilently(t *testing.T, a demoAccount) {
	t.Helper()
	ctx := context.Background()
	pool, err := openDirectory(ctx, e.cfg, &Env{Getenv: func(string) string { return "" }}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	users, err := pool.FindUsersByIdentity(ctx, e.cfg.Tenant.Domain, a.email, nil)
	if err != nil || len(users) != 1 {
		t.Fatalf("find %s: %v, %v", a.email, users, err)
	}
	const pw = "Tenant!Held-Passw0rd"
	err = pool.UpdateUser(ctx, users[0].ID, map[string]any{"passwordProfile": map[string]any{"password": pw, "forceChangePasswordNextSignIn": false}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.srv.SignIn(ctx, sandbox.SignInRequest{User: a.email, Password: pw})
	if err != nil || r.Outcome != sandbox.SignInMigrated || r.ExtensionCalled {
		t.Fatalf("silent sign-in of %s: %+v, %v", a.email, r, err)
	}
}

func (e *endgame) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	code, stdout, stderr := run(t, nil, append(args, e.args...)...)
	for _, a := range e.accounts {
		if strings.Contains(stdout+stderr, a.password) {
			t.Errorf("the output holds %s's password", a.legacyID)
		}
	}
	return code, stdout, stderr
}

// sealedChunks returns a slice of every sealed credential blob, to look for in the raw files.
func sealedChunks(t *testing.T, path string) [][]byte {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT blob FROM credentials`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		if len(b) >= 48 {
			out = append(out, bytes.Clone(b[16:48]))
		}
	}
	return out
}

// surviving counts the chunks found in the store's file or its WAL.
func surviving(t *testing.T, path string, chunks [][]byte) int {
	t.Helper()
	var raw []byte
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	n := 0
	for _, c := range chunks {
		if bytes.Contains(raw, c) {
			n++
		}
	}
	return n
}

func TestStatusAndCutoverAgainstSandbox(t *testing.T) {
	e := newEndgame(t)
	e.migrateSilently(t, e.accounts[2])

	// status: the truth, users migrated silently by the tenant included.
	code, stdout, stderr := e.run(t, "status", "--json")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, stderr)
	}
	var st report.Status
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || st.Tenant == nil {
		t.Fatalf("status JSON %s: %v", stdout, err)
	}
	tf := st.Tenant
	wantPending := e.sum.Created - 3 - e.sum.ToReset
	if tf.MigratedByService != 2 || tf.MigratedInTenant != 1 || tf.ToReset != e.sum.ToReset || tf.Pending != wantPending ||
		tf.RecordedStillFlagged != 0 || tf.NotInStore != 0 || tf.MissingFromTenant != 0 || !tf.Reconciles() {
		t.Errorf("tenant figures %+v; want 2 by serve, 1 in the tenant, %d to reset, %d pending", *tf, e.sum.ToReset, wantPending)
	}
	if st.Records[idshift.StateMigrated] != 2 || st.Blocks != 2 || st.MigratedByHow["hash"] != 2 || len(st.Days) == 0 ||
		st.Credentials != e.sum.Created-e.sum.ToReset {
		t.Errorf("store figures: records %v, blocks %d, migrated %v, days %v, credentials %d", st.Records, st.Blocks, st.MigratedByHow, st.Days, st.Credentials)
	}
	code, stdout, _ = e.run(t, "status")
	if code != 0 || !strings.Contains(stdout, "migrated in the tenant without a callout  1") || !strings.Contains(stdout, "reconciles") {
		t.Errorf("status text: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = e.run(t, "status", "--offline")
	if code != 0 || !strings.Contains(stdout, "offline") || strings.Contains(stdout, "tenant:") {
		t.Errorf("status --offline: exit %d\n%s", code, stdout)
	}

	chunks := sealedChunks(t, e.cfg.Store)
	if len(chunks) == 0 || surviving(t, e.cfg.Store, chunks) != len(chunks) {
		t.Fatalf("before cutover: %d sealed credentials, %d found in the raw files", len(chunks), surviving(t, e.cfg.Store, chunks))
	}
	keyFile := storeKeyFile(e.cfg.Store)
	export := filepath.Join(e.dir, "unmigrated.jsonl")

	// Neither --dry-run nor --confirm: refused.
	if code, _, stderr := e.run(t, "cutover"); code != exitUsage || !strings.Contains(stderr, "--confirm") {
		t.Errorf("cutover without a mode: exit %d\n%s", code, stderr)
	}

	// The dry run changes nothing.
	code, stdout, stderr = e.run(t, "cutover", "--dry-run", "--export-unmigrated", export, "--remove-certificate")
	if code != 0 {
		t.Fatalf("cutover --dry-run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"would send: DELETE /beta/identity/authenticationEventListeners/", "customAuthenticationExtensions",
		"would be deleted from the store", "would be deleted", "would write them to " + export} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, stdout)
		}
	}
	if n := len(e.srv.Tenant.PasswordSubmitListeners()); n != 1 {
		t.Errorf("after the dry run: %d listeners, want 1", n)
	}
	if _, err := os.Stat(export); err == nil {
		t.Error("the dry run wrote the export")
	}
	if _, err := os.Stat(keyFile); err != nil {
		t.Errorf("the dry run removed the key file: %v", err)
	}
	if n := surviving(t, e.cfg.Store, chunks); n != len(chunks) {
		t.Errorf("after the dry run: %d of %d sealed credentials left", n, len(chunks))
	}

	// The cutover, while another process (a serve not yet stopped, a backup tool) holds the store open: the WAL is
	// then not removed when cutover closes the store, and only compaction clears it.
	other, err := sql.Open("sqlite", "file:"+e.cfg.Store+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var n int
	if err := other.QueryRow(`SELECT count(*) FROM records`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("another reader: %d records, %v", n, err)
	}
	code, stdout, stderr = e.run(t, "cutover", "--confirm", "--export-unmigrated", export, "--remove-certificate")
	if code != 0 {
		t.Fatalf("cutover --confirm: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := len(e.srv.Tenant.PasswordSubmitListeners()); n != 0 {
		t.Errorf("after cutover: %d listeners", n)
	}
	b, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if int64(len(lines)) != wantPending {
		t.Errorf("export: %d lines, want %d", len(lines), wantPending)
	}
	var u struct {
		ObjectID    string   `json:"objectId"`
		LegacyID    string   `json:"legacyId"`
		SignInNames []string `json:"signInNames"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &u); err != nil || u.ObjectID == "" || u.LegacyID == "" || len(u.SignInNames) == 0 {
		t.Errorf("export line %s: %v", lines[0], err)
	}
	for _, a := range e.accounts {
		if strings.Contains(string(b), `"legacyId":"`+a.legacyID+`"`) {
			t.Errorf("the export lists %s, who is migrated", a.legacyID)
		}
	}
	if n := surviving(t, e.cfg.Store, chunks); n != 0 {
		t.Errorf("after cutover: %d of %d sealed credentials survive in the store's files", n, len(chunks))
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Error("the store key file survives the cutover")
	}
	for _, want := range []string{"legacy credentials deleted from the store", "the store key " + keyFile, "backups", "private key",
		"harvest callers' secrets", "live checks' credentials"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("cutover report lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "--remove-certificate") {
		t.Errorf("the report asks to remove the certificate it removed:\n%s", stdout)
	}
	pool, err := openDirectory(context.Background(), e.cfg, &Env{Getenv: func(string) string { return "" }}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	apps, err := pool.Clients()[0].FindApplication(context.Background(), "displayName eq "+graph.Quote("idshift password migration"))
	if err != nil || len(apps) != 1 || apps[0].TokenEncryptionKeyID != "" || len(apps[0].KeyCredentials) != 0 {
		t.Errorf("the extension's app after cutover: %+v, %v", apps, err)
	}

	// Idempotent: again, nothing left to do, and status still reads the store.
	code, stdout, stderr = e.run(t, "cutover", "--confirm")
	if code != 0 || !strings.Contains(stdout, "nothing to do") || !strings.Contains(stdout, "0 legacy credentials deleted") {
		t.Errorf("second cutover: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = e.run(t, "status", "--offline", "--json")
	if err := json.Unmarshal([]byte(stdout), &st); code != 0 || err != nil || st.Credentials != 0 || st.Records[idshift.StateMigrated] != 2 {
		t.Errorf("status after cutover: exit %d, %+v, %v\n%s", code, st, err, stderr)
	}
}
