package jit

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBuckets are the upper bounds, in seconds, of the decision latency histograms: fine around Entra's
// budgets (200–2,000 ms).
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2}

// Metrics are the service's measurements, written in the Prometheus text format (version 0.0.4) by ServeHTTP. The
// zero value is ready; a nil *Metrics records nothing. Labels carry only fronts, actions, reasons, scopes and
// results: never a user, an address or a secret.
type Metrics struct {
	mu       sync.Mutex
	attempts map[[3]string]uint64 // front, action, reason
	latency  map[string]*histogram
	blocks   map[string]uint64 // guard blocks by scope

	// JWKS, when set, reports the fetches of the external authority's signing keys (started, failed), as
	// entra.TokenValidator.Stats counts them.
	JWKS   func() (fetches, failures uint64)
	unauth map[string]uint64 // calls refused 401, by front

	sheds     atomic.Uint64
	deadlines atomic.Uint64
	inFlight  atomic.Int64
	dropped   atomic.Uint64
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative; one more for +Inf
	sum    float64
	n      uint64
}

func (m *Metrics) observe(front string, d Decision, took time.Duration) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.attempts == nil {
		m.attempts = make(map[[3]string]uint64)
		m.latency = make(map[string]*histogram)
	}
	m.attempts[[3]string{front, string(d.Action), d.Reason}]++
	h := m.latency[front]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets)+1)}
		m.latency[front] = h
	}
	sec := took.Seconds()
	i, _ := slices.BinarySearch(latencyBuckets, sec)
	h.counts[i]++
	h.sum += sec
	h.n++
}

func (m *Metrics) guardBlock(scope string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if m.blocks == nil {
		m.blocks = make(map[string]uint64)
	}
	m.blocks[scope]++
	m.mu.Unlock()
}

func (m *Metrics) unauthenticated(front string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if m.unauth == nil {
		m.unauth = make(map[string]uint64)
	}
	m.unauth[front]++
	m.mu.Unlock()
}

func (m *Metrics) shed() {
	if m != nil {
		m.sheds.Add(1)
	}
}

func (m *Metrics) deadlineAnswer() {
	if m != nil {
		m.deadlines.Add(1)
	}
}

func (m *Metrics) inflight(delta int64) {
	if m != nil {
		m.inFlight.Add(delta)
	}
}

func (m *Metrics) recordDropped() {
	if m != nil {
		m.dropped.Add(1)
	}
}

// ServeHTTP writes the metrics in the Prometheus text format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.WriteText(w)
}

