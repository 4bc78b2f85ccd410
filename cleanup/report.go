package cleanup

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of an audit; its JSON form is `idshift audit --json`. It holds no password, hash, card
// number or social security number: samples name a record by source, line and legacy id, and mask what they show.
type Report struct {
	Sources        []SourceCount `json:"sources"`
	Outcomes       Outcomes      `json:"outcomes"`
	Duplicates     Duplicates    `json:"duplicates"`
	Stale          StaleReport   `json:"stale"`
	StaleAfterDays int           `json:"staleAfterDays"`
	// Sensitive lists the attributes holding data that must not be stored in External ID, by attribute and kind.
	Sensitive []Flag         `json:"sensitive"`
	Fill      []Fill         `json:"fill"`
	Consent   ConsentReport  `json:"consent"`
	Passwords PasswordReport `json:"passwords"`
	Duration  Duration       `json:"duration"`
	// Scanned says which values the sensitive-data scan read.
	Scanned string `json:"scanned"`
	// Tenant holds the look-ups of the valid users' identities in a tenant (audit --tenant-lookups), nil without.
	Tenant *TenantReport `json:"tenant,omitempty"`
}

// SourceCount is one source's records.
type SourceCount struct {
	Name       string `json:"name"`
	Read       int64  `json:"read"`
	Unreadable int64  `json:"unreadable"`
	Rejected   int64  `json:"rejected"`
	Valid      int64  `json:"valid"`
}

// Outcomes counts the records by what the importer would do with them.
type Outcomes struct {
	// Users is the records read as users; Unreadable the records a reader could not parse.
	Users      int64 `json:"users"`
	Unreadable int64 `json:"unreadable"`
	// Valid users would be planned; Rejected ones refused by External ID's rules or the hash checks.
	Valid    int64 `json:"valid"`
	Rejected int64 `json:"rejected"`
	// Reasons are the most frequent reasons for Unreadable and Rejected, values removed; ReasonKinds how many
	// distinct reasons there were.
	Reasons     []Count `json:"reasons"`
	ReasonKinds int     `json:"reasonKinds"`
}

// Count is a named count.
type Count struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// Duplicates are the valid users that share a sign-in name (email or userName) with an earlier one, in the same
// source (the importer would reject them) or in another (a proposed merge), and repeated legacy ids.
type Duplicates struct {
	WithinSource  int64 `json:"withinSource"`
	AcrossSources int64 `json:"acrossSources"`
	LegacyIDs     int64 `json:"legacyIds"`
	// ByWeakest counts the proposed merges by the weakest credential of their two sides, which is what guards
	// the merged account.
	ByWeakest map[string]int64 `json:"byWeakest"`
	Merges    []Merge          `json:"merges"`
}

// Merge is a proposed merge: the later account joins the earlier one. Within one source (SameSource) the importer
// would reject the later account as a duplicate.
type Merge struct {
	Evidence   string   `json:"evidence"`
	SameSource bool     `json:"sameSource"`
	Keep       Side     `json:"keep"`
	Merge      Side     `json:"merge"`
	Guard      Strength `json:"guardedBy"`
}

// Side is one account of a merge. The earlier side's legacy id is not kept (only its line).
type Side struct {
	Source   string   `json:"source"`
	Line     int64    `json:"line"`
	LegacyID string   `json:"legacyId,omitempty"`
	Guard    Strength `json:"credential"`
}

// StaleReport counts the stale accounts by reason (the first that applies: disabled, never signed in, too old).
type StaleReport struct {
	Total         int64   `json:"total"`
	Disabled      Finding `json:"disabled"`
	NeverSignedIn Finding `json:"neverSignedIn"`
	LastSignInOld Finding `json:"lastSignInOld"`
}

// Finding is a count with a few samples.
type Finding struct {
	Count   int64    `json:"count"`
	Samples []Sample `json:"samples,omitempty"`
}

// Sample points at a record; Detail never holds a secret or an unmasked sensitive value.
type Sample struct {
	Source   string `json:"source"`
	Line     int64  `json:"line"`
	LegacyID string `json:"legacyId"`
	Detail   string `json:"detail,omitempty"`
}

// Flag is an attribute holding data that must not be stored: a payment card number, a US social security number,
// or a medical-looking name.
type Flag struct {
	Attribute string   `json:"attribute"`
	Kind      string   `json:"kind"`
	Count     int64    `json:"count"`
	Samples   []Sample `json:"samples,omitempty"`
}

// Fill is how many users have a value for an attribute.
type Fill struct {
	Attribute string  `json:"attribute"`
	Filled    int64   `json:"filled"`
	Rate      float64 `json:"rate"`
}

