package cleanup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/cleanup"
	"github.com/idshift/idshift/mergeplan"
)

func verified(u *idshift.User, v bool) *idshift.User {
	u.EmailVerified = &v
	return u
}

func withUserName(u *idshift.User, name string) *idshift.User {
	u.Identities = append(u.Identities, idshift.Identity{SignInType: idshift.SignInUserName, IssuerAssignedID: name})
	return u
}

// threeSources share names across sources, verified or not:
//
//	ann  a1 (verified), a4 (same source: rejected), b1 (verified), c1 (does not say)
//	bob2 b2 (verified), c3 (verified); b2 also has the userName bobby, as a2
//	cat  a3 (not verified), b3 (verified)
//	dan  b4 (verified, bcrypt), c2 (verified, bcrypt)
//	zed  a6 (verified, but a repeated legacy id: rejected), b5 (verified)
func threeSources() []cleanup.NamedSource {
	slow, fast := hash(bcryptHash), hash(md5Hash)
	a := []*idshift.User{
		verified(user("a1", "ann@example.com", slow), true),
		withUserName(verified(user("a2", "bob@example.com", slow), true), "bobby"),
		verified(user("a3", "cat@example.com", slow), false),
		verified(user("a4", "Ann@example.com", slow), true),
		verified(user("a5", "eve@example.com", slow), true),
		verified(user("a1", "zed@example.com", slow), true),
	}
	b := []*idshift.User{
		verified(user("b1", "ANN@example.com", fast), true),
		withUserName(verified(user("b2", "bob2@example.com", slow), true), "Bobby"),
		verified(user("b3", "cat@example.com", slow), true),
		verified(user("b4", "dan@example.com", slow), true),
		verified(user("b5", "zed@example.com", slow), true),
	}
	c := []*idshift.User{
		user("c1", "ann@example.com", idshift.Credential{}),
		verified(user("c2", "dan@example.com", slow), true),
		verified(user("c3", "bob2@example.com", slow), true),
	}
	return []cleanup.NamedSource{{Name: "a", Source: &sliceSource{users: a}}, {Name: "b", Source: &sliceSource{users: b}}, {Name: "c", Source: &sliceSource{users: c}}}
}

// groups describes the merges as "primary<-member,member".
func groups(ms []cleanup.Merge) []string {
	var out []string
	for _, m := range ms {
		s := m.Primary.LegacyID + "<-"
		for i, x := range m.Members {
			if i > 0 {
				s += ","
			}
			s += x.LegacyID
		}
		out = append(out, s)
	}
	return out
}

