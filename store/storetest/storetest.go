// Package storetest is the conformance suite of idshift.Store: every implementation runs Run from its own tests,
// so that the embedded and the shared store behave the same.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/internal/testclock"
	"github.com/idshift/idshift/store"
)

// Options are what the suite asks of a store it opens.
type Options struct {
	// Key seals credentials (nil: unsealed).
	Key []byte
	// Now is the store's clock.
	Now func() time.Time
	// KeyRefs is the store's function finding key references in a credential (nil: none).
	KeyRefs func(idshift.Credential) []string
}

// Harness is how the suite reaches an implementation.
type Harness struct {
	// New prepares a fresh, empty database and returns its name for Open and RawCredential (a file path, a
	// schema name). It removes the database when t ends.
	New func(t *testing.T) string
	// Open opens (or reopens) the database db. The suite closes the stores it opens.
	Open func(t *testing.T, db string, o Options) (idshift.Store, error)
	// RawCredential returns the bytes stored for key's credential in db, read from the table around the store
	// (nil when there is no row), so the suite can check that a sealed credential is not stored in plaintext.
	RawCredential func(t *testing.T, db string, key idshift.Key) []byte
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	if h.New == nil || h.Open == nil || h.RawCredential == nil {
		t.Fatal("storetest: Harness needs New, Open and RawCredential")
	}
	s := suite{h: h}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"NotFound", s.testNotFound},
		{"PutRecordsRoundTrip", s.testRoundTrip},
		{"PutRecordsKeepsCreatedAt", s.testKeepsCreatedAt},
		{"LegacyActivity", s.testLegacyActivity},
		{"PutRecordsAtomic", s.testAtomic},
		{"PutRecordsDuplicateKeys", s.testDuplicateKeys},
		{"Records", s.testRecords},
		{"Scan", s.testScan},
		{"ScanStops", s.testScanStops},
		{"Counts", s.testCounts},
		{"RecordByObjectID", s.testByObjectID},
		{"RecordBySignInName", s.testBySignInName},
		{"Credentials", s.testCredentials},
		{"CredentialsNotPlaintext", s.testNotPlaintext},
		{"CredentialKeyPolicy", s.testKeyPolicy},
		{"BoundToOneKey", s.testBoundToOneKey},
		{"KeyRefs", s.testKeyRefs},
		{"DeleteCredentials", s.testDeleteCredentials},
		{"Reopen", s.testReopen},
		{"Concurrent", s.testConcurrent},
		{"ContextCanceled", s.testCanceled},
		{"LargeBatch", s.testLargeBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.fn)
	}
}

type suite struct{ h Harness }

// newClock returns a test clock that moves only when told to.
func newClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC))
}

// Keys used for credentials: a 32-byte key and another one.
var (
	key1 = bytes.Repeat([]byte{0x11}, store.KeySize)
	key2 = bytes.Repeat([]byte{0x22}, store.KeySize)
)

func (s suite) open(t *testing.T, db string, o Options) idshift.Store {
	t.Helper()
	st, err := s.h.Open(t, db, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return st
}

// fresh opens a fresh store with a test clock.
func (s suite) fresh(t *testing.T, key []byte) (idshift.Store, *testclock.Clock, string) {
	t.Helper()
	c := newClock()
	db := s.h.New(t)
	return s.open(t, db, Options{Key: key, Now: c.Now}), c, db
}

func rec(source, id string, state idshift.State) *idshift.Record {
	return &idshift.Record{Key: idshift.Key{Source: source, LegacyID: id}, State: state}
}

func put(t *testing.T, st idshift.Store, recs ...*idshift.Record) {
	t.Helper()
	if err := st.PutRecords(context.Background(), recs); err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
}

func get(t *testing.T, st idshift.Store, k idshift.Key) *idshift.Record {
	t.Helper()
	r, err := st.Record(context.Background(), k)
	if err != nil {
		t.Fatalf("Record(%v): %v", k, err)
	}
	return r
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, idshift.ErrNotFound) || idshift.ErrorCode(err) != idshift.ENOTFOUND {
		t.Errorf("%s: err = %v (code %q), want ENOTFOUND", what, err, idshift.ErrorCode(err))
	}
}

// sameRecord compares every field, times by instant.
func sameRecord(t *testing.T, got, want *idshift.Record) {
	t.Helper()
	g, w := *got, *want
	if !g.CreatedAt.Equal(w.CreatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt) {
		t.Errorf("%v: times = %v / %v, want %v / %v", w.Key, g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt)
	}
	if g.CreatedAt.Location() != time.UTC || g.UpdatedAt.Location() != time.UTC {
		t.Errorf("%v: times are not UTC: %v, %v", w.Key, g.CreatedAt.Location(), g.UpdatedAt.Location())
	}
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(g.SignInNames) == 0 && len(w.SignInNames) == 0 {
		g.SignInNames, w.SignInNames = nil, nil
	}
	if fmt.Sprintf("%#v", g) != fmt.Sprintf("%#v", w) {
		t.Errorf("record:\n got %#v\nwant %#v", g, w)
	}
}

