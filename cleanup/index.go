package cleanup

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// The duplicate index is an external sort. Every planned user gets an ordinal (its rank among the valid users of the
// audit, in reading order) and writes, as it is read:
//
//   - a fixed-size key record per sign-in name (and one for its legacy id): a 64-bit fingerprint of the name, the
//     ordinal and what the grouping needs (source, credential strength, name kind, verified flag, which of the
//     user's names it is). Records collect in a bounded chunk; a full chunk is sorted by fingerprint (a stable radix
//     sort, so ordinals stay in reading order) and written as a run to a temporary file, in its own goroutine.
//   - its line and the offset of its strings (legacy id, then its names) to two temporary files, read back only for
//     the accounts a finding names.
//
// When the reading ends the runs are merged; equal fingerprints come out together, in reading order, and are
// resolved into duplicates and merges. Memory is the chunks (a few MiB) plus what is proportional to the duplicates
// found, never to the users.

// key is one sign-in name of a planned user.
type key struct {
	fp    uint64
	ord   uint32
	src   uint8
	str   uint8 // Strength of the user's credential
	kind  uint8 // kindLegacyID, kindEmail, kindUserName
	flags uint8 // bit 0: the email is verified (or its source trusted); bits 1-7: which of the user's strings
}

const (
	kindLegacyID = iota
	kindEmail
	kindUserName
)

const keySize = 16

func (k key) verified() bool { return k.flags&1 != 0 }
func (k key) name() int      { return int(k.flags >> 1) }

func putKey(b []byte, k key) {
	binary.LittleEndian.PutUint64(b, k.fp)
	binary.LittleEndian.PutUint32(b[8:], k.ord)
	b[12], b[13], b[14], b[15] = k.src, k.str, k.kind, k.flags
}

func getKey(b []byte) key {
	return key{fp: binary.LittleEndian.Uint64(b), ord: binary.LittleEndian.Uint32(b[8:]), src: b[12], str: b[13], kind: b[14], flags: b[15]}
}

// chunkKeys is how many keys a chunk holds before it is sorted and written (4 MiB); tests make it small.
var chunkKeys = 1 << 18

// maxNames is how many strings of a user (its legacy id and sign-in names) the index tells apart.
const maxNames = 127

// index is the duplicate index of one audit. add* are called by the auditor's goroutine; the sorting of full
// chunks runs in another.
type index struct {
	dir     string
	chunk   int
	bufs    int // chunk buffers made: two at most, one filled while the other is sorted
	keys    []key
	free    chan []key
	full    chan []key
	sorted  chan error
	runs    []string
	sortErr error

	meta, strs   *os.File
	metaW, strsW *bufio.Writer
	strsOff      int64
	n            uint32 // users added
	buf          [binary.MaxVarintLen64]byte
	rbuf         [512]byte // account's reads
}

// newIndex creates the index's temporary directory in dir (default os.TempDir()).
func newIndex(dir string) (*index, error) {
	d, err := os.MkdirTemp(dir, "idshift-audit-")
	if err != nil {
		return nil, fmt.Errorf("cleanup: duplicate index: %w", err)
	}
	x := &index{dir: d, chunk: chunkKeys, free: make(chan []key, 2), full: make(chan []key, 1), sorted: make(chan error, 1)}
	x.meta, err = os.Create(filepath.Join(d, "meta"))
	if err == nil {
		x.strs, err = os.Create(filepath.Join(d, "strings"))
	}
	if err != nil {
		x.remove()
		return nil, fmt.Errorf("cleanup: duplicate index: %w", err)
	}
	x.metaW, x.strsW = bufio.NewWriterSize(x.meta, 64<<10), bufio.NewWriterSize(x.strs, 64<<10)
	x.bufs = 1
	go x.sorter()
	return x, nil
}

// sorter sorts and writes the full chunks it is handed, one at a time, and reports the first error when its input
// closes.
func (x *index) sorter() {
	var first error
	var scratch []key
	for c := range x.full {
		if first == nil {
			if scratch == nil {
				scratch = make([]key, x.chunk)
			}
			radixSort(c, scratch[:len(c)])
			first = x.writeRun(c)
		}
		x.free <- c[:0]
	}
	x.sorted <- first
}

