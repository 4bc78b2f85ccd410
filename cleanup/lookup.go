package cleanup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
)

// Directory is what tenant look-ups need of Graph: *graph.Client and *graph.Pool implement it.
type Directory interface {
	FindUsersByIdentity(ctx context.Context, issuer, issuerAssignedID string, sel []string) ([]graph.User, error)
}

var (
	_ Directory = (*graph.Client)(nil)
	_ Directory = (*graph.Pool)(nil)
)

// LookupConfig configures the read-only look-ups of a Lookup.
//
// Example:
//
//	l, err := cleanup.NewLookup(cleanup.LookupConfig{Directory: pool, Domain: "contoso.onmicrosoft.com",
//		LegacyIDAttribute: graph.ExtensionName(appID, "legacyId"), Pacer: graph.NewPacer(graph.Limits{...})})
//	rep, err := cleanup.New(cleanup.Config{Lookup: l, ...})
type LookupConfig struct {
	// Directory answers the look-ups (GET /users?$filter=identities/any(...)&$select=id,identities,legacyId). Required.
	Directory Directory
	// Domain is the issuer of local identities (emailAddress, userName) given without one: the tenant's domain.
	// Required.
	Domain string
	// LegacyIDAttribute is the full name of the legacy-id extension attribute (extension_{appId}_legacyId). Empty
	// when the tenant does not have it yet: then no account can be an earlier import's, and every identity taken
	// is a collision.
	LegacyIDAttribute string
	// Pacer paces the look-ups, one token of its bucket "lookups" each (nil: not paced). A look-up throttled
	// past the Graph client's retries slows it down (Pacer.Throttled).
	Pacer *graph.Pacer
	// Parallel is how many look-ups are in flight at once (default 8); Samples how many samples each finding
	// keeps (default 5).
	Parallel, Samples int
}

// lookupBucket is the Pacer bucket the look-ups take their tokens from.
const lookupBucket = "lookups"

// TenantReport is what the look-ups found: every valid user's identities looked up in the tenant. Users = Free +
// AlreadyImported + Collisions + Failed.
type TenantReport struct {
	// Users were looked up, Identities is how many look-ups that took.
	Users      int64 `json:"users"`
	Identities int64 `json:"identities"`
	// Free users have no identity taken in the tenant: the import would create them.
	Free int64 `json:"free"`
	// AlreadyImported users have their taken identities held by the account carrying their legacy id: an earlier
	// import's (the import adopts them).
	AlreadyImported Finding `json:"alreadyImported"`
	// Collisions are users with an identity held by another account: the import reports them and never
	// overwrites that account (unless told to adopt existing accounts).
	Collisions Finding `json:"collisions"`
	// Failed look-ups (throttled past the retries, an outage): run the audit again.
	Failed Finding `json:"failed"`
	// LegacyIDAttribute is the attribute compared ("" when the tenant has none yet).
	LegacyIDAttribute string `json:"legacyIdAttribute"`
}

// Lookup looks the identities of audited users up in a tenant, read-only, several at once and paced. Add queues
// a user; Report waits for every look-up. A Lookup serves one audit.
type Lookup struct {
	cfg  LookupConfig
	jobs chan lookupJob
	wg   sync.WaitGroup
	once sync.Once

	mu  sync.Mutex // guards rep and err
	rep TenantReport
	err error
}

type lookupJob struct {
	ctx              context.Context
	source, legacyID string
	line             int64
	ids              []graph.Identity
}

