-- Facts about the store itself, by name: "key_id", the id of the key its credentials are sealed with (package
-- store, MetaKeyID).
CREATE TABLE meta (
	name  TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

-- Project-wide keys (a site-wide HMAC key, a Firebase signer key) that stored credentials refer to by fingerprint,
-- as "<kind>:<key id>" (package pwhash, KeyRefs). The keys themselves are not stored.
CREATE TABLE key_refs (
	ref TEXT NOT NULL PRIMARY KEY
) WITHOUT ROWID;
