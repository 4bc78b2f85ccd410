// Command pacing measures how close the Graph client's pacer keeps a sustained create load to the tenant's write
// ceiling, against the sandbox tenant over HTTPS, with time-scaled limits (by default 60 writes per 1 s window per
// app and 180 per 1 s per tenant, the same limits in the sandbox and in the client's pacer).
//
// For one app registration (a Client) and for three (a Pool sharing one Pacer), it runs many goroutines creating
// users for -duration and prints:
//
//   - sustained: the writes the sandbox admitted after the first window, over the ceiling rate × that time
//     (the figure to hold at ≥ 95%);
//   - total: all admitted writes over the most the sandbox could admit in the run (its full buckets at the start
//     plus the ceiling rate × the duration);
//   - 429 ratio: write requests answered 429 over all write requests (to hold under 1%).
//
// Usage:
//
//	go run ./bench/pacing [-duration 6s] [-workers 32] [-mode create|batch] [-apps 1,3]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/sandbox"
)

func main() {
	var (
		appWrites    = flag.Int("app-writes", 60, "writes per app window (sandbox and pacer)")
		appWindow    = flag.Duration("app-window", time.Second, "app window")
		tenantWrites = flag.Int("tenant-writes", 180, "writes per tenant window (sandbox and pacer)")
		tenantWindow = flag.Duration("tenant-window", time.Second, "tenant window")
		duration     = flag.Duration("duration", 6*time.Second, "length of each run (several windows)")
		workers      = flag.Int("workers", 32, "concurrent callers")
		mode         = flag.String("mode", "create", "create (one POST per user) or batch (CreateUsers, 20 per $batch)")
		appsFlag     = flag.String("apps", "1,3", "comma-separated numbers of app registrations to run")
		scale        = flag.Float64("pacer-scale", 1, "the client's pacer limits as a multiple of the sandbox's (≠ 1: a misconfigured pacer, to watch the adaptive slow-down; no pass/fail)")
	)
	flag.Parse()
	lim := sandbox.Limits{AppWrites: *appWrites, AppWindow: *appWindow, TenantWrites: *tenantWrites, TenantWindow: *tenantWindow}
	fail := false
	for _, s := range strings.Split(*appsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 9 {
			fmt.Fprintf(os.Stderr, "pacing: -apps: bad number %q\n", s)
			os.Exit(2)
		}
		r, err := run(n, lim, *duration, *workers, *mode, *scale)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pacing: %d apps: %v\n", n, err)
			os.Exit(1)
		}
		fmt.Println(r)
		if *scale == 1 && (r.sustained < 0.95 || r.ratio429 >= 0.01) {
			fail = true
		}
	}
	if fail {
		fmt.Println("FAIL: below 95% of the ceiling or 429s at 1% or more")
		os.Exit(1)
	}
}

type report struct {
	apps                int
	mode                string
	ceiling             float64 // writes per second
	dur                 time.Duration
	admitted, throttled int64
	total, sustained    float64
	steadyWrites        int64
	steadyDur           time.Duration
	ratio429            float64
	unexpected          int64
}

func (r report) String() string {
	return fmt.Sprintf("apps=%d mode=%s ceiling=%.0f/s duration=%s: sustained %.1f/s = %.1f%% of the ceiling; "+
		"total %d writes = %.1f%% of the most admissible; 429s %d of %d write requests = %.2f%%; other errors %d",
		r.apps, r.mode, r.ceiling, r.dur, float64(r.steadyWrites)/r.steadyDur.Seconds(), 100*r.sustained,
		r.admitted, 100*r.total, r.throttled, r.admitted+r.throttled, 100*r.ratio429, r.unexpected)
}

