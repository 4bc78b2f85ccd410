package verify_test

import (
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idshift/idshift/verify"
)

func TestCheckURL(t *testing.T) {
	for _, tt := range []struct {
		raw      string
		insecure bool
		want     string // part of the error; "" for none
	}{
		{"https://legacy.example/verify", false, ""},
		{"http://127.0.0.1:8080/verify", true, ""},
		{"http://legacy.example/verify", false, "insecureHTTP"},
		{"https:///verify", false, "no host"},
		{"ftp://legacy.example/", true, "want https"},
		{"https://legacy.example/%zz", false, `field "url"`},
	} {
		_, err := verify.CheckURL("url", tt.raw, tt.insecure)
		if (err == nil) != (tt.want == "") || (err != nil && (!strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `field "url"`))) {
			t.Errorf("%s insecure=%v: %v, want %q", tt.raw, tt.insecure, err, tt.want)
		}
	}
}

func TestRootCAs(t *testing.T) {
	if roots, err := verify.RootCAs("", nil); roots != nil || err != nil {
		t.Errorf("empty: %v %v, want the system pool", roots, err)
	}
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	if roots, err := verify.RootCAs(file, ca); roots == nil || err != nil {
		t.Errorf("file and data: %v %v", roots, err)
	}
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		file string
		data []byte
		want string
	}{{"/nonexistent/ca.pem", nil, `field "rootCA"`}, {junk, nil, `field "rootCA"`}, {"", []byte("junk"), `field "rootCAData"`}} {
		if _, err := verify.RootCAs(tt.file, tt.data); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q %q: %v, want %s", tt.file, tt.data, err, tt.want)
		}
	}
}

// The client trusts the configured roots only, and returns a redirect instead of following it.
func TestNewHTTPClient(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := verify.NewHTTPClient(verify.HTTPConfig{RootCAData: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status %d: the redirect was followed", resp.StatusCode)
	}
	system, err := verify.NewHTTPClient(verify.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer system.CloseIdleConnections()
	if resp, err := system.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Error("a server outside the roots was trusted")
	}
	if _, err := verify.NewHTTPClient(verify.HTTPConfig{RootCAData: []byte("junk")}); err == nil {
		t.Error("bad rootCAData accepted")
	}
}

func TestReadBody(t *testing.T) {
	answer := func(ct, body string) *http.Response {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", ct)
		rec.WriteString(body)
		return rec.Result()
	}
	raw, err := verify.ReadBody(answer("application/json; charset=utf-8", `{"a":1}`), 16, "application/json")
	if err != nil || string(raw) != `{"a":1}` {
		t.Errorf("good answer: %q %v", raw, err)
	}
	if _, err := verify.ReadBody(answer("text/html", "<p>hi</p>"), 16, "application/x-amz-json-1.1", "application/json"); err == nil ||
		!strings.Contains(err.Error(), "content type") || strings.Contains(err.Error(), "<p>") {
		t.Errorf("wrong content type: %v", err)
	}
	if raw, err := verify.ReadBody(answer("text/plain", "anything"), 16); err != nil || string(raw) != "anything" {
		t.Errorf("any content type: %q %v", raw, err)
	}
	if _, err := verify.ReadBody(answer("application/json", strings.Repeat("x", 17)), 16, "application/json"); err == nil ||
		!strings.Contains(err.Error(), "over 16 bytes") {
		t.Errorf("oversized: %v", err)
	}
	if raw, err := verify.ReadBody(answer("application/json", strings.Repeat("x", 16)), 16, "application/json"); err != nil || len(raw) != 16 {
		t.Errorf("at the cap: %d bytes, %v", len(raw), err)
	}
}

func TestRedactURLError(t *testing.T) {
	inner := errors.New("connection refused")
	err := verify.RedactURLError(&url.Error{Op: "Get", URL: "https://user:pw@legacy.example/jwks?token=s3cret", Err: inner})
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "pw@") || !errors.Is(err, inner) {
		t.Errorf("redacted: %v", err)
	}
	plain := &url.Error{Op: "Get", URL: "https://legacy.example/jwks", Err: inner}
	if got := verify.RedactURLError(plain); got != error(plain) {
		t.Errorf("an error without query changed: %v", got)
	}
}
