package auth0_test

import (
	"strings"
	"testing"

	"github.com/idshift/idshift/source/auth0"
	"github.com/idshift/idshift/source/internal/readertest"
)

// TestEmailVerified: the export's verification flag becomes User.EmailVerified; nil when the record does not say.
func TestEmailVerified(t *testing.T) {
	const in = `{"user_id":"auth0|1","email":"a@example.com","email_verified":true}
{"user_id":"auth0|2","email":"b@example.com","email_verified":false}
{"user_id":"auth0|3","email":"c@example.com"}`
	us, rs := readertest.ReadAll(t, auth0.Config{Path: "-", Stdin: strings.NewReader(in)}.Open)
	if len(rs) != 0 || len(us) != 3 {
		t.Fatalf("%d users, rejects %v", len(us), rs)
	}
	readertest.CheckVerified(t, us, true, false, nil)
}
