package postgres

import (
	"context"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store"
)

// CredentialKeys calls fn for the key of every stored credential, in key order, without reading the credentials.
// The keys are read first, then fn is called, so fn may write to the store.
func (db *DB) CredentialKeys(ctx context.Context, fn func(idshift.Key) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rows, err := db.pool.Query(ctx, `SELECT source, legacy_id FROM credentials ORDER BY source, legacy_id`)
	if err != nil {
		return ctxErr(ctx, "credential keys", err)
	}
	var keys []idshift.Key
	for rows.Next() {
		var k idshift.Key
		if err := rows.Scan(&k.Source, &k.LegacyID); err != nil {
			rows.Close()
			return ctxErr(ctx, "credential keys", err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return ctxErr(ctx, "credential keys", err)
	}
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

// Compact rewrites the credentials table (VACUUM FULL), so that the deleted rows leave its files. It takes an
// exclusive lock on the table while it runs. Copies of the rows in the server's WAL archive, replicas' history
// and backups are out of its reach: the operator's.
func (db *DB) Compact(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := db.pool.Exec(ctx, `VACUUM FULL credentials`); err != nil {
		return ctxErr(ctx, "compact", err)
	}
	return nil
}

// AttemptsByDay returns the number of attempts at or after since, by UTC day, front and action.
func (db *DB) AttemptsByDay(ctx context.Context, since time.Time) ([]store.DayCount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, front, action, count(*)
		FROM attempts WHERE at >= $1 GROUP BY 1, 2, 3 ORDER BY 1, front COLLATE "C", action COLLATE "C"`, since)
	if err != nil {
		return nil, ctxErr(ctx, "attempts by day", err)
	}
	defer rows.Close()
	var out []store.DayCount
	for rows.Next() {
		var c store.DayCount
		var action string
		if err := rows.Scan(&c.Day, &c.Front, &action, &c.N); err != nil {
			return nil, ctxErr(ctx, "attempts by day", err)
		}
		c.Action = idshift.Action(action)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, ctxErr(ctx, "attempts by day", err)
	}
	return out, nil
}

// MigratedByHow returns the number of recorded migrations by how they happened.
func (db *DB) MigratedByHow(ctx context.Context) (map[string]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT how, count(*) FROM migrated GROUP BY how`)
	if err != nil {
		return nil, ctxErr(ctx, "migrated by how", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var how string
		var n int64
		if err := rows.Scan(&how, &n); err != nil {
			return nil, ctxErr(ctx, "migrated by how", err)
		}
		out[how] = n
	}
	if err := rows.Err(); err != nil {
		return nil, ctxErr(ctx, "migrated by how", err)
	}
	return out, nil
}

var (
	_ store.CredentialLister = (*DB)(nil)
	_ store.Compactor        = (*DB)(nil)
	_ store.ProgressReader   = (*DB)(nil)
)
