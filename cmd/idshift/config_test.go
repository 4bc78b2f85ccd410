package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/idshift/idshift/importer"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "idshift.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportConfigErrors checks that every refused value exits 2 and names its key, where it came from (flag,
// environment variable, file and line) and, for a typo, the nearest valid key.
func TestImportConfigErrors(t *testing.T) {
	typo := writeConfig(t, "source:\n  path: users.csv\ntenant:\n  domian: contoso.onmicrosoft.com\n")
	badValue := writeConfig(t, "source:\n  path: users.csv\nimport:\n  workers: lots\n")
	badDuration := writeConfig(t, "source:\n  path: users.csv\nlimits:\n  app_window: soon\n")
	nested := writeConfig(t, "source:\n  path: users.csv\nstore:\n  path: x.db\n")
	zeroWorkers := writeConfig(t, "source:\n  path: users.csv\nimport:\n  chunk_size: 10\n  workers: 0\n")
	badEncoding := writeConfig(t, "source:\n  path: users.csv\nhashes:\n  password_encoding: ebcdic\n")
	appTypo := writeConfig(t, "source:\n  path: users.csv\ntenant:\n  apps:\n    - client_id: a\n      client_secert: s\n")
	tests := []struct {
		name   string
		vars   map[string]string
		args   []string
		want   []string
		reject []string
	}{
		{"typo in a key", nil, []string{"import", "--config", typo},
			[]string{typo + ":4:", "unknown key tenant.domian", "did you mean tenant.domain?"}, []string{"struct"}},
		{"typo in a list item", nil, []string{"import", "--config", appTypo},
			[]string{appTypo + ":6:", "tenant.apps[0].client_secert", "did you mean tenant.apps[0].client_secret?"}, []string{"struct"}},
		{"bad integer in the file", nil, []string{"import", "--config", badValue},
			[]string{badValue + ":4:", "import.workers", `"lots" is not an integer`}, []string{"!!str"}},
		{"bad duration in the file", nil, []string{"import", "--config", badDuration},
			[]string{badDuration + ":4:", "limits.app_window", "not a duration"}, nil},
		{"a mapping where a value belongs", nil, []string{"import", "--config", nested},
			[]string{nested + ":4:", "store: want a single value"}, nil},
		{"out of range in the file", nil, []string{"import", "--config", zeroWorkers},
			[]string{"import.workers (from " + zeroWorkers + ":5)", "at least 1"}, nil},
		{"bad environment value", map[string]string{"IDSHIFT_WORKERS": "many"}, []string{"import", "--source", "x.csv"},
			[]string{"$IDSHIFT_WORKERS", "import.workers", `"many" is not an integer`}, nil},
		{"out of range from the environment", map[string]string{"IDSHIFT_WORKERS": "0"}, []string{"import", "--source", "x.csv"},
			[]string{"import.workers (from $IDSHIFT_WORKERS)"}, nil},
		{"out of range from a flag", nil, []string{"import", "--source", "x.csv", "--workers", "0"},
			[]string{"import.workers (from --workers)"}, nil},
		{"flag that does not parse", nil, []string{"import", "--source", "x.csv", "--workers", "lots"},
			[]string{"--workers"}, nil},
		{"shard that does not parse", nil, []string{"import", "--source", "x.csv", "--shard", "abc"},
			[]string{"import.shard (from --shard)", `"abc" is not I/N`}, nil},
		{"shard out of range from the environment", map[string]string{"IDSHIFT_SHARD": "2/2"}, []string{"import", "--source", "x.csv"},
			[]string{"import.shard (from $IDSHIFT_SHARD)"}, nil},
		{"shard without a shared store", nil, []string{"import", "--source", "x.csv", "--shard", "0/2"},
			[]string{"import.shard", "PostgreSQL"}, nil},
		{"hash cap from a flag", nil, []string{"import", "--source", "x.csv", "--max-bcrypt-cost", "40"},
			[]string{"hashes.limits.bcrypt_cost (from --max-bcrypt-cost)", "want 4 to 31"}, nil},
		{"hash cap from the environment", map[string]string{"IDSHIFT_MAX_BCRYPT_COST": "40"}, []string{"import", "--source", "x.csv"},
			[]string{"hashes.limits.bcrypt_cost (from $IDSHIFT_MAX_BCRYPT_COST)"}, nil},
		{"password encoding from the file", nil, []string{"import", "--config", badEncoding},
			[]string{"hashes.password_encoding (from " + badEncoding + ":4)"}, nil},
		{"bad HMAC key is not echoed", map[string]string{"IDSHIFT_HMAC_KEY": "zz-secret-zz", "IDSHIFT_HMAC_KEY_ENCODING": "hex"},
			[]string{"import", "--source", "x.csv"}, []string{"hashes.hmac_key"}, []string{"secret"}},
		{"missing source", nil, []string{"import"}, []string{"source.path (--source): required"}, nil},
		{"stray argument", nil, []string{"import", "--source", "x.csv", "extra"}, []string{`unexpected argument "extra"`}, nil},
		{"hashes check cap from the environment", map[string]string{"IDSHIFT_MAX_SCRYPT_N": "1"}, []string{"hashes", "check"},
			[]string{"hashes.limits.scrypt_n (from $IDSHIFT_MAX_SCRYPT_N)"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, tt.vars, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr %q", code, exitUsage, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, r := range tt.reject {
				if strings.Contains(stderr, r) {
					t.Errorf("stderr has %q:\n%s", r, stderr)
				}
			}
		})
	}
}

