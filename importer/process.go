package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
)

// action is what a chunk does with one plan.
type action int

const (
	actCreate  action = iota // send a create
	actResolve               // a previous run left it in flight: look it up first
	actUpdate                // done, but the source changed and Update is set
	actSkip                  // done before
)

// process handles one chunk: classify against the store, resolve leftovers, mark in flight, create, resolve
// conflicts and lost responses, record the outcome. It returns an error only for what must stop the run.
func (im *Importer) process(w workCtx, chunk []*plan) error {
	keys := make([]idshift.Key, 0, len(chunk))
	for _, p := range chunk {
		keys = append(keys, p.user.Key())
	}
	for _, p := range chunk {
		keys = append(keys, p.memberKeys()...)
		if p.merge != nil {
			keys = append(keys, p.merge.missing...)
		}
	}
	var recs map[idshift.Key]*idshift.Record
	if im.cfg.Store != nil {
		var err error
		recs, err = im.cfg.Store.Records(w.store, keys)
		if err != nil {
			return fmt.Errorf("importer: read state: %w", err)
		}
	}
	chunk, err := im.merges(w, chunk, recs)
	if err != nil {
		return err
	}
	keys = keys[:len(chunk)]
	for i, p := range chunk {
		keys[i] = p.user.Key()
	}

	acts := make([]action, len(chunk))
	for i, p := range chunk {
		acts[i] = im.classify(p, recs[keys[i]])
	}
	if im.cfg.DryRun {
		return im.dryRun(chunk, acts)
	}

	var final []*idshift.Record
	var toCreate []*plan
	var toUpdate []*plan
	for i, p := range chunk {
		rec := recs[keys[i]]
		switch acts[i] {
		case actSkip:
			im.progress.skipped.Add(1)
		case actUpdate:
			toUpdate = append(toUpdate, p)
		case actResolve:
			if im.stopping() {
				im.unread(1) // left for the next run
				continue
			}
			r, st, err := im.resolve(w.net, p, rec)
			if err != nil {
				return err
			}
			if st == resolvedAbsent {
				toCreate = append(toCreate, p)
				continue
			}
			final = append(final, r)
		case actCreate:
			toCreate = append(toCreate, p)
		}
	}

	for _, p := range toUpdate {
		if im.stopping() {
			im.unread(1) // left for the next run
			continue
		}
		r, err := im.update(w, p, recs[p.user.Key()])
		if err != nil {
			return err
		}
		final = append(final, r)
	}
	if len(final) > 0 {
		if err := im.cfg.Store.PutRecords(w.store, final); err != nil {
			return fmt.Errorf("importer: save state: %w", err)
		}
	}
	if len(toCreate) > 0 {
		if im.stopping() {
			im.unread(int64(len(toCreate))) // not sent: left for the next run
			return nil
		}
		if err := im.create(w, toCreate, recs); err != nil {
			return err
		}
	}
	return nil
}

func (im *Importer) classify(p *plan, rec *idshift.Record) action {
	if rec == nil {
		return actCreate
	}
	switch rec.State {
	case idshift.StateInFlight:
		return actResolve
	case idshift.StateCreated, idshift.StateAdopted, idshift.StateMigrated:
		if im.cfg.Update && rec.ObjectID != "" && (rec.Digest != p.digest || legacyActivityChanged(rec, p.user)) {
			if p.merge != nil && p.merge.holdsMissing {
				// Members merged by an earlier run were not read in this one: patching the account to what was read
				// would take their identities and credentials away.
				im.cfg.Logger.Warn("not updated: members of this merge were not read in this run",
					"source", p.user.Source, "legacyId", p.user.LegacyID)
				return actSkip
			}
			if strings.HasPrefix(rec.Digest, mergedBodyPrefix) && p.merge == nil {
				// A merged account, and this run's plan does not hold its merge: patching it down to the primary's
				// own identities and credential would lock its members out.
				im.cfg.Logger.Warn("not updated: the account is a merge this run's plan does not accept",
					"source", p.user.Source, "legacyId", p.user.LegacyID)
				return actSkip
			}
			return actUpdate
		}
		return actSkip
	case idshift.StateDisabled, idshift.StateDeleted:
		return actSkip // retired at cutover as stale
	case idshift.StateCollision:
		if im.cfg.AdoptExisting {
			return actResolve
		}
		return actSkip
	}
	// pending, failed, rejected: send again.
	return actCreate
}

