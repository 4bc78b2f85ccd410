package graph_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
)

func TestValidateUser(t *testing.T) {
	const iss = "contoso.onmicrosoft.com"
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name  string
		rules graph.Rules
		edit  func(u *graph.User)
		field string // "" = valid
	}{
		{"valid", graph.Rules{}, func(u *graph.User) {}, ""},
		{"valid federated only, no password", graph.Rules{}, func(u *graph.User) {
			u.Identities = []graph.Identity{{SignInType: "federated", Issuer: "facebook.com", IssuerAssignedID: "5eecb0cd"}}
			u.PasswordProfile = nil
		}, ""},
		{"no display name", graph.Rules{}, func(u *graph.User) { u.DisplayName = " " }, "displayName"},
		{"display name 257", graph.Rules{}, func(u *graph.User) { u.DisplayName = long(257) }, "displayName"},
		{"display name 256 ok", graph.Rules{}, func(u *graph.User) { u.DisplayName = long(256) }, ""},
		{"display name <", graph.Rules{}, func(u *graph.User) { u.DisplayName = "Ada <script>" }, "displayName"},
		{"given name 65", graph.Rules{}, func(u *graph.User) { u.GivenName = long(65) }, "givenName"},
		{"surname 65 runes", graph.Rules{}, func(u *graph.User) { u.Surname = strings.Repeat("é", 65) }, "surname"},
		{"surname 64 runes ok", graph.Rules{}, func(u *graph.User) { u.Surname = strings.Repeat("é", 64) }, ""},
		{"accented mail is a warning", graph.Rules{}, func(u *graph.User) { u.Mail = "josé@example.com" }, ""},
		{"bad mail", graph.Rules{}, func(u *graph.User) { u.Mail = "not an address" }, "mail"},
		{"bad other mail", graph.Rules{}, func(u *graph.User) { u.OtherMails = []string{"a@example.com", "b"} }, "otherMails[1]"},
		{"251 other mails is a warning", graph.Rules{}, func(u *graph.User) {
			u.OtherMails = make([]string, 251)
			for i := range u.OtherMails {
				u.OtherMails[i] = "a@example.com"
			}
		}, ""},
		{"unknown sign-in type", graph.Rules{}, func(u *graph.User) { u.Identities[1].SignInType = "phone" }, "identities[1].signInType"},
		{"custom sign-in type allowed", graph.Rules{AllowCustomSignInTypes: true}, func(u *graph.User) { u.Identities[1].SignInType = "phone" }, ""},
		{"emailAddress1 checked as email", graph.Rules{}, func(u *graph.User) { u.Identities[1].SignInType = "emailAddress1" }, "identities[1].issuerAssignedId"},
		{"email identity invalid", graph.Rules{}, func(u *graph.User) { u.Identities[0].IssuerAssignedID = "ada@" }, "identities[0].issuerAssignedId"},
		{"userName bad char", graph.Rules{}, func(u *graph.User) { u.Identities[1].IssuerAssignedID = "ada.1815" }, "identities[1].issuerAssignedId"},
		{"userName leading dash", graph.Rules{}, func(u *graph.User) { u.Identities[1].IssuerAssignedID = "-ada" }, "identities[1].issuerAssignedId"},
		{"userName 65", graph.Rules{}, func(u *graph.User) { u.Identities[1].IssuerAssignedID = long(65) }, "identities[1].issuerAssignedId"},
		{"userName 64 ok", graph.Rules{}, func(u *graph.User) { u.Identities[1].IssuerAssignedID = long(64) }, ""},
		{"empty issuer", graph.Rules{}, func(u *graph.User) { u.Identities[0].Issuer = "" }, "identities[0].issuer"},
		{"issuer 513", graph.Rules{}, func(u *graph.User) { u.Identities[0].Issuer = long(513) }, "identities[0].issuer"},
		{"duplicate identity", graph.Rules{}, func(u *graph.User) {
			u.Identities = append(u.Identities, graph.Identity{SignInType: "emailAddress", Issuer: iss, IssuerAssignedID: "ADA@example.com"})
		}, "identities[2].issuerAssignedId"},
		{"same id, different federated issuers ok", graph.Rules{}, func(u *graph.User) {
			u.Identities = append(u.Identities,
				graph.Identity{SignInType: "federated", Issuer: "facebook.com", IssuerAssignedID: "123"},
				graph.Identity{SignInType: "federated", Issuer: "google.com", IssuerAssignedID: "123"})
		}, ""},
		{"11 identities", graph.Rules{}, func(u *graph.User) {
			for i := range 9 {
				u.Identities = append(u.Identities, graph.Identity{SignInType: "federated", Issuer: "idp" + string(rune('a'+i)) + ".com", IssuerAssignedID: "x"})
			}
		}, "identities"},
		{"10 identities ok", graph.Rules{}, func(u *graph.User) {
			for i := range 8 {
				u.Identities = append(u.Identities, graph.Identity{SignInType: "federated", Issuer: "idp" + string(rune('a'+i)) + ".com", IssuerAssignedID: "x"})
			}
		}, ""},
		{"local without password", graph.Rules{}, func(u *graph.User) { u.PasswordProfile = nil }, "passwordProfile"},
		{"empty password", graph.Rules{}, func(u *graph.User) { u.PasswordProfile.Password = "" }, "passwordProfile.password"},
		{"unknown policy", graph.Rules{}, func(u *graph.User) { u.PasswordPolicies = "DisablePasswordExpiration, Whatever" }, "passwordPolicies"},
		{"both policies ok", graph.Rules{}, func(u *graph.User) { u.PasswordPolicies = "DisablePasswordExpiration, DisableStrongPassword" }, ""},
		{"extension bad name", graph.Rules{}, func(u *graph.User) { u.Extensions["extension_legacyId"] = "x" }, "extension_legacyId"},
		{"extension of another app", graph.Rules{ExtensionAppID: "01234567-89ab-cdef-0123-456789abcdef"}, func(u *graph.User) {
			u.Extensions[graph.ExtensionName("ffffffffffffffffffffffffffffffff", "x")] = true
		}, "extension_ffffffffffffffffffffffffffffffff_x"},
		{"extension of the extensions app ok", graph.Rules{ExtensionAppID: "01234567-89ab-cdef-0123-456789abcdef"}, func(u *graph.User) {}, ""},
		{"extension string 251", graph.Rules{}, func(u *graph.User) { u.Extensions[graph.ExtensionName(extApp, "legacyId")] = long(251) }, graph.ExtensionName(extApp, "legacyId")},
		{"extension string 256 configured", graph.Rules{MaxExtensionString: 256}, func(u *graph.User) { u.Extensions[graph.ExtensionName(extApp, "legacyId")] = long(256) }, ""},
		{"extension int overflow", graph.Rules{}, func(u *graph.User) { u.Extensions[graph.ExtensionName(extApp, "n")] = int64(1) << 40 }, graph.ExtensionName(extApp, "n")},
		{"extension time ok", graph.Rules{}, func(u *graph.User) { u.Extensions[graph.ExtensionName(extApp, "t")] = time.Now() }, ""},
		{"extension float", graph.Rules{}, func(u *graph.User) { u.Extensions[graph.ExtensionName(extApp, "f")] = 1.5 }, graph.ExtensionName(extApp, "f")},
		{"extension nil", graph.Rules{}, func(u *graph.User) { u.Extensions[graph.ExtensionName(extApp, "z")] = nil }, graph.ExtensionName(extApp, "z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := sampleUser()
			for i := range u.Identities {
				u.Identities[i].Issuer = iss
			}
			if tt.rules.ExtensionAppID != "" {
				u.Extensions = map[string]any{graph.ExtensionName(tt.rules.ExtensionAppID, "requiresMigration"): true}
			}
			tt.edit(u)
			err := graph.ValidateUser(u, tt.rules)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var e *idshift.Error
			if !errors.As(err, &e) || e.Code != idshift.EINVALID {
				t.Fatalf("error %v, want an EINVALID *idshift.Error", err)
			}
			if e.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", e.Field, tt.field, err)
			}
			if !errors.Is(err, idshift.ErrInvalid) {
				t.Error("errors.Is(ErrInvalid) is false")
			}
		})
	}
	if err := graph.ValidateUser(nil, graph.Rules{}); !errors.Is(err, idshift.ErrInvalid) {
		t.Errorf("nil user: %v", err)
	}
}

