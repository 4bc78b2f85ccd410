package importer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/importer"
	"github.com/idshift/idshift/sandbox"
	"github.com/idshift/idshift/source/file"
)

// runSources imports the CSV files (named source → content, in order) with the merges.
func (e *env) runSources(t *testing.T, files [][2]string, merges []importer.Merge, mod func(*importer.Config)) (importer.Summary, []idshift.RowError, string) {
	t.Helper()
	var srcs []idshift.Source
	for _, f := range files {
		path := filepath.Join(e.tmp, f[0]+".csv")
		if err := os.WriteFile(path, []byte(f[1]), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := file.Config{Path: path, Name: f[0]}.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		srcs = append(srcs, s)
	}
	var rejects, out bytes.Buffer
	cfg := importer.Config{
		Source: srcs[0], Sources: srcs[1:], Merges: merges, Store: e.store, Directory: e.dir,
		Domain: e.srv.Tenant.Domain(), ExtensionsAppID: e.ext, Rejects: &rejects, DryRunOut: &out, Workers: 2, ChunkSize: 3,
	}
	if mod != nil {
		mod(&cfg)
	}
	im, err := importer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := im.Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v (summary %+v)", err, sum)
	}
	if !sum.Reconciles() {
		t.Errorf("summary does not reconcile: %+v", sum)
	}
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
	return sum, rows, out.String()
}

// shopAndForum are two sources with one person in both (ann) and one in each only.
func shopAndForum(t *testing.T) [][2]string {
	shop := header +
		"s1,ann@example.com,,Ann Shop,,,,,," + "\n" +
		"s2,bob@example.com,,Bob,,,,,," + "\n"
	shop = strings.Replace(shop, "Ann Shop,,,,,", "Ann Shop,,,,"+bcryptOf(t, "shop-secret-1")+",", 1)
	forum := header +
		"f1,carl@example.com,,Carl,,,,,," + "\n" +
		"f2,ANN@example.com,ann_forum,,Ann,Forumer,+1 555 0100,,," + "\n"
	forum = strings.Replace(forum, "+1 555 0100,,", "+1 555 0100,"+bcryptOf(t, "forum-secret-2")+",", 1)
	return [][2]string{{"shop", shop}, {"forum", forum}}
}

var annMerge = []importer.Merge{{
	Primary: idshift.Key{Source: "shop", LegacyID: "s1"},
	Members: []idshift.Key{{Source: "forum", LegacyID: "f2"}},
}}

