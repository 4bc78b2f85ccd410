package source_test

import (
	"testing"

	"github.com/idshift/idshift/source"
)

func TestNearest(t *testing.T) {
	cols := []string{"legacy_id", "email", "username", "display_name", "given_name", "surname", "phone", "password_hash"}
	for in, want := range map[string]string{
		"emial": "email", "EMAIL": "email", "user_name": "username", "displayname": "display_name",
		"passwordhash": "password_hash", "favourite_colour": "", "x": "",
	} {
		if got := source.Nearest(in, cols); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", in, got, want)
		}
	}
	if got := source.Nearest("a", nil); got != "" {
		t.Errorf("no candidates: %q", got)
	}
}
