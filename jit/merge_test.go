package jit_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/jit"
	"github.com/idshift/idshift/store/sqlite"
)

var (
	mergedKey = idshift.Key{Source: "shop", LegacyID: "s1"}
	forumKey  = idshift.Key{Source: "forum", LegacyID: "f2"}
	lockedKey = idshift.Key{Source: "forum", LegacyID: "f3"}
	changeKey = idshift.Key{Source: "blog", LegacyID: "b4"}
	liveKey   = idshift.Key{Source: "corp", LegacyID: "c5"}
)

// mergedStore holds one merged account (shop/s1) with the credentials of four members: a forum account, a
// disabled forum account, a blog account that must change its password, and a corp account without an imported
// credential (checked live when corp has a live check). Its members have their records, state merged.
func mergedStore(t *testing.T) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Config{Path: filepath.Join(t.TempDir(), "idshift.db")}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := func(pw string) string { return hashOf(t, pw, cheapCost) }
	cred := idshift.Credential{Kind: idshift.CredentialHash, Hash: h("Shop-pass-1"), Alternates: []idshift.Alternate{
		{Source: forumKey.Source, LegacyID: forumKey.LegacyID, SignInNames: []string{"ann_forum"}, Credential: idshift.Credential{Kind: idshift.CredentialHash, Hash: h("Forum-pass-2")}},
		{Source: lockedKey.Source, LegacyID: lockedKey.LegacyID, Credential: idshift.Credential{Kind: idshift.CredentialHash, Hash: h("Locked-pass-3"), Disabled: true}},
		{Source: changeKey.Source, LegacyID: changeKey.LegacyID, Credential: idshift.Credential{Kind: idshift.CredentialPlaintext, Password: "Blog-pass-4", MustChange: true}},
		{Source: liveKey.Source, LegacyID: liveKey.LegacyID, SignInNames: []string{"ann@corp.example"}},
	}}
	recs := []*idshift.Record{{Key: mergedKey, ObjectID: "obj-ann", SignInNames: []string{"ann@example.com", "ann_forum", "ann@corp.example"}, State: idshift.StateCreated}}
	for _, k := range []idshift.Key{forumKey, lockedKey, changeKey, liveKey} {
		recs = append(recs, &idshift.Record{Key: k, State: idshift.StateMerged, LastError: "merged into shop/s1"})
	}
	if err := st.PutRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCredentials(ctx, map[idshift.Key]idshift.Credential{mergedKey: cred}); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMergedAccount(t *testing.T) {
	st := mergedStore(t)
	ctx := context.Background()
	g, err := guard.Config{Pair: guard.Limit{Failures: 3, Window: time.Minute, LockFor: time.Minute}}.OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	hv := &jit.HashVerifier{Store: st, DummyHash: hashOf(t, "dummy", cheapCost)}
	s, err := jit.Config{Store: st, Guard: g, Verifier: hv, Timeout: jit.MaxTimeout, Logger: slog.New(slog.DiscardHandler)}.Open()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		a       idshift.Attempt
		action  idshift.Action
		reason  string
		matched idshift.Key
		real    int64 // verifications run (the corp side has no live check here: not a credential)
	}{
		{"primary's password", idshift.Attempt{ObjectID: "obj-ann", Password: "Shop-pass-1"}, idshift.ActionMigrate, jit.ReasonMatch, mergedKey, 1},
		{"member's password", idshift.Attempt{ObjectID: "obj-ann", Password: "Forum-pass-2"}, idshift.ActionMigrate, jit.ReasonMatch, forumKey, 2},
		{"member's password by the member's name", idshift.Attempt{SignInName: "ANN_forum", Password: "Forum-pass-2"}, idshift.ActionMigrate, jit.ReasonMatch, forumKey, 2},
		{"disabled member's password", idshift.Attempt{ObjectID: "obj-ann", Password: "Locked-pass-3"}, idshift.ActionBlock, jit.ReasonDisabled, lockedKey, 3},
		{"must-change member's password", idshift.Attempt{ObjectID: "obj-ann", Password: "Blog-pass-4"}, idshift.ActionUpdate, jit.ReasonMatch, changeKey, 3},
		{"wrong password", idshift.Attempt{ObjectID: "obj-ann", Password: "Shop-pass-2"}, idshift.ActionRetry, jit.ReasonMismatch, idshift.Key{}, 3},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.a.Front = idshift.FrontEntra
			tt.a.ClientIP = "203.0.113." + string(rune('1'+i))
			r0, _ := hv.Counts()
			d := s.Decide(ctx, tt.a)
			if d.Action != tt.action || d.Reason != tt.reason || d.Key != mergedKey || d.Matched != tt.matched {
				t.Fatalf("Decide = %s/%s key %v matched %v; want %s/%s key %v matched %v", d.Action, d.Reason, d.Key, d.Matched, tt.action, tt.reason, mergedKey, tt.matched)
			}
			if r1, _ := hv.Counts(); r1-r0 != tt.real {
				t.Errorf("hash verifications %d, want %d (one per hash tried, in order)", r1-r0, tt.real)
			}
		})
	}

	// The guard counts one failure per attempt, not per credential: the third wrong attempt from one address
	// locks (Failures: 3), the second does not.
	for i := 1; i <= 3; i++ {
		d := s.Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-ann", ClientIP: "198.51.100.7", Password: "nope"})
		if d.Action != idshift.ActionRetry || d.Lock.Locked != (i == 3) {
			t.Fatalf("wrong attempt %d: %s locked=%v; want Retry, locked only at the third", i, d.Action, d.Lock.Locked)
		}
	}
	if d := s.Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-ann", ClientIP: "198.51.100.7", Password: "Shop-pass-1"}); d.Action != idshift.ActionBlock || d.Reason != jit.ReasonLocked {
		t.Fatalf("after the lock: %s/%s", d.Action, d.Reason)
	}

	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The migration is recorded (once: the first) with the key of the account whose credential matched.
	by, err := st.MigratedByHow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(by) != 1 || by["hash:shop/s1"] != 1 {
		t.Errorf("migrations by how %v; want one, by the primary's credential", by)
	}
	if rec, err := st.Record(ctx, mergedKey); err != nil || rec.State != idshift.StateMigrated {
		t.Errorf("merged account after MigratePassword: %v, %v", rec, err)
	}

	// Another store: the member's password first.
	st2 := mergedStore(t)
	s2, err := jit.Config{Store: st2, Guard: g, Verifier: &jit.HashVerifier{Store: st2, DummyHash: hashOf(t, "dummy", cheapCost)},
		Timeout: jit.MaxTimeout, Logger: slog.New(slog.DiscardHandler)}.Open()
	if err != nil {
		t.Fatal(err)
	}
	if d := s2.Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-ann", ClientIP: "192.0.2.9", Password: "Forum-pass-2"}); d.Action != idshift.ActionMigrate {
		t.Fatalf("member's password: %s/%s", d.Action, d.Reason)
	}
	if err := s2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if by, err := st2.MigratedByHow(ctx); err != nil || len(by) != 1 || by["hash:forum/f2"] != 1 {
		t.Errorf("migrations by how %v, %v; want one, by the forum member's credential", by, err)
	}
}

