package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/examples"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/importer"
	"github.com/idshift/idshift/internal/browsertest"
	"github.com/idshift/idshift/jit/dashboard"
	"github.com/idshift/idshift/mergeplan"
	"github.com/idshift/idshift/report"
	"github.com/idshift/idshift/sandbox"
)

// stageUser is a legacy account of the two-source journey, with its known password.
type stageUser struct {
	source, legacyID, email, username, password, hash string
	verified                                          bool
}

// TestStagesJourney is issue #11's whole journey on the sandbox, through the commands: a shop (CSV, PBKDF2 hashes)
// and a forum (Ory Kratos identities, bcrypt) share users; `audit` proposes the merges of the accounts whose email
// is verified on both sides into a plan; `import --plan` creates one account per person, with the identities of
// both and the password of each; half the accounts sign in, merged ones by either side's password and under either
// side's name; `status` tells the truth, a migration Entra made without calling serve included; the dashboard
// shows the same figures in Chromium; `cutover --dry-run` changes nothing and `cutover --confirm` leaves no legacy
// credential in the store's files.
func TestStagesJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole journey is skipped in -short mode")
	}
	ctx := context.Background()
	dir := t.TempDir()
	shop, forum := stageUsers(t)

	writeFile := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var csvBody strings.Builder
	cw := csv.NewWriter(&csvBody)
	cw.Write([]string{"legacy_id", "email", "username", "display_name", "password_hash", "last_sign_in", "email_verified"})
	for _, u := range shop {
		cw.Write([]string{u.legacyID, u.email, u.username, "Shop " + u.legacyID, u.hash, time.Now().AddDate(0, -2, 0).UTC().Format(time.RFC3339), fmt.Sprint(u.verified)})
	}
	cw.Flush()
	shopPath := writeFile("shop.csv", csvBody.String())
	var ids []map[string]any
	for _, u := range forum {
		ids = append(ids, map[string]any{
			"id": u.legacyID, "schema_id": "default", "state": "active",
			"traits":               map[string]any{"email": u.email, "username": u.username},
			"verifiable_addresses": []map[string]any{{"value": u.email, "via": "email", "verified": u.verified}},
			"credentials": map[string]any{"password": map[string]any{
				"identifiers": []string{u.email, u.username}, "config": map[string]any{"hashed_password": u.hash}}},
		})
	}
	b, err := json.Marshal(ids)
	if err != nil {
		t.Fatal(err)
	}
	forumPath := writeFile("forum.json", string(b))

	// Stage 1: the audit proposes the three merges whose email is verified on both sides, accepted into a plan.
	plan := filepath.Join(dir, "plan.json")
	code, stdout, stderr := run(t, nil, "audit", "--source", shopPath, "--source-name", "shop", "--plan", plan, "--accept", "all", "--json", "kratos:"+forumPath)
	if code != 0 {
		t.Fatalf("audit: exit %d\n%s", code, stderr)
	}
	noPasswords(t, "audit", stdout+stderr, shop, forum)
	p, err := mergeplan.Read(plan)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Merges) != 3 {
		t.Fatalf("plan: %d merges, want 3 (emails verified on both sides): %+v", len(p.Merges), p.Merges)
	}
	for i, m := range p.Merges {
		if !m.Accept || m.Primary != (mergeplan.Member{Source: "shop", LegacyID: shop[i].legacyID, Line: int64(i + 2), Guard: m.Primary.Guard}) ||
			len(m.Members) != 1 || m.Members[0].Source != "forum" || m.Members[0].LegacyID != forum[i].legacyID {
			t.Errorf("merge %d: %+v", i, m)
		}
	}

	// Stage 2: the import follows the plan.
	tt := startTestTenant(t, dir)
	srv, pool := tt.srv, tt.pool(t)
	storePath := filepath.Join(dir, "state.db")
	tenantArgs := append([]string{"--store", storePath}, tt.args...)
	imp := append([]string{"import", "--source", shopPath, "--source-name", "shop", "--plan", plan, "--setup-extensions", "--json",
		"--rejects", filepath.Join(dir, "rejects.jsonl")}, tenantArgs...)
	code, stdout, stderr = run(t, nil, append(imp, "kratos:"+forumPath)...)
	noPasswords(t, "import", stdout+stderr, shop, forum)
	var sum importer.Summary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("import: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	// 12 read: 6 shop accounts and 3 forum-only ones created, 3 forum accounts merged into their shop account; the
	// fourth shared email is not verified on the forum: that forum account is a duplicate identity, rejected.
	if sum.Read != 12 || sum.Created != 8 || sum.Merged != 3 || sum.Rejected != 1 || sum.Merges != 3 ||
		sum.Read != sum.Created+sum.Adopted+sum.Updated+sum.Skipped+sum.Collisions+sum.Rejected+sum.Failed+sum.Merged {
		t.Fatalf("import: exit %d, summary %+v\n%s", code, sum, stderr)
	}
	for i := range 3 {
		got := map[string]bool{}
		users, err := pool.FindUsersByIdentity(ctx, srv.Tenant.Domain(), shop[i].email, []string{"id", "identities"})
		if err != nil || len(users) != 1 {
			t.Fatalf("%s: %d accounts, %v", shop[i].email, len(users), err)
		}
		for _, id := range users[0].Identities {
			got[strings.ToLower(id.IssuerAssignedID)] = true
		}
		if !got[shop[i].email] || !got[shop[i].username] || !got[forum[i].username] {
			t.Errorf("merged account %s holds %v; want the email and both user names", shop[i].legacyID, got)
		}
	}

	// Stage 3: half of the eight accounts sign in, with the dashboard on serve's admin listener.
	cfg := tt.config()
	cfg.Store = storePath
	env := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	dashPass := writeFile("dashboard.pass", "journey-dashboard-password\n")
	adminPort := freePort(t)
	stop, err := demoServe(ctx, io.Discard, env, cfg, srv, tt.port, dir, slog.New(slog.DiscardHandler), func(s *ServeConfig) {
		s.Listen.Admin = fmt.Sprintf("127.0.0.1:%d", adminPort)
		s.Dashboard.Enabled, s.Dashboard.PasswordFile = true, dashPass
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	signIn := func(what, user, password string, want sandbox.SignInOutcome) {
		t.Helper()
		r, err := srv.SignIn(ctx, sandbox.SignInRequest{User: user, Password: password})
		if err != nil || r.Outcome != want {
			t.Errorf("%s: %+v, %v; want %s", what, r, err, want)
		}
	}
	signIn("merged account, its shop password", shop[0].email, shop[0].password, sandbox.SignInMigrated)
	signIn("merged account, the forum password under the shop's user name", shop[1].username, forum[1].password, sandbox.SignInMigrated)
	signIn("merged account, the forum password under the forum's user name", forum[2].username, forum[2].password, sandbox.SignInMigrated)
	signIn("forum-only account", forum[4].email, forum[4].password, sandbox.SignInMigrated)
	// Only the chosen password is kept: the other side's password no longer signs the merged account in.
	signIn("merged account, the side's password not chosen", shop[0].email, forum[0].password, sandbox.SignInWrongPassword)
	signIn("the forum's password of the unverified twin", shop[3].email, forum[3].password, sandbox.SignInWrongPassword)
	// And one account Entra migrates without calling serve: its tenant password is typed.
	users, err := pool.FindUsersByIdentity(ctx, srv.Tenant.Domain(), shop[5].email, nil)
	if err != nil || len(users) != 1 {
		t.Fatalf("%s: %v, %v", shop[5].email, users, err)
	}
	const tenantPassword = "Tenant!Held-Passw0rd"
	if err := pool.UpdateUser(ctx, users[0].ID, map[string]any{"passwordProfile": map[string]any{"password": tenantPassword, "forceChangePasswordNextSignIn": false}}); err != nil {
		t.Fatal(err)
	}
	signIn("silent migration", shop[5].email, tenantPassword, sandbox.SignInMigrated)

	// status: 4 by serve (3 of them merged accounts), 1 by the tenant alone, 3 still pending.
	code, stdout, stderr = run(t, nil, append([]string{"status", "--json"}, tenantArgs...)...)
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, stderr)
	}
	noPasswords(t, "status", stdout+stderr, shop, forum)
	var st report.Status
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || st.Tenant == nil {
		t.Fatalf("status %s: %v", stdout, err)
	}
	if tf := st.Tenant; tf.MigratedByService != 4 || tf.MigratedInTenant != 1 || tf.Pending != 3 || tf.ToReset != 0 || tf.NotInStore != 0 || !tf.Reconciles() {
		t.Errorf("status tenant figures %+v; want 4 by serve, 1 in the tenant, 3 pending", *tf)
	}
	var byHow int64
	for _, n := range st.MigratedByHow {
		byHow += n
	}
	if st.Records[idshift.StateMigrated] != 4 || st.Records[idshift.StateMerged] != 3 || byHow != 4 {
		t.Errorf("status store figures: records %v, migrated by how %v", st.Records, st.MigratedByHow)
	}

	// The dashboard, in Chromium: the same figures, the charts drawn, no error in the page.
	tab := browsertest.NewTab(t)
	if err := tab.AnswerChallenges(dashboard.User, "journey-dashboard-password"); err != nil {
		t.Fatal(err)
	}
	if code, err := tab.Navigate(fmt.Sprintf("http://127.0.0.1:%d/dashboard", adminPort)); err != nil || code != 200 {
		t.Fatalf("GET /dashboard: %d, %v", code, err)
	}
	if err := tab.WaitVisible("#chart-progress .uplot canvas"); err != nil {
		t.Fatalf("the dashboard's charts were not drawn: %v", err)
	}
	states, err := browsertest.Eval[[][]string](tab, `[...document.querySelectorAll("#states-table tbody tr")].map(tr => [...tr.cells].map(c => c.textContent.trim()))`)
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]string{}
	for _, r := range states {
		if len(r) >= 2 {
			shown[r[0]] = r[1]
		}
	}
	if shown["migrated"] != "4" || shown["merged"] != "3" {
		t.Errorf("the dashboard's records by state %v; want migrated 4, merged 3", states)
	}
	html, err := browsertest.Eval[string](tab, "document.documentElement.outerHTML")
	if err != nil {
		t.Fatal(err)
	}
	noPasswords(t, "the dashboard", html, shop, forum)
	for _, u := range append(shop, forum...) {
		if strings.Contains(html, u.email) {
			t.Errorf("the dashboard shows %s", u.email)
		}
	}
	tab.NoProblems(t)
	if raw, _, err := tab.Screenshot(); err == nil {
		browsertest.Artifact(t, "stages-dashboard.png", raw)
	}
	stop()

	// The end: a dry run first, then the cutover destroys every legacy credential.
	chunks := sealedChunks(t, storePath)
	if len(chunks) != 8 { // one per account: serve keeps a migrated user's until the cutover
		t.Errorf("before cutover: %d sealed credentials, want 8", len(chunks))
	}
	code, stdout, stderr = run(t, nil, append([]string{"cutover", "--dry-run"}, tenantArgs...)...)
	if code != 0 || surviving(t, storePath, chunks) != len(chunks) || len(srv.Tenant.PasswordSubmitListeners()) != 1 {
		t.Fatalf("cutover --dry-run: exit %d, %d of %d credentials left, %d listeners\n%s\n%s", code, surviving(t, storePath, chunks), len(chunks),
			len(srv.Tenant.PasswordSubmitListeners()), stdout, stderr)
	}
	code, stdout, stderr = run(t, nil, append([]string{"cutover", "--confirm"}, tenantArgs...)...)
	noPasswords(t, "cutover", stdout+stderr, shop, forum)
	if code != 0 {
		t.Fatalf("cutover --confirm: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := surviving(t, storePath, chunks); n != 0 {
		t.Errorf("after cutover: %d of %d sealed credentials survive in the store's files", n, len(chunks))
	}
	if n := len(srv.Tenant.PasswordSubmitListeners()); n != 0 {
		t.Errorf("after cutover: %d listeners", n)
	}
	if _, err := os.Stat(storeKeyFile(storePath)); err == nil {
		t.Error("the store key file survives the cutover")
	}
	raw, err := os.ReadFile(storePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range append(shop, forum...) {
		if bytes.Contains(raw, []byte(u.hash)) || bytes.Contains(raw, []byte(u.password)) {
			t.Errorf("the store's file still holds %s/%s's legacy credential", u.source, u.legacyID)
		}
	}
}

// stageUsers returns six shop accounts (examples/users.csv's PBKDF2 ones with known passwords) and six forum
// accounts with bcrypt hashes: the first four share the shop's emails, verified on both sides for the first
// three and not on the forum for the fourth.
func stageUsers(t *testing.T) (shop, forum []stageUser) {
	t.Helper()
	accounts, err := demoAccounts(6)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := examples.FS.ReadFile("users.csv")
	if err != nil {
		t.Fatal(err)
	}
	hashes := map[string]string{}
	cr := csv.NewReader(bytes.NewReader(raw))
	cr.FieldsPerRecord = -1
	for {
		r, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err == nil && len(r) >= 8 {
			hashes[r[0]] = r[7]
		}
	}
	for i, a := range accounts {
		shop = append(shop, stageUser{source: "shop", legacyID: a.legacyID, email: strings.ToLower(a.email),
			username: fmt.Sprintf("shopper%d", i), password: a.password, hash: hashes[a.legacyID], verified: true})
		email := fmt.Sprintf("forum-only-%d@example.net", i)
		if i < 4 {
			email = strings.ToLower(a.email)
		}
		pw := fmt.Sprintf("Forum-Passw0rd!%d-%s", i, a.legacyID)
		h, err := bcrypt.GenerateFromPassword([]byte(pw), 4)
		if err != nil {
			t.Fatal(err)
		}
		forum = append(forum, stageUser{source: "forum", legacyID: fmt.Sprintf("4c1d%04d-7e57-4e11-9a55-00000000000%d", i, i), email: email,
			username: fmt.Sprintf("poster%d", i), password: pw, hash: string(h), verified: i != 3})
	}
	return shop, forum
}

// noPasswords fails when text holds any account's password or hash.
func noPasswords(t *testing.T, what, text string, groups ...[]stageUser) {
	t.Helper()
	for _, g := range groups {
		for _, u := range g {
			if strings.Contains(text, u.password) || strings.Contains(text, u.hash) {
				t.Errorf("%s's output holds %s/%s's password or hash", what, u.source, u.legacyID)
			}
		}
	}
}

// testTenant is a sandbox tenant for a test: its callouts trust serve's demo certificate (written to dir), and its
// CA is dir/ca.pem.
type testTenant struct {
	srv  *sandbox.Server
	ca   string
	port int      // a free port for serve, whose certificate the callouts trust
	args []string // the tenant flags of import, status, cutover…
}

func startTestTenant(t *testing.T, dir string) *testTenant {
	t.Helper()
	roots, err := writeDemoTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sandbox.Start(sandbox.Config{DisableThrottling: true, CalloutRootCAs: roots}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tt := &testTenant{srv: srv, ca: filepath.Join(dir, "ca.pem"), port: freePort(t)}
	if err := srv.WriteCA(tt.ca); err != nil {
		t.Fatal(err)
	}
	tt.args = []string{"--domain", srv.Tenant.Domain(), "--tenant-id", srv.Tenant.TenantID(), "--graph-url", srv.URL,
		"--authority-host", srv.AuthorityHost, "--ca-file", tt.ca, "--client-id", sandbox.DefaultClientID, "--client-secret", sandbox.DefaultClientSecret}
	return tt
}

// config is import's configuration for the tenant (no source, no store).
func (tt *testTenant) config() *Config {
	cfg := defaultConfig()
	cfg.Tenant.Domain, cfg.Tenant.TenantID = tt.srv.Tenant.Domain(), tt.srv.Tenant.TenantID()
	cfg.Tenant.GraphURL, cfg.Tenant.AuthorityHost, cfg.Tenant.CAFile = tt.srv.URL, tt.srv.AuthorityHost, tt.ca
	cfg.Tenant.Apps = []AppConfig{{ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret}}
	return cfg
}

// pool opens Graph clients on the tenant.
func (tt *testTenant) pool(t *testing.T) *graph.Pool {
	t.Helper()
	pool, err := openDirectory(context.Background(), tt.config(), &Env{Getenv: func(string) string { return "" }}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return pool
}