func TestMergeFoldsMembersIntoThePrimary(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	ctx := context.Background()
	sum, rejects, _ := e.runSources(t, shopAndForum(t), annMerge, nil)
	if sum.Read != 4 || sum.Created != 3 || sum.Merged != 1 || sum.Merges != 1 || len(rejects) != 0 {
		t.Fatalf("summary %+v, rejects %v", sum, rejects)
	}
	users := e.tenantByLegacyID(t)
	if len(users) != 3 || len(users["f2"]) != 0 || len(users["s1"]) != 1 {
		t.Fatalf("tenant holds %v", users)
	}
	ann := users["s1"][0]
	ids, _ := json.Marshal(ann["identities"])
	if !strings.Contains(string(ids), `"ann@example.com"`) || !strings.Contains(string(ids), `"ann_forum"`) ||
		strings.Count(strings.ToLower(string(ids)), "ann@example.com") != 1 {
		t.Errorf("merged identities %s: want the union, the shared email once", ids)
	}
	if ann["displayName"] != "Ann Shop" || ann["surname"] != "Forumer" || ann["mobilePhone"] != "+1 555 0100" {
		t.Errorf("merged profile: display %v surname %v phone %v: want the primary's, empty fields filled from the member", ann["displayName"], ann["surname"], ann["mobilePhone"])
	}
	if ann["extension_"+e.ext+"_requiresMigration"] != true {
		t.Errorf("merged account not flagged for migration")
	}

	primary, member := idshift.Key{Source: "shop", LegacyID: "s1"}, idshift.Key{Source: "forum", LegacyID: "f2"}
	recs, err := e.store.Records(ctx, []idshift.Key{primary, member})
	if err != nil {
		t.Fatal(err)
	}
	if r := recs[member]; r == nil || r.State != idshift.StateMerged || r.ObjectID != "" || len(r.SignInNames) != 0 || r.LastError != "merged into shop/s1" {
		t.Errorf("member record %+v", r)
	}
	if r := recs[primary]; r == nil || r.State != idshift.StateCreated || strings.Join(r.SignInNames, ",") != "ann@example.com,ann_forum" {
		t.Errorf("primary record %+v", r)
	}
	if r, err := e.store.RecordBySignInName(ctx, "ann_forum"); err != nil || r.Key != primary {
		t.Errorf("RecordBySignInName(member's name) = %v, %v; want the primary's record", r, err)
	}
	cred, err := e.store.Credential(ctx, primary)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Kind != idshift.CredentialHash || len(cred.Alternates) != 1 || cred.Alternates[0].Key() != member ||
		cred.Alternates[0].Kind != idshift.CredentialHash || bcrypt.CompareHashAndPassword([]byte(cred.Alternates[0].Hash), []byte("forum-secret-2")) != nil {
		t.Errorf("primary's credential %v: want its own hash and the member's as an alternate", cred)
	}
	if _, err := e.store.Credential(ctx, member); idshift.ErrorCode(err) != idshift.ENOTFOUND {
		t.Errorf("member's own credential: %v; want none (it is the primary's alternate)", err)
	}

	// A rerun sends nothing and counts the same.
	before := e.srv.Tenant.Stats().Writes
	sum, rejects, _ = e.runSources(t, shopAndForum(t), annMerge, nil)
	if sum.Read != 4 || sum.Skipped != 3 || sum.Merged != 1 || sum.Created != 0 || len(rejects) != 0 {
		t.Fatalf("rerun summary %+v, rejects %v", sum, rejects)
	}
	if w := e.srv.Tenant.Stats().Writes; w != before {
		t.Errorf("rerun wrote %d times", w-before)
	}
	counts, err := e.store.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[idshift.StateCreated] != 3 || counts[idshift.StateMerged] != 1 {
		t.Errorf("store counts %v", counts)
	}

	// The plan no longer accepts the merge: the member is rejected (its identities are the merged account's), and
	// the merged account is never patched down, even with --update.
	// (The member's email changed too, so that it is not rejected earlier as a duplicate of the primary's.)
	files := shopAndForum(t)
	files[1][1] = strings.Replace(files[1][1], "ANN@example.com", "ann.other@example.com", 1)
	sum, rejects, _ = e.runSources(t, files, nil, func(c *importer.Config) { c.Update = true })
	if sum.Rejected != 1 || sum.Skipped != 3 || sum.Updated != 0 || len(rejects) != 1 || rejects[0].LegacyID != "f2" || rejects[0].Field != "merge" ||
		!strings.Contains(rejects[0].Reason, "merged into shop/s1 by an earlier run") {
		t.Fatalf("run without the merge: summary %+v, rejects %+v", sum, rejects)
	}
	if w := e.srv.Tenant.Stats().Writes; w != before {
		t.Errorf("run without the merge wrote %d times", w-before)
	}
}

func TestMergeHeldUntilComplete(t *testing.T) {
	// The member comes first (in the first source), the primary last: the group is held, then planned once.
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	files := shopAndForum(t)
	files[0], files[1] = files[1], files[0]
	sum, rejects, _ := e.runSources(t, files, annMerge, nil)
	if sum.Read != 4 || sum.Created != 3 || sum.Merged != 1 || len(rejects) != 0 {
		t.Fatalf("summary %+v, rejects %v", sum, rejects)
	}
	if users := e.tenantByLegacyID(t); len(users["s1"]) != 1 || len(users["f2"]) != 0 {
		t.Fatalf("tenant %v", users)
	}
}

func TestMergeIncompleteGroups(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	merges := []importer.Merge{
		// The member forum/f9 is in no source: merged with what was read, reported.
		{Primary: idshift.Key{Source: "shop", LegacyID: "s1"}, Members: []idshift.Key{{Source: "forum", LegacyID: "f2"}, {Source: "forum", LegacyID: "f9"}}},
		// The primary shop/s9 is in no source: nothing is created under another key; the member read is rejected.
		{Primary: idshift.Key{Source: "shop", LegacyID: "s9"}, Members: []idshift.Key{{Source: "forum", LegacyID: "f1"}}},
	}
	sum, rejects, _ := e.runSources(t, shopAndForum(t), merges, nil)
	if sum.Read != 4 || sum.Created != 2 || sum.Merged != 1 || sum.MergesIncomplete != 1 || sum.Rejected != 1 {
		t.Fatalf("summary %+v", sum)
	}
	if len(rejects) != 1 || rejects[0].LegacyID != "f1" || rejects[0].Field != "merge" || !strings.Contains(rejects[0].Reason, "shop/s9 was not read") {
		t.Fatalf("rejects %+v", rejects)
	}
	if users := e.tenantByLegacyID(t); len(users) != 2 || len(users["s1"]) != 1 || len(users["s2"]) != 1 {
		t.Fatalf("tenant %v", users)
	}
}

