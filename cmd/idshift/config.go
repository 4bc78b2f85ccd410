package main

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/idshift/idshift/source"
)

// Config is the single YAML configuration file of `idshift import` (and the commands after it). Every key also has
// a flag and an environment variable; the precedence is flag > environment > file > default.
//
//	source:
//	  path: users.csv          # --source, IDSHIFT_SOURCE
//	  format: csv              # --format, IDSHIFT_SOURCE_FORMAT (csv | jsonl | json; default from the extension)
//	  name: legacy             # --source-name, IDSHIFT_SOURCE_NAME
//	  mapping: mapping.yaml    # --mapping, IDSHIFT_MAPPING (default: the documented default schema)
//	  dsn: postgres://…        # --source-dsn, IDSHIFT_SOURCE_DSN (kinds sql and supabase; no path then)
//	  query: SELECT …          # --source-query, IDSHIFT_SOURCE_QUERY (kind sql)
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
		DSN       string `yaml:"dsn"`       // sql and supabase kinds: the database connection string
		Query     string `yaml:"query"`     // sql kind: the query returning the users
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
		LiveCheck             bool   `yaml:"live_check"`
		AdoptExisting         bool   `yaml:"adopt_existing"`
		Workers               int    `yaml:"workers"`
		ChunkSize             int    `yaml:"chunk_size"`
		Rejects               string `yaml:"rejects"`
		Shard                 string `yaml:"shard"`
		// Consent sends the consent markers as extension attributes (importer.ConsentAttributes).
		Consent bool `yaml:"consent"`
		// AllowSensitive names the attributes allowed to look like data External ID must not hold
		// (--allow-sensitive, repeatable).
		AllowSensitive []string `yaml:"allow_sensitive"`
	} `yaml:"import"`
	Hashes HashConfig `yaml:"hashes"`

	// AllowUnsealedSecrets lets a PostgreSQL store open without a store key: legacy hashes are then unsealed in it.
	AllowUnsealedSecrets bool `yaml:"allow_unsealed_secrets"`
	// origin records where each key's value came from, for error messages.
	origin origins
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

// loadConfigFile decodes path strictly into c and records in c.origin the line of every key it sets. An unknown
// key is an error naming its path, its line and the nearest valid key; a value of the wrong type names its key and
// line.
func loadConfigFile(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	if c.origin == nil {
		c.origin = origins{}
	}
	d := nodeDecoder{file: path, origin: c.origin}
	return d.decode("", doc.Content[0], reflect.ValueOf(c).Elem())
}

// nodeDecoder decodes a YAML node tree into a configuration struct, field by field, so that every error can name
// the key path and the line at fault.
type nodeDecoder struct {
	file   string
	origin origins
}

var durationType = reflect.TypeOf(time.Duration(0))

func (d nodeDecoder) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("config %s:%d: %s", d.file, n.Line, fmt.Sprintf(format, args...))
}

func (d nodeDecoder) decode(path string, n *yaml.Node, v reflect.Value) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case v.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return d.errorf(n, "%s: want a mapping of keys (%s), got %q", describeKey(path), strings.Join(yamlKeys(v.Type()), ", "), n.Value)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := yamlField(v.Type(), k.Value)
			if !ok {
				msg := fmt.Sprintf("unknown key %s", joinKey(path, k.Value))
				if near := source.Nearest(k.Value, yamlKeys(v.Type())); near != "" {
					msg += fmt.Sprintf("; did you mean %s?", joinKey(path, near))
				}
				return d.errorf(k, "%s", msg)
			}
			if err := d.decode(joinKey(path, k.Value), val, v.Field(idx)); err != nil {
				return err
			}
		}
		return nil
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			return d.errorf(n, "%s: want a list", path)
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			if err := d.decode(fmt.Sprintf("%s[%d]", path, i), e, s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		d.origin[path] = fmt.Sprintf("%s:%d", d.file, n.Line)
		return nil
	case v.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			if err := d.decode(fmt.Sprintf("%s[%d]", path, i), e, s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		d.origin[path] = fmt.Sprintf("%s:%d", d.file, n.Line)
		return nil
	case v.Kind() == reflect.Slice: // a single value is a list of one
		e := reflect.New(v.Type().Elem()).Elem()
		if err := d.decode(path, n, e); err != nil {
			return err
		}
		v.Set(reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), e))
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return d.errorf(n, "%s: want a single value", path)
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		return d.errorf(n, "%s: %q is not %s", path, n.Value, kindName(v.Type()))
	}
	d.origin[path] = fmt.Sprintf("%s:%d", d.file, n.Line)
	return nil
}

