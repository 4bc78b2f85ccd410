package report_test

import (
	"bytes"
	"image/color"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/internal/browsertest"
	"github.com/idshift/idshift/report"
	"github.com/idshift/idshift/store"
)

func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }

// TestHTMLInChromium opens the page `idshift report --html` writes in a real browser, under a policy that allows
// no script and no asset from anywhere (the page is self-contained), and checks it renders: no console error, the
// SVG chart laid out with its bars drawn, in their colours.
func TestHTMLInChromium(t *testing.T) {
	st := &report.Status{
		At: time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC), Offline: true, Credentials: 31,
		Records:       map[idshift.State]int64{idshift.StateCreated: 40, idshift.StateMigrated: 9},
		RecordsTotal:  49,
		MigratedByHow: map[string]int64{"hash": 9},
		Attempts:      []idshift.AttemptCount{{Front: "entra", Action: idshift.ActionMigrate, Reason: "match", N: 9}, {Front: "entra", Action: idshift.ActionRetry, Reason: "mismatch", N: 12}},
		Days: []store.DayCount{
			{Day: "2026-11-29", Front: "entra", Action: idshift.ActionMigrate, N: 2},
			{Day: "2026-11-29", Front: "entra", Action: idshift.ActionRetry, N: 5},
			{Day: "2026-11-30", Front: "entra", Action: idshift.ActionMigrate, N: 3},
			{Day: "2026-11-30", Front: "entra", Action: idshift.ActionRetry, N: 4},
			{Day: "2026-12-01", Front: "entra", Action: idshift.ActionMigrate, N: 4},
			{Day: "2026-12-01", Front: "entra", Action: idshift.ActionRetry, N: 3},
		},
	}
	var page bytes.Buffer
	if err := st.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page.Bytes())
	}))
	defer srv.Close()

	tab := browsertest.NewTab(t)
	if code, err := tab.Navigate(srv.URL + "/"); err != nil || code != 200 {
		t.Fatalf("the page: %d, %v", code, err)
	}
	svg, err := tab.BoxOf("svg")
	if err != nil || svg.W < 600 || svg.H < 200 {
		t.Fatalf("the chart's box: %+v, %v", svg, err)
	}
	type bars struct{ Drawn, Total int }
	b, err := browsertest.Eval[bars](tab, `(() => { const rs = [...document.querySelectorAll("svg g:has(> title) > rect")];
		return {Drawn: rs.filter(r => r.getBBox().height > 0 && r.getBBox().width > 0).length, Total: rs.length}; })()`)
	if err != nil || b.Total != 6 || b.Drawn != 6 {
		t.Errorf("bars: %+v, %v; want 6 drawn (two for each of 3 days)", b, err)
	}
	line, err := tab.BoxOf("svg polyline")
	if err != nil || line.W <= 0 || line.H <= 0 {
		t.Errorf("the cumulative line's box: %+v, %v", line, err)
	}
	raw, img, err := tab.Screenshot()
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Artifact(t, "report.png", raw)
	for name, c := range map[string]color.RGBA{"attempts": {0x9a, 0xb8, 0xd8, 255}, "migrations": {0x3a, 0x7d, 0x44, 255}} {
		n := 0
		for y := int(svg.Y); y < int(svg.Y+svg.H); y++ {
			for x := int(svg.X); x < int(svg.X+svg.W); x++ {
				if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == c {
					n++
				}
			}
		}
		if n < 100 {
			t.Errorf("the chart has %d pixels of the %s colour", n, name)
		}
	}
	tab.NoProblems(t)
}
