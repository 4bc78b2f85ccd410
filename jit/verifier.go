package jit

import (
	"container/list"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
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
// the configured dummy), so that the answer and the work are those of a wrong password.
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

	once     sync.Once
	initErr  error
	dummy    atomic.Pointer[pwhash.Hash]
	mu       sync.Mutex
	lru      *list.List
	entries  map[cacheKey]*list.Element
	verified atomic.Int64
	dummies  atomic.Int64
}

type cacheKey struct {
	key    idshift.Key
	digest [sha256.Size]byte
}

type cacheEntry struct {
	k cacheKey
	h *pwhash.Hash
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
	if err := v.init(); err != nil {
		return Check{}, err
	}
	cred, err := v.Store.Credential(ctx, rec.Key)
	if errors.Is(err, idshift.ErrNotFound) || (err == nil && cred.Kind == idshift.CredentialNone) {
		if err := v.VerifyDummy(ctx, password); err != nil {
			return Check{}, err
		}
		return Check{Reason: ReasonNoCredential}, nil
	}
	if err != nil {
		return Check{}, fmt.Errorf("jit: credential: %w", err)
	}
	out := Check{MustChange: cred.MustChange, Disabled: cred.Disabled}
	switch cred.Kind {
	case idshift.CredentialPlaintext:
		a, b := sha256.Sum256([]byte(password)), sha256.Sum256([]byte(cred.Password))
		out.Match = subtle.ConstantTimeCompare(a[:], b[:]) == 1
	case idshift.CredentialHash:
		h, err := v.parsed(rec.Key, cred.Hash)
		if err != nil {
			return Check{}, fmt.Errorf("jit: stored hash: %w", err)
		}
		v.verified.Add(1)
		ok, err := h.Verify(ctx, password)
		if err != nil {
			return Check{}, fmt.Errorf("jit: verify: %w", err)
		}
		out.Match = ok
		v.dummy.Store(h)
	default:
		return Check{}, fmt.Errorf("jit: credential kind %q not supported", cred.Kind)
	}
	out.Reason = ReasonMismatch
	if out.Match {
		out.Reason = ReasonMatch
	}
	return out, nil
}

// VerifyDummy verifies password against the hash last verified (the same algorithm and cost as a real user's)
// and discards the outcome.
func (v *HashVerifier) VerifyDummy(ctx context.Context, password string) error {
	if err := v.init(); err != nil {
		return err
	}
	v.dummies.Add(1)
	_, err := v.dummy.Load().Verify(ctx, password)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	_ = err // the dummy's outcome (and a failure of it) says nothing about anyone
	return nil
}

// Counts returns how many real and dummy verifications ran: the work done, for tests and metrics.
func (v *HashVerifier) Counts() (real, dummy int64) { return v.verified.Load(), v.dummies.Load() }

// parsed returns the cached parse of raw for key, parsing it on a miss.
func (v *HashVerifier) parsed(key idshift.Key, raw string) (*pwhash.Hash, error) {
	k := cacheKey{key: key, digest: sha256.Sum256([]byte(raw))}
	v.mu.Lock()
	if e, ok := v.entries[k]; ok {
		v.lru.MoveToFront(e)
		h := e.Value.(*cacheEntry).h
		v.mu.Unlock()
		return h, nil
	}
	v.mu.Unlock()
	h, err := pwhash.Parse(raw, v.Options)
	if err != nil {
		return nil, err
	}
	size := v.CacheSize
	if size <= 0 {
		size = 10000
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.entries[k]; ok {
		v.lru.MoveToFront(e)
		return e.Value.(*cacheEntry).h, nil
	}
	v.entries[k] = v.lru.PushFront(&cacheEntry{k: k, h: h})
	for v.lru.Len() > size {
		old := v.lru.Back()
		v.lru.Remove(old)
		delete(v.entries, old.Value.(*cacheEntry).k)
	}
	return h, nil
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
)
