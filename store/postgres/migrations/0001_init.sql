-- Applied with search_path set to the store's schema. Key columns use the "C" collation so that key order is
-- bytewise, the same as store/sqlite, whatever the database's default collation.

-- Records: what the migration remembers about each user.
CREATE TABLE records (
	source        text COLLATE "C" NOT NULL,
	legacy_id     text COLLATE "C" NOT NULL,
	line          bigint      NOT NULL DEFAULT 0,
	digest        text        NOT NULL DEFAULT '',
	object_id     text        NOT NULL DEFAULT '',
	sign_in_names text        NOT NULL DEFAULT '', -- as given, joined by U+001F; the lookup form is in sign_in_names
	state         text        NOT NULL,
	attempts      integer     NOT NULL DEFAULT 0,
	last_error    text        NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	-- Lease of an import worker on a pending record (ClaimPending).
	lease_owner   text        NOT NULL DEFAULT '',
	lease_until   timestamptz,
	PRIMARY KEY (source, legacy_id)
);

CREATE INDEX records_state ON records (state, source, legacy_id);
CREATE INDEX records_object_id ON records (object_id) WHERE object_id <> '';

-- Sign-in names, lower-cased, for RecordBySignInName. Several records may share one (collisions).
CREATE TABLE sign_in_names (
	name      text             NOT NULL,
	source    text COLLATE "C" NOT NULL,
	legacy_id text COLLATE "C" NOT NULL,
	PRIMARY KEY (name, source, legacy_id)
);

CREATE INDEX sign_in_names_key ON sign_in_names (source, legacy_id);

-- Legacy credentials, apart from the records. blob is sealed (AES-256-GCM, see package store) when sealed.
CREATE TABLE credentials (
	source     text COLLATE "C" NOT NULL,
	legacy_id  text COLLATE "C" NOT NULL,
	sealed     boolean     NOT NULL,
	blob       bytea       NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (source, legacy_id)
);
