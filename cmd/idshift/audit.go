package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/idshift/idshift/cleanup"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/store/sqlite"
	"github.com/idshift/idshift/tenant"
)

// auditKeys are the configuration keys `idshift audit` reads; the rest of import's configuration (tenant
// credentials, store, run settings) does not concern it.
var auditKeys = map[string]bool{
	"source.path": true, "source.format": true, "source.name": true, "source.mapping": true, "source.kind": true,
	"source.passwords": true, "tenant.domain": true, "limits.app_writes": true, "limits.app_window": true,
	"limits.tenant_writes": true, "limits.tenant_window": true, "import.live_check": true,
	"import.disable_strong_password": true,
	// --tenant-lookups: the tenant, as import reaches it.
	"tenant.tenant_id": true, "tenant.graph_url": true, "tenant.authority_host": true, "tenant.ca_file": true,
	"tenant.extensions_app_id": true, "import.legacy_id_attribute": true,
}

var auditHelp = help{
	usage: "idshift audit --source FILE [flags] [[KIND:]FILE ...]",
	about: `Reads one or several legacy sources and reports, without writing anywhere but the report files, what an import
would meet: the users the importer would plan or reject (and why), the accounts that share an email or a
username (proposed merges, with the credential that would guard each), the stale accounts, the attributes that
hold data External ID must not store (payment card numbers, US social security numbers, medical-looking fields),
the fill rate of every attribute, the consent markers, the usability of the passwords, and the import's expected
duration and directory quota. With --tenant-lookups (the tenant configured as for import) every valid user's
identities are also looked up in the tenant, read-only and paced (--lookup-rate): an identity already held by
the account carrying the user's legacy id was imported before, one held by another account is a collision.
Sources after the flags are audited after --source, each as [KIND:]FILE with its
kind detected when omitted and the default schema. The sign-in name index lives in a temporary file removed at
the end. Exit status: 0 the report was written; 1 a source or a report could not be read or written; 2 bad flags.`,
	examples: []example{
		{"audit an export with the default schema", "idshift audit --source users.csv"},
		{"two directories to unify, with a one-year stale threshold, as HTML", "idshift audit --source shop.csv auth0:forum.jsonl --stale-after 365d --html audit.html"},
		{"the configuration of an import, three app registrations, as JSON", "idshift audit --config idshift.yaml --apps 3 --json"},
		{"also look every identity up in the tenant: collisions, accounts already imported", "idshift audit --config idshift.yaml --tenant-lookups"},
	},
	groups: []flagGroup{
		{"Source", []string{"config", "source", "source-kind", "source-passwords", "format", "source-name", "mapping"}},
		{"Rules", []string{"domain", "stale-after", "live-check", "disable-strong-password"}},
		{"Hashes", hashFormatFlags},
		{"Cost caps (a hash above a cap is unusable)", hashCapFlags},
		{"Duration and quota", []string{"apps", "quota", "app-writes", "app-window", "tenant-writes", "tenant-window"}},
		{"Tenant look-ups (read-only)", []string{"tenant-lookups", "lookup-rate", "tenant-id", "graph-url", "authority-host", "ca-file", "extensions-app-id", "client-id", "client-secret", "client-certificate", "legacy-id-attribute"}},
		{"Output", []string{"json", "html", "samples", "merges", "top"}},
	},
}

