package sqlite

import (
	"context"
	"fmt"
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
	rows, err := db.r.QueryContext(ctx, `SELECT source, legacy_id FROM credentials ORDER BY source, legacy_id`)
	if err != nil {
		return fmt.Errorf("sqlite: credential keys: %w", err)
	}
	var keys []idshift.Key
	for rows.Next() {
		var k idshift.Key
		if err := rows.Scan(&k.Source, &k.LegacyID); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: credential keys: %w", err)
		}
		keys = append(keys, k)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("sqlite: credential keys: %w", err)
	}
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

// Compact rebuilds the database file (VACUUM), so that no deleted row survives in its free pages, then copies the
// WAL into the file and truncates it to zero bytes (wal_checkpoint(TRUNCATE)), so that none survives in the WAL
// either. It runs on the writer connection: writes wait for it. A checkpoint that open readers keep from
// completing is an error: run it again once they are done.
func (db *DB) Compact(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: compact: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("sqlite: compact: vacuum: %w", err)
	}
	var busy, logPages, done int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done); err != nil {
		return fmt.Errorf("sqlite: compact: checkpoint: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("sqlite: compact: checkpoint: readers kept the WAL from being truncated (%d of %d pages copied): run again", done, logPages)
	}
	return nil
}

// AttemptsByDay returns the number of attempts at or after since, by UTC day, front and action.
func (db *DB) AttemptsByDay(ctx context.Context, since time.Time) ([]store.DayCount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT strftime('%Y-%m-%d', at / 1000000, 'unixepoch') AS day, front, action, count(*)
		FROM attempts WHERE at >= ? GROUP BY day, front, action ORDER BY day, front, action`, since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempts by day: %w", err)
	}
	defer rows.Close()
	var out []store.DayCount
	for rows.Next() {
		var c store.DayCount
		var action string
		if err := rows.Scan(&c.Day, &c.Front, &action, &c.N); err != nil {
			return nil, fmt.Errorf("sqlite: attempts by day: %w", err)
		}
		c.Action = idshift.Action(action)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: attempts by day: %w", err)
	}
	return out, nil
}

// MigratedByHow returns the number of recorded migrations by how they happened.
func (db *DB) MigratedByHow(ctx context.Context) (map[string]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT how, count(*) FROM migrated GROUP BY how`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrated by how: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var how string
		var n int64
		if err := rows.Scan(&how, &n); err != nil {
			return nil, fmt.Errorf("sqlite: migrated by how: %w", err)
		}
		out[how] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: migrated by how: %w", err)
	}
	return out, nil
}

var (
	_ store.CredentialLister = (*DB)(nil)
	_ store.Compactor        = (*DB)(nil)
	_ store.ProgressReader   = (*DB)(nil)
)
