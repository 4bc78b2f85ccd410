package jit_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/jit"
	"github.com/idshift/idshift/store/sqlite"
)

// stall is a gate a stage waits behind, ignoring its context (as a store or key derivation that does not honour
// cancellation would): entered tells the test the stage is running, open lets it go on.
type stall struct {
	entered chan struct{}
	open    chan struct{}
}

func newStall() *stall { return &stall{entered: make(chan struct{}, 1), open: make(chan struct{})} }

func (s *stall) wait() {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.open
}

// stallingStore stalls the record lookup.
type stallingStore struct {
	*sqlite.DB
	st *stall
}

func (s stallingStore) RecordByObjectID(ctx context.Context, id string) (*idshift.Record, error) {
	s.st.wait()
	return s.DB.RecordByObjectID(ctx, id)
}

// stallingGuard stalls Reserve (the guard's check) or the reservation's Fail.
type stallingGuard struct {
	*guard.Memory
	check, fail *stall
}

func (g stallingGuard) Reserve(ctx context.Context, account, ip string) (idshift.Reservation, idshift.Lock, error) {
	if g.check != nil {
		g.check.wait()
	}
	r, l, err := g.Memory.Reserve(ctx, account, ip)
	if r != nil && g.fail != nil {
		r = stallingReservation{Reservation: r, fail: g.fail}
	}
	return r, l, err
}

type stallingReservation struct {
	idshift.Reservation
	fail *stall
}

func (r stallingReservation) Fail(ctx context.Context) (idshift.Lock, error) {
	r.fail.wait()
	return r.Reservation.Fail(ctx)
}

// stallingVerifier stalls the verification itself.
type stallingVerifier struct {
	*jit.HashVerifier
	st *stall
}

func (v stallingVerifier) Check(ctx context.Context, rec *idshift.Record, pw string) (jit.Check, error) {
	v.st.wait()
	return v.HashVerifier.Check(ctx, rec, pw)
}

// TestDeadlineWhateverTheStage: whichever stage does not return (the lookup, the guard's check, the verification,
// the guard's count of a failure), Decide answers "try later" (timeout) while that stage is still held, so by the
// deadline; the late work counts no failure and gives its verification slot back when it ends.
func TestDeadlineWhateverTheStage(t *testing.T) {
	ctx := context.Background()
	for _, stage := range []string{"lookup", "guard check", "verification", "guard fail"} {
		t.Run(stage, func(t *testing.T) {
			f := newFixture(t, guard.Config{Pair: guard.Limit{Failures: 1, Window: time.Minute, LockFor: time.Minute}})
			st := newStall()
			c := jit.Config{Store: f.store, Timeout: jit.MinTimeout, Logger: slog.New(slog.DiscardHandler),
				Slots: guard.SlotsConfig{Max: 1}.Open(), Metrics: &jit.Metrics{}}
			g := stallingGuard{Memory: f.guard}
			var v idshift.Verifier = f.hv
			switch stage {
			case "lookup":
				c.Store = stallingStore{DB: f.store, st: st}
			case "guard check":
				g.check = st
			case "verification":
				v = stallingVerifier{HashVerifier: f.hv, st: st}
			case "guard fail":
				g.fail = st
			}
			c.Guard, c.Verifier = g, v
			s, err := c.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(ctx)
			a := idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-alice", Password: "wrong", ClientIP: "192.0.2.44"}
			done := make(chan jit.Decision, 1)
			go func() { done <- s.Decide(ctx, a) }()
			var d jit.Decision
			select {
			case d = <-done:
				t.Fatalf("answered %s/%s without reaching the stalled stage", d.Action, d.Reason)
			case <-st.entered:
			}
			select {
			case d = <-done: // the stage is still held: only the deadline can have answered
			case <-time.After(settle):
				close(st.open)
				t.Fatalf("no answer %v after the stage stalled (budget %v)", settle, s.Budget())
			}
			if d.Action != idshift.ActionRetry || d.Reason != jit.ReasonTimeout {
				t.Errorf("stalled %s: %s/%s, want Retry/timeout", stage, d.Action, d.Reason)
			}
			if stage != "lookup" && d.Key.LegacyID != "1" {
				t.Errorf("timeout answer without the key the lookup found: %+v", d.Key)
			}
			if got := s.Timeouts(); got != 1 {
				t.Errorf("Timeouts = %d, want 1", got)
			}
			var m strings.Builder
			c.Metrics.WriteText(&m)
			if !strings.Contains(m.String(), "\nidshift_deadline_answers_total 1\n") {
				t.Error("/metrics does not count the answer given at the deadline")
			}
			close(st.open)
			// The late work ends: its slot is given back, and its mismatch is not counted (the limit is one
			// failure; the guard's Fail itself, when it was the stalled stage, may still count once).
			slots := c.Slots.(*guard.Slots)
			waitForCond(t, "the slot to be given back", func() bool { return slots.Stats().InUse == 0 })
			if stage != "guard fail" {
				time.Sleep(10 * time.Millisecond)
				if lock, _ := f.guard.Check(ctx, jit.AccountKey(idshift.Key{Source: "legacy", LegacyID: "1"}), a.ClientIP); lock.Locked {
					t.Error("a timed-out attempt counted a failure")
				}
			}
		})
	}
}

