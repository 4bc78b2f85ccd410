package importer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/importer"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/source/file"
	"github.com/idshift/idshift/store/sqlite"
)

// env is a sandbox tenant over HTTPS with the migration's extension attributes, a Graph client, and a SQLite store.
type env struct {
	srv   *sandbox.Server
	dir   *graph.Client
	store idshift.Store
	tmp   string
	ext   string // extensions app id without dashes
	// im is the importer of the run in progress.
	im atomic.Pointer[importer.Importer]
}

func newEnv(t *testing.T, cfg sandbox.Config) *env {
	t.Helper()
	srv, err := sandbox.Start(cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tmp := t.TempDir()
	ca := filepath.Join(tmp, "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	cred, err := graph.CredentialConfig{
		TenantID: srv.Tenant.TenantID(), ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret,
		AuthorityHost: srv.AuthorityHost, CAFile: ca,
	}.Credential()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := graph.HTTPClient(ca)
	if err != nil {
		t.Fatal(err)
	}
	// The sandbox is unthrottled here: pace far above its speed.
	pacer := graph.NewPacer(graph.Limits{AppWrites: 1 << 30, AppWindow: time.Second, TenantWrites: 1 << 30, TenantWindow: time.Second})
	c, err := graph.New(graph.Config{BaseURL: srv.URL, Credential: cred, HTTPClient: hc, AppID: sandbox.DefaultClientID, Pacing: pacer})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	obj := srv.Tenant.ExtensionsAppObjectID()
	for _, p := range []graph.ExtensionProperty{
		{Name: "requiresMigration", DataType: "Boolean", TargetObjects: []string{"User"}},
		{Name: "legacyId", DataType: "String", TargetObjects: []string{"User"}},
	} {
		if _, err := c.CreateExtensionProperty(ctx, obj, p); err != nil {
			t.Fatalf("create extension property %s: %v", p.Name, err)
		}
	}
	st, err := sqlite.Config{Path: filepath.Join(tmp, "state.db")}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{srv: srv, dir: c, store: st, tmp: tmp, ext: srv.Tenant.ExtensionsAppIDNoDashes()}
}

func (e *env) run(t *testing.T, csv string, mod func(*importer.Config)) (importer.Summary, []idshift.RowError, error) {
	t.Helper()
	return e.runCtx(t, context.Background(), csv, mod)
}

func (e *env) runCtx(t *testing.T, ctx context.Context, csv string, mod func(*importer.Config)) (importer.Summary, []idshift.RowError, error) {
	t.Helper()
	path := filepath.Join(e.tmp, "users.csv")
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := file.Config{Path: path, Name: "legacy"}.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var rejects bytes.Buffer
	cfg := importer.Config{
		Source: src, Store: e.store, Directory: e.dir, Domain: e.srv.Tenant.Domain(), ExtensionsAppID: e.ext,
		Rejects: &rejects, Workers: 3, ChunkSize: 7,
	}
	if mod != nil {
		mod(&cfg)
	}
	im, err := importer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.im.Store(im)
	sum, err := im.Run(ctx)
	var rows []idshift.RowError
	for _, line := range strings.Split(strings.TrimSpace(rejects.String()), "\n") {
		if line == "" {
			continue
		}
		var re idshift.RowError
		if err := json.Unmarshal([]byte(line), &re); err != nil {
			t.Fatalf("reject line %q: %v", line, err)
		}
		rows = append(rows, re)
	}
	if !sum.Reconciles() {
		t.Errorf("summary does not reconcile: %+v", sum)
	}
	return sum, rows, err
}

const header = "legacy_id,email,username,display_name,given_name,surname,phone,password_hash,last_sign_in,created\n"

func genCSV(n int) string {
	var b strings.Builder
	b.WriteString(header)
	for i := range n {
		fmt.Fprintf(&b, "u%05d,user%05d@example.com,,User %d,User,Number%d,,,,\n", i, i, i, i)
	}
	return b.String()
}

// tenantByLegacyID groups the tenant's users by their legacy id attribute.
func (e *env) tenantByLegacyID(t *testing.T) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, u := range e.srv.Tenant.Users() {
		id, _ := u["extension_"+e.ext+"_legacyId"].(string)
		out[id] = append(out[id], u)
	}
	return out
}

