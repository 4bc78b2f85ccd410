package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/importer"
	"github.com/idshift/idshift/mergeplan"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/store"
	"github.com/idshift/idshift/store/sqlite"
	"github.com/idshift/idshift/tenant"
)

// Exit statuses of `idshift import` (and `idshift demo`).
const (
	exitComplete       = 0 // every user created, adopted, updated or already done
	exitFailed         = 1 // the run stopped (bad config, store or source failure, interrupted, quota exhausted)
	exitUsage          = 2 // bad flags
	exitWithRejections = 3 // complete, but some records were rejected or collided: see the reject file and status
	exitUserFailures   = 4 // complete, but some users failed at the tenant: rerun to retry them
)

func runImport(ctx context.Context, env *Env, args []string) (code int, err error) {
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
		ignoreQuota  = fs.Bool("ignore-quota", false, "start even when the planned creates exceed the tenant's directory quota")
		update       = fs.Bool("update", false, "patch users whose source data changed since they were sent, and store their changed legacy credentials")
		flagAdopted  = fs.Bool("flag-adopted", false, "with --adopt-existing: also set the migration flag on the adopted accounts (their password is then replaced by the legacy one at the next sign-in that does not match it)")
		dryRun       = fs.Bool("dry-run", false, "plan and print the requests that would be sent (passwords redacted); write nothing")
		jsonOut      = fs.Bool("json", false, "print the final summary as JSON")
		logEvery     = fs.Duration("progress-every", 10*time.Second, "interval of progress log lines when not on a terminal")
		cpuProfile   = fs.String("cpuprofile", "", "write a CPU profile of the run to this file (for performance work)")
		allowSens    stringList
		planFile     = fs.String("plan", "", "follow the accepted merges of this plan file (idshift audit --plan; docs/merge.md)")
	)
	fs.Var(&allowSens, "allow-sensitive", "allow this attribute (extension or source column) to look like data External ID must not hold: a medical, national-id or card name, or card numbers and SSNs in its values (repeat; import.allow_sensitive)")
	importHelp.install(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") && a != "-" {
			return exitUsage, fmt.Errorf("unexpected argument %q (flags come before the sources; see idshift import -h)", a)
		}
	}
	for i, s := range argSources(fs.Args(), env.Stdin, nil) {
		if _, err := os.Stat(s.Path); err != nil && s.Path != "-" {
			return exitUsage, fmt.Errorf("unexpected argument %q: not a source file ([KIND:]FILE; see idshift import -h): %w", fs.Arg(i), err)
		}
	}
	var plan *mergeplan.Plan
	if *planFile != "" {
		p, err := mergeplan.Read(*planFile)
		if err != nil {
			return exitUsage, fmt.Errorf("config: --plan: %w", err)
		}
		plan = p
	}
	cfg.origin.noteFlags(fs, cfg.bindings())
	cfg.Import.AllowSensitive = append(cfg.Import.AllowSensitive, allowSens...)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return exitFailed, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return exitFailed, err
		}
		defer func() {
			pprof.StopCPUProfile()
			if cerr := f.Close(); cerr != nil && err == nil {
				code, err = exitFailed, fmt.Errorf("cpuprofile: %w", cerr)
			}
		}()
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
	if *flagAdopted && !cfg.Import.AdoptExisting {
		return exitUsage, errors.New("--flag-adopted: only with --adopt-existing")
	}
	opts := importOptions{update: *update, dryRun: *dryRun, setupExtensions: *setupExt, json: *jsonOut, logEvery: *logEvery, flagAdopted: *flagAdopted, ignoreQuota: *ignoreQuota,
		plan: plan, more: argSources(fs.Args(), env.Stdin, logger)}
	return importWith(ctx, env, cfg, opts, logger)
}

type importOptions struct {
	update, dryRun, setupExtensions, json bool
	// flagAdopted sets the migration flag on accounts --adopt-existing adopts.
	flagAdopted bool
	// ignoreQuota starts an import whose planned creates exceed the directory quota's remaining objects.
	ignoreQuota bool
	logEvery    time.Duration
	// quiet turns the progress display off (the demo prints its own story).
	quiet bool
	// plan is the plan whose accepted merges the run follows (nil: none).
	plan *mergeplan.Plan
	// more are the sources read after the configured one.
	more []sourceSpec
}

