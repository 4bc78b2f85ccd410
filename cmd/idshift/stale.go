package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/cleanup"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/report"
)

// Stale accounts at cutover (step 2): the unmigrated accounts of the store whose legacy activity, as the import
// recorded it, makes them stale by audit's rule (cleanup.Stale): disabled in the legacy system, never signed in
// (with --stale-never-signed-in: a record without a last sign-in may also be a source without that field), or last
// signed in before --stale-after. They are kept, disabled (PATCH accountEnabled=false) or deleted (and, with
// --stale-purge, purged from the deleted items), each record then marked disabled or deleted so that a rerun goes
// on where the last one stopped.

// Stale actions.
const (
	staleKeep    = "keep"
	staleDisable = "disable"
	staleDelete  = "delete"
)

// staleOptions are cutover's flags of the stale rule.
type staleOptions struct {
	after    time.Duration // --stale-after; 0: the last sign-in's age is no reason
	never    bool          // --stale-never-signed-in
	action   string        // --stale-action: keep, disable or delete
	purge    bool          // --stale-purge
	parallel int           // accounts handled at once (the write rate is paced by the limits)
	// Now is the clock of the rule and of the records' notes (default time.Now); Sleep waits between the lookups
	// of a deleted account not yet in the deleted items (default: a timer honouring ctx).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// active reports whether the rule was asked for: any stale flag turns it on.
func (o staleOptions) active() bool { return o.after > 0 || o.never || o.action != staleKeep }

// check reads --stale-after and checks the stale flags after parsing.
func (o *staleOptions) check(afterText string) error {
	if afterText != "" {
		d, err := parseAge(afterText)
		if err != nil {
			return fmt.Errorf("--stale-after: %w", err)
		}
		o.after = d
	}
	switch o.action {
	case staleKeep, staleDisable, staleDelete:
	default:
		return fmt.Errorf("--stale-action: %q is not one of keep, disable, delete", o.action)
	}
	if o.purge && o.action != staleDelete {
		return errors.New("--stale-purge: only with --stale-action delete")
	}
	return nil
}

// reason returns why rec is stale by the rule, cleanup.NotStale when it is not.
func (o staleOptions) reason(rec *idshift.Record, now time.Time) cleanup.Staleness {
	r := cleanup.Stale(rec.LegacyDisabled, rec.LegacyLastSignIn, now, o.after)
	if r == cleanup.StaleNever && !o.never {
		return cleanup.NotStale
	}
	return r
}

// staleDirectory is what the stale step needs of the tenant; *graph.Pool implements it.
type staleDirectory interface {
	UpdateUser(ctx context.Context, id string, patch map[string]any) error
	DeleteUser(ctx context.Context, id string) error
	GetDeletedUser(ctx context.Context, id string, sel []string) (*graph.DeletedUser, error)
	PurgeDeletedItem(ctx context.Context, id string) error
}

var _ staleDirectory = (*graph.Pool)(nil)

// staleSummary counts the stale step. Stale = Acted + Failed + Left when an action was asked for (Acted is zero
// with keep). NotOurs and Resumed are apart.
type staleSummary struct {
	// Stale are the store's unmigrated accounts (created or adopted, flag still set, legacy id confirmed by the
	// tenant) that the rule finds stale, by reason.
	Stale, Disabled, NeverSignedIn, Old int64
	// Acted were disabled or deleted (in a dry run: would be); Purged purged from the deleted items.
	Acted, Purged int64
	// PurgeLeft were deleted but are not yet in the deleted items (Graph is eventually consistent): a rerun
	// with --stale-purge purges them.
	PurgeLeft int64
	// Resumed were deleted by an earlier run that stopped before recording it: found in the deleted items.
	Resumed int64
	// NotOurs: the tenant's legacy-id attribute differs from the record's (kept). Failed: the tenant refused or
	// failed (run again). Left: not done, the run stopping.
	NotOurs, Failed, Left int64
}

// staleCand is a record the rule finds stale, waiting for the tenant's listing to say whether it is unmigrated.
type staleCand struct {
	rec    *idshift.Record
	reason cleanup.Staleness
	seen   bool   // listed by the tenant
	act    bool   // listed flagged, with the record's legacy id: to act on
	names  string // masked sign-in names, for the samples
}

// staler runs the stale step of one cutover.
type staler struct {
	o          staleOptions
	dryRun     bool
	now        time.Time
	st         idshift.Store
	dir        staleDirectory
	legacyAttr string
	flagAttr   string
	cands      map[string]*staleCand // by object id
	purgeOnly  []*idshift.Record     // deleted by an earlier cutover, still in the deleted items (with --stale-purge)

	mu       sync.Mutex // guards w, sum and storeErr
	w        *errWriter
	sum      staleSummary
	storeErr error
	samples  []string
}

// newStaler reads the stale candidates of a cutover from the store.
func newStaler(ctx context.Context, st idshift.Store, t *graphTenant, o cutoverOptions, w *errWriter) (*staler, error) {
	if o.stale.Now == nil {
		o.stale.Now = time.Now
	}
	if o.stale.Sleep == nil {
		o.stale.Sleep = rollbackSleep
	}
	s := &staler{o: o.stale, dryRun: o.dryRun, now: o.stale.Now(), st: st, dir: t.pool, legacyAttr: t.legacyAttr,
		flagAttr: t.flagAttr, w: w}
	if err := s.load(ctx); err != nil {
		return nil, fmt.Errorf("store: stale accounts: %w", err)
	}
	return s, nil
}

// report prints the step's counts and adds what it destroyed, and what it left, to the cutover's report.
func (s *staler) report(destroyed, held []string) ([]string, []string) {
	m := s.sum
	would := ""
	if s.dryRun {
		would = "would be "
	}
	switch s.o.action {
	case staleDisable:
		s.printf("   %s %sdisabled, %d failed, %d left (stale = disabled + failed + left)", plural(m.Acted, "stale account", "stale accounts"), would, m.Failed, m.Left)
		if m.Acted > 0 {
			destroyed = append(destroyed, plural(m.Acted, "stale unmigrated account", "stale unmigrated accounts")+" disabled in the tenant (accountEnabled false)")
		}
	case staleDelete:
		s.printf("   %s %sdeleted, %d failed, %d left (stale = deleted + failed + left); %d %spurged, %d not yet purged, %d deleted by an earlier run",
			plural(m.Acted, "stale account", "stale accounts"), would, m.Failed, m.Left, m.Purged, would, m.PurgeLeft, m.Resumed)
		if m.Acted+m.Resumed > 0 {
			destroyed = append(destroyed, plural(m.Acted+m.Resumed, "stale unmigrated account", "stale unmigrated accounts")+" deleted from the tenant")
		}
		if m.Purged > 0 {
			destroyed = append(destroyed, plural(m.Purged, "stale account", "stale accounts")+" purged from the deleted items")
		}
		if !s.o.purge && m.Acted+m.Resumed > 0 {
			held = append(held, "the deleted stale accounts, restorable from the tenant's deleted items for 30 days (and counted against its quota): run again with --stale-purge to purge them")
		}
	}
	if m.NotOurs > 0 {
		s.printf("   %d not ours (legacy id differs in the tenant): kept", m.NotOurs)
	}
	if m.Failed > 0 || m.PurgeLeft > 0 {
		s.printf("   run the same command again to finish them")
	}
	return destroyed, held
}

// staleSamples is how many stale accounts are shown (masked).
const staleSamples = 5

// load reads the stale candidates from the store: created or adopted records the rule finds stale (and, to purge,
// the records an earlier cutover deleted without purging).
func (s *staler) load(ctx context.Context) error {
	s.cands = map[string]*staleCand{}
	err := s.st.Scan(ctx, []idshift.State{idshift.StateCreated, idshift.StateAdopted}, func(r *idshift.Record) error {
		if r.ObjectID == "" {
			return nil
		}
		if why := s.o.reason(r, s.now); why != cleanup.NotStale {
			cp := *r
			s.cands[r.ObjectID] = &staleCand{rec: &cp, reason: why}
		}
		return nil
	})
	if err != nil || !s.o.purge {
		return err
	}
	return s.st.Scan(ctx, []idshift.State{idshift.StateDeleted}, func(r *idshift.Record) error {
		if r.ObjectID != "" {
			cp := *r
			s.purgeOnly = append(s.purgeOnly, &cp)
		}
		return nil
	})
}

// see takes one user of the tenant's listing and returns why it is stale ("" when it is not, or not ours to act on).
func (s *staler) see(u report.TenantUser) cleanup.Staleness {
	c := s.cands[u.ObjectID]
	if c == nil {
		return cleanup.NotStale
	}
	c.seen = true
	if !u.Flagged {
		return cleanup.NotStale // migrated since: not an unmigrated account
	}
	if u.LegacyID != c.rec.LegacyID {
		s.sum.NotOurs++
		s.printf("   not ours, kept: %s (source %s, legacy id %s): its %s is %q", u.ObjectID, c.rec.Source, c.rec.LegacyID, s.legacyAttr, u.LegacyID)
		return cleanup.NotStale
	}
	c.act = true
	names := u.SignInNames
	if len(names) == 0 {
		names = c.rec.SignInNames
	}
	masked := make([]string, 0, len(names))
	for _, n := range names {
		masked = append(masked, cleanup.MaskEmail(n))
	}
	c.names = strings.Join(masked, " ")
	return c.reason
}

func (s *staler) printf(format string, args ...any) {
	s.mu.Lock()
	fmt.Fprintf(s.w, format+"\n", args...)
	s.mu.Unlock()
}

func (s *staler) count(p *int64) {
	s.mu.Lock()
	*p++
	s.mu.Unlock()
}

// run prints the stale accounts found by the listing and carries the action out (in a dry run, says what it
// would do). It returns an error only for what must stop the cutover (the store failing); the run stopping
// (ctx) leaves the rest counted as Left.
func (s *staler) run(ctx context.Context) error {
	var todo, unseen []*staleCand
	for _, c := range s.cands {
		switch {
		case c.act:
			todo = append(todo, c)
		case !c.seen:
			unseen = append(unseen, c)
		}
	}
	byKey := func(l []*staleCand) {
		sort.Slice(l, func(i, j int) bool {
			a, b := l[i].rec, l[j].rec
			return a.Source < b.Source || a.Source == b.Source && a.LegacyID < b.LegacyID
		})
	}
	byKey(todo)
	byKey(unseen)
	for _, c := range todo {
		s.sum.Stale++
		switch c.reason {
		case cleanup.StaleDisabled:
			s.sum.Disabled++
		case cleanup.StaleNever:
			s.sum.NeverSignedIn++
		default:
			s.sum.Old++
		}
		if len(s.samples) < staleSamples {
			s.samples = append(s.samples, fmt.Sprintf("%s (source %s, legacy id %s, %s): %s", c.rec.ObjectID, c.rec.Source,
				c.rec.LegacyID, c.names, s.describe(c)))
		}
	}
	rule := []string{"disabled in the legacy system"}
	if s.o.never {
		rule = append(rule, "never signed in")
	}
	if s.o.after > 0 {
		rule = append(rule, "last sign-in before "+s.now.Add(-s.o.after).UTC().Format("2006-01-02"))
	}
	s.printf("   stale (%s): %s: %d disabled, %d never signed in, %d last sign-in too old",
		strings.Join(rule, ", or "), plural(s.sum.Stale, "unmigrated account", "unmigrated accounts"), s.sum.Disabled, s.sum.NeverSignedIn, s.sum.Old)
	for _, smp := range s.samples {
		s.printf("     e.g. %s", smp)
	}
	if s.o.action == staleKeep {
		if s.sum.Stale > 0 {
			s.printf("   kept (--stale-action keep): --stale-action disable or delete retires them")
		}
		return nil
	}
	if s.dryRun {
		verb := "disabled (PATCH accountEnabled=false)"
		if s.o.action == staleDelete {
			verb = "deleted (DELETE /users/{id})"
			if s.o.purge {
				verb += " and purged from the deleted items"
			}
		}
		s.printf("   would be %s: %d", verb, s.sum.Stale)
	}
	// Requests run on a context the first interrupt does not cancel, so that the one on the wire completes and
	// is recorded; the pacer's and retries' waits end at once (the clients' stoppable sleep), and no new account is
	// started.
	net := context.WithoutCancel(ctx)
	work := make([]func(), 0, len(todo)+len(unseen)+len(s.purgeOnly))
	for _, c := range todo {
		work = append(work, func() { s.act(ctx, net, c) })
	}
	if s.o.action == staleDelete {
		for _, c := range unseen {
			work = append(work, func() { s.resume(ctx, net, c) })
		}
		for _, r := range s.purgeOnly {
			work = append(work, func() { s.purgeRecorded(ctx, net, r) })
		}
	}
	return s.parallel(ctx, work)
}

// describe says why an account is stale, with its last sign-in.
func (s *staler) describe(c *staleCand) string {
	if c.reason == cleanup.StaleOld {
		return "last sign-in " + c.rec.LegacyLastSignIn.UTC().Format("2006-01-02")
	}
	return string(c.reason)
}

// parallel runs the work o.parallel at a time, starting none once ctx is done; the first store failure stops it.
func (s *staler) parallel(ctx context.Context, work []func()) error {
	n := max(1, s.o.parallel)
	ch := make(chan func())
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range ch {
				f()
			}
		}()
	}
	left := 0
	for i, f := range work {
		if ctx.Err() != nil || s.failedStore() != nil {
			left = len(work) - i
			break
		}
		select {
		case ch <- f:
		case <-ctx.Done():
			left = len(work) - i
		}
		if left > 0 {
			break
		}
	}
	close(ch)
	wg.Wait()
	s.mu.Lock()
	s.sum.Left += int64(left)
	s.mu.Unlock()
	return s.failedStore()
}

