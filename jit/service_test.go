package jit_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/jit"
	"github.com/idshift/idshift/store/sqlite"
)

// fixture is a real SQLite store with users whose legacy passwords are real bcrypt hashes.
type fixture struct {
	store *sqlite.DB
	guard *guard.Memory
	hv    *jit.HashVerifier
	svc   *jit.Service // the last opened
}

type user struct {
	id, object, name, password string
	cred                       *idshift.Credential // nil: no credential
}

const cheapCost = 4

func hashOf(t testing.TB, pw string, cost int) string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// users are the fixture's accounts; their hashes are made once per test binary.
var (
	usersOnce sync.Once
	users     []user
)

func testUsers(t testing.TB) []user {
	usersOnce.Do(func() {
		h := func(pw string) string { return hashOf(t, pw, cheapCost) }
		users = []user{
			{id: "1", object: "obj-alice", name: "alice@example.com", password: "Alice-pass-1",
				cred: &idshift.Credential{Kind: idshift.CredentialHash, Hash: h("Alice-pass-1")}},
			{id: "2", object: "obj-bob", name: "bob", password: "Bob-pass-2",
				cred: &idshift.Credential{Kind: idshift.CredentialHash, Hash: h("Bob-pass-2"), MustChange: true}},
			{id: "3", object: "obj-carol", name: "carol@example.com", password: "Carol-pass-3",
				cred: &idshift.Credential{Kind: idshift.CredentialHash, Hash: h("Carol-pass-3"), Disabled: true}},
			{id: "4", object: "obj-dave", name: "dave@example.com", password: "Dave-pass-4"}, // no credential
		}
	})
	return users
}

func newFixture(t testing.TB, gc guard.Config) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Config{Path: filepath.Join(t.TempDir(), "idshift.db")}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var recs []*idshift.Record
	creds := map[idshift.Key]idshift.Credential{}
	for _, u := range testUsers(t) {
		k := idshift.Key{Source: "legacy", LegacyID: u.id}
		recs = append(recs, &idshift.Record{Key: k, ObjectID: u.object, SignInNames: []string{u.name}, State: idshift.StateCreated})
		if u.cred != nil {
			creds[k] = *u.cred
		}
	}
	if err := st.PutRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCredentials(ctx, creds); err != nil {
		t.Fatal(err)
	}
	g, err := gc.OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: st, guard: g, hv: &jit.HashVerifier{Store: st, DummyHash: hashOf(t, "dummy", cheapCost)}}
}

func (f *fixture) service(t testing.TB, c jit.Config) *jit.Service {
	t.Helper()
	c.Store, c.Guard = f.store, f.guard
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Verifier == nil {
		c.Verifier = f.hv
	}
	s, err := c.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	f.svc = s
	return s
}

func (f *fixture) work() int64 {
	r, d := f.hv.Counts()
	return r + d
}

