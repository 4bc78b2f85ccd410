// Package importer is idshift's stage 2: it reads legacy users from a source, plans each one against External ID's
// rules, and creates (or adopts) every account in the tenant exactly once, recording each step in the state store
// so that a crash, a rerun or a lost response never loses a user or creates one twice.
//
// The protocol per user: the record is written "in flight" before its create is sent. A success records the new
// object id. A conflict or an unknown outcome (a write whose response was lost) is resolved by looking the user up by
// identity: an account carrying our legacy id is adopted; someone else's is reported as a collision and never
// overwritten (unless Config.AdoptExisting); no account means the write did not happen and it is sent again. A rerun
// finds in-flight records left by a crash and resolves them the same way before anything is created.
package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/pwhash"
)

// Directory is what the importer needs of the tenant. *graph.Client and *graph.Pool implement it.
type Directory interface {
	CreateUsers(ctx context.Context, users []*graph.User) []graph.CreateResult
	FindUsersByIdentity(ctx context.Context, issuer, issuerAssignedID string, sel []string) ([]graph.User, error)
	UpdateUser(ctx context.Context, id string, patch map[string]any) error
}

// Config configures a run. The zero value of every optional field is usable.
type Config struct {
	Source idshift.Source
	// Sources are further sources read after Source, in order, in the same run (the legacy systems a plan's
	// merges span). Each stamps its own name on its users (idshift.User.Source).
	Sources []idshift.Source
	// Merges are the accepted merges of a plan (package mergeplan) that the run follows: the accounts of each are
	// held as they are read until their group is complete, then planned as one user (see Merge).
	Merges    []Merge
	Store     idshift.Store // nil only with DryRun (then every user is planned as new)
	Directory Directory     // unused with DryRun

	// Domain is the tenant's domain, the issuer of local identities given without one (e.g. contoso.onmicrosoft.com).
	Domain string
	// ExtensionsAppID is the appId of the tenant's b2c-extensions-app (with or without dashes).
	ExtensionsAppID string
	// MigrationAttribute is the short name of the Boolean extension attribute that flags a user for password
	// migration (default "requiresMigration"); LegacyIDAttribute the String one holding the legacy id (default "legacyId").
	MigrationAttribute string
	LegacyIDAttribute  string
	// SourceName is put on users whose source did not name itself (default "file").
	SourceName string

	DisableStrongPassword bool
	// AdoptExisting adopts an account that holds one of the user's identities but not our legacy id, instead of
	// reporting a collision: the account gets our legacy id. It does not get the migration flag unless FlagAdopted
	// is set too: someone may already use that account, and a flagged account's password is replaced by the legacy
	// one at the next sign-in whose password does not match.
	AdoptExisting bool
	// FlagAdopted sets the migration flag on the accounts AdoptExisting adopts.
	FlagAdopted bool
	// LiveCheck says that the password-migration service checks this source's passwords live at the legacy system
	// (OIDC password grant, LDAP bind, webhook): users without a legacy credential are flagged for migration too.
	// Without it such users are created unflagged (nothing could ever check their password, so a flag would only
	// answer Retry for ever) and are left to self-service password reset; Summary.ToReset counts them.
	LiveCheck bool
	// Update patches users already created whose source data changed since they were sent, and stores the new
	// legacy credential of those whose credential changed (unless they have migrated already).
	Update bool
	// CredentialKey keys the credential fingerprints that records keep so that Update can tell a changed
	// credential (HMAC-SHA256). Without it the fingerprint is a plain SHA-256 of the normalised credential, which
	// is an offline password oracle for unsalted legacy digests: set it whenever credentials are sealed (derive it
	// from the store key); without a store key the credential itself sits unsealed beside the fingerprint anyway.
	CredentialKey []byte
	// DryRun plans and writes the requests that would be sent, and the rows that would be rejected, to DryRunOut
	// (passwords redacted); it writes nothing
	// to the tenant or the store.
	DryRun    bool
	DryRunOut io.Writer

	// Workers is the number of chunks in flight at once (default 8); ChunkSize the users per chunk (default 200;
	// the Graph client sends them as $batch requests of up to 20).
	Workers   int
	ChunkSize int
	// MaxAttempts bounds the creates sent for one user in a run when outcomes stay unknown (default 4).
	MaxAttempts int

	// Rejects receives one JSON line per rejected record (source when the run reads several, line, legacyId, field,
	// reason, firstLine). The first write error stops the run (Run returns it).
	Rejects io.Writer

	// Grace is how long a request already sent may take to complete once the run is stopping (default 3s). Waits
	// (pacing, Retry-After, chunks not started) end at once; a request still unanswered after Grace is cancelled
	// and its users are left in flight for the next run to resolve.
	Grace time.Duration

	// Seen is the run's index of planned legacy ids and identities (default: in memory).
	Seen Seen

	// Shard and Shards split one import across several processes that share a PostgreSQL store: each plans the
	// whole source (so duplicates are found across shards) but sends only the users whose legacy id hashes to its
	// shard; the others are counted as OtherShard. Shards ≤ 1 means one process does everything. Each process
	// should have its own app registration(s), and the tenant's write limit divided between them.
	Shard, Shards int

	// AllowSensitive names the attributes (extension attributes, or displayName, givenName, surname) that may hold
	// what looks like data External ID must not store: without it a user whose extension attribute has a
	// medical, national-id or card name, or whose value holds a payment card number or a US social security
	// number, is rejected (see CheckNames for the names of a whole mapping, checked before a run).
	AllowSensitive []string
	// Consent sends each user's consent markers (privacy policy, terms of use) as the extension attributes of
	// ConsentAttributes, which must exist in the tenant.
	Consent bool

	Rules       graph.Rules
	HashOptions pwhash.Options
	Logger      *slog.Logger
	// Password returns a new random password (default RandomPassword); a test hook.
	Password func() (string, error)
}

