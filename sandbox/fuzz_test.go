package sandbox_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/idshift/idshift/sandbox"
)

// FuzzUserJSON sends arbitrary bodies to the user create and update handlers and arbitrary $filter and $select
// strings to the list handler: the answer is always a well-formed Graph answer, never a 500 or a panic.
func FuzzUserJSON(f *testing.F) {
	seeds := []string{
		`{"displayName":"a","identities":[{"signInType":"emailAddress","issuer":"idshiftsandbox.onmicrosoft.com","issuerAssignedId":"a@b.co"}],"passwordProfile":{"password":"Str0ng!Passw0rd"}}`,
		`{"displayName":"a","identities":[{"signInType":"federated","issuer":"facebook.com","issuerAssignedId":"1"}]}`,
		`{"displayName":null}`, `{"identities":[null]}`, `{"identities":{}}`, `{"passwordProfile":[]}`,
		`{"extension_b2c0e7c35f6a4c4d9e1a3c5d7e9f1a2b_flag":{"x":1}}`, `{"businessPhones":[1]}`, `[]`, `null`, `"x"`,
		`{"displayName":"a"} trailing`, `{"otherMails":["not mail"]}`, `{"passwordPolicies":","}`, `{"@odata.type":7}`,
		`{"userPrincipalName":"@"}`, `{"identities":[{"signInType":"userName","issuer":"idshiftsandbox.onmicrosoft.com","issuerAssignedId":"ä"}]}`,
	}
	filters := []string{"identities/any(c:c/issuerAssignedId eq 'a@b.co' and c/issuer eq 'x')", "startswith(displayName,'a')",
		"mail eq 'x' or (id eq 'y')", "id in ('a','b')", "((", "')", "extension_x eq 5", "not(mail eq 'x')"}
	for i, s := range seeds {
		f.Add(s, filters[i%len(filters)])
	}
	p := newInProcess(f, sandbox.Config{DisableThrottling: true}, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
	rec := p.do("POST", "/v1.0/applications/"+p.tenant.ExtensionsAppObjectID()+"/extensionProperties",
		`{"name":"flag","dataType":"Boolean","targetObjects":["User"]}`)
	if rec.Code != http.StatusCreated {
		f.Fatalf("extension property: %d", rec.Code)
	}
	rec = p.do("POST", "/v1.0/users", seeds[0])
	if rec.Code != http.StatusCreated {
		f.Fatalf("seed user: %d %s", rec.Code, rec.Body)
	}
	var u struct{ ID string }
	_ = json.Unmarshal(rec.Body.Bytes(), &u)
	f.Fuzz(func(t *testing.T, body, filter string) {
		for _, r := range []struct{ method, target, body string }{
			{"POST", "/v1.0/users", body},
			{"PATCH", "/v1.0/users/" + u.ID, body},
			{"POST", "/v1.0/$batch", `{"requests":[{"id":"1","method":"POST","url":"/users","headers":{"Content-Type":"application/json"},"body":` + body + `}]}`},
			{"GET", "/v1.0/users?$filter=" + urlEscape(filter) + "&$select=" + urlEscape(body), ""},
		} {
			rec := p.do(r.method, r.target, r.body)
			if rec.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", r.method, r.target, r.body, rec.Code, rec.Body)
			}
			if rec.Code >= 400 {
				var e struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
					t.Fatalf("%s %s %q: %d with a body that is not a Graph error: %s", r.method, r.target, r.body, rec.Code, rec.Body)
				}
			}
		}
	})
}

func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
		}
	}
	return b.String()
}
