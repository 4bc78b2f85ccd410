package sandbox_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/idshift/idshift/sandbox"
)

// TestLegacyB2CROPC: the emulated tenant answers B2C's documented request and refuses what B2C refuses, with
// B2C's error codes.
func TestLegacyB2CROPC(t *testing.T) {
	b2c, err := sandbox.NewLegacyB2C(sandbox.LegacyB2CConfig{Tenant: "contoso", Policy: "B2C_1_ROPC_Auth", Lockout: 2,
		Users: []sandbox.LegacyUser{{SignInName: "ada@example.com", Password: "Right-Passw0rd!"},
			{SignInName: "off@example.com", Password: "Right-Passw0rd!", Disabled: true},
			{SignInName: "locked@example.com", Password: "Right-Passw0rd!", Locked: true},
			{SignInName: "expired@example.com", Password: "Right-Passw0rd!", MustChange: true},
			{SignInName: "brute@example.com", Password: "Right-Passw0rd!"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b2c)
	defer srv.Close()
	token := srv.URL + "/contoso.onmicrosoft.com/B2C_1_ROPC_Auth/oauth2/v2.0/token"
	if got := b2c.Authority(srv.URL); got != srv.URL+"/contoso.onmicrosoft.com/B2C_1_ROPC_Auth/v2.0" {
		t.Fatalf("authority %s", got)
	}
	resp, err := http.Get(b2c.Authority(srv.URL) + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["token_endpoint"] != token || doc["issuer"] != b2c.Issuer(srv.URL) {
		t.Fatalf("discovery %v", doc)
	}
	form := func(mod func(url.Values)) url.Values {
		f := url.Values{"grant_type": {"password"}, "client_id": {b2c.ClientID()}, "scope": {"openid " + b2c.ClientID() + " offline_access"},
			"username": {"ada@example.com"}, "password": {"Right-Passw0rd!"}, "response_type": {"token id_token"}}
		if mod != nil {
			mod(f)
		}
		return f
	}
	tests := []struct {
		name   string
		f      url.Values
		status int
		want   string // the error, or the tokens' names
	}{
		{"right password", form(nil), 200, "access_token id_token"},
		{"openid only", form(func(f url.Values) { f.Set("scope", "openid") }), 200, "id_token"},
		{"wrong password", form(func(f url.Values) { f.Set("password", "wrong") }), 400, "invalid_grant AADB2C90225"},
		{"unknown user", form(func(f url.Values) { f.Set("username", "nobody@example.com") }), 400, "invalid_grant AADB2C90225"},
		{"another client", form(func(f url.Values) { f.Set("client_id", "other") }), 400, "unauthorized_client AADB2C90224"},
		{"disabled account", form(func(f url.Values) { f.Set("username", "off@example.com") }), 400, "invalid_grant AADB2C90111"},
		{"disabled account, wrong password", form(func(f url.Values) { f.Set("username", "off@example.com"); f.Set("password", "x") }), 400, "invalid_grant AADB2C90111"},
		{"locked account", form(func(f url.Values) { f.Set("username", "locked@example.com") }), 400, "invalid_grant AADB2C90114"},
		{"locked account, wrong password", form(func(f url.Values) { f.Set("username", "locked@example.com"); f.Set("password", "x") }), 400, "invalid_grant AADB2C90114"},
		{"expired password", form(func(f url.Values) { f.Set("username", "expired@example.com") }), 400, "invalid_grant AADSTS50055"},
		{"expired password, wrong one", form(func(f url.Values) { f.Set("username", "expired@example.com"); f.Set("password", "x") }), 400, "invalid_grant AADB2C90225"},
		{"brute, right password", form(func(f url.Values) { f.Set("username", "brute@example.com") }), 200, "access_token id_token"},
		{"brute 1", form(func(f url.Values) { f.Set("username", "brute@example.com"); f.Set("password", "a") }), 400, "invalid_grant AADB2C90225"},
		{"brute 2", form(func(f url.Values) { f.Set("username", "brute@example.com"); f.Set("password", "b") }), 400, "invalid_grant AADB2C90225"},
		{"smart lockout", form(func(f url.Values) { f.Set("username", "brute@example.com") }), 400, "invalid_grant AADB2C90114"},
		{"another grant", form(func(f url.Values) { f.Set("grant_type", "client_credentials") }), 400, "unsupported_grant_type"},
		{"no openid", form(func(f url.Values) { f.Set("scope", b2c.ClientID()) }), 400, "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.PostForm(token, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var a map[string]any
			json.NewDecoder(resp.Body).Decode(&a)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 200 {
				for _, k := range strings.Fields(tt.want) {
					if s, _ := a[k].(string); strings.Count(s, ".") != 2 {
						t.Fatalf("no %s in %v", k, a)
					}
				}
				if _, ok := a["access_token"]; ok != strings.Contains(tt.want, "access_token") {
					t.Fatalf("access_token present: %v", ok)
				}
				return
			}
			code, desc, _ := strings.Cut(tt.want, " ")
			if a["error"] != code || !strings.HasPrefix(a["error_description"].(string), desc) {
				t.Fatalf("answer %v, want %s", a, tt.want)
			}
		})
	}
	if b2c.Requests() != int64(len(tests)) {
		t.Errorf("%d requests counted, want %d", b2c.Requests(), len(tests))
	}
}

// TestLegacyCognitoProtocol: the emulated pool takes only InitiateAuth in awsJson1_1 and checks SECRET_HASH.
func TestLegacyCognitoProtocol(t *testing.T) {
	lc := sandbox.NewLegacyCognito(sandbox.LegacyCognitoConfig{ClientSecret: "s3cret",
		Users: []sandbox.LegacyUser{{SignInName: "grace@example.com", Password: "Right-Passw0rd!"}}})
	srv := httptest.NewServer(lc)
	defer srv.Close()
	post := func(target, ctype, body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a map[string]any
		json.NewDecoder(resp.Body).Decode(&a)
		return resp.StatusCode, a
	}
	const target, ctype = "AWSCognitoIdentityProviderService.InitiateAuth", "application/x-amz-json-1.1"
	body := func(hash string) string {
		return `{"AuthFlow":"USER_PASSWORD_AUTH","ClientId":"` + lc.ClientID() +
			`","AuthParameters":{"USERNAME":"grace@example.com","PASSWORD":"Right-Passw0rd!","SECRET_HASH":"` + hash + `"}}`
	}
	if s, a := post("AWSCognitoIdentityProviderService.SignUp", ctype, body("")); s != 400 || a["__type"] != "UnknownOperationException" {
		t.Errorf("another target: %d %v", s, a)
	}
	if s, a := post(target, "application/json", body("")); s != 400 || a["__type"] != "SerializationException" {
		t.Errorf("another content type: %d %v", s, a)
	}
	if s, a := post(target, ctype, body("AAAA")); s != 400 || a["__type"] != "NotAuthorizedException" ||
		!strings.HasPrefix(a["message"].(string), "Unable to verify secret hash") {
		t.Errorf("wrong SECRET_HASH: %d %v", s, a)
	}
	// Base64(HMAC-SHA256("s3cret", "grace@example.com" + client id)), as verify/cognito computes it.
	if s, a := post(target, ctype, body(secretHash("s3cret", "grace@example.com", lc.ClientID()))); s != 200 || a["AuthenticationResult"] == nil {
		t.Errorf("right SECRET_HASH: %d %v", s, a)
	}
}

// TestLegacyCognitoChallenges: a user with MFA gets the challenge after the right password only, with a session
// and no tokens; a wrong password is refused as for anyone.
func TestLegacyCognitoChallenges(t *testing.T) {
	lc := sandbox.NewLegacyCognito(sandbox.LegacyCognitoConfig{
		Users: []sandbox.LegacyUser{{SignInName: "mfa@example.com", Password: "Right-Passw0rd!", Challenge: "SOFTWARE_TOKEN_MFA"}}})
	srv := httptest.NewServer(lc)
	defer srv.Close()
	for _, tt := range []struct{ password, want string }{{"Right-Passw0rd!", "SOFTWARE_TOKEN_MFA"}, {"wrong", "NotAuthorizedException"}} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{"AuthFlow":"USER_PASSWORD_AUTH","ClientId":"`+
			lc.ClientID()+`","AuthParameters":{"USERNAME":"mfa@example.com","PASSWORD":"`+tt.password+`"}}`))
		req.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.InitiateAuth")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var a map[string]any
		json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		switch {
		case tt.want == "SOFTWARE_TOKEN_MFA" && (resp.StatusCode != 200 || a["ChallengeName"] != tt.want || a["Session"] == nil || a["AuthenticationResult"] != nil):
			t.Errorf("right password: %d %v", resp.StatusCode, a)
		case tt.want == "NotAuthorizedException" && (resp.StatusCode != 400 || a["__type"] != tt.want):
			t.Errorf("wrong password: %d %v", resp.StatusCode, a)
		}
	}
}

func secretHash(secret, username, clientID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(username + clientID))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