func (c *Config) setDefaults() error {
	if c.Source == nil {
		return errors.New("importer: Source: required")
	}
	if c.Store == nil && !c.DryRun {
		return errors.New("importer: Store: required")
	}
	if c.Directory == nil && !c.DryRun {
		return errors.New("importer: Directory: required")
	}
	if c.Domain == "" {
		return errors.New("importer: Domain: required (the tenant's domain, e.g. contoso.onmicrosoft.com)")
	}
	c.ExtensionsAppID = strings.ReplaceAll(strings.ToLower(c.ExtensionsAppID), "-", "")
	if len(c.ExtensionsAppID) != 32 {
		return fmt.Errorf("importer: ExtensionsAppID: %q is not an application id", c.ExtensionsAppID)
	}
	if c.MigrationAttribute == "" {
		c.MigrationAttribute = "requiresMigration"
	}
	if c.LegacyIDAttribute == "" {
		c.LegacyIDAttribute = "legacyId"
	}
	if c.SourceName == "" {
		c.SourceName = "file"
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 200
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 4
	}
	if c.Grace <= 0 {
		c.Grace = 3 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Shards > 1 && (c.Shard < 0 || c.Shard >= c.Shards) {
		return fmt.Errorf("importer: Shard: %d is not in [0, %d)", c.Shard, c.Shards)
	}
	if c.Seen == nil {
		c.Seen = memSeen{}
	}
	if c.Password == nil {
		c.Password = RandomPassword
	}
	if c.DryRun && c.DryRunOut == nil {
		c.DryRunOut = io.Discard
	}
	return nil
}

func (c *Config) extensionName(short string) string {
	return "extension_" + c.ExtensionsAppID + "_" + short
}

// Summary counts what a run did with every user it read. Read = Created + Adopted + Updated + Skipped + Collisions
// + Rejected + Failed + OtherShard + Merged, always.
type Summary struct {
	Read       int64 `json:"read"`
	Created    int64 `json:"created"`
	Adopted    int64 `json:"adopted"`
	Updated    int64 `json:"updated"`
	Skipped    int64 `json:"skipped"`
	Collisions int64 `json:"collisions"`
	Rejected   int64 `json:"rejected"`
	Failed     int64 `json:"failed"`
	// OtherShard counts valid users left to the other processes of a sharded import.
	OtherShard int64 `json:"otherShard,omitempty"`
	// Merged counts the accounts folded into another by an accepted merge (the members, not the primary, whose
	// account is counted as created, adopted, skipped…): they have no account of their own.
	Merged int64 `json:"merged,omitempty"`
	// Merges counts the accepted merges planned (their primaries are in Created, Adopted, Skipped…);
	// MergesIncomplete those planned without every member (a member was not in the sources read: reported in the
	// log); MergesRefused those refused because the tenant already holds some of their accounts separately (their
	// accounts are counted as skipped or rejected, each with the reason).
	Merges           int64 `json:"merges,omitempty"`
	MergesIncomplete int64 `json:"mergesIncomplete,omitempty"`
	MergesRefused    int64 `json:"mergesRefused,omitempty"`
	// ToReset counts the users created (or, in a dry run, to be created) without the migration flag because
	// nothing can check their legacy password (no legacy credential and no live check): they set a password
	// through self-service password reset. Included in Created.
	ToReset int64 `json:"toReset,omitempty"`
	// Interrupted is true when the run stopped (signal or fatal error) before it had done everything with the
	// source: users not sent are not counted as read, and the next run does them.
	Interrupted bool          `json:"interrupted"`
	Elapsed     time.Duration `json:"elapsedNs"`
}

// Reconciles reports whether the counts add up.
func (s Summary) Reconciles() bool {
	return s.Read == s.Created+s.Adopted+s.Updated+s.Skipped+s.Collisions+s.Rejected+s.Failed+s.OtherShard+s.Merged
}

// Progress is a live view of a run, safe to read from another goroutine.
type Progress struct {
	read, created, adopted, updated, skipped, collisions, rejected, failed, otherShard, toReset atomic.Int64
	merged, merges, mergesIncomplete, mergesRefused                                             atomic.Int64
	start                                                                                       atomic.Int64 // unix nanoseconds
}

// Snapshot returns the counts so far.
func (p *Progress) Snapshot() Summary {
	return Summary{
		Read: p.read.Load(), Created: p.created.Load(), Adopted: p.adopted.Load(), Updated: p.updated.Load(),
		Skipped: p.skipped.Load(), Collisions: p.collisions.Load(), Rejected: p.rejected.Load(), Failed: p.failed.Load(),
		OtherShard: p.otherShard.Load(), ToReset: p.toReset.Load(),
		Merged: p.merged.Load(), Merges: p.merges.Load(), MergesIncomplete: p.mergesIncomplete.Load(),
		MergesRefused: p.mergesRefused.Load(),
		Elapsed:       time.Since(time.Unix(0, p.start.Load())),
	}
}

// Importer runs one import.
type Importer struct {
	cfg      Config
	progress Progress
	rejectMu sync.Mutex
	fatal    atomic.Pointer[error]
	// stop is done when the run is stopping (cancelled or fatal error).
	stop context.Context
	// leftover is set when users read were left for the next run.
	leftover atomic.Bool
	// names are the sources' names by index, as their first user says (read's goroutine only, then read-only).
	names []string
}

// workCtx holds the contexts of a chunk's work: net for requests to the tenant, store for the state store.
type workCtx struct{ net, store context.Context }

// unread takes n users back from the read count: the run stopped before it did anything with them, and the next
// run will. The run is then reported as interrupted.
func (im *Importer) unread(n int64) {
	if n != 0 {
		im.progress.read.Add(-n)
		im.leftover.Store(true)
	}
}

// stopping reports whether the run is stopping: no new chunk, batch or round is started.
func (im *Importer) stopping() bool { return im.stop != nil && im.stop.Err() != nil }

// New checks cfg and returns an importer.
func New(cfg Config) (*Importer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	im := &Importer{cfg: cfg}
	im.progress.start.Store(time.Now().UnixNano())
	return im, nil
}

// Progress returns the live counters.
func (im *Importer) Progress() *Progress { return &im.progress }

// Run imports every user of the source. When ctx is cancelled (or a fatal error occurs) it stops: it reads no
// more, starts no new chunk or batch, and ends every wait (pacing, Retry-After) at once; requests already sent get
// Config.Grace to complete and their outcome is recorded, those still unanswered then are left in flight, which the
// next run resolves by looking the users up. Users not sent are not counted as read, so the summary reconciles.
// Store writes are never cancelled. Run returns the summary with Interrupted set and ctx's error; a rerun resumes.
// Run returns an error only for what stops the whole run (store or source failure, reject file write failure,
// quota exhausted, cancellation); per-user failures are counted and recorded.
func (im *Importer) Run(ctx context.Context) (Summary, error) {
	im.progress.start.Store(time.Now().UnixNano())
	chunks := make(chan []*plan, im.cfg.Workers)
	stop, cancelStop := context.WithCancel(ctx)
	defer cancelStop()
	im.stop = stop
	// Requests to the tenant run on net: cancelled Grace after the run starts stopping, so that a request on the
	// wire may finish. The store runs on a context that is never cancelled, so every outcome is recorded.
	net, cancelNet := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelNet()
	var graceTimer atomic.Pointer[time.Timer]
	unhook := context.AfterFunc(stop, func() { graceTimer.Store(time.AfterFunc(im.cfg.Grace, cancelNet)) })
	defer func() {
		unhook()
		if t := graceTimer.Load(); t != nil {
			t.Stop()
		}
	}()
	work := workCtx{net: net, store: context.WithoutCancel(ctx)}

	var wg sync.WaitGroup
	for range im.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chunks {
				if im.stopping() {
					// Not started: these users are not counted as read.
					im.unread(int64(len(c)))
					continue
				}
				if err := im.process(work, c); err != nil {
					im.setFatal(err)
					cancelStop()
				}
			}
		}()
	}

	readErr := im.read(stop, chunks)
	if im.fatal.Load() != nil {
		cancelStop() // e.g. the reject file failed during the read
	}
	close(chunks)
	wg.Wait()

	sum := im.progress.Snapshot()
	if p := im.fatal.Load(); p != nil {
		sum.Interrupted = true
		return sum, *p
	}
	if readErr != nil {
		sum.Interrupted = true
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		return sum, readErr
	}
	if im.leftover.Load() {
		// The source was read to its end, but the run stopped before sending every user.
		sum.Interrupted = true
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		return sum, errors.New("importer: stopped before every user was sent")
	}
	return sum, nil
}

