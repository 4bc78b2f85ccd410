package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/idshift/idshift/internal/servicetest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/importer"
	"github.com/idshift/idshift/sandbox"
)

// importSummary is the JSON summary of `idshift import --json`.
type importSummary struct {
	Read, Created, Adopted, Updated, Skipped, Collisions, Rejected, Failed, OtherShard int64
	Interrupted, Reconciles                                                            bool
}

// sandboxEnv starts a sandbox tenant in-process and returns it with the environment a subprocess needs to reach it.
func sandboxEnv(t *testing.T, cfg sandbox.Config, dir string) (*sandbox.Server, []string) {
	t.Helper()
	srv, err := sandbox.Start(cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ca := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	return srv, []string{
		"IDSHIFT_TEST_AS_PROGRAM=1",
		"AZURE_TENANT_ID=" + srv.Tenant.TenantID(),
		"AZURE_CLIENT_ID=" + sandbox.DefaultClientID,
		"AZURE_CLIENT_SECRET=" + sandbox.DefaultClientSecret,
		"AZURE_AUTHORITY_HOST=" + srv.AuthorityHost,
		"IDSHIFT_TENANT_DOMAIN=" + srv.Tenant.Domain(),
		"IDSHIFT_GRAPH_URL=" + srv.URL,
		"IDSHIFT_CA_FILE=" + ca,
	}
}

func writeUsers(t *testing.T, dir, prefix string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("legacy_id,email\n")
	for i := range n {
		fmt.Fprintf(&b, "%s%05d,%s%05d@example.com\n", prefix, i, prefix, i)
	}
	path := filepath.Join(dir, prefix+"users.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// oneAccountPerUser checks that the tenant holds exactly one account for each of the n users.
func oneAccountPerUser(t *testing.T, srv *sandbox.Server, n int) {
	t.Helper()
	ext := "extension_" + srv.Tenant.ExtensionsAppIDNoDashes() + "_legacyId"
	byLegacy := map[string]int{}
	for _, u := range srv.Tenant.Users() {
		if id, ok := u[ext].(string); ok {
			byLegacy[id]++
		}
	}
	for id, k := range byLegacy {
		if k != 1 {
			t.Errorf("legacy id %s has %d accounts", id, k)
		}
	}
	if len(byLegacy) != n {
		t.Errorf("tenant holds accounts for %d legacy ids, want %d", len(byLegacy), n)
	}
}

// exited waits for cmd up to limit and reports whether it exited, with its status.
func exited(t *testing.T, cmd *exec.Cmd, limit time.Duration) (code int, ok bool) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			return 0, true
		}
		if ee, isExit := err.(*exec.ExitError); isExit {
			return ee.ExitCode(), true
		}
		t.Fatalf("wait: %v", err)
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
	}
	return -1, false
}

// TestImportInterruptedWhileThrottled: SIGINT during an import paced at Graph's default limits (against a sandbox
// enforcing them) stops it promptly instead of draining every queued chunk: the counts reconcile, the resume hint is
// printed, and the same command then completes with exactly one account per user.
func TestImportInterruptedWhileThrottled(t *testing.T) {
	dir := t.TempDir()
	srv, vars := sandboxEnv(t, sandbox.Config{}, dir)
	const users = 600 // about 30 s at 20 writes a second: far longer than the stop may take
	src := writeUsers(t, dir, "t", users)
	bin := buildProgram(t, dir)
	args := []string{"import", "--source", src, "--store", filepath.Join(dir, "s.db"), "--setup-extensions", "--json"}
	cmd := exec.Command(bin, args...)
	cmd.Env = vars
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for srv.Tenant.UserCount() < 40 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	code, ok := exited(t, cmd, 30*time.Second)
	took := time.Since(t0)
	if !ok {
		t.Fatalf("the import did not exit within 30 s of SIGINT\n%s", stderr.String())
	}
	t.Logf("exited %s after SIGINT with %d; the tenant holds %d users", took, code, srv.Tenant.UserCount())
	if code != exitFailed || !strings.Contains(stderr.String(), "Run the same command again to resume") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	var first importSummary
	if err := json.Unmarshal([]byte(stdout.String()), &first); err != nil {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	if !first.Interrupted || !first.Reconciles || first.Read >= users || first.Created == 0 || first.Failed != 0 {
		t.Fatalf("interrupted summary %+v", first)
	}
	if int64(srv.Tenant.UserCount()) < first.Created {
		t.Fatalf("summary says %d created, the tenant holds %d", first.Created, srv.Tenant.UserCount())
	}

	// The same command, faster paced (the sandbox's bucket holds a full window), completes.
	cmd = exec.Command(bin, append(args, "--app-writes", "3000", "--app-window", "1s", "--tenant-writes", "3000", "--tenant-window", "1s")...)
	cmd.Env = vars
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("resume: %v\n%s\n%s", err, out, errOut(err))
	}
	var second importSummary
	if err := json.Unmarshal(out, &second); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	if second.Read != users || !second.Reconciles || second.Skipped < first.Created || second.Failed != 0 {
		t.Fatalf("resume summary %+v after %+v", second, first)
	}
	oneAccountPerUser(t, srv, users)
}

