package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/idshift/idshift/sandbox"
)

// appFlags collects repeated --app CLIENT_ID:SECRET[:ROLE,ROLE...] values.
type appFlags []sandbox.App

func (a *appFlags) String() string {
	ids := make([]string, len(*a))
	for i, app := range *a {
		ids[i] = app.ClientID
	}
	return strings.Join(ids, ",")
}

func (a *appFlags) Set(v string) error {
	id, rest, ok := strings.Cut(v, ":")
	if !ok || id == "" || rest == "" {
		return errors.New("want CLIENT_ID:SECRET[:ROLE,ROLE...]")
	}
	app := sandbox.App{ClientID: id, Secret: rest}
	if secret, roles, ok := strings.Cut(rest, ":"); ok {
		app.Secret = secret
		for _, r := range strings.Split(roles, ",") {
			if r = strings.TrimSpace(r); r != "" {
				app.Roles = append(app.Roles, r)
			}
		}
	}
	*a = append(*a, app)
	return nil
}

// runSandbox runs the local External ID sandbox tenant over HTTPS until ctx ends, or, as "sandbox users",
// lists the users of a running sandbox.
var sandboxHelp = help{
	usage: "idshift sandbox [flags]\n       idshift sandbox users [--url URL] [--ca FILE] [--list]\n       idshift sandbox signin --user NAME --password PASSWORD [--url URL] [--ca-file FILE]",
	about: `Runs a local emulator of an Entra External ID tenant (Microsoft Graph subset, token endpoint, the external
tenant's issuer and a sign-in simulator that calls the OnPasswordSubmit extension as Entra does) over HTTPS, and
prints the variables that point 'idshift import', 'tenant setup' and 'serve' at it. Its limits are Graph's
documented ones unless changed.`,
	examples: []example{
		{"a tenant for rehearsals; writes its CA certificate to ./sandbox-ca.pem", "idshift sandbox --listen 127.0.0.1:8443 --ca-out sandbox-ca.pem"},
		{"no throttling, and the tenant kept in a file between runs", "idshift sandbox --no-throttle --state sandbox-state.json"},
		{"a flaky tenant: 5% of answers lost after the write, 2% throttled", "idshift sandbox --fault-commit-then-fail 0.05 --fault-throttle 0.02"},
	},
	groups: []flagGroup{
		{"Server", []string{"listen", "ca-out", "state", "callout-ca", "v"}},
		{"Tenant and credentials", []string{"tenant-id", "domain", "app", "quota"}},
		{"Limits", []string{"app-writes", "app-window", "tenant-writes", "tenant-window", "resource-units", "no-throttle"}},
		{"Faults", []string{"fault-throttle", "fault-500", "fault-503", "fault-503-no-retry-after", "fault-slow",
			"fault-slow-delay", "fault-reset", "fault-commit-then-fail", "fault-seed"}},
	},
}

