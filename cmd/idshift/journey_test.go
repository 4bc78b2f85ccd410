package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/idshift/idshift/internal/servicetest"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idshift/idshift/examples"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/guard"
)

// TestJourney follows README's "Password migration at sign-in" with separate processes of one built binary:
// `idshift sandbox`, `idshift import`, `idshift tenant setup`, `idshift serve`, then `idshift sandbox signin`
// for each sign-in. The right legacy password migrates (the next sign-in needs no callout), a wrong one is refused,
// repeated wrong ones are blocked; once with SQLite state and the guard in memory (and the harvest front), once
// with the state in PostgreSQL and the guard in Redis.
func TestJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("separate-process journey skipped in -short mode")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skipf("the README's journey makes serve's certificate with openssl: %v", err)
	}
	bin := buildProgram(t, t.TempDir())
	t.Run("SQLite", func(t *testing.T) { journey(t, bin, journeyStore{harvest: true}) })
	t.Run("PostgreSQLRedis", func(t *testing.T) {
		// A database of this run's own: a store is bound to one key, and each run generates its own.
		pgURL := postgresDatabase(t)
		redisURL := servicetest.RedisURL()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g, err := guard.Config{}.OpenRedis(ctx, redisURL)
		if err != nil {
			requireService(t, "Redis (IDSHIFT_REDIS_URL)", err)
		}
		g.Close()
		b := make([]byte, 6)
		rand.Read(b)
		source := "journey-" + hex.EncodeToString(b)
		journey(t, bin, journeyStore{postgres: pgURL, redis: redisURL, source: source, harvest: true,
			// The guard's per-address counter lives as long as its window in the shared Redis: an address of
			// this run's own keeps earlier runs' failures out of it.
			clientIP: fmt.Sprintf("203.0.113.%d", 1+int(b[0])%250)})
	})
}

type journeyStore struct {
	postgres, redis, source, clientIP string
	harvest                           bool
}

// requireService skips, or fails with IDSHIFT_REQUIRE_SERVICES=1, when a service of the machine is unreachable.
func requireService(t *testing.T, what string, err error) {
	t.Helper()
	msg := what + " unreachable: " + err.Error()
	servicetest.Unavailable(t, msg)
}

