// Package postgres is the shared state store: PostgreSQL through pgx, for several import workers and service
// replicas in as many processes.
//
// Open creates the schema when missing and applies the embedded migrations (migrations/*.sql) in order, recorded
// in the schema's schema_migrations table, under a transaction-scoped advisory lock so that several processes may
// open the store at once. Writes of many rows are single statements over arrays (unnest), sorted by key so that
// concurrent writers lock rows in the same order; a deadlock or serialization failure is retried.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultSchema is the schema of the store's tables when Config.Schema is empty.
const DefaultSchema = "idshift"

// Config configures the PostgreSQL store.
//
// Example (YAML, the struct's own keys for library use):
//
//	url: postgres://idshift@db.internal:5432/migration?sslmode=verify-full
//	schema: idshift
//	maxConns: 16
//
// idshift's configuration file names only the URL, as the string value of its top-level key: store:
// postgres://…. The credential key comes from the environment: Key, _ = store.LoadKey(os.Getenv). A password belongs in the
// environment (PGPASSWORD) or a pgpass file rather than in the URL.
type Config struct {
	// URL is a PostgreSQL connection string (URL or key=value form, as libpq reads it). Required.
	URL string `json:"url" yaml:"url"`
	// Schema holds the store's tables; it is created when missing. Default "idshift".
	Schema string `json:"schema,omitempty" yaml:"schema,omitempty"`
	// Key (32 bytes) seals credentials at rest; nil stores them unsealed (see package store for the risk and the
	// migration policy).
	Key []byte `json:"-" yaml:"-"`
	// Now is the clock of CreatedAt and UpdatedAt; time.Now when nil.
	Now func() time.Time `json:"-" yaml:"-"`
	// MaxConns bounds the connection pool; pgxpool's default (max(4, CPUs)) when zero.
	MaxConns int `json:"maxConns,omitempty" yaml:"maxConns,omitempty"`
	// KeyRefs returns the project-wide keys a credential refers to (pwhash.KeyRefs of its hash); PutCredentials
	// records them for KeyRefs. Nil records none.
	KeyRefs func(idshift.Credential) []string `json:"-" yaml:"-"`
}

// DB is the PostgreSQL state store. It implements idshift.Store and is safe for concurrent use, also by several
// processes sharing the schema.
type DB struct {
	pool    *pgxpool.Pool
	cipher  *store.Cipher
	now     func() time.Time
	schema  string
	keyRefs func(idshift.Credential) []string
	bound   string // id of the key the store is bound to, "" when none

	closeOnce sync.Once
}

// Open connects, creates and migrates the schema, checks the key against the one the store is bound to
// (store.CheckKey: ErrWrongKey), then, when a key is configured, seals the credentials stored
// unsealed by a run without one. An unreachable server is EUNAVAILABLE. (A nil Key stores credentials unsealed in
// a database that several processes, their operators and its backups share: cmd/idshift refuses it unless told
// --allow-unsealed-secrets.)
func (c Config) Open(ctx context.Context) (*DB, error) {
	if c.URL == "" {
		return nil, idshift.Invalid("postgres.url", "required")
	}
	schema := c.Schema
	if schema == "" {
		schema = DefaultSchema
	}
	if c.MaxConns < 0 {
		return nil, idshift.Invalid("postgres.maxConns", "must not be negative")
	}
	var ciph *store.Cipher
	if c.Key != nil {
		var err error
		if ciph, err = store.NewCipher(c.Key); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	pc, err := pgxpool.ParseConfig(c.URL)
	if err != nil {
		// The parse error may quote the URL, password included: do not wrap it.
		return nil, idshift.Invalid("postgres.url", "not a valid connection string")
	}
	if c.MaxConns > 0 {
		pc.MaxConns = int32(c.MaxConns)
	}
	pc.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{pool: pool, cipher: ciph, now: c.Now, schema: schema, keyRefs: c.KeyRefs}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &idshift.Error{Code: idshift.EUNAVAILABLE, Message: "postgres: cannot reach the server", Err: err}
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := db.checkKey(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if ciph != nil {
		if err := db.sealUnsealed(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return db, nil
}

// checkKey applies store.CheckKey, binding a store opened with a key for the first time to that key. Of several
// processes binding at once with different keys, one wins and the others fail.
func (db *DB) checkKey(ctx context.Context) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var recorded string
		err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE name = $1`, store.MetaKeyID).Scan(&recorded)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var blob []byte
		var sealedID uint32
		err = tx.QueryRow(ctx, `SELECT blob FROM credentials WHERE sealed LIMIT 1`).Scan(&blob)
		sealed := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if sealed {
			sealedID, _ = store.BlobKeyID(blob)
		}
		bound, bind, err := store.CheckKey(db.cipher, recorded, sealed, sealedID)
		db.bound = bound
		if err != nil || !bind {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
			store.MetaKeyID, store.KeyIDString(db.cipher.ID())); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE name = $1`, store.MetaKeyID).Scan(&recorded); err != nil {
			return err
		}
		db.bound, _, err = store.CheckKey(db.cipher, recorded, false, 0)
		return err
	})
	if err != nil {
		return ctxErr(ctx, "schema "+db.schema, err)
	}
	return nil
}

