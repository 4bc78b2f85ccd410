package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/report"
	"github.com/idshift/idshift/sandbox"
)

// staleHash is a legacy bcrypt hash of the example file: every test user has it, so every one is flagged.
const staleHash = "$2y$10$32/R9MQFI1jhGhl4N1j0JuGAqYQvRGKHBqY2w/8xI5bUD1x5/B6qC"

// staleTenant is a sandbox tenant after the import of users whose legacy activity makes some stale:
//
//	fresh  signed in yesterday                      never stale
//	old    last sign-in in 2015                     stale (too old)
//	off    signed in yesterday, disabled            stale (disabled)
//	never  no last sign-in                          stale with --stale-never-signed-in only
//	moved  last sign-in in 2015, migrated since     untouched: the tenant cleared its flag
//	other  last sign-in in 2015, legacy id changed  untouched: not ours
//	gone   last sign-in in 2014                     (delete) deleted by an interrupted cutover, not recorded
type staleTenant struct {
	srv        *sandbox.Server
	cfg        *Config
	pool       *graph.Pool
	args       []string
	flagAttr   string
	legacyAttr string
	ids        map[string]string // object id by legacy id
}

func newStaleTenant(t *testing.T) *staleTenant {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	recent := time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)
	var b strings.Builder
	b.WriteString("legacy_id,email,password_hash,last_sign_in,disabled\n")
	for _, row := range [][3]string{
		{"fresh", recent, ""}, {"old", "2015-03-01T10:00:00Z", ""}, {"off", recent, "true"}, {"never", "", ""},
		{"moved", "2015-01-01T00:00:00Z", ""}, {"other", "2015-01-01T00:00:00Z", ""}, {"gone", "2014-01-01T00:00:00Z", ""},
	} {
		fmt.Fprintf(&b, "%s,%s@example.com,%s,%s,%s\n", row[0], row[0], staleHash, row[1], row[2])
	}
	csv := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := sandbox.Start(sandbox.Config{DisableThrottling: true}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ca := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	mapping := filepath.Join(dir, "mapping.yaml")
	if err := os.WriteFile(mapping, []byte("legacy_id: legacy_id\nmail: email\nlast_sign_in: last_sign_in\ndisabled: disabled\n"+
		"password_hash: password_hash\nidentities:\n  - sign_in_type: emailAddress\n    column: email\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Source.Path, cfg.Source.Name, cfg.Source.Mapping = csv, "shop", mapping
	cfg.Store = filepath.Join(dir, "state.db")
	cfg.Import.Rejects = filepath.Join(dir, "rejects.jsonl")
	cfg.Tenant.Domain, cfg.Tenant.TenantID = srv.Tenant.Domain(), srv.Tenant.TenantID()
	cfg.Tenant.GraphURL, cfg.Tenant.AuthorityHost, cfg.Tenant.CAFile = srv.URL, srv.AuthorityHost, ca
	cfg.Tenant.Apps = []AppConfig{{ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret}}
	env := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	logger := slog.New(slog.DiscardHandler)
	if code, err := importWith(ctx, env, cfg, importOptions{setupExtensions: true, quiet: true, json: true}, logger); err != nil || code != exitComplete {
		t.Fatalf("import: %d, %v", code, err)
	}
	pool, err := openDirectory(ctx, cfg, env, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := &staleTenant{srv: srv, cfg: cfg, pool: pool, ids: map[string]string{},
		flagAttr:   graph.ExtensionName(srv.Tenant.ExtensionsAppID(), cfg.Import.MigrationAttribute),
		legacyAttr: graph.ExtensionName(srv.Tenant.ExtensionsAppID(), cfg.Import.LegacyIDAttribute),
		args: []string{"--store", cfg.Store, "--domain", cfg.Tenant.Domain, "--tenant-id", cfg.Tenant.TenantID,
			"--graph-url", srv.URL, "--authority-host", srv.AuthorityHost, "--ca-file", ca,
			"--client-id", sandbox.DefaultClientID, "--client-secret", sandbox.DefaultClientSecret}}
	for id, r := range h.records(t) {
		h.ids[id] = r.ObjectID
	}
	if len(h.ids) != 7 {
		t.Fatalf("the import recorded %d users", len(h.ids))
	}
	// "moved" migrated since (the tenant cleared its flag); "other" holds another legacy id.
	if err := pool.UpdateUser(ctx, h.ids["moved"], map[string]any{h.flagAttr: false}); err != nil {
		t.Fatal(err)
	}
	if err := pool.UpdateUser(ctx, h.ids["other"], map[string]any{h.legacyAttr: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *staleTenant) records(t *testing.T) map[string]*idshift.Record { return storeRecords(t, h.cfg) }

// tenantUsers returns the tenant's users by object id.
func (h *staleTenant) tenantUsers() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, u := range h.srv.Tenant.Users() {
		out[u["id"].(string)] = u
	}
	return out
}

func (h *staleTenant) cutover(t *testing.T, args ...string) (int, string) {
	t.Helper()
	code, stdout, stderr := run(t, nil, append(append([]string{"cutover"}, args...), h.args...)...)
	out := stdout + stderr
	if strings.Contains(out, staleHash) || strings.Contains(out, "$2y$") {
		t.Errorf("the output holds a legacy hash")
	}
	for _, id := range []string{"old", "off", "never", "gone"} {
		if strings.Contains(out, id+"@example.com") {
			t.Errorf("the output shows %s's sign-in name unmasked", id)
		}
	}
	return code, out
}

// TestCutoverStaleImportRecordsActivity: the import records each user's legacy last sign-in and disabled flag.
func TestCutoverStaleImportRecordsActivity(t *testing.T) {
	h := newStaleTenant(t)
	recs := h.records(t)
	if r := recs["old"]; !r.LegacyLastSignIn.Equal(time.Date(2015, 3, 1, 10, 0, 0, 0, time.UTC)) || r.LegacyDisabled {
		t.Errorf("old: %v %v", r.LegacyLastSignIn, r.LegacyDisabled)
	}
	if r := recs["off"]; r.LegacyLastSignIn.IsZero() || !r.LegacyDisabled {
		t.Errorf("off: %v %v", r.LegacyLastSignIn, r.LegacyDisabled)
	}
	if r := recs["never"]; !r.LegacyLastSignIn.IsZero() || r.LegacyDisabled {
		t.Errorf("never: %v %v", r.LegacyLastSignIn, r.LegacyDisabled)
	}
}

// TestCutoverStaleDisable: the dry run counts and shows the stale unmigrated accounts and changes nothing;
// --confirm disables exactly them (fresh, migrated and someone else's accounts untouched) and records it; a rerun
// does nothing more.
func TestCutoverStaleDisable(t *testing.T) {
	h := newStaleTenant(t)
	tn := h.srv.Tenant
	writes := tn.Stats().Writes
	before := h.records(t)

	code, out := h.cutover(t, "--dry-run", "--stale-after", "2y", "--stale-action", "disable")
	if code != exitComplete {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	// old, off and gone (last sign-in 2014) are stale; never is not without --stale-never-signed-in.
	for _, want := range []string{"3 unmigrated accounts: 1 disabled, 0 never signed in, 2 last sign-in too old",
		"would be disabled (PATCH accountEnabled=false): 3", "PATCH /v1.0/users/" + h.ids["old"], "PATCH /v1.0/users/" + h.ids["off"],
		"o***@example.com", "not ours, kept: " + h.ids["other"], "3 stale accounts would be disabled, 0 failed, 0 left"} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, out)
		}
	}
	for _, id := range []string{"fresh", "never", "moved"} {
		if strings.Contains(out, h.ids[id]) {
			t.Errorf("the dry run mentions %s", id)
		}
	}
	if tn.Stats().Writes != writes {
		t.Fatalf("the dry run wrote to the tenant")
	}
	for id, r := range h.records(t) {
		if r.State != before[id].State {
			t.Fatalf("the dry run changed the record of %s", id)
		}
	}

	export := filepath.Join(t.TempDir(), "unmigrated.jsonl")
	code, out = h.cutover(t, "--confirm", "--stale-after", "2y", "--stale-action", "disable", "--export-unmigrated", export)
	if code != exitComplete || !strings.Contains(out, "3 stale accounts disabled, 0 failed, 0 left") ||
		!strings.Contains(out, "3 stale unmigrated accounts disabled in the tenant") {
		t.Fatalf("confirm: exit %d\n%s", code, out)
	}
	users := h.tenantUsers()
	for id, oid := range h.ids {
		u := users[oid]
		stale := id == "old" || id == "off" || id == "gone"
		if u == nil || u["accountEnabled"] != !stale {
			t.Errorf("%s: accountEnabled %v, stale %v", id, u["accountEnabled"], stale)
		}
	}
	after := h.records(t)
	for id, r := range after {
		want := before[id].State
		if id == "old" || id == "off" || id == "gone" {
			want = idshift.StateDisabled
			if !strings.HasPrefix(r.LastError, "disabled at cutover ") || r.ObjectID != h.ids[id] {
				t.Errorf("%s: %+v", id, r)
			}
		}
		if r.State != want {
			t.Errorf("%s: state %s, want %s", id, r.State, want)
		}
	}
	// The export says which are stale: the flagged ones (moved is migrated), old and gone too old, off disabled.
	lines := readExport(t, export)
	if len(lines) != 6 || lines["old"] != "last sign-in too old" || lines["off"] != "disabled" || lines["gone"] != "last sign-in too old" ||
		lines["fresh"] != "" || lines["never"] != "" || lines["other"] != "" {
		t.Errorf("export: %v", lines)
	}

	// The rerun does nothing more.
	writes = tn.Stats().Writes
	code, out = h.cutover(t, "--confirm", "--stale-after", "2y", "--stale-action", "disable")
	if code != exitComplete || !strings.Contains(out, "0 unmigrated accounts") || tn.Stats().Writes != writes {
		t.Fatalf("rerun: exit %d, %d writes\n%s", code, tn.Stats().Writes-writes, out)
	}
}

// readExport returns the export's stale field by legacy id (someone else's account by its tenant legacy id).
func readExport(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct{ LegacyID, Stale string }
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		id := l.LegacyID
		if id == "someone-else" {
			id = "other"
		}
		out[id] = l.Stale
	}
	return out
}

// TestCutoverStaleDelete: --confirm deletes and purges the stale unmigrated accounts (never signed in too, with
// --stale-never-signed-in), finishes the account an interrupted run deleted without recording it, leaves the rest
// alone, and a rerun does nothing more.
func TestCutoverStaleDelete(t *testing.T) {
	ctx := context.Background()
	h := newStaleTenant(t)
	tn := h.srv.Tenant
	// An interrupted cutover deleted "gone" and stopped before recording it.
	if err := h.pool.DeleteUser(ctx, h.ids["gone"]); err != nil {
		t.Fatal(err)
	}
	writes := tn.Stats().Writes
	flags := []string{"--stale-after", "2y", "--stale-never-signed-in", "--stale-action", "delete", "--stale-purge"}

	code, out := h.cutover(t, append([]string{"--dry-run"}, flags...)...)
	if code != exitComplete || tn.Stats().Writes != writes || len(tn.DeletedUsers()) != 1 {
		t.Fatalf("dry run: exit %d, %d writes, %d deleted\n%s", code, tn.Stats().Writes-writes, len(tn.DeletedUsers()), out)
	}
	for _, want := range []string{"3 unmigrated accounts: 1 disabled, 1 never signed in, 1 last sign-in too old",
		"DELETE /v1.0/users/" + h.ids["never"], "DELETE /v1.0/directory/deletedItems/" + h.ids["gone"],
		"deleted by an earlier cutover, would be recorded: " + h.ids["gone"]} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, out)
		}
	}

	code, out = h.cutover(t, append([]string{"--confirm"}, flags...)...)
	if code != exitComplete || !strings.Contains(out, "3 stale accounts deleted, 0 failed, 0 left (stale = deleted + failed + left); 4 purged, 0 not yet purged, 1 deleted by an earlier run") {
		t.Fatalf("confirm: exit %d\n%s", code, out)
	}
	users := h.tenantUsers()
	recs := h.records(t)
	for id, oid := range h.ids {
		stale := id == "old" || id == "off" || id == "never" || id == "gone"
		if _, ok := users[oid]; ok == stale {
			t.Errorf("%s: in the tenant %v, stale %v", id, ok, stale)
		}
		r := recs[id]
		switch {
		case stale && (r.State != idshift.StateDeleted || r.ObjectID != "" || !strings.HasSuffix(r.LastError, "; purged")):
			t.Errorf("%s: record %+v", id, r)
		case !stale && r.State != idshift.StateCreated:
			t.Errorf("%s: state %s", id, r.State)
		}
	}
	if d := tn.DeletedUsers(); len(d) != 0 {
		t.Errorf("the deleted items hold %d users", len(d))
	}

	// The rerun does nothing more.
	writes = tn.Stats().Writes
	code, out = h.cutover(t, append([]string{"--confirm"}, flags...)...)
	if code != exitComplete || !strings.Contains(out, "0 unmigrated accounts") || tn.Stats().Writes != writes {
		t.Fatalf("rerun: exit %d, %d writes\n%s", code, tn.Stats().Writes-writes, out)
	}
}

