// Package browsertest drives a real headless Chromium from Go tests, through the Chrome DevTools Protocol
// (chromedp), so that pages are checked as a browser renders them: scripts run, the Content-Security-Policy is
// enforced, canvases are drawn.
//
// The browser is $IDSHIFT_CHROMIUM, else /usr/bin/chromium (Debian's chromium package). When it is missing or does
// not start, a test that asks for it skips with the reason, or fails under IDSHIFT_REQUIRE_SERVICES=1 (the policy
// of internal/servicetest, as CI runs). One browser serves a whole test package: its TestMain calls Main, and each
// test opens its own tab.
//
//	func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }
//
//	func TestPage(t *testing.T) {
//		tab := browsertest.NewTab(t)
//		status, err := tab.Navigate(url)
//		...
//		tab.NoProblems(t) // no exception, no console error, no CSP violation, no failed load
//	}
package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/idshift/idshift/internal/servicetest"
)

// DefaultPath is Debian's chromium.
const DefaultPath = "/usr/bin/chromium"

// Flags are given to Chromium besides chromedp's defaults (headless, no first run, no background networking...).
// Without them Chromium hangs on a closed network (component updates, QUIC probes) or inside a container (the
// sandbox needs user namespaces).
var Flags = []string{"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run",
	"disable-background-networking", "disable-component-update", "disable-sync", "disable-default-apps",
	"disable-extensions", "hide-scrollbars", "mute-audio"}

// Width and Height are the window's size, so that screenshots are comparable between runs.
const (
	Width  = 1280
	Height = 1000
)

// TabTimeout bounds everything one tab does; StartTimeout bounds the browser's start.
const (
	TabTimeout   = 60 * time.Second
	StartTimeout = 60 * time.Second
)

// Path returns the browser to run: $IDSHIFT_CHROMIUM, else DefaultPath; "" when that file does not exist.
func Path() string {
	p := os.Getenv("IDSHIFT_CHROMIUM")
	if p == "" {
		p = DefaultPath
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Browser is one Chromium process with a fresh profile.
type Browser struct {
	ctx         context.Context // the browser's first tab; new tabs derive from it
	cancel      context.CancelFunc
	allocCancel context.CancelFunc
	dir         string
}

// Start starts the browser at path, headless, with Flags and a new profile directory, and waits until it answers.
func Start(path string) (*Browser, error) {
	dir, err := os.MkdirTemp("", "idshift-chromium-")
	if err != nil {
		return nil, fmt.Errorf("browsertest: profile: %w", err)
	}
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts, chromedp.ExecPath(path), chromedp.UserDataDir(dir), chromedp.WindowSize(Width, Height),
		chromedp.Flag("force-device-scale-factor", "1"))
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &Browser{ctx: ctx, cancel: cancel, allocCancel: allocCancel, dir: dir}
	// The first Run starts the process. Its context must not carry a timeout (ending it would end the browser),
	// so the wait is bounded here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(StartTimeout):
		err = fmt.Errorf("no answer within %s", StartTimeout)
	}
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("browsertest: start %s: %w", path, err)
	}
	return b, nil
}

// Close ends the browser process and removes its profile.
func (b *Browser) Close() {
	b.cancel()
	b.allocCancel()
	os.RemoveAll(b.dir)
}

var shared struct {
	mu  sync.Mutex
	b   *Browser
	err error
	ran bool
}

// Main runs the package's tests, then ends the browser if a test started one. TestMain exits with its result.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.b != nil {
		shared.b.Close()
		shared.b = nil
	}
	return code
}

// Shared returns the package's browser, started at the first call. Without a browser the test skips, or fails
// under IDSHIFT_REQUIRE_SERVICES=1.
func Shared(tb testing.TB) *Browser {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.ran {
		shared.ran = true
		if p := Path(); p == "" {
			want := os.Getenv("IDSHIFT_CHROMIUM")
			if want == "" {
				want = DefaultPath
			}
			shared.err = fmt.Errorf("no Chromium at %s: install Debian's chromium package or set IDSHIFT_CHROMIUM", want)
		} else {
			shared.b, shared.err = Start(p)
		}
	}
	if shared.err != nil {
		servicetest.Unavailable(tb, shared.err.Error())
	}
	return shared.b
}

// Tab is one page of the browser, closed when its test ends. It records what would show in the browser's console
// as a problem: uncaught exceptions, console.error calls, and the browser's own error entries
// (Content-Security-Policy violations, resources that failed to load).
type Tab struct {
	Ctx context.Context

	mu       sync.Mutex
	problems []string
	syncs    int
	synced   chan string // the markers Problems writes to the console, as the reader sees them

	answering      bool // AnswerChallenges was called
	user, password string
}

// NewTab opens a tab in the package's browser (Shared), bounded by TabTimeout.
func NewTab(tb testing.TB) *Tab {
	tb.Helper()
	b := Shared(tb)
	ctx, cancel := chromedp.NewContext(b.ctx)
	tb.Cleanup(cancel)
	// The tab opens with the first action; a timeout goes on the actions after it (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("browsertest: open a tab: %v", err)
	}
	t := &Tab{synced: make(chan string, 16)}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			t.record(m)
		}
	}()
	tctx, cancelTimeout := context.WithTimeout(ctx, TabTimeout)
	tb.Cleanup(cancelTimeout)
	t.Ctx = tctx
	return t
}

// syncMarker starts the console messages Problems writes to know that every earlier message was read.
const syncMarker = "browsertest: sync "

