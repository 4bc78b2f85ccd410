package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/report"
	"github.com/idshift/idshift/store"
	"github.com/idshift/idshift/store/sqlite"
	"github.com/idshift/idshift/tenant"
)

var statusHelp = help{
	usage: "idshift status [flags]",
	about: `Prints where the migration stands. Entra clears a user's migration flag itself when the user signs in with
the password the tenant already holds, without calling idshift serve (docs/contracts.md §1.1), so the progress is
read from the tenant: every user's flag and legacy id, page by page, joined with the state store (records by state,
the legacy credentials it still holds, migrations recorded by serve, attempts by front, action and day, blocks).
With --offline only the store is read. Same configuration and credentials as idshift import. See docs/status.md.`,
	examples: []example{
		{"the figures, tenant and store", "idshift status --config idshift.yaml"},
		{"the store only, as JSON", "idshift status --config idshift.yaml --offline --json"},
	},
	groups: []flagGroup{
		{"Output", []string{"json", "offline"}},
		{"Tenant", []string{"config", "domain", "tenant-id", "graph-url", "authority-host", "ca-file", "extensions-app-id", "client-id", "client-secret", "client-certificate", "migration-attribute", "legacy-id-attribute"}},
		{"State store", []string{"store", "allow-unsealed-secrets"}},
		{"Limits (reads and writes to the tenant)", []string{"app-writes", "app-window", "tenant-writes", "tenant-window"}},
		{"Hashes (of the credentials the store holds)", hashFormatFlags},
		{"Limits (cost caps of legacy hashes)", hashCapFlags},
	},
}

func runStatus(ctx context.Context, env *Env, args []string) (int, error) {
	var jsonOut, offline bool
	cfg, err := parseEndgameFlags(env, "status", args, statusHelp, func(fs flagSet) {
		fs.BoolVar(&jsonOut, "json", false, "print the figures as JSON")
		fs.BoolVar(&offline, "offline", false, "read the state store only (users Entra migrated without a callout are then not counted)")
	})
	if err != nil {
		return exitUsage, err
	}
	status, err := readStatus(ctx, env, cfg, offline)
	if err != nil {
		return exitFailed, err
	}
	if jsonOut {
		b, err := json.MarshalIndent(status, "", "  ")
		if err != nil {
			return exitFailed, err
		}
		_, err = fmt.Fprintln(env.Stdout, string(b))
		return exitComplete, err
	}
	return exitComplete, status.WriteText(env.Stdout)
}

// readStatus reads where the migration stands (status and report): the state store, joined with every tenant
// user's flag unless offline.
func readStatus(ctx context.Context, env *Env, cfg *Config, offline bool) (*report.Status, error) {
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, _, err := openEndgameStore(ctx, cfg, env.Getenv, logger)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rc := report.Config{Store: st}
	if !offline {
		lister, err := openTenantLister(ctx, cfg, env, logger)
		if err != nil {
			return nil, err
		}
		rc.Tenant = lister
	}
	return report.Read(ctx, rc)
}

// flagSet is what a command adds its own flags to.
type flagSet interface {
	BoolVar(p *bool, name string, value bool, usage string)
	StringVar(p *string, name string, value string, usage string)
}

