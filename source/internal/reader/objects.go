package reader

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxRecordBytes caps one JSON record (an object of a JSON Lines file, or one pretty-printed object) so that a broken
// file cannot make a reader hold more than that.
const MaxRecordBytes = 16 << 20

// lines counts the lines of the bytes it passes on, so that a byte offset can be turned into a line number. It
// keeps only the bytes between the last offset asked about and what was read ahead: memory stays flat.
type lines struct {
	r      io.Reader
	drop   bool   // keep no bytes: nobody asks for lines (sequence mode counts its own)
	buf    []byte // bytes from offset base on
	base   int64
	line   int64 // line at base (1-based)
	offset int64 // bytes passed on
}

func newLines(r io.Reader) *lines { return &lines{r: r, line: 1} }

func (l *lines) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if !l.drop {
		l.buf = append(l.buf, p[:n]...)
	}
	l.offset += int64(n)
	return n, err
}

// at returns the line of byte offset off; offsets asked about must not decrease.
func (l *lines) at(off int64) int64 {
	if off < l.base {
		return l.line
	}
	n := off - l.base
	if n > int64(len(l.buf)) {
		n = int64(len(l.buf))
	}
	l.line += int64(bytes.Count(l.buf[:n], []byte{'\n'}))
	l.base += n
	l.buf = append(l.buf[:0], l.buf[n:]...)
	return l.line
}

// Objects walks the JSON objects of an export, one in memory at a time: the elements of a top-level array, of an
// array under a key of a top-level object (a wrapper such as {"users":[…]}), or a sequence of objects (JSON Lines,
// or objects one after the other, pretty-printed or not).
type Objects struct {
	ln  *lines
	dec *json.Decoder
	br  *bufio.Reader
	key string

	mode    int
	line    int64 // sequence mode: lines read
	pending []byte
	err     error
}

const (
	modeArray = iota + 1
	modeWrapped
	modeWrapperRest
	modeSeq
	modeDone
)

// ErrNoArray: a wrapper object holds no array under the expected key.
var ErrNoArray = errors.New("no array of records")

// NewObjects reads the start of the document. key names the array inside a top-level object ("users"); with key
// empty a top-level object is a record of a sequence. A document that starts with neither '[' nor '{' is an error.
func NewObjects(r io.Reader, key string) (*Objects, error) {
	o := &Objects{key: key}
	o.ln = newLines(r)
	o.br = bufio.NewReaderSize(o.ln, 64<<10)
	first, err := o.firstByte()
	if err != nil {
		return nil, err
	}
	switch {
	case first == 0:
		o.mode = modeDone
		return o, nil
	case first == '[':
		o.dec = json.NewDecoder(o.br)
		if _, err := o.dec.Token(); err != nil {
			return nil, o.syntax(err)
		}
		o.mode = modeArray
	case first == '{' && key != "":
		o.dec = json.NewDecoder(o.br)
		if _, err := o.dec.Token(); err != nil {
			return nil, o.syntax(err)
		}
		if err := o.findKey(); err != nil {
			return nil, err
		}
	case first == '{':
		o.mode = modeSeq
		o.ln.drop, o.ln.buf = true, nil
	default:
		return nil, fmt.Errorf("line 1: not a JSON export: want an array or objects, got %q", first)
	}
	return o, nil
}

// firstByte peeks at the first byte that is not white space (0 at the end).
func (o *Objects) firstByte() (byte, error) {
	for i := 0; ; i++ {
		b, err := o.br.Peek(i + 1)
		if len(b) <= i {
			if errors.Is(err, io.EOF) {
				return 0, nil
			}
			return 0, err
		}
		switch b[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return b[i], nil
		}
	}
}

func (o *Objects) syntax(err error) error {
	return fmt.Errorf("line %d: invalid JSON: %w", o.ln.at(o.dec.InputOffset()), err)
}

// findKey advances inside the wrapper object to the array under o.key.
func (o *Objects) findKey() error {
	for o.dec.More() {
		t, err := o.dec.Token()
		if err != nil {
			return o.syntax(err)
		}
		k, _ := t.(string)
		if k == o.key {
			t, err := o.dec.Token()
			if err != nil {
				return o.syntax(err)
			}
			if d, ok := t.(json.Delim); !ok || d != '[' {
				return fmt.Errorf("line %d: %q: %w (not an array)", o.ln.at(o.dec.InputOffset()), o.key, ErrNoArray)
			}
			o.mode = modeWrapped
			return nil
		}
		var skip json.RawMessage
		if err := o.dec.Decode(&skip); err != nil {
			return o.syntax(err)
		}
		o.ln.at(o.dec.InputOffset()) // let go of the bytes skipped
	}
	return fmt.Errorf("line %d: %q: %w", o.ln.at(o.dec.InputOffset()), o.key, ErrNoArray)
}

