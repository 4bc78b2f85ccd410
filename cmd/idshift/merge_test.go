package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/report"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/tenant"
)

// The passwords of testdata/merge (see its README.md).
const (
	shopAnnPassword  = "Shop-Pass-1!"
	forumAnnPassword = "Forum-Pass-1!"
)

// TestImportPlanAgainstSandbox: two sources with one person in both, a hand-written plan accepting the merge,
// `idshift import --plan`, then `idshift serve` and `idshift sandbox signin` by the member's email with the member's
// password: migrated, on the one account that holds both people's identities.
func TestImportPlanAgainstSandbox(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tt := startTestTenant(t, dir)
	srv, ca, port := tt.srv, tt.ca, tt.port
	store := filepath.Join(dir, "state.db")
	tenantArgs := tt.args
	importArgs := append([]string{"import", "--source", "testdata/merge/shop.csv", "--source-name", "shop", "--plan", "testdata/merge/plan.json",
		"--store", store, "--rejects", filepath.Join(dir, "rejects.jsonl"), "--setup-extensions", "--app-writes", "100000", "--app-window", "1s",
		"--tenant-writes", "100000", "--tenant-window", "1s"}, tenantArgs...)
	imp := func(extra ...string) (int, string, string) {
		t.Helper()
		code, stdout, stderr := run(t, nil, append(append(importArgs, extra...), "testdata/merge/forum.csv")...)
		for _, pw := range []string{shopAnnPassword, forumAnnPassword, "$2a$04$", "{SSHA}"} {
			if strings.Contains(stdout+stderr, pw) {
				t.Errorf("the import's output holds a credential (%q)", pw[:4])
			}
		}
		return code, stdout, stderr
	}

	code, stdout, stderr := imp()
	if code != exitComplete || !regexp.MustCompile(`(?m)^\s*created\s+3$`).MatchString(stdout) ||
		!regexp.MustCompile(`(?m)^\s*merged\s+1\s`).MatchString(stdout) || !strings.Contains(stdout, "+ merged: reconciles") {
		t.Fatalf("import: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// A dry run (after the import: before it, the extension attributes do not exist) shows the merge.
	code, stdout, stderr = imp("--dry-run")
	if code != exitComplete || !strings.Contains(stdout, `"action":"merge"`) || !strings.Contains(stdout, `"into":"shop/s1"`) ||
		!regexp.MustCompile(`(?m)^\s*would be merged\s+1\s+\(accounts folded into another by 1 merge of the plan\)$`).MatchString(stderr) {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if srv.Tenant.UserCount() != 3 {
		t.Fatalf("after the dry run: %d users", srv.Tenant.UserCount())
	}

	// A rerun: nothing to do, the same counts.
	code, stdout, _ = imp("--json")
	var sum struct {
		Read, Created, Skipped, Merged int64
		Reconciles                     bool
	}
	if err := json.Unmarshal([]byte(stdout), &sum); code != exitComplete || err != nil || sum.Read != 4 || sum.Created != 0 || sum.Skipped != 3 || sum.Merged != 1 || !sum.Reconciles {
		t.Fatalf("rerun: exit %d, %+v, %v\n%s", code, sum, err, stdout)
	}

	var ann map[string]any
	for _, u := range srv.Tenant.Users() {
		if u["extension_"+srv.Tenant.ExtensionsAppIDNoDashes()+"_legacyId"] == "s1" {
			ann = u
		}
		if u["extension_"+srv.Tenant.ExtensionsAppIDNoDashes()+"_legacyId"] == "f1" {
			t.Errorf("the member has an account of its own")
		}
	}
	ids, _ := json.Marshal(ann["identities"])
	for _, want := range []string{`"ann@example.com"`, `"ann.forum@example.org"`, `"ann_forum"`} {
		if !strings.Contains(string(ids), want) {
			t.Errorf("the merged account's identities %s lack %s", ids, want)
		}
	}

	// Tenant setup and serve, in-process, as the demo runs them.
	cfg := defaultConfig()
	cfg.Store = store
	cfg.Tenant.Domain, cfg.Tenant.TenantID = srv.Tenant.Domain(), srv.Tenant.TenantID()
	cfg.Tenant.GraphURL, cfg.Tenant.AuthorityHost, cfg.Tenant.CAFile = srv.URL, srv.AuthorityHost, ca
	cfg.Tenant.Apps = []AppConfig{{ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret}}
	env := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	logger := slog.New(slog.DiscardHandler)
	pool, err := openDirectory(ctx, cfg, env, logger)
	if err != nil {
		t.Fatal(err)
	}
	target := fmt.Sprintf("https://127.0.0.1:%d/entra", port)
	keyFile := filepath.Join(dir, demoEncryptionKey)
	res, err := tenant.Setup(ctx, pool.Clients()[0], tenant.Config{MigrationAttribute: cfg.Import.MigrationAttribute,
		LegacyIDAttribute: cfg.Import.LegacyIDAttribute, TargetURL: target, Timeout: demoTimeout, KeyOut: keyFile, Logger: logger})
	if err != nil || len(res.Pending) > 0 {
		t.Fatalf("tenant setup: %v (%v)", err, res.Pending)
	}
	scfg := defaultServeConfig()
	scfg.Store = store
	scfg.Listen.Addr, scfg.Listen.Admin = fmt.Sprintf("127.0.0.1:%d", port), ""
	scfg.Listen.TLSCert, scfg.Listen.TLSKey = filepath.Join(dir, demoTLSCert), filepath.Join(dir, demoTLSKey)
	scfg.Listen.ShutdownGrace = 2 * time.Second
	scfg.Entra.Authority = srv.ExternalAuthority()
	scfg.Entra.Audiences = res.AppID + "," + res.ResourceID
	scfg.Entra.DecryptionCerts, scfg.Entra.DecryptionKeys = keyFile, keyFile
	scfg.Entra.CAFile = ca
	scfg.Decision.Timeout = 2 * time.Second
	if err := scfg.validate(); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	started, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() { done <- serveWith(sctx, env, scfg, logger, func(pub, _ net.Addr) { started <- pub }) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	select {
	case <-started:
	case err := <-done:
		done <- nil
		t.Fatalf("serve: %v", err)
	}

	signIn := func(user, password string) (int, string) {
		t.Helper()
		code, stdout, stderr := run(t, nil, "sandbox", "signin", "--url", srv.URL, "--ca-file", ca, "--user", user, "--password", password)
		if code == 1 || code == 2 {
			t.Fatalf("sandbox signin: exit %d\n%s\n%s", code, stdout, stderr)
		}
		return code, strings.TrimSpace(stdout)
	}
	if code, out := signIn("ann.forum@example.org", "Shop-Pass-2!"); code != 3 || !strings.HasPrefix(out, "wrong_password ann.forum@example.org") {
		t.Errorf("a wrong password: exit %d, %q", code, out)
	}
	if code, out := signIn("ann.forum@example.org", forumAnnPassword); code != 0 || !strings.HasPrefix(out, "migrated ann.forum@example.org: extension called") {
		t.Fatalf("the member's email and password: exit %d, %q", code, out)
	}
	// The password chosen is the only one kept: the primary's legacy password no longer opens the account, and the
	// chosen one does, by any of its identities, without a callout.
	if code, out := signIn("ann@example.com", shopAnnPassword); code != 3 || !strings.HasPrefix(out, "wrong_password ann@example.com") {
		t.Errorf("the primary's old password after the migration: exit %d, %q", code, out)
	}
	if code, out := signIn("ann@example.com", forumAnnPassword); code != 0 || !strings.HasPrefix(out, "success ann@example.com: no extension call") {
		t.Errorf("the chosen password by the primary's email: exit %d, %q", code, out)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	done <- nil

	// Status counts the merged account once, and says which credential matched.
	code, stdout, stderr = run(t, nil, append([]string{"status", "--json", "--store", store}, tenantArgs...)...)
	var st report.Status
	if err := json.Unmarshal([]byte(stdout), &st); code != 0 || err != nil {
		t.Fatalf("status: exit %d, %v\n%s", code, err, stderr)
	}
	if st.Records[idshift.StateMigrated] != 1 || st.Records[idshift.StateCreated] != 2 || st.Records[idshift.StateMerged] != 1 ||
		st.MigratedByHow["hash (merged account)"] != 1 || st.Tenant == nil || st.Tenant.Listed != 3 || !st.Tenant.Reconciles() ||
		st.Tenant.MigratedByService != 1 || st.Tenant.MissingFromTenant != 0 {
		t.Errorf("status: records %v, migrated by %v, tenant %+v", st.Records, st.MigratedByHow, st.Tenant)
	}

	// Rollback deletes the one merged account (and its credential, alternates with it).
	code, stdout, stderr = run(t, nil, append([]string{"rollback", "--confirm", "--store", store}, tenantArgs...)...)
	if code != 0 || srv.Tenant.UserCount() != 0 {
		t.Fatalf("rollback: exit %d, %d users left\n%s\n%s", code, srv.Tenant.UserCount(), stdout, stderr)
	}
	if _, err := os.Stat(store); err != nil {
		t.Fatal(err)
	}
}

func TestImportPlanErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version":1,"merges":[{"accept":true,"primary":{"source":"shop","legacyId":"s1"},"members":[{"source":"forum"}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ plan, want string }{
		{filepath.Join(dir, "missing.json"), "missing.json"},
		{bad, "bad.json: merges[0].members[0]: source and legacyId are both required"},
	} {
		code, _, stderr := run(t, nil, "import", "--source", "testdata/merge/shop.csv", "--domain", "contoso.onmicrosoft.com", "--dry-run", "--plan", tt.plan)
		if code != exitUsage || !strings.Contains(stderr, "--plan") || !strings.Contains(stderr, tt.want) {
			t.Errorf("--plan %s: exit %d\n%s", tt.plan, code, stderr)
		}
	}
	// A flag after the sources is not taken for a source.
	code, _, stderr := run(t, nil, "import", "--source", "testdata/merge/shop.csv", "--domain", "contoso.onmicrosoft.com", "testdata/merge/forum.csv", "--dry-run")
	if code != exitUsage || !strings.Contains(stderr, `unexpected argument "--dry-run"`) {
		t.Errorf("a flag after the sources: exit %d\n%s", code, stderr)
	}
}
