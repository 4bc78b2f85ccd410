package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/idshift/idshift"
)

// BatchSize is the batch of the benchmarks: what the importer writes and reads at once.
const BatchSize = 500

func benchRecord(i int, state idshift.State) *idshift.Record {
	id := fmt.Sprintf("u%09d", i)
	return &idshift.Record{
		Key:         idshift.Key{Source: "legacy", LegacyID: id},
		Line:        int64(i + 1),
		Digest:      "sha256:6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
		SignInNames: []string{id + "@example.com"},
		State:       state,
	}
}

// BenchmarkPutRecords measures PutRecords of BatchSize records: new ones ("insert"), then the same ones again in
// another state ("update", as the importer does once a user is created). It reports users/s.
func BenchmarkPutRecords(b *testing.B, st idshift.Store) {
	ctx := context.Background()
	next := 0
	batch := func(from int, state idshift.State) []*idshift.Record {
		recs := make([]*idshift.Record, BatchSize)
		for i := range recs {
			recs[i] = benchRecord(from+i, state)
		}
		return recs
	}
	b.Run("insert", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			if err := st.PutRecords(ctx, batch(next, idshift.StatePending)); err != nil {
				b.Fatal(err)
			}
			next += BatchSize
		}
		b.ReportMetric(float64(b.N*BatchSize)/time.Since(start).Seconds(), "users/s")
	})
	b.Run("update", func(b *testing.B) {
		n := 0
		start := time.Now()
		for b.Loop() {
			recs := batch(n%max(next, BatchSize), idshift.StateCreated)
			for _, r := range recs {
				r.ObjectID = "00000000-0000-0000-0000-" + r.LegacyID[1:] + "000"
			}
			if err := st.PutRecords(ctx, recs); err != nil {
				b.Fatal(err)
			}
			n += BatchSize
		}
		b.ReportMetric(float64(b.N*BatchSize)/time.Since(start).Seconds(), "users/s")
	})
}

// BenchmarkRecords measures Records of BatchSize keys among 20,000 records (a tenth of them absent). It reports
// users/s.
func BenchmarkRecords(b *testing.B, st idshift.Store) {
	ctx := context.Background()
	const total = 20000
	for i := 0; i < total; i += BatchSize {
		recs := make([]*idshift.Record, BatchSize)
		for j := range recs {
			recs[j] = benchRecord(i+j, idshift.StatePending)
		}
		if err := st.PutRecords(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	keys := make([]idshift.Key, BatchSize)
	n := 0
	start := time.Now()
	for b.Loop() {
		for j := range keys {
			// Spread over the table; every tenth key is one that does not exist.
			i := (n*7919 + j*104729) % (total + total/10)
			keys[j] = idshift.Key{Source: "legacy", LegacyID: fmt.Sprintf("u%09d", i)}
		}
		n++
		got, err := st.Records(ctx, keys)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) == 0 {
			b.Fatal("Records found nothing")
		}
	}
	b.ReportMetric(float64(b.N*BatchSize)/time.Since(start).Seconds(), "users/s")
}
