package report_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/report"
	"github.com/idshift/idshift/store"
)

// checkXML parses page strictly as XML and returns the text of every element whose id is given, and every
// element name seen.
func checkXML(t *testing.T, page []byte) (byID map[string]string, names map[string]int) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = true
	byID, names = map[string]string{}, map[string]int{}
	type open struct {
		id  string
		buf strings.Builder
	}
	var stack []*open
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the page is not well-formed XML: %v\n%s", err, page)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			names[tk.Name.Local]++
			o := &open{}
			for _, a := range tk.Attr {
				if a.Name.Local == "id" {
					o.id = a.Value
				}
			}
			stack = append(stack, o)
		case xml.CharData:
			for _, o := range stack {
				if o.id != "" {
					o.buf.Write(tk)
					o.buf.WriteByte(' ')
				}
			}
		case xml.EndElement:
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if o.id != "" {
				byID[o.id] = strings.Join(strings.Fields(o.buf.String()), " ")
			}
		}
	}
	if len(stack) != 0 {
		t.Fatalf("%d elements left open", len(stack))
	}
	return byID, names
}

func TestWriteHTML(t *testing.T) {
	const hostile = `<script>alert("x")</script>&amp;`
	st := &report.Status{
		At:            time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC),
		Records:       map[idshift.State]int64{idshift.StateCreated: 40, idshift.StateMigrated: 7, idshift.StateRejected: 3},
		RecordsTotal:  50,
		Credentials:   31,
		MigratedByHow: map[string]int64{"hash": 5, "live:ldap": 2},
		Attempts: []idshift.AttemptCount{
			{Front: "extension", Action: idshift.ActionMigrate, N: 7},
			{Front: "extension", Action: idshift.ActionBlock, Reason: hostile, N: 4},
			{Front: "harvest", Action: idshift.ActionRetry, Reason: "wrong_password", N: 13},
		},
		Days: []store.DayCount{
			{Day: "2026-11-30", Front: "extension", Action: idshift.ActionMigrate, N: 3},
			{Day: "2026-11-30", Front: "extension", Action: idshift.ActionRetry, N: 9},
			{Day: "2026-12-01", Front: "harvest", Action: idshift.ActionBlock, N: 4},
			{Day: "2026-12-02", Front: "extension", Action: idshift.ActionMigrate, N: 4},
		},
		Blocks: 4,
		Tenant: &report.TenantFigures{Listed: 61, Pending: 29, MigratedByService: 7, MigratedInTenant: 11, ToReset: 6,
			RecordedStillFlagged: 1, NotInStore: 2, Others: 5, MissingFromTenant: 17},
	}
	var buf bytes.Buffer
	if err := st.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.Bytes()
	if bytes.Contains(page, []byte("<script")) || !bytes.Contains(page, []byte("&lt;script&gt;")) {
		t.Errorf("the attempt reason was not escaped")
	}
	for _, ext := range []string{"http://", "https://", "src=", "href=", "@import", "url("} {
		if i := bytes.Index(page, []byte(ext)); i >= 0 && !bytes.Contains(page[max(i-7, 0):i+len(ext)+20], []byte("w3.org/")) {
			t.Errorf("the page refers to an external asset: %q", page[max(i-40, 0):min(i+40, len(page))])
		}
	}
	byID, names := checkXML(t, page)
	for _, n := range []string{"svg", "polyline", "rect", "table"} {
		if names[n] == 0 {
			t.Errorf("no <%s> in the page", n)
		}
	}
	if names["rect"] < 2*3 {
		t.Errorf("%d rects; want two bars for each of the 3 days", names["rect"])
	}
	wantHeadline := []string{"7 migrated by idshift serve", "11 migrated by Entra silently", "30 still to migrate", "6 to reset", "4 blocked"}
	for _, w := range wantHeadline {
		if !strings.Contains(byID["headline"], w) {
			t.Errorf("headline %q lacks %q", byID["headline"], w)
		}
	}
	for _, w := range []string{"2026-11-30 12 3 3", "2026-12-01 4 0 3", "2026-12-02 4 4 7"} {
		if !strings.Contains(byID["progress"], w) {
			t.Errorf("progress %q lacks %q", byID["progress"], w)
		}
	}
	if !strings.Contains(byID["attempts"], "harvest Retry wrong_password 13") || !strings.Contains(byID["attempts"], hostile+" 4") {
		t.Errorf("attempts table %q", byID["attempts"])
	}
	for _, w := range []string{"to migrate (flag still set) 29", "to reset 6", "records missing from the tenant 17", "legacy credentials held 31"} {
		if !strings.Contains(byID["left"], w) {
			t.Errorf("what is left %q lacks %q", byID["left"], w)
		}
	}
	if !strings.Contains(byID["records"], "total 50") || !strings.Contains(byID["how"], "live:ldap 2") {
		t.Errorf("records %q, how %q", byID["records"], byID["how"])
	}
	// 7+11+29+6+1+2+5 = 61: the figures reconcile.
	if tl := byID["tenant"]; !strings.Contains(tl, "61 users listed") || !strings.Contains(tl, "The figures reconcile") {
		t.Errorf("tenant line %q", tl)
	}

	// Offline: the tenant's figures are unknown, not zero.
	st.Tenant, st.Offline = nil, true
	buf.Reset()
	if err := st.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	byID, _ = checkXML(t, buf.Bytes())
	if h := byID["headline"]; !strings.Contains(h, "7 migrated by idshift serve") || !strings.Contains(h, "n/a migrated by Entra silently") || !strings.Contains(h, "4 blocked") {
		t.Errorf("offline headline %q", h)
	}
	if _, ok := byID["tenant"]; ok {
		t.Errorf("offline page has tenant figures")
	}
}

func TestWriteHTMLEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := (&report.Status{Offline: true, Credentials: -1}).WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	_, names := checkXML(t, buf.Bytes())
	if names["svg"] != 0 {
		t.Errorf("a chart without data")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n += len(p); f.n > 100 {
		return 0, fmt.Errorf("disk full")
	}
	return len(p), nil
}

func TestWriteHTMLWriteError(t *testing.T) {
	if err := (&report.Status{Credentials: -1}).WriteHTML(&failWriter{}); err == nil {
		t.Error("a write error was not returned")
	}
}

func TestProgress(t *testing.T) {
	st := &report.Status{Days: []store.DayCount{
		{Day: "2026-01-02", Action: idshift.ActionMigrate, N: 2},
		{Day: "2026-01-01", Action: idshift.ActionMigrate, N: 1},
		{Day: "2026-01-01", Action: idshift.ActionBlock, N: 5},
	}}
	got := fmt.Sprint(st.Progress())
	if want := "[{2026-01-01 6 1 1 map[Block:5 MigratePassword:1]} {2026-01-02 2 2 3 map[MigratePassword:2]}]"; got != want {
		t.Errorf("Progress %s, want %s", got, want)
	}
}

func TestWriteHTMLManyDays(t *testing.T) {
	st := &report.Status{Credentials: -1}
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 800 {
		st.Days = append(st.Days, store.DayCount{Day: day.AddDate(0, 0, i).Format("2006-01-02"), Action: idshift.ActionMigrate, N: int64(i % 7)})
	}
	var buf bytes.Buffer
	if err := st.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	_, names := checkXML(t, buf.Bytes())
	// 3 axis ticks, at most 8 day labels, 3 legend entries.
	if names["text"] > 3+8+3 || names["rect"] != 2*800+3 {
		t.Errorf("%d texts, %d rects", names["text"], names["rect"])
	}
}
