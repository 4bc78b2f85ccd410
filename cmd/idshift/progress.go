package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
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

// reporter shows a run's progress: a live bar with rate and ETA on a terminal, a structured log line every interval
// otherwise. Stop prints nothing more.
type reporter struct {
	stop chan struct{}
	done chan struct{}
}

func startReporter(p *importer.Progress, total int64, w io.Writer, logger *slog.Logger, interval time.Duration) *reporter {
	r := &reporter{stop: make(chan struct{}), done: make(chan struct{})}
	tty := isTerminal(w)
	if tty {
		interval = 250 * time.Millisecond
	}
	go func() {
		defer close(r.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		var lastDone int64
		lastT := time.Now()
		rate := 0.0
		for {
			select {
			case <-r.stop:
				if tty {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case now := <-t.C:
				s := p.Snapshot()
				// Progress counts finished users (read users may still be waiting in a chunk).
				done := s.Created + s.Adopted + s.Updated + s.Skipped + s.Collisions + s.Rejected + s.Failed
				dt := now.Sub(lastT).Seconds()
				inst := float64(done-lastDone) / dt
				if rate == 0 {
					rate = inst
				} else {
					rate = 0.7*rate + 0.3*inst
				}
				lastDone, lastT = done, now
				eta := "?"
				if total > 0 && rate > 0 && done <= total {
					eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
				}
				if tty {
					fmt.Fprintf(w, "\r\033[K%s %d/%s users  %.0f/s  ETA %s  created %d adopted %d skipped %d rejected %d failed %d",
						bar(done, total), done, totalText(total), rate, eta, s.Created, s.Adopted, s.Skipped, s.Rejected, s.Failed)
				} else {
					logger.Info("import progress", "done", done, "read", s.Read, "total", total, "rate_per_s", int(rate), "eta", eta,
						"created", s.Created, "adopted", s.Adopted, "updated", s.Updated, "skipped", s.Skipped,
						"collisions", s.Collisions, "rejected", s.Rejected, "failed", s.Failed)
				}
			}
		}
	}()
	return r
}

func (r *reporter) Stop() {
	close(r.stop)
	<-r.done
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