func runAudit(ctx context.Context, env *Env, args []string) (int, error) {
	cfg := defaultConfig()
	if path := configFlag(args, env.Getenv); path != "" {
		if err := loadConfigFile(path, cfg); err != nil {
			return exitUsage, err
		}
	}
	if err := cfg.applyEnv(env.Getenv); err != nil {
		return exitUsage, err
	}
	fs := newFlagSet(env, "audit")
	fs.String("config", "", "YAML configuration file ($IDSHIFT_CONFIG), as import's")
	var bs []binding
	for _, b := range cfg.bindings() {
		if auditKeys[b.key] || strings.HasPrefix(b.key, "hashes.") {
			bs = append(bs, b)
		}
	}
	registerBindings(fs, bs)
	var (
		staleAfter = fs.String("stale-after", "2y", "an account whose last sign-in is older than this is stale (e.g. 2y, 540d, 8760h)")
		apps       = fs.Int("apps", max(1, len(cfg.Tenant.Apps)), "app registrations whose write quotas the import pools")
		quota      = fs.Int64("quota", 300000, "the tenant's directory object quota")
		jsonOut    = fs.Bool("json", false, "print the report as JSON instead of the summary")
		htmlOut    = fs.String("html", "", "also write the report as a self-contained HTML page to this file")
		nSamples   = fs.Int("samples", 5, "samples kept per finding")
		nMerges    = fs.Int("merges", 20, "proposed merges listed")
		nTop       = fs.Int("top", 10, "reject reasons listed")
		lookups    = fs.Bool("tenant-lookups", false, "look every valid user's identities up in the tenant (read-only): collisions and accounts already imported")
		lookupRate = fs.Int("lookup-rate", 200, "tenant look-ups per second at most (each costs 1 resource unit of the app's 3,500 to 8,000 per 10 s)")
		clientID   = fs.String("client-id", env.Getenv("AZURE_CLIENT_ID"), "app registration's client id ($AZURE_CLIENT_ID)")
		secret     = fs.String("client-secret", "", "client secret (prefer $AZURE_CLIENT_SECRET: flags show in process lists)")
		clientCert = fs.String("client-certificate", env.Getenv("AZURE_CLIENT_CERTIFICATE_PATH"), "client certificate, PEM or PKCS#12 ($AZURE_CLIENT_CERTIFICATE_PATH)")
	)
	auditHelp.install(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	cfg.origin.noteFlags(fs, bs)
	if cfg.Source.Path == "" {
		return exitUsage, errors.New("--source is required (or source.path in --config)")
	}
	stale, err := parseAge(*staleAfter)
	if err != nil {
		return exitUsage, fmt.Errorf("--stale-after: %w", err)
	}
	if *apps < 1 || *quota < 1 {
		return exitUsage, errors.New("--apps and --quota: must be at least 1")
	}
	if *lookupRate < 1 {
		return exitUsage, errors.New("--lookup-rate: must be at least 1")
	}
	if *lookups {
		if *secret == "" {
			*secret = env.Getenv("AZURE_CLIENT_SECRET")
		}
		if len(cfg.Tenant.Apps) == 0 && *clientID != "" {
			cfg.Tenant.Apps = []AppConfig{{ClientID: *clientID, ClientSecret: *secret, CertificatePath: *clientCert}}
		}
		if cfg.Tenant.Domain == "" {
			return exitUsage, errors.New("--tenant-lookups: the tenant's domain is required (--domain, tenant.domain)")
		}
	}
	cfg.Hashes.origin = cfg.origin
	hashOpt, err := cfg.Hashes.options()
	if err != nil {
		return exitUsage, err
	}

	specs := []sourceSpec{{Kind: cfg.Source.Kind, Path: cfg.Source.Path, Format: cfg.Source.Format, Name: cfg.Source.Name, Passwords: cfg.Source.Passwords, Stdin: env.Stdin}}
	if cfg.Source.Mapping != "" {
		m, err := source.LoadMapping(cfg.Source.Mapping)
		if err != nil {
			return exitFailed, err
		}
		specs[0].Mapping = m
	}
	for _, a := range fs.Args() {
		s := sourceSpec{Path: a, Stdin: env.Stdin}
		if k, p, ok := strings.Cut(a, ":"); ok {
			if _, known := sourceKinds[strings.ToLower(k)]; known {
				s.Kind, s.Path = k, p
			}
		}
		specs = append(specs, s)
	}
	if len(specs) > 256 {
		return exitUsage, errors.New("at most 256 sources")
	}

	seen, err := sqlite.OpenSeen(ctx, "")
	if err != nil {
		return exitFailed, err
	}
	defer seen.Close()
	ac := cleanup.Config{
		HashOptions: hashOpt, Domain: cfg.Tenant.Domain, LiveCheck: cfg.Import.LiveCheck,
		DisableStrongPassword: cfg.Import.DisableStrongPassword, StaleAfter: stale, Seen: seen,
		Samples: *nSamples, Merges: *nMerges, Top: *nTop, Apps: *apps, Quota: *quota,
		AppWrites: cfg.Limits.AppWrites, AppWindow: cfg.Limits.AppWindow,
		TenantWrites: cfg.Limits.TenantWrites, TenantWindow: cfg.Limits.TenantWindow,
	}
	if *lookups {
		l, err := openLookup(ctx, env, cfg, *lookupRate)
		if err != nil {
			return exitFailed, err
		}
		defer l.Close()
		ac.Lookup = l
	}
	a, err := cleanup.New(ac)
	if err != nil {
		return exitUsage, err
	}
	var named []cleanup.NamedSource
	defer func() {
		for _, n := range named {
			n.Source.Close()
		}
	}()
	for _, s := range specs {
		name := s.Name
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(s.Path), filepath.Ext(s.Path))
		}
		src, err := s.Open()
		if err != nil {
			return exitFailed, fmt.Errorf("source %s: %w", s.Path, err)
		}
		named = append(named, cleanup.NamedSource{Name: name, Source: src})
	}
	rep, err := auditAll(ctx, a, named)
	if err != nil {
		return exitFailed, err
	}
	if *htmlOut != "" {
		if err := writeFileAtomic(*htmlOut, rep.WriteHTML); err != nil {
			return exitFailed, fmt.Errorf("--html: %w", err)
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return exitFailed, err
		}
		return 0, nil
	}
	if err := rep.WriteText(env.Stdout); err != nil {
		return exitFailed, err
	}
	return 0, nil
}

