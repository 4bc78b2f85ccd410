package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/idshift/idshift"
)

// jsonRecord is one JSON object whose members are read by name. Strings give their text; numbers and booleans their
// literal text; null is absent; objects and arrays their compact JSON text. A dotted name reaches into nested
// objects when no member has the dotted name itself. When a name repeats, the last member counts, as with
// encoding/json.
//
// The object is checked with json.Valid and then scanned for the spans of its members inside one string, so reading
// a record costs one allocation, not one per member.
type jsonRecord struct {
	members []member
}

type member struct {
	key string
	val string // raw JSON text
}

// parse reads an object; it returns a reason when b is not one.
func (r *jsonRecord) parse(b []byte) string {
	r.members = r.members[:0]
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		if err == nil {
			return "invalid JSON"
		}
		return "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	b = bytes.TrimLeft(b, " \t\r\n")
	switch {
	case b[0] == 'n':
		return "not a JSON object (null)"
	case b[0] != '{':
		return "not a JSON object"
	}
	r.members = scanObject(string(b), r.members)
	return ""
}

// keys returns the record's member names (into buf).
func (r *jsonRecord) keys(buf []string) []string {
	buf = buf[:0]
	for _, m := range r.members {
		buf = append(buf, m.key)
	}
	return buf
}

// scanObject appends the members of the valid JSON object at the start of s.
func scanObject(s string, out []member) []member {
	i := skipSpace(s, 1)
	if s[i] == '}' {
		return out
	}
	for {
		i = skipSpace(s, i)
		end := scanString(s, i)
		key := s[i+1 : end-1]
		if strings.IndexByte(key, '\\') >= 0 {
			var k string
			_ = json.Unmarshal([]byte(s[i:end]), &k) // valid: checked by json.Valid
			key = k
		}
		i = skipSpace(s, end) + 1 // the colon
		i = skipSpace(s, i)
		vend := skipValue(s, i)
		out = append(out, member{key: key, val: s[i:vend]})
		i = skipSpace(s, vend)
		if s[i] == '}' {
			return out
		}
		i++ // the comma
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// scanString returns the index after the string that starts at s[i].
func scanString(s string, i int) int {
	for j := i + 1; j < len(s); {
		switch s[j] {
		case '\\':
			j += 2
		case '"':
			return j + 1
		default:
			j++
		}
	}
	return len(s)
}

// skipValue returns the index after the value that starts at s[i].
func skipValue(s string, i int) int {
	switch s[i] {
	case '"':
		return scanString(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); {
			switch s[j] {
			case '"':
				j = scanString(s, j)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
			j++
		}
		return len(s)
	default:
		j := i
		for j < len(s) && !strings.ContainsRune(",}] \t\r\n", rune(s[j])) {
			j++
		}
		return j
	}
}

func (r *jsonRecord) get(name string) (string, bool) {
	if v, ok := lookup(r.members, name); ok {
		return jsonText(v)
	}
	return lookupPath(r.members, name)
}

func lookup(members []member, name string) (string, bool) {
	for i := len(members) - 1; i >= 0; i-- {
		if members[i].key == name {
			return members[i].val, true
		}
	}
	return "", false
}

// lookupPath finds a dotted name (a.b.c) in nested objects.
func lookupPath(members []member, name string) (string, bool) {
	for i := 0; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		raw, ok := lookup(members, name[:i])
		if !ok || raw[0] != '{' {
			continue
		}
		sub := scanObject(raw, nil)
		rest := name[i+1:]
		if v, ok := lookup(sub, rest); ok {
			return jsonText(v)
		}
		if v, ok := lookupPath(sub, rest); ok {
			return v, true
		}
	}
	return "", false
}

// jsonText returns the text of a valid JSON value as the mapping reads it.
func jsonText(raw string) (string, bool) {
	if raw == "" {
		return "", false
	}
	switch raw[0] {
	case '"':
		if strings.IndexByte(raw, '\\') < 0 {
			return raw[1 : len(raw)-1], true
		}
		var s string
		if json.Unmarshal([]byte(raw), &s) != nil {
			return "", false
		}
		return s, true
	case 'n':
		return "", false
	case '{', '[':
		var b bytes.Buffer
		if json.Compact(&b, []byte(raw)) != nil {
			return "", false
		}
		return b.String(), true
	default: // numbers, true, false
		return raw, true
	}
}

// jsonlSource is a JSON Lines file: one object per line; blank lines are skipped.
type jsonlSource struct {
	reader
	lines   lineReader
	rec     jsonRecord
	getFunc func(string) (string, bool)
}

func newJSONL(base reader, br *bufio.Reader, max int) *jsonlSource {
	s := &jsonlSource{reader: base, lines: lineReader{r: br, max: max}}
	s.getFunc = s.rec.get
	return s
}

// Next returns the next user; see idshift.Source. Row errors: a line that is not a JSON object, invalid UTF-8, a
// line longer than the limit, and the mapping's own.
func (s *jsonlSource) Next(ctx context.Context) (*idshift.User, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	for {
		b, err := s.lines.next()
		if errors.Is(err, errLongLine) {
			return nil, &idshift.RowError{Line: s.lines.line, Reason: fmt.Sprintf("line longer than %d bytes", s.lines.max)}
		}
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("file: %s: line %d: %w", s.path, s.lines.line+1, err)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		line := s.lines.line
		if !utf8.Valid(b) {
			return nil, &idshift.RowError{Line: line, Reason: "invalid UTF-8"}
		}
		if reason := s.rec.parse(b); reason != "" {
			return nil, &idshift.RowError{Line: line, Reason: reason}
		}
		if s.defaultSchema && s.logger != nil {
			s.warnUnknownColumns(s.rec.keys(nil))
		}
		return s.user(line, s.getFunc, b)
	}
}

// jsonArraySource is a JSON file holding one array of objects, decoded one element at a time.
type jsonArraySource struct {
	reader
	lc      *lineCounter
	dec     *json.Decoder
	record  int64
	done    bool
	rec     jsonRecord
	getFunc func(string) (string, bool)
}

func newJSONArray(base reader, br *bufio.Reader) (*jsonArraySource, error) {
	lc := &lineCounter{r: br}
	s := &jsonArraySource{reader: base, lc: lc, dec: json.NewDecoder(lc)}
	s.getFunc = s.rec.get
	tok, err := s.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, idshift.Invalid("file: format", "%s: empty file, want a JSON array", s.path)
		}
		return nil, idshift.Invalid("file: format", "%s: line %d: not a JSON array: %v", s.path, lc.lineAt(s.dec.InputOffset()), err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, idshift.Invalid("file: format", "%s: not a JSON array (want [ at the start; use format jsonl for one object per line)", s.path)
	}
	return s, nil
}

// Next returns the next user; see idshift.Source. User.Line is the line where the object starts. Row errors: an
// element that is not an object, and the mapping's own; their reason starts with the record number. A syntax
// error ends the read (nothing after it can be trusted) with an error naming its line.
func (s *jsonArraySource) Next(ctx context.Context) (*idshift.User, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	if s.done {
		return nil, io.EOF
	}
	if !s.dec.More() {
		if _, err := s.dec.Token(); err != nil { // the closing ]
			return nil, s.syntaxError(err)
		}
		if _, err := s.dec.Token(); !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("file: %s: line %d: data after the JSON array", s.path, s.lc.lineAt(s.dec.InputOffset()))
		}
		s.done = true
		return nil, io.EOF
	}
	var raw json.RawMessage
	if err := s.dec.Decode(&raw); err != nil {
		return nil, s.syntaxError(err)
	}
	s.record++
	line := s.lc.lineAt(s.dec.InputOffset() - int64(len(raw)))
	if len(raw) == 0 || raw[0] != '{' {
		return nil, &idshift.RowError{Line: line, Reason: fmt.Sprintf("record %d: not a JSON object", s.record)}
	}
	if !utf8.Valid(raw) {
		return nil, &idshift.RowError{Line: line, Reason: fmt.Sprintf("record %d: invalid UTF-8", s.record)}
	}
	if reason := s.rec.parse(raw); reason != "" {
		return nil, &idshift.RowError{Line: line, Reason: fmt.Sprintf("record %d: %s", s.record, reason)}
	}
	if s.defaultSchema && s.logger != nil {
		s.warnUnknownColumns(s.rec.keys(nil))
	}
	u, err := s.user(line, s.getFunc, raw)
	var re *idshift.RowError
	if errors.As(err, &re) {
		re.Reason = fmt.Sprintf("record %d: %s", s.record, re.Reason)
	}
	return u, err
}

