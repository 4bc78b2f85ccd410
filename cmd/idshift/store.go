package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/store"
	"github.com/idshift/idshift/store/postgres"
	"github.com/idshift/idshift/store/sqlite"
)

// envAllowUnsealed is the variable of --allow-unsealed-secrets (config key allow_unsealed_secrets).
const envAllowUnsealed = "IDSHIFT_ALLOW_UNSEALED_SECRETS"

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func storeExists(dsn string) bool {
	if isPostgres(dsn) {
		return true
	}
	_, err := os.Stat(strings.TrimPrefix(dsn, "sqlite:"))
	return err == nil
}

// storeKeyFile is the key file beside a SQLite state file, found and used when no key is configured.
func storeKeyFile(path string) string { return path + ".key" }

// keyRefs are the project-wide keys a stored credential refers to, recorded by the store.
func keyRefs(c idshift.Credential) []string {
	if c.Kind != idshift.CredentialHash {
		return nil
	}
	return pwhash.KeyRefs(c.Hash)
}

// openStore opens the state store of cfg (cfg.Store: a postgres:// URL or a SQLite file path, optionally
// sqlite:PATH) with its credential key, then checks that cfg's hash settings hold every project-wide key (site-wide
// HMAC key, Firebase signer key) the stored credentials refer to.
//
// The key comes from IDSHIFT_STORE_KEY or IDSHIFT_STORE_KEY_FILE. Without either:
//   - a SQLite store uses the key file beside it (<store>.key); when there is none, a store that holds sealed
//     credentials is an error naming that file, and any other store gets a new key written there (mode 0600),
//     said on the log, which then seals everything it holds and writes.
//   - a PostgreSQL store is refused unless cfg.AllowUnsealedSecrets (--allow-unsealed-secrets) says to keep the
//     legacy hashes unsealed.
func openStore(ctx context.Context, cfg *Config, getenv func(string) string, logger *slog.Logger) (idshift.Store, error) {
	hashOpt, err := cfg.Hashes.options()
	if err != nil {
		return nil, err
	}
	key, err := store.LoadKey(getenv)
	if err != nil {
		return nil, err
	}
	if f := getenv(store.EnvKeyFile); f != "" {
		privateFile(f, "key file", logger)
	}
	dsn := cfg.Store
	var st idshift.Store
	if isPostgres(dsn) {
		if key == nil {
			if !cfg.AllowUnsealedSecrets {
				return nil, fmt.Errorf("store: a PostgreSQL store needs a store key to seal the legacy password hashes: set %s (base64 of 32 random bytes, e.g. openssl rand -base64 32) or %s; "+
					"or accept UNSEALED hashes in the shared database with --allow-unsealed-secrets ($%s)", store.EnvKey, store.EnvKeyFile, envAllowUnsealed)
			}
			logger.Warn("UNSEALED SECRETS: legacy password hashes are stored in the clear in the PostgreSQL store (--allow-unsealed-secrets); anyone who can read the database or its backups reads them")
		}
		db, err := postgres.Config{URL: dsn, Key: key, KeyRefs: keyRefs}.Open(ctx)
		if err != nil {
			return nil, err
		}
		st = db
	} else {
		db, err := openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"), key, logger)
		if err != nil {
			return nil, err
		}
		st = db
	}
	if err := checkKeyring(ctx, st, hashOpt); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// openSQLite opens a SQLite state file with key, or, when key is nil, with the key file beside it (generated when
// the store holds no sealed credentials).
func openSQLite(ctx context.Context, path string, key []byte, logger *slog.Logger) (*sqlite.DB, error) {
	cfg := sqlite.Config{Path: path, Key: key, KeyRefs: keyRefs, Logger: logger}
	keyFile := storeKeyFile(path)
	source := "$" + store.EnvKey + " or $" + store.EnvKeyFile
	if key == nil {
		k, err := store.ReadKeyFile(keyFile)
		switch {
		case err == nil:
			privateFile(keyFile, "key file", logger)
			cfg.Key, source = k, keyFile
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		default:
			// No key anywhere: a store whose credentials are sealed cannot be read without its key; any other
			// (new, empty, or written unsealed) is given one.
			db, err := cfg.Open(ctx)
			if err != nil {
				return nil, err
			}
			bound := db.BoundKeyID()
			if err := db.Close(); err != nil {
				return nil, err
			}
			if bound != "" {
				return nil, fmt.Errorf("store %s: its legacy hashes are sealed and its key file %s is missing: put the store's key there, or set %s or %s: %w",
					path, keyFile, store.EnvKey, store.EnvKeyFile, store.KeyRequired(bound))
			}
			if cfg.Key, err = store.GenerateKeyFile(keyFile); err != nil {
				return nil, err
			}
			source = keyFile
			logger.Warn("generated a key to seal the legacy password hashes in the state store: keep it with the store (without it they cannot be read), and out of the store's backups",
				"key_file", keyFile, "store", path)
		}
	}
	db, err := cfg.Open(ctx)
	if errors.Is(err, store.ErrWrongKey) {
		return nil, fmt.Errorf("store %s: the key from %s is not the one its legacy hashes are sealed with: %w", path, source, err)
	}
	return db, err
}

// privateFile tightens the mode of a file holding secrets that others may read, saying so.
func privateFile(path, what string, logger *slog.Logger) {
	changed, err := store.Private(path)
	switch {
	case err != nil:
		logger.Warn("the "+what+" may be readable by others and its mode could not be changed: restrict it to its owner (chmod 600)", "file", path, "err", err)
	case changed:
		logger.Warn("the "+what+" was readable by others: its mode is now 0600", "file", path)
	}
}

// checkKeyring returns an error naming each project-wide key that st's credentials refer to and opt does not
// hold, with the setting that provides it: a missing key is found at start-up, not at each sign-in.
func checkKeyring(ctx context.Context, st idshift.Store, opt pwhash.Options) error {
	kl, ok := st.(store.KeyRefLister)
	if !ok {
		return nil
	}
	refs, err := kl.KeyRefs(ctx)
	if err != nil {
		return err
	}
	missing := opt.MissingKeys(refs)
	if len(missing) == 0 {
		return nil
	}
	var settings []string
	for _, m := range missing {
		kind, _, _ := strings.Cut(m, ":")
		s := "hashes.hmac_key (--hmac-key, $IDSHIFT_HMAC_KEY)"
		if kind == pwhash.RefFirebase {
			s = "hashes.firebase.signer_key (--firebase-signer-key, $IDSHIFT_FIREBASE_SIGNER_KEY)"
		}
		if len(settings) == 0 || settings[len(settings)-1] != s {
			settings = append(settings, s)
		}
	}
	return fmt.Errorf("store: its legacy hashes refer to keys the configuration does not hold (%s): set %s to the key(s) they were imported with: %w",
		strings.Join(missing, ", "), strings.Join(settings, " and "), pwhash.ErrMissingKey)
}
