package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the single YAML configuration file of `idshift import` (and the commands after it). Every key also has
// a flag and an environment variable; the precedence is flag > environment > file > default.
//
//	source:
//	  path: users.csv          # --source, IDSHIFT_SOURCE
//	  format: csv              # --format, IDSHIFT_SOURCE_FORMAT (csv | jsonl | json; default from the extension)
//	  name: legacy             # --source-name, IDSHIFT_SOURCE_NAME
//	  mapping: mapping.yaml    # --mapping, IDSHIFT_MAPPING (default: the documented default schema)
//	store: idshift-state.db    # --store, IDSHIFT_STORE (a SQLite file, or postgres://…)
//	allow_unsealed_secrets: false  # --allow-unsealed-secrets: a PostgreSQL store without a store key
//	tenant:
//	  domain: contoso.onmicrosoft.com   # --domain, IDSHIFT_TENANT_DOMAIN
//	  tenant_id: …                      # --tenant-id, AZURE_TENANT_ID
//	  graph_url: https://graph.microsoft.com  # --graph-url, IDSHIFT_GRAPH_URL
//	  authority_host: https://login.microsoftonline.com/  # --authority-host, AZURE_AUTHORITY_HOST
//	  ca_file: sandbox-ca.pem           # --ca-file, IDSHIFT_CA_FILE
//	  extensions_app_id: …              # --extensions-app-id, IDSHIFT_EXTENSIONS_APP_ID (default: looked up)
//	  apps:                             # several app registrations pool their write quotas
//	    - client_id: …                  # one app also from --client-id/AZURE_CLIENT_ID,
//	      client_secret: …              #   --client-secret/AZURE_CLIENT_SECRET,
//	      certificate_path: …           #   --client-certificate/AZURE_CLIENT_CERTIFICATE_PATH
//	limits:
//	  app_writes: 3000        # --app-writes     per app_window per app registration
//	  app_window: 150s        # --app-window
//	  tenant_writes: 18000    # --tenant-writes  per tenant_window across apps
//	  tenant_window: 5m       # --tenant-window
//	import:
//	  migration_attribute: requiresMigration  # --migration-attribute
//	  legacy_id_attribute: legacyId           # --legacy-id-attribute
//	  disable_strong_password: false          # --disable-strong-password
//	  adopt_existing: false                   # --adopt-existing
//	  workers: 8                              # --workers
//	  chunk_size: 200                         # --chunk-size
//	  rejects: rejects.jsonl                  # --rejects (default: <store>.rejects.jsonl)
//	  shard: 0/2                              # --shard: this process's share of a split import (PostgreSQL store)
type Config struct {
	Source struct {
		Path      string `yaml:"path"`
		Format    string `yaml:"format"`
		Name      string `yaml:"name"`
		Mapping   string `yaml:"mapping"`
		Kind      string `yaml:"kind"`      // see sources.go
		Passwords string `yaml:"passwords"` // Auth0's password-hash export
	} `yaml:"source"`
	Store  string `yaml:"store"`
	Tenant struct {
		Domain          string      `yaml:"domain"`
		TenantID        string      `yaml:"tenant_id"`
		GraphURL        string      `yaml:"graph_url"`
		AuthorityHost   string      `yaml:"authority_host"`
		CAFile          string      `yaml:"ca_file"`
		ExtensionsAppID string      `yaml:"extensions_app_id"`
		Apps            []AppConfig `yaml:"apps"`
	} `yaml:"tenant"`
	Limits struct {
		AppWrites    int           `yaml:"app_writes"`
		AppWindow    time.Duration `yaml:"app_window"`
		TenantWrites int           `yaml:"tenant_writes"`
		TenantWindow time.Duration `yaml:"tenant_window"`
	} `yaml:"limits"`
	Import struct {
		MigrationAttribute    string `yaml:"migration_attribute"`
		LegacyIDAttribute     string `yaml:"legacy_id_attribute"`
		DisableStrongPassword bool   `yaml:"disable_strong_password"`
		AdoptExisting         bool   `yaml:"adopt_existing"`
		Workers               int    `yaml:"workers"`
		ChunkSize             int    `yaml:"chunk_size"`
		Rejects               string `yaml:"rejects"`
		Shard                 string `yaml:"shard"`
	} `yaml:"import"`
	Hashes HashConfig `yaml:"hashes"`

	// AllowUnsealedSecrets lets a PostgreSQL store open without a store key: legacy hashes are then unsealed in it.
	AllowUnsealedSecrets bool `yaml:"allow_unsealed_secrets"`
}

