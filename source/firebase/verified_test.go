package firebase_test

import (
	"strings"
	"testing"

	"github.com/idshift/idshift/source/firebase"
	"github.com/idshift/idshift/source/internal/readertest"
)

// TestEmailVerified: the export's verification flag becomes User.EmailVerified; nil when the record does not say.
func TestEmailVerified(t *testing.T) {
	const in = `{"users":[{"localId":"1","email":"a@example.com","emailVerified":true},
{"localId":"2","email":"b@example.com","emailVerified":false},
{"localId":"3","email":"c@example.com"}]}`
	us, rs := readertest.ReadAll(t, firebase.Config{Path: "-", Stdin: strings.NewReader(in)}.Open)
	if len(rs) != 0 || len(us) != 3 {
		t.Fatalf("%d users, rejects %v", len(us), rs)
	}
	readertest.CheckVerified(t, us, true, false, nil)
}

// TestEmailVerifiedCSV: the third column of auth:export's CSV is the verification flag.
func TestEmailVerifiedCSV(t *testing.T) {
	const in = "1,a@example.com,true,,,A,,,,,,,,,,,,,,,,,,1508893925000,1508893925000,,\n" +
		"2,b@example.com,false,,,B,,,,,,,,,,,,,,,,,,1508893925000,1508893925000,,\n" +
		"3,c@example.com,,,,C,,,,,,,,,,,,,,,,,,1508893925000,1508893925000,,\n"
	us, rs := readertest.ReadAll(t, firebase.Config{Path: "-", Format: "csv", Stdin: strings.NewReader(in)}.Open)
	if len(rs) != 0 || len(us) != 3 {
		t.Fatalf("%d users, rejects %v", len(us), rs)
	}
	readertest.CheckVerified(t, us, true, false, nil)
}
