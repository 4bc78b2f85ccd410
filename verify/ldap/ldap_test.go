package ldap_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/verify"
	"github.com/idshift/idshift/verify/internal/verifytest"
	"github.com/idshift/idshift/verify/ldap"
)

func config(s *slapd) ldap.Config {
	return ldap.Config{
		URL:        s.LDAPS,
		RootCAData: s.CA,
		BindDN:     serviceDN,
		BindPW:     servicePW,
		UserSearch: ldap.UserSearch{
			BaseDN: "ou=people," + base,
			Filter: "(&(objectClass=inetOrgPerson)(|(uid={name})(mail={name})))",
		},
		PoolSize: 2,
		Timeout:  5 * time.Second,
	}
}

func open(t testing.TB, c ldap.Config) *ldap.Verifier {
	return verifytest.Open(t, c.Open)
}

func record(names ...string) *idshift.Record {
	return &idshift.Record{Key: idshift.Key{Source: "ldap", LegacyID: "id-" + strings.Join(names, ",")}, SignInNames: names}
}

func TestOpenNamesMissingFields(t *testing.T) {
	good := ldap.Config{URL: "ldaps://ldap.example.com", BindDN: "cn=s", BindPW: "svc-pw-123",
		UserSearch: ldap.UserSearch{BaseDN: "dc=example", Filter: "(uid={name})"}}
	tests := []struct {
		name string
		edit func(*ldap.Config)
		want string
	}{
		{"url", func(c *ldap.Config) { c.URL = "" }, `"url"`},
		{"bindDN", func(c *ldap.Config) { c.BindDN = "" }, `"bindDN"`},
		{"bindPW", func(c *ldap.Config) { c.BindPW = "" }, `"bindPW"`},
		{"baseDN", func(c *ldap.Config) { c.UserSearch.BaseDN = "" }, `"userSearch.baseDN"`},
		{"filter", func(c *ldap.Config) { c.UserSearch.Filter = "" }, `"userSearch.filter"`},
		{"filter without placeholder", func(c *ldap.Config) { c.UserSearch.Filter = "(uid=x)" }, `"userSearch.filter"`},
		{"bad filter", func(c *ldap.Config) { c.UserSearch.Filter = "(uid={name}" }, `"userSearch.filter"`},
		{"scope", func(c *ldap.Config) { c.UserSearch.Scope = "base" }, `"userSearch.scope"`},
		{"plain ldap", func(c *ldap.Config) { c.URL = "ldap://ldap.example.com" }, `"url"`},
		{"scheme", func(c *ldap.Config) { c.URL = "http://ldap.example.com" }, `"url"`},
		{"starttls over ldaps", func(c *ldap.Config) { c.StartTLS = true }, `"startTLS"`},
		{"rootCA file", func(c *ldap.Config) { c.RootCA = "/nonexistent/ca.pem" }, `"rootCA"`},
		{"rootCAData", func(c *ldap.Config) { c.RootCAData = []byte("not pem") }, `"rootCAData"`},
	}
	if _, err := good.Open(nil); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			_, err := c.Open(nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "svc-pw-123") {
				t.Fatalf("error reveals the service password: %v", err)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	s := requireSlapd(t)
	transports := map[string]func(*ldap.Config){
		"ldaps":    func(*ldap.Config) {},
		"starttls": func(c *ldap.Config) { c.URL, c.StartTLS = s.URL, true },
		"insecure": func(c *ldap.Config) { c.URL, c.InsecureNoTLS = s.URL, true },
	}
	for tname, tr := range transports {
		t.Run(tname, func(t *testing.T) {
			c := config(s)
			tr(&c)
			v := open(t, c)
			tests := []struct {
				name     string
				rec      *idshift.Record
				password string
				wantOK   bool
				wantErr  error
			}{
				{"ssha by uid", record("ssha"), "ssha-pass", true, nil},
				{"ssha by mail", record("ssha@example.com"), "ssha-pass", true, nil},
				{"ssha wrong", record("ssha"), "ssha-Pass", false, nil},
				{"crypt sha512", record("crypt"), "crypt-pass", true, nil},
				{"crypt wrong", record("crypt"), "crypt-pas", false, nil},
				{"pbkdf2-sha512", record("pbkdf2"), "pbkdf2-pass", true, nil},
				{"pbkdf2 wrong", record("pbkdf2"), "pbkdf2-pass ", false, nil},
				{"several names, one known", record("nobody@example.com", "crypt@example.com"), "crypt-pass", true, nil},
				{"unknown user", record("nobody"), "whatever", false, nil},
				{"no sign-in names", record(), "whatever", false, nil},
				{"empty password", record("ssha"), "", false, nil},
				{"filter injection", record("*"), "ssha-pass", false, nil},
				{"filter injection 2", record("ssha)(uid=*"), "ssha-pass", false, nil},
				{"locked, right password", record("locked"), "locked-pass", false, verify.ErrLocked},
				{"locked, wrong password", record("locked"), "nope", false, verify.ErrLocked},
				{"expired", record("expired"), "expired-pass", false, verify.ErrMustChange},
				{"expired, wrong password", record("expired"), "nope", false, nil},
				{"reset", record("reset"), "reset-pass", false, verify.ErrMustChange},
				{"reset, wrong password", record("reset"), "nope", false, nil},
				{"ambiguous", record("twin@example.com"), "service-secret", false, verify.ErrUnavailable},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ok, err := v.Verify(context.Background(), tt.rec, tt.password)
					if ok != tt.wantOK || (tt.wantErr == nil) != (err == nil) || (err != nil && !errors.Is(err, tt.wantErr)) {
						t.Fatalf("got (%v, %v), want (%v, %v)", ok, err, tt.wantOK, tt.wantErr)
					}
					verifytest.NoSecret(t, err, tt.password)
				})
			}
		})
	}
}

