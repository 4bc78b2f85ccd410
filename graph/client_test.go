package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/internal/testclock"
)

// staticCred hands out numbered tokens and records the scopes asked for.
type staticCred struct {
	n      atomic.Int32
	mu     sync.Mutex
	scopes []string
	err    error
}

func (c *staticCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if c.err != nil {
		return azcore.AccessToken{}, c.err
	}
	n := c.n.Add(1)
	c.mu.Lock()
	c.scopes = o.Scopes
	c.mu.Unlock()
	return azcore.AccessToken{Token: fmt.Sprintf("tok-%d", n), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// fakeGraph is a TLS server whose handler a test programs; it counts requests.
type fakeGraph struct {
	srv   *httptest.Server
	n     atomic.Int32
	clk   *testclock.Clock
	cred  *staticCred
	mu    sync.Mutex
	paths []string
}

func newFakeGraph(t *testing.T, h http.HandlerFunc) *fakeGraph {
	t.Helper()
	f := &fakeGraph{clk: newFakeClock(), cred: &staticCred{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.n.Add(1)
		f.mu.Lock()
		f.paths = append(f.paths, r.Method+" "+r.URL.RequestURI())
		f.mu.Unlock()
		h(w, r)
	}))
	f.srv.Config.ErrorLog = nil
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGraph) client(t *testing.T, edit ...func(*graph.Config)) *graph.Client {
	t.Helper()
	cfg := graph.Config{
		BaseURL: f.srv.URL, Credential: f.cred, HTTPClient: f.srv.Client(), AppID: "app-1",
		Now: f.clk.Now, Sleep: f.clk.Sleep, MaxRetries: 3, Timeout: 5 * time.Second,
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := graph.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func graphError(w http.ResponseWriter, status int, code, msg string, hdr ...string) {
	for i := 0; i+1 < len(hdr); i += 2 {
		w.Header().Set(hdr[i], hdr[i+1])
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]any{"request-id": "req-1"}}})
}

func created(w http.ResponseWriter, id string) {
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "userPrincipalName": id + "@contoso.onmicrosoft.com"})
}

