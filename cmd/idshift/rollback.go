package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/tenant"
)

var rollbackHelp = help{
	usage: "idshift rollback (--dry-run | --confirm) [flags]",
	about: `Undoes a rehearsal: deletes from the tenant the accounts the import created, then purges them from the deleted
items (where they would count against the directory quota for 30 days). An account is ours when the state store
records it (created or migrated, with its object id) AND the tenant confirms it: its legacy-id extension attribute
equals the record's legacy id. An account whose attribute differs is reported and kept; adopted accounts (which
existed before the import) are kept unless --include-adopted. Nothing is found by guesswork.
--dry-run reads the tenant and prints every DELETE it would send; --confirm sends them, paced like the import.
The store then marks each record rolled back (state pending, no object id: the next import sends the user again)
and deletes its legacy credential. Running it again finishes an interrupted run: an account already deleted is
looked up in the deleted items and purged. See docs/rollback.md.`,
	examples: []example{
		{"see every DELETE first", "idshift rollback --config idshift.yaml --dry-run"},
		{"then send them", "idshift rollback --config idshift.yaml --confirm"},
		{"one source only, adopted accounts too, summary as JSON", "idshift rollback --config idshift.yaml --confirm --source-name shop --include-adopted --json"},
	},
	groups: []flagGroup{
		{"Rollback", []string{"dry-run", "confirm", "include-adopted", "source-name", "parallel", "json"}},
		{"Tenant", []string{"config", "domain", "tenant-id", "graph-url", "authority-host", "ca-file", "extensions-app-id", "client-id", "client-secret", "client-certificate", "migration-attribute", "legacy-id-attribute"}},
		{"Limits (writes to the tenant)", []string{"app-writes", "app-window", "tenant-writes", "tenant-window"}},
		{"State store", []string{"store", "allow-unsealed-secrets"}},
		{"Hashes (the keys the stored credentials refer to)", hashFormatFlags},
		{"Limits (cost caps of legacy hashes)", hashCapFlags},
	},
}

// rollbackOptions are the flags of idshift rollback.
type rollbackOptions struct {
	dryRun, confirm, includeAdopted, json bool
	// source limits the rollback to the records of one source (empty: every source in the store).
	source string
	// parallel is how many accounts are handled at once (default 4); the pacer bounds the write rate.
	parallel int
	// Now stamps the records rolled back (default time.Now).
	Now func() time.Time
	// Sleep waits between the lookups of a deleted account not yet visible in the deleted items (default: a timer
	// honouring ctx).
	Sleep func(ctx context.Context, d time.Duration) error
}

// rollbackSummary reconciles: Considered = Deleted + PurgedOnly + NotOurs + Missing + Failed. KeptAdopted (adopted
// accounts left alone without --include-adopted) are not considered.
type rollbackSummary struct {
	DryRun      bool  `json:"dryRun"`
	Considered  int64 `json:"considered"`
	Deleted     int64 `json:"deleted"`    // deleted and purged (or would be)
	PurgedOnly  int64 `json:"purgedOnly"` // already deleted: purged from the deleted items (or would be)
	NotOurs     int64 `json:"notOurs"`    // the tenant's legacy-id attribute differs from the record's: kept
	Missing     int64 `json:"missing"`    // in neither the users nor the deleted items
	Failed      int64 `json:"failed"`
	KeptAdopted int64 `json:"keptAdopted"`
	// RecordsRolledBack and CredentialsDeleted are the store's changes (zero in a dry run).
	RecordsRolledBack  int64 `json:"recordsRolledBack"`
	CredentialsDeleted int64 `json:"credentialsDeleted"`
}