// storeErr is the first store failure; the step stops on it.
func (s *staler) failedStore() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeErr
}

// act disables or deletes one stale account (in a dry run: prints the requests) and records it.
func (s *staler) act(stop, net context.Context, c *staleCand) {
	id := c.rec.ObjectID
	if stop.Err() != nil {
		s.count(&s.sum.Left)
		return
	}
	if s.dryRun {
		if s.o.action == staleDisable {
			s.printf("   PATCH /v1.0/users/%s {\"accountEnabled\":false}", id)
		} else {
			s.printf("   DELETE /v1.0/users/%s", id)
			if s.o.purge {
				s.printf("   DELETE /v1.0/directory/deletedItems/%s", id)
			}
		}
		s.count(&s.sum.Acted)
		return
	}
	upd := *c.rec
	note := fmt.Sprintf("at cutover %s: stale (%s)", s.now.UTC().Format(time.RFC3339), s.describe(c))
	if s.o.action == staleDisable {
		if err := s.dir.UpdateUser(net, id, map[string]any{"accountEnabled": false}); err != nil {
			s.fail(stop, id, "disable", err)
			return
		}
		upd.State, upd.LastError = idshift.StateDisabled, "disabled "+note
		if s.save(net, &upd) {
			s.printf("   disabled: %s", id)
			s.count(&s.sum.Acted)
		}
		return
	}
	if err := s.dir.DeleteUser(net, id); err != nil && !errors.Is(err, graph.ErrNotFound) {
		s.fail(stop, id, "delete", err)
		return
	}
	upd.State, upd.LastError = idshift.StateDeleted, "deleted "+note
	if !s.save(net, &upd) {
		return
	}
	s.printf("   deleted: %s", id)
	s.count(&s.sum.Acted)
	if s.o.purge {
		s.purge(stop, net, &upd, true)
	}
}

