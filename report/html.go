package report

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"

	"github.com/idshift/idshift"
)

// Figure is one headline number of the HTML page. Known is false when the figure needs the tenant and the
// status was read offline.
type Figure struct {
	Label string `json:"label"`
	N     int64  `json:"n"`
	Known bool   `json:"known"`
	Note  string `json:"note"`
}

// DayProgress is one UTC day of the progress chart: the attempts recorded that day (every front and action),
// the ones answered MigratePassword, the migrations answered up to and including that day, and that day's
// attempts by action.
type DayProgress struct {
	Day        string                   `json:"day"`
	Attempts   int64                    `json:"attempts"`
	Migrations int64                    `json:"migrations"`
	Cumulative int64                    `json:"cumulative"`
	ByAction   map[idshift.Action]int64 `json:"byAction"`
}

// Headline returns the page's headline figures, in order: migrated by idshift serve, migrated by Entra
// silently, still to migrate, to reset, blocked. Offline, the tenant's figures are unknown except "migrated by
// idshift serve", which the store's migrated records give.
func (s *Status) Headline() []Figure {
	t := s.Tenant
	if t == nil {
		return []Figure{
			{"migrated by idshift serve", s.Records[idshift.StateMigrated], true, "records in state migrated"},
			{"migrated by Entra silently", 0, false, "needs the tenant"},
			{"still to migrate", 0, false, "needs the tenant"},
			{"to reset", 0, false, "needs the tenant"},
			{"blocked", s.Blocks, true, "attempts answered Block"},
		}
	}
	return []Figure{
		{"migrated by idshift serve", t.MigratedByService, true, "recorded in the store"},
		{"migrated by Entra silently", t.MigratedInTenant, true, "flag cleared without a callout"},
		{"still to migrate", t.Pending + t.RecordedStillFlagged, true, "migration flag still set"},
		{"to reset", t.ToReset, true, "no legacy hash and no live check"},
		{"blocked", s.Blocks, true, "attempts answered Block"},
	}
}

// Progress folds Days into one row per UTC day, in day order.
func (s *Status) Progress() []DayProgress {
	byDay := map[string]*DayProgress{}
	for _, d := range s.Days {
		p := byDay[d.Day]
		if p == nil {
			p = &DayProgress{Day: d.Day, ByAction: map[idshift.Action]int64{}}
			byDay[d.Day] = p
		}
		p.Attempts += d.N
		p.ByAction[d.Action] += d.N
		if d.Action == idshift.ActionMigrate {
			p.Migrations += d.N
		}
	}
	out := make([]DayProgress, 0, len(byDay))
	for _, p := range byDay {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Day < out[j].Day })
	var cum int64
	for i := range out {
		cum += out[i].Migrations
		out[i].Cumulative = cum
	}
	return out
}

// chart is the inline SVG's geometry, computed here so the template only prints numbers.
type chart struct {
	W, H, Left, Bottom, Top int
	Max                     int64
	Bars                    []bar
	Line                    string // polyline points of the cumulative migrations
	Dots                    []point
	Ticks                   []tick
}

type bar struct {
	X, W                      int
	AttY, AttH, MigY, MigH    int
	Day                       string
	Label                     bool // the day is written under the axis
	Attempts, Migrations, Cum int64
}

type point struct{ X, Y int }

type tick struct {
	Y     int
	Label int64
}

func newChart(days []DayProgress) *chart {
	if len(days) == 0 {
		return nil
	}
	c := &chart{W: 720, H: 260, Left: 50, Bottom: 220, Top: 20}
	for _, d := range days {
		c.Max = max(c.Max, d.Attempts, d.Cumulative)
	}
	if c.Max == 0 {
		c.Max = 1
	}
	plotH := c.Bottom - c.Top
	y := func(n int64) int { return c.Bottom - int(int64(plotH)*n/c.Max) }
	slot := max((c.W-c.Left-10)/len(days), 1)
	every := (len(days) + 7) / 8 // at most 8 day labels under the axis
	bw := min(max(slot*2/3, 1), 40)
	var pts []string
	for i, d := range days {
		x := c.Left + i*slot + (slot-bw)/2
		b := bar{X: x, W: bw, Day: d.Day, Attempts: d.Attempts, Migrations: d.Migrations, Cum: d.Cumulative, Label: i%every == 0}
		b.AttY, b.MigY = y(d.Attempts), y(d.Migrations)
		b.AttH, b.MigH = c.Bottom-b.AttY, c.Bottom-b.MigY
		c.Bars = append(c.Bars, b)
		p := point{X: x + bw/2, Y: y(d.Cumulative)}
		c.Dots = append(c.Dots, p)
		pts = append(pts, fmt.Sprintf("%d,%d", p.X, p.Y))
	}
	c.Line = strings.Join(pts, " ")
	for _, f := range []int64{0, 2} {
		n := c.Max * f / 4
		c.Ticks = append(c.Ticks, tick{Y: y(n), Label: n})
	}
	c.Ticks = append(c.Ticks, tick{Y: y(c.Max), Label: c.Max})
	return c
}

