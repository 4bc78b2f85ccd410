package uuid_test

import (
	"regexp"
	"testing"

	"github.com/idshift/idshift/internal/uuid"
)

var v4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestUUID(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	if !v4.MatchString(a) || !v4.MatchString(b) || a == b {
		t.Errorf("New: %q, %q", a, b)
	}
	var in [16]byte
	for i := range in {
		in[i] = 0xff
	}
	if got := uuid.FromBytes(in); got != "ffffffff-ffff-4fff-bfff-ffffffffffff" {
		t.Errorf("FromBytes = %q", got)
	}
	if got := uuid.FromBytes([16]byte{}); got != "00000000-0000-4000-8000-000000000000" {
		t.Errorf("FromBytes(zero) = %q", got)
	}
	for in, want := range map[string]string{
		"0123456789abcdef0123456789abcdef":     "01234567-89ab-cdef-0123-456789abcdef",
		"01234567-89ab-cdef-0123-456789abcdef": "01234567-89ab-cdef-0123-456789abcdef",
		"short":                                "short",
	} {
		if got := uuid.Dashed(in); got != want {
			t.Errorf("Dashed(%q) = %q", in, got)
		}
	}
}