// BoundKeyID returns the id of the key the store is bound to (store.KeyIDString), "" when it has none: a store
// opened without a key whose BoundKeyID is not "" holds sealed credentials it cannot read or write.
func (db *DB) BoundKeyID() string { return db.bound }

// KeyRefs returns the project-wide key references recorded by PutCredentials, sorted.
func (db *DB) KeyRefs(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT ref FROM key_refs`)
	if err != nil {
		return nil, ctxErr(ctx, "key refs", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, ctxErr(ctx, "key refs", err)
	}
	slices.Sort(out)
	return out, nil
}

// Close closes the pool. It is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(db.pool.Close)
	return nil
}

func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	slices.Sort(names)
	h := fnv.New64a()
	h.Write([]byte("idshift migrate " + db.schema))
	lock := int64(h.Sum64())
	schema := pgx.Identifier{db.schema}.Sanitize()
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+schema+`.schema_migrations (
			name       text        NOT NULL PRIMARY KEY,
			applied_at timestamptz NOT NULL
		)`); err != nil {
			return err
		}
		for _, name := range names {
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+schema+`.schema_migrations WHERE name = $1)`, name).Scan(&done); err != nil {
				return err
			}
			if done {
				continue
			}
			body, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			// No arguments: the simple protocol, which runs every statement of the file.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+schema+`.schema_migrations (name, applied_at) VALUES ($1, $2)`, name, store.Now(db.now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate schema %s: %w", db.schema, err)
	}
	return nil
}

// tx runs fn in a transaction, again when PostgreSQL aborts it for a deadlock or a serialization failure.
func (db *DB) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := pgx.BeginFunc(ctx, db.pool, fn)
		var pe *pgconn.PgError
		if attempt < 5 && errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") {
			continue
		}
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return err
	}
}

const recordCols = `source, legacy_id, line, digest, object_id, sign_in_names, state, attempts, last_error, legacy_last_sign_in, legacy_disabled, created_at, updated_at`

func scanRecord(row pgx.Row) (*idshift.Record, error) {
	var r idshift.Record
	var names string
	var state string
	var lastSignIn int64
	if err := row.Scan(&r.Source, &r.LegacyID, &r.Line, &r.Digest, &r.ObjectID, &names, &state, &r.Attempts, &r.LastError,
		&lastSignIn, &r.LegacyDisabled, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	r.LegacyLastSignIn = store.TimeFromMicros(lastSignIn)
	r.State = idshift.State(state)
	r.SignInNames = store.DecodeNames(names)
	r.CreatedAt = r.CreatedAt.UTC()
	r.UpdatedAt = r.UpdatedAt.UTC()
	return &r, nil
}

func keyArrays(keys []idshift.Key) (sources, ids []string) {
	sources, ids = make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		sources[i], ids[i] = k.Source, k.LegacyID
	}
	return sources, ids
}

// ctxErr wraps err for op. It prefers ctx's error, so that callers can tell a cancellation with errors.Is, and
// gives code EUNAVAILABLE to a failure to connect (nothing was sent: safe to retry later).
func ctxErr(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("postgres: %s: %w (%w)", op, ctx.Err(), err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return &idshift.Error{Code: idshift.EUNAVAILABLE, Message: "postgres: " + op + ": cannot reach the server", Err: err}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// Records returns the records of the given keys that exist, in one query.
func (db *DB) Records(ctx context.Context, keys []idshift.Key) (map[idshift.Key]*idshift.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	keys = store.PrepareKeys(keys)
	out := make(map[idshift.Key]*idshift.Record, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	sources, ids := keyArrays(keys)
	rows, err := db.pool.Query(ctx, `SELECT `+prefixed("r")+` FROM records r
		JOIN unnest($1::text[], $2::text[]) AS k(source, legacy_id) ON r.source = k.source AND r.legacy_id = k.legacy_id`, sources, ids)
	if err != nil {
		return nil, ctxErr(ctx, "records", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, ctxErr(ctx, "records", err)
		}
		out[r.Key] = r
	}
	if err := rows.Err(); err != nil {
		return nil, ctxErr(ctx, "records", err)
	}
	return out, nil
}

func prefixed(alias string) string {
	cols := strings.Split(recordCols, ", ")
	for i := range cols {
		cols[i] = alias + "." + cols[i]
	}
	return strings.Join(cols, ", ")
}

func (db *DB) one(ctx context.Context, what, q string, args ...any) (*idshift.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := scanRecord(db.pool.QueryRow(ctx, q, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.NotFound("no record %s", what)
	}
	if err != nil {
		return nil, ctxErr(ctx, "record "+what, err)
	}
	return r, nil
}

// Record returns one record, or ENOTFOUND.
func (db *DB) Record(ctx context.Context, key idshift.Key) (*idshift.Record, error) {
	return db.one(ctx, fmt.Sprintf("%q/%q", key.Source, key.LegacyID),
		`SELECT `+recordCols+` FROM records WHERE source = $1 AND legacy_id = $2`, key.Source, key.LegacyID)
}

// RecordByObjectID returns the record of a tenant object, or ENOTFOUND.
func (db *DB) RecordByObjectID(ctx context.Context, objectID string) (*idshift.Record, error) {
	if objectID == "" {
		return nil, store.NotFound("no record with an empty object id")
	}
	return db.one(ctx, fmt.Sprintf("with object id %q", objectID),
		`SELECT `+recordCols+` FROM records WHERE object_id = $1 AND object_id <> '' ORDER BY source, legacy_id LIMIT 1`, objectID)
}

// RecordBySignInName returns the record holding the sign-in name (case-insensitive), or ENOTFOUND. When several
// records hold it, one with an object id wins, then the first in key order.
func (db *DB) RecordBySignInName(ctx context.Context, name string) (*idshift.Record, error) {
	name = store.NormalizeSignInName(name)
	if name == "" {
		return nil, store.NotFound("no record with an empty sign-in name")
	}
	return db.one(ctx, "for the sign-in name",
		`SELECT `+prefixed("r")+` FROM sign_in_names n JOIN records r ON r.source = n.source AND r.legacy_id = n.legacy_id
		WHERE n.name = $1 ORDER BY r.object_id = '', r.source, r.legacy_id LIMIT 1`, name)
}

// PutRecords inserts or replaces records in one transaction: one statement locks the existing rows (in key
// order) and reads their sign-in names, then one round trip upserts every record and rewrites the side table of
// sign-in names for the records whose names changed. CreatedAt is kept from an existing row (the clock's time for
// a new one); UpdatedAt is the clock's time. recs are not modified. Of
// several records with the same key, the last wins. A record without legacy id or state is EINVALID and nothing
// is written.
func (db *DB) PutRecords(ctx context.Context, recs []*idshift.Record) error {
	recs, err := store.PrepareRecords(recs)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return ctx.Err()
	}
	n := len(recs)
	var (
		sources, ids, digests, objectIDs, names, states, lastErrors = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		lines, signIns = make([]int64, n), make([]int64, n)
		attempts       = make([]int32, n)
		disabled       = make([]bool, n)
	)
	for i, r := range recs {
		sources[i], ids[i], digests[i], objectIDs[i] = r.Source, r.LegacyID, r.Digest, r.ObjectID
		names[i], states[i], lastErrors[i] = store.EncodeNames(r.SignInNames), string(r.State), r.LastError
		lines[i], attempts[i] = r.Line, int32(r.Attempts)
		signIns[i], disabled[i] = store.Micros(r.LegacyLastSignIn), r.LegacyDisabled
	}
	now := store.Now(db.now)
	err = db.tx(ctx, func(tx pgx.Tx) error {
		// Lock the existing rows in key order (the input is sorted), so that concurrent writers queue instead of
		// deadlocking, and learn whose sign-in names are unchanged.
		rows, err := tx.Query(ctx, `SELECT r.source, r.legacy_id, r.sign_in_names FROM records r
			JOIN unnest($1::text[], $2::text[]) AS k(source, legacy_id) ON r.source = k.source AND r.legacy_id = k.legacy_id
			ORDER BY r.source, r.legacy_id FOR UPDATE OF r`, sources, ids)
		if err != nil {
			return err
		}
		old := make(map[idshift.Key]string, n)
		for rows.Next() {
			var k idshift.Key
			var nm string
			if err := rows.Scan(&k.Source, &k.LegacyID, &nm); err != nil {
				rows.Close()
				return err
			}
			old[k] = nm
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// Names to rewrite: records whose names changed, and new records (another writer may have inserted the
		// same key since; its names are deleted once our upsert has waited for it).
		var cSource, cID, nName, nSource, nID []string
		for i, r := range recs {
			if prev, ok := old[r.Key]; ok && prev == names[i] {
				continue
			}
			cSource, cID = append(cSource, r.Source), append(cID, r.LegacyID)
			for _, name := range store.SignInNames(r.SignInNames) {
				nName, nSource, nID = append(nName, name), append(nSource, r.Source), append(nID, r.LegacyID)
			}
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO records (`+recordCols+`)
			SELECT s, l, ln, d, o, nm, st, a, e, si, di, $12, $12
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[],
				$10::bigint[], $11::boolean[]) AS t(s, l, ln, d, o, nm, st, a, e, si, di)
			ON CONFLICT (source, legacy_id) DO UPDATE SET line = excluded.line, digest = excluded.digest,
				object_id = excluded.object_id, sign_in_names = excluded.sign_in_names, state = excluded.state,
				attempts = excluded.attempts, last_error = excluded.last_error,
				legacy_last_sign_in = excluded.legacy_last_sign_in, legacy_disabled = excluded.legacy_disabled,
				updated_at = excluded.updated_at`,
			sources, ids, lines, digests, objectIDs, names, states, attempts, lastErrors, signIns, disabled, now)
		if len(cSource) > 0 {
			b.Queue(`DELETE FROM sign_in_names n USING unnest($1::text[], $2::text[]) AS k(source, legacy_id)
				WHERE n.source = k.source AND n.legacy_id = k.legacy_id`, cSource, cID)
		}
		if len(nName) > 0 {
			b.Queue(`INSERT INTO sign_in_names (name, source, legacy_id)
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`, nName, nSource, nID)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return ctxErr(ctx, fmt.Sprintf("put %d records", n), err)
	}
	return nil
}

