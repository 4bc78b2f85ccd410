package graph_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/sandbox"
)

// Integration tests: the client against the sandbox tenant over HTTPS, with azidentity's client-secret
// credential.

const (
	app2ID = "00000000-0000-0000-0000-00000000a002"
	app3ID = "00000000-0000-0000-0000-00000000a003"
)

type env struct {
	srv    *sandbox.Server
	caFile string
}

// The shared sandbox serves the tests that need no special configuration (starting one costs about a second).
var (
	sharedOnce sync.Once
	sharedEnv  *env
	sharedErr  error
	sharedDir  string
	userSeq    atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedEnv != nil {
		_ = sharedEnv.srv.Close()
	}
	if sharedDir != "" {
		_ = os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

func shared(t testing.TB) *env {
	t.Helper()
	sharedOnce.Do(func() {
		srv, err := sandbox.Start(sandbox.Config{Apps: []sandbox.App{
			{ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret},
			{ClientID: app2ID, Secret: "reader-secret", Roles: []string{"User.Read.All"}},
		}}, "127.0.0.1:0")
		if err != nil {
			sharedErr = err
			return
		}
		sharedDir, sharedErr = os.MkdirTemp("", "graph-test")
		if sharedErr != nil {
			return
		}
		e := &env{srv: srv, caFile: filepath.Join(sharedDir, "ca.pem")}
		sharedErr = srv.WriteCA(e.caFile)
		sharedEnv = e
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedEnv
}

// nextUser numbers users uniquely across the tests sharing a tenant.
func nextUser() int { return int(userSeq.Add(1)) + 1000 }

func startSandbox(t testing.TB, cfg sandbox.Config) *env {
	t.Helper()
	if cfg.Apps == nil {
		cfg.Apps = []sandbox.App{{ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret}}
	}
	srv, err := sandbox.Start(cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, caFile: ca}
}

// client builds a Client for app clientID with the real credential chain: CredentialConfig → azidentity
// ClientSecretCredential against the sandbox's authority, trusting the sandbox CA through CAFile.
func (e *env) client(t testing.TB, clientID, secret string, edit ...func(*graph.Config)) *graph.Client {
	t.Helper()
	cc := graph.CredentialConfig{TenantID: sandbox.DefaultTenantID, ClientID: clientID, ClientSecret: secret,
		AuthorityHost: e.srv.AuthorityHost, CAFile: e.caFile}
	cred, err := cc.Credential()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := graph.HTTPClient(e.caFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := graph.Config{BaseURL: e.srv.URL, Credential: cred, HTTPClient: hc, AppID: clientID,
		Backoff: graph.Backoff{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond}}
	for _, f := range edit {
		f(&cfg)
	}
	c, err := graph.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) defaultClient(t testing.TB, edit ...func(*graph.Config)) *graph.Client {
	return e.client(t, sandbox.DefaultClientID, sandbox.DefaultClientSecret, edit...)
}

// noSleep makes retries immediate (the sandbox's injected Retry-After values are real seconds).
func noSleep(c *graph.Config) {
	c.Sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
}

func (e *env) user(i int, ext map[string]any) *graph.User {
	enabled := true
	dom := e.srv.Tenant.Domain()
	return &graph.User{
		DisplayName: fmt.Sprintf("User %d", i), Mail: fmt.Sprintf("user%d@example.com", i), AccountEnabled: &enabled,
		Identities: []graph.Identity{
			{SignInType: "emailAddress", Issuer: dom, IssuerAssignedID: fmt.Sprintf("user%d@example.com", i)},
			{SignInType: "userName", Issuer: dom, IssuerAssignedID: fmt.Sprintf("user%d", i)},
		},
		PasswordProfile:  &graph.PasswordProfile{Password: fmt.Sprintf("Xk9!placeholder-%d", i)},
		PasswordPolicies: "DisablePasswordExpiration",
		Extensions:       ext,
	}
}

func TestSandboxUserLifecycle(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, sandbox.Config{})
	c := e.defaultClient(t)
	ctx := context.Background()
	tn := e.srv.Tenant

	// Find the extensions app and define the migration attribute on it.
	apps, err := c.FindApplication(ctx, "startswith(displayName,'b2c-extensions-app')")
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].AppID != tn.ExtensionsAppID() || apps[0].ID != tn.ExtensionsAppObjectID() {
		t.Fatalf("applications %+v", apps)
	}
	p, err := c.CreateExtensionProperty(ctx, apps[0].ID, graph.ExtensionProperty{Name: "requiresMigration", DataType: "Boolean"})
	if err != nil {
		t.Fatal(err)
	}
	flag := graph.ExtensionName(apps[0].AppID, "requiresMigration")
	if p.Name != flag {
		t.Errorf("extension property name %q, want %q", p.Name, flag)
	}
	if _, err := c.CreateExtensionProperty(ctx, apps[0].ID, graph.ExtensionProperty{Name: "legacyId", DataType: "String"}); err != nil {
		t.Fatal(err)
	}
	props, err := c.ListExtensionProperties(ctx, apps[0].ID)
	if err != nil || len(props) != 2 {
		t.Fatalf("extension properties %+v, %v", props, err)
	}
	legacy := graph.ExtensionName(apps[0].AppID, "legacyId")

	// Create, read back with the identities and extensions selected.
	in := e.user(1, map[string]any{flag: true, legacy: "auth0|o'brien"})
	in.Identities[0].IssuerAssignedID = "o'brien@example.com"
	if err := graph.ValidateUser(in, graph.Rules{ExtensionAppID: apps[0].AppID}); err != nil {
		t.Fatal(err)
	}
	u, err := c.CreateUser(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == "" || !strings.HasSuffix(u.UserPrincipalName, "@"+tn.Domain()) {
		t.Errorf("created %+v", u)
	}
	sel := []string{"id", "displayName", "identities", flag, legacy}
	got, err := c.GetUser(ctx, u.ID, sel)
	if err != nil {
		t.Fatal(err)
	}
	if got.Extensions[flag] != true || got.Extensions[legacy] != "auth0|o'brien" || len(got.Identities) != 2 {
		t.Errorf("read back %+v", got)
	}
	found, err := c.FindUsersByIdentity(ctx, tn.Domain(), "o'brien@example.com", sel)
	if err != nil || len(found) != 1 || found[0].ID != u.ID {
		t.Fatalf("find by identity: %+v, %v", found, err)
	}
	if none, err := c.FindUsersByIdentity(ctx, tn.Domain(), "nobody@example.com", nil); err != nil || len(none) != 0 {
		t.Errorf("find nobody: %+v, %v", none, err)
	}

	// Update: clear the flag (null), rename.
	if err := c.UpdateUser(ctx, u.ID, map[string]any{flag: nil, "displayName": "Renamed"}); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetUser(ctx, u.ID, sel)
	if err != nil || got.DisplayName != "Renamed" || got.Extensions[flag] != nil {
		t.Errorf("after update %+v, %v", got, err)
	}

	// List in pages of 2.
	for i := 2; i <= 5; i++ {
		if _, err := c.CreateUser(ctx, e.user(i, nil)); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	if err := c.ListUsers(ctx, graph.ListOptions{Select: []string{"id"}, Top: 2}, func(u *graph.User) error {
		ids = append(ids, u.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 5 || tn.UserCount() != 5 {
		t.Errorf("listed %d users, tenant has %d", len(ids), tn.UserCount())
	}

	used, total, err := c.DirectoryQuota(ctx)
	if err != nil || total != 300000 || used < 5 {
		t.Errorf("quota %d/%d, %v", used, total, err)
	}

	// Delete; then it is gone.
	if err := c.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, u.ID, nil); !errors.Is(err, graph.ErrNotFound) {
		t.Errorf("after delete: %v, want not found", err)
	}
	if err := c.DeleteUser(ctx, u.ID); !errors.Is(err, graph.ErrNotFound) {
		t.Errorf("second delete: %v, want not found", err)
	}
}

func TestSandboxTypedErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("conflict", func(t *testing.T) {
		e := shared(t)
		c := e.defaultClient(t)
		n := nextUser()
		if _, err := c.CreateUser(ctx, e.user(n, nil)); err != nil {
			t.Fatal(err)
		}
		dup := e.user(nextUser(), nil)
		dup.Identities[1].IssuerAssignedID = fmt.Sprint("user", n) // another user's userName
		_, err := c.CreateUser(ctx, dup)
		var ge *graph.Error
		if !errors.Is(err, graph.ErrConflict) || !errors.As(err, &ge) || ge.StatusCode != 400 || ge.RequestID == "" {
			t.Fatalf("err %v, want a 400 conflict with a request id", err)
		}
	})
	t.Run("weak password", func(t *testing.T) {
		e := shared(t)
		u := e.user(nextUser(), nil)
		u.PasswordProfile.Password = "abc"
		if _, err := e.defaultClient(t).CreateUser(ctx, u); !errors.Is(err, graph.ErrPasswordComplexity) {
			t.Fatalf("err %v, want password complexity", err)
		}
		// With DisableStrongPassword the same password is accepted.
		u.PasswordPolicies = "DisablePasswordExpiration, DisableStrongPassword"
		if _, err := e.defaultClient(t).CreateUser(ctx, u); err != nil {
			t.Fatalf("with DisableStrongPassword: %v", err)
		}
	})
	t.Run("quota exceeded", func(t *testing.T) {
		t.Parallel()
		e := startSandbox(t, sandbox.Config{Limits: sandbox.Limits{Quota: 4}})
		c := e.defaultClient(t)
		var err error
		n := 0
		for ; n < 10 && err == nil; n++ {
			_, err = c.CreateUser(ctx, e.user(n, nil))
		}
		if !errors.Is(err, graph.ErrQuotaExceeded) {
			t.Fatalf("err %v after %d creates, want quota exceeded", err, n)
		}
		used, total, qerr := c.DirectoryQuota(ctx)
		if qerr != nil || total != 4 || used != 4 {
			t.Errorf("quota %d/%d, %v", used, total, qerr)
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		e := shared(t)
		reader := e.client(t, app2ID, "reader-secret")
		if _, err := reader.CreateUser(ctx, e.user(nextUser(), nil)); !errors.Is(err, graph.ErrForbidden) {
			t.Fatalf("err %v, want forbidden", err)
		}
		if _, _, err := reader.DirectoryQuota(ctx); !errors.Is(err, graph.ErrForbidden) {
			t.Fatalf("quota without Organization.Read.All: %v, want forbidden", err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		e := shared(t)
		c := e.defaultClient(t)
		if _, err := c.GetUser(ctx, "0f6a2b3c-0000-4000-8000-000000000000", nil); !errors.Is(err, graph.ErrNotFound) {
			t.Fatalf("err %v, want not found", err)
		}
		if err := c.UpdateUser(ctx, "0f6a2b3c-0000-4000-8000-000000000000", map[string]any{"displayName": "x"}); !errors.Is(err, graph.ErrNotFound) {
			t.Fatalf("update: %v, want not found", err)
		}
	})
	t.Run("unauthorized", func(t *testing.T) {
		e := shared(t)
		_, err := e.client(t, sandbox.DefaultClientID, "wrong-secret").GetUser(ctx, "x", nil)
		if !errors.Is(err, graph.ErrUnauthorized) || strings.Contains(err.Error(), "wrong-secret") {
			t.Fatalf("err %v, want unauthorized without the secret in it", err)
		}
	})
	t.Run("throttled", func(t *testing.T) {
		t.Parallel()
		// The sandbox allows 2 writes per 10 s; the client's pacer is told a much higher limit and has no
		// retries, so the third create meets a real 429.
		e := startSandbox(t, sandbox.Config{Limits: sandbox.Limits{AppWrites: 2, AppWindow: 10 * time.Second}})
		c := e.defaultClient(t, func(c *graph.Config) {
			c.MaxRetries = -1
			c.Pacing = graph.NewPacer(graph.Limits{AppWrites: 1000, AppWindow: time.Second, TenantWrites: 1000, TenantWindow: time.Second})
		})
		var err error
		for i := 0; i < 3 && err == nil; i++ {
			_, err = c.CreateUser(ctx, e.user(i, nil))
		}
		var ge *graph.Error
		if !errors.Is(err, graph.ErrThrottled) || !errors.As(err, &ge) {
			t.Fatalf("err %v, want throttled", err)
		}
		if ge.RetryAfter <= 0 || ge.RetryAfter > 10*time.Second || !strings.HasPrefix(ge.ThrottleScope, "Tenant_Application/") || ge.ThrottleInfo == "" {
			t.Errorf("throttle details: retryAfter %v scope %q info %q", ge.RetryAfter, ge.ThrottleScope, ge.ThrottleInfo)
		}
	})
}

func TestSandboxCommitThenFail(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, sandbox.Config{Faults: sandbox.Faults{CommitThenFail: 1, Seed: 1}})
	c := e.defaultClient(t, noSleep)
	ctx := context.Background()
	_, err := c.CreateUser(ctx, e.user(1, nil))
	if !errors.Is(err, graph.ErrUnknownOutcome) {
		t.Fatalf("err %v, want unknown outcome", err)
	}
	// The user really exists, and the create was not sent twice.
	users := e.srv.Tenant.Users()
	if len(users) != 1 || users[0]["displayName"] != "User 1" {
		t.Fatalf("tenant users %v", users)
	}
	// A batch whose answer is lost: every item is unknown, every user exists.
	res := c.CreateUsers(ctx, []*graph.User{e.user(2, nil), e.user(3, nil), e.user(4, nil)})
	for i, r := range res {
		if !errors.Is(r.Err, graph.ErrUnknownOutcome) {
			t.Errorf("item %d: %v, want unknown outcome", i, r.Err)
		}
	}
	if n := e.srv.Tenant.UserCount(); n != 4 {
		t.Errorf("tenant has %d users, want 4", n)
	}
	// An idempotent PATCH is retried through the same fault until retries run out, and has been applied.
	id, _ := users[0]["id"].(string)
	err = c.UpdateUser(ctx, id, map[string]any{"displayName": "Patched"})
	if err == nil || errors.Is(err, graph.ErrUnknownOutcome) {
		t.Errorf("patch: %v, want a retried transport failure", err)
	}
	if got := e.srv.Tenant.Users()[0]["displayName"]; got != "Patched" {
		t.Errorf("displayName %v after the patch", got)
	}
}

func TestSandboxRetriesInjectedFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("throttle and 503 on creates", func(t *testing.T) {
		t.Parallel()
		e := startSandbox(t, sandbox.Config{DisableThrottling: true, Faults: sandbox.Faults{Throttle: 0.25, Error503: 0.25, Seed: 7}})
		c := e.defaultClient(t, noSleep, func(c *graph.Config) { c.MaxRetries = 20 })
		for i := range 20 {
			if _, err := c.CreateUser(ctx, e.user(i, nil)); err != nil {
				t.Fatalf("create %d: %v", i, err)
			}
		}
		st := e.srv.Tenant.Stats()
		if st.Users != 20 || st.Faults["throttle"] == 0 || st.Faults["error503"] == 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("500 on reads and patches", func(t *testing.T) {
		t.Parallel()
		e := startSandbox(t, sandbox.Config{DisableThrottling: true, Faults: sandbox.Faults{Error500: 0.5, Seed: 5}})
		c := e.defaultClient(t, noSleep, func(c *graph.Config) { c.MaxRetries = 30 })
		var u *graph.User
		var err error
		for i := 0; u == nil && i < 20; i++ {
			// A create meeting a 500 is an unknown outcome, never retried: try another user.
			u, err = c.CreateUser(ctx, e.user(i, nil))
			if err != nil && !errors.Is(err, graph.ErrUnknownOutcome) {
				t.Fatal(err)
			}
		}
		if u == nil {
			t.Fatal("no create got through")
		}
		for i := range 10 {
			if err := c.UpdateUser(ctx, u.ID, map[string]any{"displayName": fmt.Sprint("v", i)}); err != nil {
				t.Fatalf("patch %d: %v", i, err)
			}
			got, err := c.GetUser(ctx, u.ID, []string{"displayName"})
			if err != nil || got.DisplayName != fmt.Sprint("v", i) {
				t.Fatalf("get %d: %+v %v", i, got, err)
			}
		}
		if st := e.srv.Tenant.Stats(); st.Faults["error500"] < 5 {
			t.Errorf("only %d injected 500s", st.Faults["error500"])
		}
	})
	t.Run("500 on creates is an unknown outcome", func(t *testing.T) {
		t.Parallel()
		e := startSandbox(t, sandbox.Config{DisableThrottling: true, Faults: sandbox.Faults{Error500: 1, Seed: 3}})
		_, err := e.defaultClient(t, noSleep).CreateUser(ctx, e.user(1, nil))
		if !errors.Is(err, graph.ErrUnknownOutcome) {
			t.Fatalf("err %v, want unknown outcome", err)
		}
		if st := e.srv.Tenant.Stats(); st.Faults["error500"] != 1 {
			t.Errorf("create sent %d times", st.Faults["error500"])
		}
	})
	t.Run("503 without Retry-After on a read is retried", func(t *testing.T) {
		t.Parallel()
		e := startSandbox(t, sandbox.Config{DisableThrottling: true, Faults: sandbox.Faults{Error503: 0.5, Error503NoRetryAfter: true, Seed: 11}})
		c := e.defaultClient(t, noSleep, func(c *graph.Config) { c.MaxRetries = 20 })
		for range 10 {
			if _, _, err := c.DirectoryQuota(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestSandboxBatchOver20WithInnerThrottles(t *testing.T) {
	t.Parallel()
	// The sandbox admits 40 writes per second; the client's pacer believes in far more, so inner 429s come back
	// and are retried until every user is created.
	e := startSandbox(t, sandbox.Config{Limits: sandbox.Limits{AppWrites: 40, AppWindow: time.Second}})
	// Each round of retries waits only the sandbox's short Retry-After, so allow many rounds.
	c := e.defaultClient(t, func(c *graph.Config) {
		c.MaxRetries = 100
		c.Pacing = graph.NewPacer(graph.Limits{AppWrites: 10000, AppWindow: time.Second, TenantWrites: 10000, TenantWindow: time.Second})
	})
	in := make([]*graph.User, 50)
	for i := range in {
		in[i] = e.user(i, nil)
	}
	res := c.CreateUsers(context.Background(), in)
	for i, r := range res {
		if r.Err != nil || r.User == nil || r.User.DisplayName != fmt.Sprintf("User %d", i) {
			t.Fatalf("item %d: %+v", i, r)
		}
	}
	st := e.srv.Tenant.Stats()
	if st.Users != 50 || st.Throttled == 0 {
		t.Errorf("stats %+v: want 50 users and some inner 429s", st)
	}
}

func TestSandboxPacedWithoutThrottling(t *testing.T) {
	t.Parallel()
	// Same limits on both sides: the pacer keeps the client under the ceiling, so no 429 at all.
	lim := sandbox.Limits{AppWrites: 100, AppWindow: time.Second, TenantWrites: 300, TenantWindow: time.Second}
	e := startSandbox(t, sandbox.Config{Limits: lim})
	c := e.defaultClient(t, func(c *graph.Config) {
		c.Pacing = graph.NewPacer(graph.Limits{AppWrites: 100, AppWindow: time.Second, TenantWrites: 300, TenantWindow: time.Second})
	})
	in := make([]*graph.User, 220)
	for i := range in {
		in[i] = e.user(i, nil)
	}
	start := time.Now()
	res := c.CreateUsers(context.Background(), in)
	el := time.Since(start)
	t.Logf("220 creates in %v", el)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	if st := e.srv.Tenant.Stats(); st.Throttled != 0 || st.Users != 220 {
		t.Errorf("stats %+v, want no 429", st)
	}
	// 50 at once (half a window), then 170 at 100/s.
	if el < 1500*time.Millisecond || el > 6*time.Second {
		t.Errorf("took %v, want about 1.7s", el)
	}
}

func TestSandboxPool(t *testing.T) {
	t.Parallel()
	apps := []sandbox.App{
		{ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret},
		{ClientID: app2ID, Secret: "secret-2"},
		{ClientID: app3ID, Secret: "secret-3"},
	}
	e := startSandbox(t, sandbox.Config{Apps: apps, Limits: sandbox.Limits{AppWrites: 40, AppWindow: time.Second, TenantWrites: 90, TenantWindow: time.Second}})
	pacer := graph.NewPacer(graph.Limits{AppWrites: 40, AppWindow: time.Second, TenantWrites: 90, TenantWindow: time.Second})
	var clients []*graph.Client
	for _, a := range apps {
		clients = append(clients, e.client(t, a.ClientID, a.Secret, func(c *graph.Config) { c.Pacing = pacer }))
	}
	pool := graph.NewPool(clients...)
	ctx := context.Background()
	in := make([]*graph.User, 240)
	for i := range in {
		in[i] = e.user(i, nil)
	}
	start := time.Now()
	// Half through CreateUsers, half through CreateUser from several goroutines.
	res := pool.CreateUsers(ctx, in[:120])
	var wg sync.WaitGroup
	errs := make(chan error, 120)
	for _, u := range in[120:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := pool.CreateUser(ctx, u); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	el := time.Since(start)
	t.Logf("240 creates in %v", el)
	for err := range errs {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	st := e.srv.Tenant.Stats()
	if st.Users != 240 || st.Throttled != 0 {
		t.Errorf("stats %+v, want 240 users and no 429", st)
	}
	// 45 at once (half a window), then 195 at the tenant's 90/s: about 2.2 s; one app alone would need 5.5 s.
	if el > 5*time.Second {
		t.Errorf("took %v: the pool did not add the apps up", el)
	}
	// Every app registration took part.
	for _, a := range apps {
		if avail := pacer.Available(a.ClientID); avail >= 40 {
			t.Errorf("app %s unused (available %v)", a.ClientID, avail)
		}
	}
}

func TestSandboxTenantSetup(t *testing.T) {
	e := shared(t)
	c := e.defaultClient(t)
	ctx := context.Background()
	tn := e.srv.Tenant
	ext, err := c.CreateCustomAuthenticationExtension(ctx, graph.PasswordSubmitExtension("idshift migration",
		"https://migrate.example.com/api/password", "api://migrate.example.com/"+sandbox.DefaultClientID, 2*time.Second, 1))
	if err != nil {
		t.Fatal(err)
	}
	if ext.ID() == "" {
		t.Fatalf("extension %v", ext)
	}
	flag := graph.ExtensionName(tn.ExtensionsAppID(), "setupFlag")
	if _, err := c.CreateExtensionProperty(ctx, tn.ExtensionsAppObjectID(), graph.ExtensionProperty{Name: "setupFlag", DataType: "Boolean"}); err != nil {
		t.Fatal(err)
	}
	l, err := c.CreateAuthenticationEventListener(ctx, graph.PasswordSubmitListener(sandbox.DefaultClientID, flag, ext.ID(), 500))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetAuthenticationEventListener(ctx, l.ID())
	if err != nil || got.ID() != l.ID() {
		t.Fatalf("get listener %v, %v", got, err)
	}
	if gx, err := c.GetCustomAuthenticationExtension(ctx, ext.ID()); err != nil || gx["displayName"] != "idshift migration" {
		t.Fatalf("get extension %v, %v", gx, err)
	}
	if err := c.DeleteAuthenticationEventListener(ctx, l.ID()); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteCustomAuthenticationExtension(ctx, ext.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCustomAuthenticationExtension(ctx, ext.ID()); !errors.Is(err, graph.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	// The token encryption key on the app.
	apps, err := c.FindApplication(ctx, "appId eq "+graph.Quote(tn.ExtensionsAppID()))
	if err != nil || len(apps) != 1 {
		t.Fatalf("find app: %v %v", apps, err)
	}
	keyID := "6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f"
	err = c.UpdateApplication(ctx, apps[0].ID, map[string]any{
		"keyCredentials":       []graph.KeyCredential{{KeyID: keyID, Type: "AsymmetricX509Cert", Usage: "Encrypt", Key: testCertDER(t)}},
		"tokenEncryptionKeyId": keyID,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSSLCertFile: without CAFile, a CA named by SSL_CERT_FILE is trusted through Go's system pool. The system
// pool is loaded once per process, so the check runs in a child process.
func TestSSLCertFile(t *testing.T) {
	if os.Getenv("GRAPH_SSL_CHILD") != "" {
		hc, err := graph.HTTPClient("")
		if err != nil {
			t.Fatal(err)
		}
		// A plain request first: it fails at once on an untrusted certificate (azidentity would retry).
		resp, err := hc.Get(os.Getenv("IDSHIFT_GRAPH_URL") + "/_sandbox/stats")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cc := graph.CredentialConfigFromEnv(os.Getenv)
		cred, err := cc.Credential()
		if err != nil {
			t.Fatal(err)
		}
		c, err := graph.New(graph.Config{BaseURL: os.Getenv("IDSHIFT_GRAPH_URL"), Credential: cred, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.DirectoryQuota(context.Background()); err != nil {
			t.Fatal(err)
		}
		return
	}
	e := shared(t)
	run := func(sslFile string) error {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSSLCertFile$", "-test.count=1")
		cmd.Env = append(os.Environ(), "GRAPH_SSL_CHILD=1", "SSL_CERT_FILE="+sslFile, "SSL_CERT_DIR="+t.TempDir(),
			"AZURE_TENANT_ID="+sandbox.DefaultTenantID, "AZURE_CLIENT_ID="+sandbox.DefaultClientID,
			"AZURE_CLIENT_SECRET="+sandbox.DefaultClientSecret, "AZURE_AUTHORITY_HOST="+e.srv.AuthorityHost,
			"IDSHIFT_GRAPH_URL="+e.srv.URL, "IDSHIFT_CA_FILE=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	if err := run(e.caFile); err != nil {
		t.Fatalf("with SSL_CERT_FILE: %v", err)
	}
	// And the same child fails without it: the trust really came from SSL_CERT_FILE.
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(empty); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v, want a certificate error", err)
	}
}

func TestCredentialConfig(t *testing.T) {
	env := map[string]string{
		"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s",
		"AZURE_CLIENT_CERTIFICATE_PATH": "/p", "AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw",
		"AZURE_AUTHORITY_HOST": "https://login.example/", "AZURE_FEDERATED_TOKEN_FILE": "/f",
		"IDSHIFT_CA_FILE": "/ca", "IDSHIFT_MANAGED_IDENTITY": "true",
	}
	got := graph.CredentialConfigFromEnv(func(k string) string { return env[k] })
	want := graph.CredentialConfig{TenantID: "t", ClientID: "c", ClientSecret: "s", CertificatePath: "/p",
		CertificatePassword: "pw", AuthorityHost: "https://login.example/", CAFile: "/ca", ManagedIdentity: true,
		WorkloadIdentity: true, FederatedTokenFile: "/f"}
	if got != want {
		t.Errorf("from env:\n got %#v\nwant %#v", got, want)
	}
	if s := fmt.Sprintf("%v %+v %#v", got, got, got); strings.Contains(s, "pw") || strings.Contains(s, "=s ") {
		t.Errorf("config printing reveals a secret: %s", s)
	}
	for _, tt := range []struct {
		name string
		c    graph.CredentialConfig
		kind string
		err  string
	}{
		{"secret", graph.CredentialConfig{TenantID: "t", ClientID: "c", ClientSecret: "s"}, "secret", ""},
		{"secret without tenant", graph.CredentialConfig{ClientID: "c", ClientSecret: "s"}, "secret", "graph: TenantID: required with a client secret"},
		{"http authority", graph.CredentialConfig{TenantID: "t", ClientID: "c", ClientSecret: "s", AuthorityHost: "http://x/"}, "secret", "graph: AuthorityHost: must be https"},
		{"missing CA file", graph.CredentialConfig{CAFile: "/nonexistent/ca.pem"}, "default", "graph: CAFile:"},
		{"certificate missing", graph.CredentialConfig{TenantID: "t", ClientID: "c", CertificatePath: "/nonexistent.pem"}, "certificate", "graph: CertificatePath:"},
		{"workload", graph.CredentialConfig{TenantID: "t", ClientID: "c", FederatedTokenFile: "/var/run/token"}, "workload", ""},
		{"managed", graph.CredentialConfig{ManagedIdentity: true, ClientID: "c"}, "managed", ""},
		{"default", graph.CredentialConfig{}, "default", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if k := tt.c.Kind(); k != tt.kind {
				t.Errorf("kind %s, want %s", k, tt.kind)
			}
			cred, err := tt.c.Credential()
			if tt.err == "" {
				if err != nil || cred == nil {
					t.Fatalf("Credential() = %v, %v", cred, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("err %v, want prefix %q", err, tt.err)
			}
		})
	}
}

func testCertDER(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idshift encryption"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
