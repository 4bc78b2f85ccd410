package cleanup_test

import (
	"testing"
	"time"

	"github.com/idshift/idshift/cleanup"
)

func TestLuhn(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"4111111111111111", true},
		{"4111111111111112", false},
		{"5555555555554444", true},
		{"378282246310005", true},
		{"378282246310006", false},
		{"79927398713", true},
		{"79927398710", false},
		{"", false},
		{"4111-1111", false},
	} {
		if got := cleanup.Luhn(c.in); got != c.want {
			t.Errorf("Luhn(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestFindCard(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"card 4111 1111 1111 1111 on file", "4111111111111111"},
		{"4111-1111-1111-1111", "4111111111111111"},
		{"5555555555554444", "5555555555554444"},
		{"4111111111111112", ""},     // fails Luhn
		{"411111111111", ""},         // 12 digits
		{"41111111111111111111", ""}, // 20 digits
		{"x94111111111111111", ""},   // 17 digits touching: the run is checked whole
		{"+44 20 7946 0047", ""},     // a phone number
		{"order 12345, card 378282246310005", "378282246310005"},
		{"4111  1111 1111 1111", ""}, // a double space splits the run
	} {
		got, ok := cleanup.FindCard(c.in)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("FindCard(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

func TestSSN(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"123-45-6789", true},
		{"ssn: 078-05-1120.", true},
		{"000-12-3456", false}, // area 000
		{"666-12-3456", false}, // area 666
		{"900-12-3456", false}, // area 9xx
		{"999-12-3456", false},
		{"123-00-4567", false},  // group 00
		{"123-45-0000", false},  // serial 0000
		{"1123-45-6789", false}, // touching digits
		{"123-45-67890", false},
		{"123456789", false}, // no dashes
		{"12-345-6789", false},
	} {
		_, ok := cleanup.FindSSN(c.in)
		if ok != c.want {
			t.Errorf("FindSSN(%q) = %v, want %v", c.in, ok, c.want)
		}
	}
	if !cleanup.ValidSSN("899-99-9999") || cleanup.ValidSSN("899-99-999") {
		t.Error("ValidSSN bounds")
	}
}

func TestMedicalName(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"bloodType", true}, {"diagnosis_code", true}, {"HealthPlan", true}, {"allergies", true}, {"medications", true},
		{"loyaltyTier", false}, {"newsletter", false}, {"country", false},
	} {
		if got := cleanup.MedicalName(c.in); got != c.want {
			t.Errorf("MedicalName(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestStale(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	two := 2 * 365 * 24 * time.Hour
	for _, c := range []struct {
		name     string
		disabled bool
		last     time.Time
		after    time.Duration
		want     cleanup.Staleness
	}{
		{"recent", false, now.AddDate(0, -1, 0), two, cleanup.NotStale},
		{"never", false, time.Time{}, two, cleanup.StaleNever},
		{"old", false, now.AddDate(-3, 0, 0), two, cleanup.StaleOld},
		{"just inside", false, now.Add(-two + time.Hour), two, cleanup.NotStale},
		{"just outside", false, now.Add(-two - time.Hour), two, cleanup.StaleOld},
		{"disabled wins", true, now, two, cleanup.StaleDisabled},
		{"no threshold", false, now.AddDate(-10, 0, 0), 0, cleanup.NotStale},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := cleanup.Stale(c.disabled, c.last, now, c.after); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestMasks(t *testing.T) {
	if got := cleanup.MaskCard("4111111111111111"); got != "************1111" {
		t.Errorf("MaskCard %q", got)
	}
	if got := cleanup.MaskEmail("alice@example.com"); got != "a***@example.com" {
		t.Errorf("MaskEmail %q", got)
	}
	if got := cleanup.MaskSSN("123-45-6789"); got != "***-**-****" {
		t.Errorf("MaskSSN %q", got)
	}
}

func TestEstimate(t *testing.T) {
	for _, c := range []struct {
		creates int64
		apps    int
		secs    float64
		bound   string
		over    bool
	}{
		{20, 1, 1, "app registrations", false},        // 3000/150 s = 20/s
		{600, 3, 10, "tenant", false},                 // 60/s per app... 3 apps = 60/s; tenant 60/s: equal, app bound
		{6000, 6, 100, "tenant", false},               // tenant 18000/300 s = 60/s
		{400000, 1, 20000, "app registrations", true}, // over the 300,000 quota
	} {
		d := cleanup.Estimate(c.creates, cleanup.Config{Apps: c.apps})
		if d.Seconds != c.secs || d.OverQuota != c.over || c.apps != 3 && d.Bound != c.bound {
			t.Errorf("Estimate(%d, %d apps) = %+v", c.creates, c.apps, d)
		}
	}
}