// Count is one labelled number of a View's tables.
type Count struct {
	Label string `json:"label"`
	N     int64  `json:"n"`
	Note  string `json:"note,omitempty"`
}

// View is what a page shows of a Status, computed in one place for `idshift report --html` (WriteHTML) and serve's
// admin dashboard (package jit/dashboard), so that both show the same figures. Its JSON is the dashboard's.
type View struct {
	// At is when the figures were read, as "2006-01-02 15:04:05 UTC".
	At      string `json:"at"`
	Offline bool   `json:"offline"`
	// Headline is Status.Headline; Progress is Status.Progress.
	Headline []Figure      `json:"headline"`
	Progress []DayProgress `json:"progress"`
	// Attempts are the attempts by front, action and reason; Blocks those answered Block.
	Attempts []idshift.AttemptCount `json:"attempts"`
	Blocks   int64                  `json:"blocks"`
	// States are the store's records by state, in state order; RecordsTotal is their sum.
	States       []Count `json:"states"`
	RecordsTotal int64   `json:"recordsTotal"`
	// Hows are the migrations recorded by serve, by how.
	Hows []Count `json:"hows"`
	// Left is what is left to do: users still to migrate or to reset (with the tenant) and the legacy credentials
	// the store still holds (when counted).
	Left []Count `json:"left"`
	// Percent is the share of the flagged users migrated ("42.0%"), with the tenant only.
	Percent string         `json:"percent,omitempty"`
	Tenant  *TenantFigures `json:"tenant,omitempty"`
}

// View computes the figures a page shows.
func (s *Status) View() View {
	v := View{At: s.At.UTC().Format("2006-01-02 15:04:05 UTC"), Offline: s.Offline, Headline: s.Headline(),
		Progress: s.Progress(), Attempts: s.Attempts, Blocks: s.Blocks, RecordsTotal: s.RecordsTotal, Tenant: s.Tenant,
		States: []Count{}, Hows: []Count{}, Left: []Count{}}
	if v.Attempts == nil {
		v.Attempts = []idshift.AttemptCount{}
	}
	for k, n := range s.Records {
		v.States = append(v.States, Count{Label: string(k), N: n})
	}
	sort.Slice(v.States, func(i, j int) bool { return v.States[i].Label < v.States[j].Label })
	for k, n := range s.MigratedByHow {
		v.Hows = append(v.Hows, Count{Label: k, N: n})
	}
	sort.Slice(v.Hows, func(i, j int) bool { return v.Hows[i].Label < v.Hows[j].Label })
	if t := s.Tenant; t != nil {
		v.Left = []Count{
			{"to migrate (flag still set)", t.Pending, "they migrate at their next sign-in while serve runs"},
			{"recorded migrated, still flagged", t.RecordedStillFlagged, "asked again at their next sign-in"},
			{"to reset", t.ToReset, "self-service password reset"},
			{"records missing from the tenant", t.MissingFromTenant, "deleted since the import"},
		}
		done := t.MigratedByService + t.MigratedInTenant
		if all := done + t.Pending + t.RecordedStillFlagged; all > 0 {
			v.Percent = fmt.Sprintf("%.1f%%", 100*float64(done)/float64(all))
		}
	}
	if s.Credentials >= 0 {
		v.Left = append(v.Left, Count{"legacy credentials held", s.Credentials, "destroyed by idshift cutover"})
	}
	return v
}

type pageData struct {
	View
	Chart *chart
}