// NewLookup checks cfg and starts the look-up workers; Report or Close stops them.
func NewLookup(cfg LookupConfig) (*Lookup, error) {
	if cfg.Directory == nil {
		return nil, errors.New("cleanup: lookup: Directory: required")
	}
	if cfg.Domain == "" {
		return nil, errors.New("cleanup: lookup: Domain: required (the tenant's domain)")
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.Samples <= 0 {
		cfg.Samples = 5
	}
	l := &Lookup{cfg: cfg, jobs: make(chan lookupJob, cfg.Parallel)}
	l.rep.LegacyIDAttribute = cfg.LegacyIDAttribute
	for range cfg.Parallel {
		l.wg.Add(1)
		go l.worker()
	}
	return l, nil
}

// Add queues the look-ups of a valid user's identities: local ones (emailAddress, userName) under the configured
// domain when they name no issuer, trimmed, emails lower-cased, as the importer sends them. It blocks while every
// worker is busy, and returns the error that stopped the look-ups (credentials refused) or ctx's.
func (l *Lookup) Add(ctx context.Context, source string, u *idshift.User) error {
	j := lookupJob{ctx: ctx, source: source, legacyID: u.LegacyID, line: u.Line}
	for _, id := range u.Identities {
		gid := graph.Identity{SignInType: id.SignInType, Issuer: id.Issuer, IssuerAssignedID: strings.TrimSpace(id.IssuerAssignedID)}
		if gid.SignInType == idshift.SignInEmail || gid.SignInType == idshift.SignInUserName {
			if gid.Issuer == "" {
				gid.Issuer = l.cfg.Domain
			}
			if gid.SignInType == idshift.SignInEmail {
				gid.IssuerAssignedID = strings.ToLower(gid.IssuerAssignedID)
			}
		}
		if gid.Issuer != "" && gid.IssuerAssignedID != "" {
			j.ids = append(j.ids, gid)
		}
	}
	if err := l.failed(); err != nil {
		return err
	}
	select {
	case l.jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Lookup) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close stops the workers (after the look-ups queued) and returns the error that stopped them, if any. It is safe
// to call more than once, and after Report.
func (l *Lookup) Close() error {
	l.once.Do(func() {
		close(l.jobs)
		l.wg.Wait()
	})
	return l.failed()
}

// Report waits for every look-up and returns the figures, or the error that stopped the look-ups.
func (l *Lookup) Report(ctx context.Context) (*TenantReport, error) {
	if err := l.Close(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rep
	return &r, nil
}

func (l *Lookup) worker() {
	defer l.wg.Done()
	for j := range l.jobs {
		if l.failed() != nil || j.ctx.Err() != nil {
			continue
		}
		l.one(j)
	}
}

// one looks up one user's identities and counts the user by the worst it found: a collision, then a failure,
// then an earlier import's account.
func (l *Lookup) one(j lookupJob) {
	sel := []string{"id", "identities"}
	if l.cfg.LegacyIDAttribute != "" {
		sel = append(sel, l.cfg.LegacyIDAttribute)
	}
	var collision, failure, imported string
	for _, id := range j.ids {
		if l.cfg.Pacer != nil {
			if err := l.cfg.Pacer.Wait(j.ctx, lookupBucket, 1); err != nil {
				return // the audit is stopping
			}
		}
		found, err := l.cfg.Directory.FindUsersByIdentity(j.ctx, id.Issuer, id.IssuerAssignedID, sel)
		l.mu.Lock()
		l.rep.Identities++
		l.mu.Unlock()
		if err != nil {
			if j.ctx.Err() != nil {
				return
			}
			if errors.Is(err, graph.ErrUnauthorized) || errors.Is(err, graph.ErrForbidden) {
				l.stop(fmt.Errorf("cleanup: tenant look-up: %w", err))
				return
			}
			var ge *graph.Error
			if l.cfg.Pacer != nil && errors.As(err, &ge) && errors.Is(err, graph.ErrThrottled) {
				l.cfg.Pacer.Throttled(lookupBucket, ge.ThrottleScope, ge.RetryAfter)
			}
			if failure == "" {
				failure = maskIdentity(id) + ": " + lookupErrText(err)
			}
			continue
		}
		for _, u := range found {
			if v, _ := u.Extensions[l.cfg.LegacyIDAttribute].(string); l.cfg.LegacyIDAttribute != "" && v == j.legacyID {
				if imported == "" {
					imported = maskIdentity(id) + " held by " + u.ID + ", which carries the legacy id"
				}
				continue
			}
			if collision == "" {
				collision = maskIdentity(id) + " taken by " + u.ID
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rep.Users++
	smp := Sample{Source: j.source, Line: j.line, LegacyID: j.legacyID}
	var f *Finding
	switch {
	case collision != "":
		f, smp.Detail = &l.rep.Collisions, collision
	case failure != "":
		f, smp.Detail = &l.rep.Failed, failure
	case imported != "":
		f, smp.Detail = &l.rep.AlreadyImported, imported
	default:
		l.rep.Free++
		return
	}
	f.Count++
	if len(f.Samples) < l.cfg.Samples {
		f.Samples = append(f.Samples, smp)
	}
}

func (l *Lookup) stop(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
}

// maskIdentity names an identity by its type and a masked value: "email a***@example.com".
func maskIdentity(id graph.Identity) string {
	switch id.SignInType {
	case idshift.SignInEmail:
		return "email " + MaskEmail(id.IssuerAssignedID)
	case idshift.SignInUserName:
		return "userName " + maskName(id.IssuerAssignedID)
	}
	return id.SignInType + " " + id.Issuer + " " + maskName(id.IssuerAssignedID)
}

// lookupErrText is a short description of a failed look-up: Graph's code, never a request.
func lookupErrText(err error) string {
	var ge *graph.Error
	if errors.As(err, &ge) && ge.Code != "" {
		return ge.Code
	}
	if errors.Is(err, graph.ErrThrottled) {
		return "throttled"
	}
	return "failed"
}

// write adds the look-ups' section to the text report.
func (t *TenantReport) write(w io.Writer) {
	attr := t.LegacyIDAttribute
	if attr == "" {
		attr = "none yet: no account can be an earlier import's"
	}
	fmt.Fprintf(w, "\nIn the tenant (read-only look-ups)\t%d users\t%d identities\n", t.Users, t.Identities)
	fmt.Fprintf(w, "  free\t%d\n", t.Free)
	fmt.Fprintf(w, "  already imported (legacy id %s)\t%d\t%s\n", attr, t.AlreadyImported.Count, samples(t.AlreadyImported.Samples))
	fmt.Fprintf(w, "  collisions (taken by another account)\t%d\t%s\n", t.Collisions.Count, samples(t.Collisions.Samples))
	fmt.Fprintf(w, "  look-ups failed (run again)\t%d\t%s\n", t.Failed.Count, samples(t.Failed.Samples))
}