// AppConfig is one app registration.
type AppConfig struct {
	ClientID        string `yaml:"client_id"`
	ClientSecret    string `yaml:"client_secret"`
	CertificatePath string `yaml:"certificate_path"`
}

func defaultConfig() *Config {
	c := &Config{}
	c.Store = "idshift-state.db"
	c.Tenant.GraphURL = "https://graph.microsoft.com"
	c.Hashes = defaultHashConfig()
	c.Limits.AppWrites = 3000
	c.Limits.AppWindow = 150 * time.Second
	c.Limits.TenantWrites = 18000
	c.Limits.TenantWindow = 5 * time.Minute
	c.Import.MigrationAttribute = "requiresMigration"
	c.Import.LegacyIDAttribute = "legacyId"
	c.Import.Workers = 8
	c.Import.ChunkSize = 200
	return c
}

// loadConfigFile decodes path strictly: an unknown key is an error naming it and its line.
func loadConfigFile(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// binding ties one configuration key to its flag and environment variable.
type binding struct {
	key, flag, env, usage string
	ptr                   any // *string, *int, *bool or *time.Duration
}

func (c *Config) bindings() []binding {
	return append([]binding{
		{"source.path", "source", "IDSHIFT_SOURCE", "legacy users file (CSV, JSON Lines or JSON array; - for stdin)", &c.Source.Path},
		{"source.format", "format", "IDSHIFT_SOURCE_FORMAT", "source format: csv, jsonl or json (default from the extension)", &c.Source.Format},
		{"source.name", "source-name", "IDSHIFT_SOURCE_NAME", "name of the legacy system, part of each user's key", &c.Source.Name},
		{"source.mapping", "mapping", "IDSHIFT_MAPPING", "YAML field mapping (default: the documented default schema)", &c.Source.Mapping},
		{"source.kind", "source-kind", "IDSHIFT_SOURCE_KIND", "source kind: file, auth0, firebase, keycloak, kratos or ldif (default: detected, else file)", &c.Source.Kind},
		{"source.passwords", "source-passwords", "IDSHIFT_SOURCE_PASSWORDS", "Auth0 password-hash export joined to the user export", &c.Source.Passwords},
		{"store", "store", "IDSHIFT_STORE", "state store: a SQLite file path or a postgres:// URL", &c.Store},
		{"allow_unsealed_secrets", "allow-unsealed-secrets", envAllowUnsealed, "PostgreSQL store without IDSHIFT_STORE_KEY: keep legacy password hashes UNSEALED in the shared database", &c.AllowUnsealedSecrets},
		{"tenant.domain", "domain", "IDSHIFT_TENANT_DOMAIN", "tenant domain, issuer of local identities (e.g. contoso.onmicrosoft.com)", &c.Tenant.Domain},
		{"tenant.tenant_id", "tenant-id", "AZURE_TENANT_ID", "tenant id", &c.Tenant.TenantID},
		{"tenant.graph_url", "graph-url", "IDSHIFT_GRAPH_URL", "Microsoft Graph base URL", &c.Tenant.GraphURL},
		{"tenant.authority_host", "authority-host", "AZURE_AUTHORITY_HOST", "Entra authority host", &c.Tenant.AuthorityHost},
		{"tenant.ca_file", "ca-file", "IDSHIFT_CA_FILE", "extra CA certificates (PEM) to trust, e.g. the sandbox's", &c.Tenant.CAFile},
		{"tenant.extensions_app_id", "extensions-app-id", "IDSHIFT_EXTENSIONS_APP_ID", "appId of b2c-extensions-app (default: looked up in the tenant)", &c.Tenant.ExtensionsAppID},
		{"limits.app_writes", "app-writes", "IDSHIFT_APP_WRITES", "writes per app window per app registration", &c.Limits.AppWrites},
		{"limits.app_window", "app-window", "IDSHIFT_APP_WINDOW", "app write window", &c.Limits.AppWindow},
		{"limits.tenant_writes", "tenant-writes", "IDSHIFT_TENANT_WRITES", "writes per tenant window across apps", &c.Limits.TenantWrites},
		{"limits.tenant_window", "tenant-window", "IDSHIFT_TENANT_WINDOW", "tenant write window", &c.Limits.TenantWindow},
		{"import.migration_attribute", "migration-attribute", "IDSHIFT_MIGRATION_ATTRIBUTE", "Boolean extension attribute flagging users for password migration", &c.Import.MigrationAttribute},
		{"import.legacy_id_attribute", "legacy-id-attribute", "IDSHIFT_LEGACY_ID_ATTRIBUTE", "String extension attribute holding the legacy id", &c.Import.LegacyIDAttribute},
		{"import.disable_strong_password", "disable-strong-password", "IDSHIFT_DISABLE_STRONG_PASSWORD", "create users with DisableStrongPassword", &c.Import.DisableStrongPassword},
		{"import.adopt_existing", "adopt-existing", "IDSHIFT_ADOPT_EXISTING", "adopt accounts that already hold a user's identity instead of reporting a collision", &c.Import.AdoptExisting},
		{"import.workers", "workers", "IDSHIFT_WORKERS", "chunks in flight at once", &c.Import.Workers},
		{"import.chunk_size", "chunk-size", "IDSHIFT_CHUNK_SIZE", "users per chunk", &c.Import.ChunkSize},
		{"import.rejects", "rejects", "IDSHIFT_REJECTS", "reject file, JSON Lines (default: next to the store)", &c.Import.Rejects},
		{"import.shard", "shard", "IDSHIFT_SHARD", "I/N: send only shard I of N (several processes sharing a PostgreSQL store)", &c.Import.Shard},
	}, c.Hashes.bindings()...)
}

// applyEnv overrides the configuration from the environment; a bad value names the variable.
func (c *Config) applyEnv(getenv func(string) string) error {
	return applyBindingsEnv(c.bindings(), getenv)
}

// register adds every binding as a flag whose default is the current value.
func (c *Config) register(fs *flag.FlagSet) { registerBindings(fs, c.bindings()) }

func setValue(ptr any, v string) error {
	switch p := ptr.(type) {
	case *string:
		*p = v
	case *int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", v)
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 150s)", v)
		}
		*p = d
	}
	return nil
}