func joinKey(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func describeKey(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

func kindName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration (e.g. 150s)"
	case t.Kind() == reflect.Int:
		return "an integer"
	case t.Kind() == reflect.Bool:
		return "a boolean (true or false)"
	}
	return "a " + t.Kind().String()
}

// yamlKeys lists the keys of a struct type, as its yaml tags name them.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

func yamlField(t reflect.Type, key string) (int, bool) {
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name == key && name != "" {
			return i, true
		}
	}
	return 0, false
}

// origins records where each configuration key's value came from ("--workers", "$IDSHIFT_WORKERS",
// "idshift.yaml:12"), so that a value refused by the final validation is reported where the user set it.
type origins map[string]string

// describe names key and where its value came from, for an error message: "import.workers (--workers)",
// "import.workers (from $IDSHIFT_WORKERS)", "import.workers (idshift.yaml:12)". A value never set is described
// by its flag.
func (o origins) describe(bs []binding, key string) string {
	if s, ok := o[key]; ok {
		return fmt.Sprintf("%s (from %s)", key, s)
	}
	if f := flagOf(bs, key); f != "?" {
		return fmt.Sprintf("%s (--%s)", key, f)
	}
	return key
}

// noteFlags records the flags set on the command line as the origin of their keys.
func (o origins) noteFlags(fs *flag.FlagSet, bs []binding) {
	fs.Visit(func(f *flag.Flag) {
		for _, b := range bs {
			if b.flag == f.Name {
				o[b.key] = "--" + f.Name
			}
		}
	})
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
		{"source.kind", "source-kind", "IDSHIFT_SOURCE_KIND", "source kind: file, auth0, b2c (--source: its YAML config), cognito, firebase, keycloak, kratos, ldif, sql or supabase (default: detected, else file)", &c.Source.Kind},
		{"source.passwords", "source-passwords", "IDSHIFT_SOURCE_PASSWORDS", "Auth0 password-hash export joined to the user export", &c.Source.Passwords},
		{"source.dsn", "source-dsn", "IDSHIFT_SOURCE_DSN", "database of the sql and supabase kinds (postgres://… or MySQL user:pass@tcp(host:3306)/db; keep its password in the environment)", &c.Source.DSN},
		{"source.query", "source-query", "IDSHIFT_SOURCE_QUERY", "sql kind: the query returning the users in the default schema's columns (supabase: overrides SELECT … FROM auth.users)", &c.Source.Query},
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
		{"import.live_check", "live-check", "IDSHIFT_LIVE_CHECK", "serve checks this source's passwords live at the legacy system: flag users without a legacy hash too (else they are left to self-service password reset)", &c.Import.LiveCheck},
		{"import.adopt_existing", "adopt-existing", "IDSHIFT_ADOPT_EXISTING", "adopt accounts that already hold a user's identity instead of reporting a collision", &c.Import.AdoptExisting},
		{"import.workers", "workers", "IDSHIFT_WORKERS", "chunks in flight at once", &c.Import.Workers},
		{"import.chunk_size", "chunk-size", "IDSHIFT_CHUNK_SIZE", "users per chunk", &c.Import.ChunkSize},
		{"import.rejects", "rejects", "IDSHIFT_REJECTS", "reject file, JSON Lines (default: next to the store)", &c.Import.Rejects},
		{"import.shard", "shard", "IDSHIFT_SHARD", "I/N: send only shard I of N (several processes sharing a PostgreSQL store)", &c.Import.Shard},
		{"import.consent", "consent", "IDSHIFT_CONSENT", "send the consent markers (privacy policy, terms of use: version and acceptance date) as extension attributes; tenant setup creates them", &c.Import.Consent},
	}, c.Hashes.bindings()...)
}

