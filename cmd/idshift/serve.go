package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/jit"
	"github.com/idshift/idshift/jit/dashboard"
	"github.com/idshift/idshift/jit/entra"
	"github.com/idshift/idshift/report"
	"github.com/idshift/idshift/verify"
	"github.com/idshift/idshift/verify/cognito"
	"github.com/idshift/idshift/verify/ldap"
	"github.com/idshift/idshift/verify/oidc"
	"github.com/idshift/idshift/verify/webhook"
)

// ServeConfig is the YAML configuration of `idshift serve`. Every key also has a flag and an environment
// variable; the precedence is flag > environment > file > default. Lists are comma-separated.
//
//	store: idshift-state.db                 # --store, IDSHIFT_STORE (SQLite file or postgres://…)
//	listen:
//	  addr: ":8443"                         # --listen, IDSHIFT_LISTEN (public: Entra must reach it)
//	  admin: "127.0.0.1:9090"               # --admin-listen, IDSHIFT_ADMIN_LISTEN (healthz, readyz, metrics)
//	  tls_cert: tls.crt                     # --tls-cert, IDSHIFT_TLS_CERT
//	  tls_key: tls.key                      # --tls-key, IDSHIFT_TLS_KEY
//	  insecure_http_behind_proxy: false     # --insecure-http-behind-proxy: plain HTTP, TLS ends at a proxy
//	entra:
//	  authority: https://contoso.ciamlogin.com/{tenantId}/v2.0   # --authority, IDSHIFT_ENTRA_AUTHORITY
//	  issuers: ""                           # --issuers: extra accepted iss values
//	  audiences: "{appId},api://auth.contoso.com/{appId}"        # --audiences, IDSHIFT_ENTRA_AUDIENCES
//	  decryption_certs: enc.crt             # --decryption-certs: PEM certificates, paired with
//	  decryption_keys: enc.key              # --decryption-keys: PEM private keys (two during a rotation)
//	  context_audiences: "{appId}"          # --context-audiences: the inner JWT's accepted aud (optional)
//	  context_issuers: "api://auth.contoso.com/{appId}"          # --context-issuers (optional)
//	  ca_file: ""                           # --entra-ca-file: extra CAs for the authority (the sandbox's)
//	  namespace: passwordSubmit             # --action-namespace: passwordSubmit (documented) or passwordsubmit
//	decision:
//	  timeout: 1s                           # --timeout: the extension's timeoutInMilliseconds (200ms–2s)
//	  margin: 0s                            # --margin: kept from the timeout (default min(150ms, timeout/2))
//	  try_later: Retry                      # --try-later: Retry or Block, when the service cannot decide
//	  block_title: ""                       # --block-title, --block-message: the Block screen (locked, disabled)
//	  block_message: ""
//	  unavailable_title: ""                 # --unavailable-title, --unavailable-message: Block when undecided
//	  unavailable_message: ""
//	  max_verifications: 0                  # --max-verifications: concurrent hash checks (default: CPUs)
//	guard:
//	  redis: ""                             # --guard-redis, IDSHIFT_REDIS_URL: share limits across replicas
//	dashboard:                              # the migration's figures at /dashboard on the admin listener (off)
//	  enabled: false                        # --dashboard, IDSHIFT_DASHBOARD (needs password_file)
//	  password_file: ""                     # --dashboard-password-file: a password or its bcrypt/argon2id hash
//	  refresh: 30s                          # --dashboard-refresh: how often the page reloads its figures
//	verifiers:                              # live legacy checks, per source name (file only; see VerifierConfig)
//	  corp-ldap:
//	    ldap: {url: "ldaps://ldap.corp:636", bindDN: "cn=idshift,dc=corp", userSearch: {baseDN: "ou=people,dc=corp", filter: "(mail={name})"}}
//	    secret_env: IDSHIFT_LDAP_BIND_PW
type ServeConfig struct {
	Store  string `yaml:"store"`
	Listen struct {
		Addr          string        `yaml:"addr"`
		Admin         string        `yaml:"admin"`
		TLSCert       string        `yaml:"tls_cert"`
		TLSKey        string        `yaml:"tls_key"`
		InsecureHTTP  bool          `yaml:"insecure_http_behind_proxy"`
		ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	} `yaml:"listen"`
	Entra struct {
		Authority        string `yaml:"authority"`
		Issuers          string `yaml:"issuers"`
		Audiences        string `yaml:"audiences"`
		DecryptionCerts  string `yaml:"decryption_certs"`
		DecryptionKeys   string `yaml:"decryption_keys"`
		ContextAudiences string `yaml:"context_audiences"`
		ContextIssuers   string `yaml:"context_issuers"`
		CAFile           string `yaml:"ca_file"`
		Namespace        string `yaml:"namespace"`
	} `yaml:"entra"`
	Decision struct {
		Timeout            time.Duration `yaml:"timeout"`
		Margin             time.Duration `yaml:"margin"`
		TryLater           string        `yaml:"try_later"`
		BlockTitle         string        `yaml:"block_title"`
		BlockMessage       string        `yaml:"block_message"`
		UnavailableTitle   string        `yaml:"unavailable_title"`
		UnavailableMessage string        `yaml:"unavailable_message"`
		MaxVerifications   int           `yaml:"max_verifications"`
	} `yaml:"decision"`
	Guard struct {
		Redis string `yaml:"redis"`
	} `yaml:"guard"`
	Dashboard struct {
		Enabled      bool          `yaml:"enabled"`
		PasswordFile string        `yaml:"password_file"`
		Refresh      time.Duration `yaml:"refresh"`
	} `yaml:"dashboard"`
	Harvest HarvestConfig `yaml:"harvest"`
	Hashes  HashConfig    `yaml:"hashes"`
	// Verifiers are the live legacy checks by source name. The file's decoder reads this key itself
	// (decodeVerifiers): the generic one takes no maps.
	Verifiers map[string]VerifierConfig `yaml:"verifiers"`
	// AllowUnsealedSecrets lets a PostgreSQL store open without a store key (as for import).
	AllowUnsealedSecrets bool `yaml:"allow_unsealed_secrets"`

	// origin records where each key's value came from, for error messages.
	origin origins
}

