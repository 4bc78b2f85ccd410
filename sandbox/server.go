package sandbox

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Server is a Tenant served over HTTPS with a freshly generated certificate authority.
type Server struct {
	// URL is https://HOST:PORT, the base of Graph (URL + "/v1.0") and of the token endpoint.
	URL string
	// AuthorityHost is URL + "/", for azidentity's cloud configuration.
	AuthorityHost string
	// CAPEM is the PEM of the CA that signed the server's certificate; CertPool holds it.
	CAPEM    []byte
	CertPool *x509.CertPool
	Tenant   *Tenant

	srv       *http.Server
	done      chan error
	closeOnce sync.Once
	closeErr  error
}

// Start creates a Tenant from cfg and serves it over HTTPS (HTTP/2 enabled) on addr (e.g. "127.0.0.1:0"). The
// certificate, signed by a CA generated for this server, is valid for 127.0.0.1, ::1 and localhost.
func Start(cfg Config, addr string) (*Server, error) {
	t, err := New(cfg)
	if err != nil {
		return nil, err
	}
	caPEM, cert, err := newCertificates()
	if err != nil {
		_ = t.Close()
		return nil, fmt.Errorf("sandbox: certificates: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = t.Close()
		return nil, fmt.Errorf("sandbox: listen %s: %w", addr, err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	s := &Server{
		URL:      "https://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port)),
		CAPEM:    caPEM,
		CertPool: pool,
		Tenant:   t,
		done:     make(chan error, 1),
	}
	s.AuthorityHost = s.URL + "/"
	t.base.Store(&s.URL)
	s.srv = &http.Server{
		Handler:           t.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(discard{}, "", 0),
	}
	go func() { s.done <- s.srv.ServeTLS(ln, "", "") }()
	return s, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Close stops the server (closing open connections) and closes the tenant, which saves its state. Later calls
// return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Server) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if terr := s.Tenant.Close(); terr != nil && err == nil {
		err = terr
	}
	return err
}

// WriteCA writes the CA certificate (PEM) to path, for SSL_CERT_FILE or a client's trust store.
func (s *Server) WriteCA(path string) error {
	if err := os.WriteFile(path, s.CAPEM, 0o644); err != nil {
		return fmt.Errorf("sandbox: write CA: %w", err)
	}
	return nil
}

// newCertificates makes a CA and a leaf certificate for the loopback names.
func newCertificates() ([]byte, tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	now := time.Now()
	serial := func() *big.Int {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
		return n
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "idshift sandbox CA", Organization: []string{"idshift"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"idshift"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	cert := tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return caPEM, cert, nil
}
