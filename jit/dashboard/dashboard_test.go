package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/internal/browsertest"
	"github.com/idshift/idshift/jit"
	"github.com/idshift/idshift/jit/dashboard"
	"github.com/idshift/idshift/report"
	"github.com/idshift/idshift/store/sqlite"
)

func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }

const password = "Dashboard-pass-1234"

// fixture is a real SQLite store with records in several states and attempts over four UTC days (three recorded
// directly, today's by a real jit.Service whose Metrics the dashboard shows), served by jit.Admin with the
// dashboard on.
type fixture struct {
	store   *sqlite.DB
	metrics *jit.Metrics
	dash    *dashboard.Dashboard
	srv     *httptest.Server
	// secrets must never appear on the page: passwords, hashes, sign-in names, object ids, client addresses.
	secrets []string
	// answered counts the live service's answers by front; blocked its guard blocks.
	answered map[string]int
	blocked  int
}

func hashOf(t testing.TB, pw string) string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(pw), 4)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newFixture(t testing.TB, refresh time.Duration) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Config{Path: filepath.Join(t.TempDir(), "idshift.db")}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{store: st, metrics: &jit.Metrics{}, answered: map[string]int{}}

	var recs []*idshift.Record
	creds := map[idshift.Key]idshift.Credential{}
	key := func(i int) idshift.Key { return idshift.Key{Source: "legacy", LegacyID: fmt.Sprint(i)} }
	for i := 1; i <= 9; i++ {
		name, obj, pw := fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("obj-%d", i), fmt.Sprintf("User-pass-%d", i)
		h := hashOf(t, pw)
		recs = append(recs, &idshift.Record{Key: key(i), ObjectID: obj, SignInNames: []string{name}, State: idshift.StateCreated})
		creds[key(i)] = idshift.Credential{Kind: idshift.CredentialHash, Hash: h}
		f.secrets = append(f.secrets, name, obj, pw, h)
	}
	recs = append(recs,
		&idshift.Record{Key: key(20), State: idshift.StateRejected},
		&idshift.Record{Key: key(21), State: idshift.StateRejected},
		&idshift.Record{Key: key(22), ObjectID: "obj-22", State: idshift.StateAdopted})
	if err := st.PutRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCredentials(ctx, creds); err != nil {
		t.Fatal(err)
	}

	// Three days of history, recorded as serve records them.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	at := func(days int) time.Time { return today.AddDate(0, 0, -days).Add(10 * time.Hour) }
	history := []struct {
		days         int
		front        string
		action       idshift.Action
		reason       string
		user, n      int
		migrateAs    string
		ip, signName string
	}{
		{3, idshift.FrontEntra, idshift.ActionMigrate, jit.ReasonMatch, 5, 1, "hash", "198.51.100.5", ""},
		{3, idshift.FrontEntra, idshift.ActionMigrate, jit.ReasonMatch, 6, 1, "hash", "198.51.100.6", ""},
		{3, idshift.FrontEntra, idshift.ActionRetry, jit.ReasonMismatch, 1, 3, "", "198.51.100.1", ""},
		{2, idshift.FrontHarvest, idshift.ActionMigrate, jit.ReasonMatch, 7, 1, "harvest", "198.51.100.7", "user7@example.com"},
		{2, idshift.FrontEntra, idshift.ActionBlock, jit.ReasonLocked, 2, 2, "", "198.51.100.2", ""},
		{2, idshift.FrontEntra, idshift.ActionRetry, "unknown_user", 0, 1, "", "198.51.100.9", ""},
		{1, idshift.FrontEntra, idshift.ActionMigrate, jit.ReasonMatch, 8, 1, "live:corp-ldap", "198.51.100.8", ""},
		{1, idshift.FrontEntra, idshift.ActionUpdate, jit.ReasonMatch, 9, 1, "", "198.51.100.9", ""},
	}
	for _, h := range history {
		for range h.n {
			a := idshift.AttemptLog{Front: h.front, Action: h.action, Reason: h.reason, ClientIP: h.ip, SignInName: h.signName, At: at(h.days)}
			if h.user > 0 {
				a.Key, a.ObjectID = key(h.user), fmt.Sprintf("obj-%d", h.user)
			}
			if err := st.RecordAttempt(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		if h.migrateAs != "" {
			if err := st.MarkMigrated(ctx, key(h.user), at(h.days), h.migrateAs); err != nil {
				t.Fatal(err)
			}
		}
		f.secrets = append(f.secrets, h.ip)
	}

	// Today: a real service decides, measured by Metrics.
	g, err := guard.Config{Pair: guard.Limit{Failures: 2, Window: time.Minute, LockFor: time.Minute}}.OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := jit.Config{Store: st, Guard: g, Timeout: jit.MaxTimeout, Metrics: f.metrics, Logger: slog.New(slog.DiscardHandler),
		Verifier: &jit.HashVerifier{Store: st, DummyHash: hashOf(t, "dummy")}}.Open()
	if err != nil {
		t.Fatal(err)
	}
	live := []idshift.Attempt{
		{Front: idshift.FrontEntra, ObjectID: "obj-1", Password: "User-pass-1", ClientIP: "203.0.113.1"},
		{Front: idshift.FrontEntra, ObjectID: "obj-2", Password: "wrong-guess-1", ClientIP: "203.0.113.2"},
		{Front: idshift.FrontEntra, ObjectID: "obj-2", Password: "wrong-guess-2", ClientIP: "203.0.113.2"},
		{Front: idshift.FrontEntra, ObjectID: "obj-2", Password: "User-pass-2", ClientIP: "203.0.113.2"}, // locked
		{Front: idshift.FrontHarvest, SignInName: "user3@example.com", Password: "User-pass-3", ClientIP: "203.0.113.3"},
	}
	for _, a := range live {
		d := svc.Decide(ctx, a)
		f.answered[a.Front]++
		if d.Reason == jit.ReasonLocked {
			f.blocked++
		}
		f.secrets = append(f.secrets, a.Password, a.ClientIP)
	}
	if f.blocked != 1 {
		t.Fatalf("the live attempts gave %d guard blocks, want 1", f.blocked)
	}
	if err := svc.Close(ctx); err != nil { // writes the queued attempt records
		t.Fatal(err)
	}

	f.dash, err = dashboard.Config{
		Status: func(ctx context.Context) (*report.Status, error) {
			return report.Read(ctx, report.Config{Store: st, SkipCredentials: true})
		},
		Metrics: f.metrics, Password: password, Refresh: refresh, Logger: slog.New(slog.DiscardHandler),
	}.Open()
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer((&jit.Admin{Metrics: f.metrics, Dashboard: f.dash}).Handler())
	t.Cleanup(f.srv.Close)
	f.secrets = append(f.secrets, password, "user@", "@example.com", "obj-")
	return f
}

// want is what the store holds, read through the store's own calls (not through package report).
type want struct {
	states    map[idshift.State]int64
	total     int64
	attempts  []idshift.AttemptCount
	blocks    int64
	hows      map[string]int64
	perDay    map[string]int64 // attempts by UTC day
	migrateBy map[string]int64 // MigratePassword answers by UTC day
}

func (f *fixture) want(t *testing.T) want {
	t.Helper()
	ctx := context.Background()
	var w want
	var err error
	if w.states, err = f.store.Counts(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range w.states {
		w.total += n
	}
	if w.attempts, err = f.store.AttemptCounts(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, a := range w.attempts {
		if a.Action == idshift.ActionBlock {
			w.blocks += a.N
		}
	}
	if w.hows, err = f.store.MigratedByHow(ctx); err != nil {
		t.Fatal(err)
	}
	days, err := f.store.AttemptsByDay(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	w.perDay, w.migrateBy = map[string]int64{}, map[string]int64{}
	for _, d := range days {
		w.perDay[d.Day] += d.N
		if d.Action == idshift.ActionMigrate {
			w.migrateBy[d.Day] += d.N
		}
	}
	return w
}

// shown is what the page shows, read from its DOM.
type shown struct {
	Headline [][]string
	Attempts [][]string
	States   [][]string
	Hows     [][]string
	Latency  [][]string
	Guard    [][]string
	Blocks   string
	Data     struct {
		Progress []report.DayProgress `json:"progress"`
	}
}

const readPage = `(() => {
	const rows = sel => [...document.querySelectorAll(sel)].map(tr => [...tr.cells].map(c => c.textContent.trim()));
	return {
		Headline: [...document.querySelectorAll("#headline .figures li")].map(li => [li.querySelector(".label").textContent, li.querySelector(".n").textContent]),
		Attempts: rows("#attempts-table tbody tr"),
		States: rows("#states-table tbody tr"),
		Hows: rows("#hows-table tbody tr"),
		Latency: rows("#latency-table tbody tr"),
		Guard: rows("#guard-table tbody tr"),
		Blocks: (document.getElementById("blocks") || {}).textContent || "",
		Data: JSON.parse(document.getElementById("dashboard-data").textContent),
	};
})()`

// canvasStats measures every chart: its canvas's size, and the pixels of the plotted area (uPlot's .u-over box)
// drawn in a colour (saturated: the series; grid lines and axes are grey).
const canvasStats = `(() => [...document.querySelectorAll(".chart")].map(el => {
	const c = el.querySelector(".uplot canvas"), over = el.querySelector(".uplot .u-over");
	if (!c || !over) return {ID: el.id, W: 0, H: 0, Colored: 0};
	const r = devicePixelRatio;
	const x = Math.round(over.offsetLeft * r), y = Math.round(over.offsetTop * r);
	const w = Math.round(over.offsetWidth * r), h = Math.round(over.offsetHeight * r);
	const d = c.getContext("2d").getImageData(x, y, Math.max(w, 1), Math.max(h, 1)).data;
	let colored = 0;
	for (let i = 0; i < d.length; i += 4) {
		if (d[i + 3] > 200 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 40) colored++;
	}
	return {ID: el.id, W: c.width, H: c.height, Colored: colored};
}))()`

type chartStat struct {
	ID      string
	W, H    int
	Colored int
}

// comma writes n as the page does: 1,234.
func comma(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func openDashboard(t *testing.T, f *fixture) *browsertest.Tab {
	t.Helper()
	tab := browsertest.NewTab(t)
	if err := tab.AnswerChallenges(dashboard.User, password); err != nil {
		t.Fatal(err)
	}
	if code, err := tab.Navigate(f.srv.URL + "/dashboard"); err != nil || code != 200 {
		t.Fatalf("GET /dashboard: %d, %v", code, err)
	}
	if err := tab.WaitVisible("#chart-latency .uplot canvas"); err != nil {
		t.Fatalf("the charts were not drawn: %v", err)
	}
	return tab
}

func checkCharts(t *testing.T, tab *browsertest.Tab) {
	t.Helper()
	stats, err := browsertest.Eval[[]chartStat](tab, canvasStats)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 3 {
		t.Fatalf("%d charts, want 3: %+v", len(stats), stats)
	}
	for _, s := range stats {
		if s.W < 300 || s.H < 150 {
			t.Errorf("chart %s: canvas %d×%d", s.ID, s.W, s.H)
		}
		if s.Colored < 200 {
			t.Errorf("chart %s: %d coloured pixels in the plotted area: nothing drawn", s.ID, s.Colored)
		}
	}
}

func checkFigures(t *testing.T, f *fixture, got shown) {
	t.Helper()
	w := f.want(t)
	headline := map[string]string{}
	for _, h := range got.Headline {
		headline[h[0]] = h[1]
	}
	if headline["migrated by idshift serve"] != comma(w.states[idshift.StateMigrated]) || headline["blocked"] != comma(w.blocks) ||
		headline["records in the store"] != comma(w.total) || len(headline) != 3 {
		t.Errorf("headline %v; the store holds %d migrated, %d blocked, %d records", got.Headline, w.states[idshift.StateMigrated], w.blocks, w.total)
	}
	if got.Blocks != comma(w.blocks) {
		t.Errorf("blocked %q, want %d", got.Blocks, w.blocks)
	}
	var wantAttempts [][]string
	for _, a := range w.attempts {
		wantAttempts = append(wantAttempts, []string{a.Front, string(a.Action), a.Reason, comma(a.N)})
	}
	if fmt.Sprint(got.Attempts) != fmt.Sprint(wantAttempts) {
		t.Errorf("attempts table\n%v\nthe store's\n%v", got.Attempts, wantAttempts)
	}
	var wantStates [][]string
	for _, s := range slices.Sorted(func(yield func(string) bool) {
		for k := range w.states {
			if !yield(string(k)) {
				return
			}
		}
	}) {
		n := w.states[idshift.State(s)]
		wantStates = append(wantStates, []string{s, comma(n), fmt.Sprint(n)})
	}
	if fmt.Sprint(got.States) != fmt.Sprint(wantStates) {
		t.Errorf("records by state\n%v\nthe store's\n%v", got.States, wantStates)
	}
	var wantHows [][]string
	for _, h := range []string{"harvest", "hash", "live:corp-ldap"} {
		wantHows = append(wantHows, []string{h, comma(w.hows[h])})
	}
	if len(w.hows) != 3 || fmt.Sprint(got.Hows) != fmt.Sprint(wantHows) {
		t.Errorf("migrated by\n%v\nthe store's %v", got.Hows, w.hows)
	}
	var cum int64
	if len(got.Data.Progress) != len(w.perDay) {
		t.Errorf("%d days in the data, the store has %d", len(got.Data.Progress), len(w.perDay))
	}
	for _, p := range got.Data.Progress {
		cum += w.migrateBy[p.Day]
		if p.Attempts != w.perDay[p.Day] || p.Migrations != w.migrateBy[p.Day] || p.Cumulative != cum {
			t.Errorf("day %s: %+v; the store has %d attempts, %d migrations, %d so far", p.Day, p, w.perDay[p.Day], w.migrateBy[p.Day], cum)
		}
	}
	// This replica's figures: the service's answers and its one guard block.
	answers := map[string]string{}
	for _, r := range got.Latency {
		answers[r[0]] = r[1]
	}
	for front, n := range f.answered {
		if answers[front] != fmt.Sprint(n) {
			t.Errorf("latency table: %s answered %q, want %d (%v)", front, answers[front], n, got.Latency)
		}
	}
	guardRows := map[string]string{}
	for _, r := range got.Guard {
		guardRows[r[0]] = r[1]
	}
	if guardRows["blocked by the guard, scope account+ip"] != fmt.Sprint(f.blocked) {
		t.Errorf("guard table %v, want %d blocks of scope account+ip", got.Guard, f.blocked)
	}
}

func TestDashboardInBrowser(t *testing.T) {
	f := newFixture(t, time.Second)
	tab := openDashboard(t, f)
	checkCharts(t, tab)
	got, err := browsertest.Eval[shown](tab, readPage)
	if err != nil {
		t.Fatal(err)
	}
	checkFigures(t, f, got)
	tab.NoProblems(t)
	t.Run("screenshot", func(t *testing.T) { checkScreenshot(t, tab) })

	// Pointing at the last day shows that day's figures in the legend; with no pointer, the totals.
	legend := `[...document.querySelectorAll("#chart-progress .u-legend .u-value")].map(v => v.textContent)`
	w := f.want(t)
	var days []string
	for d := range w.perDay {
		days = append(days, d)
	}
	slices.Sort(days)
	last := days[len(days)-1]
	var total, migrations int64
	for d, n := range w.perDay {
		total += n
		migrations += w.migrateBy[d]
	}
	if got, err := browsertest.Eval[[]string](tab, legend); err != nil || fmt.Sprint(got) != fmt.Sprintf("[%d days %d %d %d]", len(days), total, migrations, migrations) {
		t.Errorf("legend without a pointer %v (%v)", got, err)
	}
	hovered, err := browsertest.Eval[[]string](tab, `(() => { const o = document.querySelector("#chart-progress .u-over"), r = o.getBoundingClientRect();
		o.dispatchEvent(new MouseEvent("mousemove", {clientX: r.right - 2, clientY: r.top + r.height / 2, bubbles: true}));
		return `+legend+`; })()`)
	if err != nil || len(hovered) != 4 || hovered[0] != last || hovered[1] != fmt.Sprint(w.perDay[last]) || hovered[2] != fmt.Sprint(w.migrateBy[last]) {
		t.Errorf("legend pointing at %s: %v (%v); the store has %d attempts, %d migrations", last, hovered, err, w.perDay[last], w.migrateBy[last])
	}

	html, err := browsertest.Eval[string](tab, "document.documentElement.outerHTML")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range f.secrets {
		if strings.Contains(html, s) {
			t.Errorf("the page shows %q", s)
		}
	}

	// The page reloads its figures: a migration recorded now shows within a few refreshes, charts redrawn.
	ctx := context.Background()
	k := idshift.Key{Source: "legacy", LegacyID: "4"}
	if err := f.store.RecordAttempt(ctx, idshift.AttemptLog{Key: k, Front: idshift.FrontEntra, Action: idshift.ActionMigrate,
		Reason: jit.ReasonMatch, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.MarkMigrated(ctx, k, time.Now(), "hash"); err != nil {
		t.Fatal(err)
	}
	wantMigrated := comma(f.want(t).states[idshift.StateMigrated])
	deadline := time.Now().Add(8 * time.Second)
	for {
		got, err = browsertest.Eval[shown](tab, readPage)
		if err != nil {
			t.Fatal(err)
		}
		if got.Headline[0][1] == wantMigrated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a migration, the page still shows %v, want %s migrated", got.Headline, wantMigrated)
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkFigures(t, f, got)
	checkCharts(t, tab)
	if status, _ := browsertest.Eval[string](tab, `document.getElementById("refresh-status").textContent`); status != "" {
		t.Errorf("refresh status %q", status)
	}
	tab.NoProblems(t)
}

// checkScreenshot takes a PNG of the page with data, as a person sees it, and checks it is not blank and holds the
// series' colours where the migrations chart is. It is written to $IDSHIFT_ARTIFACTS/dashboard.png when set.
func checkScreenshot(t *testing.T, tab *browsertest.Tab) {
	t0 := time.Now()
	raw, img, err := tab.Screenshot()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot taken in %v", time.Since(t0))
	browsertest.Artifact(t, "dashboard.png", raw)
	b := img.Bounds()
	if b.Dx() < 1000 || b.Dy() < 1000 {
		t.Errorf("screenshot %v: want the whole page", b)
	}
	at := func(x, y int) color.RGBA { return color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) }
	colours := map[color.RGBA]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			colours[at(x, y)] = true
		}
	}
	if len(colours) < 50 {
		t.Errorf("screenshot has %d colours: blank", len(colours))
	}
	// The plotted area's place on the page: the box is relative to the document, as the full screenshot is.
	box, err := tab.BoxOf("#chart-progress .uplot .u-over")
	if err != nil || box.W < 300 || box.H < 150 {
		t.Fatalf("the migrations chart's plotted area: %+v, %v", box, err)
	}
	series := map[string]color.RGBA{"attempts": {0x9a, 0xb8, 0xd8, 255}, "migrations": {0x3a, 0x7d, 0x44, 255}, "migrated so far": {0xd0, 0x66, 0x1c, 255}}
	found := map[string]int{}
	for y := int(box.Y); y < int(box.Y+box.H); y++ {
		for x := int(box.X); x < int(box.X+box.W); x++ {
			c := at(x, y)
			for name, want := range series {
				if near(c, want) {
					found[name]++
				}
			}
		}
	}
	for name, c := range series {
		t.Logf("%s: %d pixels of %v", name, found[name], c)
		if found[name] < 30 {
			t.Errorf("the migrations chart has %d pixels of the %s colour %v", found[name], name, c)
		}
	}
}

func near(a, b color.RGBA) bool {
	d := func(x, y uint8) int { return max(int(x)-int(y), int(y)-int(x)) }
	return d(a.R, b.R) <= 6 && d(a.G, b.G) <= 6 && d(a.B, b.B) <= 6
}

// TestDashboardEmptyAndFailing: a store without attempts and a service that has answered nothing give notes in
// place of the charts, without a script error; a reload that fails says so and keeps the figures shown.
func TestDashboardEmptyAndFailing(t *testing.T) {
	var failing atomic.Bool
	d, err := dashboard.Config{
		Status: func(ctx context.Context) (*report.Status, error) {
			if failing.Load() {
				return nil, errors.New("store down")
			}
			return staticStatus(ctx)
		},
		Password: password, Refresh: time.Second, Logger: slog.New(slog.DiscardHandler),
	}.Open()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&jit.Admin{Dashboard: d}).Handler())
	defer srv.Close()
	tab := browsertest.NewTab(t)
	if err := tab.AnswerChallenges(dashboard.User, password); err != nil {
		t.Fatal(err)
	}
	if code, err := tab.Navigate(srv.URL + "/dashboard"); err != nil || code != 200 {
		t.Fatalf("GET /dashboard: %d, %v", code, err)
	}
	type notes struct{ Empty, Canvases int }
	n, err := browsertest.Eval[notes](tab, `({Empty: document.querySelectorAll(".chart .empty").length, Canvases: document.querySelectorAll("canvas").length})`)
	if err != nil || n.Empty != 3 || n.Canvases != 0 {
		t.Errorf("empty page: %+v, %v; want 3 notes and no chart", n, err)
	}
	tab.NoProblems(t)
	if raw, _, err := tab.Screenshot(); err == nil {
		browsertest.Artifact(t, "dashboard-empty.png", raw)
	}

	failing.Store(true)
	deadline := time.Now().Add(8 * time.Second)
	for {
		status, err := browsertest.Eval[string](tab, `document.getElementById("refresh-status").textContent`)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(status, "could not be reloaded") && strings.Contains(status, "503") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a failing reload shows %q", status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if total, _ := browsertest.Eval[string](tab, `document.querySelector("#headline .figures li:last-child .n").textContent`); total != "3" {
		t.Errorf("after a failed reload the page shows %q records, want the previous 3", total)
	}
	for _, p := range tab.Problems() {
		if !strings.Contains(p, "503") {
			t.Errorf("browser console: %s", p)
		}
	}
}
