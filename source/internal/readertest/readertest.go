// Package readertest holds the checks that the tests of every source reader (source/auth0, source/firebase, ...)
// share: reading a whole export, comparing users and rejected rows with what a test expects, the invariants a fuzz
// target holds a reader to, the throughput benchmark and the flat-memory check. It is imported by tests only.
package readertest

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/idshift/idshift"
)

// ReadAll opens a source with open and reads it to the end, returning the users and the rejected rows in the order
// Next gave them. It fails tb when open or Next returns anything but a user, a *idshift.RowError or io.EOF.
func ReadAll(tb testing.TB, open func() (idshift.Source, error)) ([]*idshift.User, []*idshift.RowError) {
	tb.Helper()
	src, err := open()
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	defer src.Close()
	var us []*idshift.User
	var rs []*idshift.RowError
	for {
		u, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return us, rs
		}
		var re *idshift.RowError
		if errors.As(err, &re) {
			rs = append(rs, re)
			continue
		}
		if err != nil {
			tb.Fatalf("next: %v", err)
		}
		us = append(us, u)
	}
}

// User is a user a test expects: its legacy ID, the line it starts on and the kind of its credential.
type User struct {
	ID   string
	Line int64
	Kind idshift.CredentialKind
}

// Reject is a rejected row a test expects: its line and a part of its reason.
type Reject struct {
	Line int64
	Part string
}

// Check compares the users and rejects read with those expected, in order; every user must also have at least one
// sign-in identity.
func Check(t *testing.T, us []*idshift.User, rs []*idshift.RowError, wu []User, wr []Reject) {
	t.Helper()
	if len(us) != len(wu) {
		t.Fatalf("%d users, want %d", len(us), len(wu))
	}
	for i, w := range wu {
		u := us[i]
		if u.LegacyID != w.ID || u.Line != w.Line || u.Credential.Kind != w.Kind {
			t.Errorf("user %d: %s line %d %v, want %s line %d %q", i, u.LegacyID, u.Line, u.Credential, w.ID, w.Line, w.Kind)
		}
		if len(u.Identities) == 0 {
			t.Errorf("user %d: no identity", i)
		}
	}
	CheckRejects(t, rs, wr)
}

// CheckRejects compares the rejected rows read with those expected, in order.
func CheckRejects(t *testing.T, rs []*idshift.RowError, wr []Reject) {
	t.Helper()
	if len(rs) != len(wr) {
		t.Fatalf("rejects %v, want %d", rs, len(wr))
	}
	for i, w := range wr {
		if rs[i].Line != w.Line || !strings.Contains(rs[i].Reason, w.Part) {
			t.Errorf("reject %d: %v, want line %d about %q", i, rs[i], w.Line, w.Part)
		}
	}
}

// Drain reads src to its end for a fuzz target and fails t when a rejected row has no line or reason, when a user
// has no legacy ID or no identity, or when more than limit records come out (a reader that never ends). Any error
// other than a *idshift.RowError ends the read quietly: refusing bad input is allowed. It also fails t when a user
// does not pass one of valid, the checks a reader adds. The caller closes src.
func Drain(t *testing.T, src idshift.Source, limit int, valid ...func(u *idshift.User) bool) {
	t.Helper()
	for i := 0; i < limit; i++ {
		u, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return
		}
		var re *idshift.RowError
		if errors.As(err, &re) {
			if re.Reason == "" || re.Line < 1 {
				t.Fatalf("row error without line or reason: %#v", re)
			}
			continue
		}
		if err != nil {
			return
		}
		if u.LegacyID == "" || len(u.Identities) == 0 {
			t.Fatalf("user without id or identity: %+v", u)
		}
		for _, ok := range valid {
			if !ok(u) {
				t.Fatalf("user %+v", u)
			}
		}
	}
	t.Fatal("no end")
}

// Fuzz runs the fuzz target of a reader: every input is opened through open (an input it refuses is skipped) and
// read with Drain, at most limit records.
func Fuzz(f *testing.F, limit int, open func(r io.Reader) (idshift.Source, error)) {
	f.Fuzz(func(t *testing.T, in string) {
		src, err := open(strings.NewReader(in))
		if err != nil {
			return
		}
		defer src.Close()
		Drain(t, src, limit)
	})
}

// Bench reads the export in, which holds n users and no rejected row, b.N times through open and reports the
// throughput in rows per second.
func Bench(b *testing.B, n int, in string, open func(r io.Reader) (idshift.Source, error)) {
	b.Helper()
	b.SetBytes(int64(len(in)))
	BenchOpen(b, n, func() (idshift.Source, error) { return open(strings.NewReader(in)) })
}

// BenchOpen reads the source open gives, which holds n users and no rejected row, b.N times and reports the
// throughput in rows per second. The timer starts here.
func BenchOpen(b *testing.B, n int, open func() (idshift.Source, error)) {
	b.Helper()
	b.ResetTimer()
	for range b.N {
		us, rs := ReadAll(b, open)
		if len(us) != n || len(rs) != 0 {
			b.Fatalf("%d users %d rejects", len(us), len(rs))
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// Flat reads src, which holds n users, to its end and fails t when Next returns an error, when the count differs
// from n, or when the live heap after the last user exceeds by more than 1 MB what it was after the first tenth:
// memory is flat in the number of users. It returns the live heap after the first tenth, for a caller that also
// bounds the growth before it. The caller closes src.
func Flat(t *testing.T, src idshift.Source, n int) (early uint64) {
	t.Helper()
	var late uint64
	for i := 1; ; i++ {
		_, err := src.Next(context.Background())
		if err == io.EOF {
			if i-1 != n {
				t.Fatalf("read %d users, want %d", i-1, n)
			}
			break
		}
		if err != nil {
			t.Fatalf("user %d: %v", i, err)
		}
		switch i {
		case n / 10:
			early = LiveHeap()
		case n:
			late = LiveHeap()
		}
	}
	if late > early+1<<20 {
		t.Errorf("live heap grew from %d to %d bytes between %d and %d users", early, late, n/10, n)
	}
	return early
}

// LiveHeap collects garbage and returns the bytes of live heap objects.
func LiveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// CheckVerified compares each user's EmailVerified with want, in order: true, false, or nil (the source does not
// say).
func CheckVerified(t *testing.T, us []*idshift.User, want ...any) {
	t.Helper()
	if len(us) != len(want) {
		t.Fatalf("%d users, want %d", len(us), len(want))
	}
	for i, w := range want {
		got := us[i].EmailVerified
		switch w := w.(type) {
		case bool:
			if got == nil || *got != w {
				t.Errorf("user %d (%s): email verified %v, want %v", i, us[i].LegacyID, fmtVerified(got), w)
			}
		default:
			if got != nil {
				t.Errorf("user %d (%s): email verified %v, want nil", i, us[i].LegacyID, *got)
			}
		}
	}
}

func fmtVerified(b *bool) string {
	if b == nil {
		return "nil"
	}
	return strconv.FormatBool(*b)
}
