package jit

import (
	"container/list"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/pwhash"
)

// Check is a verification's outcome together with what the legacy credential says about the account.
type Check struct {
	// Match: the password is right.
	Match bool
	// Reason is "match", "mismatch" or "no_credential" (a dummy verification of the same cost ran).
	Reason string
	// MustChange and Disabled are the legacy credential's flags (meaningful only on a match).
	MustChange, Disabled bool
	// Matched is, for a merged account (a credential with alternates), the key of the account whose credential
	// the password matched: the record's own or a member's (zero otherwise).
	Matched idshift.Key
}

// Checker is the optional, richer form of idshift.Verifier: it reports the legacy flags with the outcome. The
// Service prefers it when its Verifier implements it. Errors mean "could not decide", as with Verify.
type Checker interface {
	Check(ctx context.Context, rec *idshift.Record, password string) (Check, error)
}

// Dummy is the optional capability of a Verifier that can do the work of one verification without a user, so
// that an unknown user costs what a known one does. The outcome is discarded; it returns ctx's error when it did
// not run.
type Dummy interface {
	VerifyDummy(ctx context.Context, password string) error
}

// CredentialReader is the part of idshift.Store the hash verifier reads.
type CredentialReader interface {
	Credential(ctx context.Context, key idshift.Key) (idshift.Credential, error)
}

// HashVerifier checks passwords against the legacy hashes imported into the store (package pwhash). Parsed hashes
// are kept in a bounded LRU cache keyed by the record's key and a digest of the credential, so a changed credential
// is parsed again. A user without a credential costs one dummy verification against the hash last verified (or
// the configured dummy), so that the answer and the work are those of a wrong password. Inside a Service, an
// unknown user costs the same as a known one: a credential read of a real record (the one read last) through
// Store, its parse, and a dummy verification against it (see docs/serve.md).
//
// Example (YAML, as cmd/idshift reads it):
//
//	verifier:
//	  cacheSize: 10000
//	  dummyHash: "$2b$10$…"   # a hash of the typical cost, used until a real one has been verified
type HashVerifier struct {
	// Store holds the sealed credentials. Required.
	Store CredentialReader
	// Options read the stored hashes (limits, encodings); the import's options.
	Options pwhash.Options
	// CacheSize bounds the parsed-hash cache; 10,000 when zero.
	CacheSize int
	// DummyHash is verified for users without a credential until a real hash has been; a bcrypt hash of cost 10
	// made at first use when empty.
	DummyHash string

	// liveOf returns the live check of a source (nil for none), for the members of a merged account: set by
	// NewLive.
	liveOf func(source string) idshift.Verifier

	once     sync.Once
	initErr  error
	dummy    atomic.Pointer[pwhash.Hash]
	mu       sync.Mutex
	lru      *list.List
	entries  map[cacheKey]*list.Element
	verified atomic.Int64
	dummies  atomic.Int64
	reads    atomic.Int64
	lastKey  atomic.Pointer[idshift.Key] // a record whose credential was read last: the unknown path reads it again
}

type cacheKey struct {
	key    idshift.Key
	digest [sha256.Size]byte
}

type cacheEntry struct {
	k    cacheKey
	h    *pwhash.Hash
	kind string
}

// ErrNoStore: a HashVerifier without a Store.
var ErrNoStore = errors.New("jit: hash verifier has no store")

func (v *HashVerifier) init() error {
	v.once.Do(func() {
		if v.Store == nil {
			v.initErr = ErrNoStore
			return
		}
		v.lru = list.New()
		v.entries = make(map[cacheKey]*list.Element)
		raw := v.DummyHash
		if raw == "" {
			b, err := bcrypt.GenerateFromPassword(randomBytes(24), 10)
			if err != nil {
				v.initErr = fmt.Errorf("jit: dummy hash: %w", err)
				return
			}
			raw = string(b)
		}
		h, err := pwhash.Parse(raw, v.Options)
		if err != nil {
			v.initErr = fmt.Errorf("jit: dummy hash: %w", err)
			return
		}
		v.dummy.Store(h)
	})
	return v.initErr
}

