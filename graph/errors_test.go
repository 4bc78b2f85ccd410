package graph_test

import (
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestParseErrorGolden decodes Graph's error bodies from testdata/errors and compares the result with the golden
// files (go test -update rewrites them).
func TestParseErrorGolden(t *testing.T) {
	tests := []struct {
		file     string
		status   int
		header   map[string]string
		kind     graph.Kind
		sentinel error
		app      error
	}{
		{"conflict_upn.json", 400, nil, graph.KindConflict, graph.ErrConflict, idshift.ErrConflict},
		{"conflict_samekey.json", 400, nil, graph.KindConflict, graph.ErrConflict, idshift.ErrConflict},
		{"weak_password.json", 400, nil, graph.KindPasswordComplexity, graph.ErrPasswordComplexity, idshift.ErrInvalid},
		{"quota_code.json", 403, nil, graph.KindQuotaExceeded, graph.ErrQuotaExceeded, idshift.ErrUnavailable},
		{"quota_message.json", 400, nil, graph.KindQuotaExceeded, graph.ErrQuotaExceeded, idshift.ErrUnavailable},
		{"forbidden.json", 403, nil, graph.KindForbidden, graph.ErrForbidden, nil},
		{"unauthorized.json", 401, nil, graph.KindUnauthorized, graph.ErrUnauthorized, nil},
		{"not_found.json", 404, nil, graph.KindNotFound, graph.ErrNotFound, idshift.ErrNotFound},
		{"throttled.json", 429, map[string]string{"Retry-After": "2.128",
			"x-ms-throttle-scope":       "Tenant_Application/ReadWrite/9a3d526c-b3c1-4479-ba74-197b5c5751ae/0785ef7c-2d7a-4542-b048-95bcab406e0b",
			"x-ms-throttle-information": "WriteLimitExceeded"}, graph.KindThrottled, graph.ErrThrottled, idshift.ErrUnavailable},
		{"invalid_property.json", 400, nil, graph.KindInvalid, graph.ErrInvalid, idshift.ErrInvalid},
		{"server_error.json", 500, nil, graph.KindUnavailable, graph.ErrUnavailable, idshift.ErrUnavailable},
		{"gateway.html", 502, map[string]string{"request-id": "11111111-2222-4333-8444-555555555555"}, graph.KindUnavailable, graph.ErrUnavailable, idshift.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "errors", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			e := graph.ParseError(tt.status, h, body)
			if e.Kind != tt.kind {
				t.Fatalf("kind %v, want %v (code %q, message %q)", e.Kind, tt.kind, e.Code, e.Message)
			}
			if !errors.Is(e, tt.sentinel) {
				t.Errorf("errors.Is(%v) is false", tt.sentinel)
			}
			for _, other := range []error{graph.ErrConflict, graph.ErrThrottled, graph.ErrNotFound, graph.ErrUnknownOutcome} {
				if other != tt.sentinel && errors.Is(e, other) {
					t.Errorf("errors.Is(%v) is true", other)
				}
			}
			if tt.app != nil && !errors.Is(e, tt.app) {
				t.Errorf("errors.Is(idshift %v) is false", tt.app)
			}
			if e.RequestID == "" {
				t.Errorf("no request id")
			}
			got, err := json.MarshalIndent(map[string]any{
				"statusCode": e.StatusCode, "code": e.Code, "message": e.Message, "details": e.Details,
				"requestId": e.RequestID, "retryAfter": e.RetryAfter.String(), "throttleScope": e.ThrottleScope,
				"throttleInfo": e.ThrottleInfo, "kind": e.Kind.String(), "error": e.Error(),
			}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "errors", strings.TrimSuffix(tt.file, filepath.Ext(tt.file))+".golden")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
				t.Errorf("decoded error differs from %s:\n got %s\nwant %s", golden, got, want)
			}
		})
	}
}

func TestParseErrorThrottleHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("Retry-After", "2.128")
	h.Set("x-ms-throttle-scope", "Tenant/ReadWrite/0785ef7c-2d7a-4542-b048-95bcab406e0b")
	h.Set("x-ms-throttle-information", "WriteLimitExceeded")
	e := graph.ParseError(429, h, nil)
	if e.RetryAfter != 2128*time.Millisecond {
		t.Errorf("RetryAfter %v, want 2.128s", e.RetryAfter)
	}
	if e.ThrottleScope != "Tenant/ReadWrite/0785ef7c-2d7a-4542-b048-95bcab406e0b" || e.ThrottleInfo != "WriteLimitExceeded" {
		t.Errorf("scope %q info %q", e.ThrottleScope, e.ThrottleInfo)
	}
	if !e.Temporary() || e.Kind != graph.KindThrottled {
		t.Errorf("kind %v temporary %v", e.Kind, e.Temporary())
	}
}

func TestKindFromDetailsBeforeStatus(t *testing.T) {
	// A conflict detail wins over the generic 400, and a message never overrides a specific code.
	body := `{"error":{"code":"Request_BadRequest","message":"password complexity words in an unrelated message","details":[{"code":"ObjectConflict","target":"identities"}]}}`
	if e := graph.ParseError(400, nil, []byte(body)); e.Kind != graph.KindConflict {
		t.Errorf("kind %v, want conflict", e.Kind)
	}
	if e := graph.ParseError(409, nil, nil); e.Kind != graph.KindConflict {
		t.Errorf("409 without body: kind %v", e.Kind)
	}
	if e := graph.ParseError(400, nil, []byte(`{"error":`)); e.Kind != graph.KindInvalid {
		t.Errorf("truncated body: kind %v", e.Kind)
	}
}

func FuzzParseError(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "errors", "*.json"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(400, b)
	}
	f.Add(502, []byte("<html>"))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := graph.ParseError(status, nil, body)
		_ = e.Error()
		if len(e.Message) > len(body) {
			t.Fatalf("message longer than the body")
		}
	})
}
