package sqlite_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/idshift/idshift/store/sqlite"
)

func TestSeenKeepsTheFirstLine(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.OpenSeen(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Mark(ctx, []uint64{1, 2, 1, 1 << 63}, []int64{10, 11, 12, 13})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{10, 11, 10, 13}; !slices.Equal(first, want) {
		t.Fatalf("first %v, want %v", first, want)
	}
	first, err = s.Mark(ctx, []uint64{2, 3, 1 << 63}, []int64{20, 21, 22})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{11, 21, 13}; !slices.Equal(first, want) {
		t.Fatalf("first %v, want %v", first, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Close left %d files behind", len(entries))
	}
}

// BenchmarkSeenMark marks chunks of 600 random fingerprints (200 users of 3), as the importer does; ns/op is per
// fingerprint.
func BenchmarkSeenMark(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.OpenSeen(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	fps := make([]uint64, 600)
	lines := make([]int64, 600)
	b.ResetTimer()
	for done := 0; done < b.N; done += len(fps) {
		for i := range fps {
			fps[i], lines[i] = rng.Uint64(), int64(done+i)
		}
		if _, err := s.Mark(ctx, fps, lines); err != nil {
			b.Fatal(err)
		}
	}
}
