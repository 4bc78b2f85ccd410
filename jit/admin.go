package jit

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// ReadyCheck is one condition of readiness: the store answers, the decryption keys are loaded, the signing keys
// have been fetched.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Admin is the handler of the admin listener, which must not be reachable from the internet:
//
//	GET /healthz  200 "ok" while the process serves
//	GET /readyz   200 "ok" when every ReadyCheck passes, else 503 naming the failed checks (details in the log)
//	GET /metrics  the Prometheus text format (Metrics)
//	/dashboard    Dashboard, when set (package jit/dashboard: the migration's figures behind their own password);
//	              404 when nil
type Admin struct {
	Metrics *Metrics
	Checks  []ReadyCheck
	// Dashboard serves /dashboard and every path under it; nil leaves them 404 (the dashboard is off by default).
	Dashboard http.Handler
	// CheckTimeout bounds each readiness check; 2 s when zero.
	CheckTimeout time.Duration
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
}

// Handler returns the admin endpoints.
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.Handle("GET /metrics", a.Metrics)
	if a.Dashboard != nil {
		mux.Handle("/dashboard", a.Dashboard)
		mux.Handle("/dashboard/", a.Dashboard)
	}
	return mux
}

func (a *Admin) readyz(w http.ResponseWriter, r *http.Request) {
	log := a.Logger
	if log == nil {
		log = slog.Default()
	}
	timeout := a.CheckTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	var failed []string
	for _, c := range a.Checks {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		err := c.Check(ctx)
		cancel()
		if err != nil {
			log.Warn("not ready", "check", c.Name, "err", err)
			failed = append(failed, c.Name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: " + strings.Join(failed, ", ") + "\n"))
		return
	}
	w.Write([]byte("ok\n"))
}
