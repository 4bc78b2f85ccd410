// Package sqlite is the embedded state store: one SQLite file, through the pure-Go driver modernc.org/sqlite.
//
// The file is opened in WAL mode with synchronous=NORMAL and a busy timeout. Writes go through a single
// connection (so they are serialised in the process and never fail with SQLITE_BUSY among themselves); reads use
// a separate pool that runs concurrently with the writer. Schema migrations are embedded (migrations/*.sql),
// applied in order at Open and recorded in the schema_migrations table; reopening is idempotent.
//
// The file holds secrets (sealed credentials, and unsealed ones in a store without a key): Open creates it, and
// SQLite creates its -wal and -shm files, with mode 0600 whatever the umask, and tightens the mode of existing ones
// that group or others may read (with a warning).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures the SQLite store.
//
// Example (YAML, the struct's own keys for library use):
//
//	path: ./idshift-state.db
//
// idshift's configuration file names only the path, as the string value of its top-level key: store:
// idshift-state.db. The credential key comes from the environment: Key, _ = store.LoadKey(os.Getenv).
type Config struct {
	// Path is the database file; it is created when missing. Empty means "idshift.db" in the working directory.
	Path string `json:"path,omitempty" yaml:"path,omitempty"`
	// Key (32 bytes) seals credentials at rest; nil stores them unsealed (see package store for the risk and the
	// migration policy).
	Key []byte `json:"-" yaml:"-"`
	// Now is the clock of CreatedAt and UpdatedAt; time.Now when nil.
	Now func() time.Time `json:"-" yaml:"-"`
	// BusyTimeout is how long a statement waits for a lock held by another process; 5s when zero.
	BusyTimeout time.Duration `json:"busyTimeout,omitempty" yaml:"busyTimeout,omitempty"`
	// Readers is the size of the read pool; max(4, GOMAXPROCS) when zero.
	Readers int `json:"readers,omitempty" yaml:"readers,omitempty"`
	// KeyRefs returns the project-wide keys a credential refers to (pwhash.KeyRefs of its hash); PutCredentials
	// records them for KeyRefs. Nil records none.
	KeyRefs func(idshift.Credential) []string `json:"-" yaml:"-"`
	// Logger receives the warnings of Open (a state file group or others could read); discarded when nil.
	Logger *slog.Logger `json:"-" yaml:"-"`
}

