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
	"runtime/pprof"
	"strings"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/importer"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/file"
	"github.com/idshift/idshift/store"
	"github.com/idshift/idshift/store/postgres"
	"github.com/idshift/idshift/store/sqlite"
)

// Exit statuses of `idshift import` (and `idshift demo`).
const (
	exitComplete       = 0 // every user created, adopted, updated or already done
	exitFailed         = 1 // the run stopped (bad config, store or source failure, interrupted, quota exhausted)
	exitUsage          = 2 // bad flags
	exitWithRejections = 3 // complete, but some records were rejected or collided: see the reject file and status
	exitUserFailures   = 4 // complete, but some users failed at the tenant: rerun to retry them
)

func runImport(ctx context.Context, env *Env, args []string) (int, error) {
	cfg := defaultConfig()
	if path := configFlag(args, env.Getenv); path != "" {
		if err := loadConfigFile(path, cfg); err != nil {
			return exitUsage, err
		}
	}
	if err := cfg.applyEnv(env.Getenv); err != nil {
		return exitUsage, err
	}
	fs := newFlagSet(env, "import")
	fs.String("config", "", "YAML configuration file ($IDSHIFT_CONFIG)")
	cfg.register(fs)
	var (
		clientID     = fs.String("client-id", env.Getenv("AZURE_CLIENT_ID"), "app registration's client id ($AZURE_CLIENT_ID)")
		clientSecret = fs.String("client-secret", "", "client secret (prefer $AZURE_CLIENT_SECRET: flags show in process lists)")
		clientCert   = fs.String("client-certificate", env.Getenv("AZURE_CLIENT_CERTIFICATE_PATH"), "client certificate, PEM or PKCS#12 ($AZURE_CLIENT_CERTIFICATE_PATH)")
		setupExt     = fs.Bool("setup-extensions", false, "create the migration extension attributes in the tenant when they are missing")
		update       = fs.Bool("update", false, "patch users whose source data changed since they were sent")
		dryRun       = fs.Bool("dry-run", false, "plan and print the requests that would be sent (passwords redacted); write nothing")
		jsonOut      = fs.Bool("json", false, "print the final summary as JSON")
		logEvery     = fs.Duration("progress-every", 10*time.Second, "interval of progress log lines when not on a terminal")
		cpuProfile   = fs.String("cpuprofile", "", "write a CPU profile of the run to this file (for performance work)")
	)
	importHelp.install(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if fs.NArg() > 0 {
		return exitUsage, fmt.Errorf("unexpected argument %q (flags come before it? see idshift import -h)", fs.Arg(0))
	}
	cfg.origin.noteFlags(fs, cfg.bindings())
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return exitFailed, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return exitFailed, err
		}
		defer pprof.StopCPUProfile()
	}
	if *clientSecret == "" {
		*clientSecret = env.Getenv("AZURE_CLIENT_SECRET")
	}
	if len(cfg.Tenant.Apps) == 0 && *clientID != "" {
		cfg.Tenant.Apps = []AppConfig{{ClientID: *clientID, ClientSecret: *clientSecret, CertificatePath: *clientCert}}
	}
	if err := cfg.validate(); err != nil {
		return exitUsage, err
	}
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := importOptions{update: *update, dryRun: *dryRun, setupExtensions: *setupExt, json: *jsonOut, logEvery: *logEvery}
	return importWith(ctx, env, cfg, opts, logger)
}

type importOptions struct {
	update, dryRun, setupExtensions, json bool
	logEvery                              time.Duration
	// quiet turns the progress display off (the demo prints its own story).
	quiet bool
}