func TestVerifyUnavailable(t *testing.T) {
	s := requireSlapd(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*ldap.Config)
	}{
		{"nothing listening", func(c *ldap.Config) { c.URL = fmt.Sprintf("ldaps://127.0.0.1:%d", port) }},
		{"untrusted certificate", func(c *ldap.Config) { c.RootCAData = nil }},
		{"wrong certificate name", func(c *ldap.Config) { c.ServerName = "ldap.example.org" }},
		{"wrong service password", func(c *ldap.Config) { c.BindPW = "not-it" }},
		{"missing base", func(c *ldap.Config) { c.UserSearch.BaseDN = "ou=nowhere," + base }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config(s)
			tt.edit(&c)
			v := open(t, c)
			ok, err := v.Verify(context.Background(), record("ssha"), "ssha-pass")
			verifytest.Unavailable(t, ok, err, "ssha-pass", servicePW)
		})
	}
}

func TestEmptyPasswordMakesNoCall(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	c := ldap.Config{URL: "ldap://" + l.Addr().String(), InsecureNoTLS: true, BindDN: "cn=s", BindPW: "p",
		UserSearch: ldap.UserSearch{BaseDN: base, Filter: "(uid={name})"}}
	v := open(t, c)
	if ok, err := v.Verify(context.Background(), record("ssha"), ""); ok || err != nil {
		t.Fatalf("got (%v, %v), want (false, nil)", ok, err)
	}
	select {
	case <-accepted:
		t.Fatal("an empty password reached the network")
	case <-time.After(50 * time.Millisecond):
	}
}

// A server that accepts and never answers: the context's deadline ends the call.
func TestVerifyRespectsDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	c := ldap.Config{URL: "ldap://" + l.Addr().String(), InsecureNoTLS: true, BindDN: "cn=s", BindPW: "p",
		UserSearch: ldap.UserSearch{BaseDN: base, Filter: "(uid={name})"}, Timeout: time.Minute}
	v := open(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	ok, err := v.Verify(ctx, record("ssha"), "pw")
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Verify took %v past a 100ms deadline", el)
	}
	if ok || !errors.Is(err, verify.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got (%v, %v), want unavailable + deadline exceeded", ok, err)
	}
}

func TestVerifyConcurrentPool(t *testing.T) {
	s := requireSlapd(t)
	v := open(t, config(s)) // pool of 2
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				u, pw, want := "ssha", "ssha-pass", true
				if (i+j)%3 == 0 {
					pw, want = "wrong", false
				}
				ok, err := v.Verify(context.Background(), record(u), pw)
				if err != nil || ok != want {
					t.Errorf("worker %d call %d: got (%v, %v), want %v", i, j, ok, err, want)
				}
			}
		})
	}
	wg.Wait()
}

