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

// TestAuditTwoSources audits a generated source and a second one given after the flags, checks every figure the
// generator knows, the HTML page, and that nothing but the page was written.
func TestAuditTwoSources(t *testing.T) {
	dir, scratch := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", scratch)
	const header = "legacy_id,email,username,display_name,given_name,surname,phone,password_hash,last_sign_in,created\n"
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
		fmt.Fprintf(&a, "a%d,user%d@example.com,,User %d,,,%s,$2b$10$y2Lt5R/PjpNSCgpM6/uNTull/VLdy7T0.8AhRALUeQ7w/odh4asem,%s,2020-01-01\n", i, i, i, phone, last)
	}
	var b strings.Builder
	b.WriteString(header)
	for i := range 10 { // user0..user9 also in b: ten merges across sources, guarded by the hash-less side
		fmt.Fprintf(&b, "b%d,USER%d@example.com,,B %d,,,,,%s,2021-01-01\n", i, i, i, lastYear)
	}
	pa, pb := filepath.Join(dir, "shop.csv"), filepath.Join(dir, "forum.csv")
	for p, s := range map[string]string{pa: a.String(), pb: b.String()} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	page := filepath.Join(dir, "audit.html")
	code, stdout, stderr := run(t, nil, "audit", "--source", pa, "--stale-after", "730d", "--apps", "3", "--html", page, "--json", "file:"+pb)
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
	if d := rep.Duplicates; d.AcrossSources != 10 || d.WithinSource != 0 || d.ByWeakest["no credential"] != 10 {
		t.Errorf("duplicates %+v", d)
	}
	if len(rep.Sensitive) != 1 || rep.Sensitive[0].Attribute != "phone" || rep.Sensitive[0].Count != int64(wantCards) {
		t.Errorf("sensitive %+v, want %d cards in phone", rep.Sensitive, wantCards)
	}
	if strings.Contains(stdout, "4111") && !strings.Contains(stdout, "************1111") {
		t.Error("a card number is shown unmasked")
	}
	if d := rep.Duration; d.Creates != n || d.Apps != 3 || d.WritesPerSecond != 60 {
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

	// Nothing else written: the directory holds the sources and the page, the scratch index is gone, and no state
	// file was created here.
	for d, want := range map[string]int{dir: 3, scratch: 0} {
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
