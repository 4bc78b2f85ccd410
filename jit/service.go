// Package jit is the password-migration service behind `idshift serve`: the decision every front door shares
// (Service) and the front doors themselves (the Entra External ID OnPasswordSubmit extension, the harvest REST
// call), plus the admin endpoints (health, readiness, metrics).
//
// Each front only decodes its wire format into one idshift.Attempt and encodes the Decision back. The stages over
// the attempt are, in order: the nonce replay cache (a repeated nonce gets the first answer), the lookup of the
// user's record, the brute-force guard, the verification (through a concurrency cap, within the deadline budget)
// and the recording of the outcome.
package jit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idshift/idshift"
)

// Reasons recorded with each attempt (idshift.AttemptLog.Reason).
const (
	ReasonMatch        = "match"
	ReasonMismatch     = "mismatch"
	ReasonUnknownUser  = "unknown_user"
	ReasonNoCredential = "no_credential"
	ReasonLocked       = "locked"
	ReasonDisabled     = "disabled"
	ReasonWeakPassword = "weak_password"
	ReasonUnavailable  = "unavailable"
	ReasonTimeout      = "timeout"
	ReasonShed         = "shed"
	ReasonMigrated     = "migrated"    // harvest: the account was already migrated
	ReasonBadRequest   = "bad_request" // a front could not read the attempt
)

// Slots caps concurrent verifications (guard.Slots implements it). Acquire waits for a slot until deadline and
// returns the function that gives it back; any error means the attempt is shed (answered at once, not counted).
type Slots interface {
	Acquire(ctx context.Context, deadline time.Time) (release func(), err error)
}

// KindSlots is the optional capability of Slots that estimates a verification's duration by its kind (algorithm
// and cost, such as "2b$10"): guard.Slots implements it. The Service prefers it when its Slots has it.
type KindSlots interface {
	AcquireKind(ctx context.Context, kind string, deadline time.Time) (release func(), err error)
}

// Timeout bounds of Entra's customExtensionClientConfiguration.timeoutInMilliseconds (docs/contracts.md §1.6).
const (
	MinTimeout     = 200 * time.Millisecond
	MaxTimeout     = 2000 * time.Millisecond
	DefaultTimeout = 1000 * time.Millisecond
)