// The pool survives the server closing its connections: the next call redials.
func TestVerifyAfterServerRestart(t *testing.T) {
	s := requireSlapd(t)
	// A proxy in front of slapd whose connections the test can cut.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var conns []net.Conn
	target := strings.TrimPrefix(s.URL, "ldap://")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	c := config(s)
	c.URL, c.StartTLS, c.ServerName = "ldap://"+l.Addr().String(), true, "127.0.0.1"
	v := open(t, c)
	if ok, err := v.Verify(context.Background(), record("ssha"), "ssha-pass"); !ok || err != nil {
		t.Fatalf("first: (%v, %v)", ok, err)
	}
	mu.Lock()
	n := len(conns)
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	if n != 4 {
		t.Errorf("first call opened %d proxied connections, want 2 (search + bind)", n/2)
	}
	time.Sleep(50 * time.Millisecond)
	if ok, err := v.Verify(context.Background(), record("ssha"), "ssha-pass"); !ok || err != nil {
		t.Fatalf("after the cut: (%v, %v)", ok, err)
	}
	// Reuse: a third call opens no new connection.
	mu.Lock()
	before := len(conns)
	mu.Unlock()
	if ok, err := v.Verify(context.Background(), record("crypt"), "crypt-pass"); !ok || err != nil {
		t.Fatalf("third: (%v, %v)", ok, err)
	}
	mu.Lock()
	after := len(conns)
	mu.Unlock()
	if after != before {
		t.Errorf("third call opened %d new connections, want 0 (pooled)", (after-before)/2)
	}
}

// BenchmarkVerify measures one search+bind over pooled LDAPS connections to the local slapd ({SSHA} entry).
func BenchmarkVerify(b *testing.B) {
	s := requireSlapd(b)
	v := open(b, config(s))
	rec := record("ssha")
	verifytest.BenchVerify(b, v, rec, "ssha-pass")
}

// BenchmarkTCPRoundTrip is the baseline: one small request and its answer over an established loopback TCP
// connection to an echo server.
func BenchmarkTCPRoundTrip(b *testing.B) {
	verifytest.TCPRoundTrip(b)
}

// A dead directory behind a Breaker: after the configured failures the circuit opens and answers at once, never
// "wrong password"; a live directory behind the same stack still decides.
func TestBreakerOverDeadDirectory(t *testing.T) {
	s := requireSlapd(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c := config(s)
	c.URL = fmt.Sprintf("ldaps://127.0.0.1:%d", port)
	dead := verify.NewCounter("ldap", verify.NewBreaker(open(t, c), verify.BreakerConfig{Name: "ldap", Failures: 3, CoolDown: time.Hour}), nil)
	for range 3 {
		if ok, err := dead.Verify(context.Background(), record("ssha"), "ssha-pass"); ok || !errors.Is(err, verify.ErrUnavailable) || errors.Is(err, verify.ErrOpen) {
			t.Fatalf("got (%v, %v), want unavailable", ok, err)
		}
	}
	start := time.Now()
	ok, err := dead.Verify(context.Background(), record("ssha"), "ssha-pass")
	if ok || !errors.Is(err, verify.ErrOpen) {
		t.Fatalf("got (%v, %v), want ErrOpen", ok, err)
	}
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Fatalf("open circuit took %v to answer", el)
	}
	if st := dead.Stats(); st.Calls[verify.OutcomeError] != 3 || st.Calls[verify.OutcomeOpen] != 1 {
		t.Fatalf("stats %v", st.Calls)
	}

	live := verify.NewBreaker(open(t, config(s)), verify.BreakerConfig{Name: "ldap", Failures: 1})
	for _, tt := range []struct {
		pw   string
		want bool
	}{{"nope", false}, {"ssha-pass", true}, {"nope", false}} {
		if ok, err := live.Verify(context.Background(), record("ssha"), tt.pw); ok != tt.want || err != nil {
			t.Fatalf("live: got (%v, %v), want %v", ok, err, tt.want)
		}
	}
	if _, err := live.Verify(context.Background(), record("locked"), "locked-pass"); !errors.Is(err, verify.ErrLocked) {
		t.Fatalf("live locked: %v", err)
	}
	if st := live.State(); st != verify.Closed {
		t.Fatalf("decided answers opened the circuit: %v", st)
	}
}
