package tenant

import (
	"context"
	"errors"
	"fmt"

	"github.com/idshift/idshift/graph"
)

// QuotaReader reads the directory quota; *graph.Client and *graph.Pool implement it.
type QuotaReader interface {
	DirectoryQuota(ctx context.Context) (used, total int64, err error)
}

var (
	_ QuotaReader = (*graph.Client)(nil)
	_ QuotaReader = (*graph.Pool)(nil)
)

// Quota is the tenant's directory object quota (users, applications and other objects).
type Quota struct {
	Used, Total int64
}

// Remaining is the number of objects the tenant can still hold (never negative).
func (q Quota) Remaining() int64 { return max(q.Total-q.Used, 0) }

// ErrQuotaUnreadable is matched by ReadQuota's error when the quota cannot be read: no Organization.Read.All
// (a 403, also matching graph.ErrForbidden), or a Graph that does not report it. Callers say so and go on.
var ErrQuotaUnreadable = errors.New("the directory quota cannot be read")

// ReadQuota reads the directory quota (GET /beta/organization?$select=directorySizeQuota, docs/contracts.md §5.1).
// Errors other than a context's match ErrQuotaUnreadable; a 403 says that Organization.Read.All is needed.
func ReadQuota(ctx context.Context, r QuotaReader) (Quota, error) {
	used, total, err := r.DirectoryQuota(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		return Quota{}, err
	case errors.Is(err, graph.ErrForbidden):
		return Quota{}, fmt.Errorf("%w: the app registration lacks the Graph application permission Organization.Read.All: %w", ErrQuotaUnreadable, err)
	case err != nil:
		return Quota{}, fmt.Errorf("%w: %w", ErrQuotaUnreadable, err)
	case total <= 0:
		return Quota{}, fmt.Errorf("%w: Graph reported a total of %d", ErrQuotaUnreadable, total)
	}
	return Quota{Used: used, Total: total}, nil
}

// QuotaError is the error of Check: the planned creates exceed the quota's remaining objects.
type QuotaError struct {
	Planned int64
	Quota   Quota
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("the import would create %d users but the tenant's directory quota has room for %d more objects "+
		"(%d of %d used): nothing was created. Free objects (purge deleted users: DELETE /directory/deletedItems/{id}), "+
		"ask Microsoft for a larger quota, or import a smaller part", e.Planned, e.Quota.Remaining(), e.Quota.Used, e.Quota.Total)
}

// Is makes a QuotaError match graph.ErrQuotaExceeded.
func (e *QuotaError) Is(target error) bool { return target == graph.ErrQuotaExceeded }

// Check returns a *QuotaError when planned new objects do not fit in the remaining quota.
func (q Quota) Check(planned int64) error {
	if planned > q.Remaining() {
		return &QuotaError{Planned: planned, Quota: q}
	}
	return nil
}
