package sandbox_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift/sandbox"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// inProcess drives a tenant's handler without a network.
type inProcess struct {
	t      testing.TB
	h      http.Handler
	tenant *sandbox.Tenant
	token  string
}

func newInProcess(t testing.TB, cfg sandbox.Config, clientID, secret string) *inProcess {
	t.Helper()
	tn, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tn.Close() })
	p := &inProcess{t: t, h: tn.Handler(), tenant: tn}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {"https://graph.microsoft.com/.default"}}
	req := httptest.NewRequest("POST", "https://sandbox.test/"+tn.TenantID()+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	p.token = tok.AccessToken
	return p
}

func (p *inProcess) do(method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://sandbox.test"+target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, req)
	return rec
}

var (
	guidRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	dateRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?`)
)

// normalise replaces GUIDs (except the fixed ones of the sandbox) by stable placeholders and dates by <date>.
func normalise(s string) string {
	fixed := map[string]bool{sandbox.DefaultTenantID: true, sandbox.DefaultClientID: true}
	seen := map[string]string{}
	s = guidRE.ReplaceAllStringFunc(s, func(g string) string {
		if fixed[strings.ToLower(g)] {
			return g
		}
		if _, ok := seen[g]; !ok {
			seen[g] = fmt.Sprintf("<guid-%d>", len(seen)+1)
		}
		return seen[g]
	})
	return dateRE.ReplaceAllString(s, "<date>")
}

// exchange renders one request and its answer; batch answers are sorted by id (the order is random).
func exchange(method, target, body string, rec *httptest.ResponseRecorder) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", method, target)
	if body != "" {
		b.WriteString(pretty([]byte(body)))
	}
	fmt.Fprintf(&b, "\nHTTP %d\n", rec.Code)
	var names []string
	for k := range rec.Header() {
		switch strings.ToLower(k) {
		case "content-type", "retry-after", "x-ms-throttle-scope", "x-ms-throttle-information", "location", "www-authenticate":
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\n", k, rec.Header().Get(k))
	}
	raw := rec.Body.Bytes()
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		if list, ok := m["responses"].([]any); ok {
			sort.Slice(list, func(i, j int) bool {
				return fmt.Sprint(list[i].(map[string]any)["id"]) < fmt.Sprint(list[j].(map[string]any)["id"])
			})
			raw, _ = json.Marshal(m)
		}
	}
	if len(raw) > 0 {
		b.WriteString(pretty(raw))
	}
	return normalise(b.String())
}

func pretty(raw []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return string(raw) + "\n"
	}
	return out.String() + "\n"
}

func TestGolden(t *testing.T) {
	clk := newClock()
	cfg := sandbox.Config{Now: clk.Now, Limits: sandbox.Limits{AppWrites: 4, AppWindow: 8 * time.Second},
		Apps: []sandbox.App{
			{ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret},
			{ClientID: "00000000-0000-0000-0000-00000000b002", Secret: "ro", Roles: []string{"User.Read.All"}},
		}}
	p := newInProcess(t, cfg, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
	ro := &inProcess{t: t, h: p.h, tenant: p.tenant}
	{
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"00000000-0000-0000-0000-00000000b002"}, "client_secret": {"ro"}, "scope": {"https://graph.microsoft.com/.default"}}
		req := httptest.NewRequest("POST", "https://sandbox.test/"+sandbox.DefaultTenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		p.h.ServeHTTP(rec, req)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &tok)
		ro.token = tok.AccessToken
	}
	ext := "extension_" + p.tenant.ExtensionsAppIDNoDashes() + "_requiresMigration"
	ada := `{"displayName":"Ada Lovelace","mail":"ada@example.com","accountEnabled":true,
"identities":[{"signInType":"emailAddress","issuer":"idshiftsandbox.onmicrosoft.com","issuerAssignedId":"ada@example.com"},
{"signInType":"userName","issuer":"idshiftsandbox.onmicrosoft.com","issuerAssignedId":"ada1815"}],
"passwordProfile":{"password":"Xy7!random-pass","forceChangePasswordNextSignIn":false},
"passwordPolicies":"DisablePasswordExpiration","` + ext + `":true}`
	bob := strings.ReplaceAll(strings.ReplaceAll(ada, "ada", "bob"), "Ada Lovelace", "Bob")
	batch := `{"requests":[
{"id":"1","method":"POST","url":"/users","headers":{"Content-Type":"application/json"},"body":` + bob + `},
{"id":"2","method":"POST","url":"/users","headers":{"Content-Type":"application/json"},"body":` + ada + `},
{"id":"3","method":"GET","url":"/users?$select=id,displayName&$filter=startswith(displayName,'Bob')","dependsOn":["1"]}]}`
	filter := "/v1.0/users?" + url.Values{
		"$filter": {"identities/any(c:c/issuerAssignedId eq 'ada@example.com' and c/issuer eq 'idshiftsandbox.onmicrosoft.com')"},
		"$select": {"id,displayName,identities," + ext},
	}.Encode()
	steps := []struct {
		name, method, target, body string
		client                     *inProcess
		hdr                        []string
	}{
		{"extension-property", "POST", "/v1.0/applications/" + p.tenant.ExtensionsAppObjectID() + "/extensionProperties",
			`{"name":"requiresMigration","dataType":"Boolean","targetObjects":["User"]}`, p, nil},
		{"create", "POST", "/v1.0/users", ada, p, nil},
		{"conflict", "POST", "/v1.0/users", ada, p, nil},
		{"batch", "POST", "/v1.0/$batch", batch, p, nil},
		{"filter", "GET", filter, "", p, nil},
		{"throttled", "POST", "/v1.0/users", strings.ReplaceAll(ada, "ada", "cy"), p, nil},
		{"unauthorized", "GET", "/v1.0/users", "", &inProcess{h: p.h}, nil},
		{"forbidden", "POST", "/v1.0/users", ada, ro, nil},
		{"invalid-property", "POST", "/v1.0/users", `{"displayName":"x","favouriteColour":"blue"}`, p, nil},
		{"malformed", "POST", "/v1.0/users", `{"displayName":`, p, nil},
		{"weak-password", "PATCH", "/v1.0/users/" + sandbox.DefaultClientID, `{"passwordProfile":{"password":"short"}}`, p, nil},
		{"organization", "GET", "/v1.0/organization?$select=id,directorySizeQuota", "", p, nil},
		{"batch-too-large", "POST", "/v1.0/$batch", batchOf21(), p, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.name == "weak-password" {
				// Patch the user created by the "create" step.
				users := p.tenant.Users()
				st.target = "/v1.0/users/" + users[0]["id"].(string)
			}
			rec := st.client.do(st.method, st.target, st.body, st.hdr...)
			if st.name == "throttled" {
				clk.Advance(time.Minute) // refill for the steps after
			}
			got := exchange(st.method, st.target, st.body, rec)
			path := filepath.Join("testdata", "golden", st.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the golden file (run with -update after checking):\n--- got\n%s\n--- want\n%s", st.name, got, want)
			}
		})
	}
}

func batchOf21() string {
	b, _ := json.Marshal(batchOf(21, "many"))
	return string(b)
}