func TestNewConfig(t *testing.T) {
	cred := &staticCred{}
	tests := []struct {
		name string
		cfg  graph.Config
		want string
	}{
		{"http", graph.Config{BaseURL: "http://graph.microsoft.com", Credential: cred}, "graph: BaseURL: must be https"},
		{"no host", graph.Config{BaseURL: "https://", Credential: cred}, "graph: BaseURL: no host"},
		{"query", graph.Config{BaseURL: "https://graph.microsoft.com?x=1", Credential: cred}, "graph: BaseURL: must not have a query"},
		{"no credential", graph.Config{}, "graph: Credential: required"},
		{"empty scope", graph.Config{Credential: cred, Scopes: []string{" "}}, "graph: Scopes[0]: empty"},
		{"bad limits", graph.Config{Credential: cred, Pacing: graph.NewPacer(graph.Limits{AppWrites: -5})}, "graph: Pacing: graph: Limits.AppWrites"},
		{"ok", graph.Config{Credential: cred}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := graph.New(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("err %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestDefaultScopes(t *testing.T) {
	f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{"id": "u1"}) })
	c := f.client(t)
	if _, err := c.GetUser(context.Background(), "u1", nil); err != nil {
		t.Fatal(err)
	}
	want := "https://" + strings.TrimPrefix(f.srv.URL, "https://") + "/.default"
	if len(f.cred.scopes) != 1 || f.cred.scopes[0] != want {
		t.Errorf("scopes %v, want [%s]", f.cred.scopes, want)
	}
}

func TestCreateUserRetriesOnlyWhenNotExecuted(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		answers  []func(w http.ResponseWriter)
		kind     graph.Kind // KindOther = success
		requests int32
	}{
		{"503 with Retry-After is retried", []func(http.ResponseWriter){
			func(w http.ResponseWriter) { graphError(w, 503, "ServiceUnavailable", "busy", "Retry-After", "1") },
			func(w http.ResponseWriter) { created(w, "u1") },
		}, graph.KindOther, 2},
		{"429 is retried", []func(http.ResponseWriter){
			func(w http.ResponseWriter) {
				graphError(w, 429, "TooManyRequests", "slow down", "Retry-After", "2.128", "x-ms-throttle-scope", "Tenant_Application/ReadWrite/app-1/t")
			},
			func(w http.ResponseWriter) { created(w, "u1") },
		}, graph.KindOther, 2},
		{"500 is an unknown outcome", []func(http.ResponseWriter){
			func(w http.ResponseWriter) { graphError(w, 500, "Service_InternalServerError", "oops") },
		}, graph.KindUnknownOutcome, 1},
		{"503 without Retry-After is an unknown outcome", []func(http.ResponseWriter){
			func(w http.ResponseWriter) { graphError(w, 503, "ServiceUnavailable", "busy") },
		}, graph.KindUnknownOutcome, 1},
		{"504 is an unknown outcome", []func(http.ResponseWriter){
			func(w http.ResponseWriter) { graphError(w, 504, "GatewayTimeout", "late", "Retry-After", "1") },
		}, graph.KindUnknownOutcome, 1},
		{"reset after sending is an unknown outcome", []func(http.ResponseWriter){
			func(w http.ResponseWriter) { panic(http.ErrAbortHandler) },
		}, graph.KindUnknownOutcome, 1},
		{"conflict is not retried", []func(http.ResponseWriter){
			func(w http.ResponseWriter) {
				writeJSON(w, 400, map[string]any{"error": map[string]any{"code": "Request_BadRequest",
					"message": "Another object with the same value for property userPrincipalName already exists.",
					"details": []map[string]string{{"code": "ObjectConflict", "target": "userPrincipalName"}}}})
			},
		}, graph.KindConflict, 1},
		{"429 until retries run out", []func(http.ResponseWriter){
			func(w http.ResponseWriter) { graphError(w, 429, "TooManyRequests", "x", "Retry-After", "1") },
			func(w http.ResponseWriter) { graphError(w, 429, "TooManyRequests", "x", "Retry-After", "1") },
			func(w http.ResponseWriter) { graphError(w, 429, "TooManyRequests", "x", "Retry-After", "1") },
			func(w http.ResponseWriter) { graphError(w, 429, "TooManyRequests", "x", "Retry-After", "1") },
		}, graph.KindThrottled, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f *fakeGraph
			f = newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/v1.0/users" {
					t.Errorf("request %s %s", r.Method, r.URL.Path)
				}
				if got := r.Header.Get("Authorization"); !strings.HasPrefix(got, "Bearer tok-") {
					t.Errorf("Authorization %q", got)
				}
				i := int(f.n.Load()) - 1
				if i >= len(tt.answers) {
					t.Errorf("unexpected request %d", i+1)
					graphError(w, 500, "x", "x")
					return
				}
				tt.answers[i](w)
			})
			c := f.client(t)
			start := f.clk.Now()
			u, err := c.CreateUser(ctx, sampleUser())
			if tt.kind == graph.KindOther {
				if err != nil || u == nil || u.ID != "u1" {
					t.Fatalf("CreateUser = %v, %v", u, err)
				}
			} else {
				if !graph.IsKind(err, tt.kind) {
					t.Fatalf("err %v, want kind %v", err, tt.kind)
				}
				if tt.kind == graph.KindUnknownOutcome && !errors.Is(err, graph.ErrUnknownOutcome) {
					t.Errorf("errors.Is(ErrUnknownOutcome) false")
				}
			}
			if got := f.n.Load(); got != tt.requests {
				t.Errorf("%d requests, want %d", got, tt.requests)
			}
			if strings.HasPrefix(tt.name, "429 is") {
				if waited := f.clk.Now().Sub(start); waited < 2128*time.Millisecond {
					t.Errorf("retried after %v, before Retry-After 2.128s", waited)
				}
			}
		})
	}
}