// importWith runs an import from a complete configuration. The demo calls it too.
func importWith(ctx context.Context, env *Env, cfg *Config, opts importOptions, logger *slog.Logger) (int, error) {
	// The directory.
	var dir importer.Directory
	var domain = cfg.Tenant.Domain
	extAppID := cfg.Tenant.ExtensionsAppID
	if !opts.dryRun || domain == "" || extAppID == "" {
		pool, err := openDirectory(cfg, env, logger)
		if err != nil {
			return exitFailed, err
		}
		dir = pool
		if domain == "" {
			return exitFailed, errors.New("config: tenant.domain (--domain, $IDSHIFT_TENANT_DOMAIN): required, e.g. contoso.onmicrosoft.com")
		}
		if extAppID == "" || !opts.dryRun {
			id, err := ensureExtensions(ctx, pool, extAppID, []extAttr{
				{cfg.Import.MigrationAttribute, "Boolean"}, {cfg.Import.LegacyIDAttribute, "String"},
			}, opts.setupExtensions && !opts.dryRun)
			if err != nil {
				return exitFailed, err
			}
			extAppID = id
		}
		if !opts.dryRun {
			checkQuota(ctx, pool, logger)
		}
	}

	// The source.
	var mapping *source.Mapping
	if cfg.Source.Mapping != "" {
		m, err := source.LoadMapping(cfg.Source.Mapping)
		if err != nil {
			return exitFailed, err
		}
		mapping = m
	}
	src, err := file.Config{Path: cfg.Source.Path, Format: cfg.Source.Format, Name: cfg.Source.Name, Mapping: mapping, Stdin: env.Stdin, Logger: logger}.Open()
	if err != nil {
		return exitFailed, err
	}
	defer src.Close()

	// The store.
	var st idshift.Store
	if !opts.dryRun || storeExists(cfg.Store) {
		st, err = openStore(ctx, cfg.Store, env.Getenv, logger)
		if err != nil {
			return exitFailed, err
		}
		defer st.Close()
	}

	// The reject file.
	rejectsPath := cfg.Import.Rejects
	if rejectsPath == "" {
		rejectsPath = strings.TrimSuffix(cfg.Store, ".db") + ".rejects.jsonl"
		if strings.Contains(cfg.Store, "://") {
			rejectsPath = "idshift.rejects.jsonl"
		}
	}
	var rejects io.Writer = io.Discard
	if !opts.dryRun {
		f, err := os.Create(rejectsPath)
		if err != nil {
			return exitFailed, fmt.Errorf("rejects: %w", err)
		}
		defer f.Close()
		rejects = f
	}

	// The run's index of planned legacy ids and identities lives on disk, so memory stays flat in the number of users.
	seenDir := ""
	if !strings.Contains(cfg.Store, "://") {
		seenDir = filepath.Dir(strings.TrimPrefix(cfg.Store, "sqlite:"))
	}
	seen, err := sqlite.OpenSeen(ctx, seenDir)
	if err != nil {
		return exitFailed, err
	}
	defer seen.Close()

	hashOpt, err := cfg.Hashes.options()
	if err != nil {
		return exitFailed, err
	}
	im, err := importer.New(importer.Config{
		Seen: seen, HashOptions: hashOpt,
		Source: src, Store: st, Directory: dir,
		Domain: domain, ExtensionsAppID: extAppID, SourceName: cfg.Source.Name,
		MigrationAttribute: cfg.Import.MigrationAttribute, LegacyIDAttribute: cfg.Import.LegacyIDAttribute,
		DisableStrongPassword: cfg.Import.DisableStrongPassword, AdoptExisting: cfg.Import.AdoptExisting,
		Update: opts.update, DryRun: opts.dryRun, DryRunOut: env.Stdout,
		Workers: cfg.Import.Workers, ChunkSize: cfg.Import.ChunkSize,
		Rejects: rejects, Logger: logger,
	})
	if err != nil {
		return exitFailed, err
	}

	var rep *reporter
	if !opts.dryRun && !opts.quiet {
		rep = startReporter(im.Progress(), countRecords(cfg.Source.Path, cfg.Source.Format), env.Stderr, logger, opts.logEvery)
	}
	sum, runErr := im.Run(ctx)
	if rep != nil {
		rep.Stop()
	}

	printSummary(env, sum, opts, rejectsPath)
	switch {
	case runErr != nil && ctx.Err() != nil:
		fmt.Fprintf(env.Stderr, "interrupted: what was in flight was finished and saved. Run the same command again to resume.\n")
		return exitFailed, nil
	case runErr != nil:
		return exitFailed, runErr
	case sum.Failed > 0:
		return exitUserFailures, nil
	case sum.Rejected > 0 || sum.Collisions > 0:
		return exitWithRejections, nil
	}
	return exitComplete, nil
}