// batchesInFlight is how many batches of one chunk are sent at once; each is recorded as soon as it is answered.
const batchesInFlight = 4

// create sends plans in batches of graph.MaxBatch, batchesInFlight at a time, and records each batch's outcomes
// (and counts them) as soon as it is answered. It returns an error only for what must stop the run.
func (im *Importer) create(w workCtx, plans []*plan, prev map[idshift.Key]*idshift.Record) error {
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, batchesInFlight)
		errMu sync.Mutex
		first error
	)
	for lo := 0; lo < len(plans); lo += graph.MaxBatch {
		batch := plans[lo:min(lo+graph.MaxBatch, len(plans))]
		sem <- struct{}{}
		errMu.Lock()
		failed := first != nil
		errMu.Unlock()
		if failed || im.stopping() {
			<-sem
			im.unread(int64(len(batch))) // not sent: left for the next run
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := im.createBatch(w, batch, prev); err != nil {
				errMu.Lock()
				if first == nil {
					first = err
				}
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// createBatch marks the plans in flight, sends them, resolves every outcome and records it.
func (im *Importer) createBatch(w workCtx, plans []*plan, prev map[idshift.Key]*idshift.Record) error {
	attempts := make(map[idshift.Key]int, len(plans))
	for _, p := range plans {
		if r := prev[p.user.Key()]; r != nil {
			attempts[p.user.Key()] = r.Attempts
		}
	}
	pending := plans
	for round := 0; len(pending) > 0; round++ {
		if round > 0 && im.stopping() {
			// Looked up and found absent: not created. Left for the next run, not counted as read.
			var out []*idshift.Record
			for _, p := range pending {
				im.unread(1)
				out = append(out, im.record(p, idshift.StatePending, "", attempts[p.user.Key()], "not sent: interrupted"))
			}
			return im.save(w, out)
		}
		// 1. In flight, with the credential stored first so that the password service can check a user the moment
		// the account exists.
		marks := make([]*idshift.Record, len(pending))
		creds := make(map[idshift.Key]idshift.Credential)
		for i, p := range pending {
			k := p.user.Key()
			attempts[k]++
			marks[i] = im.record(p, idshift.StateInFlight, "", attempts[k], "")
			if p.cred.Kind == idshift.CredentialHash || len(p.cred.Alternates) > 0 {
				creds[k] = p.cred
			}
		}
		if len(creds) > 0 {
			if err := im.cfg.Store.PutCredentials(w.store, creds); err != nil {
				return fmt.Errorf("importer: save credentials: %w", err)
			}
		}
		if err := im.cfg.Store.PutRecords(w.store, marks); err != nil {
			return fmt.Errorf("importer: save state: %w", err)
		}

		// 2. Send.
		bodies := make([]*graph.User, len(pending))
		for i, p := range pending {
			b := *p.body
			if b.PasswordProfile != nil {
				pw := p.cred.Password
				if p.cred.Kind != idshift.CredentialPlaintext {
					var err error
					if pw, err = im.cfg.Password(); err != nil {
						return fmt.Errorf("importer: random password: %w", err)
					}
				}
				b.PasswordProfile = &graph.PasswordProfile{Password: pw}
			}
			bodies[i] = &b
		}
		results := im.cfg.Directory.CreateUsers(w.net, bodies)

		// 3. Outcomes.
		var out []*idshift.Record
		var again []*plan
		var fatal error
		for i, p := range pending {
			k := p.user.Key()
			res := results[i]
			switch {
			case res.Err == nil && res.User != nil && res.User.ID != "":
				im.progress.created.Add(1)
				if im.toReset(p) {
					im.progress.toReset.Add(1)
				}
				out = append(out, im.record(p, idshift.StateCreated, res.User.ID, attempts[k], ""))
			case im.stopping() && (errors.Is(res.Err, graph.ErrConflict) || errors.Is(res.Err, graph.ErrUnknownOutcome)):
				// Stopping: no lookup now. The record stays in flight; the next run resolves it.
				im.unread(1)
			case im.stopping() && notSent(res.Err):
				// Cancelled before it was sent: nothing happened at the tenant.
				im.unread(1)
				out = append(out, im.record(p, idshift.StatePending, "", attempts[k], "not sent: interrupted"))
			case errors.Is(res.Err, graph.ErrConflict) || errors.Is(res.Err, graph.ErrUnknownOutcome):
				r, st, err := im.resolve(w.net, p, &idshift.Record{Key: k, Attempts: attempts[k]})
				if err != nil {
					return err
				}
				if st == resolvedAbsent {
					if attempts[k] >= im.cfg.MaxAttempts {
						im.progress.failed.Add(1)
						out = append(out, im.record(p, idshift.StateFailed, "", attempts[k], "outcome unknown after retries: "+errText(res.Err)))
						continue
					}
					again = append(again, p)
					continue
				}
				out = append(out, r)
			case errors.Is(res.Err, graph.ErrQuotaExceeded):
				im.progress.failed.Add(1)
				out = append(out, im.record(p, idshift.StateFailed, "", attempts[k], errText(res.Err)))
				fatal = fmt.Errorf("importer: the tenant's directory object quota is exhausted: %w", res.Err)
			default:
				im.progress.failed.Add(1)
				out = append(out, im.record(p, idshift.StateFailed, "", attempts[k], errText(res.Err)))
			}
		}
		if fatal != nil {
			// Leave the retries for the next run; record what we know.
			for _, p := range again {
				im.progress.failed.Add(1)
				out = append(out, im.record(p, idshift.StateFailed, "", attempts[p.user.Key()], "not sent: quota exhausted"))
			}
			if err := im.save(w, out); err != nil {
				return err
			}
			return fatal
		}
		if err := im.save(w, out); err != nil {
			return err
		}
		pending = again
	}
	return nil
}

// notSent reports whether a create's error says the request was never sent: the run's cancellation ended it
// while it waited (pacing, Retry-After) or before it was written.
func notSent(err error) bool {
	return err != nil && !errors.Is(err, graph.ErrUnknownOutcome) &&
		(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

func (im *Importer) save(w workCtx, recs []*idshift.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := im.cfg.Store.PutRecords(w.store, recs); err != nil {
		return fmt.Errorf("importer: save state: %w", err)
	}
	return nil
}

type resolution int

const (
	resolvedAbsent resolution = iota // no account holds the identity: the write did not happen
	resolvedDone                     // adopted, or a collision recorded
)

// resolve looks a user up by identity after a conflict, a lost response or a crash, and decides what it is.
func (im *Importer) resolve(ctx context.Context, p *plan, prev *idshift.Record) (*idshift.Record, resolution, error) {
	attempts := 0
	if prev != nil {
		attempts = prev.Attempts
	}
	legacyAttr := im.cfg.extensionName(im.cfg.LegacyIDAttribute)
	found, err := im.cfg.Directory.FindUsersByIdentity(ctx, p.lookup.Issuer, p.lookup.IssuerAssignedID,
		[]string{"id", "identities", legacyAttr})
	if err != nil {
		// The lookup itself failed (throttled past retries, outage, the run stopping): keep the user in flight so
		// the next run resolves it; never guess.
		im.lookupFailed()
		return im.record(p, idshift.StateInFlight, "", attempts, "lookup failed: "+errText(err)), resolvedDone, nil
	}
	for _, u := range found {
		if v, ok := u.Extensions[legacyAttr].(string); ok && v == p.user.LegacyID {
			im.progress.adopted.Add(1)
			return im.record(p, idshift.StateAdopted, u.ID, attempts, ""), resolvedDone, nil
		}
	}
	if len(found) == 0 {
		// Other identities of the user may be the ones taken; check them before declaring the write absent.
		for _, id := range p.body.Identities {
			if id == p.lookup {
				continue
			}
			more, err := im.cfg.Directory.FindUsersByIdentity(ctx, id.Issuer, id.IssuerAssignedID, []string{"id", "identities", legacyAttr})
			if err != nil {
				im.lookupFailed()
				return im.record(p, idshift.StateInFlight, "", attempts, "lookup failed: "+errText(err)), resolvedDone, nil
			}
			found = append(found, more...)
		}
		for _, u := range found {
			if v, ok := u.Extensions[legacyAttr].(string); ok && v == p.user.LegacyID {
				im.progress.adopted.Add(1)
				return im.record(p, idshift.StateAdopted, u.ID, attempts, ""), resolvedDone, nil
			}
		}
		if len(found) == 0 {
			return nil, resolvedAbsent, nil
		}
	}
	other := found[0]
	if im.cfg.AdoptExisting {
		patch := map[string]any{legacyAttr: p.user.LegacyID}
		if im.cfg.FlagAdopted && p.body.PasswordProfile != nil {
			patch[im.cfg.extensionName(im.cfg.MigrationAttribute)] = p.cred.Kind != idshift.CredentialPlaintext
		}
		if err := im.cfg.Directory.UpdateUser(ctx, other.ID, patch); err != nil {
			im.progress.failed.Add(1)
			return im.record(p, idshift.StateFailed, "", attempts, "adopt existing account: "+errText(err)), resolvedDone, nil
		}
		im.progress.adopted.Add(1)
		return im.record(p, idshift.StateAdopted, other.ID, attempts, ""), resolvedDone, nil
	}
	im.progress.collisions.Add(1)
	return im.record(p, idshift.StateCollision, "", attempts,
		fmt.Sprintf("identity %q belongs to another account (%s)", p.lookup.IssuerAssignedID, other.ID)), resolvedDone, nil
}

// lookupFailed counts a user whose lookup failed: failed, or left for the next run when the run is stopping.
func (im *Importer) lookupFailed() {
	if im.stopping() {
		im.unread(1)
		return
	}
	im.progress.failed.Add(1)
}

// update brings a user whose source data changed since it was sent up to date: it patches the profile when the
// request body changed, and stores the new legacy credential when that changed (unless the user has migrated: the
// legacy credential no longer matters then). The migration flag and the tenant's password are left alone: a user
// may have migrated since. A failed patch is counted as failed and recorded with the old digest, so the next
// --update tries again; only a store failure is returned.
func (im *Importer) update(w workCtx, p *plan, rec *idshift.Record) (*idshift.Record, error) {
	if dropped, err := im.droppedMembers(w, p); err != nil {
		return nil, err
	} else if len(dropped) > 0 {
		// The plan no longer holds members an earlier run merged in: patching would take their identities and
		// credentials away from the person. Left as it is; the members are rejected with the reason.
		im.cfg.Logger.Warn("not updated: the plan no longer holds members merged into this account",
			"source", p.user.Source, "legacyId", p.user.LegacyID, "members", strings.Join(keyTexts(dropped), ", "))
		im.progress.skipped.Add(1)
		r := *rec
		return &r, nil
	}
	oldBody, oldCred, _ := strings.Cut(rec.Digest, ".")
	newBody, newCred, _ := strings.Cut(p.digest, ".")
	if oldCred != newCred && (p.cred.Kind == idshift.CredentialHash || len(p.cred.Alternates) > 0) && rec.State != idshift.StateMigrated {
		if err := im.cfg.Store.PutCredentials(w.store, map[idshift.Key]idshift.Credential{p.user.Key(): p.cred}); err != nil {
			return nil, fmt.Errorf("importer: save credentials: %w", err)
		}
	}
	if oldBody != newBody {
		b, err := json.Marshal(p.body)
		var patch map[string]any
		if err == nil {
			err = json.Unmarshal(b, &patch)
		}
		if err != nil {
			return nil, fmt.Errorf("importer: update body: %w", err)
		}
		delete(patch, "passwordProfile")
		delete(patch, "passwordPolicies")
		delete(patch, im.cfg.extensionName(im.cfg.MigrationAttribute))
		if err := im.cfg.Directory.UpdateUser(w.net, rec.ObjectID, patch); err != nil {
			im.progress.failed.Add(1)
			r := *rec
			r.LastError = "update: " + errText(err)
			return &r, nil
		}
	}
	im.progress.updated.Add(1)
	return im.record(p, rec.State, rec.ObjectID, rec.Attempts, ""), nil
}

// droppedMembers returns the members a merged account's stored credential holds (as alternates) that the plan's
// merge no longer holds (read or missing).
func (im *Importer) droppedMembers(w workCtx, p *plan) ([]idshift.Key, error) {
	if p.merge == nil {
		return nil, nil
	}
	old, err := im.cfg.Store.Credential(w.store, p.user.Key())
	if idshift.ErrorCode(err) == idshift.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("importer: read credential: %w", err)
	}
	held := map[idshift.Key]bool{}
	for _, k := range append(p.memberKeys(), p.merge.missing...) {
		held[k] = true
	}
	var out []idshift.Key
	for _, a := range old.Alternates {
		if !held[a.Key()] {
			out = append(out, a.Key())
		}
	}
	return out, nil
}

func (im *Importer) record(p *plan, st idshift.State, objectID string, attempts int, lastErr string) *idshift.Record {
	return &idshift.Record{
		Key: p.user.Key(), Line: p.user.Line, Digest: p.digest, ObjectID: objectID, SignInNames: p.names,
		State: st, Attempts: attempts, LastError: lastErr,
		LegacyLastSignIn: p.user.LastSignIn, LegacyDisabled: p.user.Disabled,
	}
}

// legacyActivityChanged reports whether the source's last sign-in or disabled flag differs from the record's.
func legacyActivityChanged(rec *idshift.Record, u *idshift.User) bool {
	return rec.LegacyDisabled != u.Disabled || !rec.LegacyLastSignIn.Equal(u.LastSignIn.Truncate(time.Microsecond))
}

// errText is a short, secret-free description of a Graph error: its code and message, never a request body.
func errText(err error) string {
	if err == nil {
		return "no result"
	}
	var ge *graph.Error
	if errors.As(err, &ge) {
		s := ge.Code
		if ge.Message != "" {
			s += ": " + ge.Message
		}
		if len(s) > 300 {
			s = s[:300]
		}
		return s
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// dryRun writes what would be sent, one JSON line per user, passwords redacted.
func (im *Importer) dryRun(chunk []*plan, acts []action) error {
	im.rejectMu.Lock()
	defer im.rejectMu.Unlock()
	for i, p := range chunk {
		line := map[string]any{"line": p.user.Line, "legacyId": p.user.LegacyID}
		if len(im.cfg.Sources) > 0 || p.merge != nil {
			line["source"] = p.user.Source
		}
		if p.merge != nil {
			m := map[string]any{"members": keyTexts(p.memberKeys())}
			if len(p.merge.missing) > 0 {
				m["missing"] = keyTexts(p.merge.missing)
			}
			line["merge"] = m
		}
		switch acts[i] {
		case actSkip:
			line["action"] = "skip"
			im.progress.skipped.Add(1)
		case actUpdate:
			line["action"] = "update"
			line["method"] = "PATCH"
			line["body"] = redacted(p.body)
			im.progress.updated.Add(1)
		case actResolve:
			line["action"] = "resolve"
			line["method"] = "GET"
			line["url"] = "/v1.0/users?$filter=" + graph.IdentityFilter(p.lookup.Issuer, p.lookup.IssuerAssignedID)
			im.progress.skipped.Add(1)
		case actCreate:
			line["action"] = "create"
			line["method"] = "POST"
			line["url"] = "/v1.0/users"
			line["body"] = redacted(p.body)
			im.progress.created.Add(1)
			if im.toReset(p) {
				im.progress.toReset.Add(1)
			}
		}
		b, err := json.Marshal(line)
		if err != nil {
			return fmt.Errorf("importer: dry run: %w", err)
		}
		if _, err := im.cfg.DryRunOut.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("importer: dry run output: %w", err)
		}
	}
	return nil
}

// dryRunMerge writes a dry run's line for each member a merged user folds in.
func (im *Importer) dryRunMerge(p *plan) error {
	for _, m := range p.merge.members {
		if err := im.dryRunLine(map[string]any{"action": "merge", "source": m.key.Source, "legacyId": m.key.LegacyID,
			"line": m.line, "into": keyText(p.merge.primary)}); err != nil {
			return err
		}
	}
	return nil
}

// dryRunLine writes one line of a dry run's output.
func (im *Importer) dryRunLine(line map[string]any) error {
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("importer: dry run: %w", err)
	}
	im.rejectMu.Lock()
	defer im.rejectMu.Unlock()
	if _, err := im.cfg.DryRunOut.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("importer: dry run output: %w", err)
	}
	return nil
}

func keyTexts(keys []idshift.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = keyText(k)
	}
	return out
}

func redacted(u *graph.User) *graph.User {
	c := *u
	if c.PasswordProfile != nil {
		c.PasswordProfile = &graph.PasswordProfile{Password: "[redacted]"}
	}
	return &c
}

// toReset reports whether a planned local account goes unflagged because nothing can check its legacy password.
func (im *Importer) toReset(p *plan) bool {
	if p.body.PasswordProfile == nil {
		return false
	}
	flag, _ := p.body.Extensions[im.cfg.extensionName(im.cfg.MigrationAttribute)].(bool)
	return !flag && p.cred.Kind == idshift.CredentialNone
}

// merges takes the chunk's merged users through their checks against the store: a merge the tenant already holds
// some accounts of apart is refused (its accounts counted and reported, taken out of the chunk); the members of the
// others are counted as merged and recorded so (before their primary is sent, so that a crash leaves them
// pointing at it). A plain user whose record says an earlier run merged it is rejected when that merge's account
// exists (the plan changed), and planned on its own when it never did. It returns the plans left to classify.
func (im *Importer) merges(w workCtx, chunk []*plan, recs map[idshift.Key]*idshift.Record) ([]*plan, error) {
	var intoKeys []idshift.Key
	for _, p := range chunk {
		if into, ok := mergedInto(recs[p.user.Key()]); ok && p.merge == nil {
			intoKeys = append(intoKeys, into)
		}
	}
	var intoRecs map[idshift.Key]*idshift.Record
	if len(intoKeys) > 0 {
		var err error
		if intoRecs, err = im.cfg.Store.Records(w.store, intoKeys); err != nil {
			return nil, fmt.Errorf("importer: read state: %w", err)
		}
	}
	var members []*idshift.Record
	kept := chunk[:0]
	for _, p := range chunk {
		if p.merge == nil {
			into, ok := mergedInto(recs[p.user.Key()])
			switch {
			case !ok:
			case inTenant(intoRecs[into]):
				im.reject(&idshift.RowError{Line: p.user.Line, LegacyID: p.user.LegacyID, Source: im.sourceText(p.user), Field: "merge",
					Reason: sprintf("merged into %s by an earlier run (that account holds its identities and credential), and no merge this run accepts holds it: "+
						"import with the plan that accepts the merge, or roll %s back (idshift rollback) to import the accounts apart", keyText(into), keyText(into))})
				continue
			default:
				delete(recs, p.user.Key()) // the merge never reached the tenant: planned on its own
			}
			kept = append(kept, p)
			continue
		}
		if why := refusal(p, recs); why != "" {
			if err := im.refuse(p, recs, why); err != nil {
				return nil, err
			}
			continue
		}
		im.progress.merges.Add(1)
		im.progress.merged.Add(int64(len(p.merge.members)))
		for _, k := range p.merge.missing {
			r := recs[k]
			if into, ok := mergedInto(r); !ok || into != p.merge.primary {
				continue
			}
			if inTenant(recs[p.merge.primary]) {
				p.merge.holdsMissing = true // the account holds it already
				continue
			}
			// Recorded merged by an earlier run, but the account is created without it now: no longer merged, so
			// that a later run reading it refuses the merge instead of counting it as merged.
			members = append(members, &idshift.Record{Key: k, Line: r.Line, State: idshift.StatePending,
				LastError: "left out of the merge into " + keyText(p.merge.primary) + ": not read when the account was created"})
		}
		for _, m := range p.merge.members {
			if into, ok := mergedInto(recs[m.key]); ok && into == p.merge.primary {
				continue
			}
			members = append(members, &idshift.Record{Key: m.key, Line: m.line, Digest: mergedDigest(p.merge.primary),
				State: idshift.StateMerged, LastError: mergedNote(p.merge.primary)})
		}
		if im.cfg.DryRun {
			if err := im.dryRunMerge(p); err != nil {
				return nil, err
			}
		}
		kept = append(kept, p)
	}
	if len(members) > 0 && !im.cfg.DryRun {
		if err := im.cfg.Store.PutRecords(w.store, members); err != nil {
			return nil, fmt.Errorf("importer: save state: %w", err)
		}
	}
	return kept, nil
}

// refuse counts and reports a refused merge: its accounts already imported are skipped, the others rejected,
// each with the reason.
func (im *Importer) refuse(p *plan, recs map[idshift.Key]*idshift.Record, why string) error {
	im.progress.mergesRefused.Add(1)
	im.cfg.Logger.Warn("merge refused", "reason", why)
	type account struct {
		key  idshift.Key
		line int64
	}
	all := []account{{p.user.Key(), p.user.Line}}
	for _, m := range p.merge.members {
		all = append(all, account{m.key, m.line})
	}
	for _, a := range all {
		r := recs[a.key]
		if _, merged := mergedInto(r); merged || inTenant(r) {
			im.progress.skipped.Add(1)
			continue
		}
		re := &idshift.RowError{Line: a.line, LegacyID: a.key.LegacyID, Field: "merge", Reason: why}
		if len(im.cfg.Sources) > 0 {
			re.Source = a.key.Source
		}
		im.reject(re)
	}
	if im.cfg.DryRun {
		return im.dryRunLine(map[string]any{"action": "refuse-merge", "line": p.user.Line, "legacyId": p.user.LegacyID,
			"source": p.user.Source, "reason": why})
	}
	return nil
}