func runRollback(ctx context.Context, env *Env, args []string) (int, error) {
	o := rollbackOptions{}
	cfg, err := parseEndgameFlags(env, "rollback", args, rollbackHelp, func(fs flagSet) {
		fs.BoolVar(&o.dryRun, "dry-run", false, "read the tenant and print every DELETE that would be sent; change nothing")
		fs.BoolVar(&o.confirm, "confirm", false, "delete and purge the accounts (irreversible) and mark their records rolled back")
		fs.BoolVar(&o.includeAdopted, "include-adopted", false, "also delete the adopted accounts (they existed before the import)")
		fs.StringVar(&o.source, "source-name", "", "only the records of this source (default: every source in the store)")
		if iv, ok := fs.(interface {
			IntVar(p *int, name string, value int, usage string)
		}); ok {
			iv.IntVar(&o.parallel, "parallel", 4, "accounts handled at once (the write rate is paced by the limits)")
		}
		fs.BoolVar(&o.json, "json", false, "print the final summary as JSON")
	})
	if err != nil {
		return exitUsage, err
	}
	if o.dryRun == o.confirm {
		return exitUsage, fmt.Errorf("one of --dry-run and --confirm is required: %w", errNoConfirm)
	}
	if o.parallel < 1 {
		return exitUsage, errors.New("--parallel: at least 1")
	}
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return rollback(ctx, env, cfg, o, logger)
}

// rollbackDirectory is what rollback needs of the tenant; *graph.Pool implements it.
type rollbackDirectory interface {
	GetUser(ctx context.Context, id string, sel []string) (*graph.User, error)
	DeleteUser(ctx context.Context, id string) error
	GetDeletedUser(ctx context.Context, id string, sel []string) (*graph.DeletedUser, error)
	PurgeDeletedItem(ctx context.Context, id string) error
}

var _ rollbackDirectory = (*graph.Pool)(nil)

// rollback runs the rollback: the records to consider are read from the store first, then each account is
// confirmed, deleted and purged, and its record updated, one at a time per worker (a crash loses at most the
// accounts in hand, which a rerun finishes).
func rollback(ctx context.Context, env *Env, cfg *Config, o rollbackOptions, logger *slog.Logger) (code int, err error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = rollbackSleep
	}
	if o.parallel < 1 {
		o.parallel = 1
	}
	st, _, err := openEndgameStore(ctx, cfg, env.Getenv, logger)
	if err != nil {
		return exitFailed, err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			code, err = exitFailed, fmt.Errorf("store: close: %w", cerr)
		}
	}()
	pool, err := openDirectory(ctx, cfg, env, logger)
	if err != nil {
		return exitFailed, err
	}
	appID, err := tenant.EnsureExtensions(ctx, pool.Clients()[0], cfg.Tenant.ExtensionsAppID, []tenant.Attribute{
		{Name: cfg.Import.LegacyIDAttribute, DataType: "String"},
	}, false)
	if err != nil {
		return exitFailed, err
	}
	r := &rollbacker{dir: pool, st: st, o: o, legacyAttr: graph.ExtensionName(appID, cfg.Import.LegacyIDAttribute),
		w: &errWriter{w: env.Stdout}, log: logger}
	r.sum.DryRun = o.dryRun
	if o.dryRun {
		fmt.Fprintln(r.w, "dry run: nothing is changed in the tenant or the store; the DELETEs that --confirm would send:")
	}
	if err := r.run(ctx); err != nil {
		return exitFailed, err
	}
	if err := r.printSummary(env.Stdout); err != nil {
		return exitFailed, err
	}
	if r.sum.Failed > 0 {
		return exitUserFailures, nil
	}
	return exitComplete, nil
}

// rollbackSleep waits d or until ctx ends.
func rollbackSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type rollbacker struct {
	dir        rollbackDirectory
	st         idshift.Store
	o          rollbackOptions
	legacyAttr string
	log        *slog.Logger

	mu  sync.Mutex // guards w and sum
	w   *errWriter
	sum rollbackSummary
}

func (r *rollbacker) printf(format string, args ...any) {
	r.mu.Lock()
	fmt.Fprintf(r.w, format+"\n", args...)
	r.mu.Unlock()
}

func (r *rollbacker) count(p *int64) {
	r.mu.Lock()
	*p++
	r.mu.Unlock()
}

// outcome is what happened to one account.
type outcome int

const (
	outDeleted outcome = iota
	outPurgedOnly
	outNotOurs
	outMissing
	outFailed
)

