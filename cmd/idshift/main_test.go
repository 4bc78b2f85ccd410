package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/idshift/idshift/internal/browsertest"
)

// TestMain lets the test binary act as the idshift program, so that tests can run it as a real subprocess (and kill
// it) without building it separately.
func TestMain(m *testing.M) {
	if os.Getenv("IDSHIFT_TEST_AS_PROGRAM") == "1" {
		main()
	}
	os.Exit(browsertest.Main(m))
}

// run runs the program in-process with the given environment variables.
func run(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }}
	code = Main(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestUnknownCommand(t *testing.T) {
	code, _, stderr := run(t, nil, "frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
}

func TestHelpListsCommands(t *testing.T) {
	code, stdout, _ := run(t, nil, "help")
	if code != 0 {
		t.Fatalf("code %d", code)
	}
	for _, c := range []string{"import", "demo", "sandbox", "hashes"} {
		if !strings.Contains(stdout, c) {
			t.Errorf("help does not list %s:\n%s", c, stdout)
		}
	}
}