func defaultServeConfig() *ServeConfig {
	c := &ServeConfig{}
	c.Store = "idshift-state.db"
	c.Listen.Addr = ":8443"
	c.Listen.Admin = "127.0.0.1:9090"
	c.Listen.ShutdownGrace = 10 * time.Second
	c.Entra.Namespace = entra.NamespaceDocumented
	c.Decision.Timeout = jit.DefaultTimeout
	c.Decision.TryLater = string(idshift.ActionRetry)
	c.Hashes = defaultHashConfig()
	c.Harvest = defaultHarvestConfig()
	return c
}

func (c *ServeConfig) bindings() []binding {
	bs := []binding{
		{"store", "store", "IDSHIFT_STORE", "state store: a SQLite file path or a postgres:// URL", &c.Store},
		{"listen.addr", "listen", "IDSHIFT_LISTEN", "public listener address (Entra and harvest callers)", &c.Listen.Addr},
		{"listen.admin", "admin-listen", "IDSHIFT_ADMIN_LISTEN", "admin listener address (healthz, readyz, metrics); keep it private", &c.Listen.Admin},
		{"listen.tls_cert", "tls-cert", "IDSHIFT_TLS_CERT", "TLS certificate chain (PEM) of the public listener", &c.Listen.TLSCert},
		{"listen.tls_key", "tls-key", "IDSHIFT_TLS_KEY", "TLS private key (PEM) of the public listener", &c.Listen.TLSKey},
		{"listen.insecure_http_behind_proxy", "insecure-http-behind-proxy", "IDSHIFT_INSECURE_HTTP_BEHIND_PROXY", "serve plain HTTP: only behind a proxy that terminates TLS", &c.Listen.InsecureHTTP},
		{"listen.shutdown_grace", "shutdown-grace", "IDSHIFT_SHUTDOWN_GRACE", "time given to calls in flight at shutdown", &c.Listen.ShutdownGrace},
		{"entra.authority", "authority", "IDSHIFT_ENTRA_AUTHORITY", "the tenant's external authority, https://{subdomain}.ciamlogin.com/{tenantId}/v2.0", &c.Entra.Authority},
		{"entra.issuers", "issuers", "IDSHIFT_ENTRA_ISSUERS", "extra accepted token issuers, comma-separated", &c.Entra.Issuers},
		{"entra.audiences", "audiences", "IDSHIFT_ENTRA_AUDIENCES", "accepted token audiences (extension app id, api:// URI), comma-separated", &c.Entra.Audiences},
		{"entra.decryption_certs", "decryption-certs", "IDSHIFT_DECRYPTION_CERTS", "encryption certificates (PEM) uploaded to the extension's app, comma-separated", &c.Entra.DecryptionCerts},
		{"entra.decryption_keys", "decryption-keys", "IDSHIFT_DECRYPTION_KEYS", "their private keys (PEM), in the same order", &c.Entra.DecryptionKeys},
		{"entra.context_audiences", "context-audiences", "IDSHIFT_CONTEXT_AUDIENCES", "accepted aud of the password context (optional), comma-separated", &c.Entra.ContextAudiences},
		{"entra.context_issuers", "context-issuers", "IDSHIFT_CONTEXT_ISSUERS", "accepted iss of the password context (optional), comma-separated", &c.Entra.ContextIssuers},
		{"entra.ca_file", "entra-ca-file", "IDSHIFT_ENTRA_CA_FILE", "extra CA certificates (PEM) for the authority, e.g. the sandbox's", &c.Entra.CAFile},
		{"entra.namespace", "action-namespace", "IDSHIFT_ACTION_NAMESPACE", "action namespace: passwordSubmit (documented) or passwordsubmit (Microsoft's sample)", &c.Entra.Namespace},
		{"decision.timeout", "timeout", "IDSHIFT_TIMEOUT", "the extension's timeoutInMilliseconds (200ms to 2s)", &c.Decision.Timeout},
		{"decision.margin", "margin", "IDSHIFT_MARGIN", "kept from the timeout for the network (default min(150ms, timeout/2))", &c.Decision.Margin},
		{"decision.try_later", "try-later", "IDSHIFT_TRY_LATER", "answer when the service cannot decide: Retry or Block", &c.Decision.TryLater},
		{"decision.block_title", "block-title", "IDSHIFT_BLOCK_TITLE", "title of the Block screen (locked or disabled account)", &c.Decision.BlockTitle},
		{"decision.block_message", "block-message", "IDSHIFT_BLOCK_MESSAGE", "message of the Block screen", &c.Decision.BlockMessage},
		{"decision.unavailable_title", "unavailable-title", "IDSHIFT_UNAVAILABLE_TITLE", "title of the Block screen when the service cannot decide", &c.Decision.UnavailableTitle},
		{"decision.unavailable_message", "unavailable-message", "IDSHIFT_UNAVAILABLE_MESSAGE", "message of that screen", &c.Decision.UnavailableMessage},
		{"decision.max_verifications", "max-verifications", "IDSHIFT_MAX_VERIFICATIONS", "concurrent hash verifications (default: the number of CPUs)", &c.Decision.MaxVerifications},
		{"allow_unsealed_secrets", "allow-unsealed-secrets", "IDSHIFT_ALLOW_UNSEALED_SECRETS", "PostgreSQL store without a store key: legacy password hashes UNSEALED in the shared database", &c.AllowUnsealedSecrets},
		{"guard.redis", "guard-redis", "IDSHIFT_REDIS_URL", "Redis URL of the brute-force guard, shared by replicas (default: in memory)", &c.Guard.Redis},
		{"dashboard.enabled", "dashboard", "IDSHIFT_DASHBOARD", "serve the migration's figures at /dashboard on the admin listener (needs --dashboard-password-file)", &c.Dashboard.Enabled},
		{"dashboard.password_file", "dashboard-password-file", "IDSHIFT_DASHBOARD_PASSWORD_FILE", "file holding the dashboard's password (user " + dashboard.User + "), or its bcrypt or argon2id hash", &c.Dashboard.PasswordFile},
		{"dashboard.refresh", "dashboard-refresh", "IDSHIFT_DASHBOARD_REFRESH", "how often the dashboard reloads its figures (default 30s)", &c.Dashboard.Refresh},
	}
	bs = append(bs, c.Harvest.bindings()...)
	return append(bs, c.Hashes.bindings()...)
}

