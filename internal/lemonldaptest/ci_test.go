package lemonldaptest

import (
	"os"
	"strings"
	"testing"
)

// TestCIInstallsThePackages keeps .ci/run's install list and Packages the same: a package missing from CI makes
// the portal answer 500 on a clean machine.
func TestCIInstallsThePackages(t *testing.T) {
	b, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `lemonldap_pkgs="`+Packages+`"`) {
		t.Errorf(".ci/run's lemonldap_pkgs differ from lemonldaptest.Packages (%s)", Packages)
	}
}
