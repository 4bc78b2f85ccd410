package jit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/verify"
)

// LiveCheck is the live legacy check of one source, as the configuration chooses it.
type LiveCheck struct {
	// Source is the records' source name (idshift.Key.Source) the check applies to. Required.
	Source string
	// Kind names the check in metrics and logs ("ldap", "webhook", "oidc", "cognito"). Required.
	Kind string
	// Verifier is the live check itself (verify/ldap, verify/webhook…). Required.
	Verifier idshift.Verifier
	// Breaker configures the circuit breaker and per-call timeout around Verifier (zero value usable). Its Name
	// defaults to "Source/Kind".
	Breaker verify.BreakerConfig
}

// Live is the verifier of `idshift serve` when live legacy checks are configured: for a source with a live check,
// the imported hash first and, when the record has no imported credential, the live check (a verify.Chain); for
// any other source, the HashVerifier alone. Each live check runs inside a verify.Breaker (a dead legacy system is
// answered at once with an error matching idshift.ErrUnavailable) counted by a verify.Counter (WriteMetrics).
//
// Live implements Checker, so the service's decision maps the live answers without knowing about them:
//
//	(true, nil)           → Check{Match}                      → MigratePassword
//	(false, nil)          → Check{Reason: "mismatch"}         → Retry, one guard failure
//	verify.ErrMustChange  → Check{Match, MustChange}          → UpdatePassword
//	verify.ErrLocked      → Check{Match, Disabled}            → Block (reason "disabled")
//	verify.ErrNoCredential→ Check{Reason: "no_credential"}    → Retry, one guard failure
//	any other error       → the error                         → the try-later action (never a guard failure)
//
// A locked legacy account is answered Block whatever the password (the legacy system says so whatever it is), and
// the guard's (account, address) counter is cleared as after a right password: harmless, since no answer about that
// account can reveal its password. The imported hash's own flags travel the same way (a disabled legacy record
// after a right password is ErrLocked inside the chain, a must-change one ErrMustChange). Safe for concurrent use.
type Live struct {
	hash     *HashVerifier
	chains   map[string]verify.Chain
	counters []liveCounter
	now      func() time.Time
}

type liveCounter struct {
	source, kind string
	counter      *verify.Counter
	breaker      *verify.Breaker
}

// NewLive assembles the verifier: hash (required) decides records with an imported credential; checks give the
// live check of each source. now is the counters' clock (time.Now when nil).
func NewLive(hash *HashVerifier, checks []LiveCheck, now func() time.Time) (*Live, error) {
	if hash == nil {
		return nil, errors.New("jit: live: a hash verifier is required")
	}
	l := &Live{hash: hash, chains: make(map[string]verify.Chain, len(checks)), now: now}
	for _, c := range checks {
		switch {
		case c.Source == "":
			return nil, errors.New("jit: live: a check without a source")
		case c.Kind == "":
			return nil, fmt.Errorf("jit: live: source %q: kind required", c.Source)
		case c.Verifier == nil:
			return nil, fmt.Errorf("jit: live: source %q: verifier required", c.Source)
		}
		if _, dup := l.chains[c.Source]; dup {
			return nil, fmt.Errorf("jit: live: source %q has two live checks", c.Source)
		}
		bc := c.Breaker
		if bc.Name == "" {
			bc.Name = c.Source + "/" + c.Kind
		}
		b := verify.NewBreaker(c.Verifier, bc)
		counter := verify.NewCounter(c.Source, b, now)
		l.chains[c.Source] = verify.Chain{chainHash{hash}, counter}
		l.counters = append(l.counters, liveCounter{source: c.Source, kind: c.Kind, counter: counter, breaker: b})
	}
	sort.Slice(l.counters, func(i, j int) bool { return l.counters[i].source < l.counters[j].source })
	if len(l.chains) > 0 {
		hash.liveOf = l.liveOf
	}
	return l, nil
}

// Prepare prepares the hash verifier (HashVerifier.Prepare).
func (l *Live) Prepare() error { return l.hash.Prepare() }

// VerifyDummy runs the hash verifier's dummy verification (for unknown users).
func (l *Live) VerifyDummy(ctx context.Context, password string) error {
	return l.hash.VerifyDummy(ctx, password)
}

// Verify implements idshift.Verifier; see Check.
func (l *Live) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	c, err := l.Check(ctx, rec, password)
	return c.Match, err
}

// Check implements Checker, mapping the chain's answers as the type's comment shows.
//
// A merged account (a credential with alternates) is checked by the hash verifier's merged check, each member
// without an imported credential by the live check of its own source.
func (l *Live) Check(ctx context.Context, rec *idshift.Record, password string) (Check, error) {
	chain, ok := l.chains[rec.Key.Source]
	if !ok {
		return l.hash.Check(ctx, rec, password)
	}
	if cred, err := l.hash.Store.Credential(ctx, rec.Key); err == nil && len(cred.Alternates) > 0 {
		return l.hash.Check(ctx, rec, password)
	}
	return liveCheck(chain.Verify(ctx, rec, password))
}

