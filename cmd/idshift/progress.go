package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/idshift/idshift/importer"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal (for the live progress bar).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// countRecords estimates the records in a CSV or JSON Lines file by counting its lines (minus a CSV header), for
// the ETA. It returns 0 when it cannot tell cheaply.
func countRecords(path, format string) int64 {
	if path == "" || path == "-" {
		return 0
	}
	if format == "" {
		switch {
		case strings.HasSuffix(path, ".csv"):
			format = "csv"
		case strings.HasSuffix(path, ".jsonl"), strings.HasSuffix(path, ".ndjson"):
			format = "jsonl"
		}
	}
	if format != "csv" && format != "jsonl" {
		return 0
	}
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	var last byte = '\n'
	for {
		k, err := f.Read(buf)
		if k > 0 {
			n += int64(bytes.Count(buf[:k], []byte{'\n'}))
			last = buf[k-1]
		}
		if err != nil {
			break
		}
	}
	if last != '\n' {
		n++
	}
	if format == "csv" && n > 0 {
		n-- // header
	}
	return n
}

// rateEstimator estimates a rate from a recent window: an exponentially weighted moving average of the rate between
// observations, with a time constant (not a per-observation weight), so that the estimate does not depend on how
// often it is observed and forgets a slow start or a pause within a few time constants. Until the first time
// constant has passed it is the average since the start.
type rateEstimator struct {
	tau time.Duration // time constant of the average (default 20s)

	started     bool
	start       time.Time
	last        time.Time
	lastN, base int64
	rate        float64 // per second
}

// observe records that n units were done at now and returns the estimated rate per second.
func (e *rateEstimator) observe(now time.Time, n int64) float64 {
	tau := e.tau
	if tau <= 0 {
		tau = 20 * time.Second
	}
	if !e.started {
		e.started, e.start, e.last, e.lastN, e.base = true, now, now, n, n
		return 0
	}
	dt := now.Sub(e.last)
	if dt <= 0 {
		return e.rate
	}
	inst := float64(n-e.lastN) / dt.Seconds()
	if since := now.Sub(e.start); since < tau {
		e.rate = float64(n-e.base) / since.Seconds()
	} else {
		a := 1 - math.Exp(-dt.Seconds()/tau.Seconds())
		e.rate += a * (inst - e.rate)
	}
	e.last, e.lastN = now, n
	return e.rate
}

// eta is the time left for total-done units at rate, or "?" when unknown.
func eta(total, done int64, rate float64) string {
	if total <= 0 || rate <= 0 || done > total {
		return "?"
	}
	return (time.Duration(float64(total-done) / rate * float64(time.Second))).Round(time.Second).String()
}

// reporter shows a run's progress: a live bar with rate and ETA on a terminal, a structured log line every interval
// otherwise. The counts are the outcomes recorded so far (each batch is recorded as soon as it is answered). Stop
// prints nothing more and returns the first error writing the bar.
type reporter struct {
	stop chan struct{}
	done chan struct{}
	err  error
}

func startReporter(p *importer.Progress, total int64, w io.Writer, logger *slog.Logger, interval time.Duration) *reporter {
	r := &reporter{stop: make(chan struct{}), done: make(chan struct{})}
	tty := isTerminal(w)
	if tty {
		interval = 250 * time.Millisecond
	}
	ew := &errWriter{w: w}
	go func() {
		defer close(r.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		var est rateEstimator
		est.observe(time.Now(), 0)
		for {
			select {
			case <-r.stop:
				if tty {
					fmt.Fprint(ew, "\r\033[K")
				}
				r.err = ew.err
				return
			case now := <-t.C:
				s := p.Snapshot()
				// Progress counts finished users (read users may still be waiting in a chunk).
				done := s.Created + s.Adopted + s.Updated + s.Skipped + s.Collisions + s.Rejected + s.Failed + s.OtherShard + s.Merged
				rate := est.observe(now, done)
				left := eta(total, done, rate)
				if tty {
					fmt.Fprintf(ew, "\r\033[K%s %d/%s users  %.0f/s  ETA %s  created %d adopted %d skipped %d rejected %d failed %d",
						bar(done, total), done, totalText(total), rate, left, s.Created, s.Adopted, s.Skipped, s.Rejected, s.Failed)
				} else {
					logger.Info("import progress", "done", done, "read", s.Read, "total", total, "rate_per_s", int(rate), "eta", left,
						"created", s.Created, "adopted", s.Adopted, "updated", s.Updated, "skipped", s.Skipped,
						"collisions", s.Collisions, "rejected", s.Rejected, "failed", s.Failed, "other_shards", s.OtherShard)
				}
			}
		}
	}()
	return r
}

// Stop ends the display and returns the first error writing it.
func (r *reporter) Stop() error {
	close(r.stop)
	<-r.done
	return r.err
}

func bar(n, total int64) string {
	const width = 24
	if total <= 0 {
		return "[" + strings.Repeat("?", width) + "]"
	}
	k := int(float64(width) * float64(min(n, total)) / float64(total))
	return "[" + strings.Repeat("#", k) + strings.Repeat(".", width-k) + "]"
}

func totalText(total int64) string {
	if total <= 0 {
		return "?"
	}
	return fmt.Sprint(total)
}