func TestDecide(t *testing.T) {
	f := newFixture(t, guard.Config{})
	s := f.service(t, jit.Config{})
	ctx := context.Background()
	tests := []struct {
		name     string
		a        idshift.Attempt
		action   idshift.Action
		reason   string
		key      string // legacy id of the record found, "" for none
		dummy    bool   // a dummy verification instead of a real one
		migrated bool
	}{
		{"right", idshift.Attempt{ObjectID: "obj-alice", Password: "Alice-pass-1"}, idshift.ActionMigrate, jit.ReasonMatch, "1", false, true},
		{"wrong", idshift.Attempt{ObjectID: "obj-alice", Password: "alice-pass-1"}, idshift.ActionRetry, jit.ReasonMismatch, "1", false, false},
		{"empty password", idshift.Attempt{ObjectID: "obj-alice", Password: ""}, idshift.ActionRetry, jit.ReasonMismatch, "1", false, false},
		{"must change", idshift.Attempt{ObjectID: "obj-bob", Password: "Bob-pass-2"}, idshift.ActionUpdate, jit.ReasonMatch, "2", false, false},
		{"disabled right", idshift.Attempt{ObjectID: "obj-carol", Password: "Carol-pass-3"}, idshift.ActionBlock, jit.ReasonDisabled, "3", false, false},
		{"disabled wrong", idshift.Attempt{ObjectID: "obj-carol", Password: "nope"}, idshift.ActionRetry, jit.ReasonMismatch, "3", false, false},
		{"no credential", idshift.Attempt{ObjectID: "obj-dave", Password: "Dave-pass-4"}, idshift.ActionRetry, jit.ReasonNoCredential, "4", true, false},
		{"unknown object", idshift.Attempt{ObjectID: "obj-nobody", Password: "x"}, idshift.ActionRetry, jit.ReasonUnknownUser, "", true, false},
		{"by name", idshift.Attempt{SignInName: " BOB ", Password: "Bob-pass-2"}, idshift.ActionUpdate, jit.ReasonMatch, "2", false, false},
		{"unknown name", idshift.Attempt{SignInName: "nobody@example.com", Password: "x"}, idshift.ActionRetry, jit.ReasonUnknownUser, "", true, false},
		{"object id wins over name", idshift.Attempt{ObjectID: "obj-alice", SignInName: "bob", Password: "Bob-pass-2"}, idshift.ActionRetry, jit.ReasonMismatch, "1", false, false},
		{"nothing to find by", idshift.Attempt{Password: "x"}, idshift.ActionRetry, jit.ReasonBadRequest, "", false, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.a.Front = idshift.FrontEntra
			tt.a.ClientIP = "203.0.113." + string(rune('1'+i%9)) // spread over addresses: no lock here
			real0, dummy0 := f.hv.Counts()
			d := s.Decide(ctx, tt.a)
			if d.Action != tt.action || d.Reason != tt.reason || d.Key.LegacyID != tt.key {
				t.Fatalf("Decide = %s/%s key %q, want %s/%s key %q", d.Action, d.Reason, d.Key.LegacyID, tt.action, tt.reason, tt.key)
			}
			real1, dummy1 := f.hv.Counts()
			if tt.reason == jit.ReasonBadRequest {
				return
			}
			wantReal, wantDummy := int64(1), int64(0)
			if tt.dummy {
				wantReal, wantDummy = 0, 1
			}
			if real1-real0 != wantReal || dummy1-dummy0 != wantDummy {
				t.Errorf("verifications: real +%d dummy +%d, want +%d +%d", real1-real0, dummy1-dummy0, wantReal, wantDummy)
			}
		})
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	counts, err := f.store.AttemptCounts(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, c := range counts {
		total += c.N
	}
	if total != int64(len(tests)) {
		t.Errorf("recorded %d attempts, want %d: %+v", total, len(tests), counts)
	}
	rec, err := f.store.Record(ctx, idshift.Key{Source: "legacy", LegacyID: "1"})
	if err != nil || rec.State != idshift.StateMigrated {
		t.Errorf("alice after MigratePassword: %v, %v; want migrated", rec, err)
	}
	if _, err := f.store.Credential(ctx, rec.Key); err != nil {
		t.Errorf("alice's credential after MigratePassword: %v; want kept", err)
	}
	for _, id := range []string{"2", "3", "4"} {
		rec, err := f.store.Record(ctx, idshift.Key{Source: "legacy", LegacyID: id})
		if err != nil || rec.State == idshift.StateMigrated {
			t.Errorf("user %s marked migrated without a MigratePassword (%v)", id, err)
		}
	}
}

// TestUnknownLikeWrong: an unknown user, a user without credential and a wrong password get the same answer, run
// one verification each, and are counted by the guard alike (the same number of failures locks each of them).
func TestUnknownLikeWrong(t *testing.T) {
	const limit = 3
	f := newFixture(t, guard.Config{Pair: guard.Limit{Failures: limit, Window: time.Minute, LockFor: time.Minute}})
	s := f.service(t, jit.Config{})
	ctx := context.Background()
	cases := map[string]idshift.Attempt{
		"wrong password": {ObjectID: "obj-alice", Password: "guess"},
		"no credential":  {ObjectID: "obj-dave", Password: "guess"},
		"unknown object": {ObjectID: "obj-nobody", Password: "guess"},
		"unknown name":   {SignInName: "nobody@example.com", Password: "guess"},
	}
	for name, a := range cases {
		t.Run(name, func(t *testing.T) {
			a.Front, a.ClientIP = idshift.FrontEntra, "198.51.100.7"
			for i := range limit {
				before := f.work()
				d := s.Decide(ctx, a)
				if d.Action != idshift.ActionRetry {
					t.Fatalf("attempt %d: %s/%s, want Retry", i+1, d.Action, d.Reason)
				}
				if got := f.work() - before; got != 1 {
					t.Fatalf("attempt %d: %d verifications, want 1", i+1, got)
				}
			}
			before := f.work()
			d := s.Decide(ctx, a)
			if d.Action != idshift.ActionBlock || d.Reason != jit.ReasonLocked {
				t.Fatalf("after %d failures: %s/%s, want Block/locked", limit, d.Action, d.Reason)
			}
			if got := f.work() - before; got != 0 {
				t.Errorf("a locked attempt ran %d verifications, want none", got)
			}
		})
	}
}

// gated is a verifier that waits for its gate before delegating: it holds a verification open.
type gated struct {
	jit.HashVerifier
	gate    chan struct{}
	entered chan struct{}
}

func (g *gated) Check(ctx context.Context, rec *idshift.Record, pw string) (jit.Check, error) {
	g.entered <- struct{}{}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return jit.Check{}, ctx.Err()
	}
	return g.HashVerifier.Check(ctx, rec, pw)
}

