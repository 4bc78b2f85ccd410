package graph_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/sandbox"
)

// TestTokenErrors checks that a failed token request says in one line what failed: an authority that cannot be
// reached, a Graph URL the authority does not know, a refused secret (with its AADSTS code).
func TestTokenErrors(t *testing.T) {
	e := shared(t)
	// A port nothing listens on: bind one, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String() + "/"
	l.Close()
	tests := []struct {
		name      string
		authority string
		secret    string
		scope     string
		reason    string
		want      []string
	}{
		{"refused connection", closed, sandbox.DefaultClientSecret, "https://graph.microsoft.com/.default", "unreachable",
			[]string{"cannot reach the authority " + closed, "connection refused"}},
		{"wrong Graph URL", e.srv.AuthorityHost, sandbox.DefaultClientSecret, "https://graph.example.org/.default", "resource",
			[]string{"the Graph URL https://graph.example.org does not look like Microsoft Graph", "AADSTS500011"}},
		{"wrong secret", e.srv.AuthorityHost, "not-the-secret", "https://graph.microsoft.com/.default", "refused",
			[]string{"refused the credential", "AADSTS7000215"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := graph.CredentialConfig{TenantID: sandbox.DefaultTenantID, ClientID: sandbox.DefaultClientID,
				ClientSecret: tt.secret, AuthorityHost: tt.authority, CAFile: e.caFile}
			cred, err := cc.Credential()
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{tt.scope}})
			var te *graph.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *graph.TokenError", err)
			}
			if te.Reason != tt.reason {
				t.Errorf("reason %q, want %q (%v)", te.Reason, tt.reason, te)
			}
			msg := te.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q: %s", w, msg)
				}
			}
			if strings.Contains(msg, "\n") || len(msg) > 300 {
				t.Errorf("message is not one short line: %q", msg)
			}
			if strings.Contains(msg, tt.secret) {
				t.Errorf("message reveals the secret: %s", msg)
			}
		})
	}
}
