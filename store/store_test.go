package store_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store"
)

func TestPrepareRecords(t *testing.T) {
	r := func(source, id string, state idshift.State) *idshift.Record {
		return &idshift.Record{Key: idshift.Key{Source: source, LegacyID: id}, State: state}
	}
	in := []*idshift.Record{r("b", "1", "x"), r("a", "2", "first"), r("a", "10", "y"), r("a", "2", "second"), r("", "z", "z"), r("a", "2", "third")}
	got, err := store.PrepareRecords(in)
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, g := range got {
		desc = append(desc, fmt.Sprintf("%s/%s=%s", g.Source, g.LegacyID, g.State))
	}
	want := []string{"/z=z", "a/10=y", "a/2=third", "b/1=x"}
	if !slices.Equal(desc, want) {
		t.Errorf("PrepareRecords = %q, want %q", desc, want)
	}
	if in[0].LegacyID != "1" || in[1].State != "first" {
		t.Error("PrepareRecords reordered its argument")
	}
	for name, bad := range map[string][]*idshift.Record{
		"nil":          {r("a", "1", "x"), nil},
		"no legacy id": {r("a", "", "x")},
		"no state":     {r("a", "1", "")},
	} {
		if _, err := store.PrepareRecords(bad); idshift.ErrorCode(err) != idshift.EINVALID {
			t.Errorf("%s: err = %v, want EINVALID", name, err)
		}
	}
}

func TestPrepareKeys(t *testing.T) {
	k := func(s, id string) idshift.Key { return idshift.Key{Source: s, LegacyID: id} }
	got := store.PrepareKeys([]idshift.Key{k("b", "1"), k("a", "2"), k("b", "1"), k("a", ""), k("A", "9")})
	want := []idshift.Key{k("A", "9"), k("a", "2"), k("b", "1")}
	if !slices.Equal(got, want) {
		t.Errorf("PrepareKeys = %v, want %v", got, want)
	}
}

func TestSignInNames(t *testing.T) {
	got := store.SignInNames([]string{"Alice@Example.com", "alice@example.com", " ", "ALICE", "Zoë"})
	want := []string{"alice@example.com", "alice", "zoë"}
	if !slices.Equal(got, want) {
		t.Errorf("SignInNames = %q, want %q", got, want)
	}
	if store.SignInNames(nil) != nil {
		t.Error("SignInNames(nil) is not nil")
	}
}

func TestNow(t *testing.T) {
	loc := time.FixedZone("x", 3600)
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 123456789, loc)
	got := store.Now(func() time.Time { return fixed })
	if got.Location() != time.UTC || !got.Equal(fixed.Truncate(time.Microsecond)) || got.Nanosecond() != 123456000 {
		t.Errorf("Now = %v", got)
	}
	if n := store.Now(nil); n.Location() != time.UTC || time.Since(n) > time.Minute {
		t.Errorf("Now(nil) = %v", n)
	}
}
