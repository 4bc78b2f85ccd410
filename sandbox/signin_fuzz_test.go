package sandbox

import (
	"strings"
	"testing"
)

// FuzzCalloutAnswer feeds arbitrary extension answers to the simulator's response check: it never panics, an
// answer without the request's nonce never changes an account, and every failure carries a documented code.
func FuzzCalloutAnswer(f *testing.F) {
	const nonce = "d7c30ed9-2c1f-4c53-9a0e-7b1c2d3e4f50"
	for _, s := range []string{
		`{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[{"@odata.type":"microsoft.graph.passwordSubmit.MigratePassword"}],"nonce":"` + nonce + `"}}`,
		`{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[{"@odata.type":"microsoft.graph.passwordsubmit.Block","title":"t","message":"m"}],"nonce":"` + nonce + `"}}`,
		`{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[{"@odata.type":"microsoft.graph.passwordSubmit.Retry"},{}],"nonce":"` + nonce + `"}}`,
		`{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData","actions":[{"@odata.type":"microsoft.graph.passwordSubmit.Block","title":7}],"nonce":"` + nonce + `"}}`,
		`{"data":{"actions":[null],"nonce":null}}`, `{"data":null}`, `[]`, `null`, `{`, `{"data":{"@odata.type":"x","actions":{}}}`,
	} {
		f.Add(s)
	}
	tn, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		st := signInState{userID: "00000000-0000-4000-8000-000000000001", flagProp: "extension_x_flag"}
		res := tn.applyAnswer(SignInResult{}, st, SignInRequest{Password: "Str0ng!Passw0rd"}, []byte(body), nonce)
		switch res.Outcome {
		case SignInError:
			if codeNames[res.Code] == "" {
				t.Fatalf("error without a documented code: %+v", res)
			}
		case SignInMustReset, SignInWrongPassword, SignInBlocked, SignInUnknownUser:
			if !strings.Contains(body, nonce) {
				t.Fatalf("an answer without the nonce was applied: %+v", res)
			}
		default:
			t.Fatalf("outcome %q from an answer for an account that does not exist", res.Outcome)
		}
	})
}