func (x *index) writeRun(c []key) error {
	f, err := os.Create(filepath.Join(x.dir, fmt.Sprintf("run-%d", len(x.runs))))
	if err != nil {
		return err
	}
	x.runs = append(x.runs, f.Name())
	w := bufio.NewWriterSize(f, 256<<10)
	var b [keySize]byte
	for _, k := range c {
		putKey(b[:], k)
		w.Write(b[:])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// user starts the next user: its line, legacy id, source and credential strength. It returns the user's ordinal.
func (x *index) user(line int64, legacyID string, src, str uint8) (uint32, error) {
	if x.n == 1<<32-1 {
		return 0, errors.New("cleanup: duplicate index: more than 4,294,967,294 users")
	}
	ord := x.n
	x.n++
	var m [16]byte
	binary.LittleEndian.PutUint64(m[:], uint64(line)&lineMask|uint64(src)<<48|uint64(str)<<56)
	binary.LittleEndian.PutUint64(m[8:], uint64(x.strsOff))
	x.metaW.Write(m[:])
	x.str(legacyID)
	return ord, nil
}

// str appends one of the current user's strings.
func (x *index) str(s string) {
	n := binary.PutUvarint(x.buf[:], uint64(len(s)))
	x.strsW.Write(x.buf[:n])
	x.strsW.WriteString(s)
	x.strsOff += int64(n + len(s))
}

// add records a key; a full chunk goes to the sorter.
func (x *index) add(k key) {
	if x.keys == nil {
		x.keys = make([]key, 0, min(x.chunk, 4096))
	}
	x.keys = append(x.keys, k)
	if len(x.keys) == x.chunk {
		x.full <- x.keys
		if x.bufs < 2 {
			x.bufs++
			x.keys = make([]key, 0, x.chunk)
		} else {
			x.keys = <-x.free
		}
	}
}

// finish ends the adding: the last chunk is sorted, the files flushed. It returns the sorted stream of keys.
func (x *index) finish() (*keyStream, error) {
	close(x.full)
	err := <-x.sorted
	x.full = nil
	if err == nil {
		err = x.metaW.Flush()
	}
	if err == nil {
		err = x.strsW.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("cleanup: duplicate index: %w", err)
	}
	var scratch []key
	if len(x.keys) >= 4096 {
		scratch = make([]key, len(x.keys))
	}
	radixSort(x.keys, scratch)
	s := &keyStream{mem: x.keys}
	for i, path := range x.runs {
		f, err := os.Open(path)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("cleanup: duplicate index: %w", err)
		}
		r := &run{f: f, r: bufio.NewReaderSize(f, 64<<10), i: i}
		if err := r.next(); err != nil && err != io.EOF {
			s.close()
			return nil, fmt.Errorf("cleanup: duplicate index: %w", err)
		} else if err == nil {
			s.h = append(s.h, r)
		} else {
			f.Close()
		}
	}
	heap.Init(&s.h)
	return s, nil
}

// lineMask keeps the 48 bits of a line the index stores.
const lineMask = 1<<48 - 1

// account reads back user ord: its line, its strings up to number upto (0 is the legacy id), its source and its
// credential strength.
func (x *index) account(ord uint32, upto int) (line int64, strs []string, src, str uint8, err error) {
	var m [16]byte
	if _, err := x.meta.ReadAt(m[:], int64(ord)*16); err != nil {
		return 0, nil, 0, 0, fmt.Errorf("cleanup: duplicate index: %w", err)
	}
	v, off := binary.LittleEndian.Uint64(m[:]), int64(binary.LittleEndian.Uint64(m[8:]))
	line, src, str = int64(v&lineMask), uint8(v>>48), uint8(v>>56)
	// One read of the strings usually holds them all; a longer one is read again whole.
	n, err := x.strs.ReadAt(x.rbuf[:], off)
	if err != nil && err != io.EOF {
		return 0, nil, 0, 0, fmt.Errorf("cleanup: duplicate index: %w", err)
	}
	b := x.rbuf[:n]
	for range upto + 1 {
		l, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, nil, 0, 0, errors.New("cleanup: duplicate index: damaged strings file")
		}
		off += int64(k)
		b = b[k:]
		if uint64(len(b)) < l {
			long := make([]byte, l)
			if _, err := x.strs.ReadAt(long, off); err != nil {
				return 0, nil, 0, 0, fmt.Errorf("cleanup: duplicate index: %w", err)
			}
			strs = append(strs, string(long))
			off += int64(l)
			n, err := x.strs.ReadAt(x.rbuf[:], off)
			if err != nil && err != io.EOF {
				return 0, nil, 0, 0, fmt.Errorf("cleanup: duplicate index: %w", err)
			}
			b = x.rbuf[:n]
			continue
		}
		strs = append(strs, string(b[:l]))
		off += int64(l)
		b = b[l:]
	}
	return line, strs, src, str, nil
}

