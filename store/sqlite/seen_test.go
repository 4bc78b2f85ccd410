package sqlite_test

import (
	"context"
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
