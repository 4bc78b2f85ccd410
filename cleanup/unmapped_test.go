package cleanup_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/cleanup"
)

// TestAuditScansUnmappedValues: the values a mapping leaves out are counted as unmapped.* (once per user), their
// sensitive names and values flagged with masked samples, and the report says they were scanned.
func TestAuditScansUnmappedValues(t *testing.T) {
	a := user("a", "a@example.com", hash(bcryptHash))
	a.Unmapped = kv("user_metadata.notes", "paid with 4111 1111 1111 1111", "tags", "x", "tags", "y", "ssn", "123-45-6789")
	b := user("b", "b@example.com", hash(bcryptHash))
	b.Unmapped = kv("tags", "z", "ssn", " ", "bloodType", "O-")
	c := user("c", "c@example.com", hash(bcryptHash))
	c.Extensions = map[string]any{"passport_no": "X1"}
	src := []cleanup.NamedSource{{Name: "shop", Source: &sliceSource{users: []*idshift.User{a, b, c}}}}
	rep, err := cleanup.Run(context.Background(), cleanup.Config{Now: func() time.Time { return now }, Unmapped: true}, src)
	if err != nil {
		t.Fatal(err)
	}
	fill := map[string]int64{}
	for _, f := range rep.Fill {
		fill[f.Attribute] = f.Filled
	}
	for attr, want := range map[string]int64{"unmapped.tags": 2, "unmapped.ssn": 1, "unmapped.user_metadata.notes": 1, "unmapped.bloodType": 1, "extensions.passport_no": 1} {
		if fill[attr] != want {
			t.Errorf("fill %s = %d, want %d (all: %v)", attr, fill[attr], want, fill)
		}
	}
	flags := map[string]cleanup.Flag{}
	for _, f := range rep.Sensitive {
		flags[f.Attribute+"/"+f.Kind] = f
	}
	for key, detail := range map[string]string{
		"unmapped.user_metadata.notes/payment card number": "************1111",
		"unmapped.ssn/US social security number":           "***-**-****",
		"unmapped.ssn/national-id-looking name":            "",
		"unmapped.bloodType/medical-looking name":          "",
		"extensions.passport_no/national-id-looking name":  "",
	} {
		f, ok := flags[key]
		if !ok || f.Count != 1 || len(f.Samples) != 1 || f.Samples[0].Detail != detail {
			t.Errorf("flag %s = %+v, want one with detail %q (all: %v)", key, f, detail, flags)
		}
	}
	if !strings.Contains(rep.Scanned, "unmapped") || strings.Contains(rep.Scanned, "not scanned") {
		t.Errorf("scanned %q", rep.Scanned)
	}
	out, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"4111 1111", "123-45-6789", "O-"} {
		if strings.Contains(string(out), v) {
			t.Errorf("the report shows the value %q", v)
		}
	}
}

// kv makes attributes of name, value pairs.
func kv(pairs ...string) []idshift.Attr {
	var out []idshift.Attr
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, idshift.Attr{Name: pairs[i], Value: pairs[i+1]})
	}
	return out
}

func TestSensitiveName(t *testing.T) {
	for name, want := range map[string]string{
		"bloodType": cleanup.KindMedicalName, "diagnosis_code": cleanup.KindMedicalName,
		"ssn": cleanup.KindIDName, "SSN": cleanup.KindIDName, "userSSN": cleanup.KindIDName, "ssn_last4": cleanup.KindIDName,
		"socialSecurityNumber": cleanup.KindIDName, "passport_no": cleanup.KindIDName, "national-id": cleanup.KindIDName,
		"creditCard": cleanup.KindCardName, "card_number": cleanup.KindCardName, "CVV": cleanup.KindCardName,
		"classname": "", "lessons": "", "single": "", "panel": "", "tinyUrl": "", "email": "", "loyaltyTier": "", "": "",
	} {
		if got, ok := cleanup.SensitiveName(name); got != want || ok != (want != "") {
			t.Errorf("SensitiveName(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}

func TestSensitiveValue(t *testing.T) {
	for v, want := range map[string][2]string{
		"card 4111 1111 1111 1111": {cleanup.KindCard, "************1111"},
		"ssn: 123-45-6789":         {cleanup.KindSSN, "***-**-****"},
		"4111 1111 1111 1112":      {"", ""},
		"666-45-6789":              {"", ""},
		"short":                    {"", ""},
	} {
		if k, m := cleanup.SensitiveValue(v); k != want[0] || m != want[1] {
			t.Errorf("SensitiveValue(%q) = %q, %q; want %v", v, k, m, want)
		}
	}
}
