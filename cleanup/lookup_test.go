package cleanup_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/cleanup"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/internal/testclock"
	"github.com/idshift/idshift/sandbox"
)

// TestLookupIsPaced: the look-ups take their tokens from the Pacer they are given, so 30 of them at 10 per 10 s
// wait about 29 s of its clock (all but the bucket's one-second burst); every user is counted once.
func TestLookupIsPaced(t *testing.T) {
	ctx := context.Background()
	srv, err := sandbox.Start(sandbox.Config{DisableThrottling: true}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	cred, err := graph.CredentialConfig{TenantID: srv.Tenant.TenantID(), ClientID: sandbox.DefaultClientID,
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
	clk := testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	pacer := &graph.Pacer{Limits: graph.Limits{AppWrites: 10, AppWindow: 10 * time.Second, TenantWrites: 10, TenantWindow: 10 * time.Second},
		Now: clk.Now, Sleep: clk.Sleep}
	l, err := cleanup.NewLookup(cleanup.LookupConfig{Directory: c, Domain: srv.Tenant.Domain(), Pacer: pacer, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	requests := srv.Tenant.Stats().Requests
	for i := range 30 {
		u := &idshift.User{LegacyID: fmt.Sprint(i), Line: int64(i + 2),
			Identities: []idshift.Identity{{SignInType: idshift.SignInEmail, IssuerAssignedID: fmt.Sprintf(" U%d@Example.com ", i)}}}
		if err := l.Add(ctx, "shop", u); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := l.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Users != 30 || rep.Identities != 30 || rep.Free != 30 {
		t.Fatalf("report %+v", rep)
	}
	if n := srv.Tenant.Stats().Requests - requests; n != 30 {
		t.Errorf("%d requests, want 30", n)
	}
	var slept time.Duration
	for _, d := range clk.Sleeps() {
		slept += d
	}
	if slept < 25*time.Second || slept > 35*time.Second {
		t.Errorf("the look-ups waited %v of the pacer's clock, want about 29s", slept)
	}
}
