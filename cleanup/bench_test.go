package cleanup_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/idshift/idshift/cleanup"
	"github.com/idshift/idshift/source/file"
	"github.com/idshift/idshift/store/sqlite"
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

// BenchmarkAudit audits a generated source in the default schema through the file reader and the disk-backed
// duplicate index, as `idshift audit` does, and reports users/s and the heap in use after the run.
func BenchmarkAudit(b *testing.B) {
	n := benchUsers(b)
	dir := b.TempDir()
	path := filepath.Join(dir, "users.csv")
	writeDefaultSchema(b, path, n)
	ctx := context.Background()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		src, err := file.Config{Path: path}.Open()
		if err != nil {
			b.Fatal(err)
		}
		seen, err := sqlite.OpenSeen(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := cleanup.Run(ctx, cleanup.Config{Seen: seen}, []cleanup.NamedSource{{Name: "bench", Source: src}})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Outcomes.Valid != int64(n) || rep.Duplicates.WithinSource != int64(n/50) {
			b.Fatalf("valid %d, duplicates %d", rep.Outcomes.Valid, rep.Duplicates.WithinSource)
		}
		seen.Close()
		src.Close()
	}
	b.StopTimer()
	b.ReportMetric((cpuTime(b)-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
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
