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
	keys := make([]idshift.Key, len(chunk))
	for i, p := range chunk {
		keys[i] = p.user.Key()
	}
	var recs map[idshift.Key]*idshift.Record
	if im.cfg.Store != nil {
		var err error
		recs, err = im.cfg.Store.Records(w.store, keys)
		if err != nil {
			return fmt.Errorf("importer: read state: %w", err)
		}
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
			if p.cred.Kind == idshift.CredentialHash {
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
	oldBody, oldCred, _ := strings.Cut(rec.Digest, ".")
	newBody, newCred, _ := strings.Cut(p.digest, ".")
	if oldCred != newCred && p.cred.Kind == idshift.CredentialHash && rec.State != idshift.StateMigrated {
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
