// Package sandbox is a local emulator of a Microsoft Entra External ID tenant as reached through Microsoft Graph
// and the Entra token endpoint. It serves, on one http.Handler, the OpenID discovery document, the JWKS, the
// OAuth 2.0 client-credentials token endpoint and a subset of Microsoft Graph (users, $batch, applications and
// their extension properties, organization, and the beta custom authentication extensions and listeners), with
// Graph's documented status codes, error bodies and throttling headers. Rehearsals of a migration, the Graph
// client and the importer run against it over real HTTPS (see Start).
//
// It also signs users in as Entra External ID does (Tenant.SignIn, POST /_sandbox/signin): an account flagged
// for migration whose password does not match has the tenant's OnPasswordSubmit custom authentication extension
// called, with a bearer token from the external tenant's own issuer (Server.ExternalIssuer, ciamlogin.com-style,
// with keys of its own) and the password in a JWE, and the extension's answer is applied to the account.
//
// Example:
//
//	srv, err := sandbox.Start(sandbox.Config{}, "127.0.0.1:0")
//	if err != nil { ... }
//	defer srv.Close()
//	// azidentity: AuthorityHost srv.AuthorityHost, RootCAs srv.CertPool, DisableInstanceDiscovery true;
//	// Graph at srv.URL + "/v1.0".
//
// What differs from the real service is listed in docs/sandbox.md.
package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idshift/idshift/internal/uuid"
)

// Defaults of Config.
const (
	DefaultTenantID     = "5e3a1b7c-2f4d-4e6a-9b8c-0d1e2f3a4b5c"
	DefaultDomain       = "idshiftsandbox.onmicrosoft.com"
	DefaultClientID     = "00000000-0000-0000-0000-00000000a001"
	DefaultClientSecret = "sandbox-secret"

	// ExtensionsAppDisplayName is the display name of the application that holds the tenant's extension
	// properties, pre-created in every sandbox tenant as in every real one.
	ExtensionsAppDisplayName = "b2c-extensions-app. Do not modify. Used by AADB2C for storing user data."
	extensionsAppID          = "b2c0e7c3-5f6a-4c4d-9e1a-3c5d7e9f1a2b"
	extensionsAppObjectID    = "7d0c1e2f-3a4b-4c5d-8e6f-708192a3b4c5"

	// GraphResource is the resource (audience) of Microsoft Graph tokens.
	GraphResource = "https://graph.microsoft.com"
	graphAppID    = "00000003-0000-0000-c000-000000000000"
)

// DefaultRoles are the application roles (Graph application permissions) of an App whose Roles are empty.
var DefaultRoles = []string{
	"User.ReadWrite.All",
	"Application.ReadWrite.All",
	"CustomAuthenticationExtension.ReadWrite.All",
	"Organization.Read.All",
	"AppRoleAssignment.ReadWrite.All",
}

// App is an application registration that may obtain tokens with the client-credentials flow.
type App struct {
	// ClientID is the app's id (a GUID). Secret is its client secret; Certificates are the certificates whose
	// keys may sign client assertions (certificate credentials, PS256 or RS256). An app needs at least one.
	ClientID, Secret string
	Certificates     []*x509.Certificate
	// Roles are the Graph application permissions granted to the app (the token's roles claim). Empty means
	// DefaultRoles; an app with explicit Roles has only those.
	Roles []string
}

// Limits are the throttling limits and the directory quota. Zero fields take the documented defaults.
type Limits struct {
	// AppWrites per AppWindow per app per tenant (default 3000 per 150s).
	AppWrites int
	AppWindow time.Duration
	// TenantWrites per TenantWindow per tenant across apps (default 18000 per 300s).
	TenantWrites int
	TenantWindow time.Duration
	// Quota is the number of directory objects (users and applications) the tenant may hold (default 300000).
	Quota int
	// ResourceUnits per ResourceWindow (default 10s) per app per tenant. Zero leaves resource units unlimited;
	// ResourceUnitsBySize applies Microsoft's figures by tenant size: 3500 (< 50 users), 5000 (50–500),
	// 8000 (> 500). Costs: a GET of users or applications 2 (−1 with $select, −1 with $top < 20, at least 1);
	// any other request 1.
	ResourceUnits  int
	ResourceWindow time.Duration
}

// ResourceUnitsBySize is the Limits.ResourceUnits value for Microsoft's tenant-size-based figures.
const ResourceUnitsBySize = -1

// Faults are injected failures. Probabilities are in [0,1]; the draws come from a generator seeded with Seed, so
// a sequential run is reproducible.
type Faults struct {
	// Throttle answers 429 (with Retry-After) below the limits.
	Throttle float64
	// Error500 answers 500; Error503 answers 503, with Retry-After unless Error503NoRetryAfter.
	Error500             float64
	Error503             float64
	Error503NoRetryAfter bool
	// Slow delays the request by SlowDelay (default 2s) before it is served.
	Slow      float64
	SlowDelay time.Duration
	// Reset drops the connection (HTTP/1) or resets the stream (HTTP/2) before anything is written.
	Reset float64
	// CommitThenFail serves the request (the write happens) and then drops the response.
	CommitThenFail float64
	Seed           int64
}

