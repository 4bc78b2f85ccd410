package cognito_test

import (
	"strings"
	"testing"

	"github.com/idshift/idshift/source/cognito"
	"github.com/idshift/idshift/source/internal/readertest"
)

// TestEmailVerified: the export's verification flag becomes User.EmailVerified; nil when the record does not say.
func TestEmailVerified(t *testing.T) {
	const in = `{"Users":[{"Username":"1","Attributes":[{"Name":"email","Value":"a@example.com"},{"Name":"email_verified","Value":"true"}]},
{"Username":"2","Attributes":[{"Name":"email","Value":"b@example.com"},{"Name":"email_verified","Value":"false"}]},
{"Username":"3","Attributes":[{"Name":"email","Value":"c@example.com"}]}]}`
	us, rs := readertest.ReadAll(t, cognito.Config{Path: "-", Stdin: strings.NewReader(in)}.Open)
	if len(rs) != 0 || len(us) != 3 {
		t.Fatalf("%d users, rejects %v", len(us), rs)
	}
	readertest.CheckVerified(t, us, true, false, nil)
}