func journey(t *testing.T, bin string, js journeyStore) {
	dir := t.TempDir()
	accounts, err := demoAccounts(4)
	if err != nil {
		t.Fatal(err)
	}
	writeJourneyUsers(t, filepath.Join(dir, "users.csv"), accounts)
	sandboxPort, servePort, adminPort := freePort(t), freePort(t), freePort(t)
	p := &procs{t: t, bin: bin, dir: dir, env: map[string]string{}}

	// openssl req -x509 … (serve's certificate) and openssl rand -base64 32 > store.key
	p.tool("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
		"-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "serve-tls.key", "-out", "serve-tls.crt")
	key := p.tool("openssl", "rand", "-base64", "32")
	if err := os.WriteFile(filepath.Join(dir, "store.key"), []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	p.env["IDSHIFT_STORE_KEY_FILE"] = "store.key"

	// idshift sandbox --listen 127.0.0.1:8443 --ca-out sandbox-ca.pem --callout-ca serve-tls.crt &
	sbOut := p.start("sandbox", "--listen", fmt.Sprintf("127.0.0.1:%d", sandboxPort), "--ca-out", "sandbox-ca.pem", "--callout-ca", "serve-tls.crt")
	var extApp string
	waitFor(t, "the sandbox's environment", func() bool { return strings.Contains(sbOut.String(), "export SSL_CERT_FILE=") }, sbOut.String)
	for _, line := range strings.Split(sbOut.String(), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			p.env[k] = v // eval the exports
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "extensions app:"); ok {
			extApp, _, _ = strings.Cut(strings.TrimSpace(v), " ")
		}
	}
	sandboxURL := p.env["IDSHIFT_GRAPH_URL"]
	if sandboxURL == "" || p.env["IDSHIFT_ENTRA_AUTHORITY"] == "" || extApp == "" {
		t.Fatalf("sandbox output:\n%s", sbOut.String())
	}

	// idshift import --source users.csv --domain $IDSHIFT_TENANT_DOMAIN --setup-extensions
	imp := []string{"import", "--source", "users.csv", "--domain", p.env["IDSHIFT_TENANT_DOMAIN"], "--setup-extensions"}
	var storeArgs []string
	if js.postgres != "" {
		storeArgs = []string{"--store", js.postgres}
		imp = append(imp, "--source-name", js.source)
	}
	if code, out, errOut := p.run(append(imp, storeArgs...)...); code != exitComplete || !regexp.MustCompile(`(?m)^\s*created\s+4$`).MatchString(out) {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}

	// idshift tenant setup --target-url https://127.0.0.1:8444/entra --key-out encryption-key.pem --timeout-ms 2000
	target := fmt.Sprintf("https://127.0.0.1:%d/entra", servePort)
	code, out, errOut := p.run("tenant", "setup", "--target-url", target, "--key-out", "encryption-key.pem", "--timeout-ms", "2000")
	var appID, resource string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "extension app"); ok {
			fmt.Sscanf(strings.TrimSpace(v), "%s (resource %s", &appID, &resource)
			resource = strings.TrimSuffix(resource, ")")
		}
	}
	if code != exitComplete || appID == "" || resource != "api://127.0.0.1/"+appID {
		t.Fatalf("tenant setup: exit %d (app %q, resource %q)\n%s\n%s", code, appID, resource, out, errOut)
	}

	// idshift serve --listen 127.0.0.1:8444 --tls-cert serve-tls.crt --tls-key serve-tls.key \
	//   --audiences {appId},api://127.0.0.1/{appId} --decryption-certs encryption-key.pem \
	//   --decryption-keys encryption-key.pem --timeout 2s &
	serve := []string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", servePort), "--admin-listen", fmt.Sprintf("127.0.0.1:%d", adminPort),
		"--tls-cert", "serve-tls.crt", "--tls-key", "serve-tls.key", "--audiences", appID + "," + resource,
		"--decryption-certs", "encryption-key.pem", "--decryption-keys", "encryption-key.pem", "--timeout", "2s"}
	serve = append(serve, storeArgs...)
	if js.redis != "" {
		serve = append(serve, "--guard-redis", js.redis)
	}
	const harvestSecret = "harvest-caller-secret-1"
	if js.harvest {
		// IDSHIFT_HARVEST_BASIC_PASSWORD=… idshift serve … --harvest-basic-user b2c --harvest-extensions-app-id {extensions app}
		p.env["IDSHIFT_HARVEST_BASIC_PASSWORD"] = harvestSecret
		serve = append(serve, "--harvest-basic-user", "b2c", "--harvest-extensions-app-id", extApp)
	}
	serveErr := p.start(serve...)
	hc, err := graph.HTTPClient(filepath.Join(dir, "sandbox-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "serve's /readyz", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", adminPort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, serveErr.String)

	// idshift sandbox signin --url https://127.0.0.1:8443 --user … --password …
	signIn := func(user, password string) (int, string) {
		t.Helper()
		args := []string{"sandbox", "signin", "--url", sandboxURL, "--ca-file", "sandbox-ca.pem", "--user", user, "--password", password}
		if js.clientIP != "" {
			args = append(args, "--client-ip", js.clientIP)
		}
		code, out, errOut := p.run(args...)
		if code == 1 || code == 2 {
			t.Fatalf("sandbox signin: exit %d\n%s\n%s", code, out, errOut)
		}
		return code, strings.TrimSpace(out)
	}
	expect := func(what string, code int, out string, wantCode int, wantPrefix string) {
		t.Helper()
		if code != wantCode || !strings.HasPrefix(out, wantPrefix) {
			t.Errorf("%s: exit %d, %q; want exit %d, %q…", what, code, out, wantCode, wantPrefix)
		}
	}
	a, b, c := accounts[0], accounts[1], accounts[2]
	// The README's walk-through names these same accounts: it shows what this test checks.
	if readme, err := os.ReadFile("../../README.md"); err != nil {
		t.Error(err)
	} else {
		for _, want := range []string{"--user " + a.email + " --password '" + a.password + "'", "--user " + b.email + " --password 'wrong-password'",
			`"signInName":"` + c.email + `","password":"` + c.password + `"`} {
			if !strings.Contains(string(readme), want) {
				t.Errorf("README.md's journey does not show %q", want)
			}
		}
	}
	code, out = signIn(a.email, a.password)
	expect("right legacy password", code, out, 0, "migrated "+a.email+": extension called")
	callouts := sandboxStats(t, hc, sandboxURL).Callouts
	code, out = signIn(a.email, a.password)
	expect("second sign-in", code, out, 0, "success "+a.email+": no extension call")
	if n := sandboxStats(t, hc, sandboxURL).Callouts; n != callouts {
		t.Errorf("the second sign-in called the extension: %d callouts, then %d", callouts, n)
	}
	for i := 1; i <= 5; i++ {
		code, out = signIn(b.email, b.password+"-typo")
		expect(fmt.Sprintf("wrong password %d", i), code, out, 3, "wrong_password "+b.email+" [AADSTS50126]: extension called")
	}
	code, out = signIn(b.email, b.password+"-typo")
	expect("6th wrong password", code, out, 3, "blocked "+b.email+": extension called")
	code, out = signIn(b.email, b.password)
	expect("right password after the lock", code, out, 3, "blocked "+b.email)
	st := sandboxStats(t, hc, sandboxURL)
	if st.SignIns["migrated"] != 1 || st.SignIns["success"] != 1 || st.SignIns["wrong_password"] != 5 || st.SignIns["blocked"] != 2 {
		t.Errorf("sandbox sign-ins %v", st.SignIns)
	}

	if js.harvest {
		// curl -u b2c:$IDSHIFT_HARVEST_BASIC_PASSWORD --cacert serve-tls.crt https://127.0.0.1:8444/harvest \
		//   -d '{"signInName": "…", "password": "…"}'
		if flagged, ok := sandboxFlag(t, hc, sandboxURL, c.email); !ok || !flagged {
			t.Fatalf("%s before harvest: flag %v (found %v)", c.legacyID, flagged, ok)
		}
		code, body := harvest(t, dir, servePort, "b2c", harvestSecret, c.email, c.password+"-typo")
		if code != http.StatusConflict {
			t.Errorf("harvest with a wrong password: %d %s", code, body)
		}
		code, body = harvest(t, dir, servePort, "b2c", "not-the-secret", c.email, c.password)
		if code != http.StatusUnauthorized {
			t.Errorf("harvest with a wrong caller secret: %d %s", code, body)
		}
		code, body = harvest(t, dir, servePort, "b2c", harvestSecret, c.email, c.password)
		if code != http.StatusOK || !strings.Contains(body, `"migrated":true`) {
			t.Fatalf("harvest: %d %s\n%s", code, body, serveErr.String())
		}
		if flagged, ok := sandboxFlag(t, hc, sandboxURL, c.email); !ok || flagged {
			t.Errorf("%s after harvest: flag %v (found %v), want false", c.legacyID, flagged, ok)
		}
		before := sandboxStats(t, hc, sandboxURL).Callouts
		code, out = signIn(c.email, c.password)
		expect("sign-in after harvest", code, out, 0, "success "+c.email+": no extension call")
		if n := sandboxStats(t, hc, sandboxURL).Callouts; n != before {
			t.Errorf("the sign-in after harvest called the extension")
		}
	}

	if js.redis != "" && js.harvest {
		// A second replica: idshift serve with the same store and the same Redis on other ports. The guard's limit
		// holds across the two, not per process: five wrong passwords for one account from one address, sent to
		// the two replicas in turn, lock it on both.
		d := accounts[3]
		port2, admin2 := freePort(t), freePort(t)
		serve2 := append([]string{}, serve...)
		for i := range serve2 {
			switch serve2[i] {
			case fmt.Sprintf("127.0.0.1:%d", servePort):
				serve2[i] = fmt.Sprintf("127.0.0.1:%d", port2)
			case fmt.Sprintf("127.0.0.1:%d", adminPort):
				serve2[i] = fmt.Sprintf("127.0.0.1:%d", admin2)
			}
		}
		serve2Err := p.start(serve2...)
		waitFor(t, "the second replica's /readyz", func() bool {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", admin2))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, serve2Err.String)
		replicas := []int{servePort, port2}
		for i := range 5 {
			code, body := harvestFrom(t, dir, replicas[i%2], "b2c", harvestSecret, d.email, d.password+"-typo", js.clientIP)
			if code != http.StatusConflict || !strings.Contains(body, "incorrect") {
				t.Errorf("wrong password %d at replica %d: %d %s", i+1, i%2+1, code, body)
			}
		}
		for i, port := range replicas {
			code, body := harvestFrom(t, dir, port, "b2c", harvestSecret, d.email, d.password, js.clientIP)
			if code != http.StatusConflict || !strings.Contains(body, "blocked") {
				t.Errorf("right password at replica %d after five failures across both: %d %s; want blocked", i+1, code, body)
			}
		}
		if flagged, ok := sandboxFlag(t, hc, sandboxURL, d.email); !flagged || !ok {
			t.Errorf("%s after the lock: flag %v (found %v), want still flagged", d.legacyID, flagged, ok)
		}
	}

	p.stopAll()
	for _, acc := range accounts {
		if strings.Contains(p.logs(), acc.password) {
			t.Errorf("a process printed %s's password", acc.legacyID)
		}
	}
}

// writeJourneyUsers writes the accounts' rows of examples/users.csv (a small source keeps the test fast).
func writeJourneyUsers(t *testing.T, path string, accounts []demoAccount) {
	t.Helper()
	src, err := examples.FS.ReadFile("users.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	var b strings.Builder
	b.WriteString(lines[0] + "\n")
	for _, acc := range accounts {
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, acc.legacyID+",") {
				b.WriteString(l + "\n")
			}
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t *testing.T, what string, ok func() bool, show func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s:\n%s", what, show())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procs runs the program's processes in one directory with one environment (what a shell would hold after the
// README's exports).
type procs struct {
	t       *testing.T
	bin     string
	dir     string
	env     map[string]string
	started []*exec.Cmd
	outputs []*syncBuffer
}

func (p *procs) environ() []string {
	vars := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + p.dir, "IDSHIFT_TEST_AS_PROGRAM=1"}
	for k, v := range p.env {
		vars = append(vars, k+"="+v)
	}
	return vars
}

// tool runs another program (openssl) and returns its standard output.
func (p *procs) tool(name string, args ...string) string {
	p.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = p.dir
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return string(out)
}

// run runs idshift to completion.
func (p *procs) run(args ...string) (int, string, string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Dir, cmd.Env = p.dir, p.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	p.outputs = append(p.outputs, &syncBuffer{})
	p.outputs[len(p.outputs)-1].Write(append(out.Bytes(), errb.Bytes()...))
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	p.t.Fatalf("idshift %s: %v", args[0], err)
	return 0, "", ""
}

// start starts idshift in the background and returns its combined output; stopAll (or the test's end) sends it
// SIGINT and expects exit status 0.
func (p *procs) start(args ...string) *syncBuffer {
	p.t.Helper()
	cmd := exec.Command(p.bin, args...)
	cmd.Dir, cmd.Env = p.dir, p.environ()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.started = append(p.started, cmd)
	p.outputs = append(p.outputs, out)
	p.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return out
}

// stopAll interrupts the background processes, newest first, as Ctrl-C would.
func (p *procs) stopAll() {
	p.t.Helper()
	for i := len(p.started) - 1; i >= 0; i-- {
		cmd := p.started[i]
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				p.t.Errorf("%s: %v\n%s", strings.Join(cmd.Args[1:2], ""), err, p.outputs[i].String())
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
			p.t.Errorf("%s did not stop on SIGINT", cmd.Args[1])
		}
	}
}

func (p *procs) logs() string {
	var b strings.Builder
	for _, o := range p.outputs {
		b.WriteString(o.String())
	}
	return b.String()
}

type journeyStats struct {
	Callouts int64            `json:"callouts"`
	SignIns  map[string]int64 `json:"signIns"`
}

// sandboxStats reads GET /_sandbox/stats.
func sandboxStats(t *testing.T, hc *http.Client, base string) journeyStats {
	t.Helper()
	resp, err := hc.Get(base + "/_sandbox/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st journeyStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// sandboxFlag reads a user's migration flag from GET /_sandbox/users?format=lines.
func sandboxFlag(t *testing.T, hc *http.Client, base, email string) (flagged, found bool) {
	t.Helper()
	resp, err := hc.Get(base + "/_sandbox/users?format=lines")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var u map[string]any
		if err := dec.Decode(&u); err == io.EOF {
			return false, false
		} else if err != nil {
			t.Fatal(err)
		}
		ids, _ := u["identities"].([]any)
		for _, id := range ids {
			m, _ := id.(map[string]any)
			if s, _ := m["issuerAssignedId"].(string); strings.EqualFold(s, email) {
				for k, v := range u {
					if strings.HasSuffix(k, "_requiresMigration") {
						f, _ := v.(bool)
						return f, true
					}
				}
				return false, true
			}
		}
	}
}

// harvest calls serve's harvest front as a legacy system does, with HTTP basic authentication over TLS.
func harvest(t *testing.T, dir string, port int, user, secret, signInName, password string) (int, string) {
	t.Helper()
	return harvestFrom(t, dir, port, user, secret, signInName, password, "")
}

// harvestFrom is harvest with the end user's address in the body (clientIp), as a legacy front end sends it.
func harvestFrom(t *testing.T, dir string, port int, user, secret, signInName, password, clientIP string) (int, string) {
	t.Helper()
	hc, err := graph.HTTPClient(filepath.Join(dir, "serve-tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	defer hc.CloseIdleConnections()
	fields := map[string]string{"signInName": signInName, "password": password}
	if clientIP != "" {
		fields["clientIp"] = clientIP
	}
	body, _ := json.Marshal(fields)
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("https://127.0.0.1:%d/harvest", port), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(user, secret)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
