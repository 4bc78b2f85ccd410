// Package verifytest holds the scaffolding the live checks' tests share (verify/ldap, verify/webhook, verify/oidc,
// verify/cognito): opening a check for a test, the "could not decide, and no secret told" assertion, a loopback
// HTTPS server that counts its connections, the benchmark of one whole check, and the loopback TCP round trip
// those benchmarks are measured against. It is imported by tests only.
package verifytest

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/verify"
)

// TLSServer starts h on a loopback HTTPS server closed when tb ends. It returns the server, its certificate as PEM
// (for a check's RootCAData) and a counter of the TCP connections it accepted (to see keep-alive at work).
func TLSServer(tb testing.TB, h http.Handler) (*httptest.Server, []byte, *atomic.Int64) {
	tb.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	return srv, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), &conns
}

// Open opens a live check with open (a Config's Open method) and a discarding logger, fails tb on an error, and
// closes the check when tb ends.
func Open[V io.Closer](tb testing.TB, open func(*slog.Logger) (V, error)) V {
	tb.Helper()
	v, err := open(nil)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}

// Unavailable fails t unless a check's answer is "could not decide": ok false and an error matching
// verify.ErrUnavailable that holds none of the secrets.
func Unavailable(t testing.TB, ok bool, err error, secrets ...string) {
	t.Helper()
	if ok || !errors.Is(err, verify.ErrUnavailable) {
		t.Fatalf("got (%v, %v), want ErrUnavailable", ok, err)
	}
	NoSecret(t, err, secrets...)
}

// NoSecret fails t when the text of err (which may be nil) holds one of the secrets (passwords, client secrets,
// tokens); empty secrets are ignored. The message never quotes the secret found.
func NoSecret(t testing.TB, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error reveals a secret: %v", err)
		}
	}
}

// BenchVerify measures one whole check: v.Verify(rec, password) must answer (true, nil) every time.
func BenchVerify(b *testing.B, v idshift.Verifier, rec *idshift.Record, password string) {
	b.Helper()
	for b.Loop() {
		if ok, err := v.Verify(context.Background(), rec, password); !ok || err != nil {
			b.Fatalf("(%v, %v)", ok, err)
		}
	}
}

// TCPRoundTrip is the baseline of the checks' benchmarks: one small request and its answer over an established
// loopback TCP connection to an echo server.
func TCPRoundTrip(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}