// scanPage is the number of records Scan reads per query.
const scanPage = 1000

// Scan calls fn for every record whose state is in states (all when empty), in key order. It reads pages of
// records after the last key seen, so a long scan holds no transaction and no connection while fn runs; records
// written during the scan may or may not be seen. An error from fn, or ctx's, stops the scan and is returned
// unwrapped.
func (db *DB) Scan(ctx context.Context, states []idshift.State, fn func(*idshift.Record) error) error {
	st := store.SortStates(states)
	var after idshift.Key
	page := make([]*idshift.Record, 0, scanPage)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page = page[:0]
		q := `SELECT ` + recordCols + ` FROM records WHERE (source, legacy_id) > ($1, $2)`
		args := []any{after.Source, after.LegacyID, scanPage}
		switch len(st) {
		case 0:
		case 1: // served by the index on (state, source, legacy_id), in key order
			q += ` AND state = $4`
			args = append(args, st[0])
		default:
			q += ` AND state = ANY($4::text[])`
			args = append(args, st)
		}
		q += ` ORDER BY source, legacy_id LIMIT $3`
		rows, err := db.pool.Query(ctx, q, args...)
		if err != nil {
			return ctxErr(ctx, "scan", err)
		}
		for rows.Next() {
			r, err := scanRecord(rows)
			if err != nil {
				rows.Close()
				return ctxErr(ctx, "scan", err)
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return ctxErr(ctx, "scan", err)
		}
		for _, r := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
		after = page[len(page)-1].Key
	}
}

