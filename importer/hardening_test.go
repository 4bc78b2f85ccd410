package importer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/importer"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/sandbox"
)

func bcryptOf(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func hashCSV(hashes []string) string {
	var b strings.Builder
	b.WriteString(header)
	for i, h := range hashes {
		fmt.Fprintf(&b, "h%d,h%d@example.com,,Hash User %d,,,,%s,,\n", i, i, i, h)
	}
	return b.String()
}

// TestUpdateRefreshesChangedCredentials: a user whose legacy hash changed in a fresh export gets the new credential
// in the store with --update (and no PATCH, the profile being the same), and only then.
func TestUpdateRefreshesChangedCredentials(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	ctx := context.Background()
	hashes := []string{bcryptOf(t, "pw-0"), bcryptOf(t, "pw-1"), bcryptOf(t, "pw-2")}
	key := []byte("0123456789abcdef0123456789abcdef")
	withKey := func(c *importer.Config) { c.CredentialKey = key }
	if sum, _, err := e.run(t, hashCSV(hashes), withKey); err != nil || sum.Created != 3 {
		t.Fatalf("first run %+v %v", sum, err)
	}
	stored := func(i int) string {
		t.Helper()
		c, err := e.store.Credential(ctx, idshift.Key{Source: "legacy", LegacyID: fmt.Sprintf("h%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		return c.Hash
	}
	norm := func(h string) string {
		n, err := pwhash.Normalize(h, pwhash.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	rec, err := e.store.Record(ctx, idshift.Key{Source: "legacy", LegacyID: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rec.Digest, hashes[1][7:]) || strings.Contains(rec.Digest, norm(hashes[1])) {
		t.Fatalf("the record's digest holds the hash")
	}

	changed := append([]string(nil), hashes...)
	changed[1] = bcryptOf(t, "pw-1-changed")
	sum, _, err := e.run(t, hashCSV(changed), withKey)
	if err != nil || sum.Skipped != 3 || sum.Updated != 0 {
		t.Fatalf("without update: %+v %v", sum, err)
	}
	if stored(1) != norm(hashes[1]) {
		t.Fatal("the credential changed without --update")
	}

	writes := e.srv.Tenant.Stats().Writes
	sum, _, err = e.run(t, hashCSV(changed), func(c *importer.Config) { withKey(c); c.Update = true })
	if err != nil || sum.Updated != 1 || sum.Skipped != 2 {
		t.Fatalf("update: %+v %v", sum, err)
	}
	if stored(1) != norm(changed[1]) {
		t.Error("--update did not store the changed credential")
	}
	if stored(0) != norm(hashes[0]) || stored(2) != norm(hashes[2]) {
		t.Error("--update touched unchanged credentials")
	}
	if w := e.srv.Tenant.Stats().Writes - writes; w != 0 {
		t.Errorf("--update sent %d writes for a credential change alone", w)
	}

	// Done: the next --update has nothing to do; another key sees every fingerprint as changed.
	sum, _, err = e.run(t, hashCSV(changed), func(c *importer.Config) { withKey(c); c.Update = true })
	if err != nil || sum.Updated != 0 || sum.Skipped != 3 {
		t.Fatalf("second update: %+v %v", sum, err)
	}
	sum, _, err = e.run(t, hashCSV(changed), func(c *importer.Config) { c.Update = true; c.CredentialKey = []byte("another key") })
	if err != nil || sum.Updated != 3 {
		t.Fatalf("update with another fingerprint key: %+v %v", sum, err)
	}
}

// TestAdoptExistingFlagsOnlyWhenAsked: an account idshift did not create is adopted without the migration flag, unless
// FlagAdopted asks for exactly that.
func TestAdoptExistingFlagsOnlyWhenAsked(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	ctx := context.Background()
	flagAttr := "extension_" + e.ext + "_requiresMigration"
	existing := func(email string) string {
		enabled := true
		u, err := e.dir.CreateUser(ctx, &graph.User{
			DisplayName: "Already Here", AccountEnabled: &enabled,
			Identities:       []graph.Identity{{SignInType: "emailAddress", Issuer: e.srv.Tenant.Domain(), IssuerAssignedID: email}},
			PasswordProfile:  &graph.PasswordProfile{Password: "Str0ng!Passw0rd"},
			PasswordPolicies: "DisablePasswordExpiration",
		})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	a, b := existing("a@example.com"), existing("b@example.com")
	h := bcryptOf(t, "legacy")
	csv := header + "a1,a@example.com,,A,,,," + h + ",,\n"
	sum, _, err := e.run(t, csv, func(c *importer.Config) { c.AdoptExisting = true })
	if err != nil || sum.Adopted != 1 {
		t.Fatalf("adopt: %+v %v", sum, err)
	}
	csv += "b1,b@example.com,,B,,,," + h + ",,\n"
	sum, _, err = e.run(t, csv, func(c *importer.Config) { c.AdoptExisting = true; c.FlagAdopted = true })
	if err != nil || sum.Adopted != 1 || sum.Skipped != 1 {
		t.Fatalf("adopt and flag: %+v %v", sum, err)
	}
	for id, want := range map[string]any{a: nil, b: true} {
		u, err := e.dir.GetUser(ctx, id, []string{"id", flagAttr, "extension_" + e.ext + "_legacyId"})
		if err != nil {
			t.Fatal(err)
		}
		if u.Extensions[flagAttr] != want {
			t.Errorf("adopted account %s: migration flag %v, want %v", id, u.Extensions[flagAttr], want)
		}
		if u.Extensions["extension_"+e.ext+"_legacyId"] == nil {
			t.Errorf("adopted account %s lacks the legacy id", id)
		}
	}
}

// failingWriter fails every write after the first n.
type failingWriter struct{ n atomic.Int32 }

var errDiskFull = errors.New("no space left on device")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n.Add(-1) < 0 {
		return 0, errDiskFull
	}
	return len(p), nil
}

// TestRejectWriteErrorStopsTheRun: a reject that cannot be written ends the run with the write error.
func TestRejectWriteErrorStopsTheRun(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	var b strings.Builder
	b.WriteString(header)
	for i := range 400 {
		if i%10 == 5 {
			fmt.Fprintf(&b, "r%d,not-an-email,,Bad,,,,,,\n", i)
			continue
		}
		fmt.Fprintf(&b, "r%d,r%d@example.com,,Good,,,,,,\n", i, i)
	}
	w := &failingWriter{}
	w.n.Store(2)
	sum, _, err := e.run(t, b.String(), func(c *importer.Config) { c.Rejects = w; c.Workers = 1; c.ChunkSize = 10 })
	if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "reject file") {
		t.Fatalf("run error %v, want the reject file's write error", err)
	}
	if !sum.Interrupted || sum.Read >= 400 || sum.Rejected < 3 {
		t.Fatalf("summary %+v: the run should stop at the third reject", sum)
	}
}

// blockingDirectory answers the first creates and then holds every create until its context ends, as a pacer
// wait or a request that never completes would.
type blockingDirectory struct {
	importer.Directory
	pass    atomic.Int32
	blocked chan struct{}
	once    atomic.Bool
}

func (d *blockingDirectory) CreateUsers(ctx context.Context, users []*graph.User) []graph.CreateResult {
	if d.pass.Add(-1) >= 0 {
		return d.Directory.CreateUsers(ctx, users)
	}
	if d.once.CompareAndSwap(false, true) {
		close(d.blocked)
	}
	<-ctx.Done()
	out := make([]graph.CreateResult, len(users))
	for i := range out {
		out[i].Err = fmt.Errorf("graph: POST /v1.0/$batch: %w", ctx.Err())
	}
	return out
}

// TestCancelStopsWithinTheGrace: a cancelled run does not wait for blocked requests longer than its grace, starts
// nothing new, reconciles its counts, and the next run creates every user exactly once.
func TestCancelStopsWithinTheGrace(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	bd := &blockingDirectory{Directory: e.dir, blocked: make(chan struct{})}
	bd.pass.Store(3)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-bd.blocked; cancel() }()
	src := genCSV(600)
	var sum importer.Summary
	var runErr error
	t0 := time.Now()
	sum, _, runErr = e.runCtx(t, ctx, src, func(c *importer.Config) {
		c.Directory = bd
		c.Grace = 300 * time.Millisecond
		c.Workers = 2
		c.ChunkSize = 40
	})
	took := time.Since(t0)
	if !errors.Is(runErr, context.Canceled) || !sum.Interrupted {
		t.Fatalf("run error %v, summary %+v", runErr, sum)
	}
	if took > 30*time.Second {
		t.Errorf("the cancelled run took %s", took)
	}
	if sum.Read >= 600 || sum.Created == 0 || sum.Failed != 0 {
		t.Fatalf("summary %+v: some created, none failed, the rest left", sum)
	}
	t.Logf("cancelled run: %+v in %s", sum, took)

	again, _, err := e.run(t, src, nil)
	if err != nil || again.Read != 600 || again.Created+again.Adopted+again.Skipped != 600 || again.Skipped != sum.Created {
		t.Fatalf("rerun %+v %v after %+v", again, err, sum)
	}
	users := e.tenantByLegacyID(t)
	if len(users) != 600 {
		t.Fatalf("tenant holds %d legacy ids, want 600", len(users))
	}
	for id, us := range users {
		if len(us) != 1 {
			t.Errorf("%s has %d accounts", id, len(us))
		}
	}
}

// TestProgressCountsEachBatchAsRecorded: the outcomes of a batch are recorded in the store and counted as soon as
// the batch is answered, not when its whole chunk is done (a run killed mid-chunk used to show nothing done).
func TestProgressCountsEachBatchAsRecorded(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	bd := &blockingDirectory{Directory: e.dir, blocked: make(chan struct{})}
	bd.pass.Store(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := genCSV(200)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.runCtx(t, ctx, src, func(c *importer.Config) {
			c.Directory = bd
			c.Grace = 100 * time.Millisecond
			c.Workers = 1
			c.ChunkSize = 200
		})
	}()
	select {
	case <-bd.blocked:
	case <-time.After(60 * time.Second):
		t.Fatal("the second batch was never sent")
	}
	im := e.im.Load()
	// The first batch is answered while the rest of the chunk waits: it is in the store and counted.
	stored := func() int {
		n := 0
		err := e.store.Scan(context.Background(), []idshift.State{idshift.StateCreated}, func(*idshift.Record) error { n++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for stored() < graph.MaxBatch && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := stored(); n != graph.MaxBatch {
		t.Fatalf("the store holds %d created records while the chunk is in progress, want %d", n, graph.MaxBatch)
	}
	if got := im.Progress().Snapshot().Created; got != graph.MaxBatch {
		t.Errorf("created %d while the chunk is in progress, want %d", got, graph.MaxBatch)
	}
	cancel()
	<-done
}
