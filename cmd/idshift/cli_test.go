package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idshift/idshift"
)

// syncBuffer is a bytes.Buffer safe to read while another goroutine writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startSandboxCommand runs `idshift sandbox` in-process and returns the environment it tells the user to export.
func startSandboxCommand(t *testing.T, dir string, extra ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	env := &Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: &syncBuffer{}, Getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	args := append([]string{"sandbox", "--listen", "127.0.0.1:0", "--ca-out", filepath.Join(dir, "ca.pem")}, extra...)
	go func() { done <- Main(ctx, env, args) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("idshift sandbox exited with %d", code)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "export IDSHIFT_TENANT_DOMAIN=") {
		if time.Now().After(deadline) {
			t.Fatalf("sandbox did not print its environment:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			vars[k] = v
		}
	}
	return vars
}

// sandboxVars starts `idshift sandbox` and returns its environment with the CA trusted through IDSHIFT_CA_FILE
// (SSL_CERT_FILE would replace the system roots of the whole test process).
func sandboxVars(t *testing.T, dir string, extra ...string) map[string]string {
	t.Helper()
	vars := startSandboxCommand(t, dir, extra...)
	vars["IDSHIFT_CA_FILE"] = vars["SSL_CERT_FILE"]
	delete(vars, "SSL_CERT_FILE")
	return vars
}

func TestImportCommandAgainstSandboxCommand(t *testing.T) {
	dir := t.TempDir()
	vars := sandboxVars(t, dir, "--no-throttle")
	state := filepath.Join(dir, "state.db")
	args := []string{"import", "--source", "../../examples/users.csv", "--store", state, "--setup-extensions", "--json",
		"--app-writes", "100000", "--app-window", "1s", "--tenant-writes", "100000", "--tenant-window", "1s"}

	code, stdout, stderr := run(t, vars, args...)
	if code != exitWithRejections {
		t.Fatalf("exit %d, want %d (complete with rejections)\n%s\n%s", code, exitWithRejections, stdout, stderr)
	}
	var sum struct {
		Read, Created, Rejected, Skipped int64
		Reconciles                       bool
		Rejects                          string
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("summary %q: %v", stdout, err)
	}
	if sum.Read != 300 || sum.Created != 292 || sum.Rejected != 8 || !sum.Reconciles {
		t.Fatalf("summary %+v", sum)
	}
	rejects, err := os.ReadFile(sum.Rejects)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(rejects), "\n"); n != 8 {
		t.Errorf("reject file has %d lines, want 8:\n%s", n, rejects)
	}

	// A dry run after it plans nothing new and writes nothing.
	code, stdout, stderr = run(t, vars, append(args, "--dry-run")...)
	if code != exitWithRejections {
		t.Fatalf("dry run exit %d\n%s", code, stderr)
	}
	if strings.Contains(stdout, `"action":"create"`) || !strings.Contains(stdout, `"action":"skip"`) {
		t.Errorf("dry run after a complete import plans creates:\n%.500s", stdout)
	}

	// The hash caps apply at import: with bcrypt capped at cost 9 (through the environment), the rows whose hash is
	// bcrypt cost 10 are rejected as over the limit, before anything is sent: 112 of the file's 113 bcrypt hashes
	// (the other is on a row rejected first for another reason); 118 rejects in all. A dry run lists rejected rows
	// with the requests.
	capped := map[string]string{"IDSHIFT_MAX_BCRYPT_COST": "9"}
	for k, v := range vars {
		capped[k] = v
	}
	fresh := []string{"import", "--source", "../../examples/users.csv", "--store", filepath.Join(dir, "capped.db")}
	code, stdout, stderr = run(t, capped, append(fresh, "--dry-run")...)
	if code != exitWithRejections {
		t.Fatalf("capped dry run exit %d\n%s", code, stderr)
	}
	if n := strings.Count(stdout, `"action":"reject"`); n != 118 {
		t.Errorf("capped dry run: %d reject lines, want 118", n)
	}
	if n := strings.Count(stdout, `bcrypt cost 10 \u003e 9`); n != 112 {
		t.Errorf("capped dry run: %d rejections name the bcrypt cap, want 112\n%.1000s", n, stdout)
	}
}

