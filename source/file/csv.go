package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	ireader "github.com/idshift/idshift/source/internal/reader"
)

// csvParser reads RFC 4180 records: fields separated by comma, optionally quoted with '"', a quote inside a quoted
// field doubled, quoted fields spanning lines. Lines end in LF or CRLF; blank lines are skipped. Unlike
// encoding/csv it recovers from a quote left open: the record is an error and reading resumes on the line after
// the one it started on, so one bad quote cannot swallow the rest of a file.
type csvParser struct {
	lines lineReader
	comma byte
	out   []byte // unquoted field contents, back to back
	ends  []int  // end of each field in out
	raw   []byte // raw continuation lines of a multi-line record, for recovery
	strs  []string
}

// csvError is a record that cannot be parsed; line is where the record starts.
type csvError struct {
	line   int64
	reason string
}

func (e *csvError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.reason) }

// read returns the fields of the next record and the line it starts on. The strings share one allocation and stay
// valid after the next call. It returns io.EOF at the end, *csvError for a bad record (reading may go on), any
// other error for a failing reader.
func (p *csvParser) read() ([]string, int64, error) {
	var line []byte
	for {
		b, err := p.lines.next()
		if errors.Is(err, errLongLine) {
			return nil, p.lines.line, &csvError{line: p.lines.line, reason: fmt.Sprintf("line longer than %d bytes", p.lines.max)}
		}
		if err != nil {
			return nil, 0, err
		}
		b = trimCR(b)
		if len(b) > 0 {
			line = b
			break
		}
	}
	start := p.lines.line
	p.out = p.out[:0]
	p.ends = p.ends[:0]
	p.raw = p.raw[:0]
	spanned := int64(0) // continuation lines read

	fail := func(reason string) ([]string, int64, error) {
		if spanned > 0 {
			// Read the continuation lines again as records of their own.
			p.lines.unread(p.raw, spanned)
		}
		return nil, start, &csvError{line: start, reason: reason}
	}

	pos := 0
	for {
		if pos < len(line) && line[pos] == '"' {
			pos++
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i >= 0 {
					p.out = append(p.out, line[pos:pos+i]...)
					pos += i + 1
					if pos < len(line) && line[pos] == '"' {
						p.out = append(p.out, '"')
						pos++
						continue
					}
					break
				}
				// The quoted field goes on on the next line.
				p.out = append(p.out, line[pos:]...)
				p.out = append(p.out, '\n')
				if spanned+1 >= maxRecordLines || len(p.out) > p.lines.max {
					return fail(fmt.Sprintf("quoted field not closed within %d lines", maxRecordLines))
				}
				next, err := p.lines.next()
				if errors.Is(err, errLongLine) {
					// That line is gone (counted already): it comes back as a blank line.
					if spanned > 0 {
						p.raw = append(p.raw, '\n')
					}
					spanned++
					return fail("quoted field not closed")
				}
				if errors.Is(err, io.EOF) {
					return fail("quoted field not closed")
				}
				if err != nil {
					return nil, 0, err
				}
				if spanned > 0 {
					p.raw = append(p.raw, '\n')
				}
				p.raw = append(p.raw, next...)
				spanned++
				line = trimCR(next)
				pos = 0
			}
			p.ends = append(p.ends, len(p.out))
			switch {
			case pos == len(line):
				return p.fields(), start, nil
			case line[pos] == p.comma:
				pos++
			default:
				return fail(`a quote inside a quoted field must be doubled ("")`)
			}
			continue
		}
		i := bytes.IndexByte(line[pos:], p.comma)
		f := line[pos:]
		if i >= 0 {
			f = line[pos : pos+i]
		}
		if bytes.IndexByte(f, '"') >= 0 {
			return fail("a quote in an unquoted field")
		}
		p.out = append(p.out, f...)
		p.ends = append(p.ends, len(p.out))
		if i < 0 {
			return p.fields(), start, nil
		}
		pos += i + 1
	}
}