// TestKilledImportScratchIndexIsRemoved: an import killed with SIGKILL leaves its scratch duplicate index beside the
// store; the next run removes it (and its own), and completes.
func TestKilledImportScratchIndexIsRemoved(t *testing.T) {
	dir := t.TempDir()
	srv, vars := sandboxEnv(t, sandbox.Config{DisableThrottling: true}, dir)
	const users = 800
	src := writeUsers(t, dir, "k", users)
	bin := buildProgram(t, dir)
	args := []string{"import", "--source", src, "--store", filepath.Join(dir, "s.db"), "--setup-extensions", "--json",
		"--tenant-writes", "100000", "--tenant-window", "1s"}
	cmd := exec.Command(bin, append(args, "--app-writes", "100", "--app-window", "1s")...)
	cmd.Env = vars
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for srv.Tenant.UserCount() < 20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	left, _ := filepath.Glob(filepath.Join(dir, "idshift-seen-*"))
	if len(left) != 1 {
		t.Fatalf("the killed run left %v, want its scratch index", left)
	}

	cmd = exec.Command(bin, append(args, "--app-writes", "100000", "--app-window", "1s")...)
	cmd.Env = vars
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("rerun: %v\n%s\n%s", err, out, errOut(err))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "idshift-seen-*")); len(left) != 0 {
		t.Errorf("scratch indexes left after the rerun: %v", left)
	}
	oneAccountPerUser(t, srv, users)
}

// slowBcrypt is a bcrypt hash of cost cost that no password matches, made from a cheap one (the cost is part of the
// string, so verifying it costs 2^cost rounds all the same).
func slowBcrypt(t *testing.T, cost int) string {
	h := bcryptOf(t, "something")
	return fmt.Sprintf("$2a$%02d$%s", cost, h[7:])
}

// startHashesCheck runs `idshift hashes check --workers 1` over lines lines of a bcrypt hash of cost cost, and
// returns the command and a channel that gets each output line.
func startHashesCheck(t *testing.T, bin string, lines, cost int) (*exec.Cmd, <-chan string, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	h := slowBcrypt(t, cost)
	var b strings.Builder
	for range lines {
		b.WriteString(jsonLine(t, map[string]string{"hash": h, "password": "guess"}))
	}
	in := filepath.Join(dir, "pairs.jsonl")
	if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "hashes", "check", "--workers", "1", "--max-bcrypt-cost", fmt.Sprint(cost), "-f", in)
	cmd.Env = []string{"IDSHIFT_TEST_AS_PROGRAM=1"}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, lines)
	go func() {
		defer close(got)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			got <- sc.Text()
		}
	}()
	return cmd, got, stderr
}

// TestHashesCheckStopsWhenInterrupted: SIGINT in the middle of a long `hashes check` ends it once the verification in
// progress ends (it used to hang for ever), with a non-zero status.
func TestHashesCheckStopsWhenInterrupted(t *testing.T) {
	dir := t.TempDir()
	bin := buildProgram(t, dir)
	const lines = 300
	cmd, got, stderr := startHashesCheck(t, bin, lines, 10)
	select {
	case line := <-got:
		if line != `{"match":false}` {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no output within 60 s")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	n := 1
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range got {
			n++
		}
	}()
	code, ok := exited(t, cmd, 30*time.Second)
	wg.Wait()
	if !ok {
		t.Fatal("hashes check did not exit within 30 s of SIGINT")
	}
	if code != 1 || n >= lines || !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("exit %d after %d of %d lines\n%s", code, n, lines, stderr.String())
	}
}

