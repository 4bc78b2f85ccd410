package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/examples"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/tenant"
)

// runDemo runs the whole journey on embedded defaults: an in-process sandbox tenant over HTTPS, a SQLite state
// file, and the example users shipped in examples/ (a few of them bad on purpose).
func runDemo(ctx context.Context, env *Env, args []string) (int, error) {
	fs := newFlagSet(env, "demo")
	help{
		usage: "idshift demo [--dir DIR]",
		about: `Runs the whole journey on embedded defaults: a sandbox tenant in-process, the migration's extension
attributes, the ~300 example users (a few bad on purpose, they land in the reject file), the same import again
(nothing is created twice), one legacy password checked against its imported hash; then tenant setup (the
extension's app, its encryption certificate, the OnPasswordSubmit extension and listener), idshift serve
in-process, and test accounts signing in through the sandbox as Entra does: the right legacy password migrates,
a wrong one is refused, repeated wrong ones are blocked. No cloud account needed.`,
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
	for _, f := range []string{"state.db", "state.db-wal", "state.db-shm", "state.db.key", "rejects.jsonl", "store.key", "users.csv", demoEncryptionKey, demoTLSCert, demoTLSKey} {
		os.Remove(filepath.Join(*dir, f))
	}
	out := env.Stdout
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// 1. The tenant.
	// Graph's documented write limits, with time running 100 times faster so that the demo takes seconds; the
	// client paces itself to the same limits.
	limits := sandbox.Limits{AppWrites: 3000, AppWindow: 1500 * time.Millisecond, TenantWrites: 18000, TenantWindow: 3 * time.Second}
	// The password-migration service's TLS certificate, which the sandbox's sign-in simulator trusts as Entra
	// trusts a public one, and its port, which tenant setup names in the extension's target URL.
	calloutRoots, err := writeDemoTLS(*dir)
	if err != nil {
		return exitFailed, fmt.Errorf("serve's TLS certificate: %w", err)
	}
	servePort, err := freeLoopbackPort()
	if err != nil {
		return exitFailed, err
	}
	srv, err := sandbox.Start(sandbox.Config{Logger: logger, Limits: limits, CalloutRootCAs: calloutRoots}, "127.0.0.1:0")
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
	// It holds legacy password hashes.
	if err := os.WriteFile(usersPath, usersCSV, 0o600); err != nil {
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

	// 6–10. Password migration at sign-in: tenant setup, serve, and sign-ins through the simulator.
	if err := demoSignIns(ctx, out, &denv, cfg, srv, servePort, *dir, logger); err != nil {
		return exitFailed, fmt.Errorf("password migration at sign-in: %w", err)
	}

	fmt.Fprintf(out, "\nWhere to look:\n  %s  state of every user (SQLite; legacy hashes sealed with AES-256-GCM, key in %s)\n  %s  rejected rows with line and reason\n  %s  the legacy users\n  %s  the extension's private key (tenant setup)\n",
		cfg.Store, keyPath, cfg.Import.Rejects, usersPath, filepath.Join(*dir, demoEncryptionKey))
	fmt.Fprintf(out, "Next: run the sandbox, import, tenant setup, serve and sign-ins as separate processes (README, \"Password migration at sign-in\").\n")
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

// Files of the demo's password-migration steps, in its directory.
const (
	demoEncryptionKey = "encryption-key.pem" // tenant setup's private key and certificate: serve decrypts with it
	demoTLSCert       = "serve-tls.crt"      // serve's TLS certificate, trusted by the sandbox's sign-in simulator
	demoTLSKey        = "serve-tls.key"
	// demoTimeout is the extension's timeoutInMilliseconds and serve's budget: Entra's largest, so that the demo
	// holds on a busy machine.
	demoTimeout = 2 * time.Second
)

// demoAccount is an imported test account with its known legacy password (examples/passwords.txt).
type demoAccount struct{ legacyID, email, password string }

// demoServe configures the sandbox tenant for password migration (6. tenant setup, through Graph) and starts
// `idshift serve` in-process over cfg's store (7.), as the commands do; tweak, when not nil, adjusts serve's
// configuration before it starts. The function it returns ends serve and waits for it.
func demoServe(ctx context.Context, out io.Writer, env *Env, cfg *Config, srv *sandbox.Server, port int, dir string, logger *slog.Logger, tweak func(*ServeConfig)) (func(), error) {
	// 6. tenant setup, through Graph, against the sandbox.
	target := fmt.Sprintf("https://127.0.0.1:%d/entra", port)
	keyFile := filepath.Join(dir, demoEncryptionKey)
	pool, err := openDirectory(ctx, cfg, env, logger)
	if err != nil {
		return nil, err
	}
	res, err := tenant.Setup(ctx, pool.Clients()[0], tenant.Config{
		ExtensionsAppID:    cfg.Tenant.ExtensionsAppID,
		MigrationAttribute: cfg.Import.MigrationAttribute, LegacyIDAttribute: cfg.Import.LegacyIDAttribute,
		TargetURL: target, Timeout: demoTimeout, KeyOut: keyFile, Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("tenant setup: %w", err)
	}
	if len(res.Pending) > 0 {
		return nil, fmt.Errorf("tenant setup left something to do: %v", res.Pending[0])
	}
	fmt.Fprintf(out, "6. Tenant setup (%d Graph requests): extension app %s (resource %s), its encryption certificate, the OnPasswordSubmit extension and listener calling %s\n",
		len(res.Requests), res.AppID, res.ResourceID, target)

	// 7. idshift serve, in-process, as the command runs it.
	scfg := defaultServeConfig()
	scfg.Store = cfg.Store
	scfg.Listen.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	scfg.Listen.Admin = ""
	scfg.Listen.TLSCert, scfg.Listen.TLSKey = filepath.Join(dir, demoTLSCert), filepath.Join(dir, demoTLSKey)
	scfg.Listen.ShutdownGrace = 2 * time.Second
	scfg.Entra.Authority = srv.ExternalAuthority()
	scfg.Entra.Audiences = res.AppID + "," + res.ResourceID
	scfg.Entra.DecryptionCerts, scfg.Entra.DecryptionKeys = keyFile, keyFile
	scfg.Entra.CAFile = cfg.Tenant.CAFile
	scfg.Decision.Timeout = demoTimeout
	if tweak != nil {
		tweak(scfg)
	}
	if err := scfg.validate(); err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	started := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serveWith(sctx, env, scfg, logger, func(pub, _ net.Addr) { started <- pub }) }()
	var once sync.Once
	end := func() {
		once.Do(func() {
			stop()
			if err := <-done; err != nil {
				logger.Error("idshift serve", "err", err)
			}
		})
	}
	select {
	case <-started:
	case err := <-done:
		stop()
		return nil, fmt.Errorf("idshift serve: %w", err)
	case <-ctx.Done():
		end()
		return nil, ctx.Err()
	}
	fmt.Fprintf(out, "7. idshift serve listening at %s (TLS; legacy hashes from %s; callouts checked against %s)\n",
		target, cfg.Store, scfg.Entra.Authority)
	return end, nil
}

// demoSignIns configures the sandbox tenant for password migration at sign-in (tenant setup), starts the
// password-migration service in-process through serve's own code path, and signs test accounts in through the
// sandbox's simulator, as Entra would. It prints one line per step and returns an error when a sign-in does not
// end as password migration must: the right legacy password migrates (and the next sign-in needs no callout), a
// wrong one is refused, repeated wrong ones are blocked.
func demoSignIns(ctx context.Context, out io.Writer, env *Env, cfg *Config, srv *sandbox.Server, port int, dir string, logger *slog.Logger) error {
	accounts, err := demoAccounts(2)
	if err != nil {
		return err
	}
	stop, err := demoServe(ctx, out, env, cfg, srv, port, dir, logger, nil)
	if err != nil {
		return err
	}
	defer stop()

	// 8–11. Sign-ins through the simulator: a flagged account whose password does not match has the extension
	// called, which serve answers from the legacy hash.
	var wrong []string
	signIn := func(step string, a demoAccount, password, clientIP string, want sandbox.SignInOutcome, wantCallout bool) {
		r, err := srv.SignIn(ctx, sandbox.SignInRequest{User: a.email, Password: password, ClientIP: clientIP})
		if err != nil {
			wrong = append(wrong, fmt.Sprintf("%s: %v", a.email, err))
			return
		}
		fmt.Fprintf(out, "%s %s\n", step, signInLine(a.email, r))
		if r.Outcome != want || r.ExtensionCalled != wantCallout {
			wrong = append(wrong, fmt.Sprintf("%s: %s (extension called: %v), want %s (extension called: %v)",
				a.email, r.Outcome, r.ExtensionCalled, want, wantCallout))
		}
	}
	a, b := accounts[0], accounts[1]
	signIn("8. Right legacy password:", a, a.password, "", sandbox.SignInMigrated, true)
	callouts := srv.Tenant.Stats().Callouts
	signIn("9. The same password again:", a, a.password, "", sandbox.SignInSuccess, false)
	if n := srv.Tenant.Stats().Callouts; n != callouts {
		wrong = append(wrong, fmt.Sprintf("the second sign-in of %s called the extension", a.email))
	}
	signIn("10. Wrong password:", b, b.password+"-typo", "", sandbox.SignInWrongPassword, true)
	// The guard locks an (account, address) pair at its 5th failure (docs/guard.md); that failure is still
	// answered as a wrong password, the next attempts are blocked without any legacy check.
	refused := 0
	for range 4 {
		r, err := srv.SignIn(ctx, sandbox.SignInRequest{User: b.email, Password: b.password + "-typo"})
		if err == nil && r.Outcome == sandbox.SignInWrongPassword && r.ExtensionCalled {
			refused++
		}
	}
	fmt.Fprintf(out, "11. 4 more wrong passwords: %d refused (wrong_password); the 5th failure locks %s from this address\n", refused, b.email)
	if refused != 4 {
		wrong = append(wrong, fmt.Sprintf("%s: %d of 4 more wrong passwords refused as wrong", b.email, refused))
	}
	signIn("12. A 6th wrong password:", b, b.password+"-typo", "", sandbox.SignInBlocked, true)
	signIn("13. The right password, same address:", b, b.password, "", sandbox.SignInBlocked, true)
	signIn("14. The right password, another address:", b, b.password, "198.51.100.7", sandbox.SignInMigrated, true)
	if len(wrong) > 0 {
		return fmt.Errorf("unexpected sign-in outcomes: %s", strings.Join(wrong, "; "))
	}
	return nil
}

// demoAccounts returns n test accounts of examples/users.csv with an email address, a PBKDF2 hash (cheap enough
// to keep the demo fast on any machine) and a known password in examples/passwords.txt that the tenant accepts
// (a weak one would be migrated as "must reset").
func demoAccounts(n int) ([]demoAccount, error) {
	passwords, err := examples.FS.ReadFile("passwords.txt")
	if err != nil {
		return nil, err
	}
	known := map[string]string{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(passwords))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if id, pw, ok := strings.Cut(line, "\t"); ok {
			known[id] = pw
			order = append(order, id)
		}
	}
	users, err := examples.FS.ReadFile("users.csv")
	if err != nil {
		return nil, err
	}
	// The example file has bad rows on purpose: they are skipped here as the import rejects them.
	cr := csv.NewReader(bytes.NewReader(users))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("examples/users.csv: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	byID := map[string][]string{}
	for {
		r, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err == nil && len(r) == len(header) {
			byID[r[col["legacy_id"]]] = r
		}
	}
	var out []demoAccount
	for _, id := range order {
		r := byID[id]
		if r == nil || r[col["email"]] == "" || !strings.HasPrefix(r[col["password_hash"]], "$pbkdf2-sha256$") || !demoStrong(known[id]) {
			continue
		}
		out = append(out, demoAccount{legacyID: id, email: r[col["email"]], password: known[id]})
		if len(out) == n {
			return out, nil
		}
	}
	return nil, fmt.Errorf("examples/users.csv: fewer than %d test accounts with an email and a PBKDF2 hash in examples/passwords.txt", n)
}

// writeDemoTLS writes a self-signed certificate for 127.0.0.1 and its key to dir (demoTLSCert, demoTLSKey) and
// returns a pool that trusts it.
func writeDemoTLS(dir string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "idshift demo serve"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, demoTLSCert), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, demoTLSKey), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}

// freeLoopbackPort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// demoStrong reports whether the tenant takes a password under the strong policy (docs/contracts.md §8.1).
func demoStrong(pw string) bool { return graph.PasswordProblem(pw, true) == "" }
