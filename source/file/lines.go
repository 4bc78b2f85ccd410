package file

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// lineReader returns physical lines with their numbers, holding at most max bytes of one line. Bytes pushed back
// are read again before the underlying reader.
type lineReader struct {
	r       *bufio.Reader
	max     int
	pending []byte
	line    int64 // number of the last line returned
	buf     []byte
}

// errLongLine: the line was longer than max; it was skipped.
var errLongLine = errors.New("line too long")

// next returns the next line without its "\n" (a trailing "\r" stays), valid until the next call. At the end it
// returns io.EOF. A line longer than max is consumed and reported as errLongLine, counted as a line.
func (l *lineReader) next() ([]byte, error) {
	if l.pending != nil {
		l.line++
		i := bytes.IndexByte(l.pending, '\n')
		if i < 0 {
			line := l.pending
			l.pending = nil
			if len(line) > l.max {
				return nil, errLongLine
			}
			return line, nil
		}
		line := l.pending[:i]
		l.pending = l.pending[i+1:]
		if len(l.pending) == 0 {
			l.pending = nil
		}
		if len(line) > l.max {
			return nil, errLongLine
		}
		return line, nil
	}
	l.buf = l.buf[:0]
	long := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		if err == nil && len(l.buf) == 0 && !long {
			// The common case: a whole line in the reader's buffer.
			l.line++
			if len(chunk)-1 > l.max {
				return nil, errLongLine
			}
			return chunk[:len(chunk)-1], nil
		}
		if !long {
			if len(l.buf)+len(chunk) > l.max+1 {
				long = true
				l.buf = l.buf[:0]
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			l.line++
			if long {
				return nil, errLongLine
			}
			return l.buf[:len(l.buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(l.buf) == 0 && !long {
				return nil, io.EOF
			}
			l.line++
			if long {
				return nil, errLongLine
			}
			return l.buf, nil
		default:
			return nil, err
		}
	}
}

// unread pushes b (whole lines joined by "\n") back in front of what is left, and rewinds the line count by the
// number of lines in b.
func (l *lineReader) unread(b []byte, lines int64) {
	p := make([]byte, 0, len(b)+1+len(l.pending))
	p = append(p, b...)
	if l.pending != nil {
		p = append(p, '\n')
		p = append(p, l.pending...)
	} else {
		p = append(p, '\n')
	}
	l.pending = p
	l.line -= lines
}
