package store

import (
	"context"
	"time"

	"github.com/idshift/idshift"
)

// The end of a migration (`idshift status` and `idshift cutover`) needs three optional capabilities of a state
// store, beside idshift.Store and idshift.AttemptStore. store/sqlite and store/postgres implement all three.

// CredentialLister lists the keys of the legacy credentials a store holds, so that cutover can delete them all.
type CredentialLister interface {
	// CredentialKeys calls fn for the key of every stored credential, in key order; the credentials themselves
	// are never read. fn must not call back into the store. An error from fn stops the listing and is returned.
	CredentialKeys(ctx context.Context, fn func(idshift.Key) error) error
}

// Compactor rewrites a store so that deleted data survives nowhere in its files.
type Compactor interface {
	// Compact rebuilds the store's storage so that the rows deleted before it (legacy credentials above all) are
	// gone from free pages and logs: SQLite VACUUM then a TRUNCATE checkpoint of the WAL; PostgreSQL VACUUM FULL
	// of the credentials table. It is idempotent and safe to run again; other writers wait while it runs.
	Compact(ctx context.Context) error
}

// ProgressReader reads the figures of stage 3 over time.
type ProgressReader interface {
	// AttemptsByDay returns the number of attempts at or after since, by UTC day, front and action, in that
	// order.
	AttemptsByDay(ctx context.Context, since time.Time) ([]DayCount, error)
	// MigratedByHow returns the number of recorded migrations by how they happened ("hash", "live:<name>",
	// "tenant"; see idshift.AttemptStore.MarkMigrated).
	MigratedByHow(ctx context.Context) (map[string]int64, error)
}

// DayCount is one row of ProgressReader.AttemptsByDay.
type DayCount struct {
	// Day is the UTC day, as 2006-01-02.
	Day    string         `json:"day"`
	Front  string         `json:"front"`
	Action idshift.Action `json:"action"`
	N      int64          `json:"n"`
}
