package mergeplan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sample() *Plan {
	return &Plan{
		Version: Version,
		Created: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC),
		Rule:    "verified-email",
		Sources: []string{"shop", "forum"},
		Merges: []Merge{
			{Accept: true, Primary: Member{Source: "shop", LegacyID: "1", Guard: "slow"}, Members: []Member{{Source: "forum", LegacyID: "auth0|a", Guard: "fast"}}, GuardedBy: "fast"},
			{Accept: false, Primary: Member{Source: "shop", LegacyID: "2"}, Members: []Member{{Source: "forum", LegacyID: "auth0|b"}}},
		},
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if err := Write(path, sample()); err == nil {
		t.Error("a second Write replaced the plan; it must never overwrite")
	}
	p, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	acc := p.Accepted()
	if len(acc) != 2 {
		t.Fatalf("accepted index has %d keys, want 2 (primary and member of the accepted merge)", len(acc))
	}
	for _, k := range []Member{{Source: "shop", LegacyID: "1"}, {Source: "forum", LegacyID: "auth0|a"}} {
		if m := acc[k.Key()]; m == nil || m.Primary.LegacyID != "1" {
			t.Errorf("%v: not indexed to the accepted merge", k)
		}
	}
	if acc[Member{Source: "shop", LegacyID: "2"}.Key()] != nil {
		t.Error("a merge that is not accepted was indexed")
	}
}

func TestBadPlansNameTheField(t *testing.T) {
	cases := map[string]string{
		`{"version":2,"merges":[]}`: "version",
		`{"version":1,"merges":[{"accept":true,"primary":{"source":"a","legacyId":"1"},"members":[]}]}`:                                                                                                                  "merges[0].members",
		`{"version":1,"merges":[{"accept":true,"primary":{"source":"a","legacyId":"1"},"members":[{"source":"","legacyId":"2"}]}]}`:                                                                                      "merges[0].members[0]",
		`{"version":1,"merges":[{"accept":true,"primary":{"source":"a","legacyId":"1"},"members":[{"source":"b","legacyId":"2"}]},{"primary":{"source":"b","legacyId":"2"},"members":[{"source":"c","legacyId":"3"}]}]}`: "merges[1].primary",
		`{"version":1,"merges":[{"acept":true}]}`: "acept",
		`{"version":1,"merges":[]} {}`:            "more than one",
		`{"version":1,"merges":[`:                 "not a plan",
	}
	for in, want := range cases {
		_, err := Decode(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming %q", in, err, want)
		}
	}
}
