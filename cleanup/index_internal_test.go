package cleanup

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRadixSort: the radix sort orders by fingerprint and keeps the order of equal fingerprints, as a stable
// comparison sort does.
func TestRadixSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([]key, 20000)
	for i := range keys {
		keys[i] = key{fp: r.Uint64() % 5000 << (r.Uint64() % 50), ord: uint32(i)}
	}
	want := slices.Clone(keys)
	slices.SortStableFunc(want, func(a, b key) int { return cmp.Compare(a.fp, b.fp) })
	radixSort(keys, make([]key, len(keys)))
	if !slices.Equal(keys, want) {
		t.Error("radix sort differs from a stable sort")
	}
}