func TestUserWarnings(t *testing.T) {
	u := sampleUser()
	if w := graph.UserWarnings(u); len(w) != 0 {
		t.Errorf("warnings %v for a good user", w)
	}
	// More than 7 identities is neither an error nor a warning (docs/contracts.md §6.2).
	for i := range 6 {
		u.Identities = append(u.Identities, graph.Identity{SignInType: "federated", Issuer: "idp" + string(rune('a'+i)), IssuerAssignedID: "x"})
	}
	if w := graph.UserWarnings(u); len(w) != 0 {
		t.Errorf("warnings %v for 8 identities", w)
	}
	u.PasswordPolicies = ""
	u.Mail = "josé@example.com"
	u.OtherMails = make([]string, 251)
	for i := range u.OtherMails {
		u.OtherMails[i] = "a@example.com"
	}
	w := graph.UserWarnings(u)
	if len(w) != 3 || !strings.HasPrefix(w[0], "passwordPolicies") || !strings.HasPrefix(w[1], "mail") || !strings.HasPrefix(w[2], "otherMails") {
		t.Errorf("warnings %v, want passwordPolicies, mail and otherMails", w)
	}
	if err := graph.ValidateUser(u, graph.Rules{}); err != nil {
		t.Errorf("warnings must not be errors: %v", err)
	}
}