// ConsentReport counts the consent markers (privacy policy, terms of use) and those with an acceptance date.
type ConsentReport struct {
	Users              int64 `json:"users"`
	PrivacyPolicy      int64 `json:"privacyPolicy"`
	PrivacyPolicyDated int64 `json:"privacyPolicyDated"`
	TermsOfUse         int64 `json:"termsOfUse"`
	TermsOfUseDated    int64 `json:"termsOfUseDated"`
}

// PasswordReport classifies the legacy credentials as `hashes lint` does, plus plaintext passwords and the users
// nothing can check.
type PasswordReport struct {
	Usable      int64   `json:"usable"`
	Formats     []Count `json:"formats"`
	OverLimit   int64   `json:"overLimit"`
	Unknown     int64   `json:"unknown"`
	Malformed   int64   `json:"malformed"`
	Unsupported int64   `json:"unsupported"`
	Plaintext   int64   `json:"plaintext"`
	// LiveCheck users have no credential but a live check verifies them; NeedReset users have neither.
	LiveCheck int64 `json:"liveCheck"`
	NeedReset int64 `json:"needReset"`
}

// Duration is the import's expected wall time at the tenant's write ceiling and the quota it needs.
type Duration struct {
	Creates         int64   `json:"creates"`
	Apps            int     `json:"apps"`
	WritesPerSecond float64 `json:"writesPerSecond"`
	Bound           string  `json:"boundBy"`
	Seconds         float64 `json:"seconds"`
	Quota           int64   `json:"quota"`
	OverQuota       bool    `json:"overQuota"`
}

func (d Duration) wall() string {
	return (time.Duration(d.Seconds) * time.Second).Round(time.Second).String()
}