var serveHelp = help{
	usage: "idshift serve [flags]",
	about: `The password-migration service. Answers Entra External ID's OnPasswordSubmit custom authentication extension
(POST /entra) and the harvest call of a legacy front end (POST /harvest) by checking the typed password against the
user's legacy credential in the state store, behind a brute-force guard. Health, readiness and Prometheus metrics
are served on a separate admin listener, and with --dashboard a page of the migration's figures behind a password
of its own. Users without an imported hash are checked live at their legacy system (LDAP, a signed webhook, an
OpenID Connect password grant such as Azure AD B2C's ROPC, Cognito) when the file configures verifiers: per source.
The first Ctrl-C stops accepting and lets calls in flight finish; a second exits at once. See docs/serve.md.`,
	examples: []example{
		{"behind a TLS-terminating proxy, state in SQLite, keys from 'idshift tenant setup'",
			"idshift serve --insecure-http-behind-proxy --listen 127.0.0.1:8080 --store idshift-state.db \\\n    --authority https://contoso.ciamlogin.com/$TENANT_ID/v2.0 --audiences $EXTENSION_APP_ID \\\n    --decryption-certs ext.crt --decryption-keys ext.key"},
		{"two replicas sharing PostgreSQL and the guard's counters in Redis (store key from $IDSHIFT_STORE_KEY)",
			"idshift serve --config serve.yaml --store postgres://idshift@db/idshift --guard-redis redis://cache:6379/0"},
		{"the harvest front only, for an Azure AD B2C custom policy calling with HTTP basic",
			"idshift serve --config serve.yaml --harvest-basic-user b2c --harvest-basic-password \"$SECRET\""},
		{"the dashboard at http://127.0.0.1:9090/dashboard (user admin; the file holds a password or its bcrypt hash)",
			"idshift serve --config serve.yaml --dashboard --dashboard-password-file /etc/idshift/dashboard.pass"},
	},
	groups: []flagGroup{
		{"Listeners", []string{"config", "listen", "admin-listen", "tls-cert", "tls-key", "insecure-http-behind-proxy", "shutdown-grace"}},
		{"State and guard", []string{"store", "allow-unsealed-secrets", "guard-redis"}},
		{"Dashboard (on the admin listener, off by default)", []string{"dashboard", "dashboard-password-file", "dashboard-refresh"}},
		{"Entra's OnPasswordSubmit extension", []string{"authority", "issuers", "audiences", "decryption-certs", "decryption-keys",
			"context-audiences", "context-issuers", "entra-ca-file", "action-namespace"}},
		{"The decision", []string{"timeout", "margin", "try-later", "block-title", "block-message", "unavailable-title",
			"unavailable-message", "max-verifications"}},
		{"Harvest: callers", []string{"harvest-bearer-secrets", "harvest-basic-user", "harvest-basic-password", "harvest-client-certs",
			"harvest-client-ca", "harvest-plain-errors"}},
		{"Harvest: the tenant (its own app registration)", []string{"harvest-domain", "harvest-tenant-id", "harvest-client-id",
			"harvest-client-secret", "harvest-client-certificate", "harvest-graph-url", "harvest-authority-host", "harvest-ca-file",
			"harvest-extensions-app-id", "harvest-migration-attribute", "harvest-disable-strong-password"}},
		{"Hashes", hashFormatFlags},
		{"Limits (cost caps of legacy hashes)", hashCapFlags},
	},
}

// loadServeConfig reads the file (strictly: an unknown key is an error naming it, its line and the nearest valid
// key), then the environment.
func loadServeConfig(path string, c *ServeConfig, getenv func(string) string) error {
	if c.origin == nil {
		c.origin = origins{}
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
		if len(doc.Content) > 0 {
			d := nodeDecoder{file: path, origin: c.origin}
			root, verifiers := splitKey(doc.Content[0], "verifiers")
			if err := d.decode("", root, reflect.ValueOf(c).Elem()); err != nil {
				return err
			}
			if verifiers != nil {
				if c.Verifiers, err = decodeVerifiers(d, verifiers); err != nil {
					return err
				}
			}
		}
	}
	return applyBindingsEnv(c.bindings(), getenv, c.origin)
}

