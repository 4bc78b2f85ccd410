package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/store/sqlite"
)

// TestImportSurvivesSIGKILL runs a real `idshift import` subprocess over 20,000 users against a sandbox tenant that
// loses responses after committing (commit-then-fail) and throttles at random, kills it with SIGKILL at random
// moments, restarts it, and then checks that the tenant holds exactly one account per source user, that the store
// agrees with the tenant, and that the final run's counts reconcile.
func TestImportSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	const users = 20000
	srv, err := sandbox.Start(sandbox.Config{
		DisableThrottling: true,
		Faults:            sandbox.Faults{CommitThenFail: 0.01, Throttle: 0.0003, Seed: 42},
	}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("legacy_id,email,username,display_name,given_name,surname,phone,password_hash,last_sign_in,created\n")
	for i := range users {
		fmt.Fprintf(&b, "L%06d,person%06d@example.org,,Person %d,,,,,,\n", i, i, i)
	}
	csv := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state.db")
	args := []string{"import", "--source", csv, "--source-name", "crash", "--store", state,
		"--domain", srv.Tenant.Domain(), "--graph-url", srv.URL, "--ca-file", ca, "--setup-extensions",
		"--workers", "4", "--json", "--progress-every", "1h",
		// Paced to about 20 s of work so that every kill lands mid-run (6 kills at most 1.5 s in take < 12,000).
		"--app-writes", "1000", "--app-window", "1s", "--tenant-writes", "1000", "--tenant-window", "1s"}
	vars := []string{
		"IDSHIFT_TEST_AS_PROGRAM=1",
		"AZURE_TENANT_ID=" + srv.Tenant.TenantID(),
		"AZURE_CLIENT_ID=" + sandbox.DefaultClientID,
		"AZURE_CLIENT_SECRET=" + sandbox.DefaultClientSecret,
		"AZURE_AUTHORITY_HOST=" + srv.AuthorityHost,
	}
	bin := buildProgram(t, dir)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = vars
		return cmd
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for attempt := 0; kills < 6 && attempt < 30; attempt++ {
		cmd := start()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for the run to be under way (users arriving in the tenant), then kill it at a random moment.
		before := srv.Tenant.UserCount()
		deadline := time.Now().Add(30 * time.Second)
		for srv.Tenant.UserCount() == before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Logf("run %d finished before the kill (%v)", attempt, err)
			if srv.Tenant.UserCount() >= users {
				t.Fatalf("the import finished after %d kills; the test needs at least 5 (make the source larger)", kills)
			}
			continue
		default:
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-done
		kills++
		t.Logf("killed run %d with SIGKILL; tenant holds %d users", attempt, srv.Tenant.UserCount())
	}
	if kills < 5 {
		t.Fatalf("only %d kills landed mid-run", kills)
	}

	// The final run, to completion.
	cmd := start()
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitComplete {
			t.Fatalf("final run: %v\n%s\n%s", err, out, errOut(err))
		}
	}
	var sum struct {
		Read, Created, Adopted, Updated, Skipped, Collisions, Rejected, Failed int64
		Reconciles                                                             bool
	}
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("final summary %q: %v", out, err)
	}
	t.Logf("final run: %+v; sandbox stats %+v", sum, srv.Tenant.Stats())
	if !sum.Reconciles || sum.Read != users || sum.Failed != 0 || sum.Rejected != 0 || sum.Collisions != 0 {
		t.Fatalf("final summary %+v", sum)
	}
	if f := srv.Tenant.Stats().Faults; f["commitThenFail"] == 0 || f["throttle"] == 0 {
		t.Fatalf("faults injected %v: the test needs both commit-then-fail and 429s to prove anything", f)
	}

	// Exactly one account per source user.
	ext := "extension_" + srv.Tenant.ExtensionsAppIDNoDashes() + "_legacyId"
	byLegacy := map[string]string{}
	for _, u := range srv.Tenant.Users() {
		id, _ := u[ext].(string)
		if prev, dup := byLegacy[id]; dup {
			t.Errorf("legacy id %q has two accounts: %s and %v", id, prev, u["id"])
		}
		byLegacy[id], _ = u["id"].(string)
	}
	if len(byLegacy) != users {
		t.Errorf("tenant holds %d accounts, want %d", len(byLegacy), users)
	}

	// The store agrees with the tenant.
	st, err := sqlite.Config{Path: state}.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	err = st.Scan(context.Background(), nil, func(r *idshift.Record) error {
		n++
		if r.State != idshift.StateCreated && r.State != idshift.StateAdopted {
			t.Errorf("%s: state %s", r.LegacyID, r.State)
		} else if byLegacy[r.LegacyID] != r.ObjectID {
			t.Errorf("%s: store says %s, tenant says %s", r.LegacyID, r.ObjectID, byLegacy[r.LegacyID])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != users {
		t.Errorf("store holds %d records, want %d", n, users)
	}
}

// buildProgram builds idshift without the race detector (the subprocess's speed decides how long the test takes);
// without a go command it falls back to the test binary itself, which runs the program when
// IDSHIFT_TEST_AS_PROGRAM=1.
func buildProgram(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Logf("no go command (%v): running the test binary as the program", err)
		return os.Args[0]
	}
	bin := filepath.Join(dir, "idshift")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func errOut(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