// writeSummaryTable writes the counts of a run as an aligned table, "would be" before what a dry run would do.
func writeSummaryTable(w io.Writer, s importer.Summary, dryRun bool) {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Read) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "read %s in %s (%.0f/s)\n", plural(s.Read, "user", "users"), s.Elapsed.Round(time.Millisecond), rate)
	verb := ""
	if dryRun {
		verb = "would be "
	}
	type row struct {
		label string
		n     int64
		note  string
	}
	rows := []row{
		{verb + "created", s.Created, ""}, {"adopted", s.Adopted, ""}, {verb + "updated", s.Updated, ""},
		{"skipped", s.Skipped, "already done"}, {"collisions", s.Collisions, ""}, {"rejected", s.Rejected, ""},
		{"failed", s.Failed, ""},
	}
	sum := "read = created + adopted + updated + skipped + collisions + rejected + failed"
	if s.OtherShard > 0 {
		rows = append(rows, row{"other shards", s.OtherShard, "sent by the other processes of a split import"})
		sum += " + other shards"
	}
	lw, nw := 0, 1
	for _, r := range rows {
		lw = max(lw, len(r.label))
		nw = max(nw, len(fmt.Sprint(r.n)))
	}
	for _, r := range rows {
		line := fmt.Sprintf("  %-*s  %*d", lw, r.label, nw, r.n)
		if r.note != "" {
			line += "  (" + r.note + ")"
		}
		fmt.Fprintln(w, line)
	}
	check := "reconciles"
	if !s.Reconciles() {
		check = "DOES NOT RECONCILE"
	}
	fmt.Fprintf(w, "  %s: %s\n", sum, check)
}

// plural returns "1 user" or "n users".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func printSummary(env *Env, s importer.Summary, opts importOptions, rejectsPath string) {
	if opts.json {
		b, _ := json.Marshal(struct {
			importer.Summary
			Reconciles bool   `json:"reconciles"`
			DryRun     bool   `json:"dryRun"`
			Rejects    string `json:"rejects,omitempty"`
		}{s, s.Reconciles(), opts.dryRun, rejectsPath})
		fmt.Fprintln(env.Stdout, string(b))
		return
	}
	w := env.Stdout
	if opts.dryRun {
		w = env.Stderr // stdout carries the planned requests
		fmt.Fprintln(w, "dry run: nothing was written to the tenant or the store")
	}
	writeSummaryTable(w, s, opts.dryRun)
	if s.Rejected > 0 && !opts.dryRun {
		fmt.Fprintf(w, "rejected records (line, field, reason): %s\n", rejectsPath)
	}
}