func runSandbox(ctx context.Context, env *Env, args []string) (int, error) {
	if len(args) > 0 && args[0] == "users" {
		return runSandboxUsers(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "signin" {
		return runSandboxSignIn(ctx, env, args[1:])
	}
	fs := newFlagSet(env, "sandbox")
	sandboxHelp.install(fs)
	var (
		apps         appFlags
		listen       = fs.String("listen", "127.0.0.1:8443", "address to serve HTTPS on")
		caOut        = fs.String("ca-out", "./sandbox-ca.pem", "file to write the generated CA certificate to (PEM)")
		tenantID     = fs.String("tenant-id", sandbox.DefaultTenantID, "tenant id (GUID)")
		domain       = fs.String("domain", sandbox.DefaultDomain, "tenant domain (issuer of local identities)")
		quota        = fs.Int("quota", 300000, "directory object quota")
		appWrites    = fs.Int("app-writes", 3000, "writes per --app-window per app")
		appWindow    = fs.Duration("app-window", 150*time.Second, "window of --app-writes")
		tenantWrites = fs.Int("tenant-writes", 18000, "writes per --tenant-window across apps")
		tenantWindow = fs.Duration("tenant-window", 300*time.Second, "window of --tenant-writes")
		ru           = fs.Int("resource-units", 0, "resource units per 10s per app (0 unlimited, -1 Microsoft's figures by tenant size)")
		noThrottle   = fs.Bool("no-throttle", false, "disable write and resource-unit throttling")
		fThrottle    = fs.Float64("fault-throttle", 0, "probability of a 429 below the limits")
		f500         = fs.Float64("fault-500", 0, "probability of a 500")
		f503         = fs.Float64("fault-503", 0, "probability of a 503")
		f503NoRA     = fs.Bool("fault-503-no-retry-after", false, "send injected 503s without Retry-After")
		fSlow        = fs.Float64("fault-slow", 0, "probability of a delayed answer")
		fSlowDelay   = fs.Duration("fault-slow-delay", 2*time.Second, "delay of a slow answer")
		fReset       = fs.Float64("fault-reset", 0, "probability of a connection reset before anything is written")
		fCommit      = fs.Float64("fault-commit-then-fail", 0, "probability that a request is served and its answer dropped")
		fSeed        = fs.Int64("fault-seed", 1, "seed of the fault generator")
		state        = fs.String("state", "", "JSON file to load the tenant from and save it to")
		verbose      = fs.Bool("v", false, "log every Graph request (method, path, app, status; never bodies or tokens)")
		calloutCA    = fs.String("callout-ca", "", "PEM file of CA certificates trusted, besides the system's, when the sign-in simulator calls an extension")
	)
	fs.Var(&apps, "app", "application CLIENT_ID:SECRET[:ROLE,ROLE...] allowed to get tokens (repeatable; default "+sandbox.DefaultClientID+":"+sandbox.DefaultClientSecret+")")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if fs.NArg() > 0 {
		return 2, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := sandbox.Config{
		TenantID: *tenantID, Domain: *domain, Apps: apps,
		Limits: sandbox.Limits{AppWrites: *appWrites, AppWindow: *appWindow, TenantWrites: *tenantWrites,
			TenantWindow: *tenantWindow, Quota: *quota, ResourceUnits: *ru},
		Faults: sandbox.Faults{Throttle: *fThrottle, Error500: *f500, Error503: *f503, Error503NoRetryAfter: *f503NoRA,
			Slow: *fSlow, SlowDelay: *fSlowDelay, Reset: *fReset, CommitThenFail: *fCommit, Seed: *fSeed},
		DisableThrottling: *noThrottle,
		StatePath:         *state,
		Logger:            logger,
	}
	if len(cfg.Apps) == 0 {
		cfg.Apps = []sandbox.App{{ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret}}
	}
	if *calloutCA != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(*calloutCA)
		if err != nil {
			return 2, fmt.Errorf("--callout-ca: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return 2, fmt.Errorf("--callout-ca: no certificate in %s", *calloutCA)
		}
		cfg.CalloutRootCAs = pool
	}
	srv, err := sandbox.Start(cfg, *listen)
	if err != nil {
		return 1, err
	}
	if err := srv.WriteCA(*caOut); err != nil {
		_ = srv.Close()
		return 1, err
	}
	tn := srv.Tenant
	w := env.Stdout
	fmt.Fprintf(w, "idshift sandbox tenant listening on %s\n", srv.URL)
	fmt.Fprintf(w, "  tenant id:        %s\n", tn.TenantID())
	fmt.Fprintf(w, "  domain:           %s\n", tn.Domain())
	fmt.Fprintf(w, "  authority host:   %s\n", srv.AuthorityHost)
	fmt.Fprintf(w, "  graph:            %s/v1.0\n", srv.URL)
	for _, a := range cfg.Apps {
		fmt.Fprintf(w, "  app (client id):  %s\n", a.ClientID)
	}
	fmt.Fprintf(w, "  extensions app:   %s (object id %s; attributes extension_%s_NAME)\n",
		tn.ExtensionsAppID(), tn.ExtensionsAppObjectID(), tn.ExtensionsAppIDNoDashes())
	fmt.Fprintf(w, "  external issuer:  %s (tokens sent to extensions; authority %s)\n", srv.ExternalIssuer(), srv.ExternalAuthority())
	fmt.Fprintf(w, "  CA certificate:   %s\n", *caOut)
	fmt.Fprintf(w, "  sign-in:          POST %s/_sandbox/signin, or idshift sandbox signin --url %s --user NAME --password PASSWORD\n", srv.URL, srv.URL)
	fmt.Fprintf(w, "  inspection:       %s/_sandbox/users  %s/_sandbox/stats (no authentication)\n\n", srv.URL, srv.URL)
	fmt.Fprintln(w, "# environment for idshift and azidentity (the secret is the sandbox's own; the authority is serve's):")
	fmt.Fprintf(w, "export AZURE_TENANT_ID=%s\n", tn.TenantID())
	fmt.Fprintf(w, "export AZURE_CLIENT_ID=%s\n", cfg.Apps[0].ClientID)
	fmt.Fprintf(w, "export AZURE_CLIENT_SECRET=%s\n", cfg.Apps[0].Secret)
	fmt.Fprintf(w, "export AZURE_AUTHORITY_HOST=%s\n", srv.AuthorityHost)
	fmt.Fprintf(w, "export IDSHIFT_GRAPH_URL=%s\n", srv.URL)
	fmt.Fprintf(w, "export IDSHIFT_ENTRA_AUTHORITY=%s\n", srv.ExternalAuthority())
	fmt.Fprintf(w, "export IDSHIFT_TENANT_DOMAIN=%s\n", tn.Domain())
	fmt.Fprintf(w, "export SSL_CERT_FILE=%s\n", *caOut)

	<-ctx.Done()
	st := tn.Stats()
	logger.Info("sandbox stopping", "users", st.Users, "requests", st.Requests, "writes", st.Writes, "throttled", st.Throttled)
	if err := srv.Close(); err != nil {
		return 1, err
	}
	return 0, nil
}

// runSandboxUsers prints the number of users of a running sandbox, or all of them as JSON lines with --list.
func runSandboxUsers(ctx context.Context, env *Env, args []string) (int, error) {
	fs := newFlagSet(env, "sandbox users")
	help{
		usage: "idshift sandbox users [--url URL] [--ca FILE] [--list]",
		about: "Prints the number of users of a running sandbox tenant, or every user as a JSON line with --list.",
		examples: []example{
			{"how many users did the import create?", "idshift sandbox users --ca sandbox-ca.pem"},
			{"every user, one JSON line each", "idshift sandbox users --ca sandbox-ca.pem --list"},
		},
	}.install(fs)
	url := fs.String("url", "https://127.0.0.1:8443", "URL of the running sandbox")
	ca := fs.String("ca", "./sandbox-ca.pem", "CA certificate of the sandbox (PEM)")
	list := fs.Bool("list", false, "print every user as a JSON line instead of the count")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	pem, err := os.ReadFile(*ca)
	if err != nil {
		return 1, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return 1, fmt.Errorf("no certificate in %s", *ca)
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	target := strings.TrimSuffix(*url, "/") + "/_sandbox/users"
	if *list {
		target += "?format=lines"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 1, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 1, fmt.Errorf("get users: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1, fmt.Errorf("get users: status %s", resp.Status)
	}
	if *list {
		if _, err := io.Copy(env.Stdout, resp.Body); err != nil {
			return 1, fmt.Errorf("get users: %w", err)
		}
		return 0, nil
	}
	var body struct {
		Count int `json:"count"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 1, fmt.Errorf("decode users: %w", err)
	}
	fmt.Fprintln(env.Stdout, body.Count)
	return 0, nil
}

// runSandboxSignIn signs a user in through a running sandbox's simulator (POST /_sandbox/signin) and prints the
// outcome in one line. Exit status: 0 signed in (success or migrated), 3 refused (wrong password, blocked, must
// reset, unknown user, disabled) or failed by the extension (error), 1 the sandbox could not be asked, 2 bad flags.
func runSandboxSignIn(ctx context.Context, env *Env, args []string) (int, error) {
	fs := newFlagSet(env, "sandbox signin")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: idshift sandbox signin --user NAME --password PASSWORD [flags]

Signs a user in through a running sandbox as Entra External ID does: a flagged account whose password does not
match has the OnPasswordSubmit extension called. Prints the outcome in one line (--json: the whole result).

Examples:
  idshift sandbox signin --user ada@example.com --password 'Legacy!Pass1'
  idshift sandbox signin --user ada@example.com --password-stdin --json < password.txt

Exit status: 0 signed in (success, migrated); 3 refused or failed; 1 the sandbox could not be asked; 2 bad flags.

Flags:`)
		fs.PrintDefaults()
	}
	var (
		user     = fs.String("user", "", "sign-in name (email address or user name of a local identity)")
		password = fs.String("password", "", "password typed by the user")
		pwStdin  = fs.Bool("password-stdin", false, "read the password from standard input (first line)")
		target   = fs.String("url", "https://127.0.0.1:8443", "URL of the running sandbox")
		caFile   = fs.String("ca-file", "./sandbox-ca.pem", "CA certificate of the sandbox (PEM)")
		clientIP = fs.String("client-ip", "", "the user's IP address sent to the extension (default 127.0.0.1)")
		appID    = fs.String("app-id", "", "client application signed in to (default: any listener's)")
		asJSON   = fs.Bool("json", false, "print the whole result as JSON")
	)
	fs.StringVar(caFile, "ca", "./sandbox-ca.pem", "same as --ca-file")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if fs.NArg() > 0 {
		return 2, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *pwStdin {
		b, err := io.ReadAll(io.LimitReader(env.Stdin, 4096))
		if err != nil {
			return 1, fmt.Errorf("read password: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		*password = strings.TrimSuffix(line, "\r")
	}
	if *user == "" || *password == "" {
		return 2, errors.New("--user and --password (or --password-stdin) are required")
	}
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		return 1, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return 1, fmt.Errorf("no certificate in %s", *caFile)
	}
	body, err := json.Marshal(sandbox.SignInRequest{User: *user, Password: *password, ClientIP: *clientIP, AppID: *appID})
	if err != nil {
		return 1, err
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(*target, "/")+"/_sandbox/signin", bytes.NewReader(body))
	if err != nil {
		return 1, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 1, fmt.Errorf("sign in: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 1, fmt.Errorf("sign in: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 1, fmt.Errorf("sign in: status %s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	var res sandbox.SignInResult
	if err := json.Unmarshal(raw, &res); err != nil || res.Outcome == "" {
		return 1, fmt.Errorf("sign in: the answer is not a sign-in result")
	}
	if *asJSON {
		fmt.Fprintln(env.Stdout, strings.TrimSpace(string(raw)))
	} else {
		fmt.Fprintln(env.Stdout, signInLine(*user, res))
	}
	if res.Outcome.Succeeded() {
		return 0, nil
	}
	return 3, nil
}

// signInLine is the one-line summary of a sign-in: "migrated ada@example.com: extension called (1 attempt): …".
func signInLine(user string, res sandbox.SignInResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", res.Outcome, user)
	if res.Code != "" {
		fmt.Fprintf(&b, " [%s]", res.Code)
	}
	if res.ExtensionCalled {
		plural := "s"
		if res.Attempts == 1 {
			plural = ""
		}
		fmt.Fprintf(&b, ": extension called (%d attempt%s)", res.Attempts, plural)
	} else {
		b.WriteString(": no extension call")
	}
	if res.Title != "" {
		fmt.Fprintf(&b, ": %s", res.Title)
	}
	if res.Message != "" {
		fmt.Fprintf(&b, ": %s", res.Message)
	}
	return b.String()
}
