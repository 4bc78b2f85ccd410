package jit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/jit"
	"github.com/idshift/idshift/sandbox"
)

// harvestEnv is the harvest front over a real SQLite store and the in-process sandbox tenant as the Graph.
type harvestEnv struct {
	f      *fixture
	tenant *sandbox.Server
	client *graph.Client
	flag   string
	ids    map[string]string // sign-in name -> tenant object id
	srv    *httptest.Server
}

func newHarvestEnv(t *testing.T, front jit.HarvestFront) *harvestEnv {
	t.Helper()
	ctx := context.Background()
	tenant, err := sandbox.Start(sandbox.Config{}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tenant.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := tenant.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	cred, err := graph.CredentialConfig{TenantID: sandbox.DefaultTenantID, ClientID: sandbox.DefaultClientID,
		ClientSecret: sandbox.DefaultClientSecret, AuthorityHost: tenant.AuthorityHost, CAFile: ca}.Credential()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := graph.HTTPClient(ca)
	if err != nil {
		t.Fatal(err)
	}
	client, err := graph.New(graph.Config{BaseURL: tenant.URL, Credential: cred, HTTPClient: hc, AppID: sandbox.DefaultClientID,
		Backoff: graph.Backoff{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	tn := tenant.Tenant
	if _, err := client.CreateExtensionProperty(ctx, tn.ExtensionsAppObjectID(), graph.ExtensionProperty{Name: "requiresMigration", DataType: "Boolean"}); err != nil {
		t.Fatal(err)
	}
	flag := graph.ExtensionName(tn.ExtensionsAppID(), "requiresMigration")

	f := newFixture(t, guard.Config{})
	// A user whose legacy password the tenant refuses as too weak.
	weakKey := idshift.Key{Source: "legacy", LegacyID: "5"}
	if err := f.store.PutCredentials(ctx, map[idshift.Key]idshift.Credential{weakKey: {Kind: idshift.CredentialHash, Hash: hashOf(t, "weakpass", cheapCost)}}); err != nil {
		t.Fatal(err)
	}
	env := &harvestEnv{f: f, tenant: tenant, client: client, flag: flag, ids: map[string]string{}}
	accounts := map[string]idshift.Key{
		"alice@example.com":   {Source: "legacy", LegacyID: "1"},
		"bob":                 {Source: "legacy", LegacyID: "2"},
		"erin@example.com":    weakKey,
		"mallory@example.com": {}, // in the tenant, not in the store
	}
	var recs []*idshift.Record
	enabled := true
	for name, key := range accounts {
		typ := idshift.SignInEmail
		if !strings.Contains(name, "@") {
			typ = idshift.SignInUserName
		}
		u, err := client.CreateUser(ctx, &graph.User{
			DisplayName:     name,
			AccountEnabled:  &enabled,
			Identities:      []graph.Identity{{SignInType: typ, Issuer: tn.Domain(), IssuerAssignedID: name}},
			PasswordProfile: &graph.PasswordProfile{Password: "Rand0m-Import-Pass!" + name},
			Extensions:      map[string]any{flag: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		env.ids[name] = u.ID
		if key.LegacyID != "" {
			recs = append(recs, &idshift.Record{Key: key, ObjectID: u.ID, SignInNames: []string{name}, State: idshift.StateCreated})
		}
	}
	if err := f.store.PutRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	svc := f.service(t, jit.Config{Timeout: jit.MaxTimeout})
	front.Service = svc
	front.Directory = &graph.Harvester{Directory: client, Domain: tn.Domain(), FlagAttribute: flag}
	front.IsNotFound = func(err error) bool { return errors.Is(err, graph.ErrNotFound) }
	front.IsWeakPassword = func(err error) bool { return errors.Is(err, graph.ErrPasswordComplexity) }
	front.Logger = slog.New(slog.DiscardHandler)
	env.srv = httptest.NewTLSServer(&front)
	t.Cleanup(env.srv.Close)
	return env
}

func (e *harvestEnv) post(t *testing.T, body any, form bool, auth func(*http.Request)) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	ct := "application/json"
	if form {
		v := url.Values{}
		for k, x := range body.(map[string]string) {
			v.Set(k, x)
		}
		rd, ct = strings.NewReader(v.Encode()), "application/x-www-form-urlencoded"
	} else {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/harvest", rd)
	req.Header.Set("Content-Type", ct)
	if auth != nil {
		auth(req)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
}

func (e *harvestEnv) flagged(t *testing.T, name string) bool {
	t.Helper()
	u, err := e.client.GetUser(context.Background(), e.ids[name], []string{"id", e.flag})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := u.Extensions[e.flag].(bool)
	return v
}

func TestHarvest(t *testing.T) {
	const secret = "harvest-bearer-secret-0123456789"
	env := newHarvestEnv(t, jit.HarvestFront{BearerSecrets: []string{secret}, BasicUser: "b2c", BasicPassword: "basic-secret"})
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }
	basic := func(r *http.Request) { r.SetBasicAuth("b2c", "basic-secret") }

	t.Run("unauthenticated", func(t *testing.T) {
		for name, auth := range map[string]func(*http.Request){
			"none":         nil,
			"wrong bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret+"x") },
			"wrong basic":  func(r *http.Request) { r.SetBasicAuth("b2c", "basic-secret!") },
		} {
			before := env.f.work()
			code, body := env.post(t, map[string]string{"signInName": "alice@example.com", "password": "Alice-pass-1"}, false, auth)
			if code != 401 || body != nil {
				t.Errorf("%s: %d %v, want 401 and nothing else", name, code, body)
			}
			if env.f.work() != before {
				t.Errorf("%s: an unauthenticated call ran a verification", name)
			}
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		code, body := env.post(t, map[string]string{"email": "alice@example.com", "password": "nope"}, false, bearer)
		if code != 409 || body["version"] != "1.0.0" || body["status"] != float64(409) || body["userMessage"] == "" {
			t.Errorf("answer %d %v, want B2C's 409 contract", code, body)
		}
		if !env.flagged(t, "alice@example.com") {
			t.Error("a wrong password cleared the flag")
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		before := env.f.work()
		code, body := env.post(t, map[string]string{"username": "nobody@example.com", "password": "Alice-pass-1"}, false, bearer)
		if code != 409 || body["userMessage"] == "" {
			t.Errorf("answer %d %v, want 409", code, body)
		}
		if env.f.work() != before+1 {
			t.Error("an unknown user did not cost one verification")
		}
	})
	t.Run("right password", func(t *testing.T) {
		code, body := env.post(t, map[string]string{"signInName": "Alice@Example.com", "password": "Alice-pass-1"}, true, basic)
		if code != 200 || body["migrated"] != true {
			t.Fatalf("answer %d %v, want migrated", code, body)
		}
		if env.flagged(t, "alice@example.com") {
			t.Error("the flag is still set")
		}
		if !env.tenant.Tenant.CheckPassword(env.ids["alice@example.com"], "Alice-pass-1") {
			t.Error("the tenant does not hold the legacy password")
		}
		// Repeated: harmless.
		code, body = env.post(t, map[string]string{"signInName": "alice@example.com", "password": "Alice-pass-1"}, false, bearer)
		if code != 200 || body["migrated"] != false || body["reason"] != jit.ReasonMigrated {
			t.Errorf("repeated call: %d %v, want 200 already migrated", code, body)
		}
	})
	t.Run("weak password", func(t *testing.T) {
		code, body := env.post(t, map[string]string{"signInName": "erin@example.com", "password": "weakpass"}, false, bearer)
		if code != 200 || body["migrated"] != false || body["reason"] != jit.ReasonWeakPassword {
			t.Errorf("answer %d %v, want weak_password", code, body)
		}
		if !env.flagged(t, "erin@example.com") {
			t.Error("a refused password cleared the flag")
		}
	})
	t.Run("object mismatch", func(t *testing.T) {
		// Erin's record points at another account than the one holding her name: nothing is written.
		ctx := context.Background()
		rec, err := env.f.store.Record(ctx, idshift.Key{Source: "legacy", LegacyID: "5"})
		if err != nil {
			t.Fatal(err)
		}
		rec.ObjectID = env.ids["mallory@example.com"]
		if err := env.f.store.PutRecords(ctx, []*idshift.Record{rec}); err != nil {
			t.Fatal(err)
		}
		code, body := env.post(t, map[string]string{"signInName": "erin@example.com", "password": "weakpass"}, false, bearer)
		if code != 200 || body["migrated"] != false || body["reason"] != jit.ReasonObjectMismatch {
			t.Errorf("answer %d %v, want object_mismatch", code, body)
		}
		if !env.flagged(t, "mallory@example.com") || !env.flagged(t, "erin@example.com") {
			t.Error("an account was written")
		}
	})
	t.Run("must change", func(t *testing.T) {
		code, body := env.post(t, map[string]string{"signInName": "bob", "password": "Bob-pass-2"}, false, bearer)
		if code != 200 || body["migrated"] != false || body["reason"] != "must_change" {
			t.Errorf("answer %d %v, want must_change", code, body)
		}
		if !env.flagged(t, "bob") {
			t.Error("bob's flag was cleared")
		}
	})
	t.Run("bad request", func(t *testing.T) {
		code, _ := env.post(t, map[string]string{"signInName": "alice@example.com"}, false, bearer)
		if code != 400 {
			t.Errorf("no password: %d, want 400", code)
		}
	})
	if err := env.f.svc.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec, err := env.f.store.Record(context.Background(), idshift.Key{Source: "legacy", LegacyID: "1"})
	if err != nil || rec.State != idshift.StateMigrated {
		t.Errorf("alice's record after harvest: %v %v", rec, err)
	}
	if _, how, err := env.f.store.Migrated(context.Background(), rec.Key); err != nil || how != "harvest" {
		t.Errorf("alice migrated how %q (%v), want harvest", how, err)
	}
}

func TestHarvestPlainErrors(t *testing.T) {
	env := newHarvestEnv(t, jit.HarvestFront{BearerSecrets: []string{"s3cret-s3cret-s3cret"}, PlainErrors: true})
	code, body := env.post(t, map[string]string{"signInName": "alice@example.com", "password": "nope"}, false,
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-s3cret-s3cret") })
	if code != 409 || body["error"] != "invalid_credentials" || body["version"] != nil {
		t.Errorf("answer %d %v, want a plain JSON 409", code, body)
	}
}