// DB is the SQLite state store. It implements idshift.Store and is safe for concurrent use.
type DB struct {
	w, r    *sql.DB // writer (one connection), readers
	cipher  *store.Cipher
	now     func() time.Time
	path    string
	keyRefs func(idshift.Credential) []string
	bound   string // id of the key the store is bound to, "" when none

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating when missing, mode 0600) and migrates the database, checks the key against the one the
// store is bound to (store.CheckKey: ErrWrongKey), then, when a key is configured, seals the
// credentials an earlier run stored unsealed.
func (c Config) Open(ctx context.Context) (*DB, error) {
	path := c.Path
	if path == "" {
		path = "idshift.db"
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var ciph *store.Cipher
	if c.Key != nil {
		var err error
		if ciph, err = store.NewCipher(c.Key); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	busy := c.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	readers := c.Readers
	if readers <= 0 {
		readers = max(4, runtime.GOMAXPROCS(0))
	}

	dsn := func(readOnly bool) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(1)")
		if readOnly {
			q.Add("_pragma", "query_only(1)")
		} else {
			q.Set("_txlock", "immediate")
			// Overwrite deleted content: a credential sealed in place (or deleted) leaves no copy in free pages.
			q.Add("_pragma", "secure_delete(1)")
		}
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}

	if err := createPrivate(path, logger); err != nil {
		return nil, err
	}
	db := &DB{cipher: ciph, now: c.Now, path: path, keyRefs: c.KeyRefs}
	var err error
	if db.w, err = sql.Open("sqlite", dsn(false)); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxLifetime(0)
	db.w.SetConnMaxIdleTime(0)
	if err := db.migrate(ctx); err != nil {
		db.w.Close()
		return nil, err
	}
	if err := db.checkKey(ctx); err != nil {
		db.w.Close()
		return nil, err
	}
	// SQLite gives its -wal and -shm files the mode of the database file; make sure of it.
	for _, f := range []string{path + "-wal", path + "-shm"} {
		if err := private(f, logger); err != nil {
			db.w.Close()
			return nil, err
		}
	}
	if db.r, err = sql.Open("sqlite", dsn(true)); err != nil {
		db.w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.r.SetMaxOpenConns(readers)
	db.r.SetMaxIdleConns(readers)
	if ciph != nil {
		if err := db.sealUnsealed(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// createPrivate creates the database file with mode 0600 when it is missing (an empty file is an empty database),
// and tightens the mode of an existing one and of its -wal, -shm and -journal files.
func createPrivate(path string, logger *slog.Logger) error {
	if path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, store.PrivateMode)
	switch {
	case err == nil:
		err = f.Chmod(store.PrivateMode) // whatever the umask
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sqlite: create %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return &idshift.Error{Code: idshift.EINTERNAL, Message: fmt.Sprintf("sqlite: create %s", path), Err: err}
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := private(p, logger); err != nil {
			return err
		}
	}
	return nil
}

// private tightens the mode of an existing file that group or others may read, with a warning; when that fails,
// it only warns.
func private(path string, logger *slog.Logger) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	mode := fi.Mode().Perm()
	if mode&0o077 == 0 {
		return nil
	}
	if _, err := store.Private(path); err != nil {
		logger.Warn("the state file is readable by others and its mode could not be changed: restrict it to its owner (chmod 600)",
			"file", path, "mode", fmt.Sprintf("%04o", mode), "err", err)
		return nil
	}
	logger.Warn("the state file was readable by others: its mode is now 0600", "file", path, "was", fmt.Sprintf("%04o", mode))
	return nil
}

// checkKey applies store.CheckKey, binding a store opened with a key for the first time to that key.
func (db *DB) checkKey(ctx context.Context) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		var recorded string
		err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = ?`, store.MetaKeyID).Scan(&recorded)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var blob []byte
		var sealedID uint32
		err = tx.QueryRowContext(ctx, `SELECT blob FROM credentials WHERE sealed = 1 LIMIT 1`).Scan(&blob)
		sealed := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
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
		_, err = tx.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES (?, ?)`, store.MetaKeyID, store.KeyIDString(db.cipher.ID()))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", db.path, err)
	}
	return nil
}

// BoundKeyID returns the id of the key the store is bound to (store.KeyIDString), "" when it has none: a store
// opened without a key whose BoundKeyID is not "" holds sealed credentials it cannot read or write.
func (db *DB) BoundKeyID() string { return db.bound }

