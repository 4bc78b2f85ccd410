package b2cfile

import (
	"bufio"
	"bytes"
	"io"
)

// Scanner states of the comment filter.
const (
	cCode       = iota // JSON outside strings
	cString            // inside a string
	cEscape            // after a backslash inside a string
	cLine              // inside a // comment
	cBlockOpen         // the '*' that opens a /* comment is next
	cBlock             // inside a /* comment
	cBlockClose        // the '/' that closes a /* comment is next
)

// jsonc turns JSON with comments (JSONC: // to the end of the line and /* … */, outside strings) into JSON by
// replacing every byte of a comment with a space, line ends kept. Offsets and lines of the output are those of the
// input, so a line reported by the decoder is the line in the file. It streams: one byte of look-ahead.
type jsonc struct {
	r     *bufio.Reader
	state int
}

func newJSONC(r io.Reader) *jsonc {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &jsonc{r: br}
}

// next peeks at the byte after the current one (0 at the end).
func (c *jsonc) next() byte {
	b, err := c.r.Peek(1)
	if err != nil || len(b) == 0 {
		return 0
	}
	return b[0]
}

// Read filters in place what the buffered reader gives. A '/' (or, in a block comment, a '*') that ends the chunk
// is handed back to the buffer and filtered with the next chunk, when its successor is known.
func (c *jsonc) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := 0; i < n; i++ {
		b := p[i]
		var next byte
		if c.state == cCode && b == '/' || c.state == cBlock && b == '*' {
			switch {
			case i+1 < n:
				next = p[i+1]
			case n > 1:
				_ = c.r.UnreadByte() // the last byte read: always possible
				return n - 1, nil
			default:
				next = c.next()
			}
		}
		switch c.state {
		case cCode:
			switch {
			case b == '"':
				c.state = cString
			case b == '/' && next == '/':
				c.state, p[i] = cLine, ' '
			case b == '/' && next == '*':
				c.state, p[i] = cBlockOpen, ' '
			}
		case cString:
			switch b {
			case '\\':
				c.state = cEscape
			case '"':
				c.state = cCode
			}
		case cEscape:
			c.state = cString
		case cLine:
			if b == '\n' {
				c.state = cCode
			} else if b != '\r' {
				p[i] = ' '
			}
		case cBlockOpen:
			c.state, p[i] = cBlock, ' '
		case cBlock:
			if b == '*' && next == '/' {
				c.state = cBlockClose
			}
			if b != '\n' && b != '\r' {
				p[i] = ' '
			}
		case cBlockClose:
			c.state, p[i] = cCode, ' '
		}
	}
	return n, err
}

// lines counts the lines of the bytes it passes on so that a decoder offset can be turned into a line. It keeps only
// the bytes between the last offset asked about and what was read ahead: memory stays flat.
type lines struct {
	r    io.Reader
	buf  []byte
	base int64
	line int64
}

func (l *lines) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.buf = append(l.buf, p[:n]...)
	return n, err
}

// at returns the line of byte offset off; offsets asked about must not decrease.
func (l *lines) at(off int64) int64 {
	if off < l.base {
		return l.line
	}
	n := min(off-l.base, int64(len(l.buf)))
	l.line += int64(bytes.Count(l.buf[:n], []byte{'\n'}))
	l.base += n
	l.buf = append(l.buf[:0], l.buf[n:]...)
	return l.line
}