func pct(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

// WriteText writes the report as an aligned terminal summary.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	p("Sources\tread\tunreadable\trejected\tvalid\n")
	for _, s := range r.Sources {
		p("  %s\t%d\t%d\t%d\t%d\n", s.Name, s.Read, s.Unreadable, s.Rejected, s.Valid)
	}
	o := r.Outcomes
	p("\nOutcomes\t\n  users\t%d\n  valid\t%d\t%s\n  rejected\t%d\t%s\n  unreadable\t%d\n", o.Users, o.Valid, pct(o.Valid, o.Users), o.Rejected, pct(o.Rejected, o.Users), o.Unreadable)
	if len(o.Reasons) > 0 {
		p("\nTop reasons (%d kinds)\t\n", o.ReasonKinds)
		for _, c := range o.Reasons {
			p("  %s\t%d\n", c.Name, c.Count)
		}
	}
	d := r.Duplicates
	p("\nDuplicates\t\n  same sign-in name, same source\t%d\n  same sign-in name, across sources (merges)\t%d\n  repeated legacy id\t%d\n", d.WithinSource, d.AcrossSources, d.LegacyIDs)
	for _, s := range []Strength{StrengthNone, StrengthUnusable, StrengthPlaintext, StrengthFastHash, StrengthSlowHash} {
		if n := d.ByWeakest[s.String()]; n > 0 {
			p("  guarded by %s\t%d\n", s, n)
		}
	}
	for _, m := range d.Merges {
		p("  %s\t%s:%d (%s) <- %s:%d %s (%s)\tguarded by %s\n", m.Evidence, m.Keep.Source, m.Keep.Line, m.Keep.Guard, m.Merge.Source, m.Merge.Line, m.Merge.LegacyID, m.Merge.Guard, m.Guard)
	}
	st := r.Stale
	p("\nStale accounts (older than %d days)\t%d\n", r.StaleAfterDays, st.Total)
	for _, f := range []struct {
		name string
		f    Finding
	}{{"disabled", st.Disabled}, {"never signed in", st.NeverSignedIn}, {"last sign-in too old", st.LastSignInOld}} {
		p("  %s\t%d\t%s\n", f.name, f.f.Count, samples(f.f.Samples))
	}
	p("\nWhat not to store\t%d flagged\n", len(r.Sensitive))
	for _, f := range r.Sensitive {
		p("  %s\t%s\t%d\t%s\n", f.Attribute, f.Kind, f.Count, samples(f.Samples))
	}
	p("\nFill rate\t\n")
	for _, f := range r.Fill {
		p("  %s\t%d\t%.1f%%\n", f.Attribute, f.Filled, 100*f.Rate)
	}
	c := r.Consent
	p("\nConsent markers\t\n  privacy policy\t%d\t(%d dated)\n  terms of use\t%d\t(%d dated)\n", c.PrivacyPolicy, c.PrivacyPolicyDated, c.TermsOfUse, c.TermsOfUseDated)
	pw := r.Passwords
	p("\nPasswords\t\n  usable hashes\t%d\n", pw.Usable)
	for _, f := range pw.Formats {
		p("    %s\t%d\n", f.Name, f.Count)
	}
	p("  over the cost caps\t%d\n  unknown format\t%d\n  malformed\t%d\n  unsupported\t%d\n  plaintext\t%d\n  no credential, live check\t%d\n  no credential, need a reset\t%d\n",
		pw.OverLimit, pw.Unknown, pw.Malformed, pw.Unsupported, pw.Plaintext, pw.LiveCheck, pw.NeedReset)
	du := r.Duration
	p("\nDuration\t\n  accounts to create\t%d\n  write ceiling\t%.1f/s (%d app(s), bound by the %s)\n  expected wall time\t%s\n  directory quota\t%d\t%s\n",
		du.Creates, du.WritesPerSecond, du.Apps, du.Bound, du.wall(), du.Quota, map[bool]string{true: "EXCEEDED", false: "enough"}[du.OverQuota])
	if r.Tenant != nil {
		r.Tenant.write(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nScanned for data not to store: %s.\n", r.Scanned)
	return err
}

func samples(s []Sample) string {
	var b []string
	for _, x := range s {
		t := fmt.Sprintf("%s:%d %s", x.Source, x.Line, x.LegacyID)
		if x.Detail != "" {
			t += " " + x.Detail
		}
		b = append(b, t)
	}
	return strings.Join(b, ", ")
}

// bar is one row of an inline SVG bar chart.
type bar struct {
	Label string
	Value int64
	Width float64
}

func bars(rows []Count) []bar {
	var max int64
	for _, r := range rows {
		max = maxInt(max, r.Count)
	}
	out := make([]bar, 0, len(rows))
	for _, r := range rows {
		w := 0.0
		if max > 0 {
			w = 300 * float64(r.Count) / float64(max)
		}
		out = append(out, bar{Label: r.Name, Value: r.Count, Width: w})
	}
	return out
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

var page = template.Must(template.New("audit").Funcs(template.FuncMap{
	"pct":     pct,
	"rate":    func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"samples": samples,
	"mul":     func(i int, f float64) float64 { return float64(i) * f },
	"height":  func(n int) int { return 22*n + 4 },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>idshift audit</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left}
td.n{text-align:right}
.warn{color:#a00;font-weight:bold}
</style></head><body>
<h1>idshift audit</h1>
{{define "chart"}}<svg xmlns="http://www.w3.org/2000/svg" width="720" height="{{height (len .)}}">{{range $i, $b := .}}<text x="0" y="{{mul $i 22 | printf "%.0f"}}" dy="15" font-size="12">{{$b.Label}}</text><rect x="300" y="{{mul $i 22 | printf "%.0f"}}" width="{{printf "%.1f" $b.Width}}" height="18" fill="#4a7bd0"/><text x="{{printf "%.1f" $b.Width}}" dx="305" y="{{mul $i 22 | printf "%.0f"}}" dy="15" font-size="12">{{$b.Value}}</text>{{end}}</svg>{{end}}
<h2>Outcomes</h2>
<table><tr><th>source</th><th>read</th><th>unreadable</th><th>rejected</th><th>valid</th></tr>
{{range .R.Sources}}<tr><td>{{.Name}}</td><td class="n">{{.Read}}</td><td class="n">{{.Unreadable}}</td><td class="n">{{.Rejected}}</td><td class="n">{{.Valid}}</td></tr>
{{end}}</table>
{{template "chart" .Outcomes}}
{{if .R.Outcomes.Reasons}}<h3>Top reasons ({{.R.Outcomes.ReasonKinds}} kinds)</h3>
<table><tr><th>reason</th><th>users</th></tr>{{range .R.Outcomes.Reasons}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td></tr>{{end}}</table>{{end}}
<h2>Duplicates and proposed merges</h2>
<table><tr><th>same sign-in name, same source</th><td class="n">{{.R.Duplicates.WithinSource}}</td></tr>
<tr><th>same sign-in name, across sources</th><td class="n">{{.R.Duplicates.AcrossSources}}</td></tr>
<tr><th>repeated legacy id</th><td class="n">{{.R.Duplicates.LegacyIDs}}</td></tr></table>
<p>A merged account is only as safe as its weakest credential.</p>
{{if .R.Duplicates.Merges}}<table><tr><th>evidence</th><th>kept</th><th>merged</th><th>guarded by</th></tr>
{{range .R.Duplicates.Merges}}<tr><td>{{.Evidence}}</td><td>{{.Keep.Source}}:{{.Keep.Line}} ({{.Keep.Guard}})</td><td>{{.Merge.Source}}:{{.Merge.Line}} {{.Merge.LegacyID}} ({{.Merge.Guard}})</td><td>{{.Guard}}</td></tr>
{{end}}</table>{{end}}
<h2>Stale accounts (last sign-in older than {{.R.StaleAfterDays}} days)</h2>
<table><tr><th>reason</th><th>accounts</th><th>samples</th></tr>
<tr><td>disabled</td><td class="n">{{.R.Stale.Disabled.Count}}</td><td>{{samples .R.Stale.Disabled.Samples}}</td></tr>
<tr><td>never signed in</td><td class="n">{{.R.Stale.NeverSignedIn.Count}}</td><td>{{samples .R.Stale.NeverSignedIn.Samples}}</td></tr>
<tr><td>last sign-in too old</td><td class="n">{{.R.Stale.LastSignInOld.Count}}</td><td>{{samples .R.Stale.LastSignInOld.Samples}}</td></tr></table>
<h2>What not to store</h2>
{{if .R.Sensitive}}<table><tr><th>attribute</th><th>kind</th><th>users</th><th>samples (masked)</th></tr>
{{range .R.Sensitive}}<tr class="warn"><td>{{.Attribute}}</td><td>{{.Kind}}</td><td class="n">{{.Count}}</td><td>{{samples .Samples}}</td></tr>
{{end}}</table>{{else}}<p>Nothing flagged.</p>{{end}}
<p>Scanned: {{.R.Scanned}}</p>
<h2>Fill rate</h2>
<table><tr><th>attribute</th><th>users</th><th>rate</th></tr>{{range .R.Fill}}<tr><td>{{.Attribute}}</td><td class="n">{{.Filled}}</td><td class="n">{{rate .Rate}}</td></tr>{{end}}</table>
{{template "chart" .Fill}}
<h2>Consent markers</h2>
<table><tr><th>privacy policy</th><td class="n">{{.R.Consent.PrivacyPolicy}}</td><td>{{.R.Consent.PrivacyPolicyDated}} dated</td></tr>
<tr><th>terms of use</th><td class="n">{{.R.Consent.TermsOfUse}}</td><td>{{.R.Consent.TermsOfUseDated}} dated</td></tr></table>
<h2>Passwords</h2>
{{template "chart" .Passwords}}
{{if .R.Passwords.Formats}}<table><tr><th>usable format</th><th>users</th></tr>{{range .R.Passwords.Formats}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td></tr>{{end}}</table>{{end}}
<h2>Duration</h2>
<table><tr><th>accounts to create</th><td class="n">{{.R.Duration.Creates}}</td></tr>
<tr><th>write ceiling</th><td class="n">{{printf "%.1f" .R.Duration.WritesPerSecond}}/s ({{.R.Duration.Apps}} app(s), bound by the {{.R.Duration.Bound}})</td></tr>
<tr><th>expected wall time</th><td class="n">{{.Wall}}</td></tr>
<tr><th>directory quota</th><td class="n{{if .R.Duration.OverQuota}} warn{{end}}">{{.R.Duration.Quota}}{{if .R.Duration.OverQuota}} (exceeded){{end}}</td></tr></table>
{{with .R.Tenant}}<h2>In the tenant (read-only look-ups)</h2>
<table><tr><th>users looked up</th><td class="n">{{.Users}}</td><td>{{.Identities}} identities</td></tr>
<tr><th>free</th><td class="n">{{.Free}}</td><td></td></tr>
<tr><th>already imported (same legacy id)</th><td class="n">{{.AlreadyImported.Count}}</td><td>{{samples .AlreadyImported.Samples}}</td></tr>
<tr class="warn"><th>collisions (taken by another account)</th><td class="n">{{.Collisions.Count}}</td><td>{{samples .Collisions.Samples}}</td></tr>
<tr><th>look-ups failed (run again)</th><td class="n">{{.Failed.Count}}</td><td>{{samples .Failed.Samples}}</td></tr></table>{{end}}
</body></html>
`))

// WriteHTML writes the report as a self-contained HTML page: tables and inline SVG bar charts, no external assets.
func (r *Report) WriteHTML(w io.Writer) error {
	var fill []Count
	for _, f := range r.Fill {
		fill = append(fill, Count{Name: f.Attribute, Count: f.Filled})
	}
	pw := r.Passwords
	data := struct {
		R                         *Report
		Outcomes, Fill, Passwords []bar
		Wall                      string
	}{
		R:        r,
		Outcomes: bars([]Count{{"valid", r.Outcomes.Valid}, {"rejected", r.Outcomes.Rejected}, {"unreadable", r.Outcomes.Unreadable}}),
		Fill:     bars(fill),
		Passwords: bars([]Count{{"usable", pw.Usable}, {"over the cost caps", pw.OverLimit}, {"unknown format", pw.Unknown},
			{"malformed", pw.Malformed}, {"unsupported", pw.Unsupported}, {"plaintext", pw.Plaintext},
			{"live check", pw.LiveCheck}, {"need a reset", pw.NeedReset}}),
		Wall: r.Duration.wall(),
	}
	if err := page.Execute(w, data); err != nil {
		return fmt.Errorf("cleanup: html report: %w", err)
	}
	return nil
}
