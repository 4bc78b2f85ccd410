package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift/graph"
)

const extApp = "0123456789abcdef0123456789abcdef"

func sampleUser() *graph.User {
	enabled := true
	return &graph.User{
		DisplayName: "Ada Lovelace", Mail: "ada@example.com", AccountEnabled: &enabled,
		Identities: []graph.Identity{
			{SignInType: "emailAddress", Issuer: "contoso.onmicrosoft.com", IssuerAssignedID: "ada@example.com"},
			{SignInType: "userName", Issuer: "contoso.onmicrosoft.com", IssuerAssignedID: "ada1815"},
		},
		PasswordProfile:  &graph.PasswordProfile{Password: "S3cret-Placeholder!x", ForceChangePasswordNextSignIn: false},
		PasswordPolicies: "DisablePasswordExpiration",
		Extensions: map[string]any{
			graph.ExtensionName(extApp, "requiresMigration"): true,
			graph.ExtensionName(extApp, "legacyId"):          "auth0|5f1c",
			graph.ExtensionName(extApp, "loginCount"):        42,
			graph.ExtensionName(extApp, "migratedAt"):        time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)),
		},
	}
}

func TestUserMarshal(t *testing.T) {
	b, err := json.Marshal(sampleUser())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"displayName":"Ada Lovelace","mail":"ada@example.com","accountEnabled":true,` +
		`"identities":[{"signInType":"emailAddress","issuer":"contoso.onmicrosoft.com","issuerAssignedId":"ada@example.com"},` +
		`{"signInType":"userName","issuer":"contoso.onmicrosoft.com","issuerAssignedId":"ada1815"}],` +
		`"passwordProfile":{"password":"S3cret-Placeholder!x","forceChangePasswordNextSignIn":false},` +
		`"passwordPolicies":"DisablePasswordExpiration",` +
		`"extension_0123456789abcdef0123456789abcdef_legacyId":"auth0|5f1c",` +
		`"extension_0123456789abcdef0123456789abcdef_loginCount":42,` +
		`"extension_0123456789abcdef0123456789abcdef_migratedAt":"2026-01-02T02:04:05Z",` +
		`"extension_0123456789abcdef0123456789abcdef_requiresMigration":true}`
	if string(b) != want {
		t.Errorf("marshal:\n got %s\nwant %s", b, want)
	}
	// Deterministic: the importer digests this encoding.
	for range 20 {
		b2, _ := json.Marshal(sampleUser())
		if !bytes.Equal(b, b2) {
			t.Fatal("marshal is not deterministic")
		}
	}
	// Value and pointer marshal alike; no extensions, no trailing comma.
	if b, _ := json.Marshal(graph.User{}); string(b) != "{}" {
		t.Errorf("empty user = %s", b)
	}
	if b, _ := json.Marshal(graph.User{Extensions: map[string]any{graph.ExtensionName(extApp, "x"): nil}}); string(b) != `{"extension_0123456789abcdef0123456789abcdef_x":null}` {
		t.Errorf("only extensions = %s", b)
	}
}

func TestUserMarshalRejects(t *testing.T) {
	for name, ext := range map[string]map[string]any{
		"bad name":     {"legacyId": "x"},
		"bad type":     {graph.ExtensionName(extApp, "x"): []int{1}},
		"not a number": {graph.ExtensionName(extApp, "x"): math.NaN()},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := json.Marshal(&graph.User{Extensions: ext}); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestUserUnmarshal(t *testing.T) {
	in := `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users/$entity","id":"0f6a2b3c-1111-4000-8000-000000000001",
	"userPrincipalName":"0f6a2b3c@contoso.onmicrosoft.com","displayName":"Ada","businessPhones":[],"accountEnabled":false,
	"identities":[{"signInType":"emailAddress","issuer":"contoso.onmicrosoft.com","issuerAssignedId":"ada@example.com"}],
	"extension_0123456789abcdef0123456789abcdef_requiresMigration":true,
	"extension_0123456789abcdef0123456789abcdef_loginCount":42,
	"extension_0123456789abcdef0123456789abcdef_legacyId":"auth0|5f1c",
	"extension_0123456789abcdef0123456789abcdef_cleared":null}`
	var u graph.User
	if err := json.Unmarshal([]byte(in), &u); err != nil {
		t.Fatal(err)
	}
	if u.ID != "0f6a2b3c-1111-4000-8000-000000000001" || u.AccountEnabled == nil || *u.AccountEnabled || len(u.Identities) != 1 {
		t.Errorf("user %+v", u)
	}
	want := map[string]any{
		graph.ExtensionName(extApp, "requiresMigration"): true,
		graph.ExtensionName(extApp, "loginCount"):        int64(42),
		graph.ExtensionName(extApp, "legacyId"):          "auth0|5f1c",
	}
	if fmt.Sprint(u.Extensions) != fmt.Sprint(want) {
		t.Errorf("extensions %v, want %v", u.Extensions, want)
	}
	// Round trip through our own encoding.
	b, _ := json.Marshal(sampleUser())
	var back graph.User
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.DisplayName != "Ada Lovelace" || len(back.Extensions) != 4 || back.Extensions[graph.ExtensionName(extApp, "migratedAt")] != "2026-01-02T02:04:05Z" {
		t.Errorf("round trip %+v", back)
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	u := sampleUser()
	secret := u.PasswordProfile.Password
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("user", "user", u, "profile", u.PasswordProfile, "value", *u.PasswordProfile)
	outs := []string{
		fmt.Sprint(u.PasswordProfile), fmt.Sprintf("%v", *u.PasswordProfile), fmt.Sprintf("%+v", *u.PasswordProfile),
		fmt.Sprintf("%#v", *u.PasswordProfile), fmt.Sprintf("%+v", u), fmt.Sprintf("%#v", u.PasswordProfile), logs.String(),
	}
	for i, s := range outs {
		if strings.Contains(s, secret) {
			t.Errorf("output %d reveals the password: %s", i, s)
		}
	}
	if !strings.Contains(outs[0], "[redacted]") {
		t.Errorf("String() = %q, want a redaction marker", outs[0])
	}
}

func BenchmarkMarshalUser(b *testing.B) {
	u := sampleUser()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(u); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalUser(b *testing.B) {
	data, _ := json.Marshal(sampleUser())
	b.ReportAllocs()
	for b.Loop() {
		var u graph.User
		if err := json.Unmarshal(data, &u); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzUserUnmarshal: any Graph answer either decodes or fails cleanly, and what decodes marshals again.
func FuzzUserUnmarshal(f *testing.F) {
	b, _ := json.Marshal(sampleUser())
	f.Add(b)
	f.Add([]byte(`{"id":"x","extension_0123456789abcdef0123456789abcdef_n":1.5e3}`))
	f.Add([]byte(`{"extension_0123456789abcdef0123456789abcdef_a":[1,{"b":null}]}`))
	f.Add([]byte(`{"identities":null,"passwordProfile":{"password":null}}`))
	f.Add([]byte(`{"extension_0123456789abcdef0123456789abcdef_f":1.5}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var u graph.User
		if err := json.Unmarshal(data, &u); err != nil {
			return
		}
		for k := range u.Extensions {
			if !strings.HasPrefix(k, graph.ExtensionPrefix) {
				t.Fatalf("extension %q without the prefix", k)
			}
		}
		// Arrays and objects (which Graph never sends as extension values) do not marshal back; the rest does.
		for _, v := range u.Extensions {
			switch v.(type) {
			case []any, map[string]any:
				return
			}
		}
		if _, err := json.Marshal(&u); err != nil {
			t.Fatalf("decoded user does not marshal: %v", err)
		}
	})
}