// resume looks a stale candidate the listing did not show up in the deleted items: an earlier run deleted it
// and stopped before recording it. Ours and still flagged: recorded deleted (and purged with --stale-purge).
func (s *staler) resume(stop, net context.Context, c *staleCand) {
	if stop.Err() != nil {
		s.count(&s.sum.Left)
		return
	}
	d, err := s.dir.GetDeletedUser(net, c.rec.ObjectID, []string{"id", s.legacyAttr, s.flagAttr})
	switch {
	case errors.Is(err, graph.ErrNotFound):
		return // gone before this cutover: idshift status counts it among the records missing from the tenant
	case err != nil:
		s.fail(stop, c.rec.ObjectID, "deleted items lookup", err)
		return
	}
	if got, _ := d.Extensions[s.legacyAttr].(string); got != c.rec.LegacyID {
		return
	}
	if flagged, _ := d.Extensions[s.flagAttr].(bool); !flagged {
		return
	}
	s.count(&s.sum.Resumed)
	if s.dryRun {
		s.printf("   deleted by an earlier cutover, would be recorded: %s", c.rec.ObjectID)
		if s.o.purge {
			s.printf("   DELETE /v1.0/directory/deletedItems/%s", c.rec.ObjectID)
		}
		return
	}
	upd := *c.rec
	upd.State = idshift.StateDeleted
	upd.LastError = fmt.Sprintf("deleted at cutover (found in the deleted items %s): stale (%s)", s.now.UTC().Format(time.RFC3339), s.describe(c))
	if !s.save(net, &upd) {
		return
	}
	s.printf("   deleted by an earlier cutover, recorded: %s", c.rec.ObjectID)
	if s.o.purge {
		s.purge(stop, net, &upd, false)
	}
}

