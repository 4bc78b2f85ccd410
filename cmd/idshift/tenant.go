package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/importer"
	"github.com/idshift/idshift/store/sqlite"
	"github.com/idshift/idshift/tenant"
)

// exitPending is the status of `tenant setup` and `tenant check` when something is left to do by hand (an admin
// consent, a key file) or missing.
const exitPending = 3

const tenantUsage = `Usage: idshift tenant <setup | check | rotate-key | remove-key> [flags]

Configure the External ID tenant for password migration at sign-in (docs/tenant.md):

  idshift tenant setup --target-url https://migrate.contoso.com/entra --key-out encryption-key.pem
  idshift tenant setup --dry-run --target-url https://migrate.contoso.com/entra   # print the requests only
  idshift tenant check --key-file encryption-key.pem
  idshift tenant rotate-key --key-out encryption-key-2.pem
  idshift tenant remove-key --key-id {old keyId}

setup    creates what is missing, idempotently: the migration's extension attributes, the extension's app
         registration (api://{host of the target URL}/{appId}), its service principal and consent to
         CustomAuthenticationExtension.Receive.Payload, an encryption certificate (private key to --key-out,
         mode 0600), the onPasswordSubmitCustomExtension and its listener
check    verifies each piece and prints what is missing and how to fix it (exit 3 when something is)
rotate-key  adds a new encryption certificate and makes Entra use it; the old one stays until remove-key
remove-key  removes one certificate (never the current one)

Credentials and tenant settings are those of idshift import (AZURE_*, IDSHIFT_GRAPH_URL, IDSHIFT_CA_FILE,
--config with its tenant: section). Run 'idshift tenant <subcommand> -h' for every flag.
`

func runTenant(ctx context.Context, env *Env, args []string) (int, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stdout, tenantUsage)
		if len(args) == 0 {
			return exitUsage, nil
		}
		return exitComplete, nil
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "setup", "check", "rotate-key", "remove-key":
	default:
		fmt.Fprint(env.Stderr, tenantUsage)
		return exitUsage, fmt.Errorf("unknown subcommand %q", sub)
	}
	t, err := parseTenantFlags(env, sub, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitComplete, err
		}
		return exitUsage, err
	}
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	pool, err := openDirectory(ctx, t.cfg, env, logger)
	if err != nil {
		return exitFailed, err
	}
	c := pool.Clients()[0]
	t.tc.Logger = logger
	switch sub {
	case "setup":
		res, err := tenant.Setup(ctx, c, t.tc)
		if err != nil {
			return exitFailed, err
		}
		return t.printResult(env, res), nil
	case "rotate-key":
		res, err := tenant.RotateKey(ctx, c, t.tc)
		if err != nil {
			return exitFailed, err
		}
		return t.printResult(env, res), nil
	case "remove-key":
		if t.keyID == "" {
			return exitUsage, errors.New("--key-id: required (the keyId of the certificate to remove; `idshift tenant check` shows the current one)")
		}
		res, err := tenant.RemoveKey(ctx, c, t.tc, t.keyID)
		if err != nil {
			return exitFailed, err
		}
		return t.printResult(env, res), nil
	}
	findings, err := tenant.Check(ctx, c, t.tc)
	if t.json {
		b, _ := json.MarshalIndent(findings, "", "  ")
		fmt.Fprintln(env.Stdout, string(b))
	} else {
		for _, f := range findings {
			fmt.Fprintln(env.Stdout, f)
		}
	}
	if err != nil {
		return exitFailed, err
	}
	for _, f := range findings {
		if !f.OK {
			return exitPending, nil
		}
	}
	return exitComplete, nil
}

type tenantFlags struct {
	cfg   *Config
	tc    tenant.Config
	keyID string
	json  bool
}

