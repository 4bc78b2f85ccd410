package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idshift/idshift/sandbox"
)

func adminClient(t *testing.T, cfg sandbox.Config) (*sandbox.Server, *rawClient) {
	t.Helper()
	s := start(t, cfg)
	return s, newRawClient(t, s, sandbox.DefaultTenantID, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
}

// registerExt creates an extension property on the b2c-extensions-app and returns its full name.
func registerExt(t *testing.T, c *rawClient, s *sandbox.Server, name, dataType string) string {
	t.Helper()
	r := c.do("POST", "/v1.0/applications/"+s.Tenant.ExtensionsAppObjectID()+"/extensionProperties",
		map[string]any{"name": name, "dataType": dataType, "targetObjects": []string{"User"}})
	if r.status != http.StatusCreated {
		t.Fatalf("create extension property: %d %s", r.status, r.raw)
	}
	want := "extension_" + s.Tenant.ExtensionsAppIDNoDashes() + "_" + name
	if r.body["name"] != want {
		t.Fatalf("extension name = %v, want %s", r.body["name"], want)
	}
	return want
}

func TestCreateUser(t *testing.T) {
	s, c := adminClient(t, sandbox.Config{DisableThrottling: true})
	ext := registerExt(t, c, s, "requiresMigration", "Boolean")
	body := localUser("ada@example.com")
	body[ext] = true
	r := c.do("POST", "/v1.0/users", body)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id, _ := r.body["id"].(string)
	if len(id) != 36 {
		t.Fatalf("id = %q", id)
	}
	if got := r.body["userPrincipalName"]; got != id+"@"+sandbox.DefaultDomain {
		t.Errorf("userPrincipalName = %v", got)
	}
	if _, ok := r.body["identities"]; ok {
		t.Errorf("identities returned without $select")
	}
	if _, ok := r.body["passwordProfile"]; ok {
		t.Errorf("passwordProfile returned")
	}
	if !s.Tenant.CheckPassword(id, "Str0ng!Passw0rd") || s.Tenant.CheckPassword(id, "other") {
		t.Errorf("password not stored as given")
	}

	t.Run("conflict", func(t *testing.T) {
		dup := localUser("ADA@example.com") // identities are unique case-insensitively
		r := c.do("POST", "/v1.0/users", dup)
		if r.status != 400 || r.errCode() != "Request_BadRequest" ||
			r.errMessage() != "Another object with the same value for property identities already exists." {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
		e := r.body["error"].(map[string]any)
		details, _ := e["details"].([]any)
		if len(details) != 1 || details[0].(map[string]any)["code"] != "ObjectConflict" || details[0].(map[string]any)["target"] != "identities" {
			t.Fatalf("details = %v", e["details"])
		}
		inner := e["innerError"].(map[string]any)
		if inner["request-id"] == "" || inner["date"] == "" {
			t.Errorf("innerError = %v", inner)
		}
	})

	t.Run("get with select", func(t *testing.T) {
		r := c.do("GET", "/v1.0/users/"+id+"?$select=id,displayName,identities,"+ext, nil)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r.body[ext] != true {
			t.Errorf("%s = %v", ext, r.body[ext])
		}
		ids, _ := r.body["identities"].([]any)
		if len(ids) != 1 || ids[0].(map[string]any)["issuerAssignedId"] != "ada@example.com" {
			t.Errorf("identities = %v", r.body["identities"])
		}
		if _, ok := r.body["mail"]; ok {
			t.Errorf("mail returned though not selected")
		}
		r = c.do("GET", "/v1.0/users/"+id, nil)
		if _, ok := r.body[ext]; ok {
			t.Errorf("extension returned without $select")
		}
		if r.body["mail"] != "ada@example.com" {
			t.Errorf("default properties: %s", r.raw)
		}
	})

	t.Run("patch", func(t *testing.T) {
		r := c.do("PATCH", "/v1.0/users/"+id, map[string]any{
			ext:                nil,
			"identities":       []any{map[string]any{"signInType": "userName", "issuer": sandbox.DefaultDomain, "issuerAssignedId": "ada1815"}},
			"passwordProfile":  map[string]any{"password": "weak", "forceChangePasswordNextSignIn": false},
			"passwordPolicies": "DisablePasswordExpiration, DisableStrongPassword",
		})
		if r.status != http.StatusNoContent || len(r.raw) != 0 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		r = c.do("GET", "/v1.0/users/"+id+"?$select=identities,"+ext, nil)
		if _, ok := r.body[ext]; ok {
			t.Errorf("extension not cleared: %s", r.raw)
		}
		ids := r.body["identities"].([]any)
		if len(ids) != 1 || ids[0].(map[string]any)["issuerAssignedId"] != "ada1815" {
			t.Errorf("identities not replaced: %v", ids)
		}
		if !s.Tenant.CheckPassword(id, "weak") {
			t.Errorf("password not changed")
		}
		// The old identity is free again.
		if r := c.do("POST", "/v1.0/users", localUser("ada@example.com")); r.status != 201 {
			t.Errorf("re-create with freed identity: %d %s", r.status, r.raw)
		}
		if r := c.do("PATCH", "/v1.0/users/"+id, map[string]any{"passwordProfile": map[string]any{"password": "weak"}, "passwordPolicies": "DisablePasswordExpiration"}); r.status != 400 {
			t.Errorf("weak password without DisableStrongPassword: %d %s", r.status, r.raw)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if r := c.do("DELETE", "/v1.0/users/"+id, nil); r.status != 204 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		r := c.do("GET", "/v1.0/users/"+id, nil)
		if r.status != 404 || r.errCode() != "Request_ResourceNotFound" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

func TestCreateUserValidation(t *testing.T) {
	s, c := adminClient(t, sandbox.Config{DisableThrottling: true})
	extB := registerExt(t, c, s, "flag", "Boolean")
	extI := registerExt(t, c, s, "count", "Integer")
	extS := registerExt(t, c, s, "legacyId", "String")
	extD := registerExt(t, c, s, "migratedAt", "DateTime")
	with := func(email string, f func(m map[string]any)) map[string]any {
		m := localUser(email)
		f(m)
		return m
	}
	ident := func(signIn, issuer, id string) map[string]any {
		return map[string]any{"signInType": signIn, "issuer": issuer, "issuerAssignedId": id}
	}
	d := sandbox.DefaultDomain
	tests := []struct {
		name     string
		body     any
		status   int
		code     string
		msgStart string
	}{
		{"valid", localUser("v1@example.com"), 201, "", ""},
		{"malformed json", `{"displayName":`, 400, "BadRequest", "Unable to read JSON request payload"},
		{"json array", `[1,2]`, 400, "BadRequest", "Unable to read JSON"},
		{"unknown property", with("x1@example.com", func(m map[string]any) { m["favouriteColour"] = "blue" }), 400, "Request_BadRequest", "Property 'favouriteColour' does not exist as a declared property or extension property."},
		{"unregistered extension", with("x2@example.com", func(m map[string]any) { m["extension_0123456789abcdef0123456789abcdef_nope"] = true }), 400, "Request_BadRequest", "Property 'extension_0123456789abcdef0123456789abcdef_nope' does not exist"},
		{"boolean extension given string", with("x3@example.com", func(m map[string]any) { m[extB] = "true" }), 400, "Request_BadRequest", "Invalid value specified for property '" + extB + "'"},
		{"integer extension too big", with("x4@example.com", func(m map[string]any) { m[extI] = json.Number("2147483648") }), 400, "Request_BadRequest", "Invalid value"},
		{"integer extension ok", with("x5@example.com", func(m map[string]any) { m[extI] = 2147483647 }), 201, "", ""},
		{"string extension too long", with("x6@example.com", func(m map[string]any) { m[extS] = strings.Repeat("a", 257) }), 400, "Request_BadRequest", "Invalid value"},
		{"string extension 256", with("x7@example.com", func(m map[string]any) { m[extS] = strings.Repeat("a", 256) }), 201, "", ""},
		{"datetime extension bad", with("x8@example.com", func(m map[string]any) { m[extD] = "yesterday" }), 400, "Request_BadRequest", "Invalid value"},
		{"datetime extension ok", with("x9@example.com", func(m map[string]any) { m[extD] = "2026-01-02T03:04:05Z" }), 201, "", ""},
		{"no displayName", with("y1@example.com", func(m map[string]any) { delete(m, "displayName") }), 400, "Request_BadRequest", "Property displayName value is required"},
		{"displayName 257", with("y2@example.com", func(m map[string]any) { m["displayName"] = strings.Repeat("d", 257) }), 400, "Request_BadRequest", "Invalid value specified for property 'displayName'"},
		{"givenName 65", with("y3@example.com", func(m map[string]any) { m["givenName"] = strings.Repeat("g", 65) }), 400, "Request_BadRequest", "Invalid value specified for property 'givenName'"},
		{"surname 64", with("y4@example.com", func(m map[string]any) { m["surname"] = strings.Repeat("s", 64) }), 201, "", ""},
		{"no password for local account", with("y5@example.com", func(m map[string]any) { delete(m, "passwordProfile") }), 400, "Request_BadRequest", "Property passwordProfile.password value is required"},
		{"weak password", with("y6@example.com", func(m map[string]any) { m["passwordProfile"] = map[string]any{"password": "password"} }), 400, "Request_BadRequest", "The specified password does not comply with password complexity requirements."},
		{"short password", with("y7@example.com", func(m map[string]any) { m["passwordProfile"] = map[string]any{"password": "Ab1!"} }), 400, "Request_BadRequest", "The specified password does not comply"},
		{"weak password allowed", with("y8@example.com", func(m map[string]any) {
			m["passwordProfile"] = map[string]any{"password": "password"}
			m["passwordPolicies"] = "DisablePasswordExpiration,DisableStrongPassword"
		}), 201, "", ""},
		{"three classes", with("y9@example.com", func(m map[string]any) { m["passwordProfile"] = map[string]any{"password": "abcdEFGH12"} }), 201, "", ""},
		{"unknown password policy", with("z1@example.com", func(m map[string]any) { m["passwordPolicies"] = "DisableEverything" }), 400, "Request_BadRequest", "Invalid value specified for property 'passwordPolicies'"},
		{"invalid email identity", with("z2@example.com", func(m map[string]any) { m["identities"] = []any{ident("emailAddress", d, "not-an-email")} }), 400, "Request_BadRequest", ""},
		{"userName bad start", with("z3@example.com", func(m map[string]any) { m["identities"] = []any{ident("userName", d, "-abc")} }), 400, "Request_BadRequest", ""},
		{"userName bad char", with("z4@example.com", func(m map[string]any) { m["identities"] = []any{ident("userName", d, "ab c")} }), 400, "Request_BadRequest", ""},
		{"userName 65", with("z5@example.com", func(m map[string]any) { m["identities"] = []any{ident("userName", d, strings.Repeat("u", 65))} }), 400, "Request_BadRequest", ""},
		{"userName ok", with("z6@example.com", func(m map[string]any) { m["identities"] = []any{ident("userName", d, "user_1-a")} }), 201, "", ""},
		{"federated without issuer", with("z7@example.com", func(m map[string]any) { m["identities"] = []any{ident("federated", "", "123")} }), 400, "Request_BadRequest", ""},
		{"federated without password", with("z8@example.com", func(m map[string]any) {
			m["identities"] = []any{ident("federated", "facebook.com", "5551234")}
			delete(m, "passwordProfile")
		}), 201, "", ""},
		{"issuer 513", with("z9@example.com", func(m map[string]any) { m["identities"] = []any{ident("federated", strings.Repeat("i", 513), "1")} }), 400, "Request_BadRequest", ""},
		{"eleven identities", with("w1@example.com", func(m map[string]any) {
			var ids []any
			for i := range 11 {
				ids = append(ids, ident("federated", "idp"+strconv.Itoa(i)+".example", "1"))
			}
			m["identities"] = ids
		}), 400, "Request_BadRequest", ""},
		{"duplicate identity in one request", with("w2@example.com", func(m map[string]any) {
			m["identities"] = []any{ident("emailAddress", d, "w2@example.com"), ident("emailAddress", d, "W2@example.com")}
		}), 400, "Request_BadRequest", "Another object with the same value for property identities already exists."},
		{"local identity with foreign issuer", with("w3@example.com", func(m map[string]any) {
			m["identities"] = []any{ident("emailAddress", "contoso.com", "w3@example.com")}
		}), 400, "Request_BadRequest", ""},
		{"wrong type displayName", with("w4@example.com", func(m map[string]any) { m["displayName"] = 42 }), 400, "Request_BadRequest", "Invalid value specified for property 'displayName'"},
		{"read-only id", with("w5@example.com", func(m map[string]any) { m["id"] = "x" }), 400, "Request_BadRequest", ""},
		{"foreign upn domain", with("w6@example.com", func(m map[string]any) { m["userPrincipalName"] = "w6@contoso.com" }), 400, "Request_BadRequest", "The domain portion of the userPrincipalName"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("POST", "/v1.0/users", tc.body)
			if r.status != tc.status || r.errCode() != tc.code || !strings.HasPrefix(r.errMessage(), tc.msgStart) {
				t.Fatalf("got %d %q %q, want %d %q %q...", r.status, r.errCode(), r.errMessage(), tc.status, tc.code, tc.msgStart)
			}
		})
	}
}

func TestListUsers(t *testing.T) {
	s, c := adminClient(t, sandbox.Config{DisableThrottling: true})
	ext := registerExt(t, c, s, "requiresMigration", "Boolean")
	ids := map[string]string{}
	for i := range 25 {
		email := fmt.Sprintf("user%02d@example.com", i)
		body := localUser(email)
		body[ext] = i%2 == 0
		body["displayName"] = fmt.Sprintf("User %02d", i)
		if i == 7 {
			body["displayName"] = "Ada Lovelace"
		}
		r := c.do("POST", "/v1.0/users", body)
		if r.status != 201 {
			t.Fatalf("create %d: %d %s", i, r.status, r.raw)
		}
		ids[email] = r.body["id"].(string)
	}
	q := func(params ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(params); i += 2 {
			v.Set(params[i], params[i+1])
		}
		return "/v1.0/users?" + v.Encode()
	}
	count := func(r response) int { return len(r.body["value"].([]any)) }

	t.Run("identity filter", func(t *testing.T) {
		r := c.do("GET", q("$filter", "identities/any(c:c/issuerAssignedId eq 'USER03@example.com' and c/issuer eq '"+sandbox.DefaultDomain+"')",
			"$select", "id,displayName,identities,"+ext), nil)
		if r.status != 200 || count(r) != 1 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		u := r.body["value"].([]any)[0].(map[string]any)
		if u["id"] != ids["user03@example.com"] || u[ext] != false || u["identities"] == nil {
			t.Fatalf("user = %v", u)
		}
		r = c.do("GET", q("$filter", "identities/any(c:c/issuerAssignedId eq 'nobody@example.com' and c/issuer eq '"+sandbox.DefaultDomain+"')"), nil)
		if r.status != 200 || count(r) != 0 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	filters := []struct {
		filter string
		want   int
	}{
		{"id eq '" + ids["user05@example.com"] + "'", 1},
		{"mail eq 'user06@example.com'", 1},
		{ext + " eq true", 13},
		{ext + " eq false", 12},
		{"startswith(displayName,'Ada')", 1},
		{"startswith(displayName,'user 1')", 10},
		{"mail eq 'user01@example.com' or mail eq 'user02@example.com'", 2},
		{"(" + ext + " eq true) and startswith(displayName,'User 0')", 5},
		{"id in ('" + ids["user01@example.com"] + "','" + ids["user02@example.com"] + "')", 2},
	}
	for _, f := range filters {
		t.Run(f.filter, func(t *testing.T) {
			r := c.do("GET", q("$filter", f.filter, "$top", "999"), nil)
			if r.status != 200 || count(r) != f.want {
				t.Fatalf("got %d with %d users, want %d: %s", r.status, len(r.body["value"].([]any)), f.want, r.raw)
			}
		})
	}
	t.Run("bad filters", func(t *testing.T) {
		for _, f := range []string{"mail eq", "mail eq 'x", "identities/any(c:c/issuer eq 'x')", "mail ne 'x'", "nosuch eq 'x'", "((((", "mail eq 'a' and"} {
			r := c.do("GET", q("$filter", f), nil)
			if r.status != 400 {
				t.Errorf("%q: %d %s", f, r.status, r.raw)
			}
		}
	})
	t.Run("paging", func(t *testing.T) {
		seen := map[string]bool{}
		next := q("$top", "10", "$select", "id,mail")
		pages := 0
		for next != "" {
			r := c.do("GET", next, nil)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			for _, v := range r.body["value"].([]any) {
				id := v.(map[string]any)["id"].(string)
				if seen[id] {
					t.Fatalf("user %s on two pages", id)
				}
				seen[id] = true
				if _, ok := v.(map[string]any)["displayName"]; ok {
					t.Fatal("$select not kept across pages")
				}
			}
			next, _ = r.body["@odata.nextLink"].(string)
			pages++
		}
		if len(seen) != 25 || pages != 3 {
			t.Fatalf("saw %d users in %d pages", len(seen), pages)
		}
	})
	t.Run("top", func(t *testing.T) {
		if r := c.do("GET", q("$top", "1000"), nil); r.status != 400 {
			t.Errorf("$top=1000: %d", r.status)
		}
		if r := c.do("GET", q("$top", "0"), nil); r.status != 400 {
			t.Errorf("$top=0: %d", r.status)
		}
		r := c.do("GET", "/v1.0/users", nil)
		if count(r) != 25 {
			t.Errorf("default page: %d", count(r))
		}
	})
	t.Run("count", func(t *testing.T) {
		r := c.do("GET", q("$count", "true", "$top", "5", "$filter", ext+" eq true"), nil, "ConsistencyLevel", "eventual")
		if r.status != 200 || r.body["@odata.count"] != json.Number("13") || count(r) != 5 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r := c.do("GET", q("$count", "true"), nil); r.status != 400 {
			t.Errorf("$count without ConsistencyLevel: %d", r.status)
		}
	})
	t.Run("select unknown", func(t *testing.T) {
		r := c.do("GET", q("$select", "id,nope"), nil)
		if r.status != 400 || r.errCode() != "BadRequest" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

func TestExtensionProperties(t *testing.T) {
	s, c := adminClient(t, sandbox.Config{})
	obj := s.Tenant.ExtensionsAppObjectID()
	r := c.do("GET", "/v1.0/applications?$filter="+url.QueryEscape("startswith(displayName,'b2c-extensions-app')"), nil)
	if r.status != 200 || len(r.body["value"].([]any)) != 1 {
		t.Fatalf("find b2c-extensions-app: %d %s", r.status, r.raw)
	}
	app := r.body["value"].([]any)[0].(map[string]any)
	if app["id"] != obj || app["appId"] != s.Tenant.ExtensionsAppID() || app["displayName"] != sandbox.ExtensionsAppDisplayName {
		t.Fatalf("app = %v", app)
	}
	r = c.do("GET", "/v1.0/applications?$filter="+url.QueryEscape("appId eq '"+s.Tenant.ExtensionsAppID()+"'"), nil)
	if len(r.body["value"].([]any)) != 1 {
		t.Fatalf("appId filter: %s", r.raw)
	}
	if r := c.do("GET", "/v1.0/applications(appId='"+s.Tenant.ExtensionsAppID()+"')", nil); r.status != 200 || r.body["id"] != obj {
		t.Fatalf("applications(appId=): %d %s", r.status, r.raw)
	}
	name := registerExt(t, c, s, "legacyId", "String")
	r = c.do("POST", "/v1.0/applications/"+obj+"/extensionProperties", map[string]any{"name": "legacyId", "dataType": "String", "targetObjects": []string{"User"}})
	if r.status != 400 || r.errMessage() != "Another object with the same value for property name already exists." {
		t.Fatalf("duplicate: %d %s", r.status, r.raw)
	}
	for _, bad := range []map[string]any{
		{"name": "x", "dataType": "Float", "targetObjects": []string{"User"}},
		{"name": "x", "dataType": "String"},
		{"name": "bad name", "dataType": "String", "targetObjects": []string{"User"}},
	} {
		if r := c.do("POST", "/v1.0/applications/"+obj+"/extensionProperties", bad); r.status != 400 {
			t.Errorf("%v: %d %s", bad, r.status, r.raw)
		}
	}
	r = c.do("GET", "/v1.0/applications/"+obj+"/extensionProperties", nil)
	if r.status != 200 || len(r.body["value"].([]any)) != 1 || r.body["value"].([]any)[0].(map[string]any)["name"] != name {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}

	t.Run("encryption key", func(t *testing.T) {
		kid := "6f2b6a4e-9c1d-4e8f-a3b2-1c0d9e8f7a6b"
		key := map[string]any{"type": "AsymmetricX509Cert", "usage": "Encrypt", "keyId": kid, "key": "MIIBszCCAVmgAwIBAgIU", "displayName": "CN=idshift"}
		if r := c.do("PATCH", "/v1.0/applications/"+obj, map[string]any{"keyCredentials": []any{key}, "tokenEncryptionKeyId": "00000000-1111-2222-3333-444444444444"}); r.status != 400 {
			t.Fatalf("mismatched tokenEncryptionKeyId: %d %s", r.status, r.raw)
		}
		if r := c.do("PATCH", "/v1.0/applications/"+obj, map[string]any{"keyCredentials": []any{key}, "tokenEncryptionKeyId": kid}); r.status != 204 {
			t.Fatalf("patch: %d %s", r.status, r.raw)
		}
		r := c.do("GET", "/v1.0/applications/"+obj, nil)
		if r.body["tokenEncryptionKeyId"] != kid {
			t.Fatalf("tokenEncryptionKeyId = %v", r.body["tokenEncryptionKeyId"])
		}
		kc := r.body["keyCredentials"].([]any)[0].(map[string]any)
		if kc["keyId"] != kid || kc["key"] != nil {
			t.Fatalf("keyCredentials = %v", kc)
		}
	})
	t.Run("organization quota", func(t *testing.T) {
		r := c.do("POST", "/v1.0/users", localUser("q@example.com"))
		if r.status != 201 {
			t.Fatal(r.status)
		}
		r = c.do("GET", "/v1.0/organization", nil)
		org := r.body["value"].([]any)[0].(map[string]any)
		q := org["directorySizeQuota"].(map[string]any)
		if q["total"] != json.Number("300000") || q["used"] != json.Number("3") { // 2 applications + 1 user
			t.Fatalf("directorySizeQuota = %v", q)
		}
		if org["id"] != sandbox.DefaultTenantID {
			t.Errorf("id = %v", org["id"])
		}
	})
}

func TestQuota(t *testing.T) {
	_, c := adminClient(t, sandbox.Config{DisableThrottling: true, Limits: sandbox.Limits{Quota: 4}})
	for i := range 3 {
		r := c.do("POST", "/v1.0/users", localUser(fmt.Sprintf("q%d@example.com", i)))
		want := 201
		if i == 2 {
			want = 403 // docs/contracts.md: Directory_QuotaExceeded is a 403
		}
		if r.status != want {
			t.Fatalf("user %d: %d %s", i, r.status, r.raw)
		}
		if want == 403 && (r.errCode() != "Directory_QuotaExceeded" || !strings.HasPrefix(r.errMessage(), "The directory object quota limit for the Tenant has been exceeded")) {
			t.Fatalf("quota error: %s", r.raw)
		}
	}
}

func TestBetaAuthenticationExtensions(t *testing.T) {
	_, c := adminClient(t, sandbox.Config{})
	ext := map[string]any{
		"@odata.type": "#microsoft.graph.onPasswordSubmitCustomExtension",
		"displayName": "idshift password migration",
		"endpointConfiguration": map[string]any{"@odata.type": "#microsoft.graph.httpRequestEndpoint",
			"targetUrl": "https://migrate.example.com/entra"},
		"authenticationConfiguration": map[string]any{"@odata.type": "#microsoft.graph.azureAdTokenAuthentication",
			"resourceId": "api://migrate.example.com/11111111-2222-3333-4444-555555555555"},
		"clientConfiguration": map[string]any{"timeoutInMilliseconds": 2000, "maximumRetries": 1},
	}
	r := c.do("POST", "/beta/identity/customAuthenticationExtensions", ext)
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	extID := r.body["id"].(string)
	listener := map[string]any{
		"@odata.type": "#microsoft.graph.onPasswordSubmitListener",
		"conditions": map[string]any{"applications": map[string]any{"includeAllApplications": false,
			"includeApplications": []any{map[string]any{"appId": "11111111-2222-3333-4444-555555555555"}}}},
		"priority": 500,
		"handler": map[string]any{"@odata.type": "#microsoft.graph.onPasswordMigrationCustomExtensionHandler",
			"migrationPropertyId": "extension_x_requiresMigration", "customExtension": map[string]any{"id": extID}},
	}
	r = c.do("POST", "/beta/identity/authenticationEventListeners", listener)
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	lid := r.body["id"].(string)
	r = c.do("GET", "/beta/identity/authenticationEventListeners/"+lid, nil)
	h, _ := r.body["handler"].(map[string]any)
	if r.status != 200 || h["customExtension"].(map[string]any)["id"] != extID {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r := c.do("GET", "/beta/identity/customAuthenticationExtensions", nil); len(r.body["value"].([]any)) != 1 {
		t.Fatalf("list: %s", r.raw)
	}
	if r := c.do("DELETE", "/beta/identity/authenticationEventListeners/"+lid, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	if r := c.do("GET", "/beta/identity/authenticationEventListeners/"+lid, nil); r.status != 404 {
		t.Fatalf("get deleted: %d", r.status)
	}
	if r := c.do("POST", "/beta/identity/customAuthenticationExtensions", map[string]any{"displayName": "x"}); r.status != 400 {
		t.Fatalf("missing @odata.type: %d", r.status)
	}
}

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, c := adminClient(t, sandbox.Config{StatePath: path})
	ext := registerExt(t, c, s, "legacyId", "String")
	body := localUser("keep@example.com")
	body[ext] = "auth0|123"
	r := c.do("POST", "/v1.0/users", body)
	if r.status != 201 {
		t.Fatal(r.status)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t2, err := sandbox.New(sandbox.Config{StatePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer t2.Close()
	users := t2.Users()
	if len(users) != 1 || users[0][ext] != "auth0|123" || users[0]["id"] != r.body["id"] {
		t.Fatalf("loaded users = %v", users)
	}
	ids := users[0]["identities"].([]any)
	if ids[0].(map[string]any)["issuerAssignedId"] != "keep@example.com" {
		t.Fatalf("identities = %v", ids)
	}
	for _, u := range users {
		for k := range u {
			if strings.Contains(strings.ToLower(k), "password") && k != "passwordPolicies" && k != "lastPasswordChangeDateTime" {
				t.Errorf("user snapshot holds %s", k)
			}
		}
	}
}

func TestConcurrentCreates(t *testing.T) {
	s, c := adminClient(t, sandbox.Config{DisableThrottling: true})
	var wg sync.WaitGroup
	errs := make(chan string, 400)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				// Every pair of workers races on the same identities: exactly one create of each wins.
				r := c.do("POST", "/v1.0/users", localUser(fmt.Sprintf("race%d-%d@example.com", w/2, i)))
				if r.status != 201 && r.status != 400 {
					errs <- fmt.Sprintf("%d %s", r.status, r.raw)
				}
				c.do("GET", "/v1.0/users?$top=5", nil)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := s.Tenant.UserCount(); n != 100 {
		t.Fatalf("UserCount = %d, want 100", n)
	}
	_ = time.Now
}
