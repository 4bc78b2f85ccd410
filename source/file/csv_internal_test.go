package file

import (
	"bufio"
	"encoding/csv"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// FuzzCSVParser checks the parser against encoding/csv: on input both can read, the records are the same; what one
// rejects the other rejects too (within the parser's line and size caps, which encoding/csv does not have).
func FuzzCSVParser(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n", "a,\"b\"\"c\"\n\"x\ny\",\r\n", "\n\na\r\n\r\n", "a,\"b\n", "a\"b\n", "\"a\"b\n", ",\n,,\n", "a\r",
		"\"a\r\nb\"\n", "a,\"\",\"\"\"\"\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if strings.Count(data, "\n") >= maxRecordLines-1 || len(data) > 4096 {
			return
		}
		p := csvParser{lines: lineReader{r: bufio.NewReader(strings.NewReader(data)), max: 1 << 20}, comma: ','}
		var mine [][]string
		mineOK := true
		for {
			rec, _, err := p.read()
			if errors.Is(err, io.EOF) {
				break
			}
			var ce *csvError
			if errors.As(err, &ce) {
				mineOK = false
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			mine = append(mine, append([]string(nil), rec...))
		}
		r := csv.NewReader(strings.NewReader(data))
		r.FieldsPerRecord = -1
		theirs, err := r.ReadAll()
		theirsOK := err == nil
		if mineOK != theirsOK {
			t.Fatalf("parser ok = %v, encoding/csv ok = %v (%v) on %q", mineOK, theirsOK, err, data)
		}
		if mineOK && !reflect.DeepEqual(mine, theirs) && !(len(mine) == 0 && len(theirs) == 0) {
			t.Fatalf("records differ on %q:\n mine   %q\n theirs %q", data, mine, theirs)
		}
	})
}
