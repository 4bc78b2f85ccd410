package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/idshift/idshift/sandbox"
)

var benchSeq atomic.Int64

func benchBody(b *testing.B) []byte {
	n := benchSeq.Add(1)
	body, err := json.Marshal(localUser(fmt.Sprintf("bench%d@example.com", n)))
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkCreateUser measures unthrottled user creation: in-process through the handler, and over HTTPS
// (HTTP/2, parallel clients).
func BenchmarkCreateUser(b *testing.B) {
	b.Run("handler", func(b *testing.B) {
		p := newInProcess(b, sandbox.Config{DisableThrottling: true, Limits: sandbox.Limits{Quota: 1 << 30}}, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rec := p.do("POST", "/v1.0/users", string(benchBody(b)))
				if rec.Code != http.StatusCreated {
					b.Errorf("%d %s", rec.Code, rec.Body)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	})
	b.Run("https", func(b *testing.B) {
		s := start(b, sandbox.Config{DisableThrottling: true, Limits: sandbox.Limits{Quota: 1 << 30}})
		c := newRawClient(b, s, sandbox.DefaultTenantID, sandbox.DefaultClientID, sandbox.DefaultClientSecret)
		b.ReportAllocs()
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := c.do("POST", "/v1.0/users", json.RawMessage(benchBody(b)))
				if r.status != http.StatusCreated {
					b.Errorf("%d %s", r.status, r.raw)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	})
}