func TestCreateUserNotSentIsRetried(t *testing.T) {
	// A closed port: nothing is ever sent, so the create is retried and ends as unavailable, not unknown.
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	url, hc := srv.URL, srv.Client()
	srv.Close()
	clk := newFakeClock()
	c, err := graph.New(graph.Config{BaseURL: url, Credential: &staticCred{}, HTTPClient: hc, MaxRetries: 2,
		Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateUser(context.Background(), sampleUser())
	if !graph.IsKind(err, graph.KindUnavailable) || errors.Is(err, graph.ErrUnknownOutcome) {
		t.Fatalf("err %v, want unavailable", err)
	}
	if n := len(clk.Sleeps()); n != 2 {
		t.Errorf("%d backoff sleeps, want 2 (MaxRetries)", n)
	}
}

func TestSafeCallsAreRetried(t *testing.T) {
	ctx := context.Background()
	t.Run("PATCH after 500s", func(t *testing.T) {
		var f *fakeGraph
		f = newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
			if f.n.Load() < 3 {
				graphError(w, 500, "Service_InternalServerError", "x")
				return
			}
			b, _ := io.ReadAll(r.Body)
			if !strings.Contains(string(b), `"extension_x":"2026-01-02T03:04:05Z"`) {
				t.Errorf("patch body %s", b)
			}
			w.WriteHeader(http.StatusNoContent)
		})
		err := f.client(t).UpdateUser(ctx, "u1", map[string]any{"extension_x": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
		if err != nil || f.n.Load() != 3 {
			t.Fatalf("err %v after %d requests", err, f.n.Load())
		}
	})
	t.Run("DELETE whose answer was lost", func(t *testing.T) {
		var f *fakeGraph
		f = newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
			if f.n.Load() == 1 {
				panic(http.ErrAbortHandler) // deleted, answer lost
			}
			graphError(w, 404, "Request_ResourceNotFound", "gone")
		})
		if err := f.client(t).DeleteUser(ctx, "u1"); err != nil || f.n.Load() != 2 {
			t.Fatalf("err %v after %d requests, want success after 2", err, f.n.Load())
		}
	})
	t.Run("DELETE of a missing user", func(t *testing.T) {
		f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) { graphError(w, 404, "Request_ResourceNotFound", "gone") })
		if err := f.client(t).DeleteUser(ctx, "u1"); !errors.Is(err, graph.ErrNotFound) {
			t.Fatalf("err %v, want not found", err)
		}
	})
	t.Run("GET throttled then served", func(t *testing.T) {
		var f *fakeGraph
		f = newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
			if f.n.Load() == 1 {
				graphError(w, 429, "TooManyRequests", "x", "Retry-After", "0.75")
				return
			}
			writeJSON(w, 200, map[string]any{"id": "u1"})
		})
		c := f.client(t)
		if _, err := c.GetUser(ctx, "u1", []string{"id"}); err != nil {
			t.Fatal(err)
		}
		if s := f.clk.Sleeps(); len(s) != 1 || s[0] != 750*time.Millisecond {
			t.Errorf("sleeps %v, want [750ms]", s)
		}
	})
	t.Run("401 refreshes the token once", func(t *testing.T) {
		var f *fakeGraph
		f = newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "Bearer tok-1" {
				graphError(w, 401, "InvalidAuthenticationToken", "expired")
				return
			}
			writeJSON(w, 200, map[string]any{"id": "u1"})
		})
		if _, err := f.client(t).GetUser(ctx, "u1", nil); err != nil || f.cred.n.Load() != 2 {
			t.Fatalf("err %v, %d tokens", err, f.cred.n.Load())
		}
	})
	t.Run("401 twice", func(t *testing.T) {
		f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) { graphError(w, 401, "InvalidAuthenticationToken", "no") })
		if _, err := f.client(t).GetUser(ctx, "u1", nil); !errors.Is(err, graph.ErrUnauthorized) || f.n.Load() != 2 {
			t.Fatalf("err %v after %d requests", err, f.n.Load())
		}
	})
	t.Run("token failure", func(t *testing.T) {
		f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {})
		f.cred.err = errors.New("AADSTS7000215: invalid client secret")
		_, err := f.client(t).GetUser(ctx, "u1", nil)
		if !errors.Is(err, graph.ErrUnauthorized) || f.n.Load() != 0 {
			t.Fatalf("err %v after %d requests", err, f.n.Load())
		}
	})
}

func TestFindUsersByIdentityQuery(t *testing.T) {
	var f *fakeGraph
	f = newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("$skiptoken") == "" {
			writeJSON(w, 200, map[string]any{"value": []map[string]any{{"id": "u1"}},
				"@odata.nextLink": f.srv.URL + "/v1.0/users?$skiptoken=abc"})
			return
		}
		writeJSON(w, 200, map[string]any{"value": []map[string]any{{"id": "u2"}}})
	})
	users, err := f.client(t).FindUsersByIdentity(context.Background(), "contoso.onmicrosoft.com", "o'brien@example.com", []string{"id", "identities"})
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].ID != "u1" || users[1].ID != "u2" {
		t.Errorf("users %+v", users)
	}
	first := f.paths[0]
	want := "/v1.0/users?$select=id%2Cidentities&$filter=identities%2Fany%28c%3Ac%2FissuerAssignedId%20eq%20%27o%27%27brien%40example.com%27%20and%20c%2Fissuer%20eq%20%27contoso.onmicrosoft.com%27%29"
	if first != "GET "+want {
		t.Errorf("request\n %s\nwant\n GET %s", first, want)
	}
	if got := graph.IdentityFilter("i'ss", "a'b"); got != "identities/any(c:c/issuerAssignedId eq 'a''b' and c/issuer eq 'i''ss')" {
		t.Errorf("filter %s", got)
	}
}

