-- Applied with search_path set to the store's schema.
-- What the legacy system said of each user's activity at the last import that wrote the record, for cutover's
-- stale rule: the last sign-in (UTC unix microseconds; 0 = never signed in, or not known) and the disabled flag.
ALTER TABLE records ADD COLUMN legacy_last_sign_in bigint NOT NULL DEFAULT 0,
	ADD COLUMN legacy_disabled boolean NOT NULL DEFAULT false;
