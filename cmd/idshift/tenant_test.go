package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idshift/idshift/graph"
)

// sandboxUsers returns the number of users in the sandbox tenant (its unauthenticated stats endpoint).
func sandboxUsers(t *testing.T, vars map[string]string) int {
	t.Helper()
	hc, err := graph.HTTPClient(vars["IDSHIFT_CA_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(vars["IDSHIFT_GRAPH_URL"] + "/_sandbox/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ Users int }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Users
}

func usersFile(t *testing.T, dir, name string, from, to int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("legacy_id,email\n")
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "q%d,q%d@example.com\n", i, i)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImportStopsBeforeCreatingWhenOverQuota: planned creates above the quota's room stop the import before
// anyone is created; users already imported do not count as planned creates.
func TestImportStopsBeforeCreatingWhenOverQuota(t *testing.T) {
	dir := t.TempDir()
	vars := sandboxVars(t, dir, "--no-throttle", "--quota", "52") // room for 50 users beside the 2 applications
	store := filepath.Join(dir, "s.db")
	imp := func(src string) (int, string, string) {
		return run(t, vars, "import", "--source", src, "--store", store, "--setup-extensions", "--json",
			"--app-writes", "100000", "--app-window", "1s")
	}
	code, stdout, stderr := imp(usersFile(t, dir, "big.csv", 0, 500))
	if code != exitFailed || !strings.Contains(stderr, "would create 500 users") || !strings.Contains(stderr, "room for 50 more") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := sandboxUsers(t, vars); n != 0 {
		t.Fatalf("%d users created before the quota stop", n)
	}
	// 40 fit; then 40 known + 5 new fit the 10 left (the file's 46 lines do not: the exact count decides); then
	// 20 new do not.
	if code, stdout, stderr := imp(usersFile(t, dir, "40.csv", 0, 40)); code != exitComplete {
		t.Fatalf("40 users: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr := imp(usersFile(t, dir, "45.csv", 0, 45)); code != exitComplete || !strings.Contains(stderr, "planned creates") {
		t.Fatalf("5 more users: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := imp(usersFile(t, dir, "65.csv", 0, 65)); code != exitFailed || !strings.Contains(stderr, "would create 20 users") {
		t.Fatalf("20 more users: exit %d\n%s", code, stderr)
	}
	if n := sandboxUsers(t, vars); n != 45 {
		t.Fatalf("%d users, want 45", n)
	}
}

func TestTenantCommands(t *testing.T) {
	dir := t.TempDir()
	vars := sandboxVars(t, dir, "--no-throttle")
	key1, key2 := filepath.Join(dir, "k1.pem"), filepath.Join(dir, "k2.pem")
	target := "https://migrate.example.com/entra"

	code, stdout, stderr := run(t, vars, "tenant", "setup", "--dry-run", "--target-url", target, "--key-out", key1)
	if code != exitComplete || !strings.Contains(stdout, "dry run: 9 requests would be sent") || !strings.Contains(stdout, "POST /beta/identity/authenticationEventListeners") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(key1); err == nil {
		t.Fatalf("the dry run wrote the key file")
	}
	if code, stdout, _ := run(t, vars, "tenant", "check", "--target-url", target); code != exitPending || !strings.Contains(stdout, "MISSING application") {
		t.Fatalf("check before setup: exit %d\n%s", code, stdout)
	}

	code, stdout, stderr = run(t, vars, "tenant", "setup", "--json", "--target-url", target, "--key-out", key1)
	if code != exitComplete {
		t.Fatalf("setup: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var res struct {
		KeyID, ResourceID string
		Requests          []any
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || len(res.Requests) != 9 || !strings.HasPrefix(res.ResourceID, "api://migrate.example.com/") {
		t.Fatalf("setup result %s (%v)", stdout, err)
	}
	if fi, err := os.Stat(key1); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v", fi, err)
	}
	if code, stdout, _ := run(t, vars, "tenant", "setup", "--target-url", target, "--key-out", key1); code != exitComplete || !strings.Contains(stdout, "already matches") {
		t.Fatalf("second setup: exit %d\n%s", code, stdout)
	}
	if code, stdout, _ := run(t, vars, "tenant", "check", "--key-file", key1); code != exitComplete || strings.Contains(stdout, "MISSING") {
		t.Fatalf("check: exit %d\n%s", code, stdout)
	}

	if code, stdout, stderr := run(t, vars, "tenant", "rotate-key", "--key-out", key2); code != exitComplete || !strings.Contains(stdout, key2) {
		t.Fatalf("rotate: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, _ := run(t, vars, "tenant", "check", "--key-file", key1); code != exitPending || !strings.Contains(stdout, "MISSING decryption key") {
		t.Fatalf("check with the old key only: exit %d\n%s", code, stdout)
	}
	if code, stdout, _ := run(t, vars, "tenant", "check", "--key-file", key1, "--key-file", key2); code != exitComplete {
		t.Fatalf("check with both keys: exit %d\n%s", code, stdout)
	}
	if code, stdout, stderr := run(t, vars, "tenant", "remove-key", "--key-id", res.KeyID); code != exitComplete || !strings.Contains(stdout, "PATCH /v1.0/applications/") {
		t.Fatalf("remove-key: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := run(t, vars, "tenant", "setup", "--target-url", "http://migrate.example.com/entra"); code != exitFailed || !strings.Contains(stderr, "https") {
		t.Fatalf("http target: exit %d\n%s", code, stderr)
	}
	if code, _, _ := run(t, vars, "tenant", "frobnicate"); code != exitUsage {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
}
