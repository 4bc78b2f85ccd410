package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/idshift/idshift/internal/servicetest"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift/internal/slapdtest"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/tenant"
	"github.com/idshift/idshift/verify/webhook"
)

// TestLiveVerifiersConfigStrict: a bad key under verifiers is named with its path; each source needs exactly one
// live check.
func TestLiveVerifiersConfigStrict(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, yaml, want string }{
		{"unknown key in ldap", "verifiers:\n  corp:\n    ldap:\n      url: ldaps://x\n      bindDn: cn=x\n", "verifiers.corp.ldap.bindDn"},
		{"unknown key in source", "verifiers:\n  corp:\n    ldap: {url: ldaps://x}\n    breakr: {timeout: 1s}\n", "verifiers.corp.breakr"},
		{"two checks", "verifiers:\n  corp:\n    ldap: {url: ldaps://x}\n    webhook: {url: https://x}\n", "exactly one of ldap, webhook"},
		{"no check", "verifiers:\n  corp:\n    secret_env: X\n", "exactly one of ldap, webhook"},
		{"bad duration", "verifiers:\n  corp:\n    webhook: {url: https://x, timeout: soon}\n", "verifiers.corp.webhook.timeout"},
		{"not a mapping", "verifiers: [a, b]\n", "verifiers: want a mapping"},
		{"unknown key in oidc", "verifiers:\n  b2c:\n    oidc: {authority: https://x, clientID: y}\n", "verifiers.b2c.oidc.clientID"},
		{"unknown key in cognito", "verifiers:\n  pool:\n    cognito: {region: eu-west-1, clientId: y, userPoolId: z}\n", "verifiers.pool.cognito.userPoolId"},
		{"oidc and cognito", "verifiers:\n  b2c:\n    oidc: {authority: https://x}\n    cognito: {region: eu-west-1}\n", "exactly one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "serve.yaml")
			os.WriteFile(p, []byte(tt.yaml), 0o600)
			err := loadServeConfig(p, defaultServeConfig(), func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %q", err, tt.want)
			}
		})
	}
	p := filepath.Join(dir, "ok.yaml")
	os.WriteFile(p, []byte("store: s.db\nverifiers:\n  corp:\n    ldap: {url: ldaps://x, poolSize: 3, timeout: 700ms}\n    breaker: {timeout: 600ms, failures: 2}\n  shop:\n    webhook: {url: https://shop}\n    secret_env: SHOP_SECRET\n"), 0o600)
	c := defaultServeConfig()
	if err := loadServeConfig(p, c, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if c.Store != "s.db" || len(c.Verifiers) != 2 || c.Verifiers["corp"].kind != "ldap" || c.Verifiers["corp"].LDAP.PoolSize != 3 ||
		c.Verifiers["corp"].LDAP.Timeout != 700*time.Millisecond || c.Verifiers["corp"].Breaker.Failures != 2 ||
		c.Verifiers["shop"].kind != "webhook" || c.Verifiers["shop"].SecretEnv != "SHOP_SECRET" {
		t.Fatalf("decoded %+v", c.Verifiers)
	}
}

// liveShopSecret is the webhook's shared secret in the journey (from the environment, as secret_env says).
const liveShopSecret = "0123456789abcdef0123456789abcdef-shop"

// livePoolSecret is the legacy Cognito app client's secret in the journey (from the environment, as secret_env says).
const livePoolSecret = "cognito-app-client-secret-journey"