func (r *rollbacker) run(ctx context.Context) error {
	states := []idshift.State{idshift.StateCreated, idshift.StateMigrated, idshift.StateAdopted}
	var recs []*idshift.Record
	err := r.st.Scan(ctx, states, func(rec *idshift.Record) error {
		if r.o.source != "" && rec.Source != r.o.source {
			return nil
		}
		if rec.State == idshift.StateAdopted && !r.o.includeAdopted {
			r.sum.KeptAdopted++
			return nil
		}
		cp := *rec
		recs = append(recs, &cp)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	r.sum.Considered = int64(len(recs))
	work := make(chan *idshift.Record)
	errc := make(chan error, r.o.parallel)
	var wg sync.WaitGroup
	for range r.o.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range work {
				if err := r.one(ctx, rec); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var stopErr error
feed:
	for _, rec := range recs {
		select {
		case work <- rec:
		case stopErr = <-errc:
			break feed
		case <-ctx.Done():
			stopErr = ctx.Err()
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errc)
	if stopErr == nil {
		stopErr = <-errc // nil when closed empty
	}
	return stopErr
}

// one handles one record. It returns an error only for what must stop the run (the store failing, ctx ended).
func (r *rollbacker) one(ctx context.Context, rec *idshift.Record) error {
	out, detail := r.account(ctx, rec)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	who := fmt.Sprintf("%s (source %s, legacy id %s)", rec.ObjectID, rec.Source, rec.LegacyID)
	switch out {
	case outNotOurs:
		r.printf("not ours, kept: %s: %s", who, detail)
		r.count(&r.sum.NotOurs)
		return nil
	case outFailed:
		r.printf("failed: %s: %s", who, detail)
		r.count(&r.sum.Failed)
		return nil
	case outDeleted:
		r.count(&r.sum.Deleted)
	case outPurgedOnly:
		r.count(&r.sum.PurgedOnly)
	case outMissing:
		r.printf("missing: %s: in neither the users nor the deleted items", who)
		r.count(&r.sum.Missing)
	}
	if r.o.dryRun {
		return nil
	}
	// Gone from the tenant: the record says so, and the legacy credential goes.
	upd := *rec
	upd.State = idshift.StatePending
	upd.ObjectID = ""
	upd.Digest = ""
	upd.Attempts = 0
	upd.LastError = "rolled back " + r.o.Now().UTC().Format(time.RFC3339) + ": account deleted from the tenant"
	if err := r.st.PutRecords(ctx, []*idshift.Record{&upd}); err != nil {
		return fmt.Errorf("store: mark %s/%s rolled back: %w", rec.Source, rec.LegacyID, err)
	}
	n, err := r.st.DeleteCredentials(ctx, []idshift.Key{rec.Key})
	if err != nil {
		return fmt.Errorf("store: delete the credential of %s/%s: %w", rec.Source, rec.LegacyID, err)
	}
	r.mu.Lock()
	r.sum.RecordsRolledBack++
	r.sum.CredentialsDeleted += n
	r.mu.Unlock()
	return nil
}

// purgeLookups is how many times a just-deleted account is looked for in the deleted items before giving up
// (Graph's directory is eventually consistent); purgeWait is the wait before the first retry, doubled each time.
const (
	purgeLookups = 5
	purgeWait    = time.Second
)

// account confirms, deletes and purges one account (in a dry run: confirms, and prints the DELETEs).
func (r *rollbacker) account(ctx context.Context, rec *idshift.Record) (outcome, string) {
	if rec.ObjectID == "" {
		return outMissing, ""
	}
	sel := []string{"id", r.legacyAttr}
	u, err := r.dir.GetUser(ctx, rec.ObjectID, sel)
	switch {
	case err == nil:
		if got, _ := u.Extensions[r.legacyAttr].(string); got != rec.LegacyID {
			return outNotOurs, fmt.Sprintf("its %s is %q", r.legacyAttr, got)
		}
		if r.o.dryRun {
			r.printf("DELETE /v1.0/users/%s", rec.ObjectID)
			r.printf("DELETE /v1.0/directory/deletedItems/%s", rec.ObjectID)
			return outDeleted, ""
		}
		if err := r.dir.DeleteUser(ctx, rec.ObjectID); err != nil && !errors.Is(err, graph.ErrNotFound) {
			return outFailed, "delete: " + err.Error()
		}
		r.printf("deleted: %s", rec.ObjectID)
		if out, detail := r.purge(ctx, rec, true); out != outPurgedOnly {
			return out, detail
		}
		return outDeleted, ""
	case errors.Is(err, graph.ErrNotFound):
		return r.purge(ctx, rec, false)
	default:
		return outFailed, "lookup: " + err.Error()
	}
}

// purge finds the account in the deleted items, confirms it is ours, and purges it. justDeleted: this run
// deleted it, so it is waited for a little when not yet visible.
func (r *rollbacker) purge(ctx context.Context, rec *idshift.Record, justDeleted bool) (outcome, string) {
	sel := []string{"id", r.legacyAttr}
	var (
		d   *graph.DeletedUser
		err error
	)
	wait := purgeWait
	for try := 1; ; try++ {
		d, err = r.dir.GetDeletedUser(ctx, rec.ObjectID, sel)
		if err == nil || !errors.Is(err, graph.ErrNotFound) || !justDeleted || try == purgeLookups {
			break
		}
		if serr := r.o.Sleep(ctx, wait); serr != nil {
			return outFailed, "deleted, not yet purged: " + serr.Error()
		}
		wait *= 2
	}
	switch {
	case err == nil:
	case errors.Is(err, graph.ErrNotFound) && justDeleted:
		return outFailed, "deleted, but not yet in the deleted items: run again to purge it"
	case errors.Is(err, graph.ErrNotFound):
		return outMissing, ""
	default:
		return outFailed, "deleted items lookup: " + err.Error()
	}
	if got, _ := d.Extensions[r.legacyAttr].(string); got != rec.LegacyID {
		return outNotOurs, fmt.Sprintf("in the deleted items, its %s is %q", r.legacyAttr, got)
	}
	if r.o.dryRun {
		r.printf("DELETE /v1.0/directory/deletedItems/%s", rec.ObjectID)
		return outPurgedOnly, ""
	}
	if err := r.dir.PurgeDeletedItem(ctx, rec.ObjectID); err != nil && !errors.Is(err, graph.ErrNotFound) {
		return outFailed, "purge: " + err.Error()
	}
	r.printf("purged: %s", rec.ObjectID)
	return outPurgedOnly, ""
}

func (r *rollbacker) printSummary(w io.Writer) error {
	s := r.sum
	if r.o.json {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	verb := ""
	if s.DryRun {
		verb = "would be "
	}
	ew := &errWriter{w: w}
	fmt.Fprintln(ew, "rollback summary:")
	for _, row := range []struct {
		label string
		n     int64
		note  string
	}{
		{"considered", s.Considered, "records created or migrated (adopted with --include-adopted)"},
		{verb + "deleted", s.Deleted, "deleted and purged from the deleted items"},
		{verb + "purged only", s.PurgedOnly, "already deleted: purged from the deleted items"},
		{"not ours", s.NotOurs, "the legacy-id attribute differs: kept"},
		{"missing", s.Missing, "in neither the users nor the deleted items"},
		{"failed", s.Failed, "run again"},
	} {
		fmt.Fprintf(ew, "  %-22s %8d  %s\n", row.label, row.n, row.note)
	}
	fmt.Fprintln(ew, "  considered = deleted + purged only + not ours + missing + failed")
	if s.KeptAdopted > 0 {
		fmt.Fprintf(ew, "  %-22s %8d  %s\n", "kept (adopted)", s.KeptAdopted, "they existed before the import: --include-adopted deletes them too")
	}
	if !s.DryRun {
		fmt.Fprintf(ew, "store: %d records marked rolled back (the next import sends them again), %d legacy credentials deleted\n",
			s.RecordsRolledBack, s.CredentialsDeleted)
	}
	return ew.err
}