func TestConfigFileSetsValues(t *testing.T) {
	p := writeConfig(t, "source:\n  path: users.csv\nlimits:\n  app_window: 30s\ntenant:\n  apps:\n    - client_id: a\n      client_secret: s\n")
	c := defaultConfig()
	if err := loadConfigFile(p, c); err != nil {
		t.Fatal(err)
	}
	if c.Source.Path != "users.csv" || c.Limits.AppWindow.Seconds() != 30 || len(c.Tenant.Apps) != 1 || c.Tenant.Apps[0].ClientSecret != "s" {
		t.Errorf("decoded %+v", c)
	}
	if c.Import.Workers != 8 {
		t.Errorf("a key the file does not set lost its default: workers %d", c.Import.Workers)
	}
	if got := c.origin["limits.app_window"]; got != p+":4" {
		t.Errorf("origin of limits.app_window %q", got)
	}
}

// TestHelpIsGrouped checks that every command's -h starts with examples and lists every flag in a named group.
func TestHelpIsGrouped(t *testing.T) {
	for _, args := range [][]string{{"import", "-h"}, {"sandbox", "-h"}, {"hashes", "check", "-h"}, {"hashes", "lint", "-h"}, {"serve", "-h"}, {"status", "-h"}, {"report", "-h"}, {"cutover", "-h"}, {"demo", "-h"}, {"audit", "-h"}, {"rollback", "-h"},
		{"tenant", "setup", "-h"}, {"tenant", "check", "-h"}, {"tenant", "rotate-key", "-h"}, {"tenant", "remove-key", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, stderr := run(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			ex, fl := strings.Index(stderr, "Examples:"), strings.Index(stderr, "\n  --")
			if ex < 0 || fl < 0 || ex > fl || strings.Count(stderr, "\n  # ") < 2 {
				t.Errorf("no examples before the flags:\n%s", stderr)
			}
			if strings.Contains(stderr, "Other flags:") {
				t.Errorf("a flag is in no group:\n%s", stderr[strings.Index(stderr, "Other flags:"):])
			}
		})
	}
	_, _, stderr := run(t, nil, "import", "-h")
	for _, g := range []string{"Source:", "Tenant and credentials:", "Hashes:", "Limits (writes to the tenant):", "Run:"} {
		if !strings.Contains(stderr, "\n"+g+"\n") {
			t.Errorf("import -h has no group %q", g)
		}
	}
	if n := strings.Count(stderr, "\n  --"); n < 50 {
		t.Errorf("import -h lists %d flags", n)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, _ := run(t, nil, args...)
		if code != 0 || !strings.HasPrefix(stdout, "idshift ") || !strings.Contains(stdout, "go1.") {
			t.Errorf("%v: exit %d, %q", args, code, stdout)
		}
	}
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got, want := versionLine(bi, true), "idshift v1.2.3 (commit 0123456789ab+dirty, 2026-01-02T03:04:05Z, go1.26.0)"; got != want {
		t.Errorf("versionLine = %q, want %q", got, want)
	}
	if got := versionLine(nil, false); !strings.Contains(got, "unknown version") {
		t.Errorf("versionLine without build info = %q", got)
	}
}