func (s suite) testNotFound(t *testing.T) {
	st, _, _ := s.fresh(t, nil)
	ctx := context.Background()
	put(t, st, &idshift.Record{Key: idshift.Key{Source: "a", LegacyID: "1"}, State: idshift.StateCreated, ObjectID: "oid-1", SignInNames: []string{"one@example.com"}})

	_, err := st.Record(ctx, idshift.Key{Source: "a", LegacyID: "2"})
	wantNotFound(t, "Record", err)
	_, err = st.Record(ctx, idshift.Key{Source: "b", LegacyID: "1"})
	wantNotFound(t, "Record of another source", err)
	_, err = st.RecordByObjectID(ctx, "oid-2")
	wantNotFound(t, "RecordByObjectID", err)
	_, err = st.RecordByObjectID(ctx, "")
	wantNotFound(t, "RecordByObjectID empty", err)
	_, err = st.RecordBySignInName(ctx, "two@example.com")
	wantNotFound(t, "RecordBySignInName", err)
	_, err = st.RecordBySignInName(ctx, "")
	wantNotFound(t, "RecordBySignInName empty", err)
	_, err = st.Credential(ctx, idshift.Key{Source: "a", LegacyID: "1"})
	wantNotFound(t, "Credential", err)
}

func (s suite) testRoundTrip(t *testing.T) {
	st, clk, _ := s.fresh(t, nil)
	full := &idshift.Record{
		Key:         idshift.Key{Source: "legacy-db", LegacyID: "42"},
		Line:        17,
		Digest:      "sha256:0f3c",
		ObjectID:    "7d1f0c8e-2b8a-4c35-9a39-0c6a3d1f2b11",
		SignInNames: []string{"alice@example.com", "alice"},
		State:       idshift.StateCreated,
		Attempts:    3,
		LastError:   "throttled (429)",
		// CreatedAt and UpdatedAt given by the caller are ignored: the store sets them.
		CreatedAt: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
		UpdatedAt: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	empty := rec("", "only-id", idshift.StatePending)
	unicode := &idshift.Record{Key: idshift.Key{Source: "ldap", LegacyID: "uid=zoë,ou=people"}, State: idshift.StateRejected,
		LastError: "mail: not an address: \"zoë@\"", SignInNames: []string{"zoë"}}
	before := *full
	put(t, st, full, empty, unicode)
	if fmt.Sprintf("%#v", before) != fmt.Sprintf("%#v", *full) {
		t.Errorf("PutRecords modified its argument")
	}
	now := clk.Now()
	for _, want := range []*idshift.Record{full, empty, unicode} {
		w := *want
		w.CreatedAt, w.UpdatedAt = now, now
		sameRecord(t, get(t, st, want.Key), &w)
	}
	if err := st.PutRecords(context.Background(), nil); err != nil {
		t.Errorf("PutRecords(nil): %v", err)
	}
}

// testLegacyActivity: the legacy last sign-in (to the microsecond, UTC, zero kept as zero) and disabled flag round
// trip, are replaced by a later PutRecords (an import's --update), and come back from every read.
func (s suite) testLegacyActivity(t *testing.T) {
	ctx := context.Background()
	st, clk, _ := s.fresh(t, nil)
	seen := time.Date(2019, 6, 30, 23, 59, 58, 123456789, time.FixedZone("CEST", 2*3600))
	a := &idshift.Record{Key: idshift.Key{Source: "s", LegacyID: "a"}, State: idshift.StateCreated, ObjectID: "oid-a",
		SignInNames: []string{"a@example.com"}, LegacyLastSignIn: seen, LegacyDisabled: true}
	b := &idshift.Record{Key: idshift.Key{Source: "s", LegacyID: "b"}, State: idshift.StateCreated, ObjectID: "oid-b"}
	old := &idshift.Record{Key: idshift.Key{Source: "s", LegacyID: "c"}, State: idshift.StatePending,
		LegacyLastSignIn: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)}
	put(t, st, a, b, old)
	now := clk.Now()
	want := *a
	want.LegacyLastSignIn = seen.UTC().Truncate(time.Microsecond)
	want.CreatedAt, want.UpdatedAt = now, now
	sameRecord(t, get(t, st, a.Key), &want)
	if got := get(t, st, b.Key); !got.LegacyLastSignIn.IsZero() || got.LegacyDisabled {
		t.Errorf("unset activity read back as %v, %v", got.LegacyLastSignIn, got.LegacyDisabled)
	}
	if got := get(t, st, old.Key); !got.LegacyLastSignIn.Equal(old.LegacyLastSignIn) {
		t.Errorf("a time before 1970 read back as %v", got.LegacyLastSignIn)
	}
	for what, read := range map[string]func() (*idshift.Record, error){
		"RecordByObjectID":   func() (*idshift.Record, error) { return st.RecordByObjectID(ctx, "oid-a") },
		"RecordBySignInName": func() (*idshift.Record, error) { return st.RecordBySignInName(ctx, "A@example.com") },
		"Records": func() (*idshift.Record, error) {
			m, err := st.Records(ctx, []idshift.Key{a.Key})
			return m[a.Key], err
		},
		"Scan": func() (*idshift.Record, error) {
			var got *idshift.Record
			err := st.Scan(ctx, []idshift.State{idshift.StateCreated}, func(r *idshift.Record) error {
				if r.Key == a.Key {
					got = r
				}
				return nil
			})
			return got, err
		},
	} {
		got, err := read()
		if err != nil || got == nil || !got.LegacyLastSignIn.Equal(want.LegacyLastSignIn) || !got.LegacyDisabled {
			t.Errorf("%s: %+v, %v", what, got, err)
		}
	}
	// A later write replaces them: signed in again, enabled again.
	clk.Advance(time.Hour)
	again := *a
	again.LegacyLastSignIn, again.LegacyDisabled = seen.AddDate(5, 0, 0), false
	put(t, st, &again)
	if got := get(t, st, a.Key); !got.LegacyLastSignIn.Equal(again.LegacyLastSignIn.Truncate(time.Microsecond)) || got.LegacyDisabled {
		t.Errorf("after the update: %v, %v", got.LegacyLastSignIn, got.LegacyDisabled)
	}
	again.LegacyLastSignIn = time.Time{}
	put(t, st, &again)
	if got := get(t, st, a.Key); !got.LegacyLastSignIn.IsZero() {
		t.Errorf("cleared last sign-in read back as %v", got.LegacyLastSignIn)
	}
}

