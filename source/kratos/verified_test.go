package kratos_test

import (
	"strings"
	"testing"

	"github.com/idshift/idshift/source/internal/readertest"
	"github.com/idshift/idshift/source/kratos"
)

// TestEmailVerified: the export's verification flag becomes User.EmailVerified; nil when the record does not say.
func TestEmailVerified(t *testing.T) {
	const in = `{"id":"1","traits":{"email":"a@example.com"},"verifiable_addresses":[{"value":"other@example.com","via":"email","verified":false},{"value":"A@example.com","via":"email","verified":true}]}
{"id":"2","traits":{"email":"b@example.com"},"verifiable_addresses":[{"value":"b@example.com","via":"email","verified":false}]}
{"id":"3","traits":{"email":"c@example.com"},"verifiable_addresses":[{"value":"other@example.com","via":"email","verified":true}]}`
	us, rs := readertest.ReadAll(t, kratos.Config{Path: "-", Stdin: strings.NewReader(in)}.Open)
	if len(rs) != 0 || len(us) != 3 {
		t.Fatalf("%d users, rejects %v", len(us), rs)
	}
	readertest.CheckVerified(t, us, true, false, nil)
}