// configFlag finds --config/-config in args before the flag set is built, so the file can supply the defaults.
func configFlag(args []string, getenv func(string) string) string {
	for i, a := range args {
		for _, name := range []string{"-config", "--config"} {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
			if strings.HasPrefix(a, name+"=") {
				return strings.TrimPrefix(a, name+"=")
			}
		}
	}
	return getenv("IDSHIFT_CONFIG")
}

// validate names the field at fault.
func (c *Config) validate() error {
	switch {
	case c.Source.Path == "":
		return fmt.Errorf("config: source.path (--source): required")
	case c.Store == "":
		return fmt.Errorf("config: store (--store): required")
	case c.Import.Workers < 1:
		return fmt.Errorf("config: import.workers (--workers): must be at least 1, got %d", c.Import.Workers)
	case c.Import.ChunkSize < 1:
		return fmt.Errorf("config: import.chunk_size (--chunk-size): must be at least 1, got %d", c.Import.ChunkSize)
	case c.Limits.AppWrites < 1 || c.Limits.AppWindow <= 0:
		return fmt.Errorf("config: limits.app_writes/app_window: must be positive")
	case c.Limits.TenantWrites < 1 || c.Limits.TenantWindow <= 0:
		return fmt.Errorf("config: limits.tenant_writes/tenant_window: must be positive")
	}
	if _, _, err := c.shard(); err != nil {
		return err
	}
	if _, err := c.Hashes.options(); err != nil {
		return err
	}
	for i, a := range c.Tenant.Apps {
		if a.ClientID == "" {
			return fmt.Errorf("config: tenant.apps[%d].client_id: required", i)
		}
		if a.ClientSecret == "" && a.CertificatePath == "" {
			return fmt.Errorf("config: tenant.apps[%d]: client_secret or certificate_path required", i)
		}
	}
	return nil
}

// shard parses import.shard ("I/N"); "" is 0 of 0 (no sharding).
func (c *Config) shard() (i, n int, err error) {
	if c.Import.Shard == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(c.Import.Shard, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("config: import.shard (--shard): %q is not I/N with 0 <= I < N", c.Import.Shard)
	}
	if n > 1 && !strings.Contains(c.Store, "://") {
		return 0, 0, fmt.Errorf("config: import.shard (--shard): a split import needs a shared PostgreSQL store (store: postgres://…)")
	}
	return i, n, nil
}