// Config configures a Tenant. Its zero value is usable.
type Config struct {
	// TenantID is the tenant's GUID (default DefaultTenantID).
	TenantID string
	// Domain is the tenant's initial domain, the issuer of local identities and the domain of generated
	// userPrincipalNames (default DefaultDomain).
	Domain string
	// Apps may obtain tokens (default one app: DefaultClientID / DefaultClientSecret with DefaultRoles).
	Apps   []App
	Limits Limits
	Faults Faults
	// DisableThrottling turns the write token buckets off (faults still apply).
	DisableThrottling bool
	// DeletedItemsDelay is how long after its deletion a user shows in the deleted items (GET, list and purge
	// answer 404 or leave it out until then), as Graph's directory is eventually consistent; 0 shows it at once.
	// Tenant.DeletedUsers and the quota count it from the deletion on.
	DeletedItemsDelay time.Duration
	// StatePath, when set, is a JSON file loaded by New and written atomically by Save, Close and every
	// 30 seconds while there are changes. It holds users (without passwords), applications, extension
	// properties, custom authentication extensions and listeners.
	StatePath string
	// CalloutRootCAs are the certificate authorities the sign-in simulator trusts when it calls a custom
	// authentication extension (nil: the system's roots, as Entra requires a publicly trusted certificate).
	CalloutRootCAs *x509.CertPool
	// Now is the clock (default time.Now); tests use it to drive the token buckets.
	Now    func() time.Time
	Logger *slog.Logger
}

// Stats are counters of what the tenant served.
type Stats struct {
	// Requests counts Graph requests, each inner request of a batch included.
	Requests int64 `json:"requests"`
	// Writes counts user writes (POST, PATCH, DELETE) admitted by the throttle.
	Writes int64 `json:"writes"`
	// Throttled counts 429 answers (limits and injected faults).
	Throttled int64 `json:"throttled"`
	// Tokens counts access tokens issued.
	Tokens int64 `json:"tokens"`
	// Faults counts injected faults by kind: throttle, error500, error503, slow, reset, commitThenFail.
	Faults map[string]int64 `json:"faults"`
	// Users is the number of users now in the tenant.
	Users int `json:"users"`
	// SignIns counts the sign-in simulator's results by outcome (success, migrated, wrong_password, ...).
	SignIns map[string]int64 `json:"signIns"`
	// Callouts counts the HTTP requests sent to custom authentication extensions, retries included;
	// CalloutErrors counts the sign-ins an extension failed, by error code (docs/contracts.md §1.8).
	Callouts      int64            `json:"callouts"`
	CalloutErrors map[string]int64 `json:"calloutErrors"`
}

// Tenant is one emulated tenant. It is safe for concurrent use.
type Tenant struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	key     *rsa.PrivateKey
	kid     string
	apps    map[string]App // by client id
	limits  Limits
	thr     *throttle
	faults  *faulter
	extApp  string // appId of the b2c-extensions-app without dashes
	mu      sync.RWMutex
	dir     *directory
	dirty   atomic.Bool
	saveMu  sync.Mutex
	stop    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup

	verified  sync.Map // access token -> *claims whose signature was checked
	nVerified atomic.Int64

	nRequests, nWrites, nThrottled, nTokens atomic.Int64
	faultCounts                             sync.Map // kind -> *atomic.Int64

	issuer        externalIssuer
	base          atomic.Pointer[string] // the server's URL, set by Start
	callout       *http.Client
	nCallouts     atomic.Int64
	signInCounts  sync.Map // outcome -> *atomic.Int64
	calloutErrors sync.Map // code -> *atomic.Int64
}

