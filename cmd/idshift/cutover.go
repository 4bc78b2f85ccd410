package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/cleanup"
	"github.com/idshift/idshift/report"
	"github.com/idshift/idshift/store"
	"github.com/idshift/idshift/tenant"
)

var cutoverHelp = help{
	usage: "idshift cutover (--dry-run | --confirm) [flags]",
	about: `Ends the migration (the second stage): stop harvesting passwords, decide for the users not yet migrated, and
destroy the legacy secrets. Steps, in order:
  1. stop harvesting: delete the OnPasswordSubmit listener and the custom extension (--keep-listener keeps them);
     --remove-certificate also removes the extension's encryption certificates from its app registration
  2. the users whose migration flag is still set: counted, and with --export-unmigrated FILE written as JSON Lines
     (objectId, legacyId, signInNames, stale) for a communication campaign; they sign in through self-service
     password reset, External ID's default once the listener is gone. The stale ones among the accounts the store
     created or adopted (audit's rule on the legacy activity the import recorded: disabled in the legacy system,
     never signed in with --stale-never-signed-in, last sign-in older than --stale-after) are counted and shown
     masked, and with --stale-action kept, disabled or deleted (--stale-purge: and purged from the deleted
     items), paced like the import; each is recorded, so a rerun goes on where an interrupted one stopped
  3. destroy the legacy secrets: every legacy credential deleted from the store, the store compacted (SQLite VACUUM
     and WAL truncation; PostgreSQL VACUUM FULL), the <store>.key file idshift generated deleted
  4. a report of what was destroyed and of what the operator still holds and must revoke
--dry-run prints every step and what it would change, changing nothing; --confirm carries them out. Stop idshift
serve first. Running it again is safe: what is already gone is skipped. See docs/status.md.`,
	examples: []example{
		{"see every step first", "idshift cutover --config idshift.yaml --dry-run --export-unmigrated unmigrated.jsonl"},
		{"then carry them out", "idshift cutover --config idshift.yaml --confirm --export-unmigrated unmigrated.jsonl --remove-certificate"},
		{"also delete and purge the stale accounts not migrated (legacy sign-in over 2 years ago, or disabled)", "idshift cutover --config idshift.yaml --confirm --stale-after 2y --stale-action delete --stale-purge"},
	},
	groups: []flagGroup{
		{"Steps", []string{"dry-run", "confirm", "keep-listener", "remove-certificate", "export-unmigrated", "app-name"}},
		{"Stale accounts (step 2)", []string{"stale-after", "stale-never-signed-in", "stale-action", "stale-purge"}},
		{"Tenant", []string{"config", "domain", "tenant-id", "graph-url", "authority-host", "ca-file", "extensions-app-id", "client-id", "client-secret", "client-certificate", "migration-attribute", "legacy-id-attribute"}},
		{"State store", []string{"store", "allow-unsealed-secrets"}},
		{"Limits (reads and writes to the tenant)", []string{"app-writes", "app-window", "tenant-writes", "tenant-window"}},
		{"Hashes (of the credentials the store holds)", hashFormatFlags},
		{"Limits (cost caps of legacy hashes)", hashCapFlags},
	},
}

type cutoverOptions struct {
	dryRun, confirm, keepListener, removeCert bool
	export, appName                           string
	stale                                     staleOptions
}