// validate names the field at fault.
func (c *ServeConfig) validate() error {
	switch {
	case c.Store == "":
		return errors.New("config: store (--store): required")
	case c.Listen.Addr == "":
		return errors.New("config: listen.addr (--listen): required")
	case (c.Listen.TLSCert == "") != (c.Listen.TLSKey == ""):
		return errors.New("config: listen.tls_cert and listen.tls_key (--tls-cert, --tls-key): both or neither")
	case c.Listen.TLSCert == "" && !c.Listen.InsecureHTTP:
		return errors.New("config: listen.tls_cert/tls_key (--tls-cert, --tls-key): required, unless --insecure-http-behind-proxy (TLS ends at a proxy)")
	case c.Listen.TLSCert != "" && c.Listen.InsecureHTTP:
		return errors.New("config: listen.insecure_http_behind_proxy: not with a TLS certificate")
	case c.Entra.Authority == "" && !c.Harvest.Enabled():
		return errors.New("config: entra.authority (--authority): required (or configure the harvest front alone)")
	case c.Dashboard.Enabled && c.Dashboard.PasswordFile == "":
		return errors.New("config: dashboard.password_file (--dashboard-password-file): required with dashboard.enabled (--dashboard): the dashboard has no default password")
	case c.Dashboard.Enabled && c.Listen.Admin == "":
		return errors.New("config: dashboard.enabled (--dashboard): needs the admin listener (listen.admin, --admin-listen)")
	case c.Dashboard.Refresh != 0 && c.Dashboard.Refresh < time.Second:
		return fmt.Errorf("config: dashboard.refresh (--dashboard-refresh): %s, at least 1s", c.Dashboard.Refresh)
	}
	if c.Entra.Authority != "" {
		if len(splitList(c.Entra.Audiences)) == 0 {
			return errors.New("config: entra.audiences (--audiences): required with entra.authority")
		}
		if len(splitList(c.Entra.DecryptionCerts)) == 0 || len(splitList(c.Entra.DecryptionCerts)) != len(splitList(c.Entra.DecryptionKeys)) {
			return errors.New("config: entra.decryption_certs and entra.decryption_keys: as many certificates as keys, at least one")
		}
	}
	switch idshift.Action(c.Decision.TryLater) {
	case idshift.ActionRetry, idshift.ActionBlock:
	default:
		return fmt.Errorf("config: decision.try_later (--try-later): %q, want Retry or Block", c.Decision.TryLater)
	}
	if _, err := entra.ActionType(idshift.ActionRetry, c.Entra.Namespace); err != nil {
		return fmt.Errorf("config: entra.namespace (--action-namespace): %w", err)
	}
	if _, err := c.Hashes.options(); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(c.Verifiers)) {
		if err := c.Verifiers[name].validate("verifiers." + name); err != nil {
			return err
		}
	}
	return c.Harvest.validate()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runServe(ctx context.Context, env *Env, args []string) (int, error) {
	cfg := defaultServeConfig()
	if err := loadServeConfig(configFlag(args, env.Getenv), cfg, env.Getenv); err != nil {
		return exitFailed, err
	}
	fs := newFlagSet(env, "serve")
	serveHelp.install(fs)
	fs.String("config", "", "YAML configuration file ($IDSHIFT_CONFIG)")
	registerBindings(fs, cfg.bindings())
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if err := cfg.validate(); err != nil {
		return exitFailed, err
	}
	logger := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := serveWith(ctx, env, cfg, logger, nil); err != nil {
		return exitFailed, err
	}
	return 0, nil
}

// serving reports the listeners' addresses once they accept connections (for tests and the demo).
type serving func(public, admin net.Addr)