func TestNextLinkElsewhereRefused(t *testing.T) {
	f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"value": []map[string]any{}, "@odata.nextLink": "https://attacker.example/v1.0/users?x"})
	})
	err := f.client(t).ListUsers(context.Background(), graph.ListOptions{}, func(*graph.User) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "outside") || f.n.Load() != 1 {
		t.Fatalf("err %v after %d requests", err, f.n.Load())
	}
}

func TestBatchValidation(t *testing.T) {
	f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) { t.Error("no request expected") })
	c := f.client(t)
	mk := func(n int) []graph.BatchRequest {
		r := make([]graph.BatchRequest, n)
		for i := range r {
			r[i] = graph.BatchRequest{ID: fmt.Sprint(i + 1), Method: "GET", URL: "/users/x"}
		}
		return r
	}
	dup := mk(3)
	dup[2].ID = "1"
	noID := mk(2)
	noID[1].ID = ""
	for name, reqs := range map[string][]graph.BatchRequest{"empty": nil, "21": mk(21), "duplicate id": dup, "empty id": noID} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.Batch(context.Background(), reqs); !errors.Is(err, graph.ErrInvalid) {
				t.Errorf("err %v, want invalid", err)
			}
		})
	}
}

func TestBatchMatchesResponsesByID(t *testing.T) {
	f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Requests []graph.BatchRequest `json:"requests"`
		}
		if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
			t.Error(err)
		}
		var resps []map[string]any
		for _, q := range env.Requests {
			if q.ID == "3" {
				continue // Graph "forgot" this one
			}
			if q.Body != nil && q.Headers["Content-Type"] != "application/json" {
				t.Errorf("request %s has a body but no Content-Type", q.ID)
			}
			resps = append(resps, map[string]any{"id": q.ID, "status": 200, "body": map[string]any{"id": "user-" + q.ID}})
		}
		rand.Shuffle(len(resps), func(i, j int) { resps[i], resps[j] = resps[j], resps[i] })
		writeJSON(w, 200, map[string]any{"responses": resps})
	})
	reqs := []graph.BatchRequest{
		{ID: "1", Method: "GET", URL: "/users/a"}, {ID: "2", Method: "PATCH", URL: "/users/b", Body: map[string]any{"x": 1}},
		{ID: "3", Method: "GET", URL: "/users/c"}, {ID: "4", Method: "GET", URL: "/users/d"},
	}
	out, err := f.client(t).Batch(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out {
		if r.ID != reqs[i].ID {
			t.Errorf("response %d has id %s", i, r.ID)
		}
		if r.ID == "3" {
			if r.Status != 0 || !errors.Is(r.Err(), graph.ErrUnknownOutcome) {
				t.Errorf("missing response: %+v %v", r, r.Err())
			}
			continue
		}
		if r.Status != 200 || !strings.Contains(string(r.Body), "user-"+r.ID) {
			t.Errorf("response %d: %+v", i, r)
		}
	}
}

// batchServer serves POST /v1.0/$batch of user creates: each user's displayName decides its fate per attempt.
type batchServer struct {
	mu       sync.Mutex
	attempts map[string]int
	batches  int
	sizes    []int
}

func (b *batchServer) handler(t *testing.T, fate func(name string, attempt int) (status int, hdr map[string]string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Requests []struct {
				ID   string         `json:"id"`
				Body map[string]any `json:"body"`
			} `json:"requests"`
		}
		if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
			t.Error(err)
			return
		}
		b.mu.Lock()
		b.batches++
		b.sizes = append(b.sizes, len(env.Requests))
		var resps []map[string]any
		abort := false
		for _, q := range env.Requests {
			name, _ := q.Body["displayName"].(string)
			b.attempts[name]++
			status, hdr := fate(name, b.attempts[name])
			if status == -1 {
				abort = true
			}
			resp := map[string]any{"id": q.ID, "status": status, "headers": hdr}
			switch {
			case status == 201:
				resp["body"] = map[string]any{"id": "id-" + name, "displayName": name}
			case status >= 400:
				code := map[int]string{429: "TooManyRequests", 424: "FailedDependency", 400: "Request_BadRequest", 503: "ServiceUnavailable", 500: "InternalServerError"}[status]
				e := map[string]any{"code": code, "message": "m"}
				if status == 400 {
					e["details"] = []map[string]string{{"code": "ObjectConflict", "target": "identities"}}
				}
				resp["body"] = map[string]any{"error": e}
			}
			resps = append(resps, resp)
		}
		b.mu.Unlock()
		if abort {
			panic(http.ErrAbortHandler)
		}
		rand.Shuffle(len(resps), func(i, j int) { resps[i], resps[j] = resps[j], resps[i] })
		writeJSON(w, 200, map[string]any{"responses": resps})
	}
}

