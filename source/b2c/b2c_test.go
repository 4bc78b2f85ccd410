package b2c_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/source/b2c"
	"github.com/idshift/idshift/source/internal/readertest"
)

// legacyTenant starts the sandbox playing the B2C tenant and returns a Graph client of its app registration.
func legacyTenant(t testing.TB, edit ...func(*sandbox.Config)) (*sandbox.Server, *graph.Client) {
	t.Helper()
	cfg := sandbox.Config{Apps: []sandbox.App{{ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret}}}
	for _, f := range edit {
		f(&cfg)
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
	cred, err := graph.CredentialConfig{TenantID: sandbox.DefaultTenantID, ClientID: sandbox.DefaultClientID,
		ClientSecret: sandbox.DefaultClientSecret, AuthorityHost: srv.AuthorityHost, CAFile: ca}.Credential()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := graph.HTTPClient(ca)
	if err != nil {
		t.Fatal(err)
	}
	c, err := graph.New(graph.Config{BaseURL: srv.URL, Credential: cred, HTTPClient: hc, AppID: sandbox.DefaultClientID})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestReadThroughGraph(t *testing.T) {
	srv, c := legacyTenant(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tn := srv.Tenant
	for _, p := range []graph.ExtensionProperty{{Name: "loyaltyTier", DataType: "String"}, {Name: "newsletter", DataType: "Boolean"}, {Name: "points", DataType: "Integer"}} {
		if _, err := c.CreateExtensionProperty(ctx, tn.ExtensionsAppObjectID(), p); err != nil {
			t.Fatal(err)
		}
	}
	ext := func(n string) string { return graph.ExtensionName(tn.ExtensionsAppID(), n) }
	domain := tn.Domain()
	yes, no := true, false
	const n = 7
	for i := 1; i <= n; i++ {
		u := &graph.User{DisplayName: fmt.Sprintf("B2C %d", i), GivenName: "Bee", Surname: fmt.Sprint(i), Mail: fmt.Sprintf("b%d@example.com", i),
			OtherMails: []string{fmt.Sprintf("b%d@other.example", i)}, AccountEnabled: &yes,
			Identities:      []graph.Identity{{SignInType: "emailAddress", Issuer: domain, IssuerAssignedID: fmt.Sprintf("B%d@example.com", i)}},
			PasswordProfile: &graph.PasswordProfile{Password: fmt.Sprintf("Legacy-%d-pw!", i)},
			Extensions:      map[string]any{ext("loyaltyTier"): "gold", ext("newsletter"): i%2 == 0, ext("points"): i * 10}}
		if i == 3 {
			u.AccountEnabled = &no
			u.Identities = append(u.Identities,
				graph.Identity{SignInType: "userName", Issuer: domain, IssuerAssignedID: "bee3"},
				graph.Identity{SignInType: "federated", Issuer: "facebook.com", IssuerAssignedID: "fb-3"})
			u.Extensions = nil
		}
		if _, err := c.CreateUser(ctx, u); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	us, rs := readertest.ReadAll(t, b2c.Config{Client: c, ExtensionsAppID: tn.ExtensionsAppID(), PageSize: 3,
		Extensions: map[string]string{"loyaltyTier": "string", "newsletter": "boolean", "points": "integer"}}.Open)
	if len(rs) != 0 {
		t.Fatalf("rejects %v", rs)
	}
	if len(us) != n {
		t.Fatalf("%d users, want %d", len(us), n)
	}
	seen := map[string]*idshift.User{}
	for _, u := range us {
		if u.Source != "b2c" || u.LegacyID == "" || u.Credential.Kind != idshift.CredentialNone {
			t.Fatalf("user %+v", u)
		}
		seen[u.DisplayName] = u
	}
	for i := 1; i <= n; i++ {
		u := seen[fmt.Sprintf("B2C %d", i)]
		if u == nil {
			t.Fatalf("user %d not read", i)
		}
		if u.Mail != fmt.Sprintf("b%d@example.com", i) || len(u.OtherMails) != 1 || u.GivenName != "Bee" || u.Surname != fmt.Sprint(i) {
			t.Errorf("user %d: %+v", i, u)
		}
		id := u.Identities[0]
		if id.SignInType != idshift.SignInEmail || id.Issuer != "" || id.IssuerAssignedID != fmt.Sprintf("b%d@example.com", i) {
			t.Errorf("user %d: identity %+v", i, id)
		}
		if i == 3 {
			if !u.Disabled || len(u.Identities) != 3 || u.Identities[2].Issuer != "facebook.com" || u.Identities[2].IssuerAssignedID != "fb-3" || len(u.Extensions) != 0 {
				t.Errorf("user 3: %+v", u)
			}
			continue
		}
		if u.Disabled || u.Extensions["loyaltyTier"] != "gold" || u.Extensions["newsletter"] != (i%2 == 0) || u.Extensions["points"] != int64(i*10) {
			t.Errorf("user %d: disabled %v, extensions %#v", i, u.Disabled, u.Extensions)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := b2c.Config{Extensions: map[string]string{"x": "string"}}.Open()
	if err == nil {
		t.Fatal("extensions without the extensions app id accepted")
	}
	_, err = b2c.Config{ExtensionsAppID: "a", Extensions: map[string]string{"x": "colour"}}.Open()
	if err == nil {
		t.Fatal("an unknown extension type accepted")
	}
}

// BenchmarkGraph reads 1,000 users of the sandbox per op through Graph (pages of 999, TLS on loopback). Creating
// them, paced as writes to a tenant are, takes about 100 s before the timer starts.
func BenchmarkGraph(b *testing.B) {
	const n = 1000
	srv, c := legacyTenant(b, func(cfg *sandbox.Config) { cfg.DisableThrottling = true })
	ctx := context.Background()
	for i := range n {
		u := &graph.User{DisplayName: fmt.Sprint("User ", i), GivenName: "U", Surname: fmt.Sprint(i), Mail: fmt.Sprintf("u%d@example.com", i),
			Identities:      []graph.Identity{{SignInType: "emailAddress", Issuer: srv.Tenant.Domain(), IssuerAssignedID: fmt.Sprintf("u%d@example.com", i)}},
			PasswordProfile: &graph.PasswordProfile{Password: fmt.Sprintf("Legacy-%d-pw!", i)}}
		if _, err := c.CreateUser(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	readertest.BenchOpen(b, n, b2c.Config{Client: c}.Open)
}