// openLookup connects to the tenant for audit's look-ups: the clients of import, and a pacer of their own that
// spends at most rate look-ups a second.
func openLookup(ctx context.Context, env *Env, cfg *Config, rate int) (*cleanup.Lookup, error) {
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pool, err := openDirectory(ctx, cfg, env, logger)
	if err != nil {
		return nil, err
	}
	c := pool.Clients()[0]
	legacyAttr := ""
	appID, err := tenant.EnsureExtensions(ctx, c, cfg.Tenant.ExtensionsAppID, []tenant.Attribute{{Name: cfg.Import.LegacyIDAttribute, DataType: "String"}}, false)
	if err == nil {
		legacyAttr = graph.ExtensionName(appID, cfg.Import.LegacyIDAttribute)
	} else if _, err2 := tenant.EnsureExtensions(ctx, c, cfg.Tenant.ExtensionsAppID, nil, false); err2 != nil {
		return nil, err
	} // else: no legacy-id attribute yet (before the first import): every identity taken is a collision
	window := 10 * time.Second
	pacer := graph.NewPacer(graph.Limits{AppWrites: rate * 10, AppWindow: window, TenantWrites: rate * 10, TenantWindow: window})
	pacer.Sleep = stoppableSleep(ctx)
	return cleanup.NewLookup(cleanup.LookupConfig{Directory: pool, Domain: cfg.Tenant.Domain, LegacyIDAttribute: legacyAttr,
		Pacer: pacer, Parallel: 8})
}

// auditAll reads every source into a, in order.
func auditAll(ctx context.Context, a *cleanup.Auditor, sources []cleanup.NamedSource) (*cleanup.Report, error) {
	for i, s := range sources {
		if err := a.SetSource(ctx, i, s.Name); err != nil {
			a.Close()
			return nil, err
		}
		if err := cleanup.Drain(ctx, a, s); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a.Report(ctx)
}

// writeFileAtomic writes path through a temporary file in its directory, renamed into place once complete.
func writeFileAtomic(path string, write func(w io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// parseAge parses a duration that may also be given in days ("540d") or years of 365 days ("2y").
func parseAge(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "y": 365 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("%q is not a positive age (e.g. 2y, 540d, 8760h)", s)
			}
			return time.Duration(v * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive age (e.g. 2y, 540d, 8760h)", s)
	}
	return d, nil
}