// Prepare checks the configuration and parses the dummy hash (making one when none is configured), so that the
// first verification does not pay for it. Calling it is optional.
func (v *HashVerifier) Prepare() error { return v.init() }

// Verify reports whether password is rec's legacy password; see Check.
func (v *HashVerifier) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	c, err := v.Check(ctx, rec, password)
	return c.Match, err
}

// Check verifies password against rec's stored credential. No credential (or one of kind none) is a mismatch
// with reason "no_credential", after a dummy verification. A hash that cannot be parsed or is over the limits, a
// store failure or ctx's end is an error (could not decide).
func (v *HashVerifier) Check(ctx context.Context, rec *idshift.Record, password string) (Check, error) {
	st, err := v.stage(ctx, rec, password)
	if err != nil {
		return Check{}, err
	}
	return st.run(ctx)
}

// staged is a check split in two: what was read (outside the concurrency cap) and the costly part, with its kind
// (algorithm and cost, for the slots' estimate).
type staged struct {
	kind string
	run  func(ctx context.Context) (Check, error)
}

// stager is implemented by verifiers whose check can be staged; rec nil stages an unknown user's work.
type stager interface {
	stage(ctx context.Context, rec *idshift.Record, password string) (staged, error)
}

// stage reads rec's credential and returns the verification to run. For rec nil (an unknown user) it does the
// same work as for a known one: it reads a real record's credential (the one read last) through the same store
// call, and returns a dummy verification against it (or against the dummy hash) whose outcome is discarded.
func (v *HashVerifier) stage(ctx context.Context, rec *idshift.Record, password string) (staged, error) {
	if err := v.init(); err != nil {
		return staged{}, err
	}
	if rec == nil {
		return v.stageUnknown(ctx, password), nil
	}
	v.reads.Add(1)
	cred, err := v.Store.Credential(ctx, rec.Key)
	if err == nil && len(cred.Alternates) > 0 {
		return v.stageMerged(rec, cred, password)
	}
	if errors.Is(err, idshift.ErrNotFound) || (err == nil && cred.Kind == idshift.CredentialNone) {
		h := v.dummy.Load()
		return staged{kind: v.kindOf(h), run: func(ctx context.Context) (Check, error) {
			if err := v.verifyDummy(ctx, h, password); err != nil {
				return Check{}, err
			}
			return Check{Reason: ReasonNoCredential}, nil
		}}, nil
	}
	if err != nil {
		return staged{}, fmt.Errorf("jit: credential: %w", err)
	}
	key := rec.Key
	v.lastKey.Store(&key)
	out := Check{MustChange: cred.MustChange, Disabled: cred.Disabled}
	finish := func(match bool) Check {
		out.Match, out.Reason = match, ReasonMismatch
		if match {
			out.Reason = ReasonMatch
		}
		return out
	}
	switch cred.Kind {
	case idshift.CredentialPlaintext:
		stored := cred.Password
		return staged{kind: "plaintext", run: func(ctx context.Context) (Check, error) {
			a, b := sha256.Sum256([]byte(password)), sha256.Sum256([]byte(stored))
			return finish(subtle.ConstantTimeCompare(a[:], b[:]) == 1), nil
		}}, nil
	case idshift.CredentialHash:
		h, kind, err := v.parsed(rec.Key, cred.Hash)
		if err != nil {
			return staged{}, fmt.Errorf("jit: stored hash: %w", err)
		}
		return staged{kind: kind, run: func(ctx context.Context) (Check, error) {
			v.verified.Add(1)
			ok, err := h.Verify(ctx, password)
			if err != nil {
				return Check{}, fmt.Errorf("jit: verify: %w", err)
			}
			v.dummy.Store(h)
			return finish(ok), nil
		}}, nil
	default:
		return staged{}, fmt.Errorf("jit: credential kind %q not supported", cred.Kind)
	}
}

// side is one credential of a merged account, with the record its account would have on its own.
type side struct {
	rec  *idshift.Record
	cred idshift.Credential
	h    *pwhash.Hash     // a parsed hash
	live idshift.Verifier // a live check, for a side without an imported credential
}