func audit(t *testing.T, cfg cleanup.Config) (*cleanup.Report, *cleanup.Auditor) {
	t.Helper()
	cfg.Now, cfg.TempDir = func() time.Time { return now }, t.TempDir()
	a, err := cleanup.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx := context.Background()
	for i, s := range threeSources() {
		if err := a.SetSource(ctx, i, s.Name); err != nil {
			t.Fatal(err)
		}
		if err := cleanup.Drain(ctx, a, s); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := a.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep, a
}

func TestMergeRules(t *testing.T) {
	unverified, userRule, emailRule := "same email, not verified on every side", "same userName, the rule does not merge on userName", "same email, the rule does not merge on email"
	for _, c := range []struct {
		name        string
		cfg         cleanup.Config
		groups      []string
		notProposed map[string]int64
	}{
		{"verified-email", cleanup.Config{}, []string{"a1<-b1", "b2<-c3", "b4<-c2"}, map[string]int64{unverified: 2, userRule: 1}},
		{"verified-email, c trusted", cleanup.Config{TrustEmail: []string{"c"}}, []string{"a1<-b1,c1", "b2<-c3", "b4<-c2"}, map[string]int64{unverified: 1, userRule: 1}},
		{"email", cleanup.Config{Rule: cleanup.RuleEmail}, []string{"a1<-b1,c1", "a3<-b3", "b2<-c3", "b4<-c2"}, map[string]int64{userRule: 1}},
		{"username", cleanup.Config{Rule: cleanup.RuleUserName}, []string{"a2<-b2"}, map[string]int64{emailRule: 4}},
		// bobby links a2 and b2, bob2 links b2 and c3: one merge of three.
		{"email+username", cleanup.Config{Rule: cleanup.RuleEmailUserName}, []string{"a1<-b1,c1", "a2<-b2,c3", "a3<-b3", "b4<-c2"}, map[string]int64{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, a := audit(t, c.cfg)
			d := rep.Duplicates
			if got := groups(a.Merges()); !reflect.DeepEqual(got, c.groups) {
				t.Errorf("merges %v, want %v", got, c.groups)
			}
			var accounts int64
			for _, g := range c.groups {
				accounts += int64(strings.Count(g, ",") + 2)
			}
			if d.Proposed != int64(len(c.groups)) || d.Accounts != accounts || d.AcrossSources != accounts-d.Proposed {
				t.Errorf("proposed %d, accounts %d, across %d", d.Proposed, d.Accounts, d.AcrossSources)
			}
			if d.WithinSource != 1 || d.LegacyIDs != 1 || d.WithinSamples[0].Primary.LegacyID != "a1" || d.WithinSamples[0].Members[0].LegacyID != "a4" {
				t.Errorf("within source %d %+v, legacy ids %d", d.WithinSource, d.WithinSamples, d.LegacyIDs)
			}
			got := map[string]int64{}
			for _, u := range d.NotProposed {
				got[u.Reason] = u.Count
				if len(u.Samples) == 0 || len(u.Samples[0].Members) == 0 {
					t.Errorf("%s: samples %+v", u.Reason, u.Samples)
				}
			}
			if !reflect.DeepEqual(got, c.notProposed) {
				t.Errorf("not proposed %v, want %v", got, c.notProposed)
			}
			if want := rep.Outcomes.Valid - 2 - d.AcrossSources; rep.Duration.Creates != want {
				t.Errorf("creates %d, want %d", rep.Duration.Creates, want)
			}
			b, _ := json.Marshal(rep)
			for _, name := range []string{"ann@", "bob2@", "bobby", "dan@", bcryptHash} {
				if strings.Contains(string(b), name) {
					t.Errorf("the report shows %q", name)
				}
			}
		})
	}
}

func TestMergeDetails(t *testing.T) {
	rep, a := audit(t, cleanup.Config{Rule: cleanup.RuleEmailUserName})
	m := a.Merges()[1] // a2 <- b2, c3
	if m.Evidence != "same userName b***; same email b***@example.com, verified on every side" && m.Evidence != "same email b***@example.com, verified on every side; same userName b***" {
		t.Errorf("evidence %q", m.Evidence)
	}
	if m.Primary.Source != "a" || m.Primary.Line != 2 || m.Members[0].Source != "b" || m.Members[0].Line != 2 || m.Members[1].Source != "c" || m.Members[1].Line != 3 {
		t.Errorf("sides %+v", m)
	}
	if ann := a.Merges()[0]; ann.Guard != cleanup.StrengthNone || ann.Members[0].Guard != cleanup.StrengthFastHash {
		t.Errorf("ann: guarded by %v, b1 %v", ann.Guard, ann.Members[0].Guard)
	}
	if rep.Duplicates.ByWeakest["no credential"] != 1 || rep.Duplicates.ByWeakest["slow hash"] != 3 {
		t.Errorf("by weakest %v", rep.Duplicates.ByWeakest)
	}
}

// TestMergesSpilled: with chunks of three keys the index sorts and merges a dozen runs; the outcome is the same.
func TestMergesSpilled(t *testing.T) {
	want, _ := audit(t, cleanup.Config{Rule: cleanup.RuleEmailUserName})
	restore := cleanup.SetChunkKeys(3)
	defer restore()
	got, _ := audit(t, cleanup.Config{Rule: cleanup.RuleEmailUserName})
	if !reflect.DeepEqual(got.Duplicates, want.Duplicates) {
		t.Errorf("spilled:\n%+v\nin memory:\n%+v", got.Duplicates, want.Duplicates)
	}
}

func TestPlan(t *testing.T) {
	_, a := audit(t, cleanup.Config{Rule: cleanup.RuleEmailUserName})
	created := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		accept cleanup.Accept
		want   []bool
	}{
		{cleanup.AcceptNone, []bool{false, false, false, false}},
		{cleanup.AcceptAll, []bool{true, true, true, true}},
		{cleanup.AcceptSlow, []bool{false, true, true, true}}, // ann is guarded by no credential
	} {
		t.Run(string(c.accept), func(t *testing.T) {
			p, err := a.Plan(c.accept, created)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "plan.json")
			if err := mergeplan.Write(path, p); err != nil {
				t.Fatal(err)
			}
			back, err := mergeplan.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if back.Rule != "email+username" || !reflect.DeepEqual(back.Sources, []string{"a", "b", "c"}) || !back.Created.Equal(created) || len(back.Merges) != 4 {
				t.Fatalf("plan %+v", back)
			}
			for i, m := range back.Merges {
				if m.Accept != c.want[i] {
					t.Errorf("merge %d accepted %v, want %v", i, m.Accept, c.want[i])
				}
			}
			ann := back.Merges[0]
			if ann.Primary != (mergeplan.Member{Source: "a", LegacyID: "a1", Line: 1, Guard: "slow"}) || ann.GuardedBy != "none" ||
				ann.Members[0] != (mergeplan.Member{Source: "b", LegacyID: "b1", Line: 1, Guard: "fast"}) || ann.Members[1].Guard != "none" {
				t.Errorf("ann %+v", ann)
			}
			if err := mergeplan.Write(path, p); err == nil {
				t.Error("a plan was written over an existing one")
			}
		})
	}
	if _, err := a.Plan("some", created); err == nil {
		t.Error("an unknown accept rule")
	}
}

func TestMergeRuleNames(t *testing.T) {
	for in, want := range map[string]cleanup.MergeRule{"": cleanup.RuleVerifiedEmail, "Email": cleanup.RuleEmail, "email+username": cleanup.RuleEmailUserName} {
		if got, err := cleanup.ParseMergeRule(in); err != nil || got != want {
			t.Errorf("%q: %v, %v", in, got, err)
		}
	}
	if _, err := cleanup.New(cleanup.Config{Rule: "phone"}); err == nil {
		t.Error("an unknown rule is accepted")
	}
}

// endless is a source that never ends; it cancels its context after a thousand users.
type endless struct {
	n      int
	cancel context.CancelFunc
}

func (e *endless) Next(context.Context) (*idshift.User, error) {
	e.n++
	if e.n == 1000 {
		e.cancel()
	}
	return user(fmt.Sprint(e.n), fmt.Sprintf("u%d@example.com", e.n), idshift.Credential{}), nil
}

func (e *endless) Close() error { return nil }

// TestDrainCancelled: when the context ends, the pipeline stops and Drain says why.
func TestDrainCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a, err := cleanup.New(cleanup.Config{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.SetSource(ctx, 0, "x"); err != nil {
		t.Fatal(err)
	}
	err = cleanup.Drain(ctx, a, cleanup.NamedSource{Name: "x", Source: &endless{cancel: cancel}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}