// errInterrupted ends the waits of a run that is stopping (it matches context.Canceled).
var errInterrupted = fmt.Errorf("interrupted: %w", context.Canceled)

// importWith runs an import from a complete configuration. The demo calls it too. It opens and checks every local
// input (source, mapping, store, reject file, scratch index) before it contacts the tenant; a dry run without
// credentials plans offline.
func importWith(ctx context.Context, env *Env, cfg *Config, opts importOptions, logger *slog.Logger) (code int, err error) {
	shard, shards, err := cfg.shard()
	if err != nil {
		return exitFailed, err
	}
	// Every deferred Close reports into err: nothing written is lost silently.
	closeChecked := func(what string, close func() error) {
		if cerr := close(); cerr != nil && err == nil {
			code, err = exitFailed, fmt.Errorf("%s: close: %w", what, cerr)
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
		allow, err := checkSensitiveNames(m, cfg.Import.AllowSensitive)
		if err != nil {
			return exitFailed, fmt.Errorf("config: %s: %w", cfg.Source.Mapping, err)
		}
		cfg.Import.AllowSensitive = allow
	}
	srcCfg := sourceSpec{Kind: cfg.Source.Kind, Path: cfg.Source.Path, Format: cfg.Source.Format, Name: cfg.Source.Name, Passwords: cfg.Source.Passwords, DSN: cfg.Source.DSN, Query: cfg.Source.Query, Mapping: mapping, Stdin: env.Stdin, Logger: logger}
	src, err := srcCfg.Open()
	if err != nil {
		return exitFailed, err
	}
	defer closeChecked("source", src.Close)
	var more []idshift.Source
	for _, spec := range opts.more {
		s, err := spec.Open()
		if err != nil {
			return exitFailed, fmt.Errorf("source %s: %w", spec.Path, err)
		}
		defer closeChecked("source "+spec.Path, s.Close)
		more = append(more, s)
	}
	merges := planMerges(opts.plan, srcCfg, opts.more, logger)

	// The store: an existing one is opened now; a new SQLite file is created once the tenant is checked (its
	// directory is proved writable by the scratch index below).
	var st idshift.Store
	openTheStore := func() error {
		s, err := openStore(ctx, cfg, env.Getenv, logger)
		if err != nil {
			return err
		}
		st = s
		return nil
	}
	defer func() {
		if st != nil {
			closeChecked("store", st.Close)
		}
	}()
	exists := storeExists(cfg.Store)
	if exists {
		if err := openTheStore(); err != nil {
			return exitFailed, err
		}
	}

	// The reject file, opened without truncating until the run starts.
	rejectsPath := cfg.Import.Rejects
	if rejectsPath == "" {
		rejectsPath = strings.TrimSuffix(cfg.Store, ".db") + ".rejects.jsonl"
		if strings.Contains(cfg.Store, "://") {
			rejectsPath = "idshift.rejects.jsonl"
		}
	}
	var rejects *os.File
	started := false // the import itself ran
	if !opts.dryRun {
		_, statErr := os.Stat(rejectsPath)
		f, err := os.OpenFile(rejectsPath, os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return exitFailed, fmt.Errorf("rejects: %w", err)
		}
		rejects = f
		defer func() {
			closeChecked("rejects "+rejectsPath, f.Close)
			if !started && errors.Is(statErr, os.ErrNotExist) {
				os.Remove(rejectsPath) // created by this run, which stopped before the import
			}
		}()
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
	defer closeChecked("scratch index", seen.Close)

	hashOpt, err := cfg.Hashes.options()
	if err != nil {
		return exitFailed, err
	}

	// The tenant. A dry run looks identities up only when credentials are configured.
	var dir importer.Directory
	var pool *graph.Pool
	domain := cfg.Tenant.Domain
	extAppID := cfg.Tenant.ExtensionsAppID
	if domain == "" {
		return exitFailed, errors.New("config: tenant.domain (--domain, $IDSHIFT_TENANT_DOMAIN): required, e.g. contoso.onmicrosoft.com")
	}
	if !opts.dryRun || hasCredentials(cfg, env.Getenv) {
		p, err := openDirectory(ctx, cfg, env, logger)
		if err != nil {
			return exitFailed, err
		}
		pool, dir = p, p
		if extAppID == "" || !opts.dryRun {
			attrs := []tenant.Attribute{
				{Name: cfg.Import.MigrationAttribute, DataType: "Boolean"}, {Name: cfg.Import.LegacyIDAttribute, DataType: "String"},
			}
			if cfg.Import.Consent {
				attrs = append(attrs, consentAttributes()...)
			}
			id, err := tenant.EnsureExtensions(ctx, pool.Clients()[0], extAppID, attrs, opts.setupExtensions && !opts.dryRun)
			if err != nil {
				return exitFailed, err
			}
			extAppID = id
		}
	} else if extAppID == "" {
		// Offline: the b2c-extensions-app's id is unknown; the plan shows zeros in the extension names.
		extAppID = strings.Repeat("0", 32)
		logger.Info("dry run without credentials: planning offline; extension names show 000… for the b2c-extensions-app's id (set tenant.extensions_app_id to see it)")
	}
	if !exists && !opts.dryRun {
		if err := openTheStore(); err != nil {
			return exitFailed, err
		}
	}
	var rejectsW io.Writer = io.Discard
	if rejects != nil {
		if fi, err := rejects.Stat(); err == nil && fi.Mode().IsRegular() {
			if err := rejects.Truncate(0); err != nil {
				return exitFailed, fmt.Errorf("rejects: %w", err)
			}
		}
		rejectsW = rejects
	}

	credKey, err := credentialKey(cfg, env.Getenv)
	if err != nil {
		return exitFailed, err
	}
	icfg := importer.Config{
		Seen: seen, HashOptions: hashOpt,
		Source: src, Sources: more, Merges: merges, Store: st, Directory: dir,
		Domain: domain, ExtensionsAppID: extAppID, SourceName: cfg.Source.Name,
		MigrationAttribute: cfg.Import.MigrationAttribute, LegacyIDAttribute: cfg.Import.LegacyIDAttribute,
		DisableStrongPassword: cfg.Import.DisableStrongPassword, AdoptExisting: cfg.Import.AdoptExisting, LiveCheck: cfg.Import.LiveCheck,
		FlagAdopted: opts.flagAdopted, CredentialKey: credKey,
		Update: opts.update, DryRun: opts.dryRun, DryRunOut: env.Stdout,
		Workers: cfg.Import.Workers, ChunkSize: cfg.Import.ChunkSize,
		Shard: shard, Shards: shards,
		Rejects: rejectsW, Logger: logger,
		AllowSensitive: cfg.Import.AllowSensitive, Consent: cfg.Import.Consent,
	}
	if pool != nil && !opts.dryRun && !opts.ignoreQuota {
		if err := checkImportQuota(ctx, pool, icfg, srcCfg, opts.more, seenDir, logger); err != nil {
			return exitFailed, err
		}
	}
	im, err := importer.New(icfg)
	if err != nil {
		return exitFailed, err
	}

	var rep *reporter
	if !opts.dryRun && !opts.quiet {
		total := srcCfg.count()
		for _, s := range opts.more {
			if n := s.count(); n > 0 && total > 0 {
				total += n
			} else {
				total = 0 // one source cannot tell: no total
			}
		}
		rep = startReporter(im.Progress(), total, env.Stderr, logger, opts.logEvery)
	}
	started = true
	sum, runErr := im.Run(ctx)
	if rep != nil {
		if err := rep.Stop(); err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("progress output: %w", err))
		}
	}

	shown := rejectsPath
	if runErr != nil && !errors.Is(runErr, ctx.Err()) {
		shown = "" // the reject file may be incomplete: the error says why
	}
	if err := printSummary(env, sum, opts, shown); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("summary: %w", err))
	}
	switch {
	case runErr != nil && ctx.Err() != nil && errors.Is(runErr, ctx.Err()):
		fmt.Fprintf(env.Stderr, "interrupted: the requests already sent were recorded (or left in flight for the next run to resolve). Run the same command again to resume.\n")
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

// hasCredentials reports whether an app registration or an environment credential is configured.
func hasCredentials(cfg *Config, getenv func(string) string) bool {
	if len(cfg.Tenant.Apps) > 0 {
		return true
	}
	for _, k := range []string{"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"} {
		if getenv(k) != "" {
			return true
		}
	}
	return false
}

// credentialKey derives the key of the records' credential fingerprints from the store key (nil without one: the
// credentials are then stored unsealed beside them anyway). See importer.Config.CredentialKey.
func credentialKey(cfg *Config, getenv func(string) string) ([]byte, error) {
	key, err := store.LoadKey(getenv)
	if err != nil {
		return nil, err
	}
	if key == nil && !isPostgres(cfg.Store) {
		// The key file beside a SQLite store (see openStore), once it exists.
		if k, err := store.ReadKeyFile(storeKeyFile(strings.TrimPrefix(cfg.Store, "sqlite:"))); err == nil {
			key = k
		}
	}
	if key == nil {
		return nil, nil
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("idshift credential fingerprint key v1"))
	return m.Sum(nil), nil
}

// stoppableSleep is the Graph clients' and pacer's sleep: it ends at once, with errInterrupted, when stopping is
// done, so that a stopping run never waits out a pacing delay or a Retry-After.
func stoppableSleep(stopping context.Context) func(ctx context.Context, d time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		if stopping.Err() != nil {
			return errInterrupted
		}
		if d <= 0 {
			return ctx.Err()
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stopping.Done():
			return errInterrupted
		case <-t.C:
			return nil
		}
	}
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
	if s.Merged > 0 || s.Merges > 0 || s.MergesRefused > 0 {
		rows = append(rows, row{verb + "merged", s.Merged, fmt.Sprintf("accounts folded into another by %s of the plan", plural(s.Merges, "merge", "merges"))})
		sum += " + merged"
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
	if s.MergesIncomplete > 0 {
		fmt.Fprintf(w, "  %s planned without every member: the members not read are named in the log\n", plural(s.MergesIncomplete, "merge", "merges"))
	}
	if s.MergesRefused > 0 {
		fmt.Fprintf(w, "  %s refused: the tenant already holds their accounts apart (each reason is in the log and, for the accounts not created, in the reject file)\n",
			plural(s.MergesRefused, "merge", "merges"))
	}
	if s.ToReset > 0 {
		fmt.Fprintf(w, "  of the created, %s without the migration flag: no legacy password hash and no live check (--live-check), so they set a password by self-service password reset\n",
			plural(s.ToReset, "user", "users"))
	}
}

// plural returns "1 user" or "n users".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// printSummary writes the run's summary: JSON on stdout with --json, else text (on stderr for a dry run, whose
// stdout carries the planned requests). It returns the first write error.
func printSummary(env *Env, s importer.Summary, opts importOptions, rejectsPath string) error {
	if opts.json {
		b, err := json.Marshal(struct {
			importer.Summary
			Reconciles bool   `json:"reconciles"`
			DryRun     bool   `json:"dryRun"`
			Rejects    string `json:"rejects,omitempty"`
		}{s, s.Reconciles(), opts.dryRun, rejectsPath})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(env.Stdout, string(b))
		return err
	}
	ew := &errWriter{w: env.Stdout}
	if opts.dryRun {
		ew.w = env.Stderr // stdout carries the planned requests
		fmt.Fprintln(ew, "dry run: nothing was written to the tenant or the store")
	}
	writeSummaryTable(ew, s, opts.dryRun)
	if s.Rejected > 0 && !opts.dryRun && rejectsPath != "" {
		fmt.Fprintf(ew, "rejected records (line, field, reason): %s\n", rejectsPath)
	}
	return ew.err
}

// errWriter remembers the first write error and writes nothing after it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// openDirectory builds the Graph client pool from the configured app registrations. Its waits (pacing, Retry-After,
// backoff) end as soon as ctx is done; requests run on the contexts their callers give.
func openDirectory(ctx context.Context, cfg *Config, env *Env, logger *slog.Logger) (*graph.Pool, error) {
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
	sleep := stoppableSleep(ctx)
	pacer := graph.NewPacer(graph.Limits{
		AppWrites: cfg.Limits.AppWrites, AppWindow: cfg.Limits.AppWindow,
		TenantWrites: cfg.Limits.TenantWrites, TenantWindow: cfg.Limits.TenantWindow,
	})
	pacer.Sleep = sleep
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
			AppID: cc.ClientID, Pacing: pacer, Sleep: sleep, Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		clients = append(clients, c)
	}
	return graph.NewPool(clients...), nil
}