func (im *Importer) setFatal(err error) { im.fatal.CompareAndSwap(nil, &err) }

// read plans every user of the sources and hands them out in chunks. The accounts of accepted merges are held
// until their group is complete (or the sources end), then planned as one user.
func (im *Importer) read(ctx context.Context, chunks chan<- []*plan) error {
	pl := newPlanner(&im.cfg)
	mx, err := newMerger(im.cfg.Merges)
	if err != nil {
		return err
	}
	chunk := make([]*plan, 0, im.cfg.ChunkSize)
	// abandon takes back from the read count what was read but will not be sent: the chunk, the records held for
	// merges, and extra.
	abandon := func(extra int64) { im.unread(weight(chunk) + mx.held + extra) }
	var dedupeErr error
	flush := func() bool {
		kept, err := pl.dedupe(ctx, chunk, im.names, im.rejectPlan)
		if err != nil {
			dedupeErr = err
			abandon(0)
			return false
		}
		chunk = im.ownShard(kept)
		if len(chunk) == 0 {
			return true
		}
		select {
		case chunks <- chunk:
			chunk = make([]*plan, 0, im.cfg.ChunkSize)
			return true
		case <-ctx.Done():
			// Not sent: these users are not counted as read, so the counts still reconcile.
			abandon(0)
			return false
		}
	}
	// add plans u (a user read, or a merge's user with info) and appends it to the chunk; false means stop (with
	// the error in stopErr).
	var stopErr error
	add := func(u *idshift.User, pos int64, info *mergeInfo) bool {
		p, err := pl.plan(u)
		if err != nil {
			var re *idshift.RowError
			if errors.As(err, &re) {
				im.rejectPlan(&plan{user: u, pos: pos, merge: info}, re)
				return true
			}
			p := &plan{merge: info}
			abandon(p.weight())
			stopErr = err
			return false
		}
		p.pos, p.merge = pos, info
		if info != nil {
			for _, m := range info.members {
				p.fps = append(p.fps, pl.fingerprint("legacy", m.key.Source, m.key.LegacyID))
			}
		}
		chunk = append(chunk, p)
		if len(chunk) == im.cfg.ChunkSize && !flush() {
			stopErr = errors.Join(dedupeErr, ctx.Err())
			return false
		}
		return true
	}
	sources := append([]idshift.Source{im.cfg.Source}, im.cfg.Sources...)
	for si := 0; si < len(sources); {
		if err := ctx.Err(); err != nil {
			abandon(0) // not sent: not counted as read
			return err
		}
		if p := im.fatal.Load(); p != nil {
			abandon(0)
			return *p
		}
		u, err := sources[si].Next(ctx)
		if err == io.EOF {
			si++
			continue
		}
		var re *idshift.RowError
		if errors.As(err, &re) {
			im.progress.read.Add(1)
			if re.Source == "" && len(sources) > 1 && si < len(im.names) {
				re.Source = im.names[si]
			}
			im.reject(re)
			continue
		}
		if err != nil {
			abandon(0)
			return fmt.Errorf("importer: read source: %w", err)
		}
		im.progress.read.Add(1)
		if u.Source == "" {
			u.Source = im.cfg.SourceName
		}
		for len(im.names) <= si {
			im.names = append(im.names, "")
		}
		if im.names[si] == "" {
			im.names[si] = u.Source
		}
		pos := int64(si)<<posBits | u.Line&(1<<posBits-1)
		held, g, dup := mx.add(u)
		switch {
		case dup != nil:
			im.rejectPlan(&plan{user: u, pos: pos}, dup)
			continue
		case held && g == nil:
			continue
		case held:
			mu, info := g.merge(im.cfg.Domain)
			if !add(mu, im.posOf(g.primary), info) {
				return stopErr
			}
			continue
		}
		if !add(u, pos, nil) {
			return stopErr
		}
	}
	// The groups not complete: planned with what was read, when their primary was.
	for _, g := range mx.rest() {
		if !im.incomplete(g, add) {
			return stopErr
		}
	}
	if !flush() {
		return errors.Join(dedupeErr, ctx.Err())
	}
	return nil
}