func (s suite) testKeepsCreatedAt(t *testing.T) {
	st, clk, _ := s.fresh(t, nil)
	k := idshift.Key{Source: "s", LegacyID: "1"}
	put(t, st, &idshift.Record{Key: k, State: idshift.StatePending, Digest: "d1", SignInNames: []string{"old@example.com"}})
	created := clk.Now()
	clk.Advance(90 * time.Minute)
	put(t, st, &idshift.Record{Key: k, State: idshift.StateCreated, Digest: "d2", ObjectID: "oid", Attempts: 1,
		SignInNames: []string{"new@example.com"}, CreatedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	got := get(t, st, k)
	sameRecord(t, got, &idshift.Record{Key: k, State: idshift.StateCreated, Digest: "d2", ObjectID: "oid", Attempts: 1,
		SignInNames: []string{"new@example.com"}, CreatedAt: created, UpdatedAt: clk.Now()})
	// The replaced sign-in name no longer finds the record; the new one does.
	_, err := st.RecordBySignInName(context.Background(), "old@example.com")
	wantNotFound(t, "old sign-in name", err)
	if r, err := st.RecordBySignInName(context.Background(), "new@example.com"); err != nil || r.Key != k {
		t.Errorf("new sign-in name: %v, %v", r, err)
	}
	// Names removed altogether.
	put(t, st, &idshift.Record{Key: k, State: idshift.StateCreated})
	_, err = st.RecordBySignInName(context.Background(), "new@example.com")
	wantNotFound(t, "removed sign-in name", err)
}

func (s suite) testAtomic(t *testing.T) {
	ctx := context.Background()
	bad := []struct {
		name string
		recs []*idshift.Record
	}{
		{"empty legacy id", []*idshift.Record{rec("s", "new", idshift.StatePending), rec("s", "", idshift.StatePending)}},
		{"no state", []*idshift.Record{rec("s", "new", idshift.StatePending), rec("s", "x", "")}},
		{"nil record", []*idshift.Record{rec("s", "new", idshift.StatePending), nil}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			st, _, _ := s.fresh(t, nil)
			put(t, st, rec("s", "old", idshift.StatePending))
			err := st.PutRecords(ctx, append([]*idshift.Record{rec("s", "old", idshift.StateFailed)}, tt.recs...))
			if idshift.ErrorCode(err) != idshift.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			_, err = st.Record(ctx, idshift.Key{Source: "s", LegacyID: "new"})
			wantNotFound(t, "record of a failed batch", err)
			if got := get(t, st, idshift.Key{Source: "s", LegacyID: "old"}); got.State != idshift.StatePending {
				t.Errorf("a failed batch changed a record: state %q", got.State)
			}
		})
	}
}

func (s suite) testDuplicateKeys(t *testing.T) {
	st, _, _ := s.fresh(t, nil)
	a := rec("s", "1", idshift.StatePending)
	a.SignInNames = []string{"first@example.com"}
	b := rec("s", "1", idshift.StateFailed)
	b.SignInNames = []string{"last@example.com"}
	put(t, st, a, rec("s", "2", idshift.StatePending), b)
	if got := get(t, st, a.Key); got.State != idshift.StateFailed {
		t.Errorf("state = %q, want the last record's %q", got.State, idshift.StateFailed)
	}
	_, err := st.RecordBySignInName(context.Background(), "first@example.com")
	wantNotFound(t, "overridden sign-in name", err)
}

func (s suite) testRecords(t *testing.T) {
	st, _, _ := s.fresh(t, nil)
	ctx := context.Background()
	var recs []*idshift.Record
	for i := range 700 {
		r := rec(fmt.Sprintf("src%d", i%3), fmt.Sprintf("id-%04d", i), idshift.StatePending)
		r.Line = int64(i + 1)
		recs = append(recs, r)
	}
	put(t, st, recs...)

	got, err := st.Records(ctx, nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("Records(nil) = %v, %v; want an empty map", got, err)
	}
	// Every third key present, the rest missing; duplicates asked twice.
	var keys []idshift.Key
	want := map[idshift.Key]int64{}
	for i, r := range recs {
		if i%3 == 0 {
			keys = append(keys, r.Key, r.Key)
			want[r.Key] = r.Line
		}
		keys = append(keys, idshift.Key{Source: r.Source, LegacyID: r.LegacyID + "-missing"}, idshift.Key{Source: "other", LegacyID: r.LegacyID})
	}
	keys = append(keys, idshift.Key{})
	got, err = st.Records(ctx, keys)
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	if len(got) != len(want) {
		t.Errorf("Records returned %d records, want %d", len(got), len(want))
	}
	for k, line := range want {
		r, ok := got[k]
		if !ok {
			t.Errorf("Records: %v missing", k)
			continue
		}
		if r.Key != k || r.Line != line {
			t.Errorf("Records[%v] = %v line %d, want line %d", k, r.Key, r.Line, line)
		}
	}
}

// scanKeys are written out of order; their key order is bytewise (upper case before lower case, "a10" before "a9").
var scanKeys = []idshift.Key{
	{Source: "b", LegacyID: "1"}, {Source: "a", LegacyID: "a9"}, {Source: "a", LegacyID: "a10"}, {Source: "A", LegacyID: "z"},
	{Source: "a", LegacyID: "B"}, {Source: "a", LegacyID: "b"}, {Source: "", LegacyID: "x"}, {Source: "a", LegacyID: "a"},
	{Source: "a b", LegacyID: "1"}, {Source: "ab", LegacyID: "1"}, {Source: "a", LegacyID: "é"}, {Source: "a", LegacyID: "z"},
}

func (s suite) testScan(t *testing.T) {
	st, _, _ := s.fresh(t, nil)
	states := []idshift.State{idshift.StatePending, idshift.StateCreated, idshift.StateFailed}
	var recs []*idshift.Record
	for i, k := range scanKeys {
		recs = append(recs, &idshift.Record{Key: k, State: states[i%3], Line: int64(i)})
	}
	put(t, st, recs...)

	tests := []struct {
		name   string
		states []idshift.State
	}{
		{"all", nil},
		{"one state", []idshift.State{idshift.StatePending}},
		{"two states", []idshift.State{idshift.StateFailed, idshift.StatePending}},
		{"repeated state", []idshift.State{idshift.StateCreated, idshift.StateCreated}},
		{"no match", []idshift.State{idshift.StateMigrated}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []idshift.Key
			for _, r := range recs {
				if len(tt.states) == 0 || slices.Contains(tt.states, r.State) {
					want = append(want, r.Key)
				}
			}
			slices.SortFunc(want, store.CompareKeys)
			var got []idshift.Key
			err := st.Scan(context.Background(), tt.states, func(r *idshift.Record) error {
				if len(tt.states) > 0 && !slices.Contains(tt.states, r.State) {
					t.Errorf("Scan gave %v in state %q", r.Key, r.State)
				}
				got = append(got, r.Key)
				return nil
			})
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Scan order:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func (s suite) testScanStops(t *testing.T) {
	st, _, _ := s.fresh(t, nil)
	var recs []*idshift.Record
	for i := range 50 {
		recs = append(recs, rec("s", fmt.Sprintf("%03d", i), idshift.StatePending))
	}
	put(t, st, recs...)
	stop := errors.New("stop here")
	calls := 0
	err := st.Scan(context.Background(), nil, func(r *idshift.Record) error {
		calls++
		if calls == 5 {
			return fmt.Errorf("fn: %w", stop)
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("Scan err = %v, want fn's error", err)
	}
	if calls != 5 {
		t.Errorf("fn called %d times after its error, want 5 calls", calls)
	}
	// The store is still usable after an interrupted scan.
	if _, err := st.Counts(context.Background()); err != nil {
		t.Errorf("Counts after an interrupted scan: %v", err)
	}
	put(t, st, rec("s", "after", idshift.StatePending))
}

func (s suite) testCounts(t *testing.T) {
	st, _, _ := s.fresh(t, nil)
	got, err := st.Counts(context.Background())
	if err != nil || len(got) != 0 {
		t.Errorf("Counts of an empty store = %v, %v", got, err)
	}
	want := map[idshift.State]int64{idshift.StatePending: 4, idshift.StateCreated: 2, idshift.StateCollision: 1}
	var recs []*idshift.Record
	for state, n := range want {
		for i := range n {
			recs = append(recs, rec("s", fmt.Sprintf("%s-%d", state, i), state))
		}
	}
	put(t, st, recs...)
	// Moving a record moves its count.
	put(t, st, rec("s", "pending-0", idshift.StateInFlight))
	want[idshift.StatePending]--
	want[idshift.StateInFlight]++
	got, err = st.Counts(context.Background())
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Counts = %v, want %v", got, want)
	}
}

func (s suite) testByObjectID(t *testing.T) {
	st, _, _ := s.fresh(t, nil)
	a := &idshift.Record{Key: idshift.Key{Source: "s", LegacyID: "a"}, State: idshift.StateCreated, ObjectID: "oid-a"}
	b := &idshift.Record{Key: idshift.Key{Source: "s", LegacyID: "b"}, State: idshift.StateAdopted, ObjectID: "oid-b"}
	put(t, st, a, b, rec("s", "c", idshift.StatePending))
	for _, want := range []*idshift.Record{a, b} {
		got, err := st.RecordByObjectID(context.Background(), want.ObjectID)
		if err != nil {
			t.Fatalf("RecordByObjectID(%q): %v", want.ObjectID, err)
		}
		if got.Key != want.Key || got.ObjectID != want.ObjectID {
			t.Errorf("RecordByObjectID(%q) = %v", want.ObjectID, got.Key)
		}
	}
	_, err := st.RecordByObjectID(context.Background(), "OID-A")
	wantNotFound(t, "object id in another case", err)
}

func (s suite) testBySignInName(t *testing.T) {
	st, _, _ := s.fresh(t, nil)
	ctx := context.Background()
	alice := &idshift.Record{Key: idshift.Key{Source: "s", LegacyID: "alice"}, State: idshift.StateCreated, ObjectID: "oid-alice",
		SignInNames: []string{"alice@example.com", "alice"}}
	// A collision record holding alice's address: the record with an object id wins.
	other := &idshift.Record{Key: idshift.Key{Source: "a-first", LegacyID: "x"}, State: idshift.StateCollision,
		SignInNames: []string{"alice@example.com"}}
	bob := &idshift.Record{Key: idshift.Key{Source: "s", LegacyID: "bob"}, State: idshift.StatePending, SignInNames: []string{"bob"}}
	put(t, st, alice, other, bob)
	tests := []struct {
		name string
		want idshift.Key
	}{
		{"alice@example.com", alice.Key},
		{"Alice@Example.COM", alice.Key},
		{"ALICE", alice.Key},
		{"bob", bob.Key},
		{"BoB", bob.Key},
	}
	for _, tt := range tests {
		got, err := st.RecordBySignInName(ctx, tt.name)
		if err != nil {
			t.Errorf("RecordBySignInName(%q): %v", tt.name, err)
			continue
		}
		if got.Key != tt.want {
			t.Errorf("RecordBySignInName(%q) = %v, want %v", tt.name, got.Key, tt.want)
		}
		if tt.want == alice.Key {
			sameRecord(t, got, &idshift.Record{Key: alice.Key, State: alice.State, ObjectID: alice.ObjectID, SignInNames: alice.SignInNames,
				CreatedAt: got.CreatedAt, UpdatedAt: got.UpdatedAt})
		}
	}
	for _, name := range []string{"alice@example", "bo", "carol", "%", "_ob"} {
		_, err := st.RecordBySignInName(ctx, name)
		wantNotFound(t, fmt.Sprintf("RecordBySignInName(%q)", name), err)
	}
}

var creds = map[idshift.Key]idshift.Credential{
	{Source: "s", LegacyID: "hash"}:  {Kind: idshift.CredentialHash, Hash: "$2b$10$abcdefghijklmnopqrstuuQ2tT6jCq0FQ1XbCzQ4Y8dQ3xYk1Zx4O"},
	{Source: "s", LegacyID: "plain"}: {Kind: idshift.CredentialPlaintext, Password: "correct horse battery staple"},
	{Source: "t", LegacyID: "hash"}:  {Kind: idshift.CredentialHash, Hash: "{SSHA}9x2tDq5JmBPpuMS3bZo0AXEAjKDlbmFQ"},
	{Source: "t", LegacyID: "none"}:  {},
}

func checkCreds(t *testing.T, st idshift.Store, want map[idshift.Key]idshift.Credential) {
	t.Helper()
	for k, w := range want {
		got, err := st.Credential(context.Background(), k)
		if err != nil {
			t.Errorf("Credential(%v): %v", k, err)
			continue
		}
		if got != w {
			t.Errorf("Credential(%v) differs from what was stored (kind %q, want %q)", k, got.Kind, w.Kind)
		}
	}
}

func (s suite) testCredentials(t *testing.T) {
	for _, tt := range []struct {
		name string
		key  []byte
	}{{"unsealed", nil}, {"sealed", key1}} {
		t.Run(tt.name, func(t *testing.T) {
			st, _, _ := s.fresh(t, tt.key)
			ctx := context.Background()
			if err := st.PutCredentials(ctx, creds); err != nil {
				t.Fatalf("PutCredentials: %v", err)
			}
			checkCreds(t, st, creds)
			// Overwrite one.
			k := idshift.Key{Source: "s", LegacyID: "hash"}
			next := idshift.Credential{Kind: idshift.CredentialHash, Hash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g"}
			if err := st.PutCredentials(ctx, map[idshift.Key]idshift.Credential{k: next}); err != nil {
				t.Fatalf("PutCredentials: %v", err)
			}
			checkCreds(t, st, map[idshift.Key]idshift.Credential{k: next})
			// Empty map, invalid key.
			if err := st.PutCredentials(ctx, nil); err != nil {
				t.Errorf("PutCredentials(nil): %v", err)
			}
			err := st.PutCredentials(ctx, map[idshift.Key]idshift.Credential{{Source: "s", LegacyID: "new"}: next, {Source: "s"}: next})
			if idshift.ErrorCode(err) != idshift.EINVALID {
				t.Errorf("PutCredentials with an empty legacy id: err = %v, want EINVALID", err)
			}
			_, err = st.Credential(ctx, idshift.Key{Source: "s", LegacyID: "new"})
			wantNotFound(t, "credential of a failed batch", err)
		})
	}
}

func (s suite) testNotPlaintext(t *testing.T) {
	for _, tt := range []struct {
		name      string
		key       []byte
		plaintext bool
	}{{"unsealed", nil, true}, {"sealed", key1, false}} {
		t.Run(tt.name, func(t *testing.T) {
			st, _, db := s.fresh(t, tt.key)
			if err := st.PutCredentials(context.Background(), creds); err != nil {
				t.Fatalf("PutCredentials: %v", err)
			}
			for ck, c := range creds {
				raw := s.h.RawCredential(t, db, ck)
				if raw == nil {
					t.Fatalf("RawCredential(%v) found no row", ck)
				}
				secretOf := c.Hash + c.Password
				if secretOf == "" {
					continue
				}
				// Unsealed rows hold the secret as is (which shows the hook reads the real row); sealed ones must not.
				if got := bytes.Contains(raw, []byte(secretOf)); got != tt.plaintext {
					t.Errorf("%v: raw row holds the secret in plaintext: %v, want %v", ck, got, tt.plaintext)
				}
			}
			if raw := s.h.RawCredential(t, db, idshift.Key{Source: "s", LegacyID: "absent"}); raw != nil {
				t.Errorf("RawCredential of an absent key = %d bytes, want nil", len(raw))
			}
		})
	}
}

func (s suite) testKeyPolicy(t *testing.T) {
	ctx := context.Background()
	db := s.h.New(t)
	c := newClock()
	// Written without a key...
	st := s.open(t, db, Options{Now: c.Now})
	if err := st.PutCredentials(ctx, creds); err != nil {
		t.Fatalf("PutCredentials: %v", err)
	}
	put(t, st, rec("s", "r", idshift.StatePending))
	st.Close()

	// ...reopened with a key: migrated to sealed, readable, no longer plaintext.
	st = s.open(t, db, Options{Key: key1, Now: c.Now})
	checkCreds(t, st, creds)
	plain := idshift.Key{Source: "s", LegacyID: "plain"}
	if raw := s.h.RawCredential(t, db, plain); bytes.Contains(raw, []byte(creds[plain].Password)) {
		t.Errorf("credential still in plaintext after reopening with a key")
	}
	st.Close()

	// A sealed store refuses another key at Open; without a key it opens for its records, but refuses to read or
	// write credentials: never two keys, nor sealed and new unsealed credentials, in one store. The errors name key
	// ids, never keys or secrets.
	id1 := store.KeyIDString(store.KeyID(key1))
	noSecret := func(t *testing.T, err error) {
		t.Helper()
		for _, secret := range [][]byte{[]byte(creds[plain].Password), key1, key2} {
			if bytes.Contains([]byte(err.Error()), secret) {
				t.Errorf("error reveals a secret")
			}
		}
	}
	t.Run("another key", func(t *testing.T) {
		st, err := s.h.Open(t, db, Options{Key: key2, Now: c.Now})
		if err == nil {
			st.Close()
			t.Fatal("Open succeeded, want ErrWrongKey")
		}
		if !errors.Is(err, store.ErrWrongKey) || !errors.Is(err, store.ErrSealed) || !strings.Contains(err.Error(), id1) {
			t.Errorf("Open: err = %v, want ErrWrongKey naming key id %s", err, id1)
		}
		noSecret(t, err)
	})
	t.Run("no key", func(t *testing.T) {
		st := s.open(t, db, Options{Now: c.Now})
		if r := get(t, st, idshift.Key{Source: "s", LegacyID: "r"}); r.State != idshift.StatePending {
			t.Errorf("record state = %q", r.State)
		}
		if b, ok := st.(interface{ BoundKeyID() string }); ok && b.BoundKeyID() != id1 {
			t.Errorf("BoundKeyID = %q, want %s", b.BoundKeyID(), id1)
		}
		_, err := st.Credential(ctx, plain)
		if !errors.Is(err, store.ErrSealed) {
			t.Errorf("Credential: err = %v, want store.ErrSealed", err)
		}
		if err != nil {
			noSecret(t, err)
		}
		other := idshift.Key{Source: "s", LegacyID: "new"}
		err = st.PutCredentials(ctx, map[idshift.Key]idshift.Credential{other: creds[plain]})
		if !errors.Is(err, store.ErrKeyRequired) || err == nil || !strings.Contains(err.Error(), id1) {
			t.Errorf("PutCredentials: err = %v, want ErrKeyRequired naming key id %s", err, id1)
		}
		if raw := s.h.RawCredential(t, db, other); raw != nil {
			t.Errorf("PutCredentials without the key wrote a credential")
		}
	})
	// The right key still reads everything.
	st = s.open(t, db, Options{Key: key1, Now: c.Now})
	checkCreds(t, st, creds)
}

// testBoundToOneKey: the first Open with a key binds even an empty store to it.
func (s suite) testBoundToOneKey(t *testing.T) {
	db := s.h.New(t)
	c := newClock()
	st, err := s.h.Open(t, db, Options{Key: key1, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err := s.h.Open(t, db, Options{Key: key2, Now: c.Now}); !errors.Is(err, store.ErrWrongKey) {
		if err == nil {
			st.Close()
		}
		t.Errorf("Open with another key: err = %v, want ErrWrongKey", err)
	}
	st = s.open(t, db, Options{Now: c.Now})
	k := idshift.Key{Source: "s", LegacyID: "1"}
	if err := st.PutCredentials(context.Background(), map[idshift.Key]idshift.Credential{k: creds[k]}); !errors.Is(err, store.ErrKeyRequired) {
		t.Errorf("PutCredentials without the key: err = %v, want ErrKeyRequired", err)
	}
	st.Close()
	s.open(t, db, Options{Key: key1, Now: c.Now})
}

// testKeyRefs: PutCredentials records the key references the store's function finds; KeyRefs lists them.
func (s suite) testKeyRefs(t *testing.T) {
	refs := func(c idshift.Credential) []string {
		if rest, ok := strings.CutPrefix(c.Hash, "ref:"); ok {
			return strings.Split(rest, "+")
		}
		return nil
	}
	db := s.h.New(t)
	c := newClock()
	st := s.open(t, db, Options{Key: key1, Now: c.Now, KeyRefs: refs})
	kl, ok := st.(store.KeyRefLister)
	if !ok {
		t.Skip("the store does not implement store.KeyRefLister")
	}
	ctx := context.Background()
	if got, err := kl.KeyRefs(ctx); err != nil || len(got) != 0 {
		t.Fatalf("KeyRefs of a new store = %q, %v", got, err)
	}
	hash := func(h string) idshift.Credential { return idshift.Credential{Kind: idshift.CredentialHash, Hash: h} }
	if err := st.PutCredentials(ctx, map[idshift.Key]idshift.Credential{
		{Source: "s", LegacyID: "1"}: hash("ref:hmac:b+firebase:a"),
		{Source: "s", LegacyID: "2"}: hash("ref:hmac:b"),
		{Source: "s", LegacyID: "3"}: hash("$2b$10$none"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCredentials(ctx, map[idshift.Key]idshift.Credential{{Source: "s", LegacyID: "4"}: hash("ref:hmac:a")}); err != nil {
		t.Fatal(err)
	}
	want := []string{"firebase:a", "hmac:a", "hmac:b"}
	if got, err := kl.KeyRefs(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("KeyRefs = %q, %v; want %q", got, err, want)
	}
	st.Close()
	// Reopened (without the function): still listed.
	st = s.open(t, db, Options{Key: key1, Now: c.Now})
	if got, err := st.(store.KeyRefLister).KeyRefs(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("KeyRefs after reopen = %q, %v; want %q", got, err, want)
	}
}

func (s suite) testDeleteCredentials(t *testing.T) {
	st, _, _ := s.fresh(t, key1)
	ctx := context.Background()
	if err := st.PutCredentials(ctx, creds); err != nil {
		t.Fatalf("PutCredentials: %v", err)
	}
	n, err := st.DeleteCredentials(ctx, nil)
	if err != nil || n != 0 {
		t.Errorf("DeleteCredentials(nil) = %d, %v", n, err)
	}
	gone := []idshift.Key{{Source: "s", LegacyID: "hash"}, {Source: "t", LegacyID: "none"}}
	n, err = st.DeleteCredentials(ctx, append(gone, gone[0], idshift.Key{Source: "s", LegacyID: "missing"}, idshift.Key{}))
	if err != nil || n != 2 {
		t.Errorf("DeleteCredentials = %d, %v; want 2", n, err)
	}
	for _, k := range gone {
		_, err := st.Credential(ctx, k)
		wantNotFound(t, "deleted credential", err)
	}
	n, err = st.DeleteCredentials(ctx, gone)
	if err != nil || n != 0 {
		t.Errorf("DeleteCredentials again = %d, %v; want 0", n, err)
	}
	rest := map[idshift.Key]idshift.Credential{}
	for k, c := range creds {
		if !slices.Contains(gone, k) {
			rest[k] = c
		}
	}
	checkCreds(t, st, rest)
}

func (s suite) testReopen(t *testing.T) {
	db := s.h.New(t)
	c := newClock()
	st := s.open(t, db, Options{Key: key1, Now: c.Now})
	want := &idshift.Record{Key: idshift.Key{Source: "s", LegacyID: "1"}, State: idshift.StateCreated, ObjectID: "oid", SignInNames: []string{"a@example.com"}, Line: 9}
	put(t, st, want)
	k := idshift.Key{Source: "s", LegacyID: "plain"}
	if err := st.PutCredentials(context.Background(), map[idshift.Key]idshift.Credential{k: creds[k]}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Reopening runs the migrations again (idempotent) and finds everything.
	for range 2 {
		st = s.open(t, db, Options{Key: key1, Now: c.Now})
		w := *want
		w.CreatedAt, w.UpdatedAt = c.Now(), c.Now()
		sameRecord(t, get(t, st, want.Key), &w)
		if r, err := st.RecordBySignInName(context.Background(), "A@example.com"); err != nil || r.Key != want.Key {
			t.Errorf("RecordBySignInName after reopen: %v, %v", r, err)
		}
		checkCreds(t, st, map[idshift.Key]idshift.Credential{k: creds[k]})
		st.Close()
	}
}

func (s suite) testConcurrent(t *testing.T) {
	st, _, _ := s.fresh(t, key1)
	ctx := context.Background()
	const workers, batches, size = 8, 10, 50
	var wg sync.WaitGroup
	errs := make(chan error, 4*workers)
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for b := range batches {
				var recs []*idshift.Record
				cr := map[idshift.Key]idshift.Credential{}
				for i := range size {
					// Half of the keys are shared by all workers (same rows, in any order), half are the worker's own.
					id := fmt.Sprintf("shared-%03d", (b*size+i)%200)
					if i%2 == 1 {
						id = fmt.Sprintf("w%d-%03d", w, b*size+i)
					}
					r := rec("s", id, idshift.StateInFlight)
					r.SignInNames = []string{id + "@example.com"}
					r.Attempts = w
					recs = append(recs, r)
					cr[r.Key] = idshift.Credential{Kind: idshift.CredentialHash, Hash: "h-" + id}
				}
				slices.Reverse(recs[:size/2]) // different orders across workers
				if err := st.PutRecords(ctx, recs); err != nil {
					errs <- err
					return
				}
				if err := st.PutCredentials(ctx, cr); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range batches {
				keys := []idshift.Key{{Source: "s", LegacyID: fmt.Sprintf("shared-%03d", i)}}
				if _, err := st.Records(ctx, keys); err != nil {
					errs <- err
					return
				}
				if _, err := st.Counts(ctx); err != nil {
					errs <- err
					return
				}
				if err := st.Scan(ctx, []idshift.State{idshift.StateInFlight}, func(*idshift.Record) error { return nil }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent: %v", err)
	}
	counts, err := st.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The shared keys every worker wrote, plus each worker's own.
	shared := map[string]bool{}
	for b := range batches {
		for i := 0; i < size; i += 2 {
			shared[fmt.Sprintf("shared-%03d", (b*size+i)%200)] = true
		}
	}
	want := int64(len(shared) + workers*batches*size/2)
	if counts[idshift.StateInFlight] != want || len(counts) != 1 {
		t.Errorf("Counts = %v, want %d in_flight", counts, want)
	}
	r, err := st.RecordBySignInName(ctx, "shared-000@example.com")
	if err != nil || r.LegacyID != "shared-000" {
		t.Errorf("RecordBySignInName after concurrent writes: %v, %v", r, err)
	}
	c, err := st.Credential(ctx, idshift.Key{Source: "s", LegacyID: "w3-001"})
	if err != nil || c.Hash != "h-w3-001" {
		t.Errorf("Credential after concurrent writes: %v", err)
	}
}

func (s suite) testCanceled(t *testing.T) {
	st, _, _ := s.fresh(t, key1)
	k := idshift.Key{Source: "s", LegacyID: "1"}
	put(t, st, rec("s", "1", idshift.StatePending), rec("s", "2", idshift.StatePending), rec("s", "3", idshift.StatePending))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"Records":            func() error { _, err := st.Records(ctx, []idshift.Key{k}); return err },
		"Record":             func() error { _, err := st.Record(ctx, k); return err },
		"RecordByObjectID":   func() error { _, err := st.RecordByObjectID(ctx, "x"); return err },
		"RecordBySignInName": func() error { _, err := st.RecordBySignInName(ctx, "x"); return err },
		"PutRecords":         func() error { return st.PutRecords(ctx, []*idshift.Record{rec("s", "new", idshift.StatePending)}) },
		"Scan":               func() error { return st.Scan(ctx, nil, func(*idshift.Record) error { return nil }) },
		"Counts":             func() error { _, err := st.Counts(ctx); return err },
		"PutCredentials": func() error {
			return st.PutCredentials(ctx, map[idshift.Key]idshift.Credential{k: {Kind: idshift.CredentialHash, Hash: "h"}})
		},
		"Credential":        func() error { _, err := st.Credential(ctx, k); return err },
		"DeleteCredentials": func() error { _, err := st.DeleteCredentials(ctx, []idshift.Key{k}); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: err = %v, want context.Canceled", name, err)
		}
	}
	_, err := st.Record(context.Background(), idshift.Key{Source: "s", LegacyID: "new"})
	wantNotFound(t, "record put with a canceled context", err)

	// Canceled during a scan: the scan stops with ctx's error.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	n := 0
	err = st.Scan(ctx, nil, func(*idshift.Record) error {
		n++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Errorf("Scan canceled in fn: err = %v after %d calls, want context.Canceled after 1", err, n)
	}
}

func (s suite) testLargeBatch(t *testing.T) {
	st, _, _ := s.fresh(t, nil)
	ctx := context.Background()
	const n = 10000
	recs := make([]*idshift.Record, n)
	keys := make([]idshift.Key, n)
	for i := range recs {
		id := fmt.Sprintf("user-%05d", i)
		recs[i] = &idshift.Record{Key: idshift.Key{Source: "bulk", LegacyID: id}, State: idshift.StatePending,
			Digest: "d", Line: int64(i + 1), SignInNames: []string{id + "@example.com"}}
		keys[i] = recs[i].Key
	}
	put(t, st, recs...)
	got, err := st.Records(ctx, keys)
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	if len(got) != n {
		t.Errorf("Records returned %d of %d", len(got), n)
	}
	counts, err := st.Counts(ctx)
	if err != nil || counts[idshift.StatePending] != n {
		t.Errorf("Counts = %v, %v", counts, err)
	}
	// Replace the whole batch: still n records, all updated.
	for _, r := range recs {
		r.State = idshift.StateCreated
	}
	put(t, st, recs...)
	counts, err = st.Counts(ctx)
	if err != nil || counts[idshift.StateCreated] != n || len(counts) != 1 {
		t.Errorf("Counts after replace = %v, %v", counts, err)
	}
	// Scan over many records (several pages for a paging implementation): each once, in key order.
	put(t, st, &idshift.Record{Key: recs[4321].Key, State: idshift.StateFailed})
	for _, states := range [][]idshift.State{nil, {idshift.StateCreated}, {idshift.StateCreated, idshift.StateFailed}} {
		seen := 0
		var last idshift.Key
		err := st.Scan(ctx, states, func(r *idshift.Record) error {
			if seen > 0 && store.CompareKeys(last, r.Key) >= 0 {
				return fmt.Errorf("scan order: %v after %v", r.Key, last)
			}
			last = r.Key
			seen++
			return nil
		})
		want := n
		if len(states) == 1 {
			want = n - 1
		}
		if err != nil || seen != want {
			t.Errorf("Scan(%v) saw %d records, %v; want %d", states, seen, err, want)
		}
	}
	if r, err := st.RecordBySignInName(ctx, "USER-09999@example.com"); err != nil || r.LegacyID != "user-09999" {
		t.Errorf("RecordBySignInName: %v, %v", r, err)
	}
}