// parseTenantFlags reads the tenant's connection settings as import does (flag > environment > file) and the
// subcommand's own flags.
func parseTenantFlags(env *Env, sub string, args []string) (*tenantFlags, error) {
	cfg := defaultConfig()
	if path := configFlag(args, env.Getenv); path != "" {
		if err := loadConfigFile(path, cfg); err != nil {
			return nil, err
		}
	}
	var bs []binding
	for _, b := range cfg.bindings() {
		if strings.HasPrefix(b.key, "tenant.") || b.key == "import.migration_attribute" || b.key == "import.legacy_id_attribute" || b.key == "import.consent" {
			bs = append(bs, b)
		}
	}
	if err := applyBindingsEnv(bs, env.Getenv, cfg.origin); err != nil {
		return nil, err
	}
	fs := newFlagSet(env, "tenant "+sub)
	tenantHelp(sub).install(fs)
	fs.String("config", "", "YAML configuration file, as for import ($IDSHIFT_CONFIG)")
	registerBindings(fs, bs)
	t := &tenantFlags{cfg: cfg}
	var (
		clientID     = fs.String("client-id", env.Getenv("AZURE_CLIENT_ID"), "app registration's client id ($AZURE_CLIENT_ID)")
		clientSecret = fs.String("client-secret", "", "client secret (prefer $AZURE_CLIENT_SECRET: flags show in process lists)")
		clientCert   = fs.String("client-certificate", env.Getenv("AZURE_CLIENT_CERTIFICATE_PATH"), "client certificate, PEM or PKCS#12 ($AZURE_CLIENT_CERTIFICATE_PATH)")
		target       = fs.String("target-url", env.Getenv("IDSHIFT_TARGET_URL"), "https URL Entra calls: idshift serve's Entra front ($IDSHIFT_TARGET_URL)")
		appName      = fs.String("app-name", tenant.DefaultAppDisplayName, "display name of the extension's app registration (and of the custom extension)")
		timeoutMS    = fs.Int("timeout-ms", int(tenant.DefaultTimeout/time.Millisecond), "how long Entra waits for the service, 200 to 2000 ms")
		keyOut       = fs.String("key-out", "", "file the new private key is written to (PEM, mode 0600, never overwritten)")
		dryRun       = fs.Bool("dry-run", false, "print the requests that would be sent; write nothing")
		clientApps   stringList
		keyFiles     stringList
	)
	fs.Var(&clientApps, "client-app", "appId of a client application whose sign-ins migrate passwords (repeat; default all applications)")
	fs.Var(&keyFiles, "key-file", "private key file of the service, compared with the uploaded certificate (repeat; default --key-out)")
	fs.StringVar(&t.keyID, "key-id", "", "remove-key: the keyId of the certificate to remove")
	fs.BoolVar(&t.json, "json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *clientSecret == "" {
		*clientSecret = env.Getenv("AZURE_CLIENT_SECRET")
	}
	if len(cfg.Tenant.Apps) == 0 && *clientID != "" {
		cfg.Tenant.Apps = []AppConfig{{ClientID: *clientID, ClientSecret: *clientSecret, CertificatePath: *clientCert}}
	}
	for i, a := range cfg.Tenant.Apps {
		if a.ClientID == "" {
			return nil, fmt.Errorf("config: tenant.apps[%d].client_id: required", i)
		}
	}
	switch {
	case *keyOut == "" && sub == "setup":
		*keyOut = "idshift-encryption-key.pem"
	case *keyOut == "" && sub == "rotate-key":
		*keyOut = "idshift-encryption-key-" + time.Now().UTC().Format("20060102-150405") + ".pem"
	}
	t.tc = tenant.Config{
		ExtensionsAppID:    cfg.Tenant.ExtensionsAppID,
		MigrationAttribute: cfg.Import.MigrationAttribute, LegacyIDAttribute: cfg.Import.LegacyIDAttribute,
		TargetURL: *target, AppDisplayName: *appName, ClientAppIDs: clientApps,
		Timeout: time.Duration(*timeoutMS) * time.Millisecond, KeyOut: *keyOut, KeyFiles: keyFiles, DryRun: *dryRun,
	}
	if cfg.Import.Consent {
		t.tc.Attributes = consentAttributes()
	}
	return t, nil
}

// printResult prints what setup, rotate-key or remove-key did and returns the exit status.
func (t *tenantFlags) printResult(env *Env, res *tenant.Result) int {
	code := exitComplete
	if len(res.Pending) > 0 {
		code = exitPending
	}
	if t.json {
		b, _ := json.MarshalIndent(struct {
			*tenant.Result
			DryRun bool `json:"dryRun"`
		}{res, t.tc.DryRun}, "", "  ")
		fmt.Fprintln(env.Stdout, string(b))
		return code
	}
	w := env.Stdout
	switch {
	case t.tc.DryRun && !res.Changed():
		fmt.Fprintln(w, "dry run: the tenant already matches; nothing would be sent")
	case t.tc.DryRun:
		fmt.Fprintf(w, "dry run: %d requests would be sent (nothing was written):\n\n", len(res.Requests))
		for _, r := range res.Requests {
			fmt.Fprintf(w, "%s\n\n", r)
		}
	case !res.Changed():
		fmt.Fprintln(w, "the tenant already matches: nothing to do")
	default:
		for _, r := range res.Requests {
			fmt.Fprintf(w, "%s %s\n", r.Method, r.Path)
		}
	}
	if res.AppID != "" {
		fmt.Fprintf(w, "extension app        %s (resource %s)\n", res.AppID, res.ResourceID)
	}
	if res.ExtensionID != "" {
		fmt.Fprintf(w, "custom extension     %s\nlistener             %s (migrationPropertyId %s)\n", res.ExtensionID, res.ListenerID, res.MigrationPropertyID)
	}
	if res.KeyID != "" {
		fmt.Fprintf(w, "encryption key       %s\n", res.KeyID)
	}
	if res.KeyPath != "" {
		fmt.Fprintf(w, "private key written  %s (mode 0600): give it to idshift serve, keep it out of version control\n", res.KeyPath)
	}
	for _, f := range res.Pending {
		fmt.Fprintln(w, f)
	}
	return code
}

// stringList is a repeatable flag; a value may also hold a comma-separated list.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*s = append(*s, x)
		}
	}
	return nil
}