// posOf is the position of a held user, read from the source whose name it carries.
func (im *Importer) posOf(u *idshift.User) int64 {
	for i, n := range im.names {
		if n == u.Source {
			return int64(i)<<posBits | u.Line&(1<<posBits-1)
		}
	}
	return u.Line & (1<<posBits - 1)
}

// incomplete plans a group the sources ended without: with the members read, the others reported, when its
// primary was read; else its accounts are rejected (a merge is created under its primary's key or not at all).
func (im *Importer) incomplete(g *group, add func(*idshift.User, int64, *mergeInfo) bool) bool {
	if g.primary == nil {
		for _, u := range g.users() {
			im.reject(&idshift.RowError{Line: u.Line, LegacyID: u.LegacyID, Source: im.sourceText(u), Field: "merge",
				Reason: mergeText(g.m.Primary, g.m.Members) + ": the primary " + keyText(g.m.Primary) + " was not read from this run's sources, " +
					"so the merge was not followed; import it with the primary's source, or set \"accept\" to false for this merge"})
		}
		return true
	}
	mu, info := g.merge(im.cfg.Domain)
	im.progress.mergesIncomplete.Add(1)
	missing := make([]string, len(info.missing))
	for i, k := range info.missing {
		missing[i] = keyText(k)
	}
	im.cfg.Logger.Warn("merge planned without every member: the members not read from this run's sources are left out "+
		"(a later run that reads them refuses the merge: the account will already exist)",
		"merge", mergeText(g.m.Primary, g.m.Members), "missing", strings.Join(missing, ", "))
	return add(mu, im.posOf(g.primary), info)
}

