package ldap_test

import (
	"os"
	"testing"

	"github.com/idshift/idshift/internal/slapdtest"
)

// The directory the tests run against (internal/slapdtest): users under ou=people,base, a service account, the
// ppolicy overlay.
type slapd = slapdtest.Server

const (
	base      = slapdtest.Base
	serviceDN = slapdtest.ServiceDN
	servicePW = slapdtest.ServicePW
)

var freePort = slapdtest.FreePort

var (
	srv    *slapd
	srvErr error
)

func TestMain(m *testing.M) {
	srv, srvErr = slapdtest.Start()
	code := m.Run()
	if srv != nil {
		srv.Stop()
	}
	os.Exit(code)
}

// requireSlapd skips (or fails, with IDSHIFT_REQUIRE_SERVICES=1) when the test slapd is not available.
func requireSlapd(t testing.TB) *slapd {
	t.Helper()
	return slapdtest.Require(t, srv, srvErr)
}
