package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

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

// TestOpenSeenRemovesStaleIndexes: the indexes that killed runs left (unlocked, or without their file) are removed by
// the next OpenSeen in the directory; an index still in use (here by this process, as another shard's would be) is
// left alone and keeps working.
func TestOpenSeenRemovesStaleIndexes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live, err := sqlite.OpenSeen(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close() // not marked yet: its lock alone must protect it

	// A killed run's index: a database file nobody holds.
	killed := filepath.Join(dir, "idshift-seen-killed")
	if err := os.Mkdir(killed, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(killed, "seen.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE seen (fp INTEGER PRIMARY KEY, line INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// A run killed before it created its file.
	empty := filepath.Join(dir, "idshift-seen-empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	// Something else of the user's.
	other := filepath.Join(dir, "unrelated")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*"))
	old := time.Now().Add(-time.Hour)
	for _, e := range entries {
		if err := os.Chtimes(e, old, old); err != nil {
			t.Fatal(err)
		}
	}

	next, err := sqlite.OpenSeen(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	for _, gone := range []string{killed, empty} {
		if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale index %s not removed (%v)", gone, err)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("an unrelated directory was touched: %v", err)
	}
	seen, _ := filepath.Glob(filepath.Join(dir, "idshift-seen-*"))
	if len(seen) != 2 {
		t.Errorf("indexes left %v, want the live one and the new one", seen)
	}
	first, err := live.Mark(ctx, []uint64{7, 8, 7}, []int64{5, 6, 9})
	if err != nil || !slices.Equal(first, []int64{5, 6, 5}) {
		t.Errorf("the live index after the cleanup: %v, %v", first, err)
	}
	// A fresh index (younger than the process) is never taken for a stale one.
	if n, err := sqlite.RemoveStaleSeen(ctx, dir); err != nil || n != 0 {
		t.Errorf("RemoveStaleSeen removed %d (%v), want 0", n, err)
	}
}