func runCutover(ctx context.Context, env *Env, args []string) (int, error) {
	o := cutoverOptions{stale: staleOptions{parallel: 4}}
	var staleAfter string
	cfg, err := parseEndgameFlags(env, "cutover", args, cutoverHelp, func(fs flagSet) {
		fs.BoolVar(&o.dryRun, "dry-run", false, "print every step and what it would change; change nothing")
		fs.BoolVar(&o.confirm, "confirm", false, "carry the steps out: the listener and extension deleted, the legacy credentials destroyed (irreversible)")
		fs.BoolVar(&o.keepListener, "keep-listener", false, "keep the OnPasswordSubmit listener and custom extension")
		fs.BoolVar(&o.removeCert, "remove-certificate", false, "also remove the extension's encryption certificates from its app registration")
		fs.StringVar(&o.export, "export-unmigrated", "", "write the users not yet migrated to this file, JSON Lines (never overwritten)")
		fs.StringVar(&o.appName, "app-name", tenant.DefaultAppDisplayName, "display name of the extension's app registration (as given to tenant setup)")
		fs.StringVar(&staleAfter, "stale-after", "", "an unmigrated account whose legacy last sign-in is older than this is stale (e.g. 2y, 540d, 8760h)")
		fs.BoolVar(&o.stale.never, "stale-never-signed-in", false, "an unmigrated account without a legacy last sign-in is stale (never signed in, or the source had no such field)")
		fs.StringVar(&o.stale.action, "stale-action", staleKeep, "what to do with the stale unmigrated accounts: keep, disable (accountEnabled false) or delete")
		fs.BoolVar(&o.stale.purge, "stale-purge", false, "with --stale-action delete: also purge them from the deleted items (not restorable then)")
	})
	if err != nil {
		return exitUsage, err
	}
	if err := o.stale.check(staleAfter); err != nil {
		return exitUsage, err
	}
	if o.dryRun == o.confirm {
		return exitUsage, fmt.Errorf("one of --dry-run and --confirm is required: %w", errNoConfirm)
	}
	if o.keepListener && o.removeCert {
		return exitUsage, errors.New("--remove-certificate: not with --keep-listener (the extension would have no key to encrypt with)")
	}
	if o.export != "" && !o.dryRun {
		if _, err := os.Stat(o.export); err == nil {
			return exitUsage, fmt.Errorf("--export-unmigrated %s: the file exists; choose another name", o.export)
		}
	}
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return cutover(ctx, env, cfg, o, logger)
}