func TestNonceReplay(t *testing.T) {
	f := newFixture(t, guard.Config{Pair: guard.Limit{Failures: 2, Window: time.Minute, LockFor: time.Minute}})
	s := f.service(t, jit.Config{})
	ctx := context.Background()
	a := idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-alice", Password: "wrong", ClientIP: "192.0.2.1", Nonce: "n-1"}
	first := s.Decide(ctx, a)
	before := f.work()
	// Entra's retry: same nonce, same answer, no second check, no second failure (the limit is 2).
	for range 3 {
		again := s.Decide(ctx, a)
		if !again.Replayed || again.Action != first.Action || again.Reason != first.Reason {
			t.Fatalf("replay = %+v, want the first answer %+v replayed", again, first)
		}
	}
	if f.work() != before {
		t.Errorf("a replayed nonce ran %d verifications", f.work()-before)
	}
	if lock, _ := f.guard.Check(ctx, jit.AccountKey(idshift.Key{Source: "legacy", LegacyID: "1"}), "192.0.2.1"); lock.Locked {
		t.Error("replays counted as failures: locked after one real failure")
	}
	// A new nonce is a new check.
	a.Nonce = "n-2"
	if d := s.Decide(ctx, a); d.Replayed || f.work() != before+1 {
		t.Errorf("new nonce: %+v, %d verifications", d, f.work()-before)
	}
}

func TestNonceReplayWaitsForFirst(t *testing.T) {
	f := newFixture(t, guard.Config{})
	g := &gated{HashVerifier: jit.HashVerifier{Store: f.store, DummyHash: f.hv.DummyHash}, gate: make(chan struct{}), entered: make(chan struct{}, 4)}
	s := f.service(t, jit.Config{Verifier: g, Timeout: 2 * time.Second})
	ctx := context.Background()
	a := idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-alice", Password: "Alice-pass-1", Nonce: "n-wait"}
	results := make(chan jit.Decision, 2)
	go func() { results <- s.Decide(ctx, a) }()
	<-g.entered
	go func() { results <- s.Decide(ctx, a) }()
	time.Sleep(20 * time.Millisecond)
	close(g.gate)
	d1, d2 := <-results, <-results
	if d1.Action != idshift.ActionMigrate || d2.Action != idshift.ActionMigrate || d1.Replayed == d2.Replayed {
		t.Fatalf("decisions %+v and %+v: want two MigratePassword, one of them replayed", d1, d2)
	}
	select {
	case <-g.entered:
		t.Error("the replay ran a second verification")
	default:
	}
}