// close stops the sorter (if finish was not called) and removes the temporary files.
func (x *index) close() {
	if x.full != nil {
		close(x.full)
		<-x.sorted
		x.full = nil
	}
	x.remove()
}

func (x *index) remove() {
	if x.meta != nil {
		x.meta.Close()
	}
	if x.strs != nil {
		x.strs.Close()
	}
	os.RemoveAll(x.dir)
}

// radixSort sorts keys by fingerprint, stably (keys of one fingerprint stay in their order), with scratch as large
// as keys: four passes of 16 bits (a comparison sort below a few thousand keys).
func radixSort(keys, scratch []key) {
	if len(keys) < 4096 {
		slices.SortStableFunc(keys, func(a, b key) int { return cmp.Compare(a.fp, b.fp) })
		return
	}
	var counts [1 << 16]int
	src, dst := keys, scratch
	for shift := uint(0); shift < 64; shift += 16 {
		clear(counts[:])
		for _, k := range src {
			counts[k.fp>>shift&0xffff]++
		}
		pos := 0
		for i, c := range counts {
			counts[i] = pos
			pos += c
		}
		for _, k := range src {
			d := k.fp >> shift & 0xffff
			dst[counts[d]] = k
			counts[d]++
		}
		src, dst = dst, src
	}
	// Four passes: the result is back in keys.
}

// run is one sorted run file being merged.
type run struct {
	f   *os.File
	r   *bufio.Reader
	i   int // runs are written in reading order: a lower i holds lower ordinals
	cur key
	b   [keySize]byte
}

func (r *run) next() error {
	if _, err := io.ReadFull(r.r, r.b[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return errors.New("truncated run file")
		}
		return err
	}
	r.cur = getKey(r.b[:])
	return nil
}

type runHeap []*run

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(a, b int) bool {
	if h[a].cur.fp != h[b].cur.fp {
		return h[a].cur.fp < h[b].cur.fp
	}
	return h[a].i < h[b].i
}
func (h runHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*run)) }
func (h *runHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}

// keyStream merges the sorted runs and the last (in-memory) chunk, which holds the highest ordinals.
type keyStream struct {
	h   runHeap
	mem []key
	err error
}

// next returns the next key in (fingerprint, ordinal) order; false at the end or on an error (s.err).
func (s *keyStream) next() (key, bool) {
	if len(s.h) > 0 && (len(s.mem) == 0 || s.h[0].cur.fp <= s.mem[0].fp) {
		r := s.h[0]
		k := r.cur
		if err := r.next(); err != nil {
			if err != io.EOF {
				s.err = err
				return key{}, false
			}
			r.f.Close()
			heap.Pop(&s.h)
		} else {
			heap.Fix(&s.h, 0)
		}
		return k, true
	}
	if len(s.mem) > 0 {
		k := s.mem[0]
		s.mem = s.mem[1:]
		return k, true
	}
	return key{}, false
}

func (s *keyStream) close() {
	for _, r := range s.h {
		r.f.Close()
	}
	s.h = nil
}
