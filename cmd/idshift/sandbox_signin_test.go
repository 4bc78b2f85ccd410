package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift/sandbox"
)

func TestSandboxPrintsExternalIssuer(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	env := &Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: &syncBuffer{}, Getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, env, []string{"sandbox", "--listen", "127.0.0.1:0", "--ca-out", filepath.Join(dir, "ca.pem")})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("idshift sandbox exited with %d", code)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "export SSL_CERT_FILE=") {
		if time.Now().After(deadline) {
			t.Fatalf("sandbox did not print its environment:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var base string
	for _, line := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "export IDSHIFT_GRAPH_URL="); ok {
			base = v
		}
	}
	want := "external issuer:  " + base + "/" + sandbox.DefaultTenantID + ".ciamlogin.com/" + sandbox.DefaultTenantID + "/v2.0"
	authority := "export IDSHIFT_ENTRA_AUTHORITY=" + base + "/idshiftsandbox.ciamlogin.com/" + sandbox.DefaultTenantID + "/v2.0"
	if base == "" || !strings.Contains(out.String(), want) || !strings.Contains(out.String(), authority) {
		t.Fatalf("output lacks %q:\n%s", want, out.String())
	}
	var stdout bytes.Buffer
	senv := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	code := Main(context.Background(), senv, []string{"sandbox", "signin", "--url", base, "--ca-file", filepath.Join(dir, "ca.pem"),
		"--user", "nobody@example.com", "--password", "whatever"})
	if code != 3 || !strings.HasPrefix(stdout.String(), "unknown_user nobody@example.com [AADSTS50034]") {
		t.Errorf("signin of an unknown user: exit %d, %q", code, stdout.String())
	}
}

func TestSandboxSignInCommand(t *testing.T) {
	dir := t.TempDir()
	srv, err := sandbox.Start(sandbox.Config{DisableThrottling: true}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ca := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.PostForm(srv.URL+"/"+sandbox.DefaultTenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {sandbox.DefaultClientID}, "client_secret": {sandbox.DefaultClientSecret}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v", err)
	}
	body, _ := json.Marshal(map[string]any{"displayName": "Ada", "identities": []any{map[string]any{
		"signInType": "emailAddress", "issuer": sandbox.DefaultDomain, "issuerAssignedId": "ada@example.com"}},
		"passwordProfile": map[string]any{"password": "Str0ng!Passw0rd"}})
	req, _ := http.NewRequest("POST", srv.URL+"/v1.0/users", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create user: %s", resp.Status)
	}

	run := func(stdin string, args ...string) (int, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		env := &Env{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		code := Main(context.Background(), env, append([]string{"sandbox", "signin", "--url", srv.URL, "--ca-file", ca}, args...))
		if strings.Contains(stdout.String()+stderr.String(), "Str0ng!Passw0rd") {
			t.Errorf("the password appears in the output")
		}
		return code, stdout.String()
	}
	if code, out := run("", "--user", "ada@example.com", "--password", "Str0ng!Passw0rd"); code != 0 ||
		out != "success ada@example.com: no extension call\n" {
		t.Errorf("right password: exit %d, %q", code, out)
	}
	if code, out := run("", "--user", "ada@example.com", "--password", "Wrong!Passw0rd"); code != 3 ||
		!strings.HasPrefix(out, "wrong_password ada@example.com [AADSTS50126]: no extension call") {
		t.Errorf("wrong password: exit %d, %q", code, out)
	}
	code, out := run("Str0ng!Passw0rd\n", "--user", "ADA@example.com", "--password-stdin", "--json")
	var res sandbox.SignInResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Outcome != sandbox.SignInSuccess || res.UserID == "" {
		t.Errorf("--password-stdin --json: exit %d, %q", code, out)
	}
	if code, _ := run("", "--password", "x"); code != 2 {
		t.Errorf("no --user: exit %d", code)
	}
	if code, _ := run("", "--user", "ada@example.com", "--password", "x", "--ca-file", filepath.Join(dir, "missing.pem")); code != 1 {
		t.Errorf("missing CA: exit %d", code)
	}
}
