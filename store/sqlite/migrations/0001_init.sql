-- Records: what the migration remembers about each user. Times are UTC unix microseconds.
CREATE TABLE records (
	source        TEXT    NOT NULL,
	legacy_id     TEXT    NOT NULL,
	line          INTEGER NOT NULL DEFAULT 0,
	digest        TEXT    NOT NULL DEFAULT '',
	object_id     TEXT    NOT NULL DEFAULT '',
	sign_in_names TEXT    NOT NULL DEFAULT '', -- JSON array, as given; the lookup form is in sign_in_names
	state         TEXT    NOT NULL,
	attempts      INTEGER NOT NULL DEFAULT 0,
	last_error    TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	PRIMARY KEY (source, legacy_id)
) WITHOUT ROWID;

CREATE INDEX records_state ON records (state, source, legacy_id);
CREATE INDEX records_object_id ON records (object_id) WHERE object_id <> '';

-- Sign-in names, lower-cased, for RecordBySignInName. Several records may share one (collisions).
CREATE TABLE sign_in_names (
	name      TEXT NOT NULL,
	source    TEXT NOT NULL,
	legacy_id TEXT NOT NULL,
	PRIMARY KEY (name, source, legacy_id)
) WITHOUT ROWID;

CREATE INDEX sign_in_names_key ON sign_in_names (source, legacy_id);

-- Legacy credentials, apart from the records. blob is sealed (AES-256-GCM, see package store) when sealed = 1.
CREATE TABLE credentials (
	source     TEXT    NOT NULL,
	legacy_id  TEXT    NOT NULL,
	sealed     INTEGER NOT NULL,
	blob       BLOB    NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (source, legacy_id)
) WITHOUT ROWID;