func users(n int) []*graph.User {
	out := make([]*graph.User, n)
	for i := range out {
		u := sampleUser()
		u.DisplayName = fmt.Sprintf("user%02d", i)
		out[i] = u
	}
	return out
}

func TestCreateUsersSplitsAndRetriesInnerThrottles(t *testing.T) {
	bs := &batchServer{attempts: map[string]int{}}
	f := newFakeGraph(t, bs.handler(t, func(name string, attempt int) (int, map[string]string) {
		var i int
		fmt.Sscanf(name, "user%d", &i)
		switch {
		case i == 7:
			return 400, nil // conflict
		case i == 12:
			return 500, nil
		case i%3 == 0 && attempt == 1:
			return 429, map[string]string{"Retry-After": "0.5", "x-ms-throttle-scope": "Tenant_Application/ReadWrite/app-1/t"}
		case i == 10 && attempt < 3:
			return 424, nil
		case i == 11 && attempt == 1:
			return 503, map[string]string{"Retry-After": "1"}
		}
		return 201, nil
	}))
	in := users(45)
	in[44] = nil
	res := f.client(t).CreateUsers(context.Background(), in)
	if len(res) != 45 {
		t.Fatalf("%d results", len(res))
	}
	for i, r := range res {
		name := fmt.Sprintf("user%02d", i)
		switch {
		case i == 44:
			if !errors.Is(r.Err, graph.ErrInvalid) {
				t.Errorf("%d: nil user gave %v", i, r.Err)
			}
		case i == 7:
			if !errors.Is(r.Err, graph.ErrConflict) || r.User != nil {
				t.Errorf("%d: %+v, want conflict", i, r)
			}
		case i == 12:
			if !errors.Is(r.Err, graph.ErrUnknownOutcome) {
				t.Errorf("%d: %v, want unknown outcome for an inner 500", i, r.Err)
			}
		default:
			if r.Err != nil || r.User == nil || r.User.ID != "id-"+name {
				t.Errorf("%d: %+v", i, r)
			}
		}
	}
	for _, s := range bs.sizes {
		if s > graph.MaxBatch {
			t.Errorf("a batch of %d", s)
		}
	}
	if bs.attempts["user03"] != 2 || bs.attempts["user10"] != 3 || bs.attempts["user07"] != 1 || bs.attempts["user12"] != 1 {
		t.Errorf("attempts %v", bs.attempts)
	}
	// 44 users → 3 batches, plus the retry rounds of each.
	total := 0
	for _, s := range bs.sizes {
		total += s
	}
	if total != 44+14+2+1 || bs.batches < 5 {
		t.Errorf("batches %v", bs.sizes)
	}
}

func TestCreateUsersLostBatch(t *testing.T) {
	bs := &batchServer{attempts: map[string]int{}}
	f := newFakeGraph(t, bs.handler(t, func(name string, attempt int) (int, map[string]string) {
		if name == "user25" {
			return -1, nil // the batch holding user25 is executed and its answer lost
		}
		return 201, nil
	}))
	res := f.client(t, func(c *graph.Config) { c.BatchConcurrency = 1 }).CreateUsers(context.Background(), users(45))
	for i, r := range res {
		lost := i >= 20 && i < 40
		if lost != errors.Is(r.Err, graph.ErrUnknownOutcome) {
			t.Errorf("%d: %v (lost batch: %v)", i, r.Err, lost)
		}
		if !lost && (r.User == nil || r.Err != nil) {
			t.Errorf("%d: %+v", i, r)
		}
	}
	if bs.attempts["user25"] != 1 {
		t.Errorf("a lost batch was sent again (%d attempts)", bs.attempts["user25"])
	}
}

func BenchmarkDecodeBatchResponse(b *testing.B) {
	var resps []map[string]any
	for i := range 20 {
		resps = append(resps, map[string]any{"id": fmt.Sprint(i + 1), "status": 201,
			"headers": map[string]string{"Content-Type": "application/json"},
			"body":    map[string]any{"id": fmt.Sprintf("0f6a2b3c-1111-4000-8000-%012d", i), "displayName": "Ada", "userPrincipalName": "x@contoso.onmicrosoft.com"}})
	}
	data, _ := json.Marshal(map[string]any{"responses": resps})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var ans struct {
			Responses []graph.BatchResponse `json:"responses"`
		}
		if err := json.Unmarshal(data, &ans); err != nil {
			b.Fatal(err)
		}
		for i := range ans.Responses {
			var u graph.User
			if err := json.Unmarshal(ans.Responses[i].Body, &u); err != nil {
				b.Fatal(err)
			}
		}
	}
}