// liveOf returns the live check of a source (its breaker and counter), nil when it has none.
func (l *Live) liveOf(source string) idshift.Verifier {
	if c, ok := l.chains[source]; ok {
		return c[1]
	}
	return nil
}

// liveCheck maps a live check's answer to a Check, as Live's comment shows.
func liveCheck(match bool, err error) (Check, error) {
	switch {
	case err == nil && match:
		return Check{Match: true, Reason: ReasonMatch}, nil
	case err == nil:
		return Check{Reason: ReasonMismatch}, nil
	case errors.Is(err, verify.ErrMustChange):
		return Check{Match: true, MustChange: true, Reason: ReasonMatch}, nil
	case errors.Is(err, verify.ErrLocked):
		return Check{Match: true, Disabled: true, Reason: ReasonMatch}, nil
	case errors.Is(err, verify.ErrNoCredential):
		return Check{Reason: ReasonNoCredential}, nil
	}
	return Check{}, err
}

// chainHash is the HashVerifier as the first link of a verify.Chain: a record without an imported credential is
// answered with verify.ErrNoCredential at once (no dummy verification: the live check does the work); the
// credential's flags after a right password are verify.ErrLocked (disabled) and verify.ErrMustChange.
type chainHash struct{ h *HashVerifier }

func (c chainHash) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	if err := c.h.Prepare(); err != nil {
		return false, err
	}
	cred, err := c.h.Store.Credential(ctx, rec.Key)
	if errors.Is(err, idshift.ErrNotFound) || (err == nil && cred.Kind == idshift.CredentialNone) {
		return false, fmt.Errorf("jit: no imported credential: %w", verify.ErrNoCredential)
	}
	if err != nil {
		return false, fmt.Errorf("jit: credential: %w", err)
	}
	ch, err := c.h.Check(ctx, rec, password)
	switch {
	case err != nil:
		return false, err
	case !ch.Match:
		return false, nil
	case ch.Disabled:
		return false, fmt.Errorf("jit: imported credential disabled: %w", verify.ErrLocked)
	case ch.MustChange:
		return false, fmt.Errorf("jit: imported credential must change: %w", verify.ErrMustChange)
	}
	return true, nil
}

// WriteMetrics writes the live checks' counters in the Prometheus text format, for the admin listener's /metrics
// after Metrics.WriteText:
//
//	idshift_legacy_verify_total{source,verifier,outcome}       counter (outcomes of verify.Outcomes)
//	idshift_legacy_verify_seconds_sum/_count{source,verifier}   summary of the checks' latency
//	idshift_legacy_circuit_state{source,verifier}               gauge: 0 closed, 1 open, 2 half-open
//
// Labels name the source and the kind of check, never a user.
func (l *Live) WriteMetrics(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# HELP idshift_legacy_verify_total Live legacy checks, by source, verifier and outcome.\n# TYPE idshift_legacy_verify_total counter\n")
	for _, c := range l.counters {
		s := c.counter.Stats()
		for _, o := range verify.Outcomes {
			fmt.Fprintf(&b, "idshift_legacy_verify_total{source=\"%s\",verifier=\"%s\",outcome=\"%s\"} %d\n",
				labelValue(c.source), labelValue(c.kind), o, s.Calls[o])
		}
	}
	b.WriteString("# HELP idshift_legacy_verify_seconds Latency of live legacy checks.\n# TYPE idshift_legacy_verify_seconds summary\n")
	for _, c := range l.counters {
		s := c.counter.Stats()
		lbl := fmt.Sprintf("source=\"%s\",verifier=\"%s\"", labelValue(c.source), labelValue(c.kind))
		fmt.Fprintf(&b, "idshift_legacy_verify_seconds_sum{%s} %g\nidshift_legacy_verify_seconds_count{%s} %d\n",
			lbl, s.LatencySum.Seconds(), lbl, s.LatencyCount)
	}
	b.WriteString("# HELP idshift_legacy_circuit_state Circuit of each live check: 0 closed, 1 open, 2 half-open.\n# TYPE idshift_legacy_circuit_state gauge\n")
	for _, c := range l.counters {
		fmt.Fprintf(&b, "idshift_legacy_circuit_state{source=\"%s\",verifier=\"%s\"} %d\n",
			labelValue(c.source), labelValue(c.kind), int(c.breaker.State()))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// labelValue escapes a Prometheus label value.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

var (
	_ idshift.Verifier = (*Live)(nil)
	_ Checker          = (*Live)(nil)
	_ Dummy            = (*Live)(nil)
	_ idshift.Verifier = chainHash{}
)