// settle bounds the waits of these tests: generous, only there so that a bug hangs no test for ever.
const settle = 10 * time.Second

func waitForCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(settle)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// countingReader records the credential reads the verifier makes.
type countingReader struct {
	*sqlite.DB
	reads chan readCall
}

type readCall struct {
	key   idshift.Key
	found bool
}

func (c countingReader) Credential(ctx context.Context, key idshift.Key) (idshift.Credential, error) {
	cred, err := c.DB.Credential(ctx, key)
	c.reads <- readCall{key: key, found: err == nil && cred.Kind == idshift.CredentialHash}
	return cred, err
}

// TestUnknownDoesTheSameWork: once a real credential has been read, an unknown user costs what a wrong password
// does: one credential read of a real record through the store (lookup and unseal) and one verification of that
// hash's cost; the slots learn the hash's kind.
func TestUnknownDoesTheSameWork(t *testing.T) {
	f := newFixture(t, guard.Config{})
	reads := make(chan readCall, 16)
	hv := &jit.HashVerifier{Store: countingReader{DB: f.store, reads: reads}, DummyHash: f.hv.DummyHash}
	slots := guard.SlotsConfig{Max: 2}.Open()
	s := f.service(t, jit.Config{Verifier: hv, Slots: slots})
	ctx := context.Background()
	if d := s.Decide(ctx, idshift.Attempt{Front: idshift.FrontEntra, ObjectID: "obj-alice", Password: "Alice-pass-1"}); d.Action != idshift.ActionMigrate {
		t.Fatalf("right password: %s/%s", d.Action, d.Reason)
	}
	if r := <-reads; !r.found {
		t.Fatal("the known user's credential was not read")
	}
	// The slot is given back just after the answer.
	waitForCond(t, "bcrypt cost 4 (\"2a$04\") measured by the slots", func() bool {
		_, ok := slots.Stats().Kinds["2a$04"]
		return ok
	})
	for _, tc := range []struct {
		name string
		a    idshift.Attempt
	}{
		{"wrong password", idshift.Attempt{ObjectID: "obj-alice", Password: "guess"}},
		{"unknown object", idshift.Attempt{ObjectID: "obj-nobody", Password: "guess"}},
		{"unknown name", idshift.Attempt{SignInName: "nobody@example.com", Password: "guess"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.a.Front, tc.a.ClientIP = idshift.FrontEntra, "198.51.100.8"
			realBefore, dummyBefore := hv.Counts()
			readsBefore := hv.Reads()
			if d := s.Decide(ctx, tc.a); d.Action != idshift.ActionRetry {
				t.Fatalf("%s/%s, want Retry", d.Action, d.Reason)
			}
			select {
			case r := <-reads:
				if !r.found || r.key != (idshift.Key{Source: "legacy", LegacyID: "1"}) {
					t.Errorf("read %+v; want a real sealed credential read", r)
				}
			default:
				t.Fatal("no credential read")
			}
			select {
			case r := <-reads:
				t.Errorf("a second credential read: %+v", r)
			default:
			}
			realAfter, dummyAfter := hv.Counts()
			if got := (realAfter - realBefore) + (dummyAfter - dummyBefore); got != 1 {
				t.Errorf("%d verifications, want 1", got)
			}
			if got := hv.Reads() - readsBefore; got != 1 {
				t.Errorf("Reads grew by %d, want 1", got)
			}
		})
	}
}
