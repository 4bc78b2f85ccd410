package sandbox_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift/sandbox"
)

func batchOf(n int, prefix string) map[string]any {
	var reqs []any
	for i := range n {
		reqs = append(reqs, map[string]any{
			"id": strconv.Itoa(i + 1), "method": "POST", "url": "/users",
			"headers": map[string]string{"Content-Type": "application/json"},
			"body":    localUser(fmt.Sprintf("%s%d@example.com", prefix, i)),
		})
	}
	return map[string]any{"requests": reqs}
}

// byID indexes batch answers by id.
func byID(t *testing.T, r response) map[string]map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	out := map[string]map[string]any{}
	for _, v := range r.body["responses"].([]any) {
		m := v.(map[string]any)
		out[m["id"].(string)] = m
	}
	return out
}

func status(m map[string]any) int {
	n, _ := strconv.Atoi(fmt.Sprint(m["status"]))
	return n
}

func TestBatch(t *testing.T) {
	s, c := adminClient(t, sandbox.Config{DisableThrottling: true})

	t.Run("creates, conflict and reads matched by id", func(t *testing.T) {
		b := batchOf(3, "batch")
		reqs := b["requests"].([]any)
		reqs = append(reqs,
			map[string]any{"id": "dup", "method": "POST", "url": "/users", "headers": map[string]string{"Content-Type": "application/json"}, "body": localUser("batch0@example.com"), "dependsOn": []string{"1"}},
			map[string]any{"id": "get", "method": "GET", "url": "/users?$filter=identities/any(c:c/issuerAssignedId eq 'batch1@example.com' and c/issuer eq '" + sandbox.DefaultDomain + "')&$select=id,identities", "dependsOn": []string{"2"}},
			map[string]any{"id": "missing", "method": "GET", "url": "/users/00000000-0000-0000-0000-000000000000"},
		)
		b["requests"] = reqs
		got := byID(t, c.do("POST", "/v1.0/$batch", b))
		if len(got) != 6 {
			t.Fatalf("answers: %v", got)
		}
		for _, id := range []string{"1", "2", "3"} {
			if status(got[id]) != 201 {
				t.Errorf("request %s: %v", id, got[id])
			}
		}
		dup := got["dup"]
		if status(dup) != 400 || dup["body"].(map[string]any)["error"].(map[string]any)["code"] != "Request_BadRequest" {
			t.Errorf("dup: %v", dup)
		}
		if status(got["get"]) != 200 || len(got["get"]["body"].(map[string]any)["value"].([]any)) != 1 {
			t.Errorf("get: %v", got["get"])
		}
		if status(got["missing"]) != 404 {
			t.Errorf("missing: %v", got["missing"])
		}
		if s.Tenant.UserCount() != 3 {
			t.Errorf("UserCount = %d", s.Tenant.UserCount())
		}
	})
	t.Run("failed dependency", func(t *testing.T) {
		b := map[string]any{"requests": []any{
			map[string]any{"id": "a", "method": "POST", "url": "/users", "headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{"displayName": "no password"}},
			map[string]any{"id": "b", "method": "GET", "url": "/users", "dependsOn": []string{"a"}},
		}}
		got := byID(t, c.do("POST", "/v1.0/$batch", b))
		if status(got["a"]) != 400 || status(got["b"]) != 424 {
			t.Fatalf("%v", got)
		}
	})
	t.Run("whole batch rejected", func(t *testing.T) {
		noCT := batchOf(1, "noct")
		delete(noCT["requests"].([]any)[0].(map[string]any), "headers")
		dupIDs := batchOf(2, "dupid")
		dupIDs["requests"].([]any)[1].(map[string]any)["id"] = "1"
		for name, body := range map[string]any{
			"21 requests":     batchOf(21, "many"),
			"duplicate ids":   dupIDs,
			"no content type": noCT,
			"malformed":       `{"requests": [`,
			"no requests key": `{}`,
		} {
			r := c.do("POST", "/v1.0/$batch", body)
			if r.status != 400 || r.errCode() != "BadRequest" {
				t.Errorf("%s: %d %s", name, r.status, r.raw)
			}
		}
		if n := s.Tenant.UserCount(); n != 3 {
			t.Errorf("a rejected batch wrote users: %d", n)
		}
	})
	t.Run("20 requests", func(t *testing.T) {
		got := byID(t, c.do("POST", "/v1.0/$batch", batchOf(20, "twenty")))
		for id, m := range got {
			if status(m) != 201 {
				t.Errorf("%s: %v", id, m)
			}
		}
	})
}

func TestThrottling(t *testing.T) {
	clk := newClock()
	second := sandbox.App{ClientID: "00000000-0000-0000-0000-00000000a002", Secret: "second-secret"}
	s := start(t, sandbox.Config{Now: clk.Now,
		Apps:   []sandbox.App{{ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret}, second},
		Limits: sandbox.Limits{AppWrites: 3, AppWindow: 3 * time.Second, TenantWrites: 5, TenantWindow: 10 * time.Second}})
	c1 := newRawClient(t, s, sandbox.DefaultTenantID, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
	c2 := newRawClient(t, s, sandbox.DefaultTenantID, second.ClientID, second.Secret)
	for i := range 3 {
		if r := c1.do("POST", "/v1.0/users", localUser(fmt.Sprintf("t%d@example.com", i))); r.status != 201 {
			t.Fatalf("write %d: %d %s", i, r.status, r.raw)
		}
	}
	r := c1.do("POST", "/v1.0/users", localUser("t3@example.com"))
	if r.status != 429 || r.errCode() != "TooManyRequests" {
		t.Fatalf("4th write: %d %s", r.status, r.raw)
	}
	if got := r.header.Get("x-ms-throttle-scope"); got != "Tenant_Application/ReadWrite/"+sandbox.DefaultClientID+"/"+sandbox.DefaultTenantID {
		t.Errorf("scope = %q", got)
	}
	if got := r.header.Get("x-ms-throttle-information"); got != "WriteLimitExceeded" {
		t.Errorf("information = %q", got)
	}
	if ra, err := strconv.ParseFloat(r.header.Get("Retry-After"), 64); err != nil || ra != 1 {
		t.Errorf("Retry-After = %q, want 1 (one token at 1/s)", r.header.Get("Retry-After"))
	}
	// Reads are not write-throttled.
	if r := c1.do("GET", "/v1.0/users", nil); r.status != 200 {
		t.Errorf("read: %d", r.status)
	}
	clk.Advance(500 * time.Millisecond)
	r = c1.do("POST", "/v1.0/users", localUser("t3@example.com"))
	if r.status != 429 || r.header.Get("Retry-After") != "0.5" {
		t.Fatalf("fractional Retry-After: %d %q", r.status, r.header.Get("Retry-After"))
	}
	// The second app has its own bucket but shares the tenant's: 5 - 3 = 2 left.
	for i := range 2 {
		if r := c2.do("POST", "/v1.0/users", localUser(fmt.Sprintf("u%d@example.com", i))); r.status != 201 {
			t.Fatalf("app 2 write %d: %d %s", i, r.status, r.raw)
		}
	}
	r = c2.do("POST", "/v1.0/users", localUser("u2@example.com"))
	if r.status != 429 || r.header.Get("x-ms-throttle-scope") != "Tenant/ReadWrite/"+sandbox.DefaultTenantID {
		t.Fatalf("tenant scope: %d %q", r.status, r.header.Get("x-ms-throttle-scope"))
	}
	clk.Advance(2 * time.Second)
	if r := c2.do("POST", "/v1.0/users", localUser("u2@example.com")); r.status != 201 {
		t.Fatalf("after refill: %d %s", r.status, r.raw)
	}
	t.Run("batch items throttled on their own", func(t *testing.T) {
		clk.Advance(time.Minute) // full buckets: app 3, tenant 5
		got := byID(t, c1.do("POST", "/v1.0/$batch", batchOf(5, "tb")))
		var ok, throttled int
		for _, m := range got {
			switch status(m) {
			case 201:
				ok++
			case 429:
				throttled++
				h := m["headers"].(map[string]any)
				if h["Retry-After"] == nil || h["x-ms-throttle-scope"] == nil {
					t.Errorf("inner 429 headers: %v", h)
				}
			}
		}
		if ok != 3 || throttled != 2 {
			t.Fatalf("ok %d throttled %d: %v", ok, throttled, got)
		}
	})
	if st := s.Tenant.Stats(); st.Throttled != 5 || st.Writes != 9 {
		t.Errorf("stats = %+v", st)
	}
}

func TestFaults(t *testing.T) {
	t.Run("commit then fail commits", func(t *testing.T) {
		s, c := adminClient(t, sandbox.Config{DisableThrottling: true, Faults: sandbox.Faults{CommitThenFail: 1}})
		_ = c
		body := strings.NewReader(`{"displayName":"x","identities":[{"signInType":"emailAddress","issuer":"` + sandbox.DefaultDomain + `","issuerAssignedId":"ctf@example.com"}],"passwordProfile":{"password":"Str0ng!Passw0rd"}}`)
		req, _ := http.NewRequest("POST", s.URL+"/v1.0/users", body)
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.hc.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("got a response: %d %s", resp.StatusCode, b)
		}
		users := s.Tenant.Users()
		if len(users) != 1 || users[0]["displayName"] != "x" {
			t.Fatalf("the write did not happen: %v", users)
		}
		if st := s.Tenant.Stats(); st.Faults["commitThenFail"] < 1 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("reset writes nothing", func(t *testing.T) {
		s, c := adminClient(t, sandbox.Config{DisableThrottling: true, Faults: sandbox.Faults{Reset: 1}})
		req, _ := http.NewRequest("POST", s.URL+"/v1.0/users", strings.NewReader(`{"displayName":"x"}`))
		req.Header.Set("Authorization", "Bearer "+c.token)
		if _, err := c.hc.Do(req); err == nil {
			t.Fatal("got a response")
		}
		if s.Tenant.UserCount() != 0 {
			t.Fatal("reset wrote a user")
		}
	})
	t.Run("http1 reset", func(t *testing.T) {
		s, c := adminClient(t, sandbox.Config{Faults: sandbox.Faults{Reset: 1}})
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
		req, _ := http.NewRequest("GET", s.URL+"/v1.0/users", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		_, err := hc.Do(req)
		if err == nil || !(errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset")) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("errors and slow", func(t *testing.T) {
		_, c := adminClient(t, sandbox.Config{Faults: sandbox.Faults{Error503: 1, Error503NoRetryAfter: true}})
		r := c.do("GET", "/v1.0/users", nil)
		if r.status != 503 || r.header.Get("Retry-After") != "" {
			t.Fatalf("%d %v", r.status, r.header)
		}
		_, c = adminClient(t, sandbox.Config{Faults: sandbox.Faults{Error503: 1}})
		if r := c.do("GET", "/v1.0/users", nil); r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Fatalf("%d %v", r.status, r.header)
		}
		_, c = adminClient(t, sandbox.Config{Faults: sandbox.Faults{Error500: 1}})
		if r := c.do("GET", "/v1.0/users", nil); r.status != 500 {
			t.Fatalf("%d", r.status)
		}
		_, c = adminClient(t, sandbox.Config{Faults: sandbox.Faults{Throttle: 1}})
		r = c.do("GET", "/v1.0/users", nil)
		if ra, err := strconv.ParseFloat(r.header.Get("Retry-After"), 64); r.status != 429 || err != nil || ra <= 0 {
			t.Fatalf("%d %v", r.status, r.header)
		}
		s, c := adminClient(t, sandbox.Config{Faults: sandbox.Faults{Slow: 1, SlowDelay: 50 * time.Millisecond}})
		start := time.Now()
		if r := c.do("GET", "/v1.0/users", nil); r.status != 200 || time.Since(start) < 50*time.Millisecond {
			t.Fatalf("%d after %v", r.status, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/v1.0/users", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		if _, err := c.hc.Do(req); err == nil {
			t.Fatal("slow request beat its deadline")
		}
	})
	t.Run("seeded faults are reproducible", func(t *testing.T) {
		run := func() []int {
			_, c := adminClient(t, sandbox.Config{Faults: sandbox.Faults{Error500: 0.3, Error503: 0.3, Seed: 42}})
			var out []int
			for range 30 {
				out = append(out, c.do("GET", "/v1.0/users", nil).status)
			}
			return out
		}
		a, b := run(), run()
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("%v != %v", a, b)
		}
		if !strings.Contains(fmt.Sprint(a), "200") || !strings.Contains(fmt.Sprint(a), "500") {
			t.Fatalf("no mix of faults: %v", a)
		}
	})
}

func TestResourceUnits(t *testing.T) {
	clk := newClock()
	s := start(t, sandbox.Config{Now: clk.Now, Limits: sandbox.Limits{ResourceUnits: 4, ResourceWindow: 4 * time.Second}})
	c := newRawClient(t, s, sandbox.DefaultTenantID, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
	for i := range 2 {
		if r := c.do("GET", "/v1.0/users", nil); r.status != 200 { // 2 RU each
			t.Fatalf("read %d: %d %s", i, r.status, r.raw)
		}
	}
	r := c.do("GET", "/v1.0/users", nil)
	if r.status != 429 || r.header.Get("x-ms-throttle-information") != "ResourceUnitLimitExceeded" || r.header.Get("Retry-After") != "2" {
		t.Fatalf("got %d %v", r.status, r.header)
	}
	clk.Advance(time.Second) // 1 RU back: a GET with $select and a small $top costs 1
	if r := c.do("GET", "/v1.0/users?$select=id&$top=5", nil); r.status != 200 {
		t.Fatalf("cheap read: %d %s", r.status, r.raw)
	}
	if r := c.do("POST", "/v1.0/users", localUser("ru@example.com")); r.status != 429 {
		t.Fatalf("write without RU left: %d", r.status)
	}
	clk.Advance(time.Second)
	if r := c.do("POST", "/v1.0/users", localUser("ru@example.com")); r.status != 201 {
		t.Fatalf("write: %d %s", r.status, r.raw)
	}
	t.Run("by tenant size", func(t *testing.T) {
		s := start(t, sandbox.Config{Now: clk.Now, Limits: sandbox.Limits{ResourceUnits: sandbox.ResourceUnitsBySize}})
		c := newRawClient(t, s, sandbox.DefaultTenantID, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
		n := 0
		for ; n < 2000; n++ {
			if r := c.do("GET", "/v1.0/users", nil); r.status != 200 {
				break
			}
		}
		if n != 1750 { // 3500 RU for a tenant under 50 users, 2 RU a read
			t.Fatalf("%d reads admitted, want 1750", n)
		}
	})
}
