// Package dashboard serves the migration's figures as one page on `idshift serve`'s admin listener, behind a
// password of its own: migrations over time, attempts by answer, what is left in the state store, and this
// replica's decision latency and guard blocks.
//
// The figures are package report's (report.Read over serve's store, offline, turned into a report.View: the same
// code that writes `idshift report --html`), plus jit.Metrics.Snapshot for what only the running process knows.
// The page is rendered on the server (html/template); its charts are drawn by uPlot (assets/, MIT, vendored without
// a build step) from the page's data, kept in a JSON block: the Content-Security-Policy allows no inline script and
// no inline style. The page reloads its figures every Refresh.
//
//	GET /dashboard                  the page
//	GET /dashboard/data.json        its figures (Data), for scripts
//	GET /dashboard/assets/{name}    uPlot, the page's script and style sheet
//
// Every path needs HTTP basic authentication as User with the configured password; ten wrong passwords from one
// client address within 15 minutes refuse that address (429) for 15 minutes, without checking the password.
// Nothing shown names a user: every figure is a count.
//
// Example:
//
//	d, err := dashboard.Config{
//		Status:   func(ctx context.Context) (*report.Status, error) { return report.Read(ctx, report.Config{Store: st, SkipCredentials: true}) },
//		Metrics:  metrics,
//		Password: passwordFileContent, // a password, or its bcrypt or argon2id hash
//	}.Open()
//	if err != nil { ... }
//	admin := &jit.Admin{Metrics: metrics, Dashboard: d}
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/jit"
	"github.com/idshift/idshift/report"
)

// User is the dashboard's fixed HTTP basic user name.
const User = "admin"

// DefaultRefresh is how often the page reloads its figures when Config.Refresh is zero.
const DefaultRefresh = 30 * time.Second

// Failure limit per client address: FailureLimit wrong passwords within FailureWindow refuse the address for as
// long (guard's "ip" scope).
const (
	FailureLimit  = 10
	FailureWindow = 15 * time.Minute
)

// csp lets the page load its own script, style sheets and data, and nothing else: no inline script or style, no
// other origin, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed assets
var assets embed.FS

//go:embed page.html
var pageHTML string

// Config configures the dashboard. Status and Password are required; the zero value of every other field is
// usable.
type Config struct {
	// Status reads the figures: report.Read over the service's store (offline, SkipCredentials: the page reads
	// them every Refresh). Reads are shared: at most one every Refresh/2, whatever the number of viewers.
	Status func(ctx context.Context) (*report.Status, error)
	// Metrics is the service's; its latency histograms and guard blocks are shown as this replica's. Optional.
	Metrics *jit.Metrics
	// Password is the content of the password file: the password itself (at least MinPasswordLen characters),
	// or its bcrypt ("$2b$…") or argon2id ("$argon2id$…") hash. Surrounding white space is ignored.
	Password string
	// Guard counts wrong passwords by client address. Default: in memory, FailureLimit per FailureWindow.
	Guard idshift.Guard
	// Refresh is how often the page reloads its figures (default DefaultRefresh; at least one second).
	Refresh time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
}

// Dashboard is the handler of /dashboard and the paths under it. Safe for concurrent use.
type Dashboard struct {
	status  func(context.Context) (*report.Status, error)
	metrics *jit.Metrics
	cred    *credential
	guard   idshift.Guard
	refresh time.Duration
	now     func() time.Time
	log     *slog.Logger
	since   time.Time
	page    *template.Template
	static  fs.FS

	mu     sync.Mutex // held while the figures are read, so that viewers share one read
	last   *report.Status
	lastAt time.Time
}

