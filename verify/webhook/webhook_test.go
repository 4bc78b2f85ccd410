package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/verify"
	"github.com/idshift/idshift/verify/internal/verifytest"
	"github.com/idshift/idshift/verify/webhook"
)

const secret = "0123456789abcdef0123456789abcdef-test-secret"

// receiver is a legacy system following the contract: it checks the signature and the replay window itself
// (independently of package webhook's helpers), then answers from its table of users.
type receiver struct {
	srv      *httptest.Server
	ca       []byte // the server's certificate, PEM
	newConns *atomic.Int64
	requests atomic.Int64
	// answer, when set, replaces the contract's answer (status, content type, body).
	answer atomic.Pointer[func(w http.ResponseWriter)]
	delay  time.Duration
	now    func() time.Time
}

var directory = map[string]struct{ password, state string }{
	"ada@example.com":   {"right", ""},
	"lock@example.com":  {"right", "locked"},
	"renew@example.com": {"right", "must_change"},
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{now: time.Now}
	r.srv, r.ca, r.newConns = verifytest.TLSServer(t, http.HandlerFunc(r.serve))
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	body, _ := io.ReadAll(req.Body)
	ts := req.Header.Get("Idshift-Timestamp")
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	want := "v1=" + hex.EncodeToString(m.Sum(nil))
	sec, err := strconv.ParseInt(ts, 10, 64)
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" || err != nil ||
		!hmac.Equal([]byte(req.Header.Get("Idshift-Signature")), []byte(want)) ||
		r.now().Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-req.Context().Done():
			return
		}
	}
	if a := r.answer.Load(); a != nil {
		(*a)(w)
		return
	}
	var in struct{ SignInName, LegacyID, Password string }
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	verdict := "mismatch"
	if u, ok := directory[in.SignInName]; ok && in.LegacyID == "id-"+in.SignInName {
		switch {
		case u.state == "locked":
			verdict = "locked"
		case u.password != in.Password:
		case u.state != "":
			verdict = u.state
		default:
			verdict = "match"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"verdict": verdict})
}

func (r *receiver) config() webhook.Config {
	return webhook.Config{URL: r.srv.URL + "/verify", Secret: secret, RootCAData: r.ca, Timeout: 5 * time.Second}
}

func open(t testing.TB, c webhook.Config) *webhook.Verifier {
	return verifytest.Open(t, c.Open)
}

func record(name string) *idshift.Record {
	return &idshift.Record{Key: idshift.Key{Source: "legacy", LegacyID: "id-" + name}, SignInNames: []string{name}}
}