// checkImportQuota stops an import before it creates anyone when its planned creates exceed the room left in the
// tenant's directory quota (docs/contracts.md §5.1). When the quota cannot be read (no Organization.Read.All) it
// says so and lets the import go on. The planned creates are bounded first by the source's line count; only when
// that bound does not fit is the source planned once more without writing (a dry run against the state store,
// which knows who was created already) to count them exactly.
func checkImportQuota(ctx context.Context, pool *graph.Pool, icfg importer.Config, src sourceSpec, more []sourceSpec, seenDir string, logger *slog.Logger) error {
	q, err := tenant.ReadQuota(ctx, pool)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		logger.Warn("the directory quota was not checked; the import goes on", "reason", err)
		return nil
	}
	logger.Info("directory quota", "used", q.Used, "total", q.Total, "remaining", q.Remaining())
	all := append([]sourceSpec{src}, more...)
	var n int64
	for _, s := range all {
		c := s.count()
		if c <= 0 {
			n = 0
			break
		}
		n += c
	}
	if n > 0 && n <= q.Remaining() {
		return nil
	}
	for _, s := range all {
		if s.Path == "" || s.Path == "-" {
			logger.Warn("the directory quota was not compared with the import: a stream from stdin cannot be planned twice", "remaining", q.Remaining())
			return nil
		}
	}
	var opened []idshift.Source
	defer func() {
		for _, s := range opened {
			s.Close()
		}
	}()
	for _, spec := range all {
		s, err := spec.Open()
		if err != nil {
			return err
		}
		opened = append(opened, s)
	}
	seen, err := sqlite.OpenSeen(ctx, seenDir)
	if err != nil {
		return err
	}
	defer seen.Close()
	icfg.Source, icfg.Sources, icfg.Seen = opened[0], opened[1:], seen
	icfg.DryRun, icfg.DryRunOut, icfg.Rejects = true, io.Discard, io.Discard
	icfg.Logger = slog.New(slog.DiscardHandler)
	im, err := importer.New(icfg)
	if err != nil {
		return err
	}
	sum, err := im.Run(ctx)
	if err != nil {
		return fmt.Errorf("planning the import against the directory quota: %w", err)
	}
	logger.Info("planned creates", "users", sum.Created, "remaining", q.Remaining())
	return q.Check(sum.Created)
}

// tenantHelp is the -h of one tenant subcommand: what it does, examples, and the flags by purpose.
func tenantHelp(sub string) help {
	h := help{usage: "idshift tenant " + sub + " [flags]"}
	switch sub {
	case "setup":
		h.about = `Creates, idempotently, everything the tenant needs for password migration at sign-in: the migration's
extension attributes, the extension's app registration (identifierUris api://{host of the target URL}/{appId}),
an encryption certificate (its private key written to --key-out, mode 0600; the certificate merged into the app's
keyCredentials), the OnPasswordSubmit custom extension and its listener. A second run changes nothing.`
		h.examples = []example{
			{"print every request first, write nothing", "idshift tenant setup --dry-run --target-url https://migrate.contoso.com/entra"},
			{"then for real, for one client application", "idshift tenant setup --target-url https://migrate.contoso.com/entra --client-app $APP_ID --key-out extension-key.pem"},
		}
	case "check":
		h.about = "Verifies every piece tenant setup creates (and the consent to CustomAuthenticationExtension.Receive.Payload),\nand prints what is missing and how to fix it. Exit status 3 when something is missing."
		h.examples = []example{
			{"check the tenant and that the service's key matches the uploaded certificate", "idshift tenant check --target-url https://migrate.contoso.com/entra --key-file extension-key.pem"},
			{"the same as JSON", "idshift tenant check --target-url https://migrate.contoso.com/entra --json"},
		}
	case "rotate-key":
		h.about = "Adds a new encryption certificate and makes it the one Entra encrypts to (tokenEncryptionKeyId); the old one\nstays until remove-key. Give serve both keys during the switch."
		h.examples = []example{
			{"rotate", "idshift tenant rotate-key --target-url https://migrate.contoso.com/entra --key-out extension-key-2.pem"},
			{"see the requests first", "idshift tenant rotate-key --dry-run --target-url https://migrate.contoso.com/entra"},
		}
	default:
		h.about = "Removes one encryption certificate from the extension's app registration (never the current one)."
		h.examples = []example{
			{"remove an old certificate by its keyId", "idshift tenant remove-key --target-url https://migrate.contoso.com/entra --key-id $OLD_KEY_ID"},
			{"see the request first", "idshift tenant remove-key --dry-run --target-url https://migrate.contoso.com/entra --key-id $OLD_KEY_ID"},
		}
	}
	h.groups = []flagGroup{
		{"The extension", []string{"target-url", "app-name", "client-app", "timeout-ms", "key-out", "key-file", "key-id", "dry-run", "json"}},
		{"Tenant and credentials", []string{"config", "domain", "tenant-id", "client-id", "client-secret", "client-certificate",
			"graph-url", "authority-host", "ca-file", "extensions-app-id", "migration-attribute", "legacy-id-attribute", "consent"}},
		{"Limits (writes to the tenant)", []string{"app-writes", "app-window", "tenant-writes", "tenant-window"}},
	}
	return h
}