// cutover runs the steps. Each step's lines go to stdout as it runs; the final report follows.
func cutover(ctx context.Context, env *Env, cfg *Config, o cutoverOptions, logger *slog.Logger) (int, error) {
	w := &errWriter{w: env.Stdout}
	would := ""
	if o.dryRun {
		would = "would be "
		fmt.Fprintln(w, "dry run: nothing is changed in the tenant, the store or the files")
	}
	st, keySource, err := openEndgameStore(ctx, cfg, env.Getenv, logger)
	if err != nil {
		return exitFailed, err
	}
	closed := false
	defer func() {
		if !closed {
			st.Close()
		}
	}()
	lister, err := openTenantLister(ctx, cfg, env, logger)
	if err != nil {
		return exitFailed, err
	}
	var destroyed, held []string
	failures := false

	// 1. Stop harvesting.
	fmt.Fprintln(w, "1. stop harvesting passwords at sign-in")
	removedCert := false
	if o.keepListener {
		fmt.Fprintln(w, "   kept: the OnPasswordSubmit listener and custom extension (--keep-listener); flagged users keep being migrated, with no legacy credential to check them against after step 3")
		held = append(held, "the OnPasswordSubmit listener and custom extension, kept by --keep-listener: remove them with idshift cutover --confirm (without --keep-listener)")
	} else {
		res, err := tenant.Teardown(ctx, lister.c, tenant.Config{
			ExtensionsAppID: cfg.Tenant.ExtensionsAppID, AppDisplayName: o.appName,
			MigrationAttribute: cfg.Import.MigrationAttribute, LegacyIDAttribute: cfg.Import.LegacyIDAttribute,
			DryRun: o.dryRun, Logger: logger,
		}, tenant.TeardownOptions{RemoveCertificates: o.removeCert})
		if err != nil {
			return exitFailed, err
		}
		if !res.Changed() {
			fmt.Fprintln(w, "   nothing to do: no OnPasswordSubmit listener or custom extension of idshift's in the tenant")
		}
		for _, r := range res.Requests {
			if o.dryRun {
				fmt.Fprintf(w, "   would send: %s %s\n", r.Method, r.Path)
			} else {
				fmt.Fprintf(w, "   sent: %s %s\n", r.Method, r.Path)
			}
			switch {
			case strings.Contains(r.Path, "authenticationEventListeners"):
				destroyed = append(destroyed, "the OnPasswordSubmit listener "+strings.TrimPrefix(r.Path, "/beta/identity/authenticationEventListeners/"))
			case strings.Contains(r.Path, "customAuthenticationExtensions"):
				destroyed = append(destroyed, "the custom authentication extension "+strings.TrimPrefix(r.Path, "/beta/identity/customAuthenticationExtensions/"))
			default:
				removedCert = true
				destroyed = append(destroyed, "the encryption certificates of the extension's app registration "+res.AppID)
			}
		}
	}

	// 2. The users not yet migrated.
	fmt.Fprintln(w, "2. users not yet migrated (migration flag still set in the tenant)")
	var out *bufio.Writer
	var file *os.File
	if o.export != "" && !o.dryRun {
		f, err := os.OpenFile(o.export, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return exitFailed, fmt.Errorf("--export-unmigrated: %w", err)
		}
		file, out = f, bufio.NewWriter(f)
	}
	var stale *staler
	if o.stale.active() {
		stale, err = newStaler(ctx, st, lister, o, w)
		if err != nil {
			return exitFailed, err
		}
	}
	var unmigrated int64
	err = lister.Users(ctx, func(u report.TenantUser) error {
		var why cleanup.Staleness
		if stale != nil {
			why = stale.see(u)
		}
		if !u.Flagged {
			return nil
		}
		unmigrated++
		if out == nil {
			return nil
		}
		if len(u.SignInNames) == 0 {
			if rec, err := st.RecordByObjectID(ctx, u.ObjectID); err == nil {
				u.SignInNames = rec.SignInNames
			}
		}
		b, err := json.Marshal(unmigratedLine{TenantUser: u, Stale: string(why)})
		if err != nil {
			return err
		}
		_, err = out.Write(append(b, '\n'))
		return err
	})
	if out != nil {
		err = errors.Join(err, out.Flush(), file.Close())
	}
	if err != nil {
		return exitFailed, fmt.Errorf("users not yet migrated: %w", err)
	}
	fmt.Fprintf(w, "   %s: left to self-service password reset", plural(unmigrated, "user", "users"))
	if o.keepListener {
		fmt.Fprint(w, " (once the listener is gone)")
	}
	fmt.Fprintln(w)
	switch {
	case o.export != "" && o.dryRun:
		fmt.Fprintf(w, "   would write them to %s (JSON Lines: objectId, legacyId, signInNames)\n", o.export)
	case o.export != "":
		fmt.Fprintf(w, "   written to %s (JSON Lines: objectId, legacyId, signInNames, mode 0600)\n", o.export)
		held = append(held, o.export+": the users not yet migrated, personal data: delete it after the campaign")
	default:
		fmt.Fprintln(w, "   not exported (--export-unmigrated FILE writes them for a communication campaign)")
	}
	if stale != nil {
		err := stale.run(ctx)
		destroyed, held = stale.report(destroyed, held)
		if err != nil {
			return exitFailed, err
		}
		if ctx.Err() != nil {
			fmt.Fprintln(w, "interrupted: the requests already sent were recorded; steps 3 and 4 were not run. Run the same command again to go on.")
			return exitFailed, nil
		}
		if stale.sum.Failed > 0 {
			failures = true
		}
	} else {
		fmt.Fprintln(w, "   stale accounts: not looked for (--stale-after, --stale-never-signed-in or --stale-action turn the rule on)")
	}

	// 3. Destroy the legacy secrets.
	fmt.Fprintln(w, "3. destroy the legacy secrets")
	lister2, ok := st.(store.CredentialLister)
	if !ok {
		return exitFailed, fmt.Errorf("store %T cannot list its credentials", st)
	}
	var keys []idshift.Key
	if err := lister2.CredentialKeys(ctx, func(k idshift.Key) error { keys = append(keys, k); return nil }); err != nil {
		return exitFailed, err
	}
	var deleted int64
	if !o.dryRun {
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			m, err := st.DeleteCredentials(ctx, keys[:n])
			if err != nil {
				return exitFailed, err
			}
			deleted += m
			keys = keys[n:]
		}
	} else {
		deleted = int64(len(keys))
	}
	fmt.Fprintf(w, "   %s %sdeleted from the store\n", plural(deleted, "legacy credential", "legacy credentials"), would)
	if deleted > 0 {
		destroyed = append(destroyed, plural(deleted, "legacy credential", "legacy credentials")+" (password hashes, plaintext passwords) in the state store")
	}
	if c, ok := st.(store.Compactor); ok {
		if !o.dryRun {
			if err := c.Compact(ctx); err != nil {
				return exitFailed, err
			}
		}
		fmt.Fprintf(w, "   the store %scompacted, so that no deleted credential survives in its files\n", would)
		if isPostgres(cfg.Store) {
			destroyed = append(destroyed, "the credentials table's deleted rows (VACUUM FULL)")
		} else {
			destroyed = append(destroyed, "the deleted credentials' bytes in the SQLite file's free pages and WAL (VACUUM, WAL truncated)")
		}
	}
	closed = true
	if err := st.Close(); err != nil {
		return exitFailed, fmt.Errorf("store: close: %w", err)
	}
	if !isPostgres(cfg.Store) {
		keyFile := storeKeyFile(strings.TrimPrefix(cfg.Store, "sqlite:"))
		switch {
		case keySource == keyFromFile && !o.dryRun:
			if err := destroyFile(keyFile); err != nil {
				return exitFailed, fmt.Errorf("store key file: %w", err)
			}
			fmt.Fprintf(w, "   the store key file %s deleted\n", keyFile)
			destroyed = append(destroyed, "the store key "+keyFile)
		case keySource == keyFromFile:
			fmt.Fprintf(w, "   the store key file %s would be deleted\n", keyFile)
			destroyed = append(destroyed, "the store key "+keyFile)
		default:
			fmt.Fprintln(w, "   no key file of idshift's beside the store")
		}
	}

	// 4. The report.
	fmt.Fprintln(w, "\n4. report")
	fmt.Fprintf(w, "%sdestroyed:\n", would)
	if len(destroyed) == 0 {
		fmt.Fprintln(w, "  nothing (already done by an earlier cutover)")
	}
	for _, d := range destroyed {
		fmt.Fprintf(w, "  - %s\n", d)
	}
	if keySource == keyFromEnv {
		held = append(held, "the store key of $"+store.EnvKey+" or $"+store.EnvKeyFile+" (your configuration, secret store or vault): destroy it")
	}
	held = append(held, "backups and snapshots of the state store ("+redactDSN(cfg.Store)+"), which still hold the legacy credentials: destroy them")
	if isPostgres(cfg.Store) {
		held = append(held, "the PostgreSQL server's WAL archive and replicas, which may hold the deleted rows")
	}
	held = append(held, "the extension's private key file (tenant setup's --key-out, serve's decryption keys): delete it")
	if !removedCert && !o.removeCert {
		held = append(held, "the extension's certificate on its app registration: remove it with --remove-certificate")
	}
	held = append(held,
		"the harvest callers' secrets (serve's harvest API keys or client credentials): revoke them",
		"the live checks' credentials (legacy OIDC clients, LDAP bind accounts, webhook secrets): revoke them",
		"the legacy identity provider itself and its exports (the source files the import read): decommission and delete them",
		"the store's records and attempt log (sign-in names, client addresses: personal data, no secret), kept for idshift status: delete the store when they are no longer needed")
	fmt.Fprintln(w, "still held by you, to revoke or destroy:")
	for _, h := range held {
		fmt.Fprintf(w, "  - %s\n", h)
	}
	if w.err != nil {
		return exitFailed, w.err
	}
	if failures {
		return exitUserFailures, nil
	}
	return exitComplete, nil
}

// unmigratedLine is one line of --export-unmigrated: the user, and why the account is stale ("" when it is not,
// or when the rule is off).
type unmigratedLine struct {
	report.TenantUser
	Stale string `json:"stale,omitempty"`
}

// destroyFile overwrites a small secret file with zeros, syncs it and removes it. A missing file is not an error.
func destroyFile(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := io.CopyN(f, zeroReader{}, fi.Size())
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return err
	}
	return os.Remove(path)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// redactDSN hides a PostgreSQL URL's password.
func redactDSN(dsn string) string {
	if !isPostgres(dsn) {
		return dsn
	}
	scheme, rest, _ := strings.Cut(dsn, "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, _, _ := strings.Cut(rest[:at], ":")
		rest = user + "@" + rest[at+1:]
	}
	return scheme + "://" + rest
}
