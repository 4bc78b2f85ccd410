package keycloak_test

import (
	"strings"
	"testing"

	"github.com/idshift/idshift/source/internal/readertest"
	"github.com/idshift/idshift/source/keycloak"
)

// TestEmailVerified: the export's verification flag becomes User.EmailVerified; nil when the record does not say.
func TestEmailVerified(t *testing.T) {
	const in = `{"users":[{"id":"1","username":"a","email":"a@example.com","emailVerified":true},
{"id":"2","username":"b","email":"b@example.com","emailVerified":false},
{"id":"3","username":"c","email":"c@example.com"}]}`
	us, rs := readertest.ReadAll(t, keycloak.Config{Path: "-", Stdin: strings.NewReader(in)}.Open)
	if len(rs) != 0 || len(us) != 3 {
		t.Fatalf("%d users, rejects %v", len(us), rs)
	}
	readertest.CheckVerified(t, us, true, false, nil)
}