func TestMergeRefusedWhenTheAccountsExistApart(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	files := shopAndForum(t)
	// Without the plan, the forum's ann collides with the shop's (same email): the shop's is created, the
	// forum's rejected as a duplicate. Import the forum's another way: give it its own email first.
	files[1][1] = strings.Replace(files[1][1], "ANN@example.com", "ann.forum@example.com", 1)
	sum, _, _ := e.runSources(t, files, nil, nil)
	if sum.Created != 4 {
		t.Fatalf("first run %+v", sum)
	}
	before := e.srv.Tenant.Stats().Writes
	// Now the merge is accepted, and a new user appears: the merge is refused, the rest goes on.
	files[0][1] += "s3,dora@example.com,,Dora,,,,,,\n"
	sum, rejects, _ := e.runSources(t, files, annMerge, nil)
	if sum.MergesRefused != 1 || sum.Merged != 0 || sum.Created != 1 || sum.Skipped != 4 || len(rejects) != 0 {
		t.Fatalf("summary %+v, rejects %+v", sum, rejects)
	}
	if w := e.srv.Tenant.Stats().Writes; w != before+1 {
		t.Errorf("run wrote %d times, want 1 (the new user)", w-before)
	}
	// A member not yet in the tenant is rejected with the reason, naming the merge and what to do.
	e2 := newEnv(t, sandbox.Config{DisableThrottling: true})
	e2.runSources(t, files[:1], nil, nil) // the shop alone: s1 exists without its member
	sum, rejects, _ = e2.runSources(t, files, annMerge, nil)
	if sum.MergesRefused != 1 || len(rejects) != 1 || rejects[0].LegacyID != "f2" ||
		!strings.Contains(rejects[0].Reason, "merge of shop/s1 with forum/f2 refused: shop/s1 was already imported without forum/f2") ||
		!strings.Contains(rejects[0].Reason, `"accept" to false`) {
		t.Fatalf("summary %+v, rejects %+v", sum, rejects)
	}
	if users := e2.tenantByLegacyID(t); len(users["f2"]) != 0 {
		t.Errorf("the member of a refused merge was created")
	}
}

func TestMergeDryRunShowsMerges(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	sum, _, out := e.runSources(t, shopAndForum(t), annMerge, func(c *importer.Config) { c.DryRun = true; c.Store = nil; c.Directory = nil })
	if sum.Created != 3 || sum.Merged != 1 {
		t.Fatalf("summary %+v", sum)
	}
	if !strings.Contains(out, `"action":"merge"`) || !strings.Contains(out, `"into":"shop/s1"`) || !strings.Contains(out, `"merge":{"members":["forum/f2"]}`) {
		t.Errorf("dry run output does not show the merge:\n%s", out)
	}
	if strings.Contains(out, "$2a$") || strings.Contains(out, "secret") {
		t.Errorf("dry run output holds a credential")
	}
	if e.srv.Tenant.UserCount() != 0 {
		t.Errorf("dry run created users")
	}
}

func TestMergeOverIdentityLimitRejectsTheGroup(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	files := shopAndForum(t)
	var many []importer.Merge
	// Fifteen forum accounts with their own emails merged into s2: more identities than External ID allows.
	m := importer.Merge{Primary: idshift.Key{Source: "shop", LegacyID: "s2"}}
	for i := range 15 {
		id := "x" + string(rune('a'+i))
		files[1][1] += id + "," + id + "@example.com,,,,,,,,\n"
		m.Members = append(m.Members, idshift.Key{Source: "forum", LegacyID: id})
	}
	many = append(many, m)
	sum, rejects, _ := e.runSources(t, files, many, nil)
	// 16 for the group, and the forum's ann, a duplicate of the shop's without this merge.
	if sum.Rejected != 17 || sum.Read != 19 || sum.Created != 2 {
		t.Fatalf("summary %+v", sum)
	}
	var primaryRejected bool
	for _, r := range rejects {
		if r.LegacyID == "s2" && strings.Contains(r.Reason, "merge of shop/s2") {
			primaryRejected = true
		}
	}
	if !primaryRejected {
		t.Errorf("rejects %+v: want the primary rejected naming the merge", rejects)
	}
}

