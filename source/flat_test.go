package source_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source/auth0"
	"github.com/idshift/idshift/source/b2cfile"
	"github.com/idshift/idshift/source/firebase"
	"github.com/idshift/idshift/source/internal/readertest"
	"github.com/idshift/idshift/source/keycloak"
	"github.com/idshift/idshift/source/kratos"
	"github.com/idshift/idshift/source/ldif"
)

// genReader yields head, then record(i) for i < n separated by sep, then tail, generating as it goes: the input is
// never in memory whole.
type genReader struct {
	head, sep, tail string
	record          func(i int) string
	n, i            int
	buf             []byte
	done            bool
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		switch {
		case g.done:
			return 0, io.EOF
		case g.head != "":
			g.buf, g.head = []byte(g.head), ""
		case g.i < g.n:
			s := g.record(g.i)
			if g.i > 0 {
				s = g.sep + s
			}
			g.buf = []byte(s)
			g.i++
		default:
			g.buf, g.done = []byte(g.tail), true
		}
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// TestMemoryFlat reads many generated users through each reader and checks that the live heap after the last is
// about what it was after the first tenth: memory is flat in the number of users.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 60,000 users per reader")
	}
	const n = 60000
	cases := []struct {
		name string
		open func(r io.Reader) (idshift.Source, error)
		g    genReader
	}{
		{"auth0 jsonl", func(r io.Reader) (idshift.Source, error) { return auth0.Config{Path: "-", Stdin: r}.Open() },
			genReader{sep: "\n", record: func(i int) string {
				return fmt.Sprintf(`{"user_id":"auth0|%d","email":"u%d@example.com","password_hash":"$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"}`, i, i)
			}}},
		{"b2cfile jsonc", func(r io.Reader) (idshift.Source, error) { return b2cfile.Config{Path: "-", Stdin: r}.Open() },
			genReader{head: "{\"userType\":\"emailAddress\",\"Users\":[", sep: ",\n", tail: "]}", record: func(i int) string {
				return fmt.Sprintf("{ // user %d\n\"signInName\":\"u%d@example.com\",\"password\":\"pw\"}", i, i)
			}}},
		{"firebase json", func(r io.Reader) (idshift.Source, error) { return firebase.Config{Path: "-", Stdin: r}.Open() },
			genReader{head: `{"users":[`, sep: ",\n", tail: "]}", record: func(i int) string {
				return fmt.Sprintf(`{"localId":"%d","email":"u%d@example.com","passwordHash":"aGFzaA==","salt":"c2FsdA=="}`, i, i)
			}}},
		{"keycloak realm", func(r io.Reader) (idshift.Source, error) { return keycloak.Config{Path: "-", Stdin: r}.Open() },
			genReader{head: `{"realm":"r","users":[`, sep: ",\n", tail: `],"clients":[]}`, record: func(i int) string {
				return fmt.Sprintf(`{"id":"%d","username":"u%d","credentials":[{"type":"password","value":"pw"}]}`, i, i)
			}}},
		{"kratos array", func(r io.Reader) (idshift.Source, error) { return kratos.Config{Path: "-", Stdin: r}.Open() },
			genReader{head: "[", sep: ",\n", tail: "]", record: func(i int) string {
				return fmt.Sprintf(`{"id":"%d","traits":{"email":"u%d@example.com"}}`, i, i)
			}}},
		{"ldif", func(r io.Reader) (idshift.Source, error) { return ldif.Config{Path: "-", Stdin: r}.Open() },
			genReader{sep: "\n", record: func(i int) string {
				return fmt.Sprintf("dn: uid=u%d,dc=x\nobjectClass: person\nuid: u%d\nuserPassword: pw\n", i, i)
			}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := c.g
			g.n = n
			src, err := c.open(&g)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			readertest.Flat(t, src, n)
		})
	}
}