// applyEnv overrides the configuration from the environment; a bad value names the variable.
func (c *Config) applyEnv(getenv func(string) string) error {
	if c.origin == nil {
		c.origin = origins{}
	}
	return applyBindingsEnv(c.bindings(), getenv, c.origin)
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

// validate names the key at fault and where its value came from (flag, environment variable or file line).
func (c *Config) validate() error {
	bs := c.bindings()
	at := func(key string) string { return c.origin.describe(bs, key) }
	switch {
	case c.Source.Path == "" && !kindReadsNoFile(c.Source.Kind):
		return fmt.Errorf("config: %s: required", at("source.path"))
	case c.Store == "":
		return fmt.Errorf("config: %s: required", at("store"))
	case c.Import.Workers < 1:
		return fmt.Errorf("config: %s: must be at least 1, got %d", at("import.workers"), c.Import.Workers)
	case c.Import.ChunkSize < 1:
		return fmt.Errorf("config: %s: must be at least 1, got %d", at("import.chunk_size"), c.Import.ChunkSize)
	case c.Limits.AppWrites < 1:
		return fmt.Errorf("config: %s: must be at least 1, got %d", at("limits.app_writes"), c.Limits.AppWrites)
	case c.Limits.AppWindow <= 0:
		return fmt.Errorf("config: %s: must be positive, got %s", at("limits.app_window"), c.Limits.AppWindow)
	case c.Limits.TenantWrites < 1:
		return fmt.Errorf("config: %s: must be at least 1, got %d", at("limits.tenant_writes"), c.Limits.TenantWrites)
	case c.Limits.TenantWindow <= 0:
		return fmt.Errorf("config: %s: must be positive, got %s", at("limits.tenant_window"), c.Limits.TenantWindow)
	}
	if _, _, err := c.shard(); err != nil {
		return err
	}
	c.Hashes.origin = c.origin
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
		return 0, 0, fmt.Errorf("config: %s: %q is not I/N with 0 <= I < N", c.origin.describe(c.bindings(), "import.shard"), c.Import.Shard)
	}
	if n > 1 && !strings.Contains(c.Store, "://") {
		return 0, 0, fmt.Errorf("config: %s: a split import needs a shared PostgreSQL store (store: postgres://…)", c.origin.describe(c.bindings(), "import.shard"))
	}
	return i, n, nil
}

// importHelp is the -h text of `idshift import`: examples first, then its flags grouped by purpose.
var importHelp = help{
	usage: "idshift import --source FILE --domain DOMAIN [flags] [[KIND:]FILE ...]",
	about: `Creates every user of a legacy export in the External ID tenant through Microsoft Graph, exactly once and
resumably: a random password, the migration flag and the legacy id on each account; invalid and duplicate rows go
to the reject file with their line and reason. Every flag is also a key of the YAML file given by --config and an
environment variable (shown after each flag); a flag wins over the environment, which wins over the file.
Exit status: 0 complete; 3 complete with rejected rows or collisions; 4 some users failed at the tenant (rerun
to retry them); 1 the run stopped; 2 bad flags or configuration. Sources after the flags are read after --source, each
as [KIND:]FILE with its kind detected when omitted, the default schema, and named after the file (as idshift audit
reads them); with --plan, the accounts of the plan's accepted merges become one account each (docs/merge.md).`,
	examples: []example{
		{"plan an import and print what would be sent, writing nothing", "idshift import --source users.csv --domain contoso.onmicrosoft.com --dry-run"},
		{"import into a tenant, creating the extension attributes on the first run", "AZURE_TENANT_ID=… AZURE_CLIENT_ID=… AZURE_CLIENT_SECRET=… \\\n    idshift import --source users.csv --domain contoso.onmicrosoft.com --setup-extensions"},
		{"everything from a configuration file, one process of a split import in three", "idshift import --config idshift.yaml --store postgres://… --shard 0/3"},
		{"two legacy systems, following the merges accepted in a plan written by idshift audit --plan", "idshift import --source shop.csv --source-name shop --plan merges.json auth0:forum.jsonl"},
	},
	groups: []flagGroup{
		{"Source", []string{"source", "source-kind", "source-passwords", "source-dsn", "source-query", "format", "source-name", "mapping", "plan"}},
		{"Tenant and credentials", []string{"domain", "tenant-id", "client-id", "client-secret", "client-certificate",
			"graph-url", "authority-host", "ca-file", "extensions-app-id", "setup-extensions", "ignore-quota"}},
		{"Hashes", hashFormatFlags},
		{"Limits (writes to the tenant)", []string{"app-writes", "app-window", "tenant-writes", "tenant-window", "workers", "chunk-size"}},
		{"Limits (cost caps of legacy hashes)", hashCapFlags},
		{"Run", []string{"config", "store", "allow-unsealed-secrets", "rejects", "shard", "dry-run", "update", "adopt-existing", "flag-adopted", "json",
			"migration-attribute", "legacy-id-attribute", "disable-strong-password", "live-check", "progress-every", "cpuprofile"}},
		{"Attributes", []string{"consent", "allow-sensitive"}},
	},
}