// sourceText is the source to name in a reject line: the user's when the run reads several sources.
func (im *Importer) sourceText(u *idshift.User) string {
	if len(im.cfg.Sources) == 0 {
		return ""
	}
	return u.Source
}

// rejectPlan rejects a planned user and, for a merge, each member folded into it (each counted once).
func (im *Importer) rejectPlan(p *plan, re *idshift.RowError) {
	if re.Source == "" {
		re.Source = im.sourceText(p.user)
	}
	if p.merge == nil {
		im.reject(re)
		return
	}
	primary := p.merge.primary
	r := *re
	r.Reason = mergeText(primary, p.memberKeys()) + ": " + re.Reason
	im.reject(&r)
	for _, m := range p.merge.members {
		mr := &idshift.RowError{Line: m.line, LegacyID: m.key.LegacyID, Field: "merge",
			Reason: sprintf("to be merged into %s, which was rejected (%s: %s)", keyText(primary), re.Field, re.Reason)}
		if len(im.cfg.Sources) > 0 {
			mr.Source = m.key.Source
		}
		im.reject(mr)
	}
}

// ownShard keeps the plans of this process's shard and counts the others.
func (im *Importer) ownShard(plans []*plan) []*plan {
	if im.cfg.Shards <= 1 {
		return plans
	}
	kept := plans[:0]
	for _, p := range plans {
		if ShardOf(p.user.Key(), im.cfg.Shards) == im.cfg.Shard {
			kept = append(kept, p)
		} else {
			im.progress.otherShard.Add(p.weight())
		}
	}
	return kept
}

