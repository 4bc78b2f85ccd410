package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift/cleanup"
	"github.com/idshift/idshift/mergeplan"
)

// TestAuditExampleUsers checks the audit of examples/users.csv against figures computed apart: the record count from
// the file's lines, and the password figures from `hashes lint`.
func TestAuditExampleUsers(t *testing.T) {
	src := filepath.Join("..", "..", "examples", "users.csv")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	records := int64(strings.Count(strings.TrimRight(string(b), "\n"), "\n")) // lines less the header
	code, stdout, stderr := run(t, nil, "audit", "--source", src, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep cleanup.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	o := rep.Outcomes
	if rep.Sources[0].Read != records || o.Users+o.Unreadable != records || o.Valid+o.Rejected != o.Users {
		t.Errorf("read %d of %d records: %+v", rep.Sources[0].Read, records, o)
	}
	code, stdout, stderr = run(t, nil, "hashes", "lint", "--source", src, "--json")
	if code > 1 || stdout == "" { // 1: the file has unreadable rows
		t.Fatalf("lint exit %d: %s", code, stderr)
	}
	var lint lintReport
	if err := json.Unmarshal([]byte(stdout), &lint); err != nil {
		t.Fatal(err)
	}
	var usable int64
	for _, n := range lint.Formats {
		usable += n
	}
	pw := rep.Passwords
	if pw.Usable != usable || pw.NeedReset != lint.NoHash.Count || pw.OverLimit != lint.OverLimit.Count || pw.Unknown != lint.Unknown.Count {
		t.Errorf("passwords %+v; hashes lint: usable %d, no hash %d", pw, usable, lint.NoHash.Count)
	}
	for _, f := range pw.Formats {
		if lint.Formats[f.Name] != f.Count {
			t.Errorf("format %s: audit %d, lint %d", f.Name, f.Count, lint.Formats[f.Name])
		}
	}
}

// TestAuditTwoSources audits a generated source and a second one given after the flags, which share ten emails
// verified on both sides or not, checks every figure the generator knows, the HTML page, the plan of merges (read
// back with mergeplan.Read), and that nothing but the page and the plan was written.
func TestAuditTwoSources(t *testing.T) {
	dir, scratch := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", scratch)
	const header = "legacy_id,email,username,display_name,given_name,surname,phone,password_hash,last_sign_in,created,email_verified\n"
	lastYear := time.Now().AddDate(-1, 0, 0).UTC().Format(time.RFC3339)
	old := time.Now().AddDate(-5, 0, 0).UTC().Format(time.RFC3339)
	var a strings.Builder
	a.WriteString(header)
	wantNever, wantOld, wantCards := 0, 0, 0
	const n = 40
	for i := range n {
		last := lastYear
		switch {
		case i%5 == 0:
			last, wantNever = "", wantNever+1
		case i%7 == 0:
			last, wantOld = old, wantOld+1
		}
		phone := ""
		if i%10 == 3 {
			phone, wantCards = "4111-1111-1111-1111", wantCards+1
		}
		fmt.Fprintf(&a, "a%d,user%d@example.com,,User %d,,,%s,$2b$10$y2Lt5R/PjpNSCgpM6/uNTull/VLdy7T0.8AhRALUeQ7w/odh4asem,%s,2020-01-01,%t\n", i, i, i, phone, last, i%2 == 0)
	}
	var b strings.Builder
	b.WriteString(header)
	// user0..user9 also in b, verified for 0 to 5 and not saying for the others: the emails verified on both sides
	// (0, 2, 4) are three merges, guarded by the hash-less side; seven are not proposed.
	for i := range 10 {
		verified := ""
		if i < 6 {
			verified = "yes"
		}
		fmt.Fprintf(&b, "b%d,USER%d@example.com,,B %d,,,,,%s,2021-01-01,%s\n", i, i, i, lastYear, verified)
	}
	pa, pb := filepath.Join(dir, "shop.csv"), filepath.Join(dir, "forum.csv")
	for p, s := range map[string]string{pa: a.String(), pb: b.String()} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	page, plan := filepath.Join(dir, "audit.html"), filepath.Join(dir, "plan.json")
	code, stdout, stderr := run(t, nil, "audit", "--source", pa, "--source-name", "shop", "--stale-after", "730d", "--apps", "3", "--html", page, "--plan", plan, "--accept", "all", "--json", "file:"+pb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep cleanup.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Sources) != 2 || rep.Sources[0].Name != "shop" || rep.Sources[1].Name != "forum" || rep.Outcomes.Valid != n+10 {
		t.Errorf("sources %+v, outcomes %+v", rep.Sources, rep.Outcomes)
	}
	if st := rep.Stale; st.NeverSignedIn.Count != int64(wantNever) || st.LastSignInOld.Count != int64(wantOld) {
		t.Errorf("stale %+v, want never %d, old %d", st, wantNever, wantOld)
	}
	d := rep.Duplicates
	if d.Rule != "verified-email" || d.Proposed != 3 || d.AcrossSources != 3 || d.WithinSource != 0 || d.ByWeakest["no credential"] != 3 ||
		len(d.NotProposed) != 1 || d.NotProposed[0].Count != 7 || !strings.Contains(d.NotProposed[0].Reason, "not verified") {
		t.Errorf("duplicates %+v", d)
	}
	p, err := mergeplan.Read(plan)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rule != "verified-email" || len(p.Sources) != 2 || p.Sources[0] != "shop" || p.Sources[1] != "forum" || len(p.Merges) != 3 {
		t.Fatalf("plan %+v", p)
	}
	for i, m := range p.Merges {
		want := 2 * i // user0, user2, user4
		if !m.Accept || m.Primary.Source != "shop" || m.Primary.LegacyID != fmt.Sprintf("a%d", want) || m.Primary.Line != int64(want+2) ||
			len(m.Members) != 1 || m.Members[0].Source != "forum" || m.Members[0].LegacyID != fmt.Sprintf("b%d", want) ||
			m.GuardedBy != "none" || m.Primary.Guard != "slow" || !strings.Contains(m.Evidence, "verified on every side") || strings.Contains(m.Evidence, "user") {
			t.Errorf("merge %d: %+v", i, m)
		}
	}
	if len(rep.Sensitive) != 1 || rep.Sensitive[0].Attribute != "phone" || rep.Sensitive[0].Count != int64(wantCards) {
		t.Errorf("sensitive %+v, want %d cards in phone", rep.Sensitive, wantCards)
	}
	if strings.Contains(stdout, "4111") && !strings.Contains(stdout, "************1111") {
		t.Error("a card number is shown unmasked")
	}
	if d := rep.Duration; d.Creates != n+10-3 || d.Apps != 3 || d.WritesPerSecond != 60 {
		t.Errorf("duration %+v", d)
	}
	if rep.Passwords.NeedReset != 10 || rep.Passwords.Usable != n {
		t.Errorf("passwords %+v", rep.Passwords)
	}

	f, err := os.Open(page)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	dec.Strict = true
	var tables, svgs int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("audit.html not well-formed: %v", err)
		}
		if s, ok := tok.(xml.StartElement); ok {
			switch s.Name.Local {
			case "table":
				tables++
			case "svg":
				svgs++
			}
		}
	}
	if tables < 6 || svgs != 3 {
		t.Errorf("audit.html has %d tables and %d charts", tables, svgs)
	}

	// Nothing else written: the directory holds the sources, the page and the plan, the scratch index is gone, and
	// no state file was created here.
	for d, want := range map[string]int{dir: 4, scratch: 0} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != want {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("%s holds %v, want %d entries", d, names, want)
		}
	}
	if _, err := os.Stat("idshift-state.db"); err == nil {
		t.Error("audit created a state file")
	}

	// A plan is never overwritten.
	code, _, stderr = run(t, nil, "audit", "--source", pa, "--plan", plan, "file:"+pb)
	if code != 2 || !strings.Contains(stderr, "exists") {
		t.Errorf("over an existing plan: exit %d, %s", code, stderr)
	}
	// The forum trusted: every shared email verified in the shop merges (0, 2, 4, 6, 8); accepted only when guarded
	// by a slow hash, which none is.
	plan2 := filepath.Join(dir, "plan2.json")
	code, _, stderr = run(t, nil, "audit", "--source", pa, "--trust-email", "forum", "--plan", plan2, "--accept", "slow", "file:"+pb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if p, err := mergeplan.Read(plan2); err != nil || len(p.Merges) != 5 || p.Merges[4].Members[0].LegacyID != "b8" || p.Merges[0].Accept {
		t.Errorf("trusted forum: plan %+v, %v", p, err)
	}
	// The email rule follows the unverified emails too.
	code, stdout, stderr = run(t, nil, "audit", "--source", pa, "--merge-rule", "email", "--json", "file:"+pb)
	var all cleanup.Report
	if code != 0 || json.Unmarshal([]byte(stdout), &all) != nil || all.Duplicates.Proposed != 10 || len(all.Duplicates.NotProposed) != 0 {
		t.Errorf("email rule: exit %d, duplicates %+v, %s", code, all.Duplicates, stderr)
	}
}

func TestAuditFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"audit"}, 2, "--source is required"},
		{[]string{"audit", "--source", "x.csv", "--stale-after", "soon"}, 2, "--stale-after"},
		{[]string{"audit", "--source", "x.csv", "--apps", "0"}, 2, "--apps"},
		{[]string{"audit", "--source", "x.csv", "--merge-rule", "phone"}, 2, "--merge-rule"},
		{[]string{"audit", "--source", "x.csv", "--accept", "some"}, 2, "--accept"},
		{[]string{"audit", "--source", filepath.Join(t.TempDir(), "missing.csv")}, 1, "missing.csv"},
	} {
		code, _, stderr := run(t, nil, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, stderr)
		}
	}
	for in, want := range map[string]time.Duration{"2y": 730 * 24 * time.Hour, "540d": 540 * 24 * time.Hour, "8760h": 8760 * time.Hour} {
		if got, err := parseAge(in); err != nil || got != want {
			t.Errorf("parseAge(%q) = %v, %v", in, got, err)
		}
	}
}