func (t *Tab) record(m chromedp.ConsoleMessage) {
	if m.Type == chromedp.ConsoleDebug && strings.HasPrefix(m.Text, syncMarker) {
		select {
		case t.synced <- m.Text:
		default:
		}
		return
	}
	if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException && m.Type != "assert" {
		return
	}
	p := m.String()
	if m.Source != "" {
		p = m.Source + " " + p
	}
	if m.URL != "" {
		p += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
	}
	t.mu.Lock()
	t.problems = append(t.problems, p)
	t.mu.Unlock()
}

// Problems returns what the console would have shown as errors so far. It writes a marker to the console and
// waits until it is read, so every message the page wrote before the call is counted.
func (t *Tab) Problems() []string {
	t.mu.Lock()
	t.syncs++
	marker := fmt.Sprintf("%s%d", syncMarker, t.syncs)
	t.mu.Unlock()
	var lost string
	if _, err := chromedp.Run(t.Ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("console.debug(%q)", marker))); err != nil {
		lost = "browsertest: the console could not be read: " + err.Error()
	} else {
		timeout := time.After(5 * time.Second)
	wait:
		for {
			select {
			case got := <-t.synced:
				if got == marker {
					break wait
				}
			case <-timeout:
				lost = "browsertest: the console's messages were not all read within 5 s"
				break wait
			}
		}
	}
	t.mu.Lock()
	if lost != "" {
		t.problems = append(t.problems, lost)
	}
	defer t.mu.Unlock()
	return append([]string(nil), t.problems...)
}

// NoProblems fails the test with every problem recorded so far.
func (t *Tab) NoProblems(tb testing.TB) {
	tb.Helper()
	for _, p := range t.Problems() {
		tb.Errorf("browser console: %s", p)
	}
}

// AnswerChallenges makes the tab answer every HTTP authentication challenge (a 401 with WWW-Authenticate) as a
// person would at the browser's prompt: with user and password, once per request; a challenge repeated for the same
// request (the credentials were refused) is cancelled, so the page shows the 401 answer. An empty user cancels
// every challenge. Without it, a challenged navigation fails (headless Chromium has no prompt). The browser then
// keeps accepted credentials for the page's own requests (scripts, fetch), as it does for a person.
func (t *Tab) AnswerChallenges(user, password string) error {
	t.mu.Lock()
	t.user, t.password = user, password
	started := t.answering
	t.answering = true
	t.mu.Unlock()
	if started {
		return nil
	}
	paused := chromedp.Events(t.Ctx, fetch.RequestPaused)
	challenges := chromedp.Events(t.Ctx, fetch.AuthRequired)
	if _, err := chromedp.Call(t.Ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: new(true)}); err != nil {
		return fmt.Errorf("browsertest: answer challenges: %w", err)
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			chromedp.Call(t.Ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		answered := map[fetch.RequestID]bool{}
		for ev, err := range challenges {
			if err != nil {
				return
			}
			t.mu.Lock()
			user, password := t.user, t.password
			t.mu.Unlock()
			resp := &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
			if user != "" && !answered[ev.RequestID] {
				resp = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials,
					Username: user, Password: password}
				answered[ev.RequestID] = true
			}
			chromedp.Call(t.Ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: resp})
		}
	}()
	return nil
}

// Navigate loads url and waits for its load event; it returns the HTTP status of the document.
func (t *Tab) Navigate(url string) (int, error) {
	resp, err := chromedp.Run(t.Ctx, chromedp.NavigateResponse(url))
	if err != nil {
		return 0, err
	}
	if resp == nil {
		return 0, fmt.Errorf("browsertest: %s: no response", url)
	}
	return int(resp.Status), nil
}

// Eval evaluates a JavaScript expression in the page and decodes its (JSON) value into out; a promise is awaited.
func Eval[T any](t *Tab, expr string) (T, error) {
	return chromedp.Run(t.Ctx, chromedp.Evaluate[T](expr, func(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }))
}

// WaitVisible waits until the element the CSS selector sel selects is visible.
func (t *Tab) WaitVisible(sel string) error {
	return chromedp.Do(t.Ctx, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Screenshot takes a PNG of the whole page and decodes it.
func (t *Tab) Screenshot() ([]byte, image.Image, error) {
	buf, err := chromedp.Run(t.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return nil, nil, err
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		return nil, nil, fmt.Errorf("browsertest: screenshot: %w", err)
	}
	return buf, img, nil
}

// Box is an element's place on the page, in CSS pixels from the document's top left corner.
type Box struct {
	X, Y, W, H float64
}

// BoxOf returns the bounding box of the first element sel selects (getBoundingClientRect plus the scroll); a
// zero Box when nothing matches.
func (t *Tab) BoxOf(sel string) (Box, error) {
	return Eval[Box](t, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return {X: 0, Y: 0, W: 0, H: 0};
		const r = e.getBoundingClientRect(); return {X: r.x + scrollX, Y: r.y + scrollY, W: r.width, H: r.height}; })()`, sel))
}

// Artifact writes data to $IDSHIFT_ARTIFACTS/name, when that variable is set, and logs where.
func Artifact(tb testing.TB, name string, data []byte) {
	tb.Helper()
	dir := os.Getenv("IDSHIFT_ARTIFACTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Errorf("artifacts: %v", err)
		return
	}
	path := dir + string(os.PathSeparator) + name
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Errorf("artifacts: %v", err)
		return
	}
	tb.Logf("wrote %s", path)
}
