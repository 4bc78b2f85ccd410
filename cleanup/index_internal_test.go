package cleanup

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
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

// TestAccount reads users back from the index, strings short and longer than one read.
func TestAccount(t *testing.T) {
	x, err := newIndex(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	want := [][]string{
		{"a", "a@example.com", "ann"},
		{strings.Repeat("l", 600), strings.Repeat("e", 1500) + "@example.com", "bob"},
		{"c", strings.Repeat("x", 505), strings.Repeat("y", 40)},
	}
	for i, w := range want {
		if _, err := x.user(int64(10+i), w[0], uint8(i), uint8(StrengthFastHash)); err != nil {
			t.Fatal(err)
		}
		x.str(w[1])
		x.str(w[2])
	}
	if _, err := x.finish(); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		line, strs, src, str, err := x.account(uint32(i), 2)
		if err != nil || line != int64(10+i) || src != uint8(i) || Strength(str) != StrengthFastHash || !slices.Equal(strs, w) {
			t.Errorf("user %d: line %d, src %d, strength %d, %d strings, %v", i, line, src, str, len(strs), err)
		}
	}
}