// New returns a tenant configured by cfg, with the state of cfg.StatePath when that file exists.
func New(cfg Config) (*Tenant, error) {
	if cfg.TenantID == "" {
		cfg.TenantID = DefaultTenantID
	}
	if !isGUID(cfg.TenantID) {
		return nil, fmt.Errorf("sandbox: tenant id %q is not a GUID", cfg.TenantID)
	}
	cfg.TenantID = strings.ToLower(cfg.TenantID)
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	cfg.Domain = strings.ToLower(cfg.Domain)
	if len(cfg.Apps) == 0 {
		cfg.Apps = []App{{ClientID: DefaultClientID, Secret: DefaultClientSecret}}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := cfg.Limits
	if l.AppWrites <= 0 {
		l.AppWrites = 3000
	}
	if l.AppWindow <= 0 {
		l.AppWindow = 150 * time.Second
	}
	if l.TenantWrites <= 0 {
		l.TenantWrites = 18000
	}
	if l.TenantWindow <= 0 {
		l.TenantWindow = 300 * time.Second
	}
	if l.Quota <= 0 {
		l.Quota = 300000
	}
	if l.ResourceWindow <= 0 {
		l.ResourceWindow = 10 * time.Second
	}
	f := cfg.Faults
	for name, p := range map[string]float64{"throttle": f.Throttle, "error500": f.Error500, "error503": f.Error503,
		"slow": f.Slow, "reset": f.Reset, "commitThenFail": f.CommitThenFail} {
		if p < 0 || p > 1 {
			return nil, fmt.Errorf("sandbox: fault %s probability %v is not in [0,1]", name, p)
		}
	}
	t := &Tenant{
		cfg:    cfg,
		log:    cfg.Logger,
		now:    cfg.Now,
		apps:   make(map[string]App, len(cfg.Apps)),
		limits: l,
		faults: newFaulter(f),
		extApp: strings.ReplaceAll(extensionsAppID, "-", ""),
		stop:   make(chan struct{}),
	}
	t.thr = newThrottle(l, cfg.TenantID)
	t.callout = calloutClient(cfg.CalloutRootCAs)
	for i, a := range cfg.Apps {
		if !isGUID(a.ClientID) {
			return nil, fmt.Errorf("sandbox: app %d: client id %q is not a GUID", i, a.ClientID)
		}
		if a.Secret == "" && len(a.Certificates) == 0 {
			return nil, fmt.Errorf("sandbox: app %s: neither a secret nor a certificate", a.ClientID)
		}
		a.ClientID = strings.ToLower(a.ClientID)
		if len(a.Roles) == 0 {
			a.Roles = DefaultRoles
		}
		a.Roles = append([]string(nil), a.Roles...)
		t.apps[a.ClientID] = a
	}
	key, err := signingKey()
	if err != nil {
		return nil, fmt.Errorf("sandbox: signing key: %w", err)
	}
	t.key = key
	var kb [10]byte
	_, _ = rand.Read(kb[:])
	t.kid = hex.EncodeToString(kb[:])
	t.dir = newDirectory(t)
	if cfg.StatePath != "" {
		if err := t.load(cfg.StatePath); err != nil {
			return nil, err
		}
		t.wg.Add(1)
		go t.saveLoop()
	}
	return t, nil
}

// TenantID returns the tenant's GUID.
func (t *Tenant) TenantID() string { return t.cfg.TenantID }

// Domain returns the tenant's initial domain.
func (t *Tenant) Domain() string { return t.cfg.Domain }

// ExtensionsAppID returns the appId (with dashes) of the pre-created b2c-extensions-app.
func (t *Tenant) ExtensionsAppID() string { return extensionsAppID }

// ExtensionsAppIDNoDashes returns the appId of the b2c-extensions-app without dashes, as used in the names of
// extension attributes: extension_{ExtensionsAppIDNoDashes}_{name}.
func (t *Tenant) ExtensionsAppIDNoDashes() string { return t.extApp }

// ExtensionsAppObjectID returns the object id of the b2c-extensions-app (the id in /applications/{id}).
func (t *Tenant) ExtensionsAppObjectID() string { return extensionsAppObjectID }

// UserCount returns the number of users in the tenant.
func (t *Tenant) UserCount() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.dir.users)
}

// Users returns a snapshot of every user as Graph JSON objects with all their properties, identities and
// extension attributes included (never passwords), in creation order. Values are as decoded from JSON (strings,
// bools, json.Number, []any, map[string]any); the maps and identities are copies, other collections are shared
// and must not be modified.
func (t *Tenant) Users() []map[string]any {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]map[string]any, 0, len(t.dir.users))
	for _, u := range t.dir.ordered() {
		out = append(out, u.full())
	}
	return out
}

// Stats returns the tenant's counters.
func (t *Tenant) Stats() Stats {
	s := Stats{
		Requests:  t.nRequests.Load(),
		Writes:    t.nWrites.Load(),
		Throttled: t.nThrottled.Load(),
		Tokens:    t.nTokens.Load(),
		Faults:    map[string]int64{},
		Users:     t.UserCount(),
	}
	t.faultCounts.Range(func(k, v any) bool {
		s.Faults[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	s.SignIns, s.CalloutErrors = counts(&t.signInCounts), counts(&t.calloutErrors)
	s.Callouts = t.nCallouts.Load()
	return s
}

func (t *Tenant) countFault(kind string) {
	v, _ := t.faultCounts.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Close stops the periodic save and saves the state when StatePath is set. The handler keeps working.
func (t *Tenant) Close() error {
	t.stopped.Do(func() { close(t.stop) })
	t.callout.CloseIdleConnections()
	t.wg.Wait()
	if t.cfg.StatePath == "" {
		return nil
	}
	return t.Save()
}

func (t *Tenant) saveLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			if t.dirty.Load() {
				if err := t.Save(); err != nil {
					t.log.Error("sandbox: periodic save", "err", err)
				}
			}
		}
	}
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

var errNotFound = errors.New("not found")

// signingKey is the RSA key tenants sign tokens with. Generating a 2048-bit key costs about a second under the race
// detector, so one process generates it once and its tenants share it; each tenant still has its own key id and
// issuer, and a process's key never leaves its memory.
var signingKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// newGUID returns a random object or request id.
func newGUID() string { return uuid.New() }
