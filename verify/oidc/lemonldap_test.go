package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/idshift/idshift/internal/lemonldaptest"
	"github.com/idshift/idshift/internal/slapdtest"
	"github.com/idshift/idshift/verify"
	"github.com/idshift/idshift/verify/internal/verifytest"
	"github.com/idshift/idshift/verify/oidc"
)

// TestLemonLDAP runs the check against a real OpenID provider with the password grant: Debian's LemonLDAP::NG
// portal (internal/lemonldaptest), over HTTPS, with its Demo user store. A right password is believed only with
// its id_token verified (signature by a key of the portal's JWKS, issuer, audience, lifetime); a wrong one is
// invalid_grant; a client without the grant, a wrong client secret and a portal that is down are "could not
// decide", never a wrong password.
func TestLemonLDAP(t *testing.T) {
	srv, err := lemonldaptest.Start()
	srv = lemonldaptest.Require(t, srv, err)
	defer srv.Stop()
	ctx := context.Background()
	good := oidc.Config{Authority: srv.URL, ClientID: lemonldaptest.ClientID, ClientSecret: lemonldaptest.ClientSecret,
		RootCAData: srv.CA, Scope: "openid email"}
	v := open(t, good)
	if err := v.Refresh(ctx); err != nil {
		t.Fatalf("discovery and JWKS from the portal: %v", err)
	}

	t.Run("right password", func(t *testing.T) {
		for _, u := range lemonldaptest.Users {
			if ok, err := v.Verify(ctx, record(u), u); !ok || err != nil {
				t.Fatalf("%s: got %v, %v; want a match", u, ok, err)
			}
		}
	})
	t.Run("wrong password and unknown user", func(t *testing.T) {
		for _, c := range [][2]string{{"dwho", "not-dwho"}, {"dwho", "DWHO"}, {"nobody", "nobody"}} {
			if ok, err := v.Verify(ctx, record(c[0]), c[1]); ok || err != nil {
				t.Fatalf("%s: got %v, %v; want a mismatch", c[0], ok, err)
			}
		}
	})
	t.Run("token checks bite", func(t *testing.T) {
		// The portal's own tokens, checked against metadata altered by a proxy in front of its discovery
		// document: a JWKS holding another key under the portal's key id, or another issuer. Neither is believed;
		// through the same proxy, unaltered metadata is.
		for _, alter := range []string{"none", "jwks", "issuer"} {
			proxy, proxyCA, _ := verifytest.TLSServer(t, alteredMetadata(t, srv, alter))
			c := good
			c.Authority = proxy.URL
			c.RootCAData = append(append([]byte{}, srv.CA...), proxyCA...)
			w := open(t, c)
			ok, err := w.Verify(ctx, record("dwho"), "dwho")
			if alter == "none" {
				if !ok || err != nil {
					t.Fatalf("through the proxy: got %v, %v; want a match", ok, err)
				}
				continue
			}
			verifytest.Unavailable(t, ok, err, "dwho", "eyJ")
		}
	})
	t.Run("client without the password grant", func(t *testing.T) {
		c := good
		c.ClientID = lemonldaptest.NoGrantClientID
		w := open(t, c)
		for _, pw := range []string{"dwho", "wrong"} {
			ok, err := w.Verify(ctx, record("dwho"), pw)
			verifytest.Unavailable(t, ok, err, pw, lemonldaptest.ClientSecret)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		c := good
		c.ClientSecret = "not-the-secret"
		w := open(t, c)
		for _, pw := range []string{"dwho", "wrong"} {
			ok, err := w.Verify(ctx, record("dwho"), pw)
			verifytest.Unavailable(t, ok, err, pw, "not-the-secret")
		}
	})
	t.Run("portal down", func(t *testing.T) {
		srv.Stop()
		start := time.Now()
		for _, pw := range []string{"dwho", "wrong"} {
			// v holds the portal's metadata: the token request itself fails.
			ok, err := v.Verify(ctx, record("dwho"), pw)
			if ok || !errors.Is(err, verify.ErrUnavailable) || verify.Decided(err) {
				t.Fatalf("got %v, %v; want could not decide", ok, err)
			}
			// A fresh verifier cannot even read the discovery document.
			w := open(t, good)
			ok, err = w.Verify(ctx, record("dwho"), pw)
			verifytest.Unavailable(t, ok, err, pw)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("a portal that is down took %v to answer for", time.Since(start))
		}
	})
}

// alteredMetadata serves the portal's discovery document with its jwks_uri pointing here, and, per alter, a JWKS
// with another RSA key under the portal's key ids ("jwks"), or the portal's JWKS and another issuer ("issuer"), or
// both unaltered ("none").
func alteredMetadata(t *testing.T, srv *lemonldaptest.Server, alter string) http.Handler {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CA)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(client.CloseIdleConnections)
	get := func(u string, out any) error {
		resp, err := client.Get(u)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(out)
	}
	var forger *rsa.PrivateKey
	if alter == "jwks" {
		var err error
		if forger, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			var doc map[string]any
			if err := get(srv.URL+".well-known/openid-configuration", &doc); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			doc["jwks_uri"] = "https://" + r.Host + "/jwks"
			if alter == "issuer" {
				doc["issuer"] = "https://" + r.Host + "/"
			}
			json.NewEncoder(w).Encode(doc)
		case "/jwks":
			var set jose.JSONWebKeySet
			if err := get(srv.URL+"oauth2/jwks", &set); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			if alter == "jwks" {
				for i := range set.Keys {
					set.Keys[i].Key = &forger.PublicKey
				}
			}
			json.NewEncoder(w).Encode(set)
		default:
			http.NotFound(w, r)
		}
	})
}

// TestLemonLDAPDirectory: the portal over a real directory with a password policy (internal/slapdtest): its
// password grant answers a locked account, an expired password and a password to change after a reset with the
// same bare invalid_grant as a wrong password, even when the password is right (the portal logs the policy's
// reason; the grant does not carry it). The check can only read them as wrong passwords; the right password of a
// sound account is a match.
func TestLemonLDAPDirectory(t *testing.T) {
	dir, err := slapdtest.Start()
	dir = slapdtest.Require(t, dir, err)
	defer dir.Stop()
	srv, err := lemonldaptest.StartWith(&lemonldaptest.Directory{URL: dir.URL, Base: "ou=people," + slapdtest.Base,
		BindDN: slapdtest.ServiceDN, BindPW: slapdtest.ServicePW})
	srv = lemonldaptest.Require(t, srv, err)
	defer srv.Stop()
	v := open(t, oidc.Config{Authority: srv.URL, ClientID: lemonldaptest.ClientID, ClientSecret: lemonldaptest.ClientSecret,
		RootCAData: srv.CA})
	ctx := context.Background()
	for _, u := range slapdtest.Users {
		ok, err := v.Verify(ctx, record(u.UID), u.Password)
		switch u.UID {
		case "locked", "expired", "reset":
			if ok || err != nil {
				t.Errorf("%s, right password: got %v, %v; want the portal's bare invalid_grant read as a mismatch", u.UID, ok, err)
			}
		default:
			if !ok || err != nil {
				t.Errorf("%s, right password: got %v, %v; want a match", u.UID, ok, err)
			}
		}
		if ok, err := v.Verify(ctx, record(u.UID), u.Password+"-wrong"); ok || err != nil {
			t.Errorf("%s, wrong password: got %v, %v; want a mismatch", u.UID, ok, err)
		}
	}
}
