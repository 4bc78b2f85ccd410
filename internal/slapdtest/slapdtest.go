// Package slapdtest starts a real OpenLDAP slapd for tests: a generated slapd.conf in a temporary directory, an mdb
// database loaded with slapadd, ldap:// (StartTLS) and ldaps:// listeners on free loopback ports with a generated
// certificate, the ppolicy overlay with a lockout policy and an expiring one, and the pw-pbkdf2 module. Tests that
// use it skip when slapd is not installed (apt-get install slapd slapd-contrib ldap-utils) and fail instead with
// IDSHIFT_REQUIRE_SERVICES=1 (Require).
package slapdtest

import (
	"fmt"
	"github.com/idshift/idshift/internal/servicetest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Server is a real OpenLDAP server a test starts: a generated slapd.conf in a temporary directory, an mdb
// database loaded with slapadd, ldap:// (StartTLS) and ldaps:// listeners on free loopback ports with a generated
// certificate, and the ppolicy overlay with a lockout policy.
type Server struct {
	URL   string // ldap://127.0.0.1:port (StartTLS capable)
	LDAPS string // ldaps://127.0.0.1:port
	CA    []byte // PEM of the certificate the server presents (self-signed)
	cmd   *exec.Cmd
	done  chan error
	dir   string
}

const (
	// Base is the directory"s suffix; the users are under ou=people,Base.
	Base = "dc=example,dc=com"
	// ServiceDN and ServicePW are the service account allowed to search.
	ServiceDN = "cn=idshift,dc=example,dc=com"
	ServicePW = "service-secret"
)

// User is an entry of the directory: uid=UID,ou=people,Base with mail UID@example.com, its password stored
// with Scheme, and Extra LDIF lines (password policy state).
type User struct {
	UID, Scheme, Password, Extra string
}

// Users of the directory: one per stored scheme, a locked account (ppolicy), an expired password, a reset one and
// one with a strong password.
// Besides them, twin1 and twin2 share the mail twin@example.com (an ambiguous search).
var Users = []User{
	{"ssha", "{SSHA}", "ssha-pass", ""},
	{"crypt", "{CRYPT}", "crypt-pass", ""},
	{"pbkdf2", "{PBKDF2-SHA512}", "pbkdf2-pass", ""},
	{"locked", "{SSHA}", "locked-pass", "pwdAccountLockedTime: 000001010000Z\n"},
	{"expired", "{SSHA}", "expired-pass", "pwdPolicySubentry: cn=expiring,ou=policies," + Base + "\npwdChangedTime: 20000101000000Z\n"},
	{"reset", "{SSHA}", "reset-pass", "pwdReset: TRUE\n"},
	// A password a cloud tenant"s policy takes, for journeys that migrate it.
	{"ada", "{SSHA}", "Legacy-Passw0rd-Ada!", ""},
}

// slapdBinary finds slapd and slappasswd, "" when not installed.
func binary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join("/usr/sbin", name); fileExists(p) {
		return p
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Start starts the server. It returns an error when something fails, and (nil, nil) when slapd is not
// installed. Stop ends it.
func Start() (*Server, error) {
	bin, passwd := binary("slapd"), binary("slappasswd")
	if bin == "" || passwd == "" {
		return nil, nil
	}
	dir, err := os.MkdirTemp("", "idshift-slapd-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir}
	fail := func(err error) (*Server, error) { s.Stop(); return nil, err }
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		return fail(err)
	}
	certPEM, keyPEM, err := servicetest.SelfSigned("idshift test slapd")
	if err != nil {
		return fail(err)
	}
	s.CA = certPEM
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		return fail(err)
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
moduleload pw-pbkdf2
pidfile %[1]s/slapd.pid
TLSCertificateFile %[1]s/cert.pem
TLSCertificateKeyFile %[1]s/key.pem
database mdb
maxsize 16777216
suffix "%[2]s"
rootdn "cn=admin,%[2]s"
directory %[1]s/db
overlay ppolicy
ppolicy_default "cn=default,ou=policies,%[2]s"
ppolicy_use_lockout
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="%[3]s" read by * none
`, dir, Base, ServiceDN)
	confPath := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return fail(err)
	}

	hash := func(scheme, pw string) (string, error) {
		args := []string{"-h", scheme, "-s", pw}
		switch scheme {
		case "{CRYPT}":
			args = append(args, "-c", "$6$%.16s")
		case "{PBKDF2-SHA512}":
			args = append([]string{"-o", "module-load=pw-pbkdf2"}, args...)
		}
		out, err := exec.Command(passwd, args...).Output()
		if err != nil {
			return "", fmt.Errorf("slappasswd %s: %w", scheme, err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	var ldif strings.Builder
	fmt.Fprintf(&ldif, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n", Base)
	svc, err := hash("{SSHA}", ServicePW)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(&ldif, "dn: %s\nobjectClass: person\ncn: idshift\nsn: service\nuserPassword: %s\n\n", ServiceDN, svc)
	fmt.Fprintf(&ldif, "dn: ou=policies,%[1]s\nobjectClass: organizationalUnit\nou: policies\n\n", Base)
	fmt.Fprintf(&ldif, "dn: cn=default,ou=policies,%s\nobjectClass: device\nobjectClass: pwdPolicy\ncn: default\n"+
		"pwdAttribute: userPassword\npwdLockout: TRUE\npwdMaxFailure: 1000\npwdMustChange: TRUE\n\n", Base)
	fmt.Fprintf(&ldif, "dn: cn=expiring,ou=policies,%s\nobjectClass: device\nobjectClass: pwdPolicy\ncn: expiring\n"+
		"pwdAttribute: userPassword\npwdMaxAge: 3600\npwdGraceAuthNLimit: 0\n\n", Base)
	fmt.Fprintf(&ldif, "dn: ou=people,%[1]s\nobjectClass: organizationalUnit\nou: people\n\n", Base)
	for _, u := range Users {
		h, err := hash(u.Scheme, u.Password)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(&ldif, "dn: uid=%[1]s,ou=people,%[2]s\nobjectClass: inetOrgPerson\nuid: %[1]s\ncn: %[1]s\nsn: %[1]s\n"+
			"mail: %[1]s@example.com\nuserPassword: %[3]s\n%[4]s\n", u.UID, Base, h, u.Extra)
	}
	// Two entries sharing a mail address: a search for it is ambiguous.
	for _, uid := range []string{"twin1", "twin2"} {
		fmt.Fprintf(&ldif, "dn: uid=%[1]s,ou=people,%[2]s\nobjectClass: inetOrgPerson\nuid: %[1]s\ncn: %[1]s\nsn: %[1]s\n"+
			"mail: twin@example.com\nuserPassword: %[3]s\n\n", uid, Base, svc)
	}
	ldifPath := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(ldifPath, []byte(ldif.String()), 0o600); err != nil {
		return fail(err)
	}
	slapadd := filepath.Join(filepath.Dir(bin), "slapadd")
	if out, err := exec.Command(slapadd, "-f", confPath, "-l", ldifPath).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("slapadd: %w: %s", err, out))
	}

	p1, err := FreePort()
	if err != nil {
		return fail(err)
	}
	p2, err := FreePort()
	if err != nil {
		return fail(err)
	}
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", p1)
	s.LDAPS = fmt.Sprintf("ldaps://127.0.0.1:%d", p2)
	s.cmd = exec.Command(bin, "-f", confPath, "-h", s.URL+"/ "+s.LDAPS+"/", "-d", "0")
	logf, err := os.Create(filepath.Join(dir, "slapd.log"))
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return fail(fmt.Errorf("start slapd: %w", err))
	}
	exited := make(chan error, 1)
	s.done = exited
	go func() { exited <- s.cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c1, e1 := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p1), 200*time.Millisecond)
		c2, e2 := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p2), 200*time.Millisecond)
		if e1 == nil {
			c1.Close()
		}
		if e2 == nil {
			c2.Close()
		}
		if e1 == nil && e2 == nil {
			return s, nil
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(filepath.Join(dir, "slapd.log"))
			s.cmd = nil
			return fail(fmt.Errorf("slapd exited: %v: %s", err, out))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("slapd did not listen on %d/%d within 15s", p1, p2))
		}
	}
}

// Stop kills the server and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.done
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// FreePort returns a loopback port free at the time of the call.
var FreePort = servicetest.FreePort

// Require returns s, skipping tb when slapd is not installed (s and err nil), or failing it when err is not nil or
// IDSHIFT_REQUIRE_SERVICES=1.
func Require(tb testing.TB, s *Server, err error) *Server {
	tb.Helper()
	if err != nil {
		tb.Fatalf("test slapd: %v", err)
	}
	if s == nil {
		servicetest.Unavailable(tb, "slapd not installed (apt-get install slapd slapd-contrib ldap-utils): the live LDAP tests cannot run")
	}
	return s
}
