package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idshift/idshift/report"
	"github.com/idshift/idshift/sandbox"
)

func TestReportAgainstSandbox(t *testing.T) {
	e := newEndgame(t)
	e.migrateSilently(t, e.accounts[2])
	jsonPath, htmlPath := filepath.Join(e.dir, "status.json"), filepath.Join(e.dir, "status.html")

	code, _, stderr := e.run(t, "report", "--json", jsonPath, "--html", htmlPath)
	if code != 0 {
		t.Fatalf("report: exit %d\n%s", code, stderr)
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var st report.Status
	if err := json.Unmarshal(raw, &st); err != nil || st.Tenant == nil {
		t.Fatalf("report JSON %s: %v", raw, err)
	}
	if tf := st.Tenant; tf.MigratedByService != 2 || tf.MigratedInTenant != 1 || tf.ToReset != e.sum.ToReset || !tf.Reconciles() {
		t.Errorf("tenant figures %+v", *tf)
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{jsonPath, htmlPath} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", p, fi.Mode(), err)
		}
	}
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = true
	var svg, tables int
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the page is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "svg":
				svg++
			case "table":
				tables++
			}
		}
	}
	if svg != 1 || tables < 3 {
		t.Errorf("%d charts and %d tables in the page", svg, tables)
	}
	text := string(page)
	for _, h := range st.Headline() {
		// A headline figure is printed as its number followed by its label.
		if want := ">" + itoa(h.N) + "</span>" + h.Label; !strings.Contains(text, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, p := range st.Progress() {
		if !strings.Contains(text, "<td>"+p.Day+"</td>") {
			t.Errorf("the page lacks the day %s", p.Day)
		}
	}
	for _, secret := range []string{sandbox.DefaultClientSecret, "$2", "{SSHA", "pbkdf2"} {
		if strings.Contains(text, secret) || strings.Contains(string(raw), secret) {
			t.Errorf("the report holds %q", secret)
		}
	}
	for _, a := range e.accounts {
		if strings.Contains(text, a.password) || strings.Contains(string(raw), a.password) {
			t.Errorf("the report holds %s's password", a.legacyID)
		}
	}

	// Offline, the page to standard output.
	code, stdout, stderr := e.run(t, "report", "--offline", "--html", "-")
	if code != 0 || !strings.Contains(stdout, "Offline: the store only") || !strings.Contains(stdout, "<svg") {
		t.Errorf("report --offline --html -: exit %d\n%s\n%s", code, stderr, stdout)
	}
	if code, _, stderr := e.run(t, "report"); code != exitUsage || !strings.Contains(stderr, "nothing to write") {
		t.Errorf("report without an output: exit %d, %s", code, stderr)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