// Config configures a Service. The zero value of every optional field is usable.
type Config struct {
	// Store finds records (and, for the default verifier, credentials). Required.
	Store idshift.Store
	// Attempts records outcomes and migrations; Store when it implements idshift.AttemptStore, else nothing is
	// recorded.
	Attempts idshift.AttemptStore
	// Guard is the brute-force protection. Required.
	Guard idshift.Guard
	// Verifier checks passwords; a HashVerifier over Store when nil.
	Verifier idshift.Verifier
	// Slots caps concurrent verifications; unlimited when nil.
	Slots Slots
	// Timeout is the extension's timeoutInMilliseconds (200–2,000 ms); 1,000 ms when zero.
	Timeout time.Duration
	// Margin is kept from Timeout for the network and the answer's encoding; min(150 ms, Timeout/2) when zero.
	// The budget of one decision is Timeout-Margin.
	Margin time.Duration
	// TryLater is the action when the service cannot decide (store, guard or verifier unavailable, time out,
	// shed): ActionRetry (default: the user stays on the password page and can submit again) or ActionBlock (the
	// fronts show the "unavailable" title and message).
	TryLater idshift.Action
	// NonceTTL is how long an answer is kept for a repeated nonce; 10 minutes (the inner JWT's lifetime) when zero.
	NonceTTL time.Duration
	// NonceCap bounds the nonces remembered; 100,000 when zero.
	NonceCap int
	// RecordQueue bounds the attempts waiting to be recorded; past it an attempt's record is dropped (and
	// counted). 4,096 when zero.
	RecordQueue int
	// Metrics receives the service's measurements; none when nil.
	Metrics *Metrics
	// Logger logs outcomes (never a password, hash or token); slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Decision is the service's answer to one attempt.
type Decision struct {
	Action idshift.Action
	// Reason is the secret-free word recorded with the attempt (Reason* constants).
	Reason string
	// Key and ObjectID are the record's (zero for an unknown user).
	Key      idshift.Key
	ObjectID string
	// Lock is the guard's lock when Reason is ReasonLocked.
	Lock idshift.Lock
	// Replayed: the answer is the first one given to the same nonce.
	Replayed bool
}

// Service is the decision shared by every front. Safe for concurrent use; Close stops it.
type Service struct {
	cfg      Config
	store    idshift.Store
	attempts idshift.AttemptStore
	guard    idshift.Guard
	verifier idshift.Verifier
	budget   time.Duration
	now      func() time.Time
	log      *slog.Logger
	metrics  *Metrics
	nonces   *nonceCache

	queue     chan record
	done      chan struct{}
	closeOnce sync.Once
	mu        sync.RWMutex // guards closed against sends on queue
	closed    bool
	timeouts  atomic.Int64 // answers given at the deadline, before the stages ended
}

// record is one write for the recorder: an attempt, and a migration when migrated.
type record struct {
	log      idshift.AttemptLog
	migrated bool
	how      string
}

// Open checks the configuration, fills in defaults and starts the recorder.
func (c Config) Open() (*Service, error) {
	if c.Store == nil {
		return nil, idshift.Invalid("store", "required")
	}
	if c.Guard == nil {
		return nil, idshift.Invalid("guard", "required")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < MinTimeout || c.Timeout > MaxTimeout {
		return nil, idshift.Invalid("timeout", "%v is outside Entra's range of %v to %v", c.Timeout, MinTimeout, MaxTimeout)
	}
	if c.Margin == 0 {
		c.Margin = min(150*time.Millisecond, c.Timeout/2)
	}
	if c.Margin < 0 || c.Margin >= c.Timeout {
		return nil, idshift.Invalid("margin", "must be between 0 and the timeout")
	}
	switch c.TryLater {
	case "":
		c.TryLater = idshift.ActionRetry
	case idshift.ActionRetry, idshift.ActionBlock:
	default:
		return nil, idshift.Invalid("tryLater", "must be %s or %s", idshift.ActionRetry, idshift.ActionBlock)
	}
	if c.NonceTTL <= 0 {
		c.NonceTTL = 10 * time.Minute
	}
	if c.NonceCap <= 0 {
		c.NonceCap = 100_000
	}
	if c.RecordQueue <= 0 {
		c.RecordQueue = 4096
	}
	s := &Service{
		cfg:      c,
		store:    c.Store,
		attempts: c.Attempts,
		guard:    c.Guard,
		verifier: c.Verifier,
		budget:   c.Timeout - c.Margin,
		now:      c.Now,
		log:      c.Logger,
		metrics:  c.Metrics,
		queue:    make(chan record, c.RecordQueue),
		done:     make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.attempts == nil {
		s.attempts, _ = c.Store.(idshift.AttemptStore)
	}
	if s.verifier == nil {
		s.verifier = &HashVerifier{Store: c.Store}
	}
	if p, ok := s.verifier.(interface{ Prepare() error }); ok {
		if err := p.Prepare(); err != nil {
			return nil, err
		}
	}
	s.nonces = newNonceCache(c.NonceCap, c.NonceTTL, s.now)
	go s.recorder()
	return s, nil
}

// Budget is how long one decision may take.
func (s *Service) Budget() time.Duration { return s.budget }

// TryLater is the action answered when the service cannot decide.
func (s *Service) TryLater() idshift.Action { return s.cfg.TryLater }

// Close stops accepting records and waits (until ctx ends) for the queued ones to be written.
func (s *Service) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		s.mu.Unlock()
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jit: close: attempts not all recorded: %w", ctx.Err())
	}
}

// Decide answers one attempt within the budget, whatever happens: it never returns an error, and it returns by
// the budget's deadline even when a stage (the store, the guard, the verifier) does not: the stages run apart and
// an answer not ready at the deadline is "try later" (timeout); the late work's outcome is dropped, it counts no
// failure, and a verification slot it holds is released when it ends. An attempt with a nonce seen before
// (Entra's retry) gets the first answer again, without a second check or a second failure counted; when the
// first is still running, Decide waits for it (until its own budget ends). The attempt is recorded, and a
// MigratePassword marks the user migrated ("hash").
func (s *Service) Decide(ctx context.Context, a idshift.Attempt) Decision {
	start := s.now()
	ctx, cancel := context.WithDeadline(ctx, time.Now().Add(s.budget))
	defer cancel()
	a.SignInName = normName(a.SignInName)

	if a.Nonce != "" {
		f, first := s.nonces.begin(a.Nonce + "\x00" + a.ObjectID)
		if !first {
			select {
			case <-f.done:
				d := f.d
				d.Replayed = true
				s.metrics.observe(a.Front, d, s.now().Sub(start))
				return d
			case <-ctx.Done():
				d := Decision{Action: s.cfg.TryLater, Reason: ReasonTimeout, Replayed: true}
				s.metrics.observe(a.Front, d, s.now().Sub(start))
				return d
			}
		}
		d := s.bounded(ctx, a)
		f.d = d
		close(f.done)
		s.Record(a, d, start, markHow(d))
		return d
	}
	d := s.bounded(ctx, a)
	s.Record(a, d, start, markHow(d))
	return d
}

// Verify runs the stages of Decide (lookup, guard, verification, within the budget, returning by its deadline)
// without the nonce cache and without recording anything: the harvest front records once it knows what the
// tenant did (Record).
func (s *Service) Verify(ctx context.Context, a idshift.Attempt) Decision {
	ctx, cancel := context.WithDeadline(ctx, time.Now().Add(s.budget))
	defer cancel()
	a.SignInName = normName(a.SignInName)
	return s.bounded(ctx, a)
}

// progress is what a decision has learnt so far (the record's key), for a timeout answered without it.
type progress struct {
	mu sync.Mutex
	d  Decision
}

func (p *progress) set(d Decision) {
	p.mu.Lock()
	p.d.Key, p.d.ObjectID = d.Key, d.ObjectID
	p.mu.Unlock()
}

// bounded runs decide apart and answers by ctx's deadline: decide's answer, or a timeout (with the key, when the
// lookup had found it).
func (s *Service) bounded(ctx context.Context, a idshift.Attempt) Decision {
	var p progress
	ch := make(chan Decision, 1)
	go func() { ch <- s.decide(ctx, a, &p) }()
	select {
	case d := <-ch:
		return d
	case <-ctx.Done():
		select {
		case d := <-ch: // ready at the same moment: its answer stands (it may have counted a failure)
			return d
		default:
		}
		s.timeouts.Add(1)
		s.metrics.deadlineAnswer()
		p.mu.Lock()
		defer p.mu.Unlock()
		return withKey(Decision{Action: s.cfg.TryLater, Reason: ReasonTimeout}, p.d)
	}
}

func markHow(d Decision) string {
	if d.Action == idshift.ActionMigrate && d.Key.LegacyID != "" {
		return "hash"
	}
	return ""
}

// Record counts, logs and queues the record of an answered attempt (never its password). When how is not empty
// and d has a key, the user is marked migrated that way ("hash", "harvest", "tenant"). It does not wait for the
// store.
func (s *Service) Record(a idshift.Attempt, d Decision, start time.Time, how string) {
	s.metrics.observe(a.Front, d, s.now().Sub(start))
	s.log.Info("attempt", "front", a.Front, "action", string(d.Action), "reason", d.Reason,
		"source", d.Key.Source, "legacyId", d.Key.LegacyID, "objectId", a.ObjectID, "clientIp", a.ClientIP,
		"correlationId", a.CorrelationID, "ms", s.now().Sub(start).Milliseconds())
	s.enqueue(record{
		log: idshift.AttemptLog{Key: d.Key, ObjectID: a.ObjectID, SignInName: normName(a.SignInName), Front: a.Front,
			Action: d.Action, Reason: d.Reason, ClientIP: a.ClientIP, At: start},
		migrated: how != "" && d.Key.LegacyID != "",
		how:      how,
	})
}

// Timeouts returns how many answers were given at the deadline while a stage was still running: for tests and
// metrics.
func (s *Service) Timeouts() int64 { return s.timeouts.Load() }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// decide runs the stages; ctx carries the budget's deadline, and every stage that waits (store, guard, slot,
// verification) is bounded by it. p receives the key once the lookup found it. A decision whose verification ends
// after the deadline changes nothing: it counts no failure and no success (its answer is dropped by bounded). Only
// a guard call already in flight when the deadline passes may still count (a store that ignores its context).
func (s *Service) decide(ctx context.Context, a idshift.Attempt, p *progress) Decision {
	tryLater := func(reason string) Decision { return Decision{Action: s.cfg.TryLater, Reason: reason} }
	if a.ObjectID == "" && a.SignInName == "" {
		return Decision{Action: idshift.ActionRetry, Reason: ReasonBadRequest}
	}

	// Lookup: by object id (Entra always sends it), by sign-in name only without one.
	var rec *idshift.Record
	var err error
	if a.ObjectID != "" {
		rec, err = s.store.RecordByObjectID(ctx, a.ObjectID)
	} else {
		rec, err = s.store.RecordBySignInName(ctx, a.SignInName)
	}
	if err != nil && !errors.Is(err, idshift.ErrNotFound) {
		s.log.Warn("record lookup failed", "front", a.Front, "err", err)
		return s.late(ctx, tryLater(ReasonUnavailable))
	}
	if errors.Is(err, idshift.ErrNotFound) {
		rec = nil
	}
	d := Decision{}
	account := unknownAccount(a)
	if rec != nil {
		d.Key, d.ObjectID = rec.Key, rec.ObjectID
		account = AccountKey(rec.Key)
		p.set(d)
	}

	// Guard: a place in each of the guard's windows, taken with the lock check, so that at most a limit's number of
	// attempts (failed or in flight) are checked; a locked or full scope is blocked without running the legacy
	// check. The place counts as a failure until settled: Fail or Succeed below, else given back on return.
	res, lock, err := s.guard.Reserve(ctx, account, a.ClientIP)
	if err != nil {
		s.log.Warn("guard check failed", "front", a.Front, "err", err)
		return s.late(ctx, withKey(tryLater(ReasonUnavailable), d))
	}
	if lock.Locked {
		s.metrics.guardBlock(lock.Scope)
		d.Action, d.Reason, d.Lock = idshift.ActionBlock, ReasonLocked, lock
		return d
	}
	defer s.release(res)

	// What the verification reads (the credential; for an unknown user, a real record's, so that both paths do
	// the same work), outside the concurrency cap; then the costly part, through it.
	job := staged{run: func(ctx context.Context) (Check, error) {
		if rec == nil {
			if dv, ok := s.verifier.(Dummy); ok {
				if err := dv.VerifyDummy(ctx, a.Password); err != nil {
					return Check{}, err
				}
			}
			return Check{Reason: ReasonUnknownUser}, nil
		}
		return s.check(ctx, rec, a.Password)
	}}
	hv, staged := s.verifier.(*HashVerifier)
	if l, ok := s.verifier.(*Live); ok && rec == nil {
		// With live checks, an unknown user still does the imported-hash path's work.
		hv, staged = l.hash, true
	}
	if staged {
		if job, err = hv.stage(ctx, rec, a.Password); err != nil {
			if ctx.Err() != nil {
				return withKey(tryLater(ReasonTimeout), d)
			}
			s.log.Warn("verification failed", "front", a.Front, "source", d.Key.Source, "legacyId", d.Key.LegacyID, "err", err)
			return withKey(tryLater(ReasonUnavailable), d)
		}
	}

	// Verification, through the concurrency cap and within the budget.
	deadline, _ := ctx.Deadline()
	release := func() {}
	if s.cfg.Slots != nil {
		if ks, ok := s.cfg.Slots.(KindSlots); ok {
			release, err = ks.AcquireKind(ctx, job.kind, deadline)
		} else {
			release, err = s.cfg.Slots.Acquire(ctx, deadline)
		}
		if err != nil {
			s.metrics.shed()
			if ctx.Err() != nil {
				return withKey(tryLater(ReasonTimeout), d)
			}
			return withKey(tryLater(ReasonShed), d)
		}
	}
	// Run inline: bounded answers at the deadline if this takes longer, and the slot is given back when the
	// verification ends, however late.
	r, err := func() (Check, error) {
		defer release()
		s.metrics.inflight(1)
		defer s.metrics.inflight(-1)
		return job.run(ctx)
	}()
	if ctx.Err() != nil {
		// Finished, but after the deadline: the answer already given is a timeout, and nothing is counted.
		return withKey(tryLater(ReasonTimeout), d)
	}
	if err != nil {
		s.log.Warn("verification failed", "front", a.Front, "source", d.Key.Source, "legacyId", d.Key.LegacyID, "err", err)
		return withKey(tryLater(ReasonUnavailable), d)
	}

	if !r.Match {
		// A wrong password, an unknown user and a user without credential are answered and counted alike. The
		// failure is counted within the budget; a guard that cannot count it in time makes the answer a timeout.
		d.Action, d.Reason = idshift.ActionRetry, r.Reason
		if lock, err := res.Fail(ctx); err != nil {
			if ctx.Err() != nil {
				return withKey(tryLater(ReasonTimeout), d)
			}
			s.log.Warn("guard fail failed", "front", a.Front, "err", err)
		} else if lock.Locked {
			d.Lock = lock
		}
		return d
	}
	if err := res.Succeed(ctx); err != nil {
		if ctx.Err() != nil {
			return withKey(tryLater(ReasonTimeout), d)
		}
		s.log.Warn("guard succeed failed", "front", a.Front, "err", err)
	}
	switch {
	case r.Disabled:
		// Only a caller who knows the password learns that the account is disabled.
		d.Action, d.Reason = idshift.ActionBlock, ReasonDisabled
	case r.MustChange:
		d.Action, d.Reason = idshift.ActionUpdate, ReasonMatch
	default:
		d.Action, d.Reason = idshift.ActionMigrate, ReasonMatch
	}
	return d
}

// release gives a reservation's place back unless it was settled (shed, try later, timeout: nothing counted).
func (s *Service) release(res idshift.Reservation) {
	if err := res.Release(); err != nil {
		s.log.Warn("guard release failed", "err", err)
	}
}

// check runs the verifier, through Checker when it has it.
func (s *Service) check(ctx context.Context, rec *idshift.Record, password string) (Check, error) {
	if c, ok := s.verifier.(Checker); ok {
		return c.Check(ctx, rec, password)
	}
	ok, err := s.verifier.Verify(ctx, rec, password)
	if err != nil {
		return Check{}, err
	}
	if ok {
		return Check{Match: true, Reason: ReasonMatch}, nil
	}
	return Check{Reason: ReasonMismatch}, nil
}

// late turns a failure that came after the deadline into a timeout.
func (s *Service) late(ctx context.Context, d Decision) Decision {
	if ctx.Err() != nil {
		d.Reason = ReasonTimeout
	}
	return d
}

func withKey(d, from Decision) Decision {
	d.Key, d.ObjectID = from.Key, from.ObjectID
	return d
}

// AccountKey is the guard's account for a record's key.
func AccountKey(k idshift.Key) string { return "key:" + k.Source + "\x1f" + k.LegacyID }

// unknownAccount is the guard's account for an attempt that matched no record: the name (or object id) itself,
// so that unknown names are counted like known ones.
func unknownAccount(a idshift.Attempt) string {
	if a.ObjectID != "" {
		return "object:" + a.ObjectID
	}
	return "name:" + a.SignInName
}

func normName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// enqueue hands a record to the recorder without waiting; a full queue drops it (counted).
func (s *Service) enqueue(r record) {
	if s.attempts == nil {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.metrics.recordDropped()
		return
	}
	select {
	case s.queue <- r:
	default:
		s.metrics.recordDropped()
	}
}

// recorder writes the queued records in order until the queue is closed.
func (s *Service) recorder() {
	defer close(s.done)
	for r := range s.queue {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.attempts.RecordAttempt(ctx, r.log); err != nil {
			s.log.Error("record attempt", "err", err)
		}
		if r.migrated {
			if err := s.attempts.MarkMigrated(ctx, r.log.Key, r.log.At, r.how); err != nil {
				s.log.Error("mark migrated", "source", r.log.Key.Source, "legacyId", r.log.Key.LegacyID, "err", err)
			}
		}
		cancel()
	}
}

// Ping reports whether the store answers (for /readyz).
func (s *Service) Ping(ctx context.Context) error {
	_, err := s.store.RecordByObjectID(ctx, "readyz-probe")
	if err != nil && !errors.Is(err, idshift.ErrNotFound) {
		return err
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