// cancelAfterFirst is the sandbox's directory, with a first interrupt arriving while the first write is on the
// wire.
type cancelAfterFirst struct {
	staleDirectory
	cancel context.CancelFunc
	writes int
}

func (d *cancelAfterFirst) UpdateUser(ctx context.Context, id string, patch map[string]any) error {
	d.writes++
	d.cancel()
	return d.staleDirectory.UpdateUser(ctx, id, patch)
}

// TestCutoverStaleInterrupted: the first interrupt lets the write on the wire finish and be recorded, starts no
// other, and leaves the rest counted; the next run disables the rest.
func TestCutoverStaleInterrupted(t *testing.T) {
	h := newStaleTenant(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	st, _, err := openEndgameStore(ctx, h.cfg, env.Getenv, logger)
	if err != nil {
		t.Fatal(err)
	}
	lister, err := openTenantLister(ctx, h.cfg, env, logger)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	o := cutoverOptions{confirm: true, stale: staleOptions{after: 2 * 365 * 24 * time.Hour, action: staleDisable, parallel: 1}}
	var out strings.Builder
	s, err := newStaler(ctx, st, lister, o, &errWriter{w: &out})
	if err != nil {
		t.Fatal(err)
	}
	dir := &cancelAfterFirst{staleDirectory: s.dir, cancel: cancel}
	s.dir = dir
	if err := lister.Users(ctx, func(u report.TenantUser) error { s.see(u); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.run(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if dir.writes != 1 || s.sum.Stale != 3 || s.sum.Acted != 1 || s.sum.Left != 2 || s.sum.Failed != 0 {
		t.Fatalf("%d writes, summary %+v\n%s", dir.writes, s.sum, out.String())
	}
	disabled := 0
	for id, r := range h.records(t) {
		if r.State == idshift.StateDisabled {
			disabled++
			if h.tenantUsers()[h.ids[id]]["accountEnabled"] != false {
				t.Errorf("%s recorded disabled, enabled in the tenant", id)
			}
		}
	}
	if disabled != 1 {
		t.Fatalf("%d records disabled, want the one sent", disabled)
	}
	code, text := h.cutover(t, "--confirm", "--stale-after", "2y", "--stale-action", "disable")
	if code != exitComplete || !strings.Contains(text, "2 stale accounts disabled, 0 failed, 0 left") {
		t.Fatalf("the next run: exit %d\n%s", code, text)
	}
}