// WriteHTML writes the status as one self-contained XHTML-compatible page (no external assets, no script): the
// headline figures, the progress over time as a table and an inline SVG chart, the attempts by front, action and
// reason, the store's records and what is left. Every value is escaped by html/template. It returns the first
// write error.
func (s *Status) WriteHTML(w io.Writer) error {
	ew := &errWriter{w: w}
	v := s.View()
	if err := pageTmpl.Execute(ew, pageData{View: v, Chart: newChart(v.Progress)}); err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	return ew.err
}

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>idshift report, {{.At}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:60em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
.figures{display:flex;flex-wrap:wrap;gap:1em;padding:0;list-style:none}
.figures li{border:1px solid #ccc;border-radius:6px;padding:.8em 1em;min-width:10em}
.figures .n{font-size:1.8em;font-weight:bold;display:block}
.figures .note{color:#666;font-size:.85em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.3em .7em;text-align:left}
td.n,th.n{text-align:right}
.warn{color:#a00;font-weight:bold}
svg text{font-size:11px;fill:#444}
</style>
</head>
<body>
<h1>Where the migration stands</h1>
<p>Read at <time>{{.At}}</time>.{{if .Offline}} Offline: the store only; the users Entra migrated without a callout are not counted.{{else}} The tenant's migration flags joined with the state store.{{end}}</p>
<ul class="figures" id="headline">
{{range .Headline}}<li><span class="n">{{if .Known}}{{.N}}{{else}}n/a{{end}}</span>{{.Label}}<br/><span class="note">{{.Note}}</span></li>
{{end}}</ul>
{{with .Tenant}}<p id="tenant">{{.Listed}} users listed in the tenant{{if $.Percent}}; {{$.Percent}} of the flagged users migrated{{end}}; {{.NotInStore}} with a legacy id unknown to this store, {{.Others}} not created by idshift. {{if .Reconciles}}The figures reconcile with the number listed.{{else}}<span class="warn">The figures do not reconcile with the number listed.</span>{{end}}</p>
{{end}}
<h2>Progress over time</h2>
{{with .Chart}}<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="attempts and migrations per day, cumulative migrations">
<line x1="{{.Left}}" y1="{{.Bottom}}" x2="{{.W}}" y2="{{.Bottom}}" stroke="#888"/>
{{range .Ticks}}<text x="{{$.Chart.Left}}" dx="-6" y="{{.Y}}" text-anchor="end">{{.Label}}</text>
{{end}}{{range .Bars}}<g><title>{{.Day}}: {{.Attempts}} attempts, {{.Migrations}} migrations, {{.Cum}} migrated so far</title>
<rect x="{{.X}}" y="{{.AttY}}" width="{{.W}}" height="{{.AttH}}" fill="#9ab8d8"/>
<rect x="{{.X}}" y="{{.MigY}}" width="{{.W}}" height="{{.MigH}}" fill="#3a7d44"/>
{{if .Label}}<text x="{{.X}}" y="{{$.Chart.Bottom}}" dy="14">{{.Day}}</text>{{end}}</g>
{{end}}<polyline points="{{.Line}}" fill="none" stroke="#d0661c" stroke-width="2"/>
{{range .Dots}}<circle cx="{{.X}}" cy="{{.Y}}" r="3" fill="#d0661c"/>
{{end}}<g><rect x="{{.Left}}" y="2" width="10" height="10" fill="#9ab8d8"/><text x="{{.Left}}" dx="14" y="11">attempts</text>
<rect x="{{.Left}}" y="2" width="10" height="10" fill="#3a7d44" transform="translate(90 0)"/><text x="{{.Left}}" dx="104" y="11">migrations</text>
<rect x="{{.Left}}" y="2" width="10" height="10" fill="#d0661c" transform="translate(200 0)"/><text x="{{.Left}}" dx="214" y="11">cumulative migrated</text></g>
</svg>
{{end}}{{if .Progress}}<table id="progress">
<thead><tr><th>day (UTC)</th><th class="n">attempts</th><th class="n">migrations</th><th class="n">cumulative migrated</th></tr></thead>
<tbody>
{{range .Progress}}<tr><td>{{.Day}}</td><td class="n">{{.Attempts}}</td><td class="n">{{.Migrations}}</td><td class="n">{{.Cumulative}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p>No attempts recorded.</p>{{end}}
<h2>Attempts by front, action and reason</h2>
{{if .Attempts}}<table id="attempts">
<thead><tr><th>front</th><th>action</th><th>reason</th><th class="n">attempts</th></tr></thead>
<tbody>
{{range .Attempts}}<tr><td>{{.Front}}</td><td>{{.Action}}</td><td>{{.Reason}}</td><td class="n">{{.N}}</td></tr>
{{end}}</tbody>
</table>
<p>{{.Blocks}} attempts blocked (guard locks and accounts disabled in the legacy system).</p>{{else}}<p>No attempts recorded.</p>{{end}}
<h2>What is left</h2>
{{if .Left}}<table id="left">
<tbody>
{{range .Left}}<tr><th>{{.Label}}</th><td class="n">{{.N}}</td><td>{{.Note}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p>Offline: run idshift report without --offline to count the users still to migrate.</p>{{end}}
<h2>The state store</h2>
<table id="records">
<thead><tr><th>record state</th><th class="n">records</th></tr></thead>
<tbody>
{{range .States}}<tr><td>{{.Label}}</td><td class="n">{{.N}}</td></tr>
{{end}}<tr><th>total</th><td class="n">{{.RecordsTotal}}</td></tr>
</tbody>
</table>
{{if .Hows}}<table id="how">
<thead><tr><th>migrated by</th><th class="n">users</th></tr></thead>
<tbody>
{{range .Hows}}<tr><td>{{.Label}}</td><td class="n">{{.N}}</td></tr>
{{end}}</tbody>
</table>{{end}}
</body>
</html>
`))
