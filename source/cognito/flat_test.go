package cognito_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/idshift/idshift/source/cognito"
	"github.com/idshift/idshift/source/internal/readertest"
)

// pages generates n users as one list-users page (the worst case: one array), without holding them.
type pages struct {
	n, i int
	buf  []byte
	end  bool
}

func (p *pages) Read(b []byte) (int, error) {
	for len(p.buf) == 0 {
		switch {
		case p.end:
			return 0, io.EOF
		case p.i == p.n:
			p.buf, p.end = []byte(`],"PaginationToken":"x"}`), true
		default:
			sep := ","
			if p.i == 0 {
				sep = `{"Users":[`
			}
			p.buf = fmt.Appendf(nil, `%s{"Username":"u%d","Attributes":[{"Name":"email","Value":"u%d@example.com"}],"Enabled":true}`+"\n", sep, p.i, p.i)
			p.i++
		}
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

// TestMemoryFlat reads 60,000 users of one page and checks that the live heap after the last is within 1 MB of what
// it was after the first 6,000.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 60,000 users")
	}
	const n = 60000
	src, err := cognito.Config{Path: "-", Stdin: &pages{n: n}}.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	readertest.Flat(t, src, n)
}