// Open checks the configuration and returns the dashboard. An error names the field at fault, never the password.
func (c Config) Open() (*Dashboard, error) {
	if c.Status == nil {
		return nil, idshift.Invalid("dashboard status", "required")
	}
	cred, err := parseCredential(c.Password)
	if err != nil {
		return nil, err
	}
	d := &Dashboard{status: c.Status, metrics: c.Metrics, cred: cred, guard: c.Guard, refresh: c.Refresh, now: c.Now,
		log: c.Logger}
	if d.refresh == 0 {
		d.refresh = DefaultRefresh
	}
	if d.refresh < time.Second {
		return nil, idshift.Invalid("dashboard refresh", "%s: at least 1s", d.refresh)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.guard == nil {
		off := guard.Limit{Failures: -1}
		g, err := guard.Config{Pair: off, Account: off, IP: guard.Limit{Failures: FailureLimit, Window: FailureWindow, LockFor: FailureWindow},
			MaxKeys: 10000, Now: c.Now}.OpenMemory()
		if err != nil {
			return nil, fmt.Errorf("dashboard: guard: %w", err)
		}
		d.guard = g
	}
	d.since = d.now().UTC()
	if d.static, err = fs.Sub(assets, "assets"); err != nil {
		return nil, err
	}
	d.page, err = template.New("page").Funcs(template.FuncMap{"num": formatCount}).Parse(pageHTML)
	if err != nil {
		return nil, fmt.Errorf("dashboard: page template: %w", err)
	}
	return d, nil
}

// ServeHTTP serves the page, its data and its assets to an authenticated viewer.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if !d.authenticate(w, r) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch p := r.URL.Path; {
	case p == "/dashboard":
		d.servePage(w, r)
	case p == "/dashboard/":
		http.Redirect(w, r, "/dashboard", http.StatusFound)
	case p == "/dashboard/data.json":
		d.serveData(w, r)
	case strings.HasPrefix(p, "/dashboard/assets/"):
		d.serveAsset(w, r, strings.TrimPrefix(p, "/dashboard/assets/"))
	default:
		http.NotFound(w, r)
	}
}

// authenticate answers the request itself (401, 429, 503) and returns false unless it carries the credentials.
func (d *Dashboard) authenticate(w http.ResponseWriter, r *http.Request) bool {
	ctx := r.Context()
	ip := clientIP(r)
	lock, err := d.guard.Check(ctx, User, ip)
	if err != nil {
		d.log.Error("dashboard: guard", "err", err)
		http.Error(w, "try again later", http.StatusServiceUnavailable)
		return false
	}
	if lock.Locked {
		refuse(w, lock.Until.Sub(d.now()))
		return false
	}
	user, password, ok := r.BasicAuth()
	if !ok {
		challenge(w)
		return false
	}
	good, err := d.cred.check(ctx, user, password)
	if err != nil {
		d.log.Error("dashboard: password check", "err", err)
		http.Error(w, "try again later", http.StatusServiceUnavailable)
		return false
	}
	if !good {
		lock, err := d.guard.Fail(ctx, User, ip)
		if err != nil {
			d.log.Error("dashboard: guard", "err", err)
		}
		d.log.Warn("dashboard: wrong user or password", "client_ip", ip, "locked", lock.Locked)
		challenge(w)
		return false
	}
	if err := d.guard.Succeed(ctx, User, ip); err != nil {
		d.log.Error("dashboard: guard", "err", err)
	}
	return true
}

func challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="idshift dashboard", charset="UTF-8"`)
	http.Error(w, "sign in as "+User+" with the dashboard's password", http.StatusUnauthorized)
}

func refuse(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(int(math.Ceil(wait.Seconds())), 1)))
	http.Error(w, "too many wrong passwords from this address: try again later", http.StatusTooManyRequests)
}

// clientIP is the address the connection comes from: the admin listener is private, so no forwarding header is
// trusted.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Data is what the page shows: report's View of the store's figures and this replica's measurements. It is the
// JSON of /dashboard/data.json and of the page's data block.
type Data struct {
	report.View
	// RefreshSeconds is how often the page reloads its figures.
	RefreshSeconds int `json:"refreshSeconds"`
	// Since is when this replica's figures started counting ("2006-01-02 15:04:05 UTC").
	Since string `json:"since"`
	// Replica is this process's measurements since Since: latency histograms, guard blocks by scope.
	Replica jit.MetricsSnapshot `json:"replica"`
	// Latency summarises Replica.Latency by front.
	Latency []LatencySummary `json:"latency"`
	// GuardBlocks is Replica.GuardBlocks in scope order.
	GuardBlocks []report.Count `json:"guardBlocks"`
}

// LatencySummary is one front's decision latency: the number of answers, their mean, and the bucket bounds under
// which half, 95% and 99% of them fall ("≤ 50 ms"; "> 2 s" past the last bound).
type LatencySummary struct {
	Front  string  `json:"front"`
	N      uint64  `json:"n"`
	MeanMS float64 `json:"meanMs"`
	P50    string  `json:"p50"`
	P95    string  `json:"p95"`
	P99    string  `json:"p99"`
}

// Read returns the figures the page shows, reading the store at most once every Refresh/2.
func (d *Dashboard) Read(ctx context.Context) (*Data, error) {
	st, err := d.readStatus(ctx)
	if err != nil {
		return nil, err
	}
	snap := d.metrics.Snapshot()
	data := &Data{View: st.View(), RefreshSeconds: int(d.refresh / time.Second), Since: d.since.Format("2006-01-02 15:04:05 UTC"),
		Replica: snap, GuardBlocks: []report.Count{}}
	for _, h := range snap.Latency {
		data.Latency = append(data.Latency, summarize(h, snap.Bounds))
	}
	for _, scope := range []string{guard.ScopePair, guard.ScopeAccount, guard.ScopeIP} {
		data.GuardBlocks = append(data.GuardBlocks, report.Count{Label: scope, N: int64(snap.GuardBlocks[scope])})
	}
	return data, nil
}

func (d *Dashboard) readStatus(ctx context.Context) (*report.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last != nil && d.now().Sub(d.lastAt) < d.refresh/2 {
		return d.last, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	st, err := d.status(ctx)
	if err != nil {
		return nil, err
	}
	d.last, d.lastAt = st, d.now()
	return st, nil
}

func summarize(h jit.LatencyHistogram, bounds []float64) LatencySummary {
	s := LatencySummary{Front: h.Front, N: h.N}
	if h.N > 0 {
		s.MeanMS = math.Round(h.Sum/float64(h.N)*1e4) / 10
	}
	s.P50, s.P95, s.P99 = quantile(h, bounds, 0.50), quantile(h, bounds, 0.95), quantile(h, bounds, 0.99)
	return s
}

// quantile returns the bound of the bucket that holds the q-quantile of h.
func quantile(h jit.LatencyHistogram, bounds []float64, q float64) string {
	if h.N == 0 {
		return "–"
	}
	target := uint64(math.Ceil(q * float64(h.N)))
	var cum uint64
	for i, n := range h.Counts {
		cum += n
		if cum >= target {
			if i < len(bounds) {
				return "≤ " + formatSeconds(bounds[i])
			}
			break
		}
	}
	return "> " + formatSeconds(bounds[len(bounds)-1])
}

// formatSeconds writes a bucket bound: "5 ms", "1.5 s".
func formatSeconds(s float64) string {
	if s < 1 {
		return strconv.FormatFloat(s*1000, 'f', -1, 64) + " ms"
	}
	return strconv.FormatFloat(s, 'f', -1, 64) + " s"
}

// formatCount writes n with thousands separators: 1,234,567.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func (d *Dashboard) read(w http.ResponseWriter, r *http.Request) (*Data, bool) {
	data, err := d.Read(r.Context())
	if err != nil {
		// The details go to the log: a store's error may carry its address.
		d.log.Error("dashboard: reading the figures", "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(int(d.refresh/time.Second)))
		http.Error(w, "the figures could not be read: try again later", http.StatusServiceUnavailable)
		return nil, false
	}
	return data, true
}

func (d *Dashboard) servePage(w http.ResponseWriter, r *http.Request) {
	data, ok := d.read(w, r)
	if !ok {
		return
	}
	var b strings.Builder
	if err := d.page.Execute(&b, data); err != nil {
		d.log.Error("dashboard: page", "err", err)
		http.Error(w, "the page could not be written", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(b.String()))
}

func (d *Dashboard) serveData(w http.ResponseWriter, r *http.Request) {
	data, ok := d.read(w, r)
	if !ok {
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		d.log.Error("dashboard: data", "err", err)
		http.Error(w, "the figures could not be written", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

func (d *Dashboard) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	ct, known := contentTypes[path.Ext(name)]
	if !known || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(d.static, name)
	if errors.Is(err, fs.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "asset unreadable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(b)
}
