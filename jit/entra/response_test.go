package entra_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/jit/entra"
)

func TestWriteResponse(t *testing.T) {
	cases := []struct {
		action    idshift.Action
		namespace string
		want      string
	}{
		{idshift.ActionMigrate, "", `{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[{"@odata.type":"microsoft.graph.passwordSubmit.MigratePassword"}],"nonce":"n-1"}}`},
		{idshift.ActionUpdate, entra.NamespaceDocumented, `{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[{"@odata.type":"microsoft.graph.passwordSubmit.UpdatePassword"}],"nonce":"n-1"}}`},
		{idshift.ActionRetry, entra.NamespaceSample, `{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[{"@odata.type":"microsoft.graph.passwordsubmit.Retry"}],"nonce":"n-1"}}`},
		{idshift.ActionBlock, "", `{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[{"@odata.type":"microsoft.graph.passwordSubmit.Block","title":"Sign-in blocked","message":"Contact support."}],"nonce":"n-1"}}`},
	}
	for _, tc := range cases {
		t.Run(string(tc.action)+"/"+tc.namespace, func(t *testing.T) {
			w := httptest.NewRecorder()
			if err := entra.WriteResponse(w, tc.action, "n-1", "Sign-in blocked", "Contact support.", tc.namespace); err != nil {
				t.Fatal(err)
			}
			if w.Code != http.StatusOK {
				t.Errorf("status %d", w.Code)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if w.Body.String() != tc.want {
				t.Errorf("body\n got %s\nwant %s", w.Body, tc.want)
			}
			v, err := entra.ParseResponse(w.Code, w.Header().Get("Content-Type"), w.Body.Bytes())
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if v.Action != tc.action || v.Nonce != "n-1" {
				t.Errorf("ParseResponse = %+v", v)
			}
		})
	}
}

func TestWriteResponseRefusesOffContract(t *testing.T) {
	for _, tc := range []struct {
		action    idshift.Action
		namespace string
	}{
		{"Allow", ""}, {"", ""}, {"migratepassword", ""}, {idshift.ActionMigrate, "PasswordSubmit"}, {idshift.ActionMigrate, "x"},
	} {
		w := httptest.NewRecorder()
		if err := entra.WriteResponse(w, tc.action, "n", "", "", tc.namespace); err == nil {
			t.Errorf("WriteResponse(%q, %q) accepted", tc.action, tc.namespace)
		}
		if w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
			t.Errorf("WriteResponse(%q, %q) wrote something", tc.action, tc.namespace)
		}
	}
}

func TestParseResponseCodes(t *testing.T) {
	ok := `{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[{"@odata.type":"microsoft.graph.PASSWORDSUBMIT.Retry"}],"nonce":"n"}}`
	cases := []struct {
		name   string
		status int
		ct     string
		body   string
		code   int
	}{
		{"case-insensitive namespace", 200, "application/json; charset=utf-8", ok, 0},
		{"status 201", 201, "application/json", ok, entra.CodeInvalidHTTPStatus},
		{"status 500", 500, "application/json", ok, entra.CodeInvalidHTTPStatus},
		{"text/plain", 200, "text/plain", ok, entra.CodeInvalidContentType},
		{"empty", 200, "application/json", "", entra.CodeEmptyResponse},
		{"not JSON", 200, "application/json", "nope", entra.CodeInvalidResponseBody},
		{"wrong data type", 200, "application/json", `{"data":{"@odata.type":"x","actions":[{"@odata.type":"microsoft.graph.passwordSubmit.Retry"}]}}`, entra.CodeInvalidResponseBody},
		{"two actions", 200, "application/json", `{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[{"@odata.type":"microsoft.graph.passwordSubmit.Retry"},{"@odata.type":"microsoft.graph.passwordSubmit.Retry"}]}}`, entra.CodeInvalidNumberOfAction},
		{"no action", 200, "application/json", `{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[]}}`, entra.CodeInvalidNumberOfAction},
		{"unknown action", 200, "application/json", `{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[{"@odata.type":"microsoft.graph.passwordSubmit.Allow"}]}}`, entra.CodeInvalidActionType},
		{"other event's action", 200, "application/json", `{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[{"@odata.type":"microsoft.graph.tokenIssuanceStart.provideClaimsForToken"}]}}`, entra.CodeInvalidActionType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := entra.ParseResponse(tc.status, tc.ct, []byte(tc.body))
			if tc.code == 0 {
				if err != nil || v.Action != idshift.ActionRetry || v.Namespace != "PASSWORDSUBMIT" {
					t.Fatalf("ParseResponse = %+v, %v", v, err)
				}
				return
			}
			var re *entra.ResponseError
			if !errors.As(err, &re) || re.Code != tc.code {
				t.Fatalf("ParseResponse = %v, want code %d", err, tc.code)
			}
		})
	}
}

func TestEncodeResponseNonceEscaped(t *testing.T) {
	b, err := entra.EncodeResponse(idshift.ActionRetry, `"},"x":"`, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	var r entra.CalloutResponse
	if err := json.Unmarshal(b, &r); err != nil || r.Data.Nonce != `"},"x":"` || len(r.Data.Actions) != 1 {
		t.Fatalf("round trip: %+v, %v", r, err)
	}
}