// consentAttributes are the extension attributes import.consent writes, for tenant setup and the start-up check.
func consentAttributes() []tenant.Attribute {
	var out []tenant.Attribute
	for _, a := range importer.ConsentAttributes() {
		out = append(out, tenant.Attribute{Name: a.Name, DataType: a.DataType})
	}
	return out
}

// checkSensitiveNames refuses a mapping that sends an attribute whose name looks medical, like a national
// identifier or like a payment card (its extension attributes and the source columns it reads), unless
// import.allow_sensitive names it. An extension attribute and its column are one attribute: allowing either name
// allows both, and the error names the extension attribute. It returns allow with the extension attributes
// allowed through their column added (the importer checks values by extension name).
func checkSensitiveNames(m *source.Mapping, allow []string) ([]string, error) {
	exts := make([]string, 0, len(m.Extensions))
	for n := range m.Extensions {
		exts = append(exts, n)
	}
	sort.Strings(exts)
	cols := map[string]bool{}
	for _, n := range exts {
		col := m.Extensions[n].Column
		cols[col] = true
		if col != "" && importer.Allowed(allow, col) && !importer.Allowed(allow, n) {
			allow = append(allow[:len(allow):len(allow)], n)
		}
		a := allow
		if importer.Allowed(allow, n) {
			a = append([]string{col}, allow...)
		}
		if err := importer.CheckNames([]string{n, col}, a); err != nil {
			return nil, err
		}
	}
	var rest []string
	for _, c := range m.Columns() {
		if !cols[c] {
			rest = append(rest, c)
		}
	}
	return allow, importer.CheckNames(rest, allow)
}

