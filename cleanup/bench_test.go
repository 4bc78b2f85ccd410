package cleanup_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/idshift/idshift/cleanup"
	"github.com/idshift/idshift/mergeplan"
	"github.com/idshift/idshift/source/file"
)

// benchUsers is the size of the generated source: $IDSHIFT_AUDIT_BENCH_USERS, default 100,000 (1,000,000 for the
// figure in BENCHMARKS.md).
func benchUsers(b *testing.B) int {
	if s := os.Getenv("IDSHIFT_AUDIT_BENCH_USERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("IDSHIFT_AUDIT_BENCH_USERS=%q", s)
		}
		return n
	}
	return 100_000
}

// writeDefaultSchema writes n users in the default CSV schema: one in 50 shares the email of the user before it, one
// in 20 has no hash, one in 10 a username, one in 1,000 a card number in its phone column.
func writeDefaultSchema(b *testing.B, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("legacy_id,email,username,display_name,given_name,surname,phone,password_hash,last_sign_in,created\n")
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		email := i
		if i%50 == 49 {
			email = i - 1
		}
		user, phone, hash := "", "+1 555 0100", "$2b$10$y2Lt5R/PjpNSCgpM6/uNTull/VLdy7T0.8AhRALUeQ7w/odh4asem"
		if i%10 == 0 {
			user = "u" + strconv.Itoa(i)
		}
		if i%1000 == 7 {
			phone = "4111 1111 1111 1111"
		}
		if i%20 == 5 {
			hash = ""
		}
		last := base.Add(time.Duration(i%2000) * 12 * time.Hour).Format(time.RFC3339)
		fmt.Fprintf(w, "id-%d,user%d@example.com,%s,User %d,Given,Surname,%s,%s,%s,2019-05-01\n", i, email, user, i, phone, hash, last)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAudit audits a generated source in the default schema through the file reader, as `idshift audit` does
// (the duplicate index in temporary files), and, in the same iteration, reads the same file bare (the file reader
// alone, one goroutine) as the baseline. It reports the audit's wall time and CPU per user, the ratio of its wall
// time to the bare read's, users/s, the peak RSS of the process and the heap in use after the run.
func BenchmarkAudit(b *testing.B) {
	n := benchUsers(b)
	dir := b.TempDir()
	path := filepath.Join(dir, "users.csv")
	writeDefaultSchema(b, path, n)
	ctx := context.Background()
	var audit, bare, cpu time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		src, err := file.Config{Path: path}.Open()
		if err != nil {
			b.Fatal(err)
		}
		read := 0
		for {
			_, err := src.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			read++
		}
		src.Close()
		if read != n {
			b.Fatalf("read %d", read)
		}
		bare += time.Since(t0)

		cpu0 := cpuTime(b)
		t1 := time.Now()
		src, err = file.Config{Path: path}.Open()
		if err != nil {
			b.Fatal(err)
		}
		rep, err := cleanup.Run(ctx, cleanup.Config{TempDir: dir}, []cleanup.NamedSource{{Name: "bench", Source: src}})
		if err != nil {
			b.Fatal(err)
		}
		audit += time.Since(t1)
		cpu += cpuTime(b) - cpu0
		if rep.Outcomes.Valid != int64(n) || rep.Duplicates.WithinSource != int64(n/50) {
			b.Fatalf("valid %d, duplicates %d", rep.Outcomes.Valid, rep.Duplicates.WithinSource)
		}
		src.Close()
	}
	b.StopTimer()
	runs := float64(b.N)
	b.ReportMetric(audit.Seconds()/runs, "audit-s/op")
	b.ReportMetric(bare.Seconds()/runs, "bare-read-s/op")
	b.ReportMetric(audit.Seconds()/bare.Seconds(), "audit/bare")
	b.ReportMetric(cpu.Seconds()*1e6/runs/float64(n), "cpu-µs/user")
	b.ReportMetric(float64(n)*runs/audit.Seconds(), "users/s")
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(ru.Maxrss)/1024, "peakRSS-MiB")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapMiB")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAuditMerges audits the generated source and a second one holding every tenth of its emails, verified on
// both sides (one merge in ten users), and writes the plan of every merge, as `idshift audit --plan` does.
func BenchmarkAuditMerges(b *testing.B) {
	n := benchUsers(b)
	dir := b.TempDir()
	path, other := filepath.Join(dir, "users.csv"), filepath.Join(dir, "other.csv")
	writeDefaultSchema(b, path, n)
	f, err := os.Create(other)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("legacy_id,email,display_name,password_hash,email_verified\n")
	for i := 0; i < n; i += 10 {
		fmt.Fprintf(w, "o-%d,user%d@example.com,O %d,$2b$10$y2Lt5R/PjpNSCgpM6/uNTull/VLdy7T0.8AhRALUeQ7w/odh4asem,true\n", i, i, i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	ctx := context.Background()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
		var srcs []cleanup.NamedSource
		for _, p := range []string{path, other} {
			src, err := file.Config{Path: p}.Open()
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			srcs = append(srcs, cleanup.NamedSource{Name: filepath.Base(p), Source: src})
		}
		a, err := cleanup.New(cleanup.Config{TempDir: dir, Rule: cleanup.RuleEmail, TrustEmail: []string{"users.csv"}})
		if err != nil {
			b.Fatal(err)
		}
		for j, s := range srcs {
			if err := a.SetSource(ctx, j, s.Name); err != nil {
				b.Fatal(err)
			}
			if err := cleanup.Drain(ctx, a, s); err != nil {
				b.Fatal(err)
			}
		}
		rep, err := a.Report(ctx)
		if err != nil {
			b.Fatal(err)
		}
		plan, err := a.Plan(cleanup.AcceptSlow, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := mergeplan.Write(filepath.Join(dir, fmt.Sprintf("plan-%d.json", i)), plan); err != nil {
			b.Fatal(err)
		}
		if want := int64((n + 9) / 10); rep.Duplicates.Proposed != want || int64(len(plan.Merges)) != want {
			b.Fatalf("%d merges proposed, %d in the plan, want %d", rep.Duplicates.Proposed, len(plan.Merges), want)
		}
	}
	b.StopTimer()
	users := float64(n + (n+9)/10)
	b.ReportMetric((cpuTime(b)-cpu0).Seconds()*1e6/float64(b.N)/users, "cpu-µs/user")
	b.ReportMetric(users*float64(b.N)/b.Elapsed().Seconds(), "users/s")
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(ru.Maxrss)/1024, "peakRSS-MiB")
}
