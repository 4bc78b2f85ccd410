package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/crypto/bcrypt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/jit/entra"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/store/sqlite"
)

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServeCommand runs `idshift serve` in-process over plain HTTP (as behind a proxy), with a real SQLite store,
// an external authority over TLS and a decryption key from PEM files, and signs a user in through it.
func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	const tenant = "5e3a1b7c-2f4d-4e6a-9b8c-0d1e2f3a4b5c"
	const appID = "00000000-0000-0000-0000-00000000e001"
	issuer := "https://" + tenant + ".ciamlogin.com/" + tenant + "/v2.0"

	// The state store, with one imported user.
	state := filepath.Join(dir, "state.db")
	st, err := sqlite.Config{Path: state}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := idshift.Key{Source: "legacy", LegacyID: "42"}
	hash, _ := bcrypt.GenerateFromPassword([]byte("Legacy-pass-42"), 4)
	if err := st.PutRecords(ctx, []*idshift.Record{{Key: key, ObjectID: "obj-42", State: idshift.StateCreated}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCredentials(ctx, map[idshift.Key]idshift.Credential{key: {Kind: idshift.CredentialHash, Hash: string(hash)}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// The external authority and its signing key.
	signKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	var auth *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /t/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": auth.URL + "/t/keys"})
	})
	mux.HandleFunc("GET /t/keys", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &signKey.PublicKey, KeyID: "k", Use: "sig", Algorithm: "RS256"}}})
	})
	auth = httptest.NewTLSServer(mux)
	defer auth.Close()
	writePEM(t, filepath.Join(dir, "authority-ca.pem"), "CERTIFICATE", auth.Certificate().Raw)

	// The extension's encryption key.
	encKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "JitMigration"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	certDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &encKey.PublicKey, encKey)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(encKey)
	writePEM(t, filepath.Join(dir, "enc.crt"), "CERTIFICATE", certDER)
	writePEM(t, filepath.Join(dir, "enc.key"), "PRIVATE KEY", keyDER)
	cert, _ := x509.ParseCertificate(certDER)

	// The dashboard's password, as its bcrypt hash.
	const dashPassword = "Dashboard-pass-42"
	dashHash, _ := bcrypt.GenerateFromPassword([]byte(dashPassword), 4)
	if err := os.WriteFile(filepath.Join(dir, "dashboard.pass"), append(dashHash, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	stderr := &syncBuffer{}
	env := &Env{Stdin: strings.NewReader(""), Stdout: &syncBuffer{}, Stderr: stderr, Getenv: func(k string) string {
		if k == "IDSHIFT_DASHBOARD" {
			return "true"
		}
		return ""
	}}
	done := make(chan int, 1)
	go func() {
		done <- Main(runCtx, env, []string{"serve", "--store", state, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
			"--insecure-http-behind-proxy", "--authority", auth.URL + "/t/v2.0", "--audiences", appID,
			"--decryption-certs", filepath.Join(dir, "enc.crt"), "--decryption-keys", filepath.Join(dir, "enc.key"),
			"--entra-ca-file", filepath.Join(dir, "authority-ca.pem"), "--timeout", "2s",
			"--dashboard-password-file", filepath.Join(dir, "dashboard.pass")})
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d:\n%s", code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop on the first signal")
		}
	}()

	var serving struct{ Public, Admin string }
	deadline := time.Now().Add(20 * time.Second)
	for serving.Public == "" {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", stderr.String())
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, `"msg":"serving"`) {
				json.Unmarshal([]byte(line), &serving)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}

	getAdmin := func(path string) (int, string) {
		resp, err := http.Get("http://" + serving.Admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	readyBy := time.Now().Add(10 * time.Second)
	for {
		code, _ := getAdmin("/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(readyBy) {
			t.Fatalf("/readyz never 200:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A callout as Entra makes it.
	now := time.Now()
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: signKey}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k"))
	tok, _ := jwt.Signed(signer).Claims(map[string]any{"iss": issuer, "aud": appID, "azp": entra.AuthenticationEventsAppID,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}).Serialize()
	jwe, err := entra.EncryptContext(&encKey.PublicKey, entra.Thumbprint(cert), map[string]any{
		"user-password": "Legacy-pass-42", "nonce": "nonce-1", "exp": now.Add(10 * time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"type": entra.EventType, "data": map[string]any{
		"@odata.type": entra.CalloutDataType, "encryptedPasswordContext": jwe,
		"authenticationContext": map[string]any{"client": map[string]any{"ip": "203.0.113.9"}, "user": map[string]any{"id": "obj-42"}}}})
	req, _ := http.NewRequest(http.MethodPost, "http://"+serving.Public+"/entra", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	v, err := entra.ParseResponse(resp.StatusCode, resp.Header.Get("Content-Type"), rb)
	if err != nil || v.Action != idshift.ActionMigrate || v.Nonce != "nonce-1" {
		t.Fatalf("callout answer %+v, %v (%s)", v, err, rb)
	}

	if code, body := getAdmin("/metrics"); code != 200 || !strings.Contains(body, `idshift_attempts_total{front="entra",action="MigratePassword",reason="match"} 1`) {
		t.Errorf("/metrics = %d:\n%s", code, body)
	}
	if code, _ := getAdmin("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}

	// The dashboard (on through $IDSHIFT_DASHBOARD): its own password, and the store's figures.
	if code, _ := getAdmin("/dashboard"); code != 401 {
		t.Errorf("/dashboard without credentials = %d, want 401", code)
	}
	dreq, _ := http.NewRequest(http.MethodGet, "http://"+serving.Admin+"/dashboard/data.json", nil)
	dreq.SetBasicAuth("admin", dashPassword)
	dresp, err := http.DefaultClient.Do(dreq)
	if err != nil {
		t.Fatal(err)
	}
	var figures struct {
		Headline []struct {
			Label string `json:"label"`
			N     int64  `json:"n"`
		} `json:"headline"`
	}
	json.NewDecoder(dresp.Body).Decode(&figures)
	dresp.Body.Close()
	if dresp.StatusCode != 200 || len(figures.Headline) == 0 || figures.Headline[0].Label != "migrated by idshift serve" || figures.Headline[0].N != 1 {
		t.Errorf("/dashboard/data.json = %d %+v, want one user migrated", dresp.StatusCode, figures)
	}
	for _, secret := range []string{"Legacy-pass-42", tok, string(hash), dashPassword, string(dashHash)} {
		if strings.Contains(stderr.String(), secret) {
			t.Error("the logs hold a secret")
		}
	}
}

func TestServeConfigErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"no TLS":                       {"--authority", "https://a.example/t/v2.0", "--audiences", "x", "--decryption-certs", "c", "--decryption-keys", "k"},
		"no authority":                 {"--insecure-http-behind-proxy"},
		"keys unpaired":                {"--insecure-http-behind-proxy", "--authority", "https://a.example/t/v2.0", "--audiences", "x", "--decryption-certs", "c,d", "--decryption-keys", "k"},
		"try later":                    {"--insecure-http-behind-proxy", "--authority", "https://a.example/t/v2.0", "--audiences", "x", "--decryption-certs", "c", "--decryption-keys", "k", "--try-later", "MigratePassword"},
		"namespace":                    {"--insecure-http-behind-proxy", "--authority", "https://a.example/t/v2.0", "--audiences", "x", "--decryption-certs", "c", "--decryption-keys", "k", "--action-namespace", "pwd"},
		"short secret":                 {"--insecure-http-behind-proxy", "--harvest-bearer-secrets", "short", "--harvest-domain", "d", "--harvest-extensions-app-id", "a"},
		"dashboard without a password": {"--insecure-http-behind-proxy", "--authority", "https://a.example/t/v2.0", "--audiences", "x", "--decryption-certs", "c", "--decryption-keys", "k", "--dashboard"},
		"dashboard without the admin listener": {"--insecure-http-behind-proxy", "--authority", "https://a.example/t/v2.0", "--audiences", "x", "--decryption-certs", "c", "--decryption-keys", "k",
			"--dashboard", "--dashboard-password-file", "p", "--admin-listen", ""},
	} {
		stderr := &syncBuffer{}
		env := &Env{Stdin: strings.NewReader(""), Stdout: &syncBuffer{}, Stderr: stderr, Getenv: func(string) string { return "" }}
		if code := Main(context.Background(), env, append([]string{"serve"}, args...)); code != exitFailed || !strings.Contains(stderr.String(), "config:") {
			t.Errorf("%s: exit %d, %q; want a configuration error", name, code, stderr.String())
		}
	}
}

// TestServeHarvest runs `idshift serve` with the harvest front alone, against the in-process sandbox tenant as the
// Graph, and harvests one user's password.
func TestServeHarvest(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	tenant, err := sandbox.Start(sandbox.Config{}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tenant.Close()
	ca := filepath.Join(dir, "ca.pem")
	if err := tenant.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	cred, err := graph.CredentialConfig{TenantID: sandbox.DefaultTenantID, ClientID: sandbox.DefaultClientID,
		ClientSecret: sandbox.DefaultClientSecret, AuthorityHost: tenant.AuthorityHost, CAFile: ca}.Credential()
	if err != nil {
		t.Fatal(err)
	}
	hc, _ := graph.HTTPClient(ca)
	client, err := graph.New(graph.Config{BaseURL: tenant.URL, Credential: cred, HTTPClient: hc, AppID: sandbox.DefaultClientID})
	if err != nil {
		t.Fatal(err)
	}
	tn := tenant.Tenant
	if _, err := client.CreateExtensionProperty(ctx, tn.ExtensionsAppObjectID(), graph.ExtensionProperty{Name: "requiresMigration", DataType: "Boolean"}); err != nil {
		t.Fatal(err)
	}
	flag := graph.ExtensionName(tn.ExtensionsAppID(), "requiresMigration")
	enabled := true
	u, err := client.CreateUser(ctx, &graph.User{DisplayName: "Hana", AccountEnabled: &enabled,
		Identities:      []graph.Identity{{SignInType: "emailAddress", Issuer: tn.Domain(), IssuerAssignedID: "hana@example.com"}},
		PasswordProfile: &graph.PasswordProfile{Password: "Rand0m-Import-Pass!x"}, Extensions: map[string]any{flag: true}})
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state.db")
	st, err := sqlite.Config{Path: state}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := idshift.Key{Source: "legacy", LegacyID: "7"}
	hash, _ := bcrypt.GenerateFromPassword([]byte("Legacy-pass-7"), 4)
	st.PutRecords(ctx, []*idshift.Record{{Key: key, ObjectID: u.ID, SignInNames: []string{"hana@example.com"}, State: idshift.StateCreated}})
	st.PutCredentials(ctx, map[idshift.Key]idshift.Credential{key: {Kind: idshift.CredentialHash, Hash: string(hash)}})
	st.Close()

	const secret = "harvest-caller-secret-0123456789"
	vars := map[string]string{"IDSHIFT_HARVEST_BEARER_SECRETS": secret, "IDSHIFT_HARVEST_CLIENT_SECRET": sandbox.DefaultClientSecret}
	runCtx, cancel := context.WithCancel(ctx)
	stderr := &syncBuffer{}
	env := &Env{Stdin: strings.NewReader(""), Stdout: &syncBuffer{}, Stderr: stderr, Getenv: func(k string) string { return vars[k] }}
	done := make(chan int, 1)
	go func() {
		done <- Main(runCtx, env, []string{"serve", "--store", state, "--listen", "127.0.0.1:0", "--admin-listen", "",
			"--insecure-http-behind-proxy", "--harvest-tenant-id", sandbox.DefaultTenantID, "--harvest-domain", tn.Domain(),
			"--harvest-client-id", sandbox.DefaultClientID, "--harvest-graph-url", tenant.URL,
			"--harvest-authority-host", tenant.AuthorityHost, "--harvest-ca-file", ca,
			"--harvest-extensions-app-id", tn.ExtensionsAppID()})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d:\n%s", code, stderr.String())
		}
	}()
	var serving struct{ Public string }
	for deadline := time.Now().Add(20 * time.Second); serving.Public == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", stderr.String())
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, `"msg":"serving"`) {
				json.Unmarshal([]byte(line), &serving)
			}
		}
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+serving.Public+"/harvest",
		strings.NewReader(`{"signInName":"hana@example.com","password":"Legacy-pass-7"}`))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"migrated":true`) {
		t.Fatalf("harvest answered %d %s\n%s", resp.StatusCode, b, stderr.String())
	}
	if !tn.CheckPassword(u.ID, "Legacy-pass-7") {
		t.Error("the tenant does not hold the legacy password")
	}
	for _, s := range []string{"Legacy-pass-7", secret, sandbox.DefaultClientSecret} {
		if strings.Contains(stderr.String(), s) {
			t.Error("the logs hold a secret")
		}
	}
}

// TestServeDashboardPasswordFile: a dashboard whose password file is unusable stops serve at start, naming the
// file and the fault, never its content.
func TestServeDashboardPasswordFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"short": "Short-pw-9\n", "empty": "\n", "sha512-crypt": "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/"} {
		pf := filepath.Join(dir, name+".pass")
		if err := os.WriteFile(pf, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		stderr := &syncBuffer{}
		env := &Env{Stdin: strings.NewReader(""), Stdout: &syncBuffer{}, Stderr: stderr, Getenv: func(string) string { return "" }}
		code := Main(context.Background(), env, []string{"serve", "--store", filepath.Join(dir, "state.db"), "--listen", "127.0.0.1:0",
			"--admin-listen", "127.0.0.1:0", "--insecure-http-behind-proxy", "--authority", "https://a.example/t/v2.0", "--audiences", "x",
			"--decryption-certs", filepath.Join(dir, "none.crt"), "--decryption-keys", filepath.Join(dir, "none.key"),
			"--dashboard", "--dashboard-password-file", pf})
		out := stderr.String()
		if code != exitFailed || !strings.Contains(out, "dashboard.password_file "+pf) {
			t.Errorf("%s: exit %d, %q; want an error naming the password file", name, code, out)
		}
		if c := strings.TrimSpace(content); c != "" && strings.Contains(out, c) {
			t.Errorf("%s: the error quotes the file's content", name)
		}
	}
}