// openDirectory builds the Graph client pool from the configured app registrations.
func openDirectory(cfg *Config, env *Env, logger *slog.Logger) (*graph.Pool, error) {
	base := graph.CredentialConfigFromEnv(env.Getenv)
	if cfg.Tenant.TenantID != "" {
		base.TenantID = cfg.Tenant.TenantID
	}
	if cfg.Tenant.AuthorityHost != "" {
		base.AuthorityHost = cfg.Tenant.AuthorityHost
	}
	if cfg.Tenant.CAFile != "" {
		base.CAFile = cfg.Tenant.CAFile
	}
	httpClient, err := graph.HTTPClient(base.CAFile)
	if err != nil {
		return nil, fmt.Errorf("config: tenant.ca_file: %w", err)
	}
	pacer := graph.NewPacer(graph.Limits{
		AppWrites: cfg.Limits.AppWrites, AppWindow: cfg.Limits.AppWindow,
		TenantWrites: cfg.Limits.TenantWrites, TenantWindow: cfg.Limits.TenantWindow,
	})
	apps := cfg.Tenant.Apps
	if len(apps) == 0 {
		apps = []AppConfig{{}} // the environment's credential (managed identity, workload identity, default chain)
	}
	var clients []*graph.Client
	for i, a := range apps {
		cc := base
		if a.ClientID != "" {
			cc.ClientID = a.ClientID
			cc.ClientSecret = a.ClientSecret
			cc.CertificatePath = a.CertificatePath
		}
		cred, err := cc.Credential()
		if err != nil {
			return nil, fmt.Errorf("config: tenant.apps[%d]: %w", i, err)
		}
		c, err := graph.New(graph.Config{
			BaseURL: cfg.Tenant.GraphURL, Credential: cred, HTTPClient: httpClient,
			AppID: cc.ClientID, Pacing: pacer, Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		clients = append(clients, c)
	}
	return graph.NewPool(clients...), nil
}

type extAttr struct{ name, dataType string }

// ensureExtensions finds the tenant's b2c-extensions-app (unless its appId is given) and checks that the migration's
// extension attributes exist, creating them when create is set. It returns the app's id.
func ensureExtensions(ctx context.Context, pool *graph.Pool, appID string, attrs []extAttr, create bool) (string, error) {
	c := pool.Clients()[0]
	filter := "startswith(displayName,'b2c-extensions-app')"
	if appID != "" {
		filter = "appId eq '" + dashed(appID) + "'"
	}
	apps, err := c.FindApplication(ctx, filter)
	if err != nil {
		return "", fmt.Errorf("find b2c-extensions-app: %w", err)
	}
	if len(apps) == 0 {
		return "", fmt.Errorf("no b2c-extensions-app found in the tenant (filter %s); set tenant.extensions_app_id", filter)
	}
	app := apps[0]
	have, err := c.ListExtensionProperties(ctx, app.ID)
	if err != nil {
		return "", fmt.Errorf("list extension properties: %w", err)
	}
	short := strings.ReplaceAll(app.AppID, "-", "")
	for _, a := range attrs {
		full := graph.ExtensionName(short, a.name)
		found := false
		for _, p := range have {
			if strings.EqualFold(p.Name, full) {
				found = true
				if !strings.EqualFold(p.DataType, a.dataType) {
					return "", fmt.Errorf("extension attribute %s exists with type %s, want %s", full, p.DataType, a.dataType)
				}
			}
		}
		if found {
			continue
		}
		if !create {
			return "", fmt.Errorf("extension attribute %s is missing in the tenant. Create it with --setup-extensions, or with\n"+
				"  POST /v1.0/applications/%s/extensionProperties {\"name\":%q,\"dataType\":%q,\"targetObjects\":[\"User\"]}",
				full, app.ID, a.name, a.dataType)
		}
		if _, err := c.CreateExtensionProperty(ctx, app.ID, graph.ExtensionProperty{Name: a.name, DataType: a.dataType, TargetObjects: []string{"User"}}); err != nil && !errors.Is(err, graph.ErrConflict) {
			return "", fmt.Errorf("create extension attribute %s: %w", full, err)
		}
	}
	return short, nil
}

func dashed(id string) string {
	id = strings.ReplaceAll(id, "-", "")
	if len(id) != 32 {
		return id
	}
	return id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
}

// checkQuota warns when the tenant's directory quota is close; a Graph that does not expose it is not an error.
func checkQuota(ctx context.Context, pool *graph.Pool, logger *slog.Logger) {
	used, total, err := pool.DirectoryQuota(ctx)
	if err != nil || total == 0 {
		logger.Debug("directory quota not available", "err", err)
		return
	}
	logger.Info("directory quota", "used", used, "total", total, "remaining", total-used)
	if total-used < total/20 {
		logger.Warn("the tenant's directory quota is nearly exhausted", "used", used, "total", total)
	}
}

func storeExists(dsn string) bool {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return true
	}
	_, err := os.Stat(strings.TrimPrefix(dsn, "sqlite:"))
	return err == nil
}

// openStore opens the state store named by dsn: a postgres:// URL or a SQLite file path (optionally sqlite:PATH).
// The credential key comes from IDSHIFT_STORE_KEY or IDSHIFT_STORE_KEY_FILE.
func openStore(ctx context.Context, dsn string, getenv func(string) string, logger *slog.Logger) (idshift.Store, error) {
	key, err := store.LoadKey(getenv)
	if err != nil {
		return nil, err
	}
	if key == nil {
		logger.Warn("legacy password hashes are stored unsealed: set " + store.EnvKey + " (base64 of 32 random bytes) or " + store.EnvKeyFile)
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return postgres.Config{URL: dsn, Key: key}.Open(ctx)
	}
	return sqlite.Config{Path: strings.TrimPrefix(dsn, "sqlite:"), Key: key}.Open(ctx)
}
