// Package lemonldaptest starts a real OpenID provider for tests: the LemonLDAP::NG portal (Debian"s
// liblemonldap-ng-portal-perl) as a PSGI application under plackup, over HTTPS on a free loopback port, with a
// generated configuration in a temporary directory: its OpenID Connect issuer on, an RS256 signing key made here,
// one relying party allowed the resource owner password grant and one that is not, and the Demo user store
// (users dwho, rtyler and msmith, each with its name as password) or an LDAP directory (StartWith). Tests that use it skip when the portal is not
// installed and fail instead with IDSHIFT_REQUIRE_SERVICES=1 (Require).
package lemonldaptest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/idshift/idshift/internal/servicetest"
)

// Packages is what Debian needs installed (apt-get install --no-install-recommends) for the portal"s OpenID Connect
// issuer under plackup: the portal, plackup, and the Recommends the issuer loads (the captcha module, always
// loaded, needs GD::SecurityImage with ImageMagick; the issuer needs Crypt::OpenSSL::Bignum, String::Random and
// IO::String; the LDAP user store, Net::LDAP). Without any one of them the portal answers 500.
const Packages = "liblemonldap-ng-portal-perl libplack-perl libgd-securityimage-perl libimage-magick-perl " +
	"libcrypt-openssl-bignum-perl libstring-random-perl libio-string-perl libnet-ldap-perl"

const psgi = "/usr/share/lemonldap-ng/portal/htdocs/index.psgi"

// Relying parties of the generated configuration.
const (
	// ClientID and ClientSecret are the confidential relying party allowed the password grant.
	ClientID     = "idshift"
	ClientSecret = "rp-secret-for-tests"
	// NoGrantClientID (secret ClientSecret) is a relying party without the password grant.
	NoGrantClientID = "no-password-grant"
)

// Users of the Demo store, each with its name as password.
var Users = []string{"dwho", "rtyler", "msmith"}

// Server is a running portal.
type Server struct {
	URL  string // https://127.0.0.1:port/, the issuer and the authority (discovery below it)
	CA   []byte // PEM of the certificate the portal presents (self-signed)
	cmd  *exec.Cmd
	done chan error
	dir  string
}

func installed() (plackup string, ok bool) {
	p, err := exec.LookPath("plackup")
	if err != nil {
		return "", false
	}
	if _, err := os.Stat(psgi); err != nil {
		return "", false
	}
	return p, true
}

// Directory is an LDAP user store for the portal instead of the Demo one: users are searched under Base by uid
// with BindDN, then bound as themselves, with the password policy control.
type Directory struct {
	URL, Base, BindDN, BindPW string
}

// Start starts the portal with the Demo user store. It returns an error when something fails, and (nil, nil) when
// the portal or plackup is not installed. Stop ends it.
func Start() (*Server, error) { return StartWith(nil) }