// stageMerged stages the check of a merged account: the password is verified against the account's own credential,
// then each alternate's in the plan's order (an alternate without an imported credential by the live check of its
// source, when one is configured); the first that verifies wins, with its flags (MustChange, Disabled) and its key
// (Check.Matched). A wrong password costs one verification per credential. A side that cannot decide (a live
// check down) does not stop the others: the answer is "could not decide" only when no side matched. Without any
// credential to verify, it is a dummy verification and "no_credential", as for a single account.
func (v *HashVerifier) stageMerged(rec *idshift.Record, cred idshift.Credential, password string) (staged, error) {
	own := cred
	own.Alternates = nil
	all := []side{{rec: rec, cred: own}}
	for _, a := range cred.Alternates {
		c := a.Credential
		c.Alternates = nil
		all = append(all, side{rec: &idshift.Record{Key: a.Key(), ObjectID: rec.ObjectID, SignInNames: a.SignInNames, State: rec.State}, cred: c})
	}
	var sides []side
	kind := ""
	for _, s := range all {
		switch s.cred.Kind {
		case idshift.CredentialHash:
			h, k, err := v.parsed(s.rec.Key, s.cred.Hash)
			if err != nil {
				return staged{}, fmt.Errorf("jit: stored hash of merged account %s/%s: %w", s.rec.Key.Source, s.rec.Key.LegacyID, err)
			}
			s.h = h
			if kind == "" {
				kind = k
			}
		case idshift.CredentialPlaintext:
		case idshift.CredentialNone:
			if v.liveOf == nil {
				continue
			}
			if s.live = v.liveOf(s.rec.Key.Source); s.live == nil {
				continue
			}
		default:
			return staged{}, fmt.Errorf("jit: credential kind %q not supported", s.cred.Kind)
		}
		sides = append(sides, s)
	}
	if len(sides) == 0 {
		h := v.dummy.Load()
		return staged{kind: v.kindOf(h), run: func(ctx context.Context) (Check, error) {
			if err := v.verifyDummy(ctx, h, password); err != nil {
				return Check{}, err
			}
			return Check{Reason: ReasonNoCredential}, nil
		}}, nil
	}
	if kind == "" {
		kind = "plaintext"
	}
	key := rec.Key
	v.lastKey.Store(&key)
	return staged{kind: kind, run: func(ctx context.Context) (Check, error) {
		var undecided error
		for _, s := range sides {
			var c Check
			var err error
			switch {
			case s.h != nil:
				v.verified.Add(1)
				c.Match, err = s.h.Verify(ctx, password)
				if err != nil {
					err = fmt.Errorf("jit: verify: %w", err)
				} else {
					v.dummy.Store(s.h)
				}
				c.MustChange, c.Disabled = s.cred.MustChange, s.cred.Disabled
			case s.live != nil:
				c, err = liveCheck(s.live.Verify(ctx, s.rec, password))
			default:
				a, b := sha256.Sum256([]byte(password)), sha256.Sum256([]byte(s.cred.Password))
				c.Match = subtle.ConstantTimeCompare(a[:], b[:]) == 1
				c.MustChange, c.Disabled = s.cred.MustChange, s.cred.Disabled
			}
			if ctx.Err() != nil {
				return Check{}, ctx.Err()
			}
			if err != nil {
				if undecided == nil {
					undecided = err
				}
				continue
			}
			if c.Match {
				c.Reason, c.Matched = ReasonMatch, s.rec.Key
				return c, nil
			}
		}
		if undecided != nil {
			return Check{}, undecided
		}
		return Check{Reason: ReasonMismatch}, nil
	}}, nil
}

// stageUnknown is an unknown user's work: the credential read of a real record (the last one read; none before
// the first) through the same store call and parse, then a dummy verification against that hash. Failures are
// ignored: they say nothing about anyone, and the answer is the same.
func (v *HashVerifier) stageUnknown(ctx context.Context, password string) staged {
	h := v.dummy.Load()
	if k := v.lastKey.Load(); k != nil {
		v.reads.Add(1)
		cred, err := v.Store.Credential(ctx, *k)
		if err == nil && cred.Kind == idshift.CredentialHash {
			if p, _, err := v.parsed(*k, cred.Hash); err == nil {
				h = p
			}
		}
	}
	return staged{kind: v.kindOf(h), run: func(ctx context.Context) (Check, error) {
		if err := v.verifyDummy(ctx, h, password); err != nil {
			return Check{}, err
		}
		return Check{Reason: ReasonUnknownUser}, nil
	}}
}

