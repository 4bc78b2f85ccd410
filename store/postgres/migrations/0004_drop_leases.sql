-- Static shards were chosen over row leases (docs/architecture.md): the lease columns are not used.
ALTER TABLE records DROP COLUMN IF EXISTS lease_owner, DROP COLUMN IF EXISTS lease_until;