func TestMergedAccountLive(t *testing.T) {
	// corp has a live check: the corp member, without an imported credential, is checked there with its own key
	// and sign-in names.
	st := mergedStore(t)
	ctx := context.Background()
	hv := &jit.HashVerifier{Store: st, DummyHash: hashOf(t, "dummy", cheapCost)}
	var seen *idshift.Record
	corp := verifierFunc(func(_ context.Context, rec *idshift.Record, password string) (bool, error) {
		seen = rec
		switch password {
		case "Corp-pass-5":
			return true, nil
		case "corp-down":
			return false, errors.New("connection refused")
		}
		return false, nil
	})
	l, err := jit.NewLive(hv, []jit.LiveCheck{{Source: "corp", Kind: "webhook", Verifier: corp}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Check(ctx, &idshift.Record{Key: mergedKey, ObjectID: "obj-ann"}, "Corp-pass-5")
	if err != nil || !c.Match || c.Matched != liveKey {
		t.Fatalf("Check(corp member's password) = %+v, %v; want a match by corp/c5", c, err)
	}
	if seen == nil || seen.Key != liveKey || len(seen.SignInNames) != 1 || seen.SignInNames[0] != "ann@corp.example" {
		t.Errorf("the live check saw %+v; want the member's key and its own sign-in names", seen)
	}
	// The corp check down: another side's right password still matches; a wrong one cannot be decided.
	if c, err := l.Check(ctx, &idshift.Record{Key: mergedKey}, "Forum-pass-2"); err != nil || c.Matched != forumKey {
		t.Errorf("forum member's password = %+v, %v", c, err)
	}
	if _, err := l.Check(ctx, &idshift.Record{Key: mergedKey}, "corp-down"); err == nil {
		t.Errorf("a password no side matched while the corp check was down: no error; want could not decide")
	}
	// The primary's source has a live check too: the merged check still runs every side.
	l2, err := jit.NewLive(hv, []jit.LiveCheck{{Source: "shop", Kind: "ldap", Verifier: corp}, {Source: "corp", Kind: "webhook", Verifier: corp}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := l2.Check(ctx, &idshift.Record{Key: mergedKey}, "Forum-pass-2"); err != nil || c.Matched != forumKey {
		t.Errorf("with a live check on the primary's source: %+v, %v", c, err)
	}
}

type verifierFunc func(ctx context.Context, rec *idshift.Record, password string) (bool, error)

func (f verifierFunc) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	return f(ctx, rec, password)
}

// TestHarvestMergedAccount: the harvest front finds a merged account by a member's sign-in name, migrates it with
// the member's password, and records whose credential matched.
func TestHarvestMergedAccount(t *testing.T) {
	const secret = "harvest-bearer-secret-0123456789"
	env := newHarvestEnv(t, jit.HarvestFront{BearerSecrets: []string{secret}})
	ctx := context.Background()
	enabled := true
	u, err := env.client.CreateUser(ctx, &graph.User{DisplayName: "Ann", AccountEnabled: &enabled,
		Identities: []graph.Identity{
			{SignInType: idshift.SignInEmail, Issuer: env.tenant.Tenant.Domain(), IssuerAssignedID: "ann@example.com"},
			{SignInType: idshift.SignInUserName, Issuer: env.tenant.Tenant.Domain(), IssuerAssignedID: "ann_forum"},
		},
		PasswordProfile: &graph.PasswordProfile{Password: "Rand0m-Import-Pass!ann"}, Extensions: map[string]any{env.flag: true}})
	if err != nil {
		t.Fatal(err)
	}
	env.ids["ann_forum"] = u.ID
	cred := idshift.Credential{Kind: idshift.CredentialHash, Hash: hashOf(t, "Shop-pass-1", cheapCost), Alternates: []idshift.Alternate{
		{Source: forumKey.Source, LegacyID: forumKey.LegacyID, SignInNames: []string{"ann_forum"},
			Credential: idshift.Credential{Kind: idshift.CredentialHash, Hash: hashOf(t, "Forum-pass-2", cheapCost)}}}}
	if err := env.f.store.PutRecords(ctx, []*idshift.Record{
		{Key: mergedKey, ObjectID: u.ID, SignInNames: []string{"ann@example.com", "ann_forum"}, State: idshift.StateCreated},
		{Key: forumKey, State: idshift.StateMerged, LastError: "merged into shop/s1"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := env.f.store.PutCredentials(ctx, map[idshift.Key]idshift.Credential{mergedKey: cred}); err != nil {
		t.Fatal(err)
	}
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }
	if code, body := env.post(t, map[string]string{"signInName": "ann_forum", "password": "Shop-pass-2"}, false, bearer); code != 409 {
		t.Errorf("a wrong password: %d %v", code, body)
	}
	code, body := env.post(t, map[string]string{"signInName": "ANN_forum", "password": "Forum-pass-2"}, false, bearer)
	if code != 200 || body["migrated"] != true {
		t.Fatalf("the member's name and password: %d %v", code, body)
	}
	if env.flagged(t, "ann_forum") {
		t.Error("the merged account is still flagged")
	}
	if err := env.f.svc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if by, err := env.f.store.MigratedByHow(ctx); err != nil || by["harvest:forum/f2"] != 1 {
		t.Errorf("migrations by how %v, %v; want one by the forum member's credential", by, err)
	}
}