// Counts returns the number of records in each state present.
func (db *DB) Counts(ctx context.Context) (map[idshift.State]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT state, count(*) FROM records GROUP BY state`)
	if err != nil {
		return nil, ctxErr(ctx, "counts", err)
	}
	defer rows.Close()
	out := make(map[idshift.State]int64)
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, ctxErr(ctx, "counts", err)
		}
		out[idshift.State(s)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, ctxErr(ctx, "counts", err)
	}
	return out, nil
}

// PutCredentials stores credentials in one statement, sealed when the store has a key. The key references
// Config.KeyRefs finds in them are recorded first, by another statement (a reference without its credential is
// harmless; the reverse is not). A key without legacy id is EINVALID and nothing is written; a store bound to a key
// and opened without one writes nothing (store.ErrKeyRequired).
func (db *DB) PutCredentials(ctx context.Context, creds map[idshift.Key]idshift.Credential) error {
	if db.cipher == nil && db.bound != "" {
		return store.KeyRequired(db.bound)
	}
	keys := make([]idshift.Key, 0, len(creds))
	for k := range creds {
		if err := store.ValidKey(k); err != nil {
			return err
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, store.CompareKeys)
	sealed := make([]bool, len(keys))
	blobs := make([][]byte, len(keys))
	for i, k := range keys {
		var err error
		if blobs[i], sealed[i], err = store.SealCredential(db.cipher, k, creds[k]); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	if refs := store.CollectKeyRefs(db.keyRefs, creds); len(refs) > 0 {
		if _, err := db.pool.Exec(ctx, `INSERT INTO key_refs (ref) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, refs); err != nil {
			return ctxErr(ctx, "record key refs", err)
		}
	}
	sources, ids := keyArrays(keys)
	_, err := db.pool.Exec(ctx, `INSERT INTO credentials (source, legacy_id, sealed, blob, updated_at)
		SELECT s, l, sl, b, $5 FROM unnest($1::text[], $2::text[], $3::boolean[], $4::bytea[]) AS t(s, l, sl, b)
		ON CONFLICT (source, legacy_id) DO UPDATE SET sealed = excluded.sealed, blob = excluded.blob, updated_at = excluded.updated_at`,
		sources, ids, sealed, blobs, store.Now(db.now))
	if err != nil {
		return ctxErr(ctx, fmt.Sprintf("put %d credentials", len(keys)), err)
	}
	return nil
}