func TestShed(t *testing.T) {
	f := newFixture(t, guard.Config{Pair: guard.Limit{Failures: 1, Window: time.Minute, LockFor: time.Minute}})
	slots := guard.SlotsConfig{Max: 1, Queue: -1}.Open()
	for _, tryLater := range []idshift.Action{idshift.ActionRetry, idshift.ActionBlock} {
		t.Run(string(tryLater), func(t *testing.T) {
			s := f.service(t, jit.Config{Slots: slots, TryLater: tryLater})
			ctx := context.Background()
			release, err := slots.Acquire(ctx, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			before := f.work()
			a := idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-alice", Password: "wrong", ClientIP: "192.0.2.9"}
			start := time.Now()
			d := s.Decide(ctx, a)
			if d.Action != tryLater || d.Reason != jit.ReasonShed {
				t.Fatalf("with every slot taken: %s/%s, want %s/shed", d.Action, d.Reason, tryLater)
			}
			if took := time.Since(start); took > s.Budget()/2 {
				t.Errorf("shed after %v; want at once", took)
			}
			if f.work() != before {
				t.Error("a shed attempt ran a verification")
			}
			// Not counted: the limit is one failure, and the account is not locked.
			if lock, _ := f.guard.Check(ctx, jit.AccountKey(idshift.Key{Source: "legacy", LegacyID: "1"}), a.ClientIP); lock.Locked {
				t.Error("a shed attempt was counted by the guard")
			}
			release()
			if d := s.Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-alice", Password: "Alice-pass-1"}); d.Action != idshift.ActionMigrate {
				t.Errorf("with a slot free: %s/%s", d.Action, d.Reason)
			}
		})
	}
}

// TestDeadline: a verification that cannot finish within the budget is answered "try later" within it.
func TestDeadline(t *testing.T) {
	f := newFixture(t, guard.Config{})
	ctx := context.Background()
	// bcrypt cost 12 of "Slow-pass-1" (made once; making it here would cost as much as verifying it): a few
	// hundred milliseconds, far over a 100 ms budget.
	const slow = "$2a$12$Fa7QxVqb9gZKzNCyxEB5V.Tz4OVVWkLnFGI7kTLDlPTYssfGPG54C"
	k := idshift.Key{Source: "legacy", LegacyID: "slow"}
	if err := f.store.PutRecords(ctx, []*idshift.Record{{Key: k, ObjectID: "obj-slow", State: idshift.StateCreated}}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutCredentials(ctx, map[idshift.Key]idshift.Credential{k: {Kind: idshift.CredentialHash, Hash: slow}}); err != nil {
		t.Fatal(err)
	}
	s := f.service(t, jit.Config{Timeout: jit.MinTimeout})
	start := time.Now()
	d := s.Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-slow", Password: "Slow-pass-1", ClientIP: "192.0.2.3"})
	took := time.Since(start)
	if d.Action != idshift.ActionRetry || d.Reason != jit.ReasonTimeout {
		t.Errorf("slow verification: %s/%s, want Retry/timeout", d.Action, d.Reason)
	}
	// The budget is 100 ms; allow for a busy machine's scheduling, well under Entra's 200 ms.
	if took > s.Budget()+60*time.Millisecond {
		t.Errorf("answered after %v, budget %v", took, s.Budget())
	}
	if lock, _ := f.guard.Check(ctx, jit.AccountKey(k), "192.0.2.3"); lock.Locked {
		t.Error("a timed-out attempt locked the account")
	}
}

func TestConfigErrors(t *testing.T) {
	f := newFixture(t, guard.Config{})
	for name, c := range map[string]jit.Config{
		"no store":       {Guard: f.guard},
		"no guard":       {Store: f.store},
		"timeout low":    {Store: f.store, Guard: f.guard, Timeout: 100 * time.Millisecond},
		"timeout high":   {Store: f.store, Guard: f.guard, Timeout: 3 * time.Second},
		"try later":      {Store: f.store, Guard: f.guard, TryLater: idshift.ActionMigrate},
		"margin too big": {Store: f.store, Guard: f.guard, Timeout: time.Second, Margin: time.Second},
	} {
		if _, err := c.Open(); !errors.Is(err, idshift.ErrInvalid) {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
	s := f.service(t, jit.Config{})
	if s.Budget() != 850*time.Millisecond {
		t.Errorf("default budget %v, want 850ms", s.Budget())
	}
}

func BenchmarkDecide(b *testing.B) {
	many := guard.Limit{Failures: 1 << 30, Window: time.Minute, LockFor: time.Minute}
	f := newFixture(b, guard.Config{Pair: many, Account: many, IP: many})
	s := f.service(b, jit.Config{RecordQueue: 1 << 16})
	ctx := context.Background()
	b.Run("wrong", func(b *testing.B) {
		a := idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-alice", Password: "wrong", ClientIP: "192.0.2.1"}
		for b.Loop() {
			s.Decide(ctx, a)
		}
	})
	b.Run("unknown", func(b *testing.B) {
		a := idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-nobody", Password: "wrong"}
		for b.Loop() {
			s.Decide(ctx, a)
		}
	})
}
