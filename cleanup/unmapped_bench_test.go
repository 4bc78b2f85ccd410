package cleanup_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/idshift/idshift/cleanup"
	"github.com/idshift/idshift/source/file"
)

// writeWide writes n users in the default CSV schema plus four columns it does not read (notes, plan, tax_id,
// loyalty_card); one in 1,000 has a card number in loyalty_card and an SSN in tax_id.
func writeWide(b *testing.B, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("legacy_id,email,display_name,password_hash,last_sign_in,notes,plan,tax_id,loyalty_card\n")
	for i := range n {
		tax, card := "", "LC-"+strconv.Itoa(i)
		if i%1000 == 7 {
			tax, card = "123-45-6789", "4111 1111 1111 1111"
		}
		fmt.Fprintf(w, "id-%d,user%d@example.com,User %d,$2b$10$y2Lt5R/PjpNSCgpM6/uNTull/VLdy7T0.8AhRALUeQ7w/odh4asem,2025-01-01T00:00:00Z,customer since 2019 prefers email,gold,%s,%s\n", i, i, i, tax, card)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAuditUnmapped audits a source with four columns the mapping leaves out, with the readers exposing them
// (on) and not (off, what an audit did before they were scanned): the cost of scanning them is on/off.
func BenchmarkAuditUnmapped(b *testing.B) {
	n := benchUsers(b)
	dir := b.TempDir()
	path := filepath.Join(dir, "wide.csv")
	writeWide(b, path, n)
	ctx := context.Background()
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for range b.N {
				src, err := file.Config{Path: path, Unmapped: on}.Open()
				if err != nil {
					b.Fatal(err)
				}
				rep, err := cleanup.Run(ctx, cleanup.Config{TempDir: dir, Unmapped: on}, []cleanup.NamedSource{{Name: "bench", Source: src}})
				if err != nil {
					b.Fatal(err)
				}
				flagged := int64(0)
				for _, f := range rep.Sensitive {
					flagged += f.Count
				}
				if want := int64(0); !on && flagged != want || on && flagged < int64(n/1000)*2 {
					b.Fatalf("unmapped %v: %d values flagged", on, flagged)
				}
				src.Close()
			}
			b.StopTimer()
			b.ReportMetric((cpuTime(b)-cpu0).Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapMiB")
		})
	}
}