// TestSSLCertFileTrustsTheSandbox runs the program as a subprocess (Go reads SSL_CERT_FILE once per process) with
// the sandbox's CA trusted only through SSL_CERT_FILE, as `idshift sandbox` suggests.
func TestSSLCertFileTrustsTheSandbox(t *testing.T) {
	dir := t.TempDir()
	vars := startSandboxCommand(t, dir, "--no-throttle")
	src := filepath.Join(dir, "users.csv")
	os.WriteFile(src, []byte("legacy_id,email\nx1,x1@example.com\nx2,x2@example.com\n"), 0o600)
	cmd := exec.Command(os.Args[0], "import", "--source", src, "--store", filepath.Join(dir, "s.db"), "--setup-extensions", "--json")
	cmd.Env = []string{"IDSHIFT_TEST_AS_PROGRAM=1"}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("import: %v\n%s\n%s", err, out, errOut(err))
	}
	if !strings.Contains(string(out), `"created":2`) {
		t.Fatalf("summary %s", out)
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := run(t, nil, "demo", "--dir", dir)
	if code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The legacy hashes are sealed in the store: none appears in its files.
	files, _ := filepath.Glob(filepath.Join(dir, "state.db*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, h := range []string{"$2y$", "$2b$", "$pbkdf2-sha256$", "$argon2id$", "$scrypt$"} {
			if bytes.Contains(b, []byte(h)) {
				t.Errorf("%s holds a %s hash in the clear", f, h)
			}
		}
	}
	if len(files) == 0 {
		t.Error("the demo wrote no state file")
	}
	for _, want := range []string{"created     292", "rejected      8", "reconciles", "created 0, skipped 292", "right password matches=true, wrong password matches=false",
		"6. Tenant setup", "7. idshift serve listening at https://127.0.0.1:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	// The sign-ins, as the simulator reported them.
	accounts, err := demoAccounts(2)
	if err != nil {
		t.Fatal(err)
	}
	a, b := accounts[0].email, accounts[1].email
	for _, want := range []string{
		"8. Right legacy password: migrated " + a + ": extension called (1 attempt)",
		"9. The same password again: success " + a + ": no extension call",
		"10. Wrong password: wrong_password " + b + " [AADSTS50126]: extension called",
		"11. 4 more wrong passwords: 4 refused",
		"12. A 6th wrong password: blocked " + b + ": extension called",
		"13. The right password, same address: blocked " + b,
		"14. The right password, another address: migrated " + b,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	for _, acc := range accounts {
		if strings.Contains(stdout+stderr, acc.password) {
			t.Errorf("the output holds %s's password", acc.legacyID)
		}
	}
	for _, f := range []string{demoEncryptionKey, demoTLSCert, demoTLSKey, "sandbox-ca.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the demo left no %s: %v", f, err)
		}
	}
	// What serve recorded in the state: both accounts migrated, every attempt with its outcome.
	ctx := context.Background()
	scfg := defaultConfig()
	scfg.Store = filepath.Join(dir, "state.db") // its key is the state.db.key beside it
	st, err := openStore(ctx, scfg, func(string) string { return "" }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, acc := range accounts {
		rec, err := st.Record(ctx, idshift.Key{Source: "demo", LegacyID: acc.legacyID})
		if err != nil || rec.State != idshift.StateMigrated {
			t.Errorf("%s after the demo: %+v, %v; want migrated", acc.legacyID, rec, err)
		}
	}
	counts, err := st.(idshift.AttemptStore).AttemptCounts(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[idshift.Action]int64{}
	for _, c := range counts {
		if c.Front == idshift.FrontEntra {
			got[c.Action] += c.N
		}
	}
	// Migrated: a, then b from another address; refused: b's five wrong passwords; blocked: b's 6th wrong one and
	// its right one from the locked address. The second sign-in of a called nothing.
	if got[idshift.ActionMigrate] != 2 || got[idshift.ActionRetry] != 5 || got[idshift.ActionBlock] != 2 {
		t.Errorf("attempts recorded by serve: %v; want 2 MigratePassword, 5 Retry, 2 Block", counts)
	}
}

// TestImportInterruptAndResume sends SIGINT to a running import: it must finish what is in flight, save, say how to
// resume and exit 1; the same command then completes with exactly one account per user.
func TestImportInterruptAndResume(t *testing.T) {
	dir := t.TempDir()
	vars := sandboxVars(t, dir, "--no-throttle")
	var b strings.Builder
	b.WriteString("legacy_id,email\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "s%d,s%d@example.com\n", i, i)
	}
	src := filepath.Join(dir, "users.csv")
	os.WriteFile(src, []byte(b.String()), 0o600)
	args := []string{"import", "--source", src, "--store", filepath.Join(dir, "s.db"), "--setup-extensions", "--json",
		"--workers", "2", "--chunk-size", "50", "--app-writes", "1000", "--app-window", "1s", "--tenant-writes", "1000", "--tenant-window", "1s"} // about 3 s of work
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{"IDSHIFT_TEST_AS_PROGRAM=1"}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	t0 := time.Now()
	err := cmd.Wait()
	t.Logf("interrupted run ended %s after SIGINT", time.Since(t0))
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitFailed {
		t.Fatalf("interrupted import: %v (want exit %d)\n%s\n%s", err, exitFailed, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "Run the same command again to resume") {
		t.Errorf("no resume hint:\n%s", stderr.String())
	}
	var first struct {
		Read, Created int64
		Interrupted   bool
		Reconciles    bool
	}
	if err := json.Unmarshal(stdout.Bytes(), &first); err != nil || !first.Interrupted || !first.Reconciles || first.Read >= 3000 {
		t.Fatalf("interrupted summary %s (%v)", stdout.String(), err)
	}
	code, out, errs := run(t, vars, args...)
	if code != exitComplete {
		t.Fatalf("resume exit %d\n%s\n%s", code, out, errs)
	}
	var second struct{ Read, Created, Adopted, Skipped int64 }
	json.Unmarshal([]byte(out), &second)
	if second.Read != 3000 || first.Created+second.Created+second.Adopted != 3000 || second.Skipped != first.Created {
		t.Fatalf("first %+v, second %+v", first, second)
	}
}

// TestImportTellsHowToCreateMissingExtensions: without --setup-extensions, an import into a tenant that lacks the
// migration's extension attributes stops before sending anything and says how to create them.
func TestImportTellsHowToCreateMissingExtensions(t *testing.T) {
	dir := t.TempDir()
	vars := sandboxVars(t, dir, "--no-throttle")
	src := filepath.Join(dir, "users.csv")
	os.WriteFile(src, []byte("legacy_id,email\nx1,x1@example.com\n"), 0o600)
	code, _, stderr := run(t, vars, "import", "--source", src, "--store", filepath.Join(dir, "s.db"))
	if code != exitFailed || !strings.Contains(stderr, "requiresMigration is missing") ||
		!strings.Contains(stderr, "--setup-extensions") || !strings.Contains(stderr, "extensionProperties") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.db")); err == nil {
		t.Errorf("the state store was created although nothing was imported")
	}
}

// TestImportStopsWhenTheQuotaIsExhausted: the tenant's object quota runs out mid-run (the check before the run
// is skipped with --ignore-quota, as when another process takes the room); the import stops (exit 1), names the
// cause, and its counts still reconcile.
func TestImportStopsWhenTheQuotaIsExhausted(t *testing.T) {
	dir := t.TempDir()
	vars := sandboxVars(t, dir, "--no-throttle", "--quota", "52") // 50 users + the 2 applications
	var b strings.Builder
	b.WriteString("legacy_id,email\n")
	for i := range 500 {
		fmt.Fprintf(&b, "q%d,q%d@example.com\n", i, i)
	}
	src := filepath.Join(dir, "users.csv")
	os.WriteFile(src, []byte(b.String()), 0o600)
	code, stdout, stderr := run(t, vars, "import", "--source", src, "--store", filepath.Join(dir, "s.db"),
		"--setup-extensions", "--json", "--workers", "1", "--chunk-size", "20", "--app-writes", "100000", "--app-window", "1s", "--ignore-quota")
	if code != exitFailed || !strings.Contains(stderr, "quota") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var sum struct {
		Read, Created, Failed int64
		Reconciles            bool
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || !sum.Reconciles || sum.Created == 0 || sum.Failed == 0 || sum.Read >= 500 {
		t.Fatalf("summary %s (%v)", stdout, err)
	}
}