// purgeRecorded purges an account an earlier cutover deleted without purging.
func (s *staler) purgeRecorded(stop, net context.Context, rec *idshift.Record) {
	if stop.Err() != nil {
		s.count(&s.sum.Left)
		return
	}
	if s.dryRun {
		s.printf("   DELETE /v1.0/directory/deletedItems/%s", rec.ObjectID)
		return
	}
	s.purge(stop, net, rec, false)
}

// purge finds a deleted account in the deleted items, confirms it is ours, purges it and records it without an
// object id. justDeleted: this run deleted it, so it is waited for a little when not yet visible.
func (s *staler) purge(stop, net context.Context, rec *idshift.Record, justDeleted bool) {
	var (
		d   *graph.DeletedUser
		err error
	)
	wait := purgeWait
	for try := 1; ; try++ {
		d, err = s.dir.GetDeletedUser(net, rec.ObjectID, []string{"id", s.legacyAttr})
		if err == nil || !errors.Is(err, graph.ErrNotFound) || !justDeleted || try == purgeLookups {
			break
		}
		if serr := s.o.Sleep(stop, wait); serr != nil {
			break
		}
		wait *= 2
	}
	switch {
	case err == nil:
	case errors.Is(err, graph.ErrNotFound) && justDeleted:
		s.printf("   not yet purged: %s is not in the deleted items yet: run again to purge it", rec.ObjectID)
		s.count(&s.sum.PurgeLeft)
		return
	case errors.Is(err, graph.ErrNotFound):
		// Purged already (or expired): the record says so.
	default:
		s.fail(stop, rec.ObjectID, "deleted items lookup", err)
		return
	}
	if err == nil {
		if got, _ := d.Extensions[s.legacyAttr].(string); got != rec.LegacyID {
			s.printf("   not ours, kept in the deleted items: %s: its %s is %q", rec.ObjectID, s.legacyAttr, got)
			s.count(&s.sum.NotOurs)
			return
		}
		if err := s.dir.PurgeDeletedItem(net, rec.ObjectID); err != nil && !errors.Is(err, graph.ErrNotFound) {
			s.fail(stop, rec.ObjectID, "purge", err)
			return
		}
	}
	upd := *rec
	id := upd.ObjectID
	upd.ObjectID = ""
	upd.LastError += "; purged"
	if s.save(net, &upd) {
		s.printf("   purged: %s", id)
		s.count(&s.sum.Purged)
	}
}

// fail counts an account the tenant refused or failed, or, when the run is stopping and the request was not
// sent, one left for the next run.
func (s *staler) fail(stop context.Context, id, what string, err error) {
	if stop.Err() != nil && errors.Is(err, context.Canceled) {
		s.count(&s.sum.Left)
		return
	}
	s.printf("   failed: %s: %s: %v", id, what, err)
	s.count(&s.sum.Failed)
}

// save records a change; a store failure stops the step.
func (s *staler) save(ctx context.Context, rec *idshift.Record) bool {
	if err := s.st.PutRecords(ctx, []*idshift.Record{rec}); err != nil {
		s.mu.Lock()
		if s.storeErr == nil {
			s.storeErr = fmt.Errorf("store: record %s/%s: %w", rec.Source, rec.LegacyID, err)
		}
		s.mu.Unlock()
		return false
	}
	return true
}