// StartWith starts the portal with the LDAP user store dir, or the Demo one when dir is nil.
func StartWith(store *Directory) (*Server, error) {
	plackup, ok := installed()
	if !ok {
		return nil, nil
	}
	tmp, err := os.MkdirTemp("", "idshift-lemonldap-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: tmp}
	fail := func(err error) (*Server, error) { s.Stop(); return nil, err }
	for _, d := range []string{"conf", "sessions/lock", "psessions/lock", "cache", "confcache"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o700); err != nil {
			return fail(err)
		}
	}
	certPEM, keyPEM, err := servicetest.SelfSigned("idshift test LemonLDAP::NG")
	if err != nil {
		return fail(err)
	}
	s.CA = certPEM
	if err := os.WriteFile(filepath.Join(tmp, "cert.pem"), certPEM, 0o600); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "key.pem"), keyPEM, 0o600); err != nil {
		return fail(err)
	}
	sigKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fail(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&sigKey.PublicKey)
	if err != nil {
		return fail(err)
	}
	port, err := servicetest.FreePort()
	if err != nil {
		return fail(err)
	}
	s.URL = fmt.Sprintf("https://127.0.0.1:%d/", port)

	rp := func(id string, passwordGrant int) map[string]any {
		return map[string]any{
			"oidcRPMetaDataOptionsClientID":           id,
			"oidcRPMetaDataOptionsClientSecret":       ClientSecret,
			"oidcRPMetaDataOptionsPublic":             0,
			"oidcRPMetaDataOptionsAllowPasswordGrant": passwordGrant,
			"oidcRPMetaDataOptionsIDTokenSignAlg":     "RS256",
			"oidcRPMetaDataOptionsRedirectUris":       "https://127.0.0.1/callback",
		}
	}
	conf := map[string]any{
		"cfgNum": 1, "cfgAuthor": "idshift tests", "cfgDate": fmt.Sprint(time.Now().Unix()), "cfgVersion": "2.16.1",
		"authentication": "Demo", "userDB": "Same", "passwordDB": "Demo", "registerDB": "Null",
		"portal": s.URL, "domain": "127.0.0.1", "cookieName": "lemonldap", "securedCookie": 1,
		"globalStorage": "Apache::Session::File",
		"globalStorageOptions": map[string]any{"Directory": filepath.Join(tmp, "sessions"),
			"LockDirectory":  filepath.Join(tmp, "sessions/lock"),
			"generateModule": "Lemonldap::NG::Common::Apache::Session::Generate::SHA256"},
		"persistentStorage": "Apache::Session::File",
		"persistentStorageOptions": map[string]any{"Directory": filepath.Join(tmp, "psessions"),
			"LockDirectory": filepath.Join(tmp, "psessions/lock")},
		"localSessionStorage": "Cache::FileCache",
		"localSessionStorageOptions": map[string]any{"cache_root": filepath.Join(tmp, "cache"),
			"namespace": "lemonldap-ng-sessions", "default_expires_in": 600, "directory_umask": "077", "cache_depth": 3},
		"demoExportedVars": map[string]string{"cn": "cn", "mail": "mail", "uid": "uid"},
		"exportedVars":     map[string]string{}, "groups": map[string]string{}, "macros": map[string]string{},
		"locationRules": map[string]any{}, "exportedHeaders": map[string]any{},
		"loginHistoryEnabled": 0, "notification": 0,
		"captcha_login_enabled": 0, "captcha_mail_enabled": 0, "captcha_register_enabled": 0,
		"issuerDBOpenIDConnectActivation": 1,
		"oidcServicePrivateKeySig": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
			Bytes: x509.MarshalPKCS1PrivateKey(sigKey)})),
		"oidcServicePublicKeySig": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
		"oidcServiceKeyIdSig":     "idshift-test",
		"oidcRPMetaDataOptions":   map[string]any{"idshift": rp(ClientID, 1), "nogrant": rp(NoGrantClientID, 0)},
		"oidcRPMetaDataExportedVars": map[string]any{
			"idshift": map[string]string{"email": "mail", "name": "cn"},
			"nogrant": map[string]string{"email": "mail"},
		},
	}
	if store != nil {
		for k, v := range map[string]any{
			"authentication": "LDAP", "passwordDB": "LDAP", "ldapServer": store.URL, "ldapBase": store.Base,
			"managerDn": store.BindDN, "managerPassword": store.BindPW, "ldapPpolicyControl": 1,
			"AuthLDAPFilter":   "(&(uid=$user)(objectClass=inetOrgPerson))",
			"LDAPFilter":       "(&(uid=$user)(objectClass=inetOrgPerson))",
			"ldapExportedVars": map[string]string{"uid": "uid", "cn": "cn", "mail": "mail"},
		} {
			conf[k] = v
		}
	}
	raw, err := json.MarshalIndent(conf, "", " ")
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "conf", "lmConf-1.json"), raw, 0o600); err != nil {
		return fail(err)
	}
	ini := fmt.Sprintf(`[all]
logLevel = notice
checkTime = 1
[configuration]
type = File
dirName = %[1]s/conf
localStorage = Cache::FileCache
localStorageOptions = { "namespace" => "lemonldap-ng-config", "default_expires_in" => 600, "cache_root" => "%[1]s/confcache", "cache_depth" => 3 }
[portal]
templateDir = /usr/share/lemonldap-ng/portal/templates
staticPrefix = /static
languages = en
`, tmp)
	iniPath := filepath.Join(tmp, "lemonldap-ng.ini")
	if err := os.WriteFile(iniPath, []byte(ini), 0o600); err != nil {
		return fail(err)
	}

	s.cmd = exec.Command(plackup, "-s", "HTTP::Server::PSGI", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--ssl", "1", "--ssl-key-file", filepath.Join(tmp, "key.pem"), "--ssl-cert-file", filepath.Join(tmp, "cert.pem"),
		psgi)
	s.cmd.Env = append(os.Environ(), "LLNG_DEFAULTCONFFILE="+iniPath, "PLACK_ENV=deployment")
	logPath := filepath.Join(tmp, "portal.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return fail(fmt.Errorf("start plackup: %w", err))
	}
	exited := make(chan error, 1)
	s.done = exited
	go func() { exited <- s.cmd.Wait() }()

	// Ready when the discovery document answers 200: the portal loads its configuration at the first request
	// (an "Initialization failed" 500 names a missing Perl module in the log).
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(s.URL + ".well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
			out, _ := os.ReadFile(logPath)
			return fail(fmt.Errorf("portal answered %d to discovery: %s", resp.StatusCode, tail(out)))
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logPath)
			s.cmd = nil
			return fail(fmt.Errorf("plackup exited: %v: %s", err, tail(out)))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail(errors.New("portal did not answer within 30s"))
		}
	}
}

// tail bounds a log quoted in an error.
func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}

// Stop kills the portal and removes its directory. Safe to call twice.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.done
		s.cmd = nil
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
		s.dir = ""
	}
}

// Require returns s, skipping tb when the portal is not installed (s and err nil), or failing it when err is not
// nil or IDSHIFT_REQUIRE_SERVICES=1.
func Require(tb testing.TB, s *Server, err error) *Server {
	tb.Helper()
	if err != nil {
		tb.Fatalf("test LemonLDAP::NG portal: %v", err)
	}
	if s == nil {
		servicetest.Unavailable(tb, "LemonLDAP::NG portal not installed (apt-get install --no-install-recommends "+Packages+
			"): the test against a real OpenID provider cannot run")
	}
	return s
}