// ShardOf is the shard of a user among n: FNV-1a of its source and legacy id, the same in every process.
func ShardOf(k idshift.Key, n int) int {
	h := fnv.New64a()
	h.Write([]byte(k.Source))
	h.Write([]byte{0})
	h.Write([]byte(k.LegacyID))
	return int(h.Sum64() % uint64(n))
}

// reject counts a rejected row and writes it to the reject file; a dry run writes it to its output instead, as an
// action "reject" line, so that the plan shows every row. A write error is fatal: the run stops with it.
func (im *Importer) reject(re *idshift.RowError) {
	im.progress.rejected.Add(1)
	w := im.cfg.Rejects
	var b []byte
	var err error
	what := "reject file"
	if im.cfg.DryRun {
		w, what = im.cfg.DryRunOut, "dry run output"
		b, err = json.Marshal(struct {
			Action string `json:"action"`
			*idshift.RowError
		}{"reject", re})
	} else {
		b, err = json.Marshal(re)
	}
	if w == nil {
		return
	}
	if err == nil {
		im.rejectMu.Lock()
		_, err = w.Write(append(b, '\n'))
		im.rejectMu.Unlock()
	}
	if err != nil {
		im.setFatal(fmt.Errorf("importer: write %s: %w", what, err))
	}
}