// TestImportTokenErrors checks that a refused secret and a wrong Graph URL are told in one line each.
func TestImportTokenErrors(t *testing.T) {
	dir := t.TempDir()
	vars := sandboxVars(t, dir)
	src := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(src, []byte("legacy_id,email,display_name\n1,ada@example.com,Ada\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "state.db")
	bad := map[string]string{}
	for k, v := range vars {
		bad[k] = v
	}
	bad["AZURE_CLIENT_SECRET"] = "not-the-secret"
	code, _, stderr := run(t, bad, "import", "--source", src, "--store", store)
	if code == 0 || !strings.Contains(stderr, "refused the credential (AADSTS7000215") || strings.Contains(stderr, "To troubleshoot") || strings.Contains(stderr, "unauthorized") {
		t.Errorf("wrong secret: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = run(t, vars, "import", "--source", src, "--store", store, "--graph-url", "https://graph.example.org")
	if code == 0 || !strings.Contains(stderr, "the Graph URL https://graph.example.org does not look like Microsoft Graph") {
		t.Errorf("wrong Graph URL: exit %d, stderr %q", code, stderr)
	}
}

// TestReadmeSandboxBlock checks that the README's sandbox block exports exactly what `idshift sandbox` prints.
func TestReadmeSandboxBlock(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The block of the section that runs a sandbox by hand (later sections export variables of their own).
	section := string(b)
	if i := strings.Index(section, "### Import into a sandbox tenant you run yourself"); i >= 0 {
		section = section[i:]
		if j := strings.Index(section[3:], "\n### "); j >= 0 {
			section = section[:j+3]
		}
	}
	readme := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			readme[k] = v
		}
	}
	dir := t.TempDir()
	printed := startSandboxCommand(t, dir)
	if len(printed) == 0 || len(readme) != len(printed) {
		t.Errorf("README exports %d variables, idshift sandbox prints %d:\nREADME %v\nsandbox %v", len(readme), len(printed), readme, printed)
	}
	for k, v := range printed {
		want, ok := readme[k]
		switch {
		case !ok:
			t.Errorf("README does not export %s", k)
		case k == "SSL_CERT_FILE":
			if filepath.Base(v) != "ca.pem" || want != "sandbox-ca.pem" {
				t.Errorf("%s: README %q, printed %q", k, want, v)
			}
		default:
			// The README's sandbox listens on 127.0.0.1:8443; the test's on a free port.
			host := strings.TrimPrefix(strings.TrimPrefix(printed["IDSHIFT_GRAPH_URL"], "https://"), "/")
			if got := strings.ReplaceAll(v, host, "127.0.0.1:8443"); got != want {
				t.Errorf("%s: README %q, printed %q", k, want, got)
			}
		}
	}
}

// TestSummaryTable checks that the summary's counts are aligned and its words pluralised.
func TestSummaryTable(t *testing.T) {
	var b strings.Builder
	writeSummaryTable(&b, importer.Summary{Read: 1, Created: 1}, true)
	if !strings.HasPrefix(b.String(), "read 1 user in ") {
		t.Errorf("not singular:\n%s", b.String())
	}
	b.Reset()
	writeSummaryTable(&b, importer.Summary{Read: 1234, Created: 1200, Rejected: 30, Collisions: 4}, true)
	out := b.String()
	if !strings.HasPrefix(out, "read 1234 users in ") {
		t.Errorf("not plural:\n%s", out)
	}
	end := -1
	for _, line := range strings.Split(out, "\n")[1:8] {
		cut, _, _ := strings.Cut(line, "  (")
		if !strings.HasPrefix(line, "  ") || (end >= 0 && len(cut) != end) {
			t.Errorf("counts not aligned:\n%s", out)
			break
		}
		end = len(cut)
	}
	if !strings.Contains(out, "  would be created  1200\n") || !strings.Contains(out, "  rejected            30\n") {
		t.Errorf("table:\n%s", out)
	}
}
