package file_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source/file"
)

// blockRows is how many distinct rows a generated file repeats.
const blockRows = 1000

const benchHeader = "legacy_id,email,username,display_name,given_name,surname,phone,password_hash,last_sign_in,created\n"

// csvBlock is blockRows realistic default-schema rows.
func csvBlock() string {
	var b strings.Builder
	for i := range blockRows {
		fmt.Fprintf(&b, "%d,user%d@example.com,user%d,\"User %d, Jr.\",User,Number%d,+44 20 7946 %04d,"+
			"$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy,2024-03-01T10:00:00Z,2019-05-06\n",
			i, i, i, i, i, i%10000)
	}
	return b.String()
}

func jsonlBlock() string {
	var b strings.Builder
	for i := range blockRows {
		fmt.Fprintf(&b, `{"legacy_id":"%d","email":"user%d@example.com","username":"user%d","display_name":"User %d",`+
			`"given_name":"User","surname":"Number%d","phone":"+44 20 7946 %04d",`+
			`"password_hash":"$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",`+
			`"last_sign_in":"2024-03-01T10:00:00Z","created":"2019-05-06"}`+"\n", i, i, i, i, i, i%10000)
	}
	return b.String()
}

// repeatReader yields head once, then body over and over until n rows are out, without holding them.
type repeatReader struct {
	head, body string
	left       int // bodies left
	cur        string
}

func newRepeatReader(head, body string, rows int) *repeatReader {
	return &repeatReader{cur: head, body: body, left: (rows + blockRows - 1) / blockRows}
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.cur == "" {
		if r.left == 0 {
			return 0, io.EOF
		}
		r.left--
		r.cur = r.body
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func benchSource(b *testing.B, format, head, body string) {
	src, err := file.Config{Path: "-", Format: format, Stdin: newRepeatReader(head, body, b.N)}.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	b.SetBytes(int64(len(body) / blockRows))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		u, err := src.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if u.LegacyID == "" {
			b.Fatal("no legacy id")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkCSV: one op is one default-schema CSV row read and mapped to a user.
func BenchmarkCSV(b *testing.B) { benchSource(b, "csv", benchHeader, csvBlock()) }

// BenchmarkJSONL: one op is one JSON Lines record read and mapped to a user.
func BenchmarkJSONL(b *testing.B) { benchSource(b, "jsonl", "", jsonlBlock()) }

// BenchmarkJSONArray: one op is one element of a JSON array read and mapped to a user.
func BenchmarkJSONArray(b *testing.B) {
	body := strings.ReplaceAll(jsonlBlock(), "}\n", "},\n")
	// A never-ending array: the reader stops mid-array, which is never reached within b.N records.
	benchSource(b, "json", "[\n", body)
}

// BenchmarkMillionRows streams 1,000,000 generated rows per op and reports the live heap after the first 100,000
// rows and after all of them: flat memory means the two are about equal whatever the number of rows.
func BenchmarkMillionRows(b *testing.B) {
	const rows = 1_000_000
	for _, format := range []string{"csv", "jsonl"} {
		b.Run(format, func(b *testing.B) {
			head, body := benchHeader, csvBlock()
			if format == "jsonl" {
				head, body = "", jsonlBlock()
			}
			b.ReportAllocs()
			var early, late uint64
			for range b.N {
				src, err := file.Config{Path: "-", Format: format, Stdin: newRepeatReader(head, body, rows)}.Open()
				if err != nil {
					b.Fatal(err)
				}
				var kept *idshift.User // the consumer keeps nothing but the last user
				for i := 1; ; i++ {
					u, err := src.Next(context.Background())
					if err == io.EOF {
						if i-1 != rows {
							b.Fatalf("read %d rows, want %d", i-1, rows)
						}
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					kept = u
					switch i {
					case rows / 10:
						early = liveHeap()
					case rows:
						late = liveHeap()
					}
				}
				_ = kept
				src.Close()
			}
			b.ReportMetric(float64(early)/(1<<20), "heapMB@100k")
			b.ReportMetric(float64(late)/(1<<20), "heapMB@1M")
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
