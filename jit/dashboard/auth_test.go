package dashboard_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/internal/browsertest"
	"github.com/idshift/idshift/jit"
	"github.com/idshift/idshift/jit/dashboard"
	"github.com/idshift/idshift/report"
)

// staticStatus is a dashboard's figures without a store, for the tests of authentication.
func staticStatus(context.Context) (*report.Status, error) {
	return &report.Status{At: time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC), Offline: true, Credentials: -1,
		Records: map[idshift.State]int64{idshift.StateCreated: 3}, RecordsTotal: 3}, nil
}

func open(t *testing.T, cfg dashboard.Config) *dashboard.Dashboard {
	t.Helper()
	if cfg.Status == nil {
		cfg.Status = staticStatus
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	d, err := cfg.Open()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// call serves one request from addr, with basic credentials when user is not empty.
func call(h http.Handler, path, addr, user, pw string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", path, nil)
	r.RemoteAddr = addr + ":40000"
	if user != "" {
		r.SetBasicAuth(user, pw)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func argon2idHash(pw string) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(pw), salt, 1, 8*1024, 1, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=8192,t=1,p=1$%s$%s", enc.EncodeToString(salt), enc.EncodeToString(key))
}

func TestAuthentication(t *testing.T) {
	for _, c := range []struct {
		name, file string
	}{
		{"password", "  " + password + "\n"},
		{"bcrypt", hashOf(t, password) + "\n"},
		{"bcrypt $2y$ (htpasswd -B)", strings.Replace(hashOf(t, password), "$2a$", "$2y$", 1) + "\n\n"},
		{"argon2id", argon2idHash(password)},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := (&jit.Admin{Dashboard: open(t, dashboard.Config{Password: c.file})}).Handler()
			for _, tc := range []struct {
				name, user, pw string
				want           int
			}{
				{"no credentials", "", "", 401},
				{"wrong password", dashboard.User, "Dashboard-pass-123", 401},
				{"wrong user", "root", password, 401},
				{"right", dashboard.User, password, 200},
				{"right again (remembered)", dashboard.User, password, 200},
			} {
				w := call(h, "/dashboard", "192.0.2.10", tc.user, tc.pw)
				if w.Code != tc.want {
					t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.want)
				}
				if tc.want == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("%s: no basic challenge", tc.name)
				}
				if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
					t.Errorf("%s: CSP %q", tc.name, csp)
				}
				if strings.Contains(w.Body.String(), password) || strings.Contains(w.Body.String(), strings.TrimSpace(c.file)) {
					t.Errorf("%s: the answer shows the password or its hash", tc.name)
				}
			}
		})
	}
}

func TestWrongPasswordsLockTheAddress(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	d := open(t, dashboard.Config{Password: password, Now: func() time.Time { return now }})
	for i := range dashboard.FailureLimit {
		if w := call(d, "/dashboard", "192.0.2.66", dashboard.User, "guess"); w.Code != 401 {
			t.Fatalf("wrong password %d: %d, want 401", i+1, w.Code)
		}
	}
	w := call(d, "/dashboard", "192.0.2.66", dashboard.User, password)
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Errorf("the right password after %d wrong ones: %d (Retry-After %q), want 429", dashboard.FailureLimit, w.Code, w.Header().Get("Retry-After"))
	}
	if w := call(d, "/dashboard", "192.0.2.67", dashboard.User, password); w.Code != 200 {
		t.Errorf("another address: %d, want 200", w.Code)
	}
	if w := call(d, "/dashboard", "192.0.2.66", "", ""); w.Code != 429 {
		t.Errorf("the locked address without credentials: %d, want 429", w.Code)
	}
	now = now.Add(dashboard.FailureWindow + time.Second)
	if w := call(d, "/dashboard", "192.0.2.66", dashboard.User, password); w.Code != 200 {
		t.Errorf("after the lock: %d, want 200", w.Code)
	}
	// Requests without credentials (a browser's first request) count nothing.
	for range 2 * dashboard.FailureLimit {
		call(d, "/dashboard", "192.0.2.68", "", "")
	}
	if w := call(d, "/dashboard", "192.0.2.68", dashboard.User, password); w.Code != 200 {
		t.Errorf("after requests without credentials: %d, want 200", w.Code)
	}
}

func TestOpenRefuses(t *testing.T) {
	sha512crypt := "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/"
	for _, c := range []struct {
		name string
		cfg  dashboard.Config
		want string
	}{
		{"no password", dashboard.Config{Status: staticStatus, Password: " \n"}, "required"},
		{"short password", dashboard.Config{Status: staticStatus, Password: "Short-pw-1"}, "at least 12"},
		{"another hash", dashboard.Config{Status: staticStatus, Password: sha512crypt}, "bcrypt or argon2id"},
		{"broken bcrypt", dashboard.Config{Status: staticStatus, Password: "$2b$10$tooshort"}, "does not parse"},
		{"no status", dashboard.Config{Password: password}, "status"},
		{"refresh", dashboard.Config{Status: staticStatus, Password: password, Refresh: time.Millisecond}, "at least 1s"},
	} {
		_, err := c.cfg.Open()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
			continue
		}
		if idshift.ErrorCode(err) != idshift.EINVALID {
			t.Errorf("%s: %v is not EINVALID", c.name, err)
		}
		if p := strings.TrimSpace(c.cfg.Password); p != "" && strings.Contains(err.Error(), p) {
			t.Errorf("%s: the error quotes the password file: %v", c.name, err)
		}
	}
}