func run(nApps int, lim sandbox.Limits, dur time.Duration, workers int, mode string, scale float64) (report, error) {
	apps := make([]sandbox.App, nApps)
	for i := range apps {
		apps[i] = sandbox.App{ClientID: fmt.Sprintf("00000000-0000-0000-0000-00000000a%03d", i+1), Secret: fmt.Sprintf("bench-secret-%d", i+1)}
	}
	srv, err := sandbox.Start(sandbox.Config{Apps: apps, Limits: lim}, "127.0.0.1:0")
	if err != nil {
		return report{}, err
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "pacing")
	if err != nil {
		return report{}, err
	}
	defer os.RemoveAll(dir)
	caFile := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCA(caFile); err != nil {
		return report{}, err
	}
	pacer := graph.NewPacer(graph.Limits{AppWrites: int(float64(lim.AppWrites) * scale), AppWindow: lim.AppWindow,
		TenantWrites: int(float64(lim.TenantWrites) * scale), TenantWindow: lim.TenantWindow})
	hc, err := graph.HTTPClient(caFile)
	if err != nil {
		return report{}, err
	}
	var clients []*graph.Client
	for _, a := range apps {
		cred, err := graph.CredentialConfig{TenantID: sandbox.DefaultTenantID, ClientID: a.ClientID, ClientSecret: a.Secret,
			AuthorityHost: srv.AuthorityHost, CAFile: caFile}.Credential()
		if err != nil {
			return report{}, err
		}
		c, err := graph.New(graph.Config{BaseURL: srv.URL, Credential: cred, HTTPClient: hc, AppID: a.ClientID, Pacing: pacer,
			MaxRetries: 10})
		if err != nil {
			return report{}, err
		}
		// Fetch the token before the clock starts.
		if _, err := c.GetUser(context.Background(), "warm-up", nil); err != nil && !errors.Is(err, graph.ErrNotFound) {
			return report{}, err
		}
		clients = append(clients, c)
	}
	pool := graph.NewPool(clients...)
	dom := srv.Tenant.Domain()
	var seq atomic.Int64
	mkUser := func() *graph.User {
		n := seq.Add(1)
		on := true
		return &graph.User{DisplayName: fmt.Sprintf("Bench %d", n), AccountEnabled: &on,
			Identities:       []graph.Identity{{SignInType: "emailAddress", Issuer: dom, IssuerAssignedID: fmt.Sprintf("bench%d@example.com", n)}},
			PasswordProfile:  &graph.PasswordProfile{Password: fmt.Sprintf("Bench!pw-%d-Xy9", n)},
			PasswordPolicies: "DisablePasswordExpiration"}
	}

	rate := min(float64(nApps*lim.AppWrites)/lim.AppWindow.Seconds(), float64(lim.TenantWrites)/lim.TenantWindow.Seconds())
	window := max(lim.AppWindow, lim.TenantWindow)
	// The most the sandbox can admit in the run: its full buckets at the start plus the refill.
	initial := min(float64(nApps*lim.AppWrites), float64(lim.TenantWrites))

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	st0 := srv.Tenant.Stats()
	start := time.Now()
	var stW, stEnd sandbox.Stats
	var tW, tEnd time.Time
	measured := make(chan struct{})
	go func() {
		defer close(measured)
		time.Sleep(window)
		stW, tW = srv.Tenant.Stats(), time.Now()
		time.Sleep(time.Until(start.Add(dur)))
		stEnd, tEnd = srv.Tenant.Stats(), time.Now()
	}()

	var unexpected atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var errs []error
				if mode == "batch" {
					us := make([]*graph.User, graph.MaxBatch)
					for i := range us {
						us[i] = mkUser()
					}
					for _, r := range pool.CreateUsers(ctx, us) {
						errs = append(errs, r.Err)
					}
				} else {
					_, err := pool.CreateUser(ctx, mkUser())
					errs = append(errs, err)
				}
				for _, err := range errs {
					if err != nil && ctx.Err() == nil {
						unexpected.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	<-measured
	r := report{apps: nApps, mode: mode, ceiling: rate, dur: dur, unexpected: unexpected.Load()}
	r.admitted = stEnd.Writes - st0.Writes
	r.throttled = stEnd.Throttled - st0.Throttled
	r.total = float64(r.admitted) / (initial + rate*tEnd.Sub(start).Seconds())
	r.steadyWrites = stEnd.Writes - stW.Writes
	r.steadyDur = tEnd.Sub(tW)
	r.sustained = float64(r.steadyWrites) / (rate * r.steadyDur.Seconds())
	if n := r.admitted + r.throttled; n > 0 {
		r.ratio429 = float64(r.throttled) / float64(n)
	}
	return r, nil
}