// KeyRefs returns the project-wide key references recorded by PutCredentials, sorted.
func (db *DB) KeyRefs(ctx context.Context) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT ref FROM key_refs ORDER BY ref`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: key refs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, fmt.Errorf("sqlite: key refs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: key refs: %w", err)
	}
	return out, nil
}

// Close closes the database. It is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		if db.r != nil {
			errs = append(errs, db.r.Close())
		}
		// Closing the writer last lets SQLite checkpoint the WAL into the main file.
		errs = append(errs, db.w.Close())
		if err := errors.Join(errs...); err != nil {
			db.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	return db.closeErr
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name       TEXT    NOT NULL PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", db.path, err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := db.migrateOne(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) migrateOne(ctx context.Context, name string) error {
	body, err := migrations.ReadFile(name)
	if err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", name, err)
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, name, store.Now(db.now).UnixMicro())
		return err
	})
}

// write runs fn in a write transaction (BEGIN IMMEDIATE on the single writer connection).
func (db *DB) write(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

const recordCols = `source, legacy_id, line, digest, object_id, sign_in_names, state, attempts, last_error, legacy_last_sign_in, legacy_disabled, created_at, updated_at`

func scanRecord(row interface{ Scan(...any) error }) (*idshift.Record, error) {
	var (
		r                        idshift.Record
		names                    string
		lastSignIn, created, upd int64
	)
	if err := row.Scan(&r.Source, &r.LegacyID, &r.Line, &r.Digest, &r.ObjectID, &names, &r.State, &r.Attempts, &r.LastError,
		&lastSignIn, &r.LegacyDisabled, &created, &upd); err != nil {
		return nil, err
	}
	r.SignInNames = store.DecodeNames(names)
	r.LegacyLastSignIn = store.TimeFromMicros(lastSignIn)
	r.CreatedAt = time.UnixMicro(created).UTC()
	r.UpdatedAt = time.UnixMicro(upd).UTC()
	return &r, nil
}

func prefixed(alias string) string {
	cols := strings.Split(recordCols, ", ")
	for i := range cols {
		cols[i] = alias + "." + cols[i]
	}
	return strings.Join(cols, ", ")
}

// keysPerQuery bounds the row values of one Records query (2 parameters each, well under SQLite's limit).
const keysPerQuery = 250

// Records returns the records of the given keys that exist.
func (db *DB) Records(ctx context.Context, keys []idshift.Key) (map[idshift.Key]*idshift.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	keys = store.PrepareKeys(keys)
	out := make(map[idshift.Key]*idshift.Record, len(keys))
	args := make([]any, 0, 2*keysPerQuery)
	for len(keys) > 0 {
		n := min(len(keys), keysPerQuery)
		args = args[:0]
		for _, k := range keys[:n] {
			args = append(args, k.Source, k.LegacyID)
		}
		q := `SELECT ` + recordCols + ` FROM records WHERE (source, legacy_id) IN (VALUES (?, ?)` + strings.Repeat(`, (?, ?)`, n-1) + `)`
		if err := db.query(ctx, q, args, func(r *idshift.Record) error { out[r.Key] = r; return nil }); err != nil {
			return nil, fmt.Errorf("sqlite: records: %w", err)
		}
		keys = keys[n:]
	}
	return out, nil
}

func (db *DB) query(ctx context.Context, q string, args []any, fn func(*idshift.Record) error) error {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (db *DB) one(ctx context.Context, what, q string, args ...any) (*idshift.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := scanRecord(db.r.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.NotFound("no record %s", what)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: record %s: %w", what, err)
	}
	return r, nil
}

// Record returns one record, or ENOTFOUND.
func (db *DB) Record(ctx context.Context, key idshift.Key) (*idshift.Record, error) {
	return db.one(ctx, fmt.Sprintf("%q/%q", key.Source, key.LegacyID),
		`SELECT `+recordCols+` FROM records WHERE source = ? AND legacy_id = ?`, key.Source, key.LegacyID)
}

// RecordByObjectID returns the record of a tenant object, or ENOTFOUND.
func (db *DB) RecordByObjectID(ctx context.Context, objectID string) (*idshift.Record, error) {
	if objectID == "" {
		return nil, store.NotFound("no record with an empty object id")
	}
	return db.one(ctx, fmt.Sprintf("with object id %q", objectID),
		`SELECT `+recordCols+` FROM records WHERE object_id = ? AND object_id <> '' ORDER BY source, legacy_id LIMIT 1`, objectID)
}

// RecordBySignInName returns the record holding the sign-in name (case-insensitive), or ENOTFOUND. When several
// records hold it, one with an object id wins, then the first in key order.
func (db *DB) RecordBySignInName(ctx context.Context, name string) (*idshift.Record, error) {
	name = store.NormalizeSignInName(name)
	if name == "" {
		return nil, store.NotFound("no record with an empty sign-in name")
	}
	return db.one(ctx, "for the sign-in name",
		`SELECT `+prefixed("r")+`
		FROM sign_in_names n JOIN records r ON r.source = n.source AND r.legacy_id = n.legacy_id
		WHERE n.name = ? ORDER BY r.object_id = '', r.source, r.legacy_id LIMIT 1`, name)
}

// PutRecords inserts or replaces records in one transaction. CreatedAt is kept from an existing row (the clock's
// time for a new one); UpdatedAt is the clock's time. recs are not modified. Of several records with the same key,
// the last wins. A record without legacy id or state is EINVALID and nothing is written.
func (db *DB) PutRecords(ctx context.Context, recs []*idshift.Record) error {
	recs, err := store.PrepareRecords(recs)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return ctx.Err()
	}
	now := store.Now(db.now).UnixMicro()
	err = db.write(ctx, func(tx *sql.Tx) error {
		old, err := tx.PrepareContext(ctx, `SELECT sign_in_names FROM records WHERE source = ? AND legacy_id = ?`)
		if err != nil {
			return err
		}
		defer old.Close()
		upsert, err := tx.PrepareContext(ctx, `INSERT INTO records (`+recordCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (source, legacy_id) DO UPDATE SET line = excluded.line, digest = excluded.digest,
			object_id = excluded.object_id, sign_in_names = excluded.sign_in_names, state = excluded.state,
			attempts = excluded.attempts, last_error = excluded.last_error, legacy_last_sign_in = excluded.legacy_last_sign_in,
			legacy_disabled = excluded.legacy_disabled, updated_at = excluded.updated_at`)
		if err != nil {
			return err
		}
		defer upsert.Close()
		var delNames, addName *sql.Stmt
		for _, r := range recs {
			if err := ctx.Err(); err != nil {
				return err
			}
			names := store.EncodeNames(r.SignInNames)
			var prev string
			existed := true
			if err := old.QueryRowContext(ctx, r.Source, r.LegacyID).Scan(&prev); errors.Is(err, sql.ErrNoRows) {
				existed = false
			} else if err != nil {
				return err
			}
			if _, err := upsert.ExecContext(ctx, r.Source, r.LegacyID, r.Line, r.Digest, r.ObjectID, names, string(r.State),
				r.Attempts, r.LastError, store.Micros(r.LegacyLastSignIn), r.LegacyDisabled, now, now); err != nil {
				return err
			}
			if existed && prev == names {
				continue
			}
			if delNames == nil {
				if delNames, err = tx.PrepareContext(ctx, `DELETE FROM sign_in_names WHERE source = ? AND legacy_id = ?`); err != nil {
					return err
				}
				defer delNames.Close()
				if addName, err = tx.PrepareContext(ctx, `INSERT OR IGNORE INTO sign_in_names (name, source, legacy_id) VALUES (?, ?, ?)`); err != nil {
					return err
				}
				defer addName.Close()
			}
			if existed {
				if _, err := delNames.ExecContext(ctx, r.Source, r.LegacyID); err != nil {
					return err
				}
			}
			for _, n := range store.SignInNames(r.SignInNames) {
				if _, err := addName.ExecContext(ctx, n, r.Source, r.LegacyID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: put %d records: %w", len(recs), err)
	}
	return nil
}

// Scan calls fn for every record whose state is in states (all when empty), in key order, from one read
// transaction (a consistent snapshot). An error from fn, or ctx's, stops the scan and is returned unwrapped.
func (db *DB) Scan(ctx context.Context, states []idshift.State, fn func(*idshift.Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q := `SELECT ` + recordCols + ` FROM records`
	var args []any
	if st := store.SortStates(states); len(st) > 0 {
		q += ` WHERE state IN (?` + strings.Repeat(`, ?`, len(st)-1) + `)`
		for _, s := range st {
			args = append(args, s)
		}
	}
	q += ` ORDER BY source, legacy_id`
	var fnErr error
	err := db.query(ctx, q, args, func(r *idshift.Record) error {
		if err := ctx.Err(); err != nil {
			fnErr = err
			return err
		}
		if err := fn(r); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("sqlite: scan: %w", err)
	}
	return nil
}

// Counts returns the number of records in each state present.
func (db *DB) Counts(ctx context.Context) (map[idshift.State]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT state, count(*) FROM records GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: counts: %w", err)
	}
	defer rows.Close()
	out := make(map[idshift.State]int64)
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("sqlite: counts: %w", err)
		}
		out[idshift.State(s)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: counts: %w", err)
	}
	return out, nil
}

// PutCredentials stores credentials in one transaction, sealed when the store has a key, with the key references
// Config.KeyRefs finds in them. A key without legacy id is EINVALID and nothing is written; a store bound to a key
// and opened without one writes nothing (store.ErrKeyRequired).
func (db *DB) PutCredentials(ctx context.Context, creds map[idshift.Key]idshift.Credential) error {
	if db.cipher == nil && db.bound != "" {
		return store.KeyRequired(db.bound)
	}
	type row struct {
		k      idshift.Key
		blob   []byte
		sealed bool
	}
	rows := make([]row, 0, len(creds))
	for k, c := range creds {
		if err := store.ValidKey(k); err != nil {
			return err
		}
		blob, sealed, err := store.SealCredential(db.cipher, k, c)
		if err != nil {
			return err
		}
		rows = append(rows, row{k, blob, sealed})
	}
	slices.SortFunc(rows, func(a, b row) int { return store.CompareKeys(a.k, b.k) })
	refs := store.CollectKeyRefs(db.keyRefs, creds)
	now := store.Now(db.now).UnixMicro()
	err := db.write(ctx, func(tx *sql.Tx) error {
		for _, r := range refs {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO key_refs (ref) VALUES (?)`, r); err != nil {
				return err
			}
		}
		st, err := tx.PrepareContext(ctx, `INSERT INTO credentials (source, legacy_id, sealed, blob, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (source, legacy_id) DO UPDATE SET sealed = excluded.sealed, blob = excluded.blob, updated_at = excluded.updated_at`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range rows {
			if _, err := st.ExecContext(ctx, r.k.Source, r.k.LegacyID, r.sealed, r.blob, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: put %d credentials: %w", len(rows), err)
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
	err := db.r.QueryRowContext(ctx, `SELECT blob, sealed FROM credentials WHERE source = ? AND legacy_id = ?`, key.Source, key.LegacyID).Scan(&blob, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return idshift.Credential{}, store.NotFound("no credential for %q/%q", key.Source, key.LegacyID)
	}
	if err != nil {
		return idshift.Credential{}, fmt.Errorf("sqlite: credential: %w", err)
	}
	defer clear(blob)
	return store.OpenCredential(db.cipher, key, blob, sealed)
}

// DeleteCredentials removes credentials in one transaction and returns how many existed.
func (db *DB) DeleteCredentials(ctx context.Context, keys []idshift.Key) (int64, error) {
	keys = store.PrepareKeys(keys)
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `DELETE FROM credentials WHERE source = ? AND legacy_id = ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, k := range keys {
			res, err := st.ExecContext(ctx, k.Source, k.LegacyID)
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete credentials: %w", err)
	}
	return n, nil
}

// sealUnsealed seals, in one transaction, the credentials stored unsealed by a run without a key.
func (db *DB) sealUnsealed(ctx context.Context) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT source, legacy_id, blob FROM credentials WHERE sealed = 0`)
		if err != nil {
			return err
		}
		type row struct {
			k    idshift.Key
			blob []byte
		}
		var todo []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.k.Source, &r.k.LegacyID, &r.blob); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(todo) == 0 {
			return nil
		}
		st, err := tx.PrepareContext(ctx, `UPDATE credentials SET sealed = 1, blob = ? WHERE source = ? AND legacy_id = ? AND sealed = 0`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range todo {
			sealed, err := db.cipher.Seal(r.k, r.blob)
			clear(r.blob)
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, sealed, r.k.Source, r.k.LegacyID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: seal stored credentials: %w", err)
	}
	return nil
}

var (
	_ idshift.Store      = (*DB)(nil)
	_ store.KeyRefLister = (*DB)(nil)
)