func TestOpenNamesFields(t *testing.T) {
	good := webhook.Config{URL: "https://legacy.example.com/verify", Secret: secret}
	if _, err := good.Open(nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*webhook.Config)
		want string
	}{
		{"url", func(c *webhook.Config) { c.URL = "" }, `"url"`},
		{"secret", func(c *webhook.Config) { c.Secret = "" }, `"secret"`},
		{"short secret", func(c *webhook.Config) { c.Secret = "short-secret-xyz" }, `"secret"`},
		{"http", func(c *webhook.Config) { c.URL = "http://legacy.example.com" }, `"url"`},
		{"scheme", func(c *webhook.Config) { c.URL = "ftp://legacy.example.com" }, `"url"`},
		{"no host", func(c *webhook.Config) { c.URL = "https:///verify" }, `"url"`},
		{"rootCA", func(c *webhook.Config) { c.RootCA = "/nonexistent.pem" }, `"rootCA"`},
		{"rootCAData", func(c *webhook.Config) { c.RootCAData = []byte("x") }, `"rootCAData"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			_, err := c.Open(nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), c.Secret) && c.Secret != "" {
				t.Fatalf("error reveals the secret: %v", err)
			}
		})
	}
	c := good
	c.URL, c.InsecureHTTP = "http://127.0.0.1:1/verify", true
	if _, err := c.Open(nil); err != nil {
		t.Fatalf("insecureHTTP: %v", err)
	}
}

func TestVerdicts(t *testing.T) {
	r := newReceiver(t)
	v := open(t, r.config())
	tests := []struct {
		name, signIn, password string
		wantOK                 bool
		wantErr                error
	}{
		{"match", "ada@example.com", "right", true, nil},
		{"mismatch", "ada@example.com", "wrong", false, nil},
		{"unknown user", "bob@example.com", "right", false, nil},
		{"locked", "lock@example.com", "right", false, verify.ErrLocked},
		{"must change", "renew@example.com", "right", false, verify.ErrMustChange},
		{"must change, wrong password", "renew@example.com", "wrong", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := v.Verify(context.Background(), record(tt.signIn), tt.password)
			if ok != tt.wantOK || (tt.wantErr == nil) != (err == nil) || (err != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("got (%v, %v), want (%v, %v)", ok, err, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestEmptyPasswordMakesNoRequest(t *testing.T) {
	r := newReceiver(t)
	v := open(t, r.config())
	if ok, err := v.Verify(context.Background(), record("ada@example.com"), ""); ok || err != nil {
		t.Fatalf("got (%v, %v)", ok, err)
	}
	if n := r.requests.Load(); n != 0 {
		t.Fatalf("%d requests for an empty password", n)
	}
}

func TestCouldNotDecide(t *testing.T) {
	r := newReceiver(t)
	answer := func(status int, ctype, body string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			if ctype != "" {
				w.Header().Set("Content-Type", ctype)
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	tests := []struct {
		name   string
		answer func(http.ResponseWriter)
		edit   func(*webhook.Config)
	}{
		{"server error", answer(500, "application/json", `{"verdict":"match"}`), nil},
		{"redirect", func(w http.ResponseWriter) {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusFound)
		}, nil},
		{"text answer", answer(200, "text/plain", `{"verdict":"match"}`), nil},
		{"unknown verdict", answer(200, "application/json", `{"verdict":"maybe"}`), nil},
		{"verdict case", answer(200, "application/json", `{"verdict":"MATCH"}`), nil},
		{"unknown field", answer(200, "application/json", `{"verdict":"match","user":"x"}`), nil},
		{"no verdict", answer(200, "application/json", `{}`), nil},
		{"null verdict", answer(200, "application/json", `{"verdict":null}`), nil},
		{"two objects", answer(200, "application/json", `{"verdict":"match"}{"verdict":"match"}`), nil},
		{"array", answer(200, "application/json", `["match"]`), nil},
		{"huge", answer(200, "application/json", `{"verdict":"match"`+strings.Repeat(" ", 5000)+`}`), nil},
		{"wrong secret", nil, func(c *webhook.Config) { c.Secret = strings.Repeat("x", 40) }},
		{"clock skew", nil, func(c *webhook.Config) { c.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) } }},
		{"untrusted certificate", nil, func(c *webhook.Config) { c.RootCAData = nil }},
		{"nothing listening", nil, func(c *webhook.Config) { c.URL = "https://127.0.0.1:1/verify" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.answer != nil {
				r.answer.Store(&tt.answer)
			}
			defer r.answer.Store(nil)
			c := r.config()
			if tt.edit != nil {
				tt.edit(&c)
			}
			v := open(t, c)
			ok, err := v.Verify(context.Background(), record("ada@example.com"), "right")
			verifytest.Unavailable(t, ok, err, "right", secret)
		})
	}
}

func TestTimeout(t *testing.T) {
	r := newReceiver(t)
	r.delay = 10 * time.Second
	c := r.config()
	c.Timeout = 100 * time.Millisecond
	v := open(t, c)
	start := time.Now()
	ok, err := v.Verify(context.Background(), record("ada@example.com"), "right")
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %v with a 100ms timeout", el)
	}
	if ok || !errors.Is(err, verify.ErrUnavailable) {
		t.Fatalf("got (%v, %v)", ok, err)
	}
	// The caller's deadline wins over a longer timeout.
	c.Timeout = time.Minute
	v = open(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	ok, err = v.Verify(ctx, record("ada@example.com"), "right")
	if ok || !errors.Is(err, verify.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got (%v, %v), want unavailable + deadline", ok, err)
	}
}

func TestConnectionReuse(t *testing.T) {
	r := newReceiver(t)
	v := open(t, r.config())
	for range 20 {
		if ok, err := v.Verify(context.Background(), record("ada@example.com"), "wrong"); ok || err != nil {
			t.Fatalf("got (%v, %v)", ok, err)
		}
	}
	if n := r.newConns.Load(); n != 1 {
		t.Fatalf("20 sequential checks opened %d connections, want 1", n)
	}
}

func TestSignAndCheckSignature(t *testing.T) {
	body := []byte(`{"signInName":"a","legacyId":"1","password":"p"}`)
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	h := http.Header{}
	h.Set(webhook.HeaderTimestamp, ts)
	h.Set(webhook.HeaderSignature, webhook.Sign([]byte(secret), ts, body))
	if err := webhook.CheckSignature([]byte(secret), h, body, now.Add(4*time.Minute)); err != nil {
		t.Fatalf("good request: %v", err)
	}
	tampered := append([]byte{}, body...)
	tampered[len(tampered)-3] = 'q'
	for name, check := range map[string]func() error{
		"tampered body": func() error { return webhook.CheckSignature([]byte(secret), h, tampered, now) },
		"other secret":  func() error { return webhook.CheckSignature([]byte(secret+"x"), h, body, now) },
		"too late":      func() error { return webhook.CheckSignature([]byte(secret), h, body, now.Add(6*time.Minute)) },
		"too early":     func() error { return webhook.CheckSignature([]byte(secret), h, body, now.Add(-6*time.Minute)) },
		"no timestamp":  func() error { return webhook.CheckSignature([]byte(secret), http.Header{}, body, now) },
	} {
		if err := check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{`{"verdict":"match"}`, `{"verdict":"must_change"}`, `{"verdict":1}`, `{}`, `null`,
		`{"verdict":"match"} x`, `{"verdict":"locked","x":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := webhook.ParseAnswer(raw)
		if err != nil {
			if v != "" {
				t.Fatalf("verdict %q with error", v)
			}
			return
		}
		switch v {
		case "match", "mismatch", "locked", "must_change":
		default:
			t.Fatalf("accepted verdict %q", v)
		}
	})
}

// BenchmarkVerify measures one signed check over a kept-alive HTTPS connection to a local receiver.
func BenchmarkVerify(b *testing.B) {
	r := newReceiver(b)
	v := open(b, r.config())
	rec := record("ada@example.com")
	verifytest.BenchVerify(b, v, rec, "right")
}

// BenchmarkTCPRoundTrip is the baseline: one small request and its answer over an established loopback TCP
// connection to an echo server.
func BenchmarkTCPRoundTrip(b *testing.B) {
	verifytest.TCPRoundTrip(b)
}