// WriteText writes the metrics in the Prometheus text format, series sorted by labels.
func (m *Metrics) WriteText(w io.Writer) error {
	var b strings.Builder
	if m == nil {
		m = &Metrics{}
	}
	m.mu.Lock()
	b.WriteString("# HELP idshift_attempts_total Password checks answered, by front, action and reason.\n# TYPE idshift_attempts_total counter\n")
	keys := make([][3]string, 0, len(m.attempts))
	for k := range m.attempts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [3]string) int {
		return strings.Compare(a[0]+"\x00"+a[1]+"\x00"+a[2], b[0]+"\x00"+b[1]+"\x00"+b[2])
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "idshift_attempts_total{front=%s,action=%s,reason=%s} %d\n", q(k[0]), q(k[1]), q(k[2]), m.attempts[k])
	}
	b.WriteString("# HELP idshift_decision_seconds Time to answer one password check, by front.\n# TYPE idshift_decision_seconds histogram\n")
	for _, front := range sortedKeys(m.latency) {
		h := m.latency[front]
		var cum uint64
		for i, le := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(&b, "idshift_decision_seconds_bucket{front=%s,le=\"%s\"} %d\n", q(front), strconv.FormatFloat(le, 'g', -1, 64), cum)
		}
		fmt.Fprintf(&b, "idshift_decision_seconds_bucket{front=%s,le=\"+Inf\"} %d\n", q(front), h.n)
		fmt.Fprintf(&b, "idshift_decision_seconds_sum{front=%s} %s\n", q(front), strconv.FormatFloat(h.sum, 'g', -1, 64))
		fmt.Fprintf(&b, "idshift_decision_seconds_count{front=%s} %d\n", q(front), h.n)
	}
	b.WriteString("# HELP idshift_guard_blocks_total Attempts blocked by the brute-force guard, by lock scope.\n# TYPE idshift_guard_blocks_total counter\n")
	for _, s := range sortedKeys(m.blocks) {
		fmt.Fprintf(&b, "idshift_guard_blocks_total{scope=%s} %d\n", q(s), m.blocks[s])
	}
	b.WriteString("# HELP idshift_jwks_refreshes_total Refreshes of the external authority's signing keys, by result.\n# TYPE idshift_jwks_refreshes_total counter\n")
	if m.JWKS != nil {
		fetches, failures := m.JWKS()
		fmt.Fprintf(&b, "idshift_jwks_refreshes_total{result=\"ok\"} %d\nidshift_jwks_refreshes_total{result=\"error\"} %d\n", fetches-failures, failures)
	}
	b.WriteString("# HELP idshift_unauthenticated_total Calls refused with 401, by front.\n# TYPE idshift_unauthenticated_total counter\n")
	for _, s := range sortedKeys(m.unauth) {
		fmt.Fprintf(&b, "idshift_unauthenticated_total{front=%s} %d\n", q(s), m.unauth[s])
	}
	m.mu.Unlock()
	fmt.Fprintf(&b, "# HELP idshift_shed_total Attempts shed for want of a verification slot.\n# TYPE idshift_shed_total counter\nidshift_shed_total %d\n", m.sheds.Load())
	fmt.Fprintf(&b, "# HELP idshift_deadline_answers_total Attempts answered at the deadline while a stage (store, guard, verification) was still running.\n# TYPE idshift_deadline_answers_total counter\nidshift_deadline_answers_total %d\n", m.deadlines.Load())
	fmt.Fprintf(&b, "# HELP idshift_verifications_in_flight Verifications running now.\n# TYPE idshift_verifications_in_flight gauge\nidshift_verifications_in_flight %d\n", m.inFlight.Load())
	fmt.Fprintf(&b, "# HELP idshift_attempt_records_dropped_total Attempt records dropped because the recorder was behind.\n# TYPE idshift_attempt_records_dropped_total counter\nidshift_attempt_records_dropped_total %d\n", m.dropped.Load())
	_, err := io.WriteString(w, b.String())
	return err
}

// q quotes a label value as the text format wants it.
func q(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// LatencyHistogram is the decision latency of one front, as Snapshot copies it.
type LatencyHistogram struct {
	Front string `json:"front"`
	// Counts holds the answers per bucket (not cumulative): Counts[i] took at most Bounds[i] seconds and more than
	// Bounds[i-1]; the last one, len(Bounds), took longer than every bound.
	Counts []uint64 `json:"counts"`
	// Sum is the seconds of every answer added up; N is the number of answers.
	Sum float64 `json:"sum"`
	N   uint64  `json:"n"`
}

// MetricsSnapshot is a copy of the figures Metrics holds, for pages that show them (the admin dashboard). Slices
// are sorted by label; every field counts since the process started.
type MetricsSnapshot struct {
	// Bounds are the upper bounds, in seconds, of the latency buckets.
	Bounds  []float64          `json:"bounds"`
	Latency []LatencyHistogram `json:"latency"`
	// GuardBlocks counts the attempts the brute-force guard blocked, by lock scope.
	GuardBlocks     map[string]uint64 `json:"guardBlocks"`
	Shed            uint64            `json:"shed"`
	DeadlineAnswers uint64            `json:"deadlineAnswers"`
	Dropped         uint64            `json:"dropped"`
}

// Snapshot copies the figures. A nil *Metrics gives empty figures with the buckets' bounds.
func (m *Metrics) Snapshot() MetricsSnapshot {
	s := MetricsSnapshot{Bounds: slices.Clone(latencyBuckets), GuardBlocks: map[string]uint64{}, Latency: []LatencyHistogram{}}
	if m == nil {
		return s
	}
	m.mu.Lock()
	for _, front := range sortedKeys(m.latency) {
		h := m.latency[front]
		s.Latency = append(s.Latency, LatencyHistogram{Front: front, Counts: slices.Clone(h.counts), Sum: h.sum, N: h.n})
	}
	for scope, n := range m.blocks {
		s.GuardBlocks[scope] = n
	}
	m.mu.Unlock()
	s.Shed, s.DeadlineAnswers, s.Dropped = m.sheds.Load(), m.deadlines.Load(), m.dropped.Load()
	return s
}