// parseEndgameFlags reads the configuration as import does (flag > environment > file > default), with the
// command's own flags added by own.
func parseEndgameFlags(env *Env, name string, args []string, h help, own func(flagSet)) (*Config, error) {
	cfg := defaultConfig()
	if path := configFlag(args, env.Getenv); path != "" {
		if err := loadConfigFile(path, cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.applyEnv(env.Getenv); err != nil {
		return nil, err
	}
	fs := newFlagSet(env, name)
	fs.String("config", "", "YAML configuration file ($IDSHIFT_CONFIG)")
	// The settings of the tenant and the store (with the hash keys the stored credentials refer to); the source's
	// and the import's own are not flags here.
	var bs []binding
	for _, b := range cfg.bindings() {
		if !strings.HasPrefix(b.key, "source.") && (!strings.HasPrefix(b.key, "import.") ||
			b.key == "import.migration_attribute" || b.key == "import.legacy_id_attribute") {
			bs = append(bs, b)
		}
	}
	registerBindings(fs, bs)
	clientID := fs.String("client-id", env.Getenv("AZURE_CLIENT_ID"), "app registration's client id ($AZURE_CLIENT_ID)")
	clientSecret := fs.String("client-secret", "", "client secret (prefer $AZURE_CLIENT_SECRET: flags show in process lists)")
	clientCert := fs.String("client-certificate", env.Getenv("AZURE_CLIENT_CERTIFICATE_PATH"), "client certificate, PEM or PKCS#12 ($AZURE_CLIENT_CERTIFICATE_PATH)")
	own(fs)
	h.install(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.origin.noteFlags(fs, bs)
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
	return cfg, nil
}

// Where the store key of an opened store came from.
const (
	keyFromEnv  = "env"  // IDSHIFT_STORE_KEY or IDSHIFT_STORE_KEY_FILE: the operator's
	keyFromFile = "file" // the <store>.key file idshift generated beside a SQLite store
	keyNone     = "none" // no key: an unsealed store, or one whose key file is gone (after cutover)
)

// openEndgameStore opens an existing state store for status and cutover and says where its key came from. Unlike
// openStore it never generates a key: a SQLite store whose key file is gone (destroyed by cutover) opens without
// one; its records and credential keys stay readable, its sealed credentials do not.
func openEndgameStore(ctx context.Context, cfg *Config, getenv func(string) string, logger *slog.Logger) (idshift.Store, string, error) {
	if !storeExists(cfg.Store) {
		return nil, "", fmt.Errorf("store %s: not found (config store, --store, $IDSHIFT_STORE)", cfg.Store)
	}
	key, err := store.LoadKey(getenv)
	if err != nil {
		return nil, "", err
	}
	if key != nil {
		st, err := openStore(ctx, cfg, getenv, logger)
		return st, keyFromEnv, err
	}
	if isPostgres(cfg.Store) {
		st, err := openStore(ctx, cfg, getenv, logger)
		return st, keyNone, err
	}
	path := strings.TrimPrefix(cfg.Store, "sqlite:")
	if _, err := store.ReadKeyFile(storeKeyFile(path)); err == nil {
		st, err := openSQLite(ctx, path, nil, logger)
		return st, keyFromFile, err
	}
	db, err := sqlite.Config{Path: path, KeyRefs: keyRefs, Logger: logger}.Open(ctx)
	return db, keyNone, err
}

// graphTenant lists the tenant's users with the migration's extension attributes, 999 a page, following the
// nextLinks; the Graph client waits out throttling (Retry-After) as it does for the import.
type graphTenant struct {
	c                    *graph.Client
	pool                 *graph.Pool // every app registration's client, for writes (cutover's stale accounts)
	flagAttr, legacyAttr string
}

// openTenantLister connects to the tenant and finds the extension attributes' full names.
func openTenantLister(ctx context.Context, cfg *Config, env *Env, logger *slog.Logger) (*graphTenant, error) {
	pool, err := openDirectory(ctx, cfg, env, logger)
	if err != nil {
		return nil, err
	}
	c := pool.Clients()[0]
	appID, err := tenant.EnsureExtensions(ctx, c, cfg.Tenant.ExtensionsAppID, []tenant.Attribute{
		{Name: cfg.Import.MigrationAttribute, DataType: "Boolean"}, {Name: cfg.Import.LegacyIDAttribute, DataType: "String"},
	}, false)
	if err != nil {
		return nil, err
	}
	return &graphTenant{c: c, pool: pool, flagAttr: graph.ExtensionName(appID, cfg.Import.MigrationAttribute),
		legacyAttr: graph.ExtensionName(appID, cfg.Import.LegacyIDAttribute)}, nil
}

func (g *graphTenant) Users(ctx context.Context, fn func(report.TenantUser) error) error {
	opt := graph.ListOptions{Select: []string{"id", "identities", g.flagAttr, g.legacyAttr}, Top: 999}
	return g.c.ListUsers(ctx, opt, func(u *graph.User) error {
		tu := report.TenantUser{ObjectID: u.ID}
		tu.Flagged, _ = u.Extensions[g.flagAttr].(bool)
		tu.LegacyID, _ = u.Extensions[g.legacyAttr].(string)
		for _, id := range u.Identities {
			if id.SignInType == idshift.SignInEmail || id.SignInType == idshift.SignInUserName {
				tu.SignInNames = append(tu.SignInNames, strings.ToLower(id.IssuerAssignedID))
			}
		}
		return fn(tu)
	})
}

var _ report.Tenant = (*graphTenant)(nil)

// errNoConfirm refuses an irreversible step without its confirmation flag.
var errNoConfirm = errors.New("nothing was changed: run with --dry-run to see every step, then with --confirm to carry them out")