func TestImportCreatesEveryUserOnce(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	// The generated users have no legacy hash: a live check at the legacy system is what can verify them.
	sum, rejects, err := e.run(t, genCSV(120), func(c *importer.Config) { c.LiveCheck = true })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 120 || sum.Created != 120 || sum.ToReset != 0 || len(rejects) != 0 {
		t.Fatalf("summary %+v, rejects %v", sum, rejects)
	}
	users := e.tenantByLegacyID(t)
	if len(users) != 120 {
		t.Fatalf("tenant holds %d distinct legacy ids, want 120", len(users))
	}
	for id, us := range users {
		if len(us) != 1 {
			t.Errorf("%s: %d accounts", id, len(us))
		}
		if us[0]["extension_"+e.ext+"_requiresMigration"] != true {
			t.Errorf("%s: migration flag not set: %v", id, us[0])
		}
	}
	counts, err := e.store.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if counts[idshift.StateCreated] != 120 {
		t.Errorf("store counts %v", counts)
	}
	// The rerun sends nothing.
	before := e.srv.Tenant.Stats().Writes
	sum, _, err = e.run(t, genCSV(120), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 120 || sum.Created != 0 {
		t.Fatalf("rerun summary %+v", sum)
	}
	if w := e.srv.Tenant.Stats().Writes; w != before {
		t.Errorf("rerun wrote %d times", w-before)
	}
}

func TestImportSurvivesLostResponses(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true, Faults: sandbox.Faults{CommitThenFail: 0.2, Error503: 0.03, Error500: 0.05, Reset: 0.05, Seed: 7}})
	sum, _, err := e.run(t, genCSV(200), func(c *importer.Config) { c.MaxAttempts = 10 })
	if err != nil {
		t.Fatal(err)
	}
	if f := e.srv.Tenant.Stats().Faults; f["commitThenFail"] == 0 || f["reset"] == 0 || f["error500"] == 0 {
		t.Fatalf("faults injected %v: the test needs commit-then-fail, resets and 500s to prove anything", f)
	}
	users := e.tenantByLegacyID(t)
	for id, us := range users {
		if len(us) != 1 {
			t.Errorf("%s: %d accounts", id, len(us))
		}
	}
	if int64(len(users)) != sum.Created+sum.Adopted {
		t.Errorf("tenant holds %d users; summary %+v", len(users), sum)
	}
	if sum.Created+sum.Adopted+sum.Failed != 200 || sum.Adopted == 0 {
		t.Errorf("summary %+v: want every user created or adopted, some adopted", sum)
	}
	// Every record the store calls done points at the right tenant object.
	err = e.store.Scan(context.Background(), []idshift.State{idshift.StateCreated, idshift.StateAdopted}, func(r *idshift.Record) error {
		us := users[r.LegacyID]
		if len(us) != 1 || us[0]["id"] != r.ObjectID {
			t.Errorf("%s: store says %s, tenant has %v", r.LegacyID, r.ObjectID, us)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestImportRejectsBadRowsAndGoesOn(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	csv := header +
		"a1,ada@example.com,ada1815,Ada Lovelace,Ada,Lovelace,,,,\n" +
		"a2,not-an-email,,Bad Email,,,,,,\n" +
		",nolegacy@example.com,,No Id,,,,,,\n" +
		"a4,ADA@example.com,,Dup Of Ada,,,,,,\n" +
		"a5,b@example.com,bad user!,Bad Username,,,,,,\n" +
		"a6,c@example.com,,<script>,,,,,,\n" +
		"a7,d@example.com,,Fine,,,,$2b$99$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234,,\n" +
		"a8,e@example.com,,Fine Too,,,,,,\n" +
		"a1,f@example.com,,Same Legacy Id,,,,,,\n"
	sum, rejects, err := e.run(t, csv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 9 || sum.Created != 2 || sum.Rejected != 7 {
		t.Fatalf("summary %+v, rejects %+v", sum, rejects)
	}
	byLine := map[int64]idshift.RowError{}
	for _, r := range rejects {
		byLine[r.Line] = r
		if r.Reason == "" {
			t.Errorf("reject without a reason: %+v", r)
		}
	}
	for _, line := range []int64{3, 4, 5, 6, 7, 8, 10} {
		if _, ok := byLine[line]; !ok {
			t.Errorf("line %d not rejected; rejects %+v", line, rejects)
		}
	}
	if r := byLine[5]; r.FirstLine != 2 {
		t.Errorf("duplicate identity should point at line 2: %+v", r)
	}
	if r := byLine[10]; r.FirstLine != 2 || r.Field != "legacy_id" {
		t.Errorf("duplicate legacy id should point at line 2: %+v", r)
	}
	if r := byLine[8]; r.Field != "password_hash" {
		t.Errorf("over-cap bcrypt cost should be rejected on password_hash: %+v", r)
	}
}

func TestImportCollisionIsNeverOverwritten(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	ctx := context.Background()
	enabled := true
	theirs, err := e.dir.CreateUser(ctx, &graph.User{
		DisplayName: "Someone Else", AccountEnabled: &enabled,
		Identities:       []graph.Identity{{SignInType: "emailAddress", Issuer: e.srv.Tenant.Domain(), IssuerAssignedID: "taken@example.com"}},
		PasswordProfile:  &graph.PasswordProfile{Password: "Str0ng!Passw0rd"},
		PasswordPolicies: "DisablePasswordExpiration",
	})
	if err != nil {
		t.Fatal(err)
	}
	csv := header + "c1,taken@example.com,,Collider,,,,,,\nc2,free@example.com,,Free,,,,,,\n"
	sum, _, err := e.run(t, csv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Collisions != 1 || sum.Created != 1 {
		t.Fatalf("summary %+v", sum)
	}
	got, err := e.dir.GetUser(ctx, theirs.ID, []string{"id", "displayName", "extension_" + e.ext + "_legacyId"})
	if err != nil {
		t.Fatal(err)
	}
	if got.DisplayName != "Someone Else" || got.Extensions["extension_"+e.ext+"_legacyId"] != nil {
		t.Errorf("the other account was changed: %+v", got)
	}
	rec, err := e.store.Record(ctx, idshift.Key{Source: "legacy", LegacyID: "c1"})
	if err != nil || rec.State != idshift.StateCollision {
		t.Fatalf("record %+v, %v", rec, err)
	}
	// Asked to adopt existing accounts, the next run adopts it.
	sum, _, err = e.run(t, csv, func(c *importer.Config) { c.AdoptExisting = true })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Adopted != 1 || sum.Skipped != 1 {
		t.Fatalf("adopt run summary %+v", sum)
	}
	got, err = e.dir.GetUser(ctx, theirs.ID, []string{"id", "extension_" + e.ext + "_legacyId"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Extensions["extension_"+e.ext+"_legacyId"] != "c1" {
		t.Errorf("adopted account lacks our legacy id: %+v", got)
	}
}

func TestImportUpdatePatchesChangedUsers(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	if _, _, err := e.run(t, genCSV(10), nil); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(genCSV(10), "User 3,", "Renamed Three,", 1)
	sum, _, err := e.run(t, changed, nil)
	if err != nil || sum.Skipped != 10 {
		t.Fatalf("without --update: %+v %v", sum, err)
	}
	sum, _, err = e.run(t, changed, func(c *importer.Config) { c.Update = true })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Updated != 1 || sum.Skipped != 9 {
		t.Fatalf("update summary %+v", sum)
	}
	u := e.tenantByLegacyID(t)["u00003"]
	if len(u) != 1 || u[0]["displayName"] != "Renamed Three" {
		t.Errorf("tenant user %v", u)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	var out bytes.Buffer
	sum, _, err := e.run(t, genCSV(15), func(c *importer.Config) {
		c.DryRun = true
		c.DryRunOut = &out
		c.Store = nil
		c.Directory = nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 15 || e.srv.Tenant.UserCount() != 0 || e.srv.Tenant.Stats().Writes != 0 {
		t.Fatalf("summary %+v, tenant users %d", sum, e.srv.Tenant.UserCount())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 15 {
		t.Fatalf("%d planned requests, want 15", len(lines))
	}
	if !strings.Contains(lines[0], `"[redacted]"`) || !strings.Contains(lines[0], `"POST"`) {
		t.Errorf("planned request %s", lines[0])
	}
	counts, _ := e.store.Counts(context.Background())
	for st, n := range counts {
		if n != 0 {
			t.Errorf("store has %d %s records after a dry run", n, st)
		}
	}
}

// TestProgressIsSafeToReadDuringARun reads the live counters from another goroutine throughout a run (the progress
// bar does), for the race detector.
func TestProgressIsSafeToReadDuringARun(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	path := filepath.Join(e.tmp, "users.csv")
	os.WriteFile(path, []byte(genCSV(300)), 0o600)
	src, err := file.Config{Path: path}.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	im, err := importer.New(importer.Config{Source: src, Store: e.store, Directory: e.dir, Domain: e.srv.Tenant.Domain(),
		ExtensionsAppID: e.ext, ChunkSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan importer.Summary)
	go func() {
		var last importer.Summary
		for {
			select {
			case <-stop:
				done <- last
				return
			default:
				last = im.Progress().Snapshot()
			}
		}
	}()
	sum, err := im.Run(context.Background())
	close(stop)
	last := <-done
	if err != nil || sum.Created != 300 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if last.Created > sum.Created || last.Read > sum.Read {
		t.Errorf("snapshot %+v after summary %+v", last, sum)
	}
}

// TestImportFlagsOnlyWhatCanBeChecked: a user is flagged for migration only when something can check the password
// at sign-in (an imported legacy hash, or a live check configured for the source); the others are created
// unflagged, left to self-service password reset, and counted as such.
func TestImportFlagsOnlyWhatCanBeChecked(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	csv := header +
		"h1,h1@example.com,,With Hash,,,,$2a$04$0123456789012345678901uN2JGQJ0J0HrTJc2G0ozqeg9h5l/ONK,,\n" +
		"n1,n1@example.com,,No Hash,,,,,,\n" +
		"n2,n2@example.com,,No Hash Either,,,,,,\n"
	sum, rejects, err := e.run(t, csv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 3 || sum.ToReset != 2 || len(rejects) != 0 {
		t.Fatalf("summary %+v, rejects %v", sum, rejects)
	}
	users := e.tenantByLegacyID(t)
	flag := func(id string) any { return users[id][0]["extension_"+e.ext+"_requiresMigration"] }
	if flag("h1") != true || flag("n1") != false || flag("n2") != false {
		t.Fatalf("flags: h1 %v, n1 %v, n2 %v", flag("h1"), flag("n1"), flag("n2"))
	}
}