// Credential returns a user's credential, or ENOTFOUND. See package store for the sealing policy.
func (db *DB) Credential(ctx context.Context, key idshift.Key) (idshift.Credential, error) {
	if err := ctx.Err(); err != nil {
		return idshift.Credential{}, err
	}
	var blob []byte
	var sealed bool
	err := db.pool.QueryRow(ctx, `SELECT blob, sealed FROM credentials WHERE source = $1 AND legacy_id = $2`, key.Source, key.LegacyID).Scan(&blob, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return idshift.Credential{}, store.NotFound("no credential for %q/%q", key.Source, key.LegacyID)
	}
	if err != nil {
		return idshift.Credential{}, ctxErr(ctx, "credential", err)
	}
	defer clear(blob)
	return store.OpenCredential(db.cipher, key, blob, sealed)
}

// DeleteCredentials removes credentials in one statement and returns how many existed.
func (db *DB) DeleteCredentials(ctx context.Context, keys []idshift.Key) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	keys = store.PrepareKeys(keys)
	if len(keys) == 0 {
		return 0, nil
	}
	sources, ids := keyArrays(keys)
	tag, err := db.pool.Exec(ctx, `DELETE FROM credentials c USING unnest($1::text[], $2::text[]) AS k(source, legacy_id)
		WHERE c.source = k.source AND c.legacy_id = k.legacy_id`, sources, ids)
	if err != nil {
		return 0, ctxErr(ctx, "delete credentials", err)
	}
	return tag.RowsAffected(), nil
}

// sealUnsealed seals, in one transaction, the credentials stored unsealed by a run without a key. Rows are locked,
// so that several processes opening at once seal each row once.
func (db *DB) sealUnsealed(ctx context.Context) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT source, legacy_id, blob FROM credentials WHERE NOT sealed ORDER BY source, legacy_id FOR UPDATE`)
		if err != nil {
			return err
		}
		var sources, ids []string
		var blobs [][]byte
		for rows.Next() {
			var k idshift.Key
			var blob []byte
			if err := rows.Scan(&k.Source, &k.LegacyID, &blob); err != nil {
				rows.Close()
				return err
			}
			sealed, err := db.cipher.Seal(k, blob)
			clear(blob)
			if err != nil {
				rows.Close()
				return err
			}
			sources, ids, blobs = append(sources, k.Source), append(ids, k.LegacyID), append(blobs, sealed)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(sources) == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE credentials c SET sealed = true, blob = t.b
			FROM unnest($1::text[], $2::text[], $3::bytea[]) AS t(s, l, b) WHERE c.source = t.s AND c.legacy_id = t.l`,
			sources, ids, blobs)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: seal stored credentials: %w", err)
	}
	return nil
}

var (
	_ idshift.Store      = (*DB)(nil)
	_ store.KeyRefLister = (*DB)(nil)
)