// planMerges turns a plan's accepted merges into the importer's, and warns about the sources the plan names that
// this run does not read (their accounts can only be reported missing). The configured source's name is known
// only when set (--source-name): each reader has its own default ("file", "auth0"…).
func planMerges(plan *mergeplan.Plan, first sourceSpec, more []sourceSpec, logger *slog.Logger) []importer.Merge {
	if plan == nil {
		return nil
	}
	names := map[string]bool{}
	for _, s := range more {
		names[s.Name] = true
	}
	if first.Name != "" {
		names[first.Name] = true
	}
	var out []importer.Merge
	unknown := map[string]bool{}
	for _, m := range plan.Merges {
		if !m.Accept {
			continue
		}
		im := importer.Merge{Primary: m.Primary.Key()}
		for _, mem := range append([]mergeplan.Member{m.Primary}, m.Members...) {
			if !names[mem.Source] {
				unknown[mem.Source] = true
			}
		}
		for _, mem := range m.Members {
			im.Members = append(im.Members, mem.Key())
		}
		out = append(out, im)
	}
	if first.Name != "" && len(unknown) > 0 {
		var list []string
		for n := range unknown {
			list = append(list, n)
		}
		sort.Strings(list)
		logger.Warn("the plan names sources this run does not read: their accounts will be reported missing (name the configured source with --source-name; the others are named after their file)",
			"sources", strings.Join(list, ", "))
	}
	logger.Info("merge plan", "accepted", len(out), "proposed", len(plan.Merges))
	return out
}