// TestLiveJourney: users imported without hashes (--live-check) sign in through the sandbox's simulator and are
// migrated by the live check of their source: an LDAP directory (a real slapd) and a webhook; a wrong password is
// a wrong password, a locked directory account is blocked, a dead webhook is "try later" at once, never a wrong
// password.
func TestLiveJourney(t *testing.T) {
	ldapSrv, ldapErr := slapdtest.Start()
	if ldapSrv != nil {
		defer ldapSrv.Stop()
	}
	haveLDAP := ldapErr == nil && ldapSrv != nil
	if !haveLDAP {
		// The webhook half runs anyway; the LDAP half skips (or fails) below.
		if ldapErr != nil || servicetest.Required() {
			slapdtest.Require(t, ldapSrv, ldapErr)
		}
		t.Log("slapd not installed (apt-get install slapd slapd-contrib ldap-utils): the LDAP sign-ins are skipped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The shop's home-grown system, behind the signed webhook contract.
	shopPasswords := map[string]string{"grace@shop.example": "Shop-Passw0rd-Grace!", "renew@shop.example": "Shop-Passw0rd-Renew!"}
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.CheckSignature([]byte(liveShopSecret), r.Header, body, time.Now()); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var req struct{ SignInName, Password string }
		json.Unmarshal(body, &req)
		verdict := "mismatch"
		switch {
		case req.SignInName == "frozen@shop.example":
			verdict = "locked"
		case req.SignInName == "renew@shop.example" && shopPasswords[req.SignInName] == req.Password:
			verdict = "must_change"
		case shopPasswords[req.SignInName] != "" && shopPasswords[req.SignInName] == req.Password:
			verdict = "match"
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"verdict":%q}`, verdict)
	}))
	defer shop.Close()
	// A legacy system that hangs: it never answers.
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	// A legacy Azure AD B2C tenant (ROPC user flow) and a legacy Cognito user pool with a confidential app client.
	b2c, err := sandbox.NewLegacyB2C(sandbox.LegacyB2CConfig{Tenant: "contoso", Users: []sandbox.LegacyUser{
		{SignInName: "ada@b2c.example", Password: "B2C-Passw0rd-Ada!"}}})
	if err != nil {
		t.Fatal(err)
	}
	b2cSrv := httptest.NewServer(b2c)
	defer b2cSrv.Close()
	cognitoPool := sandbox.NewLegacyCognito(sandbox.LegacyCognitoConfig{ClientSecret: livePoolSecret, Users: []sandbox.LegacyUser{
		{SignInName: "grace@pool.example", Password: "Pool-Passw0rd-Grace!"},
		{SignInName: "temp@pool.example", Password: "Pool-Passw0rd-Temp!", MustChange: true},
		{SignInName: "off@pool.example", Password: "Pool-Passw0rd-Off!", Disabled: true}}})
	poolSrv := httptest.NewServer(cognitoPool)
	defer poolSrv.Close()
	// A legacy system that is gone: nothing listens at its address.
	gonePort, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}

	// The tenant.
	calloutRoots, err := writeDemoTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	servePort, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sandbox.Start(sandbox.Config{Logger: logger, CalloutRootCAs: calloutRoots}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	caPath := filepath.Join(dir, "sandbox-ca.pem")
	if err := srv.WriteCA(caPath); err != nil {
		t.Fatal(err)
	}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
		switch k {
		case "IDSHIFT_SHOP_SECRET":
			return liveShopSecret
		case "IDSHIFT_POOL_SECRET":
			return livePoolSecret
		}
		return ""
	}}

	// Import, one source at a time, users WITHOUT hashes: only --live-check flags them for migration at sign-in.
	const header = "legacy_id,email,username,display_name,given_name,surname,phone,password_hash,last_sign_in,created\n"
	sources := []struct{ name, rows string }{
		{"corp-ldap", "L1,ada@example.com,,Ada L,Ada,L,,,,\nL2,locked@example.com,,Locked L,Locked,L,,,,\n"},
		{"shop", "S1,grace@shop.example,,Grace S,Grace,S,,,,\nS2,frozen@shop.example,,Frozen S,Frozen,S,,,,\nS3,renew@shop.example,,Renew S,Renew,S,,,,\n"},
		{"slow", "W1,slow@old.example,,Slow W,Slow,W,,,,\n"},
		{"gone", "G1,gone@old.example,,Gone G,Gone,G,,,,\n"},
		{"b2c", "B1,ada@b2c.example,,Ada B,Ada,B,,,,\n"},
		{"pool", "C1,grace@pool.example,,Grace C,Grace,C,,,,\nC2,temp@pool.example,,Temp C,Temp,C,,,,\nC3,off@pool.example,,Off C,Off,C,,,,\n"},
	}
	var cfg *Config
	for i, s := range sources {
		p := filepath.Join(dir, s.name+".csv")
		os.WriteFile(p, []byte(header+s.rows), 0o600)
		cfg = defaultConfig()
		cfg.Source.Path, cfg.Source.Name = p, s.name
		cfg.Store = filepath.Join(dir, "state.db")
		cfg.Import.Rejects = filepath.Join(dir, s.name+"-rejects.jsonl")
		cfg.Import.LiveCheck = true
		cfg.Tenant.Domain, cfg.Tenant.TenantID = srv.Tenant.Domain(), srv.Tenant.TenantID()
		cfg.Tenant.GraphURL, cfg.Tenant.AuthorityHost, cfg.Tenant.CAFile = srv.URL, srv.AuthorityHost, caPath
		cfg.Tenant.Apps = []AppConfig{{ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret}}
		code, err := importWith(ctx, env, cfg, importOptions{setupExtensions: i == 0, quiet: true}, logger)
		if err != nil || code != exitComplete {
			t.Fatalf("import %s: code %d, %v", s.name, code, err)
		}
	}

	// tenant setup.
	keyFile := filepath.Join(dir, demoEncryptionKey)
	pool, err := openDirectory(ctx, cfg, env, logger)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tenant.Setup(ctx, pool.Clients()[0], tenant.Config{
		ExtensionsAppID:    cfg.Tenant.ExtensionsAppID,
		MigrationAttribute: cfg.Import.MigrationAttribute, LegacyIDAttribute: cfg.Import.LegacyIDAttribute,
		TargetURL: fmt.Sprintf("https://127.0.0.1:%d/entra", servePort), Timeout: demoTimeout, KeyOut: keyFile, Logger: logger,
	})
	if err != nil || len(res.Pending) > 0 {
		t.Fatalf("tenant setup: %v %v", err, res.Pending)
	}

	// serve, with its live checks from the file.
	ldapURL, ldapCA := "ldaps://127.0.0.1:1", ""
	if haveLDAP {
		ldapURL = ldapSrv.LDAPS
		ldapCA = filepath.Join(dir, "ldap-ca.pem")
		os.WriteFile(ldapCA, ldapSrv.CA, 0o600)
	}
	yml := fmt.Sprintf(`verifiers:
  corp-ldap:
    ldap:
      url: %s
      rootCA: %q
      bindDN: %q
      bindPW: %q
      userSearch: {baseDN: "ou=people,%s", filter: "(mail={name})"}
  shop:
    webhook: {url: %q, insecureHTTP: true, timeout: 1s}
    secret_env: IDSHIFT_SHOP_SECRET
  gone:
    webhook: {url: "http://127.0.0.1:%d/verify", insecureHTTP: true, timeout: 1s}
    secret_env: IDSHIFT_SHOP_SECRET
    breaker: {failures: 2, coolDown: 1m}
  slow:
    webhook: {url: %q, insecureHTTP: true}
    secret_env: IDSHIFT_SHOP_SECRET
    breaker: {timeout: 300ms, failures: 2, coolDown: 1m}
  b2c:
    oidc: {authority: %q, clientId: %q, scope: "openid %[10]s", responseType: "token id_token", insecureHTTP: true, timeout: 1s}
  pool:
    cognito: {endpoint: %q, clientId: %q, insecureHTTP: true, timeout: 1s}
    secret_env: IDSHIFT_POOL_SECRET
`, ldapURL, ldapCA, slapdtest.ServiceDN, slapdtest.ServicePW, slapdtest.Base, shop.URL, gonePort, slow.URL,
		b2c.Authority(b2cSrv.URL), b2c.ClientID(), poolSrv.URL+"/", cognitoPool.ClientID())
	ymlPath := filepath.Join(dir, "serve.yaml")
	os.WriteFile(ymlPath, []byte(yml), 0o600)
	scfg := defaultServeConfig()
	if err := loadServeConfig(ymlPath, scfg, env.Getenv); err != nil {
		t.Fatal(err)
	}
	scfg.Store = cfg.Store
	scfg.Listen.Addr, scfg.Listen.Admin = fmt.Sprintf("127.0.0.1:%d", servePort), "127.0.0.1:0"
	scfg.Listen.TLSCert, scfg.Listen.TLSKey = filepath.Join(dir, demoTLSCert), filepath.Join(dir, demoTLSKey)
	scfg.Listen.ShutdownGrace = 2 * time.Second
	scfg.Entra.Authority = srv.ExternalAuthority()
	scfg.Entra.Audiences = res.AppID + "," + res.ResourceID
	scfg.Entra.DecryptionCerts, scfg.Entra.DecryptionKeys = keyFile, keyFile
	scfg.Entra.CAFile = cfg.Tenant.CAFile
	scfg.Decision.Timeout = demoTimeout
	scfg.Decision.TryLater = "Block"
	scfg.Decision.BlockTitle, scfg.Decision.UnavailableTitle = "Account locked", "Try again later"
	if err := scfg.validate(); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	type addrs struct{ pub, admin net.Addr }
	started := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveWith(sctx, env, scfg, logger, func(pub, admin net.Addr) { started <- addrs{pub, admin} })
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var admin net.Addr
	select {
	case a := <-started:
		admin = a.admin
	case err := <-done:
		done <- nil
		t.Fatalf("serve: %v", err)
	}

	signIn := func(t *testing.T, user, password string, want sandbox.SignInOutcome, wantTitle string) time.Duration {
		t.Helper()
		start := time.Now()
		r, err := srv.SignIn(ctx, sandbox.SignInRequest{User: user, Password: password})
		took := time.Since(start)
		if err != nil {
			t.Fatalf("sign-in %s: %v", user, err)
		}
		if r.Outcome != want || !r.ExtensionCalled || (wantTitle != "" && r.Title != wantTitle) {
			t.Fatalf("sign-in %s: %s %q (extension called: %v), want %s %q", user, r.Outcome, r.Title, r.ExtensionCalled, want, wantTitle)
		}
		return took
	}

	t.Run("LDAP", func(t *testing.T) {
		if !haveLDAP {
			t.Skip("slapd not installed (apt-get install slapd slapd-contrib ldap-utils)")
		}
		signIn(t, "ada@example.com", "Legacy-Passw0rd-Ada!-typo", sandbox.SignInWrongPassword, "")
		signIn(t, "ada@example.com", "Legacy-Passw0rd-Ada!", sandbox.SignInMigrated, "")
		r, err := srv.SignIn(ctx, sandbox.SignInRequest{User: "ada@example.com", Password: "Legacy-Passw0rd-Ada!"})
		if err != nil || r.Outcome != sandbox.SignInSuccess || r.ExtensionCalled {
			t.Fatalf("after migration: %+v, %v; want a plain success", r, err)
		}
		signIn(t, "locked@example.com", "Locked-Passw0rd-Any!", sandbox.SignInBlocked, "Account locked")
	})
	t.Run("Webhook", func(t *testing.T) {
		signIn(t, "grace@shop.example", "Shop-Passw0rd-Grace?", sandbox.SignInWrongPassword, "")
		signIn(t, "grace@shop.example", "Shop-Passw0rd-Grace!", sandbox.SignInMigrated, "")
		signIn(t, "frozen@shop.example", "Shop-Passw0rd-Frozen!", sandbox.SignInBlocked, "Account locked")
		signIn(t, "renew@shop.example", "Shop-Passw0rd-Renew!", sandbox.SignInMustReset, "")
	})
	t.Run("B2CROPC", func(t *testing.T) {
		signIn(t, "ada@b2c.example", "B2C-Passw0rd-Ada?", sandbox.SignInWrongPassword, "")
		signIn(t, "ada@b2c.example", "B2C-Passw0rd-Ada!", sandbox.SignInMigrated, "")
	})
	t.Run("Cognito", func(t *testing.T) {
		signIn(t, "grace@pool.example", "Pool-Passw0rd-Grace?", sandbox.SignInWrongPassword, "")
		signIn(t, "grace@pool.example", "Pool-Passw0rd-Grace!", sandbox.SignInMigrated, "")
		signIn(t, "temp@pool.example", "Pool-Passw0rd-Temp!", sandbox.SignInMustReset, "")
		signIn(t, "off@pool.example", "Pool-Passw0rd-Off!", sandbox.SignInBlocked, "Account locked")
	})
	t.Run("DeadWebhook", func(t *testing.T) {
		for i := range 4 { // the breaker opens after 2; every answer is "try later", none a wrong password
			if took := signIn(t, "gone@old.example", "Gone-Passw0rd-Any!", sandbox.SignInBlocked, "Try again later"); took > time.Second {
				t.Fatalf("attempt %d took %v: a dead legacy system must be answered fast", i, took)
			}
		}
	})
	t.Run("HangingWebhook", func(t *testing.T) {
		// The per-call timeout (300ms) twice, then the open circuit at once (the metrics below count which).
		for i := range 4 {
			took := signIn(t, "slow@old.example", "Slow-Passw0rd-Any!", sandbox.SignInBlocked, "Try again later")
			if took > 1500*time.Millisecond {
				t.Fatalf("attempt %d took %v: a hanging legacy system must be answered within its timeout", i, took)
			}
		}
	})

	resp, err := http.Get("http://" + admin.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := []string{
		`idshift_legacy_verify_total{source="shop",verifier="webhook",outcome="match"} 1`,
		`idshift_legacy_verify_total{source="shop",verifier="webhook",outcome="mismatch"} 1`,
		`idshift_legacy_verify_total{source="shop",verifier="webhook",outcome="locked"} 1`,
		`idshift_legacy_verify_total{source="gone",verifier="webhook",outcome="error"} 2`,
		`idshift_legacy_verify_total{source="gone",verifier="webhook",outcome="open"} 2`,
		`idshift_legacy_circuit_state{source="gone",verifier="webhook"} 1`,
		`idshift_legacy_verify_total{source="shop",verifier="webhook",outcome="must_change"} 1`,
		`idshift_legacy_verify_total{source="slow",verifier="webhook",outcome="timeout"} 2`,
		`idshift_legacy_verify_total{source="slow",verifier="webhook",outcome="open"} 2`,
		`idshift_attempts_total{front="entra",action="Block",reason="unavailable"} 8`,
		`idshift_legacy_verify_total{source="b2c",verifier="oidc",outcome="match"} 1`,
		`idshift_legacy_verify_total{source="b2c",verifier="oidc",outcome="mismatch"} 1`,
		`idshift_legacy_verify_total{source="pool",verifier="cognito",outcome="match"} 1`,
		`idshift_legacy_verify_total{source="pool",verifier="cognito",outcome="must_change"} 1`,
		`idshift_legacy_verify_total{source="pool",verifier="cognito",outcome="locked"} 1`,
	}
	if haveLDAP {
		want = append(want, `idshift_legacy_verify_total{source="corp-ldap",verifier="ldap",outcome="match"} 1`,
			`idshift_legacy_verify_total{source="corp-ldap",verifier="ldap",outcome="locked"} 1`)
	}
	for _, w := range want {
		if !strings.Contains(string(body), w) {
			t.Errorf("metrics lack %s", w)
		}
	}
	for _, secret := range []string{"Passw0rd", liveShopSecret, livePoolSecret, slapdtest.ServicePW} {
		if strings.Contains(string(body), secret) {
			t.Errorf("metrics reveal a secret")
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}