// serveWith runs the service until ctx ends, then shuts down gracefully: the listeners stop accepting, calls in
// flight get listen.shutdown_grace to finish, queued attempt records are written.
func serveWith(ctx context.Context, env *Env, cfg *ServeConfig, logger *slog.Logger, ready serving) error {
	sc := defaultConfig()
	sc.Store, sc.Hashes, sc.AllowUnsealedSecrets = cfg.Store, cfg.Hashes, cfg.AllowUnsealedSecrets
	st, err := openStore(ctx, sc, env.Getenv, logger)
	if err != nil {
		return err
	}
	defer st.Close()

	var g idshift.Guard
	// A reservation must outlive the longest decision, or a slow legacy check would see its place counted as a
	// failure while it still runs: hold it for the decision's budget and a second more, at least the default.
	gcfg := guard.Config{Hold: max(guard.DefaultHold, cfg.Decision.Timeout+time.Second)}
	if cfg.Guard.Redis != "" {
		rg, err := gcfg.OpenRedis(ctx, cfg.Guard.Redis)
		if err != nil {
			return err
		}
		defer rg.Close()
		g = rg
	} else {
		mg, err := gcfg.OpenMemory()
		if err != nil {
			return err
		}
		g = mg
		logger.Info("brute-force guard in memory: limits are per process (set guard.redis for several replicas)")
	}
	hashOpts, err := cfg.Hashes.options()
	if err != nil {
		return err
	}
	metrics := &jit.Metrics{}
	var dash *dashboard.Dashboard
	if cfg.Dashboard.Enabled {
		if dash, err = openDashboard(cfg, st, metrics, logger); err != nil {
			return err
		}
		logger.Info("dashboard on the admin listener", "path", "/dashboard", "user", dashboard.User)
	} else if cfg.Dashboard.PasswordFile != "" {
		logger.Info("dashboard off: a password file is configured but dashboard.enabled (--dashboard) is not set")
	}
	hv := &jit.HashVerifier{Store: st, Options: hashOpts}
	var verifier idshift.Verifier = hv
	var live *jit.Live
	if len(cfg.Verifiers) > 0 {
		var closeLive func()
		live, closeLive, err = openLive(cfg.Verifiers, hv, env.Getenv, logger)
		if err != nil {
			return err
		}
		defer closeLive()
		verifier = live
	}
	svc, err := jit.Config{
		Store: st, Guard: g,
		Verifier: verifier,
		Slots:    guard.SlotsConfig{Max: cfg.Decision.MaxVerifications}.Open(),
		Timeout:  cfg.Decision.Timeout, Margin: cfg.Decision.Margin,
		TryLater: idshift.Action(cfg.Decision.TryLater),
		Metrics:  metrics, Logger: logger,
	}.Open()
	if err != nil {
		return fmt.Errorf("config: decision: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Close(cctx); err != nil {
			logger.Error("closing the service", "err", err)
		}
	}()

	mux := http.NewServeMux()
	checks := []jit.ReadyCheck{{Name: "store", Check: svc.Ping}}
	if cfg.Entra.Authority != "" {
		front, auth, err := entraFront(cfg, svc, logger)
		if err != nil {
			return err
		}
		metrics.JWKS = func() (uint64, uint64) { s := auth.Tokens().Stats(); return s.Fetches, s.Failures }
		checks = append(checks,
			jit.ReadyCheck{Name: "decryption keys", Check: func(context.Context) error { return nil }}, // loaded at start, or no start
			jit.ReadyCheck{Name: "jwks", Check: func(ctx context.Context) error {
				if auth.Ready() {
					return nil
				}
				return auth.Tokens().Refresh(ctx)
			}})
		go func() {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := auth.Tokens().Refresh(rctx); err != nil {
				logger.Warn("signing keys not fetched yet; will retry on the first callout", "err", err)
			}
		}()
		mux.Handle("POST /entra", front)
	}
	if cfg.Harvest.Enabled() {
		h, err := harvestFront(ctx, cfg, env, svc, logger)
		if err != nil {
			return err
		}
		mux.Handle("POST /harvest", h)
	}
	admin := &jit.Admin{Metrics: metrics, Checks: checks, Logger: logger}
	if dash != nil {
		admin.Dashboard = dash
	}
	adminHandler := admin.Handler()
	if live != nil {
		adminHandler = withLiveMetrics(adminHandler, metrics, live)
	}

	pub := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	adm := &http.Server{Handler: adminHandler, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	if cfg.Harvest.ClientCertSHA256 != "" && cfg.Listen.TLSCert != "" {
		// Pinned fingerprints are enough: ask for a certificate without requiring a chain to a CA.
		pub.TLSConfig = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	}
	if cfg.Harvest.ClientCAFile != "" && cfg.Listen.TLSCert != "" {
		pem, err := os.ReadFile(cfg.Harvest.ClientCAFile)
		if err != nil {
			return fmt.Errorf("config: harvest.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("config: harvest.client_ca_file: no PEM certificate")
		}
		pub.TLSConfig = &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	}
	pl, err := net.Listen("tcp", cfg.Listen.Addr)
	if err != nil {
		return fmt.Errorf("listen.addr: %w", err)
	}
	var al net.Listener
	if cfg.Listen.Admin != "" {
		if al, err = net.Listen("tcp", cfg.Listen.Admin); err != nil {
			pl.Close()
			return fmt.Errorf("listen.admin: %w", err)
		}
	}
	errs := make(chan error, 2)
	go func() {
		var err error
		if cfg.Listen.TLSCert != "" {
			err = pub.ServeTLS(pl, cfg.Listen.TLSCert, cfg.Listen.TLSKey)
		} else {
			err = pub.Serve(pl)
		}
		errs <- err
	}()
	if al != nil {
		go func() { errs <- adm.Serve(al) }()
	}
	var adminAddr net.Addr
	if al != nil {
		adminAddr = al.Addr()
	}
	logger.Info("serving", "public", pl.Addr().String(), "tls", cfg.Listen.TLSCert != "", "admin", fmt.Sprint(adminAddr),
		"budget", svc.Budget().String())
	if ready != nil {
		ready(pl.Addr(), adminAddr)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down: finishing the calls in flight", "grace", cfg.Listen.ShutdownGrace.String())
	case serveErr = <-errs:
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Listen.ShutdownGrace)
	defer cancel()
	if err := pub.Shutdown(sctx); err != nil {
		logger.Warn("public listener: calls cut at shutdown", "err", err)
	}
	if err := adm.Shutdown(sctx); err != nil {
		logger.Warn("admin listener shutdown", "err", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}

// openDashboard reads the dashboard's password file and opens the dashboard over the service's store (its figures
// read offline, without counting the legacy credentials) and metrics. Errors never quote the file.
func openDashboard(cfg *ServeConfig, st idshift.Store, metrics *jit.Metrics, logger *slog.Logger) (*dashboard.Dashboard, error) {
	b, err := os.ReadFile(cfg.Dashboard.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("config: dashboard.password_file: %w", err)
	}
	defer clear(b)
	d, err := dashboard.Config{
		Status: func(ctx context.Context) (*report.Status, error) {
			return report.Read(ctx, report.Config{Store: st, SkipCredentials: true})
		},
		Metrics: metrics, Password: string(b), Refresh: cfg.Dashboard.Refresh, Logger: logger,
	}.Open()
	if err != nil {
		return nil, fmt.Errorf("config: dashboard.password_file %s: %w", cfg.Dashboard.PasswordFile, err)
	}
	return d, nil
}

// entraFront builds the OnPasswordSubmit front from the configuration.
func entraFront(cfg *ServeConfig, svc *jit.Service, logger *slog.Logger) (*jit.EntraFront, *entra.Authenticator, error) {
	certs, keys := splitList(cfg.Entra.DecryptionCerts), splitList(cfg.Entra.DecryptionKeys)
	var pairs []*entra.KeyPair
	for i := range certs {
		cb, err := os.ReadFile(certs[i])
		if err != nil {
			return nil, nil, fmt.Errorf("config: entra.decryption_certs: %w", err)
		}
		kb, err := os.ReadFile(keys[i])
		if err != nil {
			return nil, nil, fmt.Errorf("config: entra.decryption_keys: %w", err)
		}
		kp, err := entra.LoadKeyPair(cb, kb)
		clear(kb)
		if err != nil {
			return nil, nil, fmt.Errorf("config: entra.decryption_keys[%d]: %w", i, err)
		}
		pairs = append(pairs, kp)
	}
	client, err := graph.HTTPClient(cfg.Entra.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("config: entra.ca_file: %w", err)
	}
	auth, err := entra.New(entra.Config{
		Token: entra.TokenConfig{Authority: cfg.Entra.Authority, Issuers: splitList(cfg.Entra.Issuers),
			Audiences: splitList(cfg.Entra.Audiences), HTTPClient: client},
		Context: entra.ContextConfig{Keys: pairs, Audiences: splitList(cfg.Entra.ContextAudiences),
			Issuers: splitList(cfg.Entra.ContextIssuers)},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("config: entra: %w", err)
	}
	return &jit.EntraFront{
		Auth: auth, Service: svc, Namespace: cfg.Entra.Namespace,
		BlockTitle: cfg.Decision.BlockTitle, BlockMessage: cfg.Decision.BlockMessage,
		UnavailableTitle: cfg.Decision.UnavailableTitle, UnavailableMessage: cfg.Decision.UnavailableMessage,
		Logger: logger,
	}, auth, nil
}

// HarvestConfig configures the harvest front (POST /harvest). It is on when a caller secret is configured.
//
//	harvest:
//	  bearer_secrets: ""        # IDSHIFT_HARVEST_BEARER_SECRETS (comma-separated; prefer the environment)
//	  basic_user: b2c           # --harvest-basic-user, with IDSHIFT_HARVEST_BASIC_PASSWORD
//	  client_cert_sha256: ""    # --harvest-client-certs: pinned client certificate fingerprints (hex)
//	  client_ca_file: ""        # --harvest-client-ca: CAs the TLS listener asks client certificates of
//	  plain_errors: false       # --harvest-plain-errors: {"error","message"} instead of B2C's 409 contract
//	  tenant_id: …              # --harvest-tenant-id (AZURE_TENANT_ID)
//	  domain: contoso.onmicrosoft.com   # --harvest-domain: issuer of local identities
//	  client_id: …              # --harvest-client-id: its own app registration (User-PasswordProfile.ReadWrite.All
//	  certificate_path: …       #   + User Administrator), secret in IDSHIFT_HARVEST_CLIENT_SECRET
//	  graph_url: https://graph.microsoft.com
//	  authority_host: ""        # AZURE_AUTHORITY_HOST (the sandbox's)
//	  ca_file: ""               # extra CAs for Graph (the sandbox's)
//	  extensions_app_id: …      # b2c-extensions-app's appId, with
//	  migration_attribute: requiresMigration
//	  disable_strong_password: false
type HarvestConfig struct {
	BearerSecrets         string `yaml:"bearer_secrets"`
	BasicUser             string `yaml:"basic_user"`
	BasicPassword         string `yaml:"basic_password"`
	ClientCertSHA256      string `yaml:"client_cert_sha256"`
	ClientCAFile          string `yaml:"client_ca_file"`
	PlainErrors           bool   `yaml:"plain_errors"`
	TenantID              string `yaml:"tenant_id"`
	Domain                string `yaml:"domain"`
	ClientID              string `yaml:"client_id"`
	ClientSecret          string `yaml:"client_secret"`
	CertificatePath       string `yaml:"certificate_path"`
	GraphURL              string `yaml:"graph_url"`
	AuthorityHost         string `yaml:"authority_host"`
	CAFile                string `yaml:"ca_file"`
	ExtensionsAppID       string `yaml:"extensions_app_id"`
	MigrationAttribute    string `yaml:"migration_attribute"`
	DisableStrongPassword bool   `yaml:"disable_strong_password"`
}

func defaultHarvestConfig() HarvestConfig {
	return HarvestConfig{GraphURL: "https://graph.microsoft.com", MigrationAttribute: "requiresMigration"}
}

func (c *HarvestConfig) bindings() []binding {
	return []binding{
		{"harvest.bearer_secrets", "harvest-bearer-secrets", "IDSHIFT_HARVEST_BEARER_SECRETS", "bearer secrets of harvest callers, comma-separated (prefer the environment)", &c.BearerSecrets},
		{"harvest.basic_user", "harvest-basic-user", "IDSHIFT_HARVEST_BASIC_USER", "HTTP basic user of harvest callers", &c.BasicUser},
		{"harvest.basic_password", "harvest-basic-password", "IDSHIFT_HARVEST_BASIC_PASSWORD", "its password (prefer the environment)", &c.BasicPassword},
		{"harvest.client_cert_sha256", "harvest-client-certs", "IDSHIFT_HARVEST_CLIENT_CERTS", "SHA-256 fingerprints (hex) of accepted client certificates, comma-separated", &c.ClientCertSHA256},
		{"harvest.client_ca_file", "harvest-client-ca", "IDSHIFT_HARVEST_CLIENT_CA", "CA certificates (PEM) the listener asks client certificates of", &c.ClientCAFile},
		{"harvest.plain_errors", "harvest-plain-errors", "IDSHIFT_HARVEST_PLAIN_ERRORS", "refuse with {error,message} instead of B2C's 409 contract", &c.PlainErrors},
		{"harvest.tenant_id", "harvest-tenant-id", "AZURE_TENANT_ID", "tenant id", &c.TenantID},
		{"harvest.domain", "harvest-domain", "IDSHIFT_TENANT_DOMAIN", "tenant domain, issuer of local identities", &c.Domain},
		{"harvest.client_id", "harvest-client-id", "IDSHIFT_HARVEST_CLIENT_ID", "harvest's own app registration", &c.ClientID},
		{"harvest.client_secret", "harvest-client-secret", "IDSHIFT_HARVEST_CLIENT_SECRET", "its client secret (prefer the environment)", &c.ClientSecret},
		{"harvest.certificate_path", "harvest-client-certificate", "IDSHIFT_HARVEST_CLIENT_CERTIFICATE_PATH", "its client certificate, PEM or PKCS#12", &c.CertificatePath},
		{"harvest.graph_url", "harvest-graph-url", "IDSHIFT_GRAPH_URL", "Microsoft Graph base URL", &c.GraphURL},
		{"harvest.authority_host", "harvest-authority-host", "AZURE_AUTHORITY_HOST", "Entra authority host", &c.AuthorityHost},
		{"harvest.ca_file", "harvest-ca-file", "IDSHIFT_CA_FILE", "extra CA certificates (PEM) for Graph, e.g. the sandbox's", &c.CAFile},
		{"harvest.extensions_app_id", "harvest-extensions-app-id", "IDSHIFT_EXTENSIONS_APP_ID", "appId of b2c-extensions-app (the migration flag's owner)", &c.ExtensionsAppID},
		{"harvest.migration_attribute", "harvest-migration-attribute", "IDSHIFT_MIGRATION_ATTRIBUTE", "the migration flag's short name", &c.MigrationAttribute},
		{"harvest.disable_strong_password", "harvest-disable-strong-password", "IDSHIFT_DISABLE_STRONG_PASSWORD", "write harvested passwords with DisableStrongPassword", &c.DisableStrongPassword},
	}
}

// Enabled reports whether a caller secret is configured.
func (c *HarvestConfig) Enabled() bool {
	return c.BearerSecrets != "" || c.BasicUser != "" || c.ClientCertSHA256 != ""
}

func (c *HarvestConfig) validate() error {
	if !c.Enabled() {
		return nil
	}
	switch {
	case c.BasicUser != "" && c.BasicPassword == "":
		return errors.New("config: harvest.basic_password (IDSHIFT_HARVEST_BASIC_PASSWORD): required with harvest.basic_user")
	case c.Domain == "":
		return errors.New("config: harvest.domain (--harvest-domain): required by the harvest front")
	case c.ExtensionsAppID == "":
		return errors.New("config: harvest.extensions_app_id (--harvest-extensions-app-id): required by the harvest front")
	case c.MigrationAttribute == "":
		return errors.New("config: harvest.migration_attribute: required by the harvest front")
	}
	for _, s := range splitList(c.BearerSecrets) {
		if len(s) < 16 {
			return errors.New("config: harvest.bearer_secrets: each secret needs at least 16 characters")
		}
	}
	return nil
}

// harvestFront builds the harvest front and its Graph client, the import's way (openDirectory).
func harvestFront(ctx context.Context, cfg *ServeConfig, env *Env, svc *jit.Service, logger *slog.Logger) (*jit.HarvestFront, error) {
	h := cfg.Harvest
	dc := defaultConfig()
	dc.Tenant.TenantID, dc.Tenant.GraphURL, dc.Tenant.AuthorityHost, dc.Tenant.CAFile = h.TenantID, h.GraphURL, h.AuthorityHost, h.CAFile
	if h.ClientID != "" {
		dc.Tenant.Apps = []AppConfig{{ClientID: h.ClientID, ClientSecret: h.ClientSecret, CertificatePath: h.CertificatePath}}
	}
	pool, err := openDirectory(ctx, dc, env, logger)
	if err != nil {
		return nil, fmt.Errorf("harvest: %w", err)
	}
	return &jit.HarvestFront{
		Service: svc,
		Directory: &graph.Harvester{Directory: pool, Domain: h.Domain,
			FlagAttribute: graph.ExtensionName(h.ExtensionsAppID, h.MigrationAttribute), DisableStrongPassword: h.DisableStrongPassword},
		IsNotFound:     func(err error) bool { return errors.Is(err, graph.ErrNotFound) },
		IsWeakPassword: func(err error) bool { return errors.Is(err, graph.ErrPasswordComplexity) },
		BasicUser:      h.BasicUser, BasicPassword: h.BasicPassword,
		BearerSecrets:    splitList(h.BearerSecrets),
		ClientCertSHA256: splitList(h.ClientCertSHA256),
		PlainErrors:      h.PlainErrors,
		Logger:           logger,
	}, nil
}

// VerifierConfig is the live legacy check of one source (docs/verify.md), under `verifiers:` keyed by the records'
// source name: exactly one of ldap (verify/ldap.Config), webhook (verify/webhook.Config), oidc (verify/oidc.Config:
// the OpenID Connect password grant, Azure AD B2C's ROPC) or cognito (verify/cognito.Config), whose keys keep those
// packages' spelling, an optional breaker (verify.BreakerConfig: per-call timeout and circuit breaker), and
// secret_env, the environment variable holding the LDAP bindPW, the webhook secret or the OIDC/Cognito client
// secret (so the file holds none).
// Records with an imported hash are still checked against it; the live check runs for those without one.
//
//	verifiers:
//	  corp-ldap:
//	    ldap:
//	      url: ldaps://ldap.corp.example:636
//	      bindDN: cn=idshift,ou=services,dc=corp,dc=example
//	      userSearch: {baseDN: "ou=people,dc=corp,dc=example", filter: "(|(uid={name})(mail={name}))"}
//	    secret_env: IDSHIFT_CORP_LDAP_BIND_PW
//	    breaker: {timeout: 700ms, failures: 5, coolDown: 30s}
//	  shop:
//	    webhook: {url: "https://shop.example/idshift/verify", timeout: 700ms}
//	    secret_env: IDSHIFT_SHOP_WEBHOOK_SECRET
//	  b2c:
//	    oidc: {authority: "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_ROPC/v2.0", clientId: "…", responseType: "token id_token"}
//	  app-pool:
//	    cognito: {region: eu-west-1, clientId: "1example23456789"}
type VerifierConfig struct {
	LDAP      ldap.Config          `yaml:"ldap"`
	Webhook   webhook.Config       `yaml:"webhook"`
	OIDC      oidc.Config          `yaml:"oidc"`
	Cognito   cognito.Config       `yaml:"cognito"`
	Breaker   verify.BreakerConfig `yaml:"breaker"`
	SecretEnv string               `yaml:"secret_env"`

	// kind is "ldap", "webhook", "oidc" or "cognito": the one the file gave.
	kind string
}

// verifierKinds are the live checks `verifiers:` knows, by key.
var verifierKinds = []string{"ldap", "webhook", "oidc", "cognito"}

// splitKey returns a copy of the mapping n without key, and key's value (nil when absent).
func splitKey(n *yaml.Node, key string) (rest, value *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return n, nil
	}
	cp := *n
	cp.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			value = n.Content[i+1]
			continue
		}
		cp.Content = append(cp.Content, n.Content[i], n.Content[i+1])
	}
	return &cp, value
}

// decodeVerifiers reads `verifiers:` strictly: an unknown key is named with its path and line.
func decodeVerifiers(d nodeDecoder, n *yaml.Node) (map[string]VerifierConfig, error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errorf(n, "verifiers: want a mapping of source names to live checks")
	}
	out := make(map[string]VerifierConfig, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		path := "verifiers." + k.Value
		if k.Value == "" {
			return nil, d.errorf(k, "verifiers: an empty source name")
		}
		if _, dup := out[k.Value]; dup {
			return nil, d.errorf(k, "%s: given twice", path)
		}
		var vc VerifierConfig
		if err := d.decode(path, val, reflect.ValueOf(&vc).Elem()); err != nil {
			return nil, err
		}
		if val.Kind == yaml.AliasNode {
			val = val.Alias
		}
		var kinds []string
		for j := 0; j+1 < len(val.Content); j += 2 {
			if slices.Contains(verifierKinds, val.Content[j].Value) {
				kinds = append(kinds, val.Content[j].Value)
			}
		}
		if len(kinds) != 1 {
			return nil, d.errorf(val, "%s: want exactly one of %s, got %d", path, strings.Join(verifierKinds, ", "), len(kinds))
		}
		vc.kind = kinds[0]
		out[k.Value] = vc
	}
	return out, nil
}

func (c VerifierConfig) validate(path string) error {
	if !slices.Contains(verifierKinds, c.kind) {
		return fmt.Errorf("config: %s: want exactly one of %s", path, strings.Join(verifierKinds, ", "))
	}
	return nil
}

// openLive opens every configured live check and assembles the service's verifier. The returned function closes
// the checks' connections.
func openLive(vs map[string]VerifierConfig, hv *jit.HashVerifier, getenv func(string) string, logger *slog.Logger) (*jit.Live, func(), error) {
	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	var checks []jit.LiveCheck
	for _, name := range slices.Sorted(maps.Keys(vs)) {
		vc, path := vs[name], "verifiers."+name
		var secret string
		if vc.SecretEnv != "" {
			if secret = getenv(vc.SecretEnv); secret == "" {
				closeAll()
				return nil, nil, fmt.Errorf("config: %s.secret_env: $%s is unset or empty", path, vc.SecretEnv)
			}
		}
		log := logger.With("source", name, "verifier", vc.kind)
		var v idshift.Verifier
		switch vc.kind {
		case "ldap":
			c := vc.LDAP
			if secret != "" {
				c.BindPW = secret
			}
			lv, err := c.Open(log)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("config: %s.ldap: %w", path, err)
			}
			closers, v = append(closers, lv), lv
		case "webhook":
			c := vc.Webhook
			if secret != "" {
				c.Secret = secret
			}
			wv, err := c.Open(log)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("config: %s.webhook: %w", path, err)
			}
			closers, v = append(closers, wv), wv
		case "oidc":
			c := vc.OIDC
			if secret != "" {
				c.ClientSecret = secret
			}
			ov, err := c.Open(log)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("config: %s.oidc: %w", path, err)
			}
			closers, v = append(closers, ov), ov
		case "cognito":
			c := vc.Cognito
			if secret != "" {
				c.ClientSecret = secret
			}
			cv, err := c.Open(log)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("config: %s.cognito: %w", path, err)
			}
			closers, v = append(closers, cv), cv
		default:
			closeAll()
			return nil, nil, fmt.Errorf("config: %s: want exactly one of %s", path, strings.Join(verifierKinds, ", "))
		}
		bc := vc.Breaker
		bc.Logger = log
		checks = append(checks, jit.LiveCheck{Source: name, Kind: vc.kind, Verifier: v, Breaker: bc})
		log.Info("live legacy check configured")
	}
	live, err := jit.NewLive(hv, checks, nil)
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("config: verifiers: %w", err)
	}
	return live, closeAll, nil
}

// withLiveMetrics serves the live checks' metrics after the service's on the admin listener's /metrics.
func withLiveMetrics(h http.Handler, m *jit.Metrics, live *jit.Live) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.WriteText(w)
		live.WriteMetrics(w)
	})
	return mux
}
