package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store"
)

// ClaimPending leases up to n pending records to worker until the store's clock passes now+lease, and returns
// them in key order. It takes records in state pending whose lease is free or over, in key order, and skips the
// rows other workers are claiming at the same moment (FOR UPDATE SKIP LOCKED), so concurrent callers, in this
// process or others, get disjoint sets. A record stays leased until its lease ends or ReleaseLeases; PutRecords
// leaves leases alone, and a record that leaves the pending state is no longer claimed. It is not part of
// idshift.Store: it is how several import workers share one PostgreSQL store.
func (db *DB) ClaimPending(ctx context.Context, worker string, n int, lease time.Duration) ([]*idshift.Record, error) {
	if worker == "" {
		return nil, idshift.Invalid("worker", "required")
	}
	if n <= 0 {
		return nil, idshift.Invalid("n", "must be positive, got %d", n)
	}
	if lease <= 0 {
		return nil, idshift.Invalid("lease", "must be positive, got %s", lease)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := store.Now(db.now)
	var out []*idshift.Record
	err := db.tx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `UPDATE records r SET lease_owner = $1, lease_until = $2
			FROM (SELECT source, legacy_id FROM records
				WHERE state = $3 AND (lease_until IS NULL OR lease_until <= $4)
				ORDER BY source, legacy_id LIMIT $5 FOR UPDATE SKIP LOCKED) c
			WHERE r.source = c.source AND r.legacy_id = c.legacy_id
			RETURNING `+prefixed("r"), worker, now.Add(lease), string(idshift.StatePending), now, n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRecord(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, ctxErr(ctx, "claim pending records", err)
	}
	slices.SortFunc(out, func(a, b *idshift.Record) int { return store.CompareKeys(a.Key, b.Key) })
	return out, nil
}

// ReleaseLeases ends worker's leases on keys (other workers' leases are left alone) and returns how many it ended.
func (db *DB) ReleaseLeases(ctx context.Context, worker string, keys []idshift.Key) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	keys = store.PrepareKeys(keys)
	if len(keys) == 0 {
		return 0, nil
	}
	sources, ids := keyArrays(keys)
	tag, err := db.pool.Exec(ctx, `UPDATE records r SET lease_owner = '', lease_until = NULL
		FROM unnest($1::text[], $2::text[]) AS k(source, legacy_id)
		WHERE r.source = k.source AND r.legacy_id = k.legacy_id AND r.lease_owner = $3`, sources, ids, worker)
	if err != nil {
		return 0, ctxErr(ctx, fmt.Sprintf("release %d leases", len(keys)), err)
	}
	return tag.RowsAffected(), nil
}