func TestRoutes(t *testing.T) {
	d := open(t, dashboard.Config{Password: password, Refresh: 5 * time.Second})
	h := (&jit.Admin{Dashboard: d}).Handler()
	for _, c := range []struct {
		path, ctype string
		want        int
	}{
		{"/dashboard", "text/html; charset=utf-8", 200},
		{"/dashboard/", "", 302},
		{"/dashboard/data.json", "application/json", 200},
		{"/dashboard/assets/uPlot.iife.min.js", "text/javascript; charset=utf-8", 200},
		{"/dashboard/assets/uPlot.min.css", "text/css; charset=utf-8", 200},
		{"/dashboard/assets/dashboard.js", "text/javascript; charset=utf-8", 200},
		{"/dashboard/assets/dashboard.css", "text/css; charset=utf-8", 200},
		{"/dashboard/assets/uPlot.LICENSE", "", 404},
		{"/dashboard/assets/README.md", "", 404},
		{"/dashboard/assets/x%2Fdashboard.js", "", 404},
		{"/dashboard/other", "", 404},
	} {
		w := call(h, c.path, "192.0.2.1", dashboard.User, password)
		if w.Code != c.want || (c.ctype != "" && w.Header().Get("Content-Type") != c.ctype) {
			t.Errorf("%s: %d %q, want %d %q", c.path, w.Code, w.Header().Get("Content-Type"), c.want, c.ctype)
		}
	}
	w := call(h, "/dashboard/data.json", "192.0.2.1", dashboard.User, password)
	var data dashboard.Data
	if err := json.Unmarshal(w.Body.Bytes(), &data); err != nil {
		t.Fatal(err)
	}
	if data.RecordsTotal != 3 || data.RefreshSeconds != 5 || len(data.Replica.Bounds) == 0 || len(data.GuardBlocks) != 3 {
		t.Errorf("data.json: %+v", data)
	}
	r := httptest.NewRequest("POST", "/dashboard", nil)
	r.SetBasicAuth(dashboard.User, password)
	pw := httptest.NewRecorder()
	h.ServeHTTP(pw, r)
	if pw.Code != 405 {
		t.Errorf("POST: %d, want 405", pw.Code)
	}

	// Off: no dashboard, every path 404, with or without credentials.
	off := (&jit.Admin{}).Handler()
	for _, p := range []string{"/dashboard", "/dashboard/data.json", "/dashboard/assets/dashboard.js"} {
		if w := call(off, p, "192.0.2.1", dashboard.User, password); w.Code != 404 {
			t.Errorf("off: %s: %d, want 404", p, w.Code)
		}
	}
}

func TestStoreFailure(t *testing.T) {
	d := open(t, dashboard.Config{Password: password, Status: func(context.Context) (*report.Status, error) {
		return nil, fmt.Errorf("postgres://idshift:s3cret@db/idshift: connection refused")
	}})
	w := call(d, "/dashboard", "192.0.2.1", dashboard.User, password)
	body, _ := io.ReadAll(w.Body)
	if w.Code != 503 || strings.Contains(string(body), "s3cret") {
		t.Errorf("a store failure: %d %q, want 503 without the store's error", w.Code, body)
	}
}

// TestRefusedInBrowser: Chromium sees 401 without credentials and with wrong ones (its challenge is answered as a
// person would), and 404 when the dashboard is off.
func TestRefusedInBrowser(t *testing.T) {
	on := httptest.NewServer((&jit.Admin{Dashboard: open(t, dashboard.Config{Password: password})}).Handler())
	defer on.Close()
	off := httptest.NewServer((&jit.Admin{}).Handler())
	defer off.Close()
	// One tab: no credentials are ever accepted, so the browser has none to send again.
	tab := browsertest.NewTab(t)
	for _, c := range []struct {
		name, url, user, pw string
		want                int
	}{
		{"no credentials", on.URL + "/dashboard", "", "", 401},
		{"wrong password", on.URL + "/dashboard", dashboard.User, "Dashboard-pass-0000", 401},
		{"off", off.URL + "/dashboard", dashboard.User, password, 404},
	} {
		if err := tab.AnswerChallenges(c.user, c.pw); err != nil {
			t.Fatal(err)
		}
		code, err := tab.Navigate(c.url)
		if err != nil || code != c.want {
			t.Errorf("%s: %d, %v; want %d", c.name, code, err, c.want)
		}
		text, err := browsertest.Eval[string](tab, "document.body.innerText")
		if err != nil || strings.Contains(text, "Migration dashboard") || strings.Contains(text, password) {
			t.Errorf("%s: the page shows %q (%v)", c.name, text, err)
		}
	}
}
