package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store"
)

// RecordAttempt appends one attempt. A zero At takes the store's clock.
func (db *DB) RecordAttempt(ctx context.Context, a idshift.AttemptLog) error {
	if a.Front == "" || a.Action == "" {
		return idshift.Invalid("attempt", "front and action are required")
	}
	at := a.At
	if at.IsZero() {
		at = store.Now(db.now)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO attempts (source, legacy_id, object_id, sign_in_name, front, action, reason, client_ip, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.Key.Source, a.Key.LegacyID, a.ObjectID, a.SignInName, a.Front, string(a.Action),
			a.Reason, a.ClientIP, at.UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: record attempt: %w", err)
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
	now := store.Now(db.now).UnixMicro()
	var found bool
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE records SET state = ?, updated_at = ? WHERE source = ? AND legacy_id = ?`,
			string(idshift.StateMigrated), now, key.Source, key.LegacyID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if found = n > 0; !found {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO migrated (source, legacy_id, at, how) VALUES (?, ?, ?, ?)
			ON CONFLICT (source, legacy_id) DO NOTHING`, key.Source, key.LegacyID, at.UnixMicro(), how)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: mark migrated: %w", err)
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
	rows, err := db.r.QueryContext(ctx, `SELECT front, action, reason, count(*) FROM attempts WHERE at >= ?
		GROUP BY front, action, reason ORDER BY front, action, reason`, since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt counts: %w", err)
	}
	defer rows.Close()
	var out []idshift.AttemptCount
	for rows.Next() {
		var c idshift.AttemptCount
		var action string
		if err := rows.Scan(&c.Front, &action, &c.Reason, &c.N); err != nil {
			return nil, fmt.Errorf("sqlite: attempt counts: %w", err)
		}
		c.Action = idshift.Action(action)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: attempt counts: %w", err)
	}
	return out, nil
}

// Migrated returns when and how a user's password was migrated, or ENOTFOUND when it was not.
func (db *DB) Migrated(ctx context.Context, key idshift.Key) (time.Time, string, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, "", err
	}
	var at int64
	var how string
	err := db.r.QueryRowContext(ctx, `SELECT at, how FROM migrated WHERE source = ? AND legacy_id = ?`, key.Source, key.LegacyID).Scan(&at, &how)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, "", store.NotFound("%q/%q not migrated", key.Source, key.LegacyID)
	}
	if err != nil {
		return time.Time{}, "", fmt.Errorf("sqlite: migrated: %w", err)
	}
	return time.UnixMicro(at).UTC(), how, nil
}

var _ idshift.AttemptStore = (*DB)(nil)