func TestMergeUpdateRewritesTheAlternates(t *testing.T) {
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	ctx := context.Background()
	files := shopAndForum(t)
	if sum, _, _ := e.runSources(t, files, annMerge, nil); sum.Created != 3 {
		t.Fatalf("first run %+v", sum)
	}
	// The member's legacy password changed in the forum before the cutover.
	lines := strings.Split(files[1][1], "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "f2,") {
			f := strings.Split(l, ",")
			f[7] = bcryptOf(t, "forum-secret-NEW")
			lines[i] = strings.Join(f, ",")
		}
	}
	files[1][1] = strings.Join(lines, "\n")
	sum, rejects, _ := e.runSources(t, files, annMerge, func(c *importer.Config) { c.Update = true })
	if sum.Updated != 1 || sum.Skipped != 2 || sum.Merged != 1 || len(rejects) != 0 {
		t.Fatalf("update run %+v, rejects %v", sum, rejects)
	}
	cred, err := e.store.Credential(ctx, idshift.Key{Source: "shop", LegacyID: "s1"})
	if err != nil || len(cred.Alternates) != 1 || bcrypt.CompareHashAndPassword([]byte(cred.Alternates[0].Hash), []byte("forum-secret-NEW")) != nil {
		t.Errorf("credential after the update: %v, %v; want the member's new hash as the alternate", cred, err)
	}
}

func TestMergeMemberUnreadLaterKeepsTheAccount(t *testing.T) {
	// A member merged by a first run is unreadable in a second one: the merged account is neither patched down nor
	// stripped of the member's credential, even with --update.
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	ctx := context.Background()
	files := shopAndForum(t)
	if sum, _, _ := e.runSources(t, files, annMerge, nil); sum.Created != 3 {
		t.Fatalf("first run %+v", sum)
	}
	writes := e.srv.Tenant.Stats().Writes
	files[1][1] = strings.Replace(files[1][1], "f2,ANN@example.com", "f2,,,ANN@example.com", 1) // a row with too many fields
	sum, rejects, _ := e.runSources(t, files, annMerge, func(c *importer.Config) { c.Update = true })
	if sum.Rejected != 1 || sum.MergesIncomplete != 1 || sum.Updated != 0 || sum.Skipped != 3 || len(rejects) != 1 {
		t.Fatalf("second run %+v, rejects %v", sum, rejects)
	}
	if w := e.srv.Tenant.Stats().Writes; w != writes {
		t.Errorf("the second run wrote %d times", w-writes)
	}
	cred, err := e.store.Credential(ctx, idshift.Key{Source: "shop", LegacyID: "s1"})
	if err != nil || len(cred.Alternates) != 1 {
		t.Errorf("credential after the second run: %v, %v; want the member's still there", cred, err)
	}
}

func TestMergeMemberDroppedFromThePlan(t *testing.T) {
	// A member is taken out of a merge an earlier run followed: it is rejected (the account holds it), and the
	// merged account is not patched down, even with --update.
	e := newEnv(t, sandbox.Config{DisableThrottling: true})
	ctx := context.Background()
	files := shopAndForum(t)
	both := []importer.Merge{{Primary: idshift.Key{Source: "shop", LegacyID: "s1"},
		Members: []idshift.Key{{Source: "forum", LegacyID: "f2"}, {Source: "forum", LegacyID: "f1"}}}}
	if sum, _, _ := e.runSources(t, files, both, nil); sum.Created != 2 || sum.Merged != 2 {
		t.Fatalf("first run %+v", sum)
	}
	writes := e.srv.Tenant.Stats().Writes
	sum, rejects, _ := e.runSources(t, files, annMerge, func(c *importer.Config) { c.Update = true })
	if sum.Updated != 0 || sum.Skipped != 2 || sum.Merged != 1 || sum.Rejected != 1 || len(rejects) != 1 || rejects[0].LegacyID != "f1" ||
		!strings.Contains(rejects[0].Reason, "merged into shop/s1 by an earlier run") {
		t.Fatalf("second run %+v, rejects %+v", sum, rejects)
	}
	if w := e.srv.Tenant.Stats().Writes; w != writes {
		t.Errorf("the second run wrote %d times", w-writes)
	}
	if cred, err := e.store.Credential(ctx, idshift.Key{Source: "shop", LegacyID: "s1"}); err != nil || len(cred.Alternates) != 2 {
		t.Errorf("credential after the second run: %v, %v; want both members' still", cred, err)
	}
}
