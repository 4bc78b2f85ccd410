package verify

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Defaults of HTTPConfig.
const (
	DefaultHTTPTimeout      = 5 * time.Second
	DefaultHTTPMaxIdleConns = 16
)

// RootCAs returns the pool of the certificate authorities in the PEM file and the inline PEM data (added to the
// file's), or nil (the system pool) when both are empty. Its errors name the configuration field at fault
// (`field "rootCA": …`, `field "rootCAData": …`) for the caller to prefix with its package.
func RootCAs(file string, data []byte) (*x509.CertPool, error) {
	if file == "" && len(data) == 0 {
		return nil, nil
	}
	roots := x509.NewCertPool()
	if file != "" {
		pem, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf(`field "rootCA": %w`, err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf(`field "rootCA": no PEM certificate in %s`, file)
		}
	}
	if len(data) > 0 && !roots.AppendCertsFromPEM(data) {
		return nil, errors.New(`field "rootCAData": no PEM certificate`)
	}
	return roots, nil
}

// HTTPConfig is what an HTTP live check (verify/webhook, verify/oidc, verify/cognito) sets of its client; the zero
// value is usable.
type HTTPConfig struct {
	// RootCA and RootCAData are the certificate authorities to trust (see RootCAs); the system pool when empty.
	RootCA     string
	RootCAData []byte
	// Timeout bounds one request, connection and TLS handshake included. Default DefaultHTTPTimeout.
	Timeout time.Duration
	// MaxIdleConns is the number of idle keep-alive connections kept (per host too). Default
	// DefaultHTTPMaxIdleConns.
	MaxIdleConns int
}

// NewHTTPClient returns the client of an HTTP live check: TLS 1.2 or later with the configured roots, the
// environment's proxy, kept-alive connections, the timeout on every request, and redirects never followed (the
// redirect itself is returned, an answer of the wrong shape for every live check). Its errors are RootCAs'.
func NewHTTPClient(c HTTPConfig) (*http.Client, error) {
	roots, err := RootCAs(c.RootCA, c.RootCAData)
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	idle := c.MaxIdleConns
	if idle <= 0 {
		idle = DefaultHTTPMaxIdleConns
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        idle,
			MaxIdleConnsPerHost: idle,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: timeout,
		},
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer of the wrong shape, never followed
		},
	}, nil
}

// CheckURL checks a configured URL: a host, and https (http only when insecure, for tests and labs). It returns
// the parsed URL; its errors name the field (`field "url": …`) for the caller to prefix with its package.
func CheckURL(field, raw string, insecure bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf(`field %q: %w`, field, err)
	}
	switch {
	case u.Host == "":
		return nil, fmt.Errorf(`field %q: no host in %q`, field, raw)
	case u.Scheme == "https":
	case u.Scheme == "http" && insecure:
	case u.Scheme == "http":
		return nil, fmt.Errorf(`field %q: http:// needs "insecureHTTP: true" (in a lab only); use https://`, field)
	default:
		return nil, fmt.Errorf(`field %q: scheme %q: want https`, field, u.Scheme)
	}
	return u, nil
}

// ReadBody reads an answer's body of at most max bytes, after checking that its Content-Type is one of types (any
// when types is empty). Its errors quote at most the start of the content type, never the body.
func ReadBody(resp *http.Response, max int64, types ...string) ([]byte, error) {
	if len(types) > 0 {
		ct := resp.Header.Get("Content-Type")
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !slices.Contains(types, mt) {
			if len(ct) > 64 {
				ct = ct[:64] + "…"
			}
			return nil, fmt.Errorf("content type %q, want %s", ct, strings.Join(types, " or "))
		}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if int64(len(raw)) > max {
		return nil, fmt.Errorf("body over %d bytes", max)
	}
	return raw, nil
}

// CloseBody reads what is left of a body, up to max bytes, so that the connection is kept alive, then closes it.
func CloseBody(resp *http.Response, max int64) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, max))
	resp.Body.Close()
}

// RedactURLError keeps a transport error's kind and drops its URL's query and user information, which may hold a
// token.
func RedactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		if perr == nil && (u.RawQuery != "" || u.User != nil) {
			u.RawQuery, u.User = "", nil
			return &url.Error{Op: ue.Op, URL: u.String() + "?…", Err: ue.Err}
		}
	}
	return err
}