// TestSecondInterruptExitsAtOnce: the first SIGINT lets the work in progress finish (here a bcrypt verification of
// cost 18, many seconds); the second exits at once with status 130.
func TestSecondInterruptExitsAtOnce(t *testing.T) {
	dir := t.TempDir()
	bin := buildProgram(t, dir)
	cmd, _, stderr := startHashesCheck(t, bin, 3, 18)
	time.Sleep(500 * time.Millisecond) // the verification of the first line is under way
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "interrupt again") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "interrupt again") {
		t.Fatalf("no notice after the first SIGINT:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code, ok := exited(t, cmd, 30*time.Second)
	if !ok || code != exitInterruptedTwice {
		t.Fatalf("after a second SIGINT: exited %v with %d, want %d\n%s", ok, code, exitInterruptedTwice, stderr.String())
	}
}

// postgresDatabase creates a fresh database on the PostgreSQL server (dropped at the end) and returns its URL,
// skipping when the server is unreachable unless IDSHIFT_REQUIRE_SERVICES=1.
func postgresDatabase(t *testing.T) string {
	t.Helper()
	base := servicetest.PostgresURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		msg := "PostgreSQL unreachable at IDSHIFT_POSTGRES_URL: " + err.Error()
		servicetest.Unavailable(t, msg)
	}
	defer conn.Close(ctx)
	b := make([]byte, 5)
	rand.Read(b)
	name := "idshift_shard_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestShardedImportSplitsTheWork runs two `idshift import --shard I/2` processes at once against one sandbox and one
// PostgreSQL store: each sends only its share, and together they create exactly one account per user.
func TestShardedImportSplitsTheWork(t *testing.T) {
	dbURL := postgresDatabase(t)
	dir := t.TempDir()
	srv, vars := sandboxEnv(t, sandbox.Config{DisableThrottling: true}, dir)
	key := make([]byte, 32)
	rand.Read(key)
	vars = append(vars, "IDSHIFT_STORE_KEY="+base64.StdEncoding.EncodeToString(key))
	const users = 1000
	src := writeUsers(t, dir, "p", users)
	want := [2]int64{}
	for i := range users {
		want[importer.ShardOf(idshift.Key{Source: "split", LegacyID: fmt.Sprintf("p%05d", i)}, 2)]++
	}
	if want[0] == 0 || want[1] == 0 {
		t.Fatalf("shares %v: the test needs both shards", want)
	}
	bin := buildProgram(t, dir)

	var cmds [2]*exec.Cmd
	var outs, errs [2]bytes.Buffer
	for i := range cmds {
		cmds[i] = exec.Command(bin, "import", "--source", src, "--source-name", "split", "--store", dbURL,
			"--shard", fmt.Sprintf("%d/2", i), "--rejects", filepath.Join(dir, fmt.Sprintf("rejects-%d.jsonl", i)),
			"--setup-extensions", "--json", "--workers", "2", "--chunk-size", "50",
			"--app-writes", "100000", "--app-window", "1s", "--tenant-writes", "100000", "--tenant-window", "1s")
		cmds[i].Env = vars
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &errs[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	var sums [2]importSummary
	for i, c := range cmds {
		code, ok := exited(t, c, 5*time.Minute)
		if !ok || code != exitComplete {
			t.Fatalf("shard %d: exited %v with %d\n%s\n%s", i, ok, code, outs[i].String(), errs[i].String())
		}
		if err := json.Unmarshal(outs[i].Bytes(), &sums[i]); err != nil {
			t.Fatalf("shard %d summary %q: %v", i, outs[i].String(), err)
		}
		s := sums[i]
		if s.Read != users || !s.Reconciles || s.Created+s.Adopted != want[i] || s.OtherShard != users-want[i] {
			t.Errorf("shard %d: summary %+v, want %d of its own and %d others'", i, s, want[i], users-want[i])
		}
	}
	// Each user was sent once: no process sent another's users (that would be 2,000 writes and conflicts).
	if w := srv.Tenant.Stats().Writes; w != users {
		t.Errorf("the sandbox admitted %d writes, want %d", w, users)
	}
	oneAccountPerUser(t, srv, users)
}