// fields turns out and ends into strings sharing one allocation.
func (p *csvParser) fields() []string {
	s := string(p.out)
	p.strs = p.strs[:0]
	prev := 0
	for _, end := range p.ends {
		p.strs = append(p.strs, s[prev:end])
		prev = end
	}
	return p.strs
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// csvSource is a CSV file with a header row.
type csvSource struct {
	reader
	p      csvParser
	header []string
	index  map[string]int
	idCol  int // index of the legacy id column, -1 if none
	bind   *source.Binding
	extra  []int // the columns the mapping does not read, when they go to User.Unmapped
}

func newCSV(base reader, br *bufio.Reader, comma byte, max int) (*csvSource, error) {
	s := &csvSource{reader: base, p: csvParser{lines: lineReader{r: br, max: max}, comma: comma}}
	header, _, err := s.p.read()
	if errors.Is(err, io.EOF) {
		return nil, idshift.Invalid("file: header", "%s: empty file, a header row is required", s.path)
	}
	var ce *csvError
	if errors.As(err, &ce) {
		return nil, idshift.Invalid("file: header", "%s: %s", s.path, ce.Error())
	}
	if err != nil {
		return nil, fmt.Errorf("file: %s: %w", s.path, err)
	}
	s.header = make([]string, len(header))
	s.index = make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		if !utf8.ValidString(h) {
			return nil, idshift.Invalid("file: header", "%s: column %d: invalid UTF-8", s.path, i+1)
		}
		if h == "" {
			return nil, idshift.Invalid("file: header", "%s: column %d has no name", s.path, i+1)
		}
		if _, dup := s.index[h]; dup {
			return nil, idshift.Invalid("file: header", "%s: column %q appears twice", s.path, h)
		}
		s.header[i] = h
		s.index[h] = i
	}
	if err := s.mapping.CheckColumns(s.header); err != nil {
		return nil, fmt.Errorf("file: %s: %w", s.path, err)
	}
	s.warnUnknownColumns(s.header)
	s.idCol = -1
	if i, ok := s.index[s.mapping.LegacyID.Column]; ok {
		s.idCol = i
	}
	if s.read != nil {
		s.extra = ireader.UnmappedColumns(s.header, s.read)
	}
	if s.bind, err = s.mapping.Bind(s.header); err != nil {
		return nil, fmt.Errorf("file: Mapping: %w", err)
	}
	return s, nil
}

// Next returns the next user; see idshift.Source. Row errors: a record that cannot be parsed (bad quoting, a line
// longer than the limit), a wrong number of fields, invalid UTF-8, and the mapping's own.
func (s *csvSource) Next(ctx context.Context) (*idshift.User, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	fields, line, err := s.p.read()
	if err != nil {
		var ce *csvError
		if errors.As(err, &ce) {
			return nil, &idshift.RowError{Line: ce.line, Reason: ce.reason}
		}
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("file: %s: line %d: %w", s.path, s.p.lines.line, err)
	}
	legacyID := ""
	if s.idCol >= 0 && s.idCol < len(fields) && utf8.ValidString(fields[s.idCol]) {
		legacyID = strings.TrimSpace(fields[s.idCol])
	}
	if len(fields) != len(s.header) {
		return nil, &idshift.RowError{Line: line, LegacyID: legacyID,
			Reason: fmt.Sprintf("%d fields, the header has %d", len(fields), len(s.header))}
	}
	for i, f := range fields {
		if !utf8.ValidString(f) {
			if i == s.idCol {
				legacyID = ""
			}
			return nil, &idshift.RowError{Line: line, LegacyID: legacyID, Field: s.header[i], Reason: "invalid UTF-8"}
		}
	}
	u, err := s.bind.Apply(line, fields)
	if err != nil {
		return nil, err
	}
	u.Source = s.name
	for _, i := range s.extra {
		if fields[i] != "" {
			u.Unmapped = append(u.Unmapped, idshift.Attr{Name: s.header[i], Value: fields[i]})
		}
	}
	return u, nil
}

var _ idshift.Source = (*csvSource)(nil)
