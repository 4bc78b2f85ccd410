-- Stage 3: every password check's outcome (never the password) and each migration. Times are UTC unix microseconds.
CREATE TABLE attempts (
	id          INTEGER PRIMARY KEY,
	source      TEXT    NOT NULL DEFAULT '',
	legacy_id   TEXT    NOT NULL DEFAULT '',
	object_id   TEXT    NOT NULL DEFAULT '',
	sign_in_name TEXT   NOT NULL DEFAULT '',
	front       TEXT    NOT NULL,
	action      TEXT    NOT NULL,
	reason      TEXT    NOT NULL DEFAULT '',
	client_ip   TEXT    NOT NULL DEFAULT '',
	at          INTEGER NOT NULL
);

CREATE INDEX attempts_at ON attempts (at);
CREATE INDEX attempts_key ON attempts (source, legacy_id, at) WHERE legacy_id <> '';

-- When and how each user's password was migrated (the record's state says migrated as well).
CREATE TABLE migrated (
	source    TEXT    NOT NULL,
	legacy_id TEXT    NOT NULL,
	at        INTEGER NOT NULL,
	how       TEXT    NOT NULL,
	PRIMARY KEY (source, legacy_id)
) WITHOUT ROWID;