func (s *jsonArraySource) syntaxError(err error) error {
	s.done = true
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("file: %s: line %d: invalid JSON: %w", s.path, s.lc.lineAt(se.Offset), err)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("file: %s: unexpected end of the JSON array: %w", s.path, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("file: %s: line %d: %w", s.path, s.lc.lineAt(s.dec.InputOffset()), err)
}

// lineCounter remembers where the newlines are in what it has read, so that an offset can be turned into a line
// number. Offsets asked for must not decrease; it keeps only the newlines beyond the last one asked for.
type lineCounter struct {
	r     io.Reader
	off   int64
	nl    []int64
	head  int
	lines int64
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	b := p[:n]
	for base := 0; ; {
		i := bytes.IndexByte(b[base:], '\n')
		if i < 0 {
			break
		}
		c.nl = append(c.nl, c.off+int64(base+i))
		base += i + 1
	}
	c.off += int64(n)
	return n, err
}

// lineAt returns the 1-based line of the byte at off.
func (c *lineCounter) lineAt(off int64) int64 {
	for c.head < len(c.nl) && c.nl[c.head] < off {
		c.head++
		c.lines++
	}
	if c.head > 1024 && c.head*2 > len(c.nl) {
		c.nl = append(c.nl[:0], c.nl[c.head:]...)
		c.head = 0
	}
	return c.lines + 1
}

var (
	_ idshift.Source = (*jsonlSource)(nil)
	_ idshift.Source = (*jsonArraySource)(nil)
)
