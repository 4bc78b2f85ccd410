package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/idshift/idshift"
)

// Chain asks its verifiers in order and returns the first answer that is not ErrNoCredential. The usual chain is
// the imported hash first and a live check second: a record with an imported hash is decided locally, a record
// without one (its hash verifier returns an error matching ErrNoCredential) goes to the legacy system.
//
// Any other answer, a mismatch or an error included, ends the chain: a wrong password against the imported hash is
// never retried against the live system, and a failure is never turned into a mismatch. When every verifier
// returns ErrNoCredential (or the chain is empty), Verify returns an error matching ErrNoCredential.
type Chain []idshift.Verifier

// Verify implements idshift.Verifier.
func (c Chain) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	last := error(ErrNoCredential)
	for _, v := range c {
		ok, err := v.Verify(ctx, rec, password)
		if err != nil && errors.Is(err, ErrNoCredential) {
			last = err
			continue
		}
		return ok, err
	}
	return false, last
}

// BySource picks the verifier of a record's source (rec.Key.Source), as the configuration chooses one per source.
// A source with no verifier gets an error matching ErrNoCredential.
type BySource map[string]idshift.Verifier

// Verify implements idshift.Verifier.
func (m BySource) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	v, ok := m[rec.Key.Source]
	if !ok || v == nil {
		return false, fmt.Errorf("verify: no verifier for source %q: %w", rec.Key.Source, ErrNoCredential)
	}
	return v.Verify(ctx, rec, password)
}

var (
	_ idshift.Verifier = Chain(nil)
	_ idshift.Verifier = BySource(nil)
)
