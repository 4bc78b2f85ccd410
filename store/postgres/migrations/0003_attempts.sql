-- Stage 3: every password check's outcome (never the password) and each migration.
CREATE TABLE attempts (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	source       text COLLATE "C" NOT NULL DEFAULT '',
	legacy_id    text COLLATE "C" NOT NULL DEFAULT '',
	object_id    text        NOT NULL DEFAULT '',
	sign_in_name text        NOT NULL DEFAULT '',
	front        text        NOT NULL,
	action       text        NOT NULL,
	reason       text        NOT NULL DEFAULT '',
	client_ip    text        NOT NULL DEFAULT '',
	at           timestamptz NOT NULL
);

CREATE INDEX attempts_at ON attempts (at);
CREATE INDEX attempts_key ON attempts (source, legacy_id, at) WHERE legacy_id <> '';

-- When and how each user's password was migrated (the record's state says migrated as well).
CREATE TABLE migrated (
	source    text COLLATE "C" NOT NULL,
	legacy_id text COLLATE "C" NOT NULL,
	at        timestamptz NOT NULL,
	how       text        NOT NULL,
	PRIMARY KEY (source, legacy_id)
);