// VerifyDummy verifies password against the hash last verified (the same algorithm and cost as a real user's)
// and discards the outcome.
func (v *HashVerifier) VerifyDummy(ctx context.Context, password string) error {
	if err := v.init(); err != nil {
		return err
	}
	return v.verifyDummy(ctx, v.dummy.Load(), password)
}

func (v *HashVerifier) verifyDummy(ctx context.Context, h *pwhash.Hash, password string) error {
	v.dummies.Add(1)
	_, err := h.Verify(ctx, password)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	_ = err // the dummy's outcome (and a failure of it) says nothing about anyone
	return nil
}

// Counts returns how many real and dummy verifications ran: the work done, for tests and metrics.
func (v *HashVerifier) Counts() (real, dummy int64) { return v.verified.Load(), v.dummies.Load() }

// Reads returns how many credentials were read from the store, for a known user or (the same read of a real
// record) for an unknown one: for tests and metrics.
func (v *HashVerifier) Reads() int64 { return v.reads.Load() }

// parsed returns the cached parse of raw for key and its kind, parsing it on a miss.
func (v *HashVerifier) parsed(key idshift.Key, raw string) (*pwhash.Hash, string, error) {
	k := cacheKey{key: key, digest: sha256.Sum256([]byte(raw))}
	v.mu.Lock()
	if e, ok := v.entries[k]; ok {
		v.lru.MoveToFront(e)
		ce := e.Value.(*cacheEntry)
		v.mu.Unlock()
		return ce.h, ce.kind, nil
	}
	v.mu.Unlock()
	h, err := pwhash.Parse(raw, v.Options)
	if err != nil {
		return nil, "", err
	}
	kind := hashKind(raw)
	size := v.CacheSize
	if size <= 0 {
		size = 10000
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.entries[k]; ok {
		v.lru.MoveToFront(e)
		ce := e.Value.(*cacheEntry)
		return ce.h, ce.kind, nil
	}
	v.entries[k] = v.lru.PushFront(&cacheEntry{k: k, h: h, kind: kind})
	for v.lru.Len() > size {
		old := v.lru.Back()
		v.lru.Remove(old)
		delete(v.entries, old.Value.(*cacheEntry).k)
	}
	return h, kind, nil
}

// kindOf is the kind of a parsed hash (the dummy's).
func (v *HashVerifier) kindOf(h *pwhash.Hash) string { return hashKind(h.String()) }

// hashKind names a stored hash's algorithm and cost without its salt or digest, for the slots' per-kind estimate:
// the fields of a "$"-separated hash that are its identifier (the first), a number or a parameter list with "="
// ("2b$10", "argon2id$v=19$m=65536,t=3,p=4", "6$rounds=5000"); a hash of another shape is named by its length.
// The result is bounded in length and, for a given format and cost, the same for every user.
func hashKind(raw string) string {
	if !strings.HasPrefix(raw, "$") {
		return "len:" + strconv.Itoa(len(raw))
	}
	fields := strings.Split(raw[1:], "$")
	var b strings.Builder
	for i, f := range fields {
		if len(f) > 48 {
			continue
		}
		if i == 0 || strings.Contains(f, "=") || isDigits(f) {
			if b.Len() > 0 {
				b.WriteByte('$')
			}
			b.WriteString(f)
		}
	}
	return b.String()
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// CacheLen returns the number of parsed hashes cached.
func (v *HashVerifier) CacheLen() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.lru == nil {
		return 0
	}
	return v.lru.Len()
}

var (
	_ idshift.Verifier = (*HashVerifier)(nil)
	_ Checker          = (*HashVerifier)(nil)
	_ Dummy            = (*HashVerifier)(nil)
	_ stager           = (*HashVerifier)(nil)
)