// Next returns the next object's text and the line it starts on; io.EOF at the end. Text that is not JSON inside
// an array ends the walk with an error naming its line; in a sequence the bad record is returned as a
// *idshift.RowError (Reject) and the walk goes on. raw is valid until the next call.
func (o *Objects) Next() (raw []byte, line int64, err error) {
	if o.err != nil {
		return nil, 0, o.err
	}
	switch o.mode {
	case modeDone:
		return nil, 0, io.EOF
	case modeSeq:
		return o.nextSeq()
	case modeWrapperRest:
		for o.dec.More() {
			var skip json.RawMessage
			if _, err := o.dec.Token(); err != nil {
				o.err = o.syntax(err)
				return nil, 0, o.err
			}
			if err := o.dec.Decode(&skip); err != nil {
				o.err = o.syntax(err)
				return nil, 0, o.err
			}
			o.ln.at(o.dec.InputOffset())
		}
		o.mode = modeDone
		return nil, 0, io.EOF
	}
	if !o.dec.More() {
		if _, err := o.dec.Token(); err != nil { // the closing bracket
			o.err = o.syntax(err)
			return nil, 0, o.err
		}
		if o.mode == modeWrapped {
			o.mode = modeWrapperRest
			return o.Next()
		}
		o.mode = modeDone
		return nil, 0, io.EOF
	}
	var msg json.RawMessage
	before := o.dec.InputOffset()
	if err := o.dec.Decode(&msg); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			// The offset of a syntax error counts from where the value's reading began.
			o.err = fmt.Errorf("line %d: invalid JSON: %w", o.ln.at(before+se.Offset-1), err)
			return nil, 0, o.err
		}
		o.err = o.syntax(err)
		return nil, 0, o.err
	}
	start := o.dec.InputOffset() - int64(len(msg))
	return msg, o.ln.at(start), nil
}

// nextSeq reads the next object of a sequence line by line: an object on one line, or one spread over lines until a
// line that starts with '}' closes it.
func (o *Objects) nextSeq() ([]byte, int64, error) {
	var buf []byte
	var at int64
	for {
		var l []byte
		var err error
		if o.pending != nil {
			// The line that started a record while the one before was still open.
			l, o.pending = o.pending, nil
			o.line--
		} else {
			l, err = o.br.ReadSlice('\n')
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			buf = append(buf, l...)
			if len(buf) > MaxRecordBytes {
				return nil, 0, o.fatal(fmt.Errorf("line %d: record longer than %d bytes", at, MaxRecordBytes))
			}
			continue
		}
		if len(l) > 0 {
			o.line++
		}
		t := strings.TrimSpace(string(l))
		if len(buf) == 0 {
			if t == "" {
				if err != nil {
					return o.seqEnd(err)
				}
				continue
			}
			at = o.line
			buf = append(buf, l...)
			if t[0] != '{' {
				return nil, 0, Reject(at, "", "", "not a JSON object")
			}
			if json.Valid(buf) {
				return buf, at, nil
			}
		} else {
			if t != "" && t[0] == '{' && strings.HasPrefix(string(l), "{") {
				// A new record starts: the one before never closed.
				o.pending = append([]byte(nil), l...)
				return nil, 0, Reject(at, "", "", "invalid JSON: the object does not close")
			}
			buf = append(buf, l...)
			if len(buf) > MaxRecordBytes {
				return nil, 0, o.fatal(fmt.Errorf("line %d: record longer than %d bytes", at, MaxRecordBytes))
			}
			if strings.HasPrefix(t, "}") && json.Valid(buf) {
				return buf, at, nil
			}
		}
		if err != nil {
			if len(buf) > 0 {
				return nil, 0, o.seqRejectAtEnd(at, buf, err)
			}
			return o.seqEnd(err)
		}
	}
}

func (o *Objects) seqRejectAtEnd(at int64, buf []byte, err error) error {
	if !errors.Is(err, io.EOF) {
		return o.fatal(err)
	}
	o.mode = modeDone
	var v any
	if jerr := json.Unmarshal(buf, &v); jerr != nil {
		return Reject(at, "", "", "invalid JSON: %s", strings.TrimPrefix(jerr.Error(), "json: "))
	}
	return Reject(at, "", "", "invalid JSON")
}

func (o *Objects) seqEnd(err error) ([]byte, int64, error) {
	if errors.Is(err, io.EOF) {
		o.mode = modeDone
		return nil, 0, io.EOF
	}
	return nil, 0, o.fatal(err)
}

func (o *Objects) fatal(err error) error {
	o.err = err
	return err
}
