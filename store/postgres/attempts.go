package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store"
)

// RecordAttempt appends one attempt. A zero At takes the store's clock.
func (db *DB) RecordAttempt(ctx context.Context, a idshift.AttemptLog) error {
	if a.Front == "" || a.Action == "" {
		return idshift.Invalid("attempt", "front and action are required")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	at := a.At
	if at.IsZero() {
		at = store.Now(db.now)
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO attempts (source, legacy_id, object_id, sign_in_name, front, action, reason, client_ip, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, a.Key.Source, a.Key.LegacyID, a.ObjectID, a.SignInName, a.Front,
		string(a.Action), a.Reason, a.ClientIP, at)
	if err != nil {
		return ctxErr(ctx, "record attempt", err)
	}
	return nil
}

// MarkMigrated sets the record's state to migrated and remembers when and how, in one transaction. The first
// migration's time and way are kept when it is called again (idempotent). ENOTFOUND for an unknown key; the
// credential is left in place.
func (db *DB) MarkMigrated(ctx context.Context, key idshift.Key, at time.Time, how string) error {
	if err := store.ValidKey(key); err != nil {
		return err
	}
	if at.IsZero() {
		at = store.Now(db.now)
	}
	now := store.Now(db.now)
	var found bool
	err := db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE records SET state = $1, updated_at = $2 WHERE source = $3 AND legacy_id = $4`,
			string(idshift.StateMigrated), now, key.Source, key.LegacyID)
		if err != nil {
			return err
		}
		if found = tag.RowsAffected() > 0; !found {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO migrated (source, legacy_id, at, how) VALUES ($1, $2, $3, $4)
			ON CONFLICT (source, legacy_id) DO NOTHING`, key.Source, key.LegacyID, at, how)
		return err
	})
	if err != nil {
		return ctxErr(ctx, "mark migrated", err)
	}
	if !found {
		return store.NotFound("no record %q/%q", key.Source, key.LegacyID)
	}
	return nil
}

// AttemptCounts returns the number of attempts at or after since, by front, action and reason, in that order.
func (db *DB) AttemptCounts(ctx context.Context, since time.Time) ([]idshift.AttemptCount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT front, action, reason, count(*) FROM attempts WHERE at >= $1
		GROUP BY front, action, reason ORDER BY front COLLATE "C", action COLLATE "C", reason COLLATE "C"`, since)
	if err != nil {
		return nil, ctxErr(ctx, "attempt counts", err)
	}
	defer rows.Close()
	var out []idshift.AttemptCount
	for rows.Next() {
		var c idshift.AttemptCount
		var action string
		if err := rows.Scan(&c.Front, &action, &c.Reason, &c.N); err != nil {
			return nil, ctxErr(ctx, "attempt counts", err)
		}
		c.Action = idshift.Action(action)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, ctxErr(ctx, "attempt counts", err)
	}
	return out, nil
}

// Migrated returns when and how a user's password was migrated, or ENOTFOUND when it was not.
func (db *DB) Migrated(ctx context.Context, key idshift.Key) (time.Time, string, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, "", err
	}
	var at time.Time
	var how string
	err := db.pool.QueryRow(ctx, `SELECT at, how FROM migrated WHERE source = $1 AND legacy_id = $2`, key.Source, key.LegacyID).Scan(&at, &how)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, "", store.NotFound("%q/%q not migrated", key.Source, key.LegacyID)
	}
	if err != nil {
		return time.Time{}, "", ctxErr(ctx, "migrated", err)
	}
	return at.UTC(), how, nil
}

var _ idshift.AttemptStore = (*DB)(nil)
